#!/usr/bin/env bash
# The Pod watcher's initial sync at scale, streaming list vs paginated LIST: starts a throwaway
# cluster with kube-scheduler and kwok, creates K kwok GPU nodes and N Running pods (labels,
# annotations, a Job owner reference, requests; managedFields as the API server, the scheduler
# and kwok write them), then runs bursar_sync_probe in each mode and prints its lines (sync
# seconds, requests, VmRSS and VmHWM of the probe process). Not part of make test; the full
# scale benchmark is make bench-scale. Each mode runs twice, JSON and protobuf.
#
# Usage: tests/bench/sync-rss.sh [N] [K]      (defaults: 10000 pods, 20 nodes)
# Environment: BUILD_DIR (default build), where bursar_sync_probe is built.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pods=${1:-10000}
nodes=${2:-20}
probe=${BUILD_DIR:-$root/build}/tests/bursar_sync_probe
if [[ ! -x $probe ]]; then
  echo "sync-rss: $probe is missing (cmake --build build --target bursar_sync_probe)" >&2
  exit 2
fi

if [[ -z ${BURSAR_SYNC_RSS_INNER:-} ]]; then
  export BURSAR_SYNC_RSS_INNER=1
  exec "$root/tests/cluster/with-cluster.sh" --with-scheduler --with-kwok -- \
    "${BASH_SOURCE[0]}" "$pods" "$nodes"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
per_node=$(((pods + nodes - 1) / nodes + 10))
# Nodes and pods as JSON lists, four pod files so that four kubectl processes create in parallel.
python3 - "$work" "$pods" "$nodes" "$per_node" <<'PY'
import json, sys
work, pods, nodes, per_node = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cap = {"cpu": str(per_node * 4), "memory": f"{per_node * 16}Gi", "pods": str(per_node),
       "nvidia.com/gpu": str(per_node * 8)}
items = [{"apiVersion": "v1", "kind": "Node",
          "metadata": {"name": f"kwok-gpu-{i}", "annotations": {"kwok.x-k8s.io/node": "fake"},
                       "labels": {"type": "kwok", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}},
          "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
          "status": {"capacity": cap, "allocatable": cap}} for i in range(nodes)]
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(f"{work}/nodes.json", "w"))
namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{i}"}}
              for i in range(10)]
json.dump({"apiVersion": "v1", "kind": "List", "items": namespaces}, open(f"{work}/ns.json", "w"))
files = [[] for _ in range(4)]
for i in range(pods):
    gpus = 1 + i % 8
    job = f"train-{i // 8}"
    files[i % 4].append({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{job}-worker-{i % 8}", "namespace": f"team-{i % 10}",
                     "labels": {"app.kubernetes.io/name": "trainer", "job-name": job,
                                "batch.kubernetes.io/job-name": job, "team": f"team-{i % 10}",
                                "model": f"llm-{i % 5}"},
                     "annotations": {"bursar.dev/run-for": "24h", "example.com/owner": "ml-platform"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job,
                                          "uid": f"00000000-0000-0000-0000-{i // 8:012d}",
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists",
                                  "effect": "NoSchedule"}],
                 "containers": [{"name": "train", "image": "registry.invalid/trainer:1",
                                 "resources": {"requests": {"cpu": "2", "memory": "8Gi"},
                                               "limits": {"nvidia.com/gpu": str(gpus)}}}]}})
for n, chunk in enumerate(files):
    json.dump({"apiVersion": "v1", "kind": "List", "items": chunk}, open(f"{work}/pods-{n}.json", "w"))
PY
kubectl create -f "$work/nodes.json" >/dev/null
# The API server taints new nodes not-ready; without kube-controller-manager nobody lifts it.
kubectl taint nodes --all node.kubernetes.io/not-ready:NoSchedule- >/dev/null
kubectl create -f "$work/ns.json" >/dev/null
start=$SECONDS
for n in 0 1 2 3; do
  kubectl create -f "$work/pods-$n.json" >/dev/null &
done
wait
echo "sync-rss: created $pods pods in $((SECONDS - start)) s; waiting until they run" >&2
while true; do
  running=$(kubectl get pods -A --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l)
  ((running >= pods)) && break
  ((SECONDS - start < 1800)) || { echo "sync-rss: only $running of $pods Running" >&2; exit 1; }
  sleep 10
done
bytes=$(kubectl get --raw /api/v1/pods | wc -c)
echo "sync-rss: $pods Running after $((SECONDS - start)) s; GET /api/v1/pods is $bytes bytes" >&2
for round in 1 2; do
  for mode in true false; do
    for wire in "" --protobuf; do
      # shellcheck disable=SC2086  # an empty $wire must vanish
      echo "round=$round watch-list=$mode ${wire:-json} $("$probe" --watch-list=$mode $wire)"
    done
  done
done
