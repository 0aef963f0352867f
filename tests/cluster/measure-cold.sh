#!/usr/bin/env bash
# Measures what `make test` costs on a fresh machine, phase by phase, without touching the warm
# caches: every cache (Bursar's fixtures, Go's module and build caches, ccache) and both C++
# build trees go under one empty root. Each phase runs under /usr/bin/time; the report gives its
# wall time and its CPU time (user + sys). On a shared machine the wall time is inflated by the
# other work; CPU seconds / cores is the floor on an idle machine.
#
# Usage: measure-cold.sh [--root DIR] [--report FILE] [--reuse] [PHASE ...]
#   --root DIR     the cache root (default /tmp/fresh-<date>); refused unless empty, or --reuse
#   --report FILE  the Markdown table (default DIR/report.md), a line per phase as it ends
#   PHASE          cpp-build, cpp-ctest, cpp-san, cpp-fuzz (the two C++ trees), fixtures (all of
#                  build.sh, as `make cluster-build`), go-<component>[+<component>…] (one build.sh
#                  call), crane, peer, or test-<target> (`make test-<target>`). Default: every
#                  build phase of `make test` in its order, then its test targets.
#
# Reproduce the figures in docs/testing.md ("Build costs on a fresh machine"):
#   tests/cluster/measure-cold.sh --root /tmp/fresh-1
set -euo pipefail
SCRIPT_NAME=cluster/measure-cold
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPO=$(cd "$CLUSTER_SCRIPTS_DIR/../.." && pwd)

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

BUILD_PHASES=(cpp-build cpp-ctest cpp-san test-asan cpp-fuzz test-fuzz fixtures crane peer)
TEST_PHASES=(test-crds-server test-cluster test-integration test-helm test-e2e test-image
  test-bench-scale-small)

root=/tmp/fresh-$(date -u +%Y%m%d-%H%M%S) report="" reuse=false phases=()
while (($# > 0)); do
  case $1 in
    -h | --help) usage && exit 0 ;;
    --root) root=${2:?--root needs a folder} && shift 2 ;;
    --report) report=${2:?--report needs a file} && shift 2 ;;
    --reuse) reuse=true && shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) phases+=("$1") && shift ;;
  esac
done
((${#phases[@]} > 0)) || phases=("${BUILD_PHASES[@]}" "${TEST_PHASES[@]}")

# Everything that a fresh machine would lack points into the root.
export BURSAR_CACHE=$root/bursar GOMODCACHE=$root/go-mod GOCACHE=$root/go-build \
  CCACHE_DIR=$root/ccache CI=${CI:-true}
make_vars=(BUILD_DIR="$root/build" SAN_DIR="$root/build-san")

# command_of PHASE — the command line of one phase.
command_of() {
  case $1 in
    cpp-build) echo "make -C $REPO --no-print-directory ${make_vars[*]} build" ;;
    cpp-ctest) echo "ctest --test-dir $root/build --output-on-failure -j $(nproc)" ;;
    cpp-san) echo "make -C $REPO --no-print-directory ${make_vars[*]} build-asan" ;;
    cpp-fuzz) echo "make -C $REPO --no-print-directory ${make_vars[*]} build-fuzz" ;;
    fixtures) echo "$CLUSTER_SCRIPTS_DIR/build.sh" ;;
    go-*) # go-kueue+karpenter: one build.sh call for both
      local components=${1#go-}
      echo "$CLUSTER_SCRIPTS_DIR/build.sh ${components//+/ }"
      ;;
    crane) echo "$REPO/tests/image/crane.sh" ;;
    peer) echo "$REPO/tests/bench/scale/build-peer.sh" ;;
    test-*) echo "make -C $REPO --no-print-directory ${make_vars[*]} $1" ;;
    *) die "unknown phase '$1' (see --help)" ;;
  esac
}

for phase in "${phases[@]}"; do command_of "$phase" >/dev/null; done # unknown ones stop here
require_tools make go ctest /usr/bin/time
if [[ $reuse == false && -n $(ls -A "$root" 2>/dev/null) ]]; then
  die "$root is not empty (a cold measurement needs an empty root; --reuse to continue one)"
fi
mkdir -p "$root"
report=${report:-$root/report.md}
[[ -s $report ]] || {
  echo "| phase | wall | CPU (user+sys) | CPU / $(nproc) | status |"
  echo "|---|---|---|---|---|"
} >"$report"

minutes() { awk -v s="$1" 'BEGIN { printf "%d min %02d s", s / 60, s % 60 }'; }

total_wall=0 total_cpu=0 status_all=0
for phase in "${phases[@]}"; do
  cmd=$(command_of "$phase")
  log "$phase: $cmd (log: $root/$phase.log)"
  status=0
  # shellcheck disable=SC2086  # the command line is split on purpose
  /usr/bin/time -f '%e %U %S' -o "$root/$phase.time" $cmd >"$root/$phase.log" 2>&1 || status=$?
  read -r wall user sys < <(tail -n 1 "$root/$phase.time") # after "Command exited with …"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  total_wall=$(awk -v a="$total_wall" -v b="$wall" 'BEGIN { print a + b }')
  total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { print a + b }')
  echo "| $phase | $(minutes "$wall") | $(minutes "$cpu") | $(minutes "$(awk -v c="$cpu" -v n="$(nproc)" 'BEGIN { print c / n }')") | $( ((status == 0)) && echo ok || echo "FAILED ($status)") |" >>"$report"
  log "$phase: wall $(minutes "$wall"), CPU $(minutes "$cpu"), exit $status"
  ((status == 0)) || status_all=1
done
log "all phases: wall $(minutes "$total_wall"), CPU $(minutes "$total_cpu"); report: $report"
exit "$status_all"
