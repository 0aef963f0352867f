#!/usr/bin/env bash
# Scenario 13 — Budgets for a single ML job. One money budget ($50 a month, pacing None, quota
# mode Webhook) in namespace ft, the admission webhook served by the operator on loopback, and
# three Jobs that carry their own terms in annotations:
#   capped    2 GPUs, bursar.dev/max-cost "4": about 34 s of a 2-GPU pod at $0.0594 per
#             GPU-second. It runs, the operator is SIGKILLed and restarted while it runs (the
#             Job's spend continues from status.jobs), and it is suspended at its cap.
#   too-long  4 GPUs declared to run 2 h (bursar.dev/expected-duration): ~$2,900 at the pool's
#             $360 per GPU-hour, more than the $50 the budget has left: created suspended by the
#             webhook, with the reason, and never resumed.
#   over-cap  1 GPU declared to run 1 h with bursar.dev/max-cost "10": $360 expected against its
#             own cap of 10: refused at creation, naming the cap.
# Checks: the capped Job is stored suspended by Bursar (held-for Cap) with an Event saying what it
# cost; its status.jobs spend equals the spend recomputed from its pod's timestamps (across the
# restart) and lies within one tick's projection below the cap, never above; the budget stays
# within its limit; kubectl bursar why lists the Job with its cap.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-13-job-caps.sh
set -euo pipefail
SCRIPT_NAME=e2e/scenario-13
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=ft
CAP=4
install_crds
{
  namespaces_yaml "$NS"
  price_book_and_pool 4 2
  cat <<YAML
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: ml}
spec:
  scope: {namespaces: [$NS]}
  limit: {amount: "50", currency: USD}
  period: {type: Monthly}
  pacing: {mode: None}
  quota: {mode: Webhook, resources: [nvidia.com/gpu]}
  nodePools: [a100]
---
YAML
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null

make_grpc_tls "$WORK/webhook-tls"
start_with_webhook() {
  operator_start --webhook-cert-dir "$WORK/webhook-tls" --webhook-addr 127.0.0.1:0
  webhook_register
}
start_with_webhook
wait_for "the budget to publish its GPU-hour price" 30 bash -c \
  "[[ -n \$(kubectl get computebudget ml -o jsonpath='{.status.admission.gpuHourPrice}') ]]" ||
  die "status.admission.gpuHourPrice was not published"
wait_for "two ready nodes" 60 bash -c \
  "[[ \$(kubectl get nodes -l bursar.dev/pool=a100 -o name | wc -l) -ge 2 ]]" || die "no nodes"

gpu_job capped "$NS" 2 600s "{}" 0 "bursar.dev/max-cost: \"$CAP\"" | kc create -f - >/dev/null
running() { [[ $(kc get pods -n "$NS" -l job-name=capped --field-selector=status.phase=Running -o name | wc -l) -eq 1 ]]; }
wait_for "the capped Job's pod to run" 60 running || die "the capped Job never ran"
# Its pod's start, read now: the pod is deleted when the Job is suspended.
POD_START=$(kc get pods -n "$NS" -l job-name=capped -o jsonpath='{.items[0].status.startTime}')

restart_keeps_the_jobs_spend() {
  wait_for "status.jobs to list the capped Job" 30 bash -c \
    "[[ -n \$(kubectl get computebudget ml -o jsonpath='{.status.jobs[0].accrued}') ]]" || return 1
  sleep 8
  local before after
  before=$(jp computebudget ml '{.status.jobs[0].spent}')
  operator_kill KILL
  sleep 3
  start_with_webhook
  sleep 3
  after=$(jp computebudget ml '{.status.jobs[0].spent}')
  echo "capped Job's spend before the SIGKILL $before, 6 s later under a new process $after"
  python3 -c "import sys; sys.exit(0 if float('$after') > float('$before') else 1)"
}
check "a SIGKILLed operator continues the capped Job's spend from status.jobs" restart_keeps_the_jobs_spend

stopped_at_cap() {
  wait_for "the capped Job to be suspended" 90 bash -c \
    "[[ \$(kubectl get job capped -n $NS -o jsonpath='{.spec.suspend}') == true ]]" || return 1
  local held_for
  held_for=$(jp job capped '{.metadata.annotations.bursar\.dev/held-for}' "$NS")
  echo "held-for: $held_for"
  [[ $held_for == Cap ]] || return 1
  wait_for "the Job's Event" 30 bash -c \
    "kubectl get events -n $NS --field-selector involvedObject.name=capped,reason=BursarCap -o jsonpath='{.items[*].message}' | grep -q 'max-cost of $CAP.00'" || return 1
  kc get events -n "$NS" --field-selector involvedObject.name=capped,reason=BursarCap \
    -o jsonpath='{.items[0].message}'
  echo
}
check "the capped Job is suspended at its cap with an Event saying what it cost" stopped_at_cap

