#!/usr/bin/env bash
# Scenario 16 — the real Kueue holds a money budget's cpu allowance. A budget in quota mode
# KueueClusterQueue that lists cpu: Bursar writes its cpu allowance (status.admission.allowed.cpu:
# what the money its pacing carries buys at $1 a core-hour) into the ClusterQueue's cpu
# nominalQuota, and Kueue v0.17 admits a Job that fits it and keeps one that does not queued,
# though the queue's own capacity (8 cores) would take both.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-16-kueue-cpu.sh
#
# Numbers: $2 over a one-hour period at $1 a core-hour is 2 cores; a Job asks 1 core (admitted),
# another 3 (more than the allowance, less than the queue's capacity).
set -euo pipefail
SCRIPT_NAME=e2e/scenario-16
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_crds
"$REPO/tests/cluster/kueue.sh" start

# cpu_job NAME CPU — a Job submitted to Kueue through the LocalQueue (Kueue's webhook suspends it
# at creation and starts it once admitted).
cpu_job() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  namespace: cpu-team
  labels: {kueue.x-k8s.io/queue-name: cpu}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
      - name: prep
        image: registry.invalid/bursar/fake-prep:1
        resources: {requests: {cpu: "$2"}}
---
EOF
}

{
  namespaces_yaml cpu-team
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: cpu-0
  labels: {type: kwok}
  annotations: {kwok.x-k8s.io/node: fake}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
  capacity: {cpu: "16", memory: 64Gi, pods: "110"}
---
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec:
  currency: USD
  defaults: {cpuCoreHour: "1", memoryGiBHour: "0", gpuHour: "0"}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: cpu}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: default
      resources: [{name: cpu, nominalQuota: 8}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: cpu, namespace: cpu-team}
spec: {clusterQueue: cpu}
---
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: cpu-team}
spec:
  scope: {namespaces: [cpu-team]}
  limit: {amount: "2", currency: USD}
  period: {type: Custom, duration: 1h, anchor: "$(rfc3339_in 0)"}
  pacing: {mode: Even, burstPercent: 0}
  quota: {mode: KueueClusterQueue, clusterQueue: cpu, resources: [cpu]}
EOF
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null
operator_start

allowed_cpu() { jp computebudget cpu-team '{.status.admission.allowed.cpu}'; }
queue_cpu() { jp clusterqueue cpu '{.spec.resourceGroups[0].flavors[0].resources[0].nominalQuota}'; }
# The queue's cpu quota is the budget's published allowance, and below the queue's capacity.
quota_is_the_allowance() {
  local allowed quota
  allowed=$(allowed_cpu) quota=$(queue_cpu)
  echo "status.admission.allowed.cpu: ${allowed:-<none>}; ClusterQueue cpu nominalQuota: ${quota:-<none>}"
  [[ -n $allowed ]] && python3 - "$allowed" "$quota" <<'EOF'
import sys
def cores(q):
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)
allowed, quota = (cores(q) for q in sys.argv[1:3])
sys.exit(0 if abs(allowed - quota) < 1e-9 and 1.5 <= quota <= 2.5 else 1)
EOF
}
wait_for "Bursar to write the cpu allowance into the ClusterQueue" 60 quota_is_the_allowance >/dev/null || true
check "the ClusterQueue's cpu quota is the budget's cpu allowance (about 2 cores, not the queue's 8)" \
  quota_is_the_allowance

{
  cpu_job small 1
  cpu_job large 3
} | kc apply -f - >/dev/null

suspended() { jp job "$1" '{.spec.suspend}' cpu-team; }
small_admitted() { [[ $(suspended small) == false ]]; }
wait_for "Kueue to admit the Job that fits" 60 small_admitted >/dev/null || true
check "Kueue admits the 1-core Job (within the allowance)" small_admitted

# Kueue's reason for the 3-core Job, from its Workload's QuotaReserved condition.
large_reason() {
  kc get workloads -n cpu-team -o json | python3 -c '
import json, sys
for w in json.load(sys.stdin)["items"]:
    if any(o.get("name") == "large" for o in w["metadata"].get("ownerReferences", [])):
        for c in w.get("status", {}).get("conditions", []):
            if c["type"] == "QuotaReserved":
                print(c["status"], c.get("message", ""))'
}
sleep 10 # several passes and Kueue reconciles with the 3-core Job queued
large_stays_queued() {
  local reason
  reason=$(large_reason)
  echo "large: suspend=$(suspended large); QuotaReserved: ${reason:-<no condition>}"
  [[ $(suspended large) == true && $reason == False* && $reason == *cpu* ]]
}
check "Kueue keeps the 3-core Job queued for cpu quota, though the queue's capacity would fit it" \
  large_stays_queued
echo "      seen: allowed cpu $(allowed_cpu), the queue's cpu quota $(queue_cpu); the 3-core Job's" \
  "QuotaReserved: $(large_reason)"
if ((failed > 0)); then
  tail_log "$BURSAR_TEST_CLUSTER_DIR/logs/kueue.log" 30
fi
finish
