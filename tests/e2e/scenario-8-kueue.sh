#!/usr/bin/env bash
# Scenario 8 — the real Kueue. A budget with quota.mode KueueClusterQueue caps what Kueue v0.17
# admits from a ClusterQueue with two ResourceFlavors (spot first, then on-demand, at different
# prices) in a cohort with a second, idle queue that would lend it GPUs: Jobs go through a
# LocalQueue (Kueue's webhook suspends them at creation), Bursar lowers the flavors'
# nominalQuota as the budget is paced and throttled, stops the queue at Hold (stopPolicy Hold),
# and starts it again with the new period's quota when the next period releases the budget;
# Kueue admits and queues accordingly.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-8-kueue.sh
#
# Numbers: A100 GPUs at $144/h on spot nodes and $360/h on on-demand nodes (2 + 2 nodes of 2
# GPUs; the ClusterQueue's capacity is 4 spot + 4 on-demand); $18 over a 90 s period is $0.20 a
# second: 5 spot GPUs or 2 on-demand ones. Forty 1-GPU Jobs of 10 s want far more. The PriceBook's
# default ($360, the dearest GPU) prices the allowance whatever mix runs, so the budget spends
# about three quarters of its limit under Throttle (spot GPUs cost less than the allowance
# assumed); Hold at 65 % (late in the period) leaves the Jobs already admitted, at most 10 s each,
# inside the limit. No Drain
# rung: Kueue starts again a Job whose Workload is admitted when anyone else suspends it, so
# Bursar's Drain (Job suspension) does not stop Kueue-managed Jobs (docs/concepts.md).
set -euo pipefail
SCRIPT_NAME=e2e/scenario-8
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERIOD=90
LIMIT=18
JOBS=40
install_crds
"$REPO/tests/cluster/kueue.sh" start

# gpu_node NAME CAPACITY_TYPE — a kwok node with two A100s.
gpu_node() {
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels: {type: kwok, karpenter.sh/capacity-type: $2, nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}
  annotations: {kwok.x-k8s.io/node: fake}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110", nvidia.com/gpu: "2"}
  capacity: {cpu: "8", memory: 32Gi, pods: "110", nvidia.com/gpu: "2"}
---
EOF
}

# A Job submitted to Kueue through the LocalQueue: created unsuspended, suspended by Kueue's
# webhook, started by Kueue once admitted into a flavor (whose nodeLabels Kueue adds).
queued_job() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  namespace: research
  labels: {kueue.x-k8s.io/queue-name: gpus}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {bursar.dev/run-for: "10s"}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
      - name: train
        image: registry.invalid/bursar/fake-trainer:1
        resources: {limits: {nvidia.com/gpu: "1"}}
---
EOF
}

anchor=$(rfc3339_in 8)
period_start=$(date -d "$anchor" +%s)
{
  namespaces_yaml research
  gpu_node spot-0 spot
  gpu_node spot-1 spot
  gpu_node on-demand-0 on-demand
  gpu_node on-demand-1 on-demand
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec:
  currency: USD
  defaults: {gpuHour: "360"}
  gpus:
    - {model: NVIDIA-A100-SXM4-80GB, capacityType: OnDemand, pricePerHour: "360"}
    - {model: NVIDIA-A100-SXM4-80GB, capacityType: Spot, pricePerHour: "144"}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: spot}
spec:
  nodeLabels: {karpenter.sh/capacity-type: spot}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: on-demand}
spec:
  nodeLabels: {karpenter.sh/capacity-type: on-demand}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: research}
spec:
  cohortName: lab
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [nvidia.com/gpu]
    flavors:
    - name: spot
      resources: [{name: nvidia.com/gpu, nominalQuota: 4}]
    - name: on-demand
      resources: [{name: nvidia.com/gpu, nominalQuota: 4}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: idle-lender}
spec:
  cohortName: lab
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [nvidia.com/gpu]
    flavors:
    - name: spot
      resources: [{name: nvidia.com/gpu, nominalQuota: 4}]
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: gpus, namespace: research}
spec: {clusterQueue: research}
---
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: research}
spec:
  scope: {namespaces: [research]}
  limit: {amount: "$LIMIT", currency: USD}
  period: {type: Custom, duration: ${PERIOD}s, anchor: "$anchor"}
  pacing: {mode: Even, burstPercent: 10}
  thresholds:
    - {percent: 50, action: Throttle}
    - {percent: 65, action: Hold}
  quota: {mode: KueueClusterQueue, clusterQueue: research, resources: [nvidia.com/gpu]}