spend_within_a_tick_of_the_cap() {
  wait_for "the capped Job's pod to go" 60 bash -c \
    "[[ -z \$(kubectl get pods -n $NS -l job-name=capped --field-selector=status.phase=Running -o name) ]]" || return 1
  sleep 3 # a few passes: the last charge is in
  local price spent budget_spent stopped node
  node=$(kc get nodes -l bursar.dev/pool=a100 -o jsonpath='{.items[0].metadata.name}')
  price=$(gpu_second_price default a100 "$node")
  spent=$(jp computebudget ml '{.status.jobs[0].spent}')
  budget_spent=$(jp computebudget ml '{.status.spent}')
  # When it was stopped: the Event on the Job (whole seconds), after the pod's start (above).
  stopped=$(kc get events -n "$NS" --field-selector involvedObject.name=capped,reason=BursarCap \
    -o jsonpath='{.items[0].firstTimestamp}')
  python3 - "$spent" "$budget_spent" "$CAP" "$price" "$POD_START" "$stopped" <<'PY'
import sys, datetime
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
spent, budget_spent, cap, price = map(float, sys.argv[1:5])
ran = ts(sys.argv[6]) - ts(sys.argv[5])
burn = 2 * price  # per second: the Job's two GPUs
print(f"status.jobs spent {spent:.4f} (the budget's {budget_spent:.4f}, its only work); "
      f"{ran:.0f} s from its pod's start to its stop x {burn:.4f}/s = {ran * burn:.4f}; cap {cap:.2f}, "
      f"{(cap - spent) / burn:.2f} s of its burn below it")
# The Job's meter is the ledger's (same charges), matches its pod's run time within the pass
# between watches and the whole-second Event time, never passes the cap, and stops within the
# 2-tick projection plus the tick in which the suspension lands (1 s ticks).
ok = (abs(spent - budget_spent) <= 1e-6 and abs(spent - ran * burn) <= 2 * burn
      and spent <= cap and cap - spent <= 3 * burn)
sys.exit(0 if ok else 1)
PY
}
# The figures are worth seeing when the check passes too.
spend_checked() { spend_within_a_tick_of_the_cap | tee "$WORK/figures"; }
check "its spend matches its pod's run time and lies within one tick's projection below the cap" spend_checked
sed 's/^/      /' "$WORK/figures" 2>/dev/null || true

stays_suspended() {
  sleep 4
  [[ $(jp job capped '{.spec.suspend}' "$NS") == true ]] &&
    [[ -z $(kc get pods -n "$NS" -l job-name=capped --field-selector=status.phase=Running -o name) ]]
}
check "a Job at its cap is not resumed while the budget has money" stays_suspended

unaffordable_created_suspended() {
  gpu_job too-long "$NS" 4 600s "{}" 0 'bursar.dev/expected-duration: "2h"' |
    kc create -f - >"$WORK/too-long.out" 2>&1 || { cat "$WORK/too-long.out"; return 1; }
  cat "$WORK/too-long.out"
  grep -q 'its expected cost in this period' "$WORK/too-long.out" || return 1
  [[ $(jp job too-long '{.spec.suspend}/{.metadata.annotations.bursar\.dev/held-by}/{.metadata.generation}' "$NS") == true/ml/1 ]] || return 1
  sleep 4 # a few passes: a wrong resume would start its pods by now
  [[ $(jp job too-long '{.spec.suspend}' "$NS") == true ]] &&
    [[ -z $(kc get pods -n "$NS" -l job-name=too-long -o name) ]]
}
check "a Job whose declared length the budget cannot pay for is created suspended and stays so" unaffordable_created_suspended

over_its_own_cap_refused() {
  if gpu_job over-cap "$NS" 1 600s "{}" 0 'bursar.dev/expected-duration: "1h", bursar.dev/max-cost: "10"' |
    kc create -f - >"$WORK/over-cap.out" 2>&1; then
    echo "created:"
    cat "$WORK/over-cap.out"
    return 1
  fi
  cat "$WORK/over-cap.out"
  grep -q 'is more than its bursar.dev/max-cost of 10.00' "$WORK/over-cap.out"
}
check "a Job whose declared length passes its own cap is refused, naming the cap" over_its_own_cap_refused

why_lists_the_job() {
  "$BURSAR" kubectl why ml --kubeconfig "$KUBECONFIG" >"$WORK/why.out" 2>&1 || { cat "$WORK/why.out"; return 1; }
  sed -n '/their own cap/,/^$/p' "$WORK/why.out"
  grep -q "ft/capped .*max-cost $CAP.00" "$WORK/why.out"
}
check "kubectl bursar why lists the Job, its spend and its cap" why_lists_the_job

budget_within_limit() {
  local spent
  spent=$(jp computebudget ml '{.status.spent}')
  echo "budget ml spent $spent of 50"
  python3 -c "import sys; sys.exit(0 if float('$spent') <= 50 else 1)"
}
check "the budget stays within its limit" budget_within_limit
finish
