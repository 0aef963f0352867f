#!/usr/bin/env bash
# Scenario 1 — Pacing. A budget too small for the GPU Jobs submitted to it: the operator grows the
# kwok pool only as far as the budget allows, throttles the namespace's ResourceQuota, and the
# period ends at or under its limit; a namespace without a budget is untouched.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-1-pacing.sh
#
# Numbers: 2-GPU nodes at $720 per node-hour; the budget converts money into GPUs at the node's
# per-GPU share ($360 per GPU-hour), so $12 over a 90 s Custom period affords about 1.3 GPUs on
# average: six 1-GPU Jobs want 6 (3 nodes), Even pacing allows 1-2.
set -euo pipefail
SCRIPT_NAME=e2e/scenario-1
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERIOD=90
LIMIT=12
install_crds
# The period starts 5 s from now, so the test sees one whole period from its start.
anchor=$(rfc3339_in 5)
{
  namespaces_yaml vision free
  price_book_and_pool 6
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: vision}
spec:
  scope: {namespaces: [vision]}
  limit: {amount: "$LIMIT", currency: USD}
  period: {type: Custom, duration: ${PERIOD}s, anchor: "$anchor"}
  pacing: {mode: Even, burstPercent: 10}
  nodePools: [a100]
EOF
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null
operator_start

# Wait for the period to begin, then submit the work: six 1-GPU Jobs in vision, and one Job in
# the budget-less namespace, which runs on a node the test adds itself.
# The work arrives once the operator has paced the new period: a quota from the end of the previous
# period (its leftover money over its last seconds) would let all six Jobs start at once.
period_start=$(date -d "$anchor" +%s)
wait_for "the operator to enter the period" 30 bash -c \
  "kubectl get computebudget vision -o jsonpath='{.status.period.start}' | grep -qx '$anchor'"
wait_for "the quota of the period" 10 bash -c \
  "[[ \$(kubectl get resourcequota bursar-vision -n vision -o jsonpath='{.spec.hard.requests\\.nvidia\\.com/gpu}') -le 2 ]]"
for i in 1 2 3 4 5 6; do gpu_job "train-$i" vision 1 120s; done >"$WORK/jobs.yaml"
kc apply -f "$WORK/jobs.yaml" >/dev/null
gpu_job free-job free 1 20s | sed 's/bursar.dev\/pool: a100/bursar.dev\/pool: free/' >"$WORK/free.yaml"
kc apply -f "$WORK/free.yaml" >/dev/null
cat <<EOF | kc apply -f - >/dev/null
apiVersion: v1
kind: Node
metadata:
  name: free-0
  labels: {bursar.dev/pool: free, type: kwok}
  annotations: {kwok.x-k8s.io/node: fake}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110", nvidia.com/gpu: "2"}
  capacity: {cpu: "8", memory: 32Gi, pods: "110", nvidia.com/gpu: "2"}
EOF

# Sample the pool size, the quota and the allowance every half second until the period ends.
max_nodes=0 min_quota=999 max_allowed=0
while (($(date +%s) < period_start + PERIOD)); do
  nodes=$(kc get nodes -l bursar.dev/pool=a100 --no-headers 2>/dev/null | wc -l)
  quota=$(jp resourcequota bursar-vision '{.spec.hard.requests\.nvidia\.com/gpu}' vision)
  allowed=$(jp computebudget vision '{.status.allowedGPUs}')
  ((nodes > max_nodes)) && max_nodes=$nodes
  [[ -n $quota ]] && ((quota < min_quota)) && min_quota=$quota
  [[ -n $allowed ]] && ((allowed > max_allowed)) && max_allowed=$allowed
  sleep 0.5
done
# One more pass after the boundary writes the ended period's summary into recentActions.
ended_summary() {
  kc get computebudget vision \
    -o jsonpath='{range .status.recentActions[?(@.reason=="NewPeriod")]}{.message}{"\n"}{end}' |
    grep "period $anchor ended"
}
wait_for "the ended period's summary" 20 ended_summary || true
summary=$(ended_summary || true)

pool_grew_only_as_far_as_allowed() {
  echo "pool peaked at $max_nodes nodes; allowance peaked at $max_allowed GPUs; 6 GPUs wanted"
  ((max_nodes >= 1)) || return 1
  # Without a budget the pool would have grown to 3 nodes for six GPUs.
  ((max_nodes <= (max_allowed + 1) / 2 && max_nodes < 3))
}
quota_was_throttled() {
  echo "quota went down to $min_quota GPUs (6 wanted)"
  ((min_quota < 6)) || return 1
  # Captured, not piped into grep -q: with pipefail, an early-exiting grep can fail the pipeline.
  local events
  events=$(kc get events -n vision --field-selector reason=FailedCreate -o name) || return 1
  [[ -n $events ]] || {
    echo "no FailedCreate (exceeded quota) Events in namespace vision:"
    kc get events -n vision
    return 1
  }
}
period_ended_at_or_under_its_limit() {
  echo "status: ${summary:-<no summary for the period that started $anchor>}"
  [[ -n $summary ]] || return 1
  spent=$(sed -n 's/.* ended with \([0-9.]*\) spent.*/\1/p' <<<"$summary") || return 1
  python3 -c "import sys; sys.exit(0 if float('$spent') <= $LIMIT else 1)" || return 1
  # Independently, from pod timestamps: each 1-GPU pod costs the GPU share of its node price.
  rate=$(python3 -c 'print(720 * 2 * 0.95 / (2 * 0.95 + 24 * 0.031611 + 128 * 0.004237) / 2 / 3600)') || return 1
  from_pods=$(spend_from_pods vision "$period_start" "$((period_start + PERIOD))" "$rate") ||
    return 1
  echo "spend recomputed from pod timestamps: $from_pods (operator: $spent, limit $LIMIT)"
  python3 -c "import sys; sys.exit(0 if $from_pods <= $LIMIT * 1.02 else 1)"
}
budgetless_namespace_untouched() {
  [[ -n $(kc get resourcequota -n free -o name) ]] && {
    echo "a ResourceQuota appeared in namespace free"
    return 1
  }
  [[ -z $(jp job free-job '{.metadata.annotations.bursar\.dev/held-by}' free) ]] || return 1
  wait_for "free-job to complete" 60 bash -c \
    "kubectl get job free-job -n free -o jsonpath='{.status.succeeded}' | grep -q 1"
}

check "the pool grew only as far as the budget allows" pool_grew_only_as_far_as_allowed
check "the quota was throttled below the demand" quota_was_throttled
check "the period ended at or under its limit" period_ended_at_or_under_its_limit
check "a namespace without a budget is untouched" budgetless_namespace_untouched
finish
