#!/usr/bin/env bash
# Reconcile latency at scale (a measurement, not a pass/fail test): with N GPU pods (1,000 by
# default) running on kwok nodes under one budget and the operator at its default 15 s tick,
#   1. pod start -> status: from a new pod being Running (as a watch sees it) to the budget's
#      status counting it (status.ledger lists its uid);
#   2. threshold -> quota: from the budget's limit being lowered so that usage crosses Throttle to
#      the ResourceQuota's new hard limit.
# Each is sampled SAMPLES times; prints min / median / max in milliseconds and the operator's
# own reconcile-duration histogram.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/latency.sh [PODS] [SAMPLES]
#   (make bench-latency)
set -euo pipefail
SCRIPT_NAME=e2e/latency
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PODS=${1:-1000}
SAMPLES=${2:-5}
GPUS_PER_NODE=8
NODES=$(((PODS + SAMPLES + GPUS_PER_NODE - 1) / GPUS_PER_NODE + 1))
now_ms() { date +%s%3N; }

install_crds
log "creating $NODES kwok nodes with $GPUS_PER_NODE GPUs each"
for ((i = 0; i < NODES; i++)); do
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: gpu-$i
  labels: {bursar.dev/pool: load, type: kwok}
  annotations: {kwok.x-k8s.io/node: fake}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "96", memory: 1Ti, pods: "200", nvidia.com/gpu: "$GPUS_PER_NODE"}
  capacity: {cpu: "96", memory: 1Ti, pods: "200", nvidia.com/gpu: "$GPUS_PER_NODE"}
---
EOF
done >"$WORK/nodes.yaml"
kc apply -f "$WORK/nodes.yaml" >/dev/null
cat <<EOF | kc apply -f - >/dev/null
apiVersion: v1
kind: Namespace
metadata: {name: load}
---
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec: {currency: USD}
---
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: load}
spec:
  scope: {namespaces: [load]}
  limit: {amount: "100000000", currency: USD}
  period: {type: Monthly}
  pacing: {mode: None}
EOF

pod() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: load, labels: {app: load}}
spec:
  tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
  nodeSelector: {bursar.dev/pool: load}
  terminationGracePeriodSeconds: 1
  containers:
  - name: work
    image: registry.invalid/bursar/fake-trainer:1
    resources: {limits: {nvidia.com/gpu: "1"}}
---
EOF
}
log "creating $PODS pods"
started=$(now_ms)
for ((i = 0; i < PODS; i++)); do pod "load-$i"; done >"$WORK/pods.yaml"
kc apply -f "$WORK/pods.yaml" >/dev/null
wait_for "$PODS running pods" 600 bash -c \
  "[[ \$(kubectl get pods -n load --field-selector=status.phase=Running --no-headers | wc -l) -ge $PODS ]]" ||
  die "the pods did not all start"
log "$PODS pods running after $((($(now_ms) - started) / 1000)) s"

operator_start --tick 15s
wait_for "the first status" 60 bash -c \
  "kubectl get computebudget load -o jsonpath='{.status.ledger.pods[*].uid}' | wc -w | grep -qx $PODS"

pod_running() { [[ $(jp pod "$1" '{.status.phase}' load) == Running ]]; }
in_ledger() { kc get computebudget load -o jsonpath='{.status.ledger.pods[*].uid}' | grep -q "$1"; }
# quota_changed BEFORE — the budget's GPU quota is set and differs from BEFORE.
quota_changed() {
  local after
  after=$(jp resourcequota bursar-load '{.spec.hard.requests\.nvidia\.com/gpu}' load)
  [[ -n $after && $after != "$1" ]]
}
stats() { sort -n | awk '{a[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms (n=%d)\n", a[1], a[int((NR+1)/2)], a[NR], NR}'; }

: >"$WORK/start.txt"
for ((s = 0; s < SAMPLES; s++)); do
  pod "probe-$s" | kc apply -f - >/dev/null
  wait_for --every 0.05 "probe-$s to run" 120 pod_running "probe-$s" || die "probe-$s never ran"
  running_at=$(now_ms)
  uid=$(jp pod "probe-$s" '{.metadata.uid}' load)
  wait_for --every 0.05 "probe-$s in the ledger" 120 in_ledger "$uid" ||
    die "probe-$s never reached the ledger"
  echo $(($(now_ms) - running_at)) >>"$WORK/start.txt"
done

: >"$WORK/quota.txt"
spent=$(jp computebudget load '{.status.spent}')
for ((s = 0; s < SAMPLES; s++)); do
  # Limits that put usage between Throttle (80 %) and Hold (95 %) of the money left, alternately
  # a little lower, so each sample changes the quota.
  limit=$(python3 -c "print(round(float('$spent') * (1.14 + 0.02 * ($s % 2)) + 1, 2))")
  before=$(jp resourcequota bursar-load '{.spec.hard.requests\.nvidia\.com/gpu}' load)
  kc patch computebudget load --type merge -p "{\"spec\":{\"limit\":{\"amount\":\"$limit\"}}}" >/dev/null
  crossed_at=$(now_ms)
  wait_for --every 0.05 "the quota to change" 60 quota_changed "$before" || true
  echo $(($(now_ms) - crossed_at)) >>"$WORK/quota.txt"
  # Back to a generous limit (no quota) before the next sample.
  kc patch computebudget load --type merge -p '{"spec":{"limit":{"amount":"100000000"}}}' >/dev/null
  wait_for "quota removed" 30 bash -c "! kubectl get resourcequota bursar-load -n load" || true
  spent=$(jp computebudget load '{.status.spent}')
done

echo "pods: $((PODS + SAMPLES)) on $NODES kwok nodes, operator tick 15s"
echo "pod Running -> budget status counts it: $(stats <"$WORK/start.txt")"
echo "threshold crossed -> ResourceQuota changed: $(stats <"$WORK/quota.txt")"
curl -sf "http://$OPERATOR_HEALTH/metrics" | grep -E '^bursar_reconcile_duration_seconds_(sum|count)\{role="leader"\}'
finish
