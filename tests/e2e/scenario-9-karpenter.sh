#!/usr/bin/env bash
# Scenario 9 — the real Karpenter. Karpenter v1.8's kwok cloud provider (its own provisioning,
# disruption and NodeClaim controllers, launching Node objects instead of instances) runs next
# to Bursar. A GPUNodePool of provider Karpenter bounds the NodePool "gpu": Bursar sets its
# spec.limits["nvidia.com/gpu"], and Karpenter launches 2-GPU nodes for pending GPU pods only
# within that limit; when the work drains Bursar lowers the limit and deletes the idle node,
# never the busy one. Karpenter's own disruption is set not to fight Bursar (consolidation
# WhenEmpty after longer than Bursar's scaleDownDelay, expireAfter Never; docs/concepts.md).
#
# Alongside (issue 14 item 8, no runaway scale-up): a second NodePool "chaos" whose nodes are
# tainted the moment they appear, so its pods stay pending and Karpenter keeps wanting new
# nodes; Bursar's limit holds it at the nodes the pending GPUs need (2) for the whole scenario.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-9-karpenter.sh
#
# Numbers: A100s at $360 per GPU-hour ($0.10 a GPU-second), nodes of 2 GPUs at $720 an hour.
# "gpu": six 1-GPU Jobs (five of 25 s, two of which wait at the limit, one of 80 s) on a pool of
# at most 2 nodes; "chaos": four 1-GPU Jobs that never run, on a pool of at most 6 nodes. Budgets
# of $60 ("gpu") and $200 ("chaos", charged for its idle tainted nodes) over a 600 s Custom
# period (no boundary inside the scenario). examples/karpenter/a100-pool.yaml is applied as it
# is and runs one Job. About 2.5 minutes (3 on a loaded machine).
set -euo pipefail
SCRIPT_NAME=e2e/scenario-9
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERIOD=600
LIMIT=60
CHAOS_LIMIT=200
GPU_MAX_NODES=2
CHAOS_BOUND=2 # nodes: 4 pending 1-GPU pods on 2-GPU nodes
CHAOS_TAINT=bursar.dev/chaos
install_crds
"$REPO/tests/cluster/karpenter.sh" start

# karpenter_pool NAME MAX_NODES CONSOLIDATE_AFTER — a Karpenter NodePool of 2-GPU A100 kwok nodes
# (the instance type of tests/cluster/fixtures/karpenter-gpu-instance-types.json) with no GPU
# limit yet, and the GPUNodePool through which Bursar bounds it.
karpenter_pool() {
  cat <<EOF
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: $1}
spec:
  limits: {nvidia.com/gpu: "0"}
  disruption:
    consolidationPolicy: WhenEmpty
    consolidateAfter: $3
  template:
    metadata:
      labels: {bursar.dev/pool: $1, nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}
    spec:
      expireAfter: Never
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: In, values: [gpu-a100-2x]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: $1}
spec:
  provider: {type: Karpenter, karpenter: {nodePool: $1}}
  nodeSelector: {bursar.dev/pool: $1}
  gpuType: NVIDIA-A100-SXM4-80GB
  gpusPerNode: 2
  capacityType: OnDemand
  pricePerNodeHour: "720"
  minNodes: 0
  maxNodes: $2
  maxScaleStep: 2
  scaleDownDelay: 10s
---
EOF
}

# budget NAME POOL LIMIT
budget() {
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $1}
spec:
  scope: {namespaces: [$1]}
  limit: {amount: "$3", currency: USD}
  period: {type: Custom, duration: ${PERIOD}s, anchor: "$anchor"}
  pacing: {mode: None}
  nodePools: [$2]
---
EOF
}

