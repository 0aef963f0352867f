#!/usr/bin/env bash
# Instructions per warm BudgetPlanner pass (BM_PlannerPass), counted by callgrind: repeatable on
# a shared machine where CPU time is not. Runs the benchmark with 1 and with 3 timed passes,
# collecting only inside BudgetPlanner::Reconcile, and prints (Ir(3) - Ir(1)) / 2.
# Usage: tests/bench/planner-callgrind.sh [BUDGETS/PODS ...] (default: 10/10000 1000/10000
# 1000/100000). Needs valgrind; the bench binary is build/tests/bursar_bench (BUILD_DIR=...).
# The callgrind outputs stay in $OUT (default a temp dir) for callgrind_annotate.
set -euo pipefail
BIN=${BUILD_DIR:-build}/tests/bursar_bench
OUT=${OUT:-$(mktemp -d /tmp/bursar-callgrind.XXXXXX)}
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
[[ -x $BIN ]] || { echo "planner-callgrind: $BIN not built (cmake --build build --target bursar_bench)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "planner-callgrind: valgrind not installed" >&2; exit 2; }
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(10/10000 1000/10000 1000/100000)
ir() {  # size passes -> total Ir inside Reconcile
  local file="$OUT/callgrind.${1//\//-}.$2"
  BURSAR_BENCH_ITERATIONS=$2 valgrind --tool=callgrind --callgrind-out-file="$file" \
    --collect-atstart=no --toggle-collect='bursar::reconcilers::BudgetPlanner::Reconcile*' \
    "$BIN" --benchmark_filter="BM_PlannerPass/$1/" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$file"
}
for size in "${sizes[@]}"; do
  one=$(ir "$size" 1)
  three=$(ir "$size" 3)
  printf '%s\tIr per warm pass %s\t(outputs in %s)\n' "$size" "$(((three - one) / 2))" "$OUT"
done
