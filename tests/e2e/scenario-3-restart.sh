#!/usr/bin/env bash
# Scenario 3 — Restart: the operator is killed with SIGKILL several times while GPU Jobs run; the
# ledger it restores from status.ledger must end equal to the spend recomputed from the pods'
# own timestamps within one metering tick: nothing lost, nothing counted twice.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-3-restart.sh
#
# Set-up: a Kwok pool of 6 two-GPU nodes created before any budget exists (minNodes = maxNodes,
# so no budget grows it and no idle node is charged), one budget (pacing None, a limit nothing
# reaches, a 10-minute Custom period anchored now) and Jobs of different lengths. Four kill
# cycles at randomised times straddle Job ends, so pods end while the operator is down; one Job
# is created and finishes entirely while it is down, another starts while it is down and ends
# after it is back. BURSAR_E2E_SEED fixes the random gaps (printed at the start).
#
# The expected price is derived here, independently of the operator, from the cost model's
# facts: a pod that requests only GPUs on a node whose pool has pricePerNodeHour is charged the
# GPU share of that price, split by the ratio of the PriceBook's default unit prices (OpenCost
# appendix A) over the node's capacity (read from the Node).
# shellcheck disable=SC2119  # operator_start takes optional flags; none are needed here
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=restart
BUDGET=restart
NODES=6
TICK=1 # seconds (lib.sh's operator_start)
SEED=${BURSAR_E2E_SEED:-$$}
RANDOM=$SEED
echo "scenario 3: restart (seed $SEED)"

install_crds
kc create namespace "$NS" >/dev/null
price_book_and_pool "$NODES" "$NODES" | kc apply -f - >/dev/null
operator_start

nodes_ready() {
  local n
  n=$(kc get nodes -l bursar.dev/pool=a100 -o \
    'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '^True$' || true)
  ((n == NODES))
}
wait_for "$NODES Ready kwok nodes in pool a100" 60 nodes_ready ||
  die "the pool's minNodes were not created"

# The budget: its period starts now and lasts 10 minutes, far longer than the scenario.
anchor=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kc apply -f - >/dev/null <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $BUDGET}
spec:
  scope: {namespaces: [$NS]}
  limit: {amount: "100000", currency: USD}
  period: {type: Custom, duration: 10m, anchor: "$anchor"}
  pacing: {mode: None}
  nodePools: [a100]
EOF
budget_has_ledger() { [[ -n $(jp computebudget "$BUDGET" '{.status.ledger.periodStart}') ]]; }
wait_for "a first status with a ledger" 30 budget_has_ledger || die "the budget got no status"

# The expected price per GPU-second, from the PriceBook's (defaulted) unit prices, the pool's
# node price and a pool node's capacity.
RATE=$(gpu_second_price default a100 a100-0)
echo "      expected price: \$$RATE per GPU-second (node \$$(jp gpunodepool a100 '{.spec.pricePerNodeHour}')/h split by OpenCost's default-price ratio)"

# Jobs: NAME GPUS RUN_FOR. Created together at t0 (two more are created while the operator is
# down, below). 1+1+2+1+2+1 GPUs fit the 12 of the pool even if the scheduler spreads them.
t0=$(date +%s)
{
  gpu_job r-a "$NS" 1 14s
  gpu_job r-b "$NS" 1 30s
  gpu_job r-c "$NS" 2 45s
  gpu_job r-d "$NS" 1 62s
  gpu_job r-e "$NS" 2 70s
  gpu_job r-f "$NS" 1 80s
} | kc apply -f - >/dev/null
ALL_GPUS=11 # every Job's GPUs, r-g and r-h included: at most this many run at once
TOLERANCE=$(python3 -c "print('%.6f' % ($ALL_GPUS * $RATE * $TICK))")
echo "      tolerance: one ${TICK}s tick of $ALL_GPUS GPUs = \$$TOLERANCE"

# at SECONDS_AFTER_T0 — sleeps until then (returns at once when it has passed).
at() {
  local wait=$((t0 + $1 - $(date +%s)))
  ((wait <= 0)) || sleep "$wait"
}

# budget_state — "spent watermark_unix period_start_unix gpu_seconds listed_pods
# start_horizon_unix" of status (the horizon is "none" when absent).
budget_state() { budget_ledger_state "$BUDGET"; }

