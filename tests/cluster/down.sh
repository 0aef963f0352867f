#!/usr/bin/env bash
# Stops a test cluster started by up.sh and removes its folder. Clients of the apiserver stop
# first, then kube-apiserver, then etcd; each gets SIGTERM and, after a grace period, SIGKILL.
# Only the PIDs recorded in DIR/pids are signalled, and only while they still run the recorded
# executable (a PID reused by another process is left alone). Safe to run twice.
#
# Usage: down.sh [--keep-dir] DIR
#   --keep-dir   stop the processes but keep DIR (logs, certificates) for inspection
# Environment: BURSAR_CLUSTER_GRACE (seconds before SIGKILL, default 10).
set -euo pipefail
SCRIPT_NAME=cluster/down
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GRACE=${BURSAR_CLUSTER_GRACE:-10}

keep_dir=false dir=""
while (($# > 0)); do
  case $1 in
    --keep-dir) keep_dir=true ;;
    -h | --help)
      sed -n 's/^# \{0,1\}//; /^Usage:/,/^Environment/p' "${BASH_SOURCE[0]}" >&2
      exit 2
      ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z $dir ]] || die "only one DIR may be given (got '$dir' and '$1')"
      dir=$1
      ;;
  esac
  shift
done
[[ -n $dir ]] || die "usage: down.sh [--keep-dir] DIR"
[[ -d $dir ]] || exit 0 # already gone
[[ -f $dir/.bursar-test-cluster ]] ||
  die "$dir was not made by tests/cluster/up.sh (no .bursar-test-cluster marker); not touching it"

# True while PID runs EXE (a zombie or a reused PID does not count).
runs() {
  local pid=$1 exe=$2 actual
  actual=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ $actual == "$exe" ]]
}

# stop_group NAME... — SIGTERM to each named component, wait up to GRACE seconds, then SIGKILL.
# Fails if a process survives SIGKILL for another GRACE seconds.
stop_group() {
  local names=" $* " name pid exe pids=() exes=() labels=() i remaining killed=false deadline
  while read -r name pid exe; do
    [[ $names == *" $name "* ]] || continue
    if runs "$pid" "$exe"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid") exes+=("$exe") labels+=("$name")
    fi
  done <"$dir/pids"
  deadline=$((SECONDS + GRACE))
  while true; do
    remaining=0
    for i in "${!pids[@]}"; do
      if runs "${pids[i]}" "${exes[i]}"; then
        remaining=$((remaining + 1))
      else
        unset 'pids[i]'
      fi
    done
    ((remaining > 0)) || return 0
    if ((SECONDS >= deadline)); then
      if $killed; then
        log "error: ${remaining} process(es) still running after SIGKILL: ${pids[*]}"
        return 1
      fi
      for i in "${!pids[@]}"; do
        log "${labels[i]} (pid ${pids[i]}) still running ${GRACE}s after SIGTERM; sending SIGKILL"
        kill -KILL "${pids[i]}" 2>/dev/null || true
      done
      killed=true
      deadline=$((SECONDS + GRACE))
    fi
    sleep 0.1
  done
}

if [[ -f $dir/pids ]]; then
  # The apiserver's clients first: the control plane's and any the tests added (kueue.sh).
  clients=(kwok kube-scheduler kube-controller-manager)
  while read -r name _; do
    [[ " ${clients[*]} kube-apiserver etcd " == *" $name "* ]] || clients+=("$name")
  done <"$dir/pids"
  stop_group "${clients[@]}"
  stop_group kube-apiserver
  stop_group etcd
  rm -f "$dir/pids" "$dir/env"
fi

if $keep_dir; then
  exit 0
fi
rm -rf "$dir"
