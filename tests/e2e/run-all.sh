#!/usr/bin/env bash
# Runs Bursar's end-to-end scenarios (tests/e2e/scenario-N-*.sh) in order of N, BURSAR_E2E_JOBS
# (default 2) at a time, each against its own fresh control plane:
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-N-....sh
# A scenario that uses Prometheus (it mentions BURSAR_TEST_PROMETHEUS_URL) also gets a real
# Prometheus and the fake DCGM exporter around it:
#   tests/e2e/with-prometheus.sh -- tests/cluster/with-cluster.sh --with-all -- ...
# Each scenario's output is shown as it runs; at the end a table gives every scenario's summary
# line ("N passed, N failed") and wall time, and the total. Exits 1 if any scenario failed.
#
# Usage: run-all.sh [N...]      N: scenario numbers to run (default: every scenario-*.sh)
# Environment: BURSAR_E2E_JOBS — scenarios run at once (default 2; 1 shows output live).
# BURSAR_E2E_LOG_DIR — when set, each scenario's output goes to DIR/<scenario>.log,
# and a failing scenario's cluster, exporter and Prometheus logs to DIR/<scenario>/. Also
# BURSAR_BINARY (the bursar binary, default build/bursar) and what the wrappers read.
set -euo pipefail
SCRIPT_NAME=e2e/run-all
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$E2E_DIR/../cluster/lib.sh"
WITH_CLUSTER=$E2E_DIR/../cluster/with-cluster.sh
WITH_PROMETHEUS=$E2E_DIR/with-prometheus.sh

usage() {
  sed -n '/^# Usage:/,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# Every scenario, ordered by number (scenario-10 after scenario-9).
mapfile -t all < <(find "$E2E_DIR" -maxdepth 1 -name 'scenario-*.sh' -printf '%f\n' | sort -V)
((${#all[@]} > 0)) || die "no scenario-*.sh in $E2E_DIR"

# The chosen ones, still in order of number.
selected=()
if (($# == 0)); then
  selected=("${all[@]}")
else
  wanted=" "
  for arg in "$@"; do
    case $arg in
      -h | --help) usage ;;
      *[!0-9]* | "") die "'$arg' is not a scenario number (see --help)" ;;
    esac
    found=false
    for s in "${all[@]}"; do
      [[ $s == "scenario-$((10#$arg))-"* ]] && found=true
    done
    $found || die "no scenario $arg in $E2E_DIR (have: ${all[*]})"
    wanted+="$((10#$arg)) "
  done
  for s in "${all[@]}"; do
    n=${s#scenario-}
    n=${n%%-*}
    [[ $wanted == *" $((10#$n)) "* ]] && selected+=("$s")
  done
fi

log_dir=${BURSAR_E2E_LOG_DIR:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bursar-e2e-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# SIGINT/SIGTERM stop the running scenarios (their wrappers tear their clusters down) and the run.
interrupted=false

# Scenarios mostly wait on wall-clock periods, so BURSAR_E2E_JOBS of them (default 2) run at
# once, each on its own cluster. With one at a time the output is shown live; otherwise each
# scenario's output is shown whole when it ends.
jobs=${BURSAR_E2E_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "BURSAR_E2E_JOBS must be a positive integer (got '$jobs')"
declare -A pid_of=() out_of=() started_at=() status_of=() took_of=()
running=()

start_scenario() {
  local scenario=$1 name=${1%.sh}
  local cmd=("$WITH_CLUSTER" --with-all -- "$E2E_DIR/$scenario")
  if grep -q 'BURSAR_TEST_PROMETHEUS_URL' "$E2E_DIR/$scenario"; then
    cmd=("$WITH_PROMETHEUS" -- "${cmd[@]}")
  fi
  local out=$tmp/$name.log
  if [[ -n $log_dir ]]; then
    mkdir -p "$log_dir"
    out=$log_dir/$name.log
    cmd=(env "BURSAR_CLUSTER_LOG_DIR=$log_dir/$name/cluster" "BURSAR_E2E_LOG_DIR=$log_dir/$name"
      "${cmd[@]}")
  fi
  : >"$out"
  # In the background, so that a signal reaches the trap at once.
  "${cmd[@]}" </dev/null >>"$out" 2>&1 &
  pid_of[$name]=$! out_of[$name]=$out started_at[$name]=$(date +%s)
  running+=("$name")
  if ((jobs == 1)); then
    printf '\n=== %s\n' "$name"
    tail -n +1 -f --pid="${pid_of[$name]}" "$out" &
  else
    log "started $name"
  fi
}

# Waits for one running scenario to end (the first of them to do so) and records it.
finish_one() {
  local name status
  while :; do
    for name in "${running[@]}"; do
      if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
        status=0
        wait "${pid_of[$name]}" || status=$?
        status_of[$name]=$status took_of[$name]=$(($(date +%s) - started_at[$name]))
        local still=() n
        for n in "${running[@]}"; do [[ $n == "$name" ]] || still+=("$n"); done
        running=("${still[@]}")
        if ((jobs > 1)); then
          printf '\n=== %s (%s)\n' "$name" "$(format_duration "${took_of[$name]}")"
          cat "${out_of[$name]}"
        fi
        return
      fi
    done
    sleep 1
  done
}

trap 'interrupted=true; for n in "${running[@]}"; do kill -TERM "${pid_of[$n]}" 2>/dev/null || true; done' INT TERM
start_all=$(date +%s)
for scenario in "${selected[@]}"; do
  while ((${#running[@]} >= jobs)) && ! $interrupted; do finish_one; done
  if $interrupted; then
    log "interrupted; the remaining scenarios are not run"
    break
  fi
  start_scenario "$scenario"
done
while ((${#running[@]} > 0)); do finish_one; done
wait || true # the live tail, when one scenario ran at a time

names=() results=() summaries=() times=()
for scenario in "${selected[@]}"; do
  name=${scenario%.sh}
  [[ -n ${status_of[$name]:-} ]] || continue
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "${out_of[$name]}" | tail -n 1 || true)
  if ((status_of[$name] == 0)); then
    result=PASS
  else
    result=FAIL
    [[ -n $summary ]] || summary="no summary (exit status ${status_of[$name]}; see the output above)"
  fi
  names+=("$name") results+=("$result") summaries+=("$summary") times+=("${took_of[$name]}")
done
total=$(($(date +%s) - start_all))

failed=0
printf '\n=== summary\n'
for i in "${!names[@]}"; do
  printf '%-4s  %-28s %-52s %s\n' "${results[$i]}" "${names[$i]}" "${summaries[$i]}" \
    "$(format_duration "${times[$i]}")"
  [[ ${results[$i]} == PASS ]] || failed=$((failed + 1))
done
printf '%d of %d scenarios passed in %s\n' $((${#names[@]} - failed)) "${#names[@]}" \
  "$(format_duration "$total")"
if $interrupted; then exit 130; fi
((failed == 0))