EOF
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null
operator_start

wait_for "the operator to enter the period" 30 bash -c \
  "kubectl get computebudget research -o jsonpath='{.status.period.start}' | grep -qx '$anchor'"
for i in $(seq 1 "$JOBS"); do queued_job "train-$i"; done | kc apply -f - >/dev/null

# One sample: seconds into the period, phase, allowedGPUs, then per flavor (spot, on-demand)
# nominalQuota, borrowingLimit, reserved GPUs, borrowed GPUs; pending workloads; stopPolicy.
sample() {
  local budget cq
  budget=$(kc get computebudget research -o jsonpath='{.status.phase} {.status.allowedGPUs}') || return 1
  cq=$(kc get clusterqueue research -o json) || return 1
  python3 -c '
import json, sys
t, phase, allowed = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "-"
cq = json.loads(sys.stdin.read())
out = [t, phase or "-", allowed or "-"]
flavors = {f["name"]: f["resources"][0] for f in cq["spec"]["resourceGroups"][0]["flavors"]}
reserved = {f["name"]: f["resources"][0] for f in cq.get("status", {}).get("flavorsReservation", [])}
for name in ("spot", "on-demand"):
    r = reserved.get(name, {})
    out += [str(flavors[name].get("nominalQuota")), str(flavors[name].get("borrowingLimit", "-")),
            str(r.get("total", 0)), str(r.get("borrowed", 0))]
out.append(str(cq.get("status", {}).get("pendingWorkloads", 0)))
out.append(cq["spec"].get("stopPolicy", "None"))
print(" ".join(out))' "$(($(date +%s) - period_start))" $budget <<<"$cq"
}

# Sample until 25 s into the next period (the release).
: >"$WORK/samples"
while (($(date +%s) < period_start + PERIOD + 25)); do
  sample >>"$WORK/samples" 2>/dev/null || true
  sleep 0.5
done
ended_summary() {
  kc get computebudget research \
    -o jsonpath='{range .status.recentActions[?(@.reason=="NewPeriod")]}{.message}{"\n"}{end}' |
    grep "period $anchor ended"
}
summary=$(ended_summary || true)