# job NAME NAMESPACE POOL RUN_FOR [POD_FAILURE_POLICY] — a 1-GPU Job for the nodes of POOL (no
# kwok toleration: Karpenter's nodes carry no kwok taint). Any failure fails it, unless
# POD_FAILURE_POLICY says otherwise.
job() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: $1, namespace: $2}
spec:
  backoffLimit: 0
  podFailurePolicy: ${5:-"{rules: []}"}
  template:
    metadata:
      annotations: {bursar.dev/run-for: "$4"}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      nodeSelector: {bursar.dev/pool: $3}
      containers:
      - name: train
        image: registry.invalid/bursar/fake-trainer:1
        resources: {limits: {nvidia.com/gpu: "1"}}
---
EOF
}

anchor=$(rfc3339_in 2)
period_start=$(date -d "$anchor" +%s)
{
  namespaces_yaml gpu chaos
  cat <<EOF
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
---
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec:
  currency: USD
  gpus:
    - {model: NVIDIA-A100-SXM4-80GB, capacityType: OnDemand, pricePerHour: "360"}
---
EOF
  karpenter_pool gpu "$GPU_MAX_NODES" 60s
  karpenter_pool chaos 6 60s
  budget gpu gpu "$LIMIT"
  # Enough that its idle (tainted) nodes, charged to it, do not throttle it within the scenario.
  budget chaos chaos "$CHAOS_LIMIT"
  namespaces_yaml ml-team
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null
# The example as it is: its NodePool, GPUNodePool and budget (namespace ml-team).
kc apply -f "$REPO/examples/karpenter/a100-pool.yaml" >/dev/null
operator_start
wait_for "the operator to enter the period" 30 bash -c \
  "kubectl get computebudget gpu -o jsonpath='{.status.period.start}' | grep -qx '$anchor'"

# The chaos controller: taints every node of NodePool "chaos" the moment it appears. NoExecute:
# a pod the scheduler bound before the taint landed is evicted, and its Job (whose
# podFailurePolicy ignores disruptions) makes a new one, pending again.
# Stopping the watch (its pid is kubectl's own) ends the loop that reads it.
"$KUBECTL" get nodes -l karpenter.sh/nodepool=chaos --watch -o name 2>/dev/null > >(
  while read -r node; do
    kc taint nodes "${node#node/}" "$CHAOS_TAINT=true:NoExecute" --overwrite >/dev/null 2>&1 || true
  done
) &
chaos_pid=$!

{
  for i in 1 2 3 4 5; do job "short-$i" gpu gpu 25s; done
  job long gpu gpu 80s
  # An eviction by the chaos taint is not a failure: the Job makes a new pod.
  for i in 1 2 3 4; do
    job "stuck-$i" chaos chaos 300s "{rules: [{action: Ignore, onPodConditions: [{type: DisruptionTarget}]}]}"
  done
  job example ml-team gpu-a100 20s
} | kc apply -f - >/dev/null
jobs_start=$(date +%s)

# One sample a second, one JSON line: seconds since the Jobs, each Karpenter node (pool, deleting,
# tainted by chaos), NodeClaims per pool, each NodePool's GPU limit, and each pod's node and phase.
sample() {
  {
    kc get nodes,nodeclaims.karpenter.sh,nodepools.karpenter.sh -o json
    echo
    kc get pods -n gpu -o json
    echo
    kc get pods -n chaos -o json
  } | python3 -c '
import json, sys
t, taint = int(sys.argv[1]), sys.argv[2]
dec = json.JSONDecoder(); text = sys.stdin.read().strip(); docs = []
while text:
    doc, i = dec.raw_decode(text); docs.append(doc); text = text[i:].strip()
objects, pods = docs[0]["items"], docs[1]["items"] + docs[2]["items"]
out = {"t": t, "nodes": {}, "claims": {}, "limits": {}, "pods": {}}
for o in objects:
    labels = o["metadata"].get("labels", {})
    if o["kind"] == "Node" and "karpenter.sh/nodepool" in labels:
        out["nodes"][o["metadata"]["name"]] = {
            "pool": labels["karpenter.sh/nodepool"],
            "deleting": "deletionTimestamp" in o["metadata"],
            "chaos": any(x["key"] == taint for x in o["spec"].get("taints", []))}
    elif o["kind"] == "NodeClaim":
        pool = labels.get("karpenter.sh/nodepool", "?")
        out["claims"][pool] = out["claims"].get(pool, 0) + 1
    elif o["kind"] == "NodePool":
        out["limits"][o["metadata"]["name"]] = o["spec"].get("limits", {}).get("nvidia.com/gpu")
for p in pods:
    out["pods"][p["metadata"]["namespace"] + "/" + p["metadata"]["name"]] = {
        "node": p["spec"].get("nodeName"), "phase": p.get("status", {}).get("phase"),
        "deleting": "deletionTimestamp" in p["metadata"],
        "job": p["metadata"].get("labels", {}).get("job-name")}
print(json.dumps(out))' "$(($(date +%s) - jobs_start))" "$CHAOS_TAINT"
}

gpu_jobs_done() {
  [[ $(kc get jobs -n gpu -o jsonpath='{range .items[*]}{.status.succeeded}{.status.failed}{"\n"}{end}' |
    grep -c .) -ge 6 ]]
}

: >"$WORK/samples"
done_at=""
while (($(date +%s) < jobs_start + 170)); do
  sample >>"$WORK/samples" 2>/dev/null || true
  if [[ -z $done_at ]] && gpu_jobs_done; then done_at=$(date +%s); fi
  # Ten seconds past the last Job, and at least two minutes of chaos.
  if [[ -n $done_at ]] && (($(date +%s) >= done_at + 10 && $(date +%s) >= jobs_start + 120)); then
    break
  fi
  sleep 1
done
kill "$chaos_pid" 2>/dev/null || true
wait "$chaos_pid" 2>/dev/null || true

# analyse CHECK — applies one check to the samples; prints what it saw.
analyse() {
  kc get jobs -n gpu -o jsonpath='{range .items[*]}{.metadata.name}={.status.succeeded}/{.status.failed}{" "}{end}' \
    >"$WORK/jobs"
  python3 - "$1" "$WORK/samples" "$GPU_MAX_NODES" "$CHAOS_BOUND" "$WORK/jobs" \
    "$(grep -c '"disrupting node(s)".*"NodeClaim":{"name":"gpu-' "$BURSAR_TEST_CLUSTER_DIR/logs/karpenter.log" || true)" <<'EOF'
import json, sys
check, path, gpu_max, chaos_bound = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(line) for line in open(path) if line.strip()]
if len(rows) < 10:
    print(f"only {len(rows)} samples"); sys.exit(1)
def limit(r, pool):
    v = r["limits"].get(pool)
    return int(v) if v is not None else None
def nodes(r, pool):
    return {n: v for n, v in r["nodes"].items() if v["pool"] == pool}
ok = True
if check == "grow":
    # Karpenter launches within the limit Bursar set: whenever the pool's NodeClaims grow, they
    # fit the GPU limit of this sample or the ones around it (a sample is not atomic).
    launched = 0
    for i in range(1, len(rows)):
        r, prev = rows[i], rows[i - 1]
        c, pc = r["claims"].get("gpu", 0), prev["claims"].get("gpu", 0)
        if c > pc:
            launched += c - pc
            window = [limit(x, "gpu") or 0 for x in rows[max(0, i - 2):i + 2]]
            if 2 * c > max(window):
                print(f"t={r['t']}: {c} NodeClaims (2 GPUs each) above the GPU limit {max(window)}"); ok = False
    most = max(len(nodes(r, "gpu")) for r in rows)
    limits = sorted({limit(r, "gpu") for r in rows if limit(r, "gpu") is not None})
    ran = {p for r in rows for p, v in r["pods"].items() if p.startswith("gpu/") and v["phase"] in ("Running", "Succeeded")}
    waited = any(sum(1 for p, v in r["pods"].items() if p.startswith("gpu/") and v["phase"] == "Pending") > 0
                 and len(nodes(r, "gpu")) == gpu_max for r in rows)
    print(f"GPU limits Bursar wrote: {limits}; NodeClaims launched {launched}; most nodes {most} "
          f"(maxNodes {gpu_max}); pods that ran {len(ran)}; pods waited at the limit: {waited}")
    ok = ok and launched >= gpu_max and most <= gpu_max and len(ran) == 6 and waited and max(limits) <= 2 * gpu_max
elif check == "shrink":
    # Nodes that go (disappear or start deleting). A pod seen running on one in the sample before
    # may have finished in between (samples are seconds apart): what decides is its Job. Had the
    # node still been busy, Karpenter's drain would have evicted the pod and its Job (backoffLimit
    # 0) failed. The limit comes down, and the nodes were Bursar's to remove: Karpenter's own
    # consolidation ("disrupting node(s)") never took a node of this pool.
    jobs = dict(x.split("=", 1) for x in open(sys.argv[5]).read().split())
    consolidations = int(sys.argv[6])
    removed = []
    for i in range(1, len(rows)):
        r, prev = rows[i], rows[i - 1]
        for n, v in nodes(prev, "gpu").items():
            if n in r["nodes"] and not (r["nodes"][n]["deleting"] and not v["deleting"]):
                continue
            seen = [pv["job"] for p, pv in prev["pods"].items() if pv["node"] == n and pv["phase"] in ("Pending", "Running")]
            removed.append((r["t"], n, seen))
            for job in seen:
                if not jobs.get(job, "").startswith("1/"):
                    print(f"t={r['t']}: node {n} removed while Job {job} ran on it, and the Job did not succeed ({jobs.get(job)})"); ok = False
    limits = [limit(r, "gpu") for r in rows if limit(r, "gpu") is not None]
    peak = max(limits); after = limits[limits.index(peak):]
    print(f"nodes removed (t, node, Jobs seen running on it a sample before): {removed}; GPU limit from {peak} "
          f"down to {min(after)}; Karpenter consolidations of the pool: {consolidations}")
    ok = ok and len(removed) > 0 and min(after) < peak and consolidations == 0
elif check == "chaos":
    chaos_rows = [r for r in rows]
    most = max(len(nodes(r, "chaos")) for r in chaos_rows)
    claims = max(r["claims"].get("chaos", 0) for r in chaos_rows)
    lim = max(limit(r, "chaos") or 0 for r in chaos_rows)
    tainted_end = sum(1 for v in nodes(chaos_rows[-1], "chaos").values() if v["chaos"])
    last = chaos_rows[-1]
    final = {p: v for p, v in last["pods"].items() if p.startswith("chaos/")}
    pending = sum(1 for v in final.values() if v["phase"] == "Pending")
    # A pod that landed before the taint is being evicted (or its node is gone); none runs for good.
    working = [p for p, v in final.items() if v["phase"] == "Running" and not v["deleting"]
               and v["node"] in last["nodes"] and not last["nodes"][v["node"]]["chaos"]]
    ran = {p for r in chaos_rows for p, v in r["pods"].items() if p.startswith("chaos/") and v["phase"] == "Running"}
    span = chaos_rows[-1]["t"] - chaos_rows[0]["t"]
    print(f"over {span} s: most chaos nodes {most}, NodeClaims {claims}, GPU limit {lim} (bound {chaos_bound} nodes); "
          f"nodes tainted at the end {tainted_end} of {len(nodes(chaos_rows[-1], 'chaos'))}; "
          f"pods pending at the end {pending} of {len(final)}, running on an untainted node {len(working)} "
          f"(pods that ran before the taint reached their node: {len(ran)})")
    ok = span >= 110 and most <= chaos_bound and claims <= chaos_bound and lim <= 2 * chaos_bound \
        and tainted_end >= 1 and tainted_end == len(nodes(last, "chaos")) and pending >= 2 and not working
sys.exit(0 if ok else 1)
EOF
}