# GPU-seconds of the pods over [FROM, TO), from their timestamps (spend_from_pods at $1/GPU-s).
gpu_seconds_from_pods() { spend_from_pods "$NS" "$1" "$2" 1; }

# Checks status against the pods at the time of the operator's last pass (its watermark): the
# spend may trail or lead the pods by at most one tick of every GPU (a pass happens between two
# watches of the same pod), never more.
last_spent=0
MAX_LISTED=0
compare_with_pods() {
  local listed horizon
  read -r _ _ _ _ listed horizon < <(budget_state) || return 1
  echo "status.ledger lists $listed pods, startHorizon $horizon"
  ((listed > MAX_LISTED)) && MAX_LISTED=$listed
  [[ $horizon != none ]] || return 1
  ledger_matches_pods "$BUDGET" "$NS" "$RATE" "$TOLERANCE" "$last_spent"
}

# kill_cycle KILL_AT DOWN_FOR [JOB_WHILE_DOWN...] — SIGKILLs the operator at t0+KILL_AT, creates
# the given Jobs (name:gpus:run_for) a second later, and starts it again after DOWN_FOR seconds.
# Records each down window ("killed restarted", Unix seconds) in DOWN_WINDOWS.
cycles=0
DOWN_WINDOWS=()
RESTARTED=0
passed_restart() {
  local w
  w=$(budget_state | cut -d' ' -f2)
  python3 -c "import sys; sys.exit(0 if $w > $RESTARTED + 0.5 else 1)"
}
kill_cycle() {
  local kill_at=$1 down_for=$2 spec name gpus run_for killed
  shift 2
  at "$kill_at"
  last_spent=$(budget_state | cut -d' ' -f1)
  operator_kill KILL
  killed=$(date +%s)
  cycles=$((cycles + 1))
  echo "      t0+$((killed - t0))s: SIGKILL #$cycles (spent \$$last_spent), down for ${down_for}s"
  if (($# > 0)); then
    sleep 1
    for spec in "$@"; do
      IFS=: read -r name gpus run_for <<<"$spec"
      gpu_job "$name" "$NS" "$gpus" "$run_for"
    done | kc apply -f - >/dev/null
  fi
  sleep "$down_for"
  RESTARTED=$(date +%s)
  DOWN_WINDOWS+=("$killed $RESTARTED")
  operator_start
  # The restored ledger is in use once a pass after the restart has written status.
  wait_for "a pass after restart #$cycles" 30 passed_restart || true
  check "after restart #$cycles: spend restored from status.ledger and matches the pods" \
    compare_with_pods
}

# Kill 1 straddles r-a's end (~t0+15s), and r-g runs and ends entirely while the operator is
# down; kill 2 straddles r-b's end (~t0+31s) and r-h starts while down and ends after the
# restart; kill 3 is mid-run (r-c ends around it); kill 4 straddles r-d's end (~t0+63s).
kill_cycle $((10 + RANDOM % 4)) $((8 + RANDOM % 3)) r-g:1:4s
kill_cycle $((26 + RANDOM % 4)) $((7 + RANDOM % 4)) r-h:2:25s
kill_cycle $((44 + RANDOM % 5)) $((7 + RANDOM % 4))
kill_cycle $((58 + RANDOM % 4)) $((7 + RANDOM % 4))

jobs_done() {
  local complete
  complete=$(kc get jobs -n "$NS" -o \
    'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Complete")].status}{"\n"}{end}' |
    grep -c '^True$' || true)
  ((complete == 8))
}
wait_for "all 8 Jobs complete" 120 jobs_done || die "the Jobs did not complete"
# A few more passes after the last pod ended.
sleep $((3 * TICK + 1))

read -r SPENT _ PERIOD_START GPU_SECONDS TRACKED _ < <(budget_state)
NOW=$(date +%s)
EXPECTED=$(spend_from_pods "$NS" "$PERIOD_START" "$NOW" "$RATE")
EXPECTED_GPU_SECONDS=$(gpu_seconds_from_pods "$PERIOD_START" "$NOW")
echo "      final: status.spent \$$SPENT, from pods \$$EXPECTED; gpuSeconds $GPU_SECONDS, from pods $EXPECTED_GPU_SECONDS"

killed_several_times() { ((cycles >= 3)); }
check "the operator was SIGKILLed $cycles times mid-run (at least 3)" killed_several_times

# Pods that started or ended while no operator ran, from their timestamps and DOWN_WINDOWS.
ended_while_down() {
  kc get pods -n "$NS" -o json | python3 -c '
import json, sys, datetime
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
windows = [tuple(map(float, w.split())) for w in sys.argv[1:]]
down = lambda t: t is not None and any(a < t < b for a, b in windows)
ended, started, both = [], [], []
for p in json.load(sys.stdin)["items"]:
    st, name = p["status"], p["metadata"]["name"]
    ends = [c["state"]["terminated"]["finishedAt"] for c in st.get("containerStatuses", []) if "terminated" in c.get("state", {})]
    s = ts(st["startTime"]) if "startTime" in st else None
    e = max(ts(x) for x in ends) if ends else None
    if down(e): ended.append(name)
    if down(s): started.append(name)
    if s is not None and e is not None and any(a < s and e < b for a, b in windows): both.append(name)
print("ended while down:", ended, "started while down:", started, "both:", both)
sys.exit(0 if len(ended) >= 2 and started and both else 1)' "${DOWN_WINDOWS[@]}"
}
check "pods started and ended while the operator was down (one entirely)" ended_while_down

not_counted_twice() {
  python3 - "$SPENT" "$EXPECTED" "$TOLERANCE" <<'EOF'
import sys
spent, expected, tol = map(float, sys.argv[1:4])
print(f"spent {spent:.6f} - pods {expected:.6f} = {spent - expected:+.6f}, tolerance {tol:.6f}")
sys.exit(0 if spent <= expected + tol else 1)
EOF
}
check "nothing counted twice: status.spent <= pod-derived spend + one tick" not_counted_twice

nothing_lost() {
  python3 - "$SPENT" "$EXPECTED" "$TOLERANCE" <<'EOF'
import sys
spent, expected, tol = map(float, sys.argv[1:4])
print(f"spent {spent:.6f} - pods {expected:.6f} = {spent - expected:+.6f}, tolerance {tol:.6f}")
sys.exit(0 if spent >= expected - tol else 1)
EOF
}
check "nothing lost: status.spent >= pod-derived spend - one tick" nothing_lost

gpu_seconds_match() {
  echo "ledger gpuSeconds $GPU_SECONDS, from pods $EXPECTED_GPU_SECONDS (tolerance $((ALL_GPUS * TICK)))"
  python3 -c "import sys; sys.exit(0 if abs($GPU_SECONDS - $EXPECTED_GPU_SECONDS) <= $ALL_GPUS * $TICK else 1)"
}
check "GPU-seconds in the ledger equal the pods' within one tick" gpu_seconds_match

metric_matches_status() {
  local m
  m=$(metric "bursar_budget_spent{budget=\"$BUDGET\",currency=\"USD\"}")
  echo "metric $m, status $SPENT"
  [[ -n $m ]] && python3 -c "import sys; sys.exit(0 if abs($m - $SPENT) < 1e-6 else 1)"
}
check "bursar_budget_spent reports the same spend as status" metric_matches_status

# The checkpoint lists a pod that ended for kStartGrace (1 min) after its end (a new leader's
# stale cache may still show it running), and a status whose listing alone shrank may wait one
# --status-interval (30 s) to be written: after that, nothing.
ledger_bounded() {
  local waited=0
  while ((TRACKED > 0 && waited < 100)); do
    sleep 5 && waited=$((waited + 5))
    read -r _ _ _ _ TRACKED _ < <(budget_state) || return 1
  done
  echo "status.ledger.pods has $TRACKED entries ${waited}s after the checks above;" \
    "at most $MAX_LISTED at the restarts (the checkpoint lists at most 50)"
  ((TRACKED == 0 && MAX_LISTED <= 50))
}
check "the ledger no longer tracks pods that ended, within kStartGrace and one status interval" \
  ledger_bounded

nothing_grown() {
  local owned
  owned=$(kc get nodes -o 'jsonpath={.items[*].metadata.annotations.bursar\.dev/grown-for}') ||
    return 1
  echo "grown-for annotations: '${owned}'"
  [[ -z $owned ]]
}
check "no node was grown for the budget (so no idle capacity is charged)" nothing_grown

finish
