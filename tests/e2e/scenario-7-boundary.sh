#!/usr/bin/env bash
# Scenario 7 — The period boundary. Work admitted near a period's end runs on into the next
# period without being drained, the quota near the end is what the next period can carry (not
# the large allowance left-over money gives), and a CPU-only Job counts against its budget.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-7-boundary.sh
#
# Numbers: 2-GPU nodes at $720 per node-hour (one node always there: minNodes 1, nobody's to pay
# for); the budget converts money at $360 per GPU-hour, so $24 per 120 s Custom period is an even
# pace of 2 GPUs. A CPU-only Job (8 cores, no GPU) runs across the boundary from the start. Three
# 1-GPU Jobs of 100 s arrive 40 s before the period ends, when about $21 is left: the allowance is
# 5 GPUs, but the next period carries only its pace plus the 10 % burst, 2 GPUs, and nothing the
# budget has seen finish says the Jobs will end in time (docs/concepts.md, "Commitments").
set -euo pipefail
SCRIPT_NAME=e2e/scenario-7
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERIOD=120
LIMIT=24
install_crds
anchor=$(rfc3339_in 5)
{
  namespaces_yaml vision
  price_book_and_pool 6 1
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

period_start=$(date -d "$anchor" +%s)
wait_for "the operator to enter the period" 30 bash -c \
  "kubectl get computebudget vision -o jsonpath='{.status.period.start}' | grep -qx '$anchor'"

# A CPU-only preprocessing Job: 8 cores and 16 GiB, no GPU, for 150 s.
cat <<EOF | kc apply -f - >/dev/null
apiVersion: batch/v1
kind: Job
metadata: {name: prep, namespace: vision}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {bursar.dev/run-for: "150s"}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      nodeSelector: {bursar.dev/pool: a100}
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
      - name: prep
        image: registry.invalid/bursar/fake-prep:1
        resources: {requests: {cpu: "8", memory: 16Gi}, limits: {cpu: "8", memory: 16Gi}}
EOF

cpu_only_job_is_charged() {
  wait_for "the CPU-only Job to run" 30 bash -c \
    "kubectl get pods -n vision -l job-name=prep -o jsonpath='{.items[0].status.phase}' | grep -qx Running"
  # Only the CPU-only Job runs, so whatever the budget has spent, it spent on it.
  wait_for "the budget to charge it" 30 bash -c \
    "python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) > 0 else 1)' \
       \"\$(kubectl get computebudget vision -o jsonpath='{.status.spent}')\""
  echo "spent $(jp computebudget vision '{.status.spent}') with no GPU pod running"
}
check "a CPU-only Job counts against its budget" cpu_only_job_is_charged

# Forty seconds before the end, three 1-GPU Jobs of 100 s.
sleep $((period_start + PERIOD - 40 - $(date +%s)))
for i in 1 2 3; do gpu_job "late-$i" vision 1 100s; done >"$WORK/late.yaml"
kc apply -f "$WORK/late.yaml" >/dev/null
max_quota=0 max_allowed=0
while (($(date +%s) < period_start + PERIOD - 2)); do
  quota=$(jp resourcequota bursar-vision '{.spec.hard.requests\.nvidia\.com/gpu}' vision)
  allowed=$(jp computebudget vision '{.status.allowedGPUs}')
  [[ -n $quota ]] && ((quota > max_quota)) && max_quota=$quota
  [[ -n $allowed ]] && ((allowed > max_allowed)) && max_allowed=$allowed
  sleep 0.5
done
# late_jobs_started_before UNIX_SECONDS — the late-N Jobs whose pod started before then.
late_jobs_started_before() {
  kc get pods -n vision -o json | python3 -c '
import json, sys, datetime
end = float(sys.argv[1])
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {}).get("startTime")
    if p["metadata"]["name"].startswith("late-") and st:
        t = datetime.datetime.strptime(st, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        if t.timestamp() < end: print(p["metadata"]["labels"]["job-name"])' "$1"
}
started_late=$(late_jobs_started_before "$((period_start + PERIOD))" | wc -l)

quota_is_what_the_next_period_carries() {
  echo "last 40 s of the period: allowance up to $max_allowed GPUs, quota up to $max_quota," \
    "$started_late late Jobs started before the boundary"
  ((max_allowed >= 4)) || return 1 # money was left over: the allowance was large
  ((max_quota <= 2)) || return 1   # ... but the quota stayed at what the next period carries
  ((started_late >= 1 && started_late <= 2))
}
check "near the end the quota is what the next period carries" quota_is_what_the_next_period_carries

late_jobs_run_on_without_a_drain() {
  local names
  names=$(late_jobs_started_before "$((period_start + PERIOD))") || return 1
  [[ -n $names ]] || return 1
  for job in $names; do
    wait_for "$job to complete" 150 bash -c \
      "kubectl get job $job -n vision -o jsonpath='{.status.succeeded}' | grep -qx 1" || return 1
    [[ $(jp job "$job" '{.spec.suspend}' vision) != true ]] || return 1
    echo "$job: started in the first period, completed in the second, never suspended"
  done
  local drained
  drained=$(kc get events -n vision --field-selector reason=BursarDrain -o name 2>/dev/null || true)
  [[ -z $drained ]] || {
    echo "Drain events: $drained"
    return 1
  }
}
check "Jobs admitted near the end run on into the next period, not drained" \
  late_jobs_run_on_without_a_drain
finish