# analyse CHECK — reads the samples (t phase allowed, then per flavor nominal borrowingLimit
# reserved borrowed, then pending and stopPolicy) and applies one check; prints what it saw.
analyse() {
  python3 - "$1" "$PERIOD" "$WORK/samples" <<'EOF'
import sys
check, period = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(sys.argv[3]):
    f = line.split()
    if len(f) != 13 or f[2] == "-":
        continue
    t, phase, allowed = int(f[0]), f[1], int(f[2])
    spot_q, spot_b, spot_r, spot_bor = int(f[3]), f[4], int(f[5]), int(f[6])
    od_q, od_b, od_r, od_bor = int(f[7]), f[8], int(f[9]), int(f[10])
    rows.append(dict(t=t, phase=phase, allowed=allowed, quota=spot_q + od_q, spot=spot_r,
                     od=od_r, admitted=spot_r + od_r, borrowed=int(spot_bor) + int(od_bor),
                     limits=(spot_b, od_b), pending=int(f[11]), stop=f[12]))
if not rows:
    print("no samples"); sys.exit(1)
first = [r for r in rows if 0 <= r["t"] < period]
ok = True
if check == "cap":
    # Between two samples in which Kueue admitted more, the GPUs it holds stay within the quota
    # Bursar wrote (no borrowing from the idle lender) and within the allowance. Kueue counts
    # what a flavor holds above a lowered quota as "borrowed": that is not a new admission. One
    # pass a second may raise and lower the quota between two samples, and a sample reads the
    # budget's status before the queue, so it may pair a pass's quota with the status of the pass
    # before: the samples around it count too. Bursar's quotas sum to at most the allowance, or
    # at Hold to what the queue holds.
    # Two races are known and tolerated here, each counted and printed, nothing else:
    # - sampling: one pass a second may raise the allowance and lower it again between two
    #   samples (the GPU-hour price follows the mix of spot and on-demand pods running, 2.5x
    #   apart), so a sample can miss a quota Bursar wrote; Bursar writes the quota and the
    #   allowance in the same pass, so an admission is bounded by the allowances sampled around
    #   it as well as by the quotas;
    # - Kueue's status lag: Bursar splits the allowance over the flavors from the queue's
    #   status (flavorsReservation), which Kueue updates after it admits; when a flavor already
    #   held more than its quota (borrowed > 0, the signature of a split made on a stale
    #   status), Kueue may admit one more workload (1 GPU here) on the other flavor.
    over = 0
    lag = 0
    skew = 0
    for i in range(1, len(rows)):
        r, prev = rows[i], rows[i - 1]
        window = rows[max(0, i - 2):i + 2]
        allowed = max(x["allowed"] for x in window)
        quota = max(max(x["quota"] for x in window), allowed)
        if r["limits"] != ("0", "0"):
            print("borrowing not closed:", r); ok = False
        if r["quota"] > max(allowed, r["admitted"]):
            skew += 1  # a quota whose pass's status the samples missed (sampling, above)
        if r["admitted"] > prev["admitted"]:
            beyond = r["admitted"] - max(allowed, quota)
            over = max(over, r["admitted"] - allowed)
            if beyond > 0 and beyond <= 1 and prev["borrowed"] > 0:
                lag += 1
                print("Kueue admitted 1 GPU past the split made on its lagging status:", prev, "->", r)
            elif beyond > 0:
                print("Kueue admitted beyond the quota and the allowance:", prev, "->", r); ok = False
    if skew > len(rows) // 10:
        print(f"{skew} samples with a quota above every allowance sampled around it"); ok = False
    print(f"{len(rows)} samples; most GPUs admitted {max(r['admitted'] for r in rows)}; "
          f"most admitted beyond the sampled allowance {max(over, 0)} GPUs; {lag} admissions "
          f"past a split made on Kueue's lagging status (1 GPU each); {skew} samples of a quota "
          f"whose status was not sampled")
elif check == "throttle":
    low = [r for r in first if r["quota"] < 8 and r["pending"] > 0]
    print(f"{len(low)} samples in the period with the quota below the capacity of 8 and workloads queued;"
          f" quota went from {first[0]['quota'] if first else '?'} down to {min(r['quota'] for r in first) if first else '?'}")
    ok = len(low) > 0
elif check == "flavors":
    print(f"most admitted on spot {max(r['spot'] for r in rows)}, on on-demand {max(r['od'] for r in rows)}")
    ok = max(r["spot"] for r in rows) > 0 and max(r["od"] for r in rows) > 0
elif check == "hold":
    stopped = [r for r in first if r["stop"] == "Hold"]
    # Two samples in a row Held and stopped (a sample whose status says released may have seen
    # the queue a moment before Bursar set stopPolicy back to None: Kueue may admit then).
    admitted_while_stopped = [(a, b) for a, b in zip(rows, rows[1:])
                              if a["stop"] == "Hold" and b["stop"] == "Hold" and a["phase"] == "Held"
                              and b["phase"] == "Held" and b["admitted"] > a["admitted"]]
    print(f"{len(stopped)} samples in the period with the queue stopped (stopPolicy Hold), "
          f"{sum(1 for r in first if r['phase'] == 'Held')} Held; admissions while stopped: {len(admitted_while_stopped)}")
    for a, b in admitted_while_stopped:
        print("  admitted while stopped:", a, "->", b)
    ok = len(stopped) > 0 and not admitted_while_stopped and any(r["pending"] > 0 for r in stopped)
elif check == "release":
    before = [r for r in first if r["t"] >= period - 10]
    after = [r for r in rows if r["t"] >= period]
    if not before or not after:
        print("no samples around the period's end"); sys.exit(1)
    # The new period releases the queue (stopPolicy back to None, the budget no longer Held) with
    # a quota above zero, and Kueue admits again: workloads leave the queue after the release.
    # The quota need not pass the last one Held: a period's first allowance is its even share,
    # $0.20 a second, 2 GPUs at the PriceBook's default price when nothing runs on spot yet, and
    # at Hold the quota is what the queue held, which may be 2 as well.
    released = [r for r in after if r["stop"] == "None" and r["phase"] != "Held"]
    print(f"quota at the end of the period {before[-1]['quota']} ({before[-1]['phase']}, "
          f"stopPolicy {before[-1]['stop']}), most in the next {max(r['quota'] for r in after)}; "
          f"released {released[0]['t'] - period if released else '-'} s into the next period; "
          f"queued at the end {before[-1]['pending']}, fewest after the release "
          f"{min(r['pending'] for r in released) if released else '-'}; "
          f"most admitted at the end {max(r['admitted'] for r in before)}, in the next {max(r['admitted'] for r in after)}")
    ok = bool(released) and max(r["quota"] for r in released) > 0 and \
        min(r["pending"] for r in released) < before[-1]["pending"]
sys.exit(0 if ok else 1)
EOF
}