karpenter_launches_only_within_the_limit_bursar_sets() { analyse grow; }
bursar_shrinks_by_idle_nodes_never_a_busy_one() { analyse shrink; }
every_job_completed() {
  # From the Jobs (the pods of a deleted node are garbage-collected with it, finished or not).
  local jobs
  jobs=$(kc get jobs -n gpu -o jsonpath='{range .items[*]}{.metadata.name}={.status.succeeded}/{.status.failed}{" "}{end}')
  echo "Jobs (succeeded/failed): $jobs"
  [[ $(wc -w <<<"$jobs") -eq 6 ]] && ! grep -qE '=[^ ]*/[1-9]|=/' <<<"$jobs"
}
tainted_nodes_do_not_make_the_pool_grow() { analyse chaos; }
karpenter_wanted_more_than_the_limit() {
  # Karpenter saw the chaos pods as needing new nodes and was stopped by the limit.
  local n
  n=$(grep -c '"namespace":"chaos"}.*exceed limits for nodepool (NodePool=chaos)' \
    "$BURSAR_TEST_CLUSTER_DIR/logs/karpenter.log" || true)
  echo "Karpenter's provisioner refused a chaos pod for the NodePool's limit $n times"
  ((n > 0))
}
the_example_pool_works_as_it_is() {
  local node pool limit
  node=$(jp pod "$(kc get pods -n ml-team -l job-name=example -o name | head -n 1 | cut -d/ -f2)" \
    '{.spec.nodeName}' ml-team)
  pool=$(jp node "$node" '{.metadata.labels.karpenter\.sh/nodepool}')
  limit=$(jp nodepool.karpenter.sh gpu-a100 '{.spec.limits.nvidia\.com/gpu}')
  echo "examples/karpenter/a100-pool.yaml: Job example $(jp job example '{.status.succeeded}' ml-team) succeeded" \
    "on node ${node:-?} of NodePool ${pool:-?}; GPU limit now ${limit:-?}"
  [[ $(jp job example '{.status.succeeded}' ml-team) == 1 && $pool == gpu-a100 ]]
}
spend_within_the_limit() {
  local b spent from_pods ok=0
  for b in "gpu $LIMIT" "chaos $CHAOS_LIMIT"; do
    set -- $b
    spent=$(jp computebudget "$1" '{.status.spent}')
    from_pods=$(spend_from_pods "$1" "$period_start" "$(date +%s)" 0.1)
    echo "$1: operator spent ${spent:-?} (idle nodes it asked for included), its pods' GPUs alone $from_pods, limit $2"
    python3 -c "import sys; sys.exit(0 if float('${spent:-inf}') <= $2 and $from_pods <= $2 else 1)" || ok=1
  done
  return $ok
}