quota_caps_what_kueue_admits() { analyse cap; }
kueue_queues_what_the_throttled_quota_leaves_out() { analyse throttle; }
both_flavors_are_used() { analyse flavors; }
hold_stops_the_queue() { analyse hold; }
the_next_period_releases_the_queue_and_kueue_admits() { analyse release; }

period_ended_at_or_under_its_limit() {
  echo "status: ${summary:-<no summary for the period that started $anchor>}"
  [[ -n $summary ]] || return 1
  local spent from_pods
  spent=$(sed -n 's/.* ended with \([0-9.]*\) spent.*/\1/p' <<<"$summary") || return 1
  python3 -c "import sys; sys.exit(0 if float('$spent') <= $LIMIT else 1)" || return 1
  # Independently, from pod timestamps and the capacity type of each pod's node.
  from_pods=$({
    kc get nodes -o json
    echo
    kc get pods -n research -o json
  } | python3 -c '
import json, sys, datetime
lo, hi = float(sys.argv[1]), float(sys.argv[2])
dec = json.JSONDecoder(); text = sys.stdin.read().strip()
nodes, i = dec.raw_decode(text); pods, _ = dec.raw_decode(text[i:].strip())
rate = {n["metadata"]["name"]: (144 if n["metadata"]["labels"].get("karpenter.sh/capacity-type") == "spot" else 360) / 3600
        for n in nodes["items"]}
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
total = 0.0
for p in pods["items"]:
    st = p.get("status", {}); node = p["spec"].get("nodeName")
    if "startTime" not in st or not node: continue
    start = ts(st["startTime"]); end = hi
    ends = [c["state"]["terminated"]["finishedAt"] for c in st.get("containerStatuses", []) if "terminated" in c.get("state", {})]
    if st.get("phase") in ("Succeeded", "Failed") and ends: end = max(ts(e) for e in ends)
    total += max(0.0, min(end, hi) - max(start, lo)) * rate[node]
print("%.6f" % total)' "$period_start" "$((period_start + PERIOD))") || return 1
  echo "spend recomputed from pod timestamps: $from_pods (operator: $spent, limit $LIMIT)"
  python3 -c "import sys; sys.exit(0 if $from_pods <= $LIMIT * 1.02 else 1)"
}

capacities_recorded() {
  local record
  record=$(jp clusterqueue research '{.metadata.annotations.bursar\.dev/flavor-quotas}')
  echo "bursar.dev/flavor-quotas: $record"
  [[ $record == '{"on-demand/nvidia.com/gpu":"4","spot/nvidia.com/gpu":"4"}' ]] || return 1
  # The cohort survived every write (a v1beta1 write without conversion would prune it).
  [[ $(jp clusterqueue research '{.spec.cohortName}') == lab ]]
}

check "Kueue admits within the quota Bursar writes and the allowance (1 GPU past a split made on its lagging status tolerated)" \
  quota_caps_what_kueue_admits
check "throttled: the quota is below the queue's capacity and Kueue queues the rest" \
  kueue_queues_what_the_throttled_quota_leaves_out
check "both flavors (spot and on-demand) are admitted into" both_flavors_are_used
check "Hold stops the queue: Kueue admits nothing while work is queued" hold_stops_the_queue
check "the next period releases the queue and Kueue admits again" \
  the_next_period_releases_the_queue_and_kueue_admits
check "the period ended at or under its limit" period_ended_at_or_under_its_limit
check "the capacities are recorded and the cohort kept" capacities_recorded
if ((failed > 0)); then
  sed 's/^/      sample: /' "$WORK/samples" | tail -n 80
  tail_log "$BURSAR_TEST_CLUSTER_DIR/logs/kueue.log" 30
fi
finish