check "Karpenter launches nodes only within the GPU limit Bursar sets" \
  karpenter_launches_only_within_the_limit_bursar_sets
check "Bursar shrinks the pool by idle nodes (Karpenter's consolidation never first), never a busy one" \
  bursar_shrinks_by_idle_nodes_never_a_busy_one
check "every Job completed (no busy node was taken away)" every_job_completed
check "nodes tainted right after joining do not make the pool grow (bounded for 2 minutes)" \
  tainted_nodes_do_not_make_the_pool_grow
check "Karpenter wanted more nodes for the chaos pool and the limit stopped it" \
  karpenter_wanted_more_than_the_limit
check "spend stays within each budget's limit" spend_within_the_limit
check "examples/karpenter/a100-pool.yaml works as it is" the_example_pool_works_as_it_is
# The figures behind the checks, for the record.
for what in grow shrink chaos; do analyse "$what" 2>&1 | sed "s/^/      $what: /" || true; done
every_job_completed | sed 's/^/      /' || true
spend_within_the_limit | sed 's/^/      /' || true
if ((failed > 0)); then
  tail -n 20 "$WORK/samples" | sed 's/^/      sample: /'
  tail_log "$BURSAR_TEST_CLUSTER_DIR/logs/karpenter.log" 40
fi
finish
