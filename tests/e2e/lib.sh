# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scenarios that source this file
# Shared by the end-to-end scenarios (tests/e2e/scenario-*.sh): start and stop the real operator
# against the test cluster, wait for conditions with deadlines (never fixed sleeps for results),
# read objects with kubectl, and count checks. Each scenario runs inside
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-N-....sh
# so it has its own control plane, kube-scheduler, kube-controller-manager and kwok.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$REPO/tests/cluster/lib.sh"

: "${KUBECONFIG:?run this through tests/cluster/with-cluster.sh --with-all (KUBECONFIG is unset)}"
BURSAR=${BURSAR_BINARY:-$REPO/build/bursar}
KUBECTL=${BURSAR_TEST_KUBECTL:-kubectl}
[[ -x $BURSAR ]] || die "$BURSAR is not built (make build)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bursar-e2e.XXXXXX")
OPERATOR_LOG=$WORK/operator.log
OPERATOR_PID=""
OPERATOR_HEALTH=""
OPERATOR_GRPC=""
passed=0 failed=0
SCENARIO_START=$(date +%s)

kc() { "$KUBECTL" "$@"; }

# jp KIND NAME JSONPATH [NAMESPACE] — one field of one object ("" when absent).
jp() {
  local ns=()
  [[ -n ${4:-} ]] && ns=(-n "$4")
  kc get "$1" "$2" "${ns[@]}" -o "jsonpath=$3" 2>/dev/null || true
}

# rfc3339_in SECONDS — the UTC instant SECONDS from now, e.g. a Custom period's anchor.
rfc3339_in() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

# namespaces_yaml NAME... — a Namespace manifest for each name.
namespaces_yaml() {
  local ns
  for ns in "$@"; do printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n' "$ns"; done
}

# Applies the CRDs and waits until they are served.
install_crds() {
  kc apply -f "$REPO/crds/" >/dev/null
  kc wait --for=condition=Established --timeout=60s -f "$REPO/crds/" >/dev/null
}

# operator_start [FLAG...] — starts `bursar run` in the background (1 s tick, no leader election,
# loopback ports, gRPC over TLS with a test CA: $OPERATOR_GRPC_CA) and waits until /readyz
# answers.
operator_start() {
  rm -f "$WORK/addresses"
  make_grpc_tls "$WORK/grpc-tls"
  OPERATOR_GRPC_CA=$WORK/grpc-tls/ca.crt
  "$BURSAR" run --kubeconfig "$KUBECONFIG" --tick 1s --leader-elect=false \
    --health-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --address-file "$WORK/addresses" \
    --grpc-tls-cert-file "$WORK/grpc-tls/tls.crt" --grpc-tls-key-file "$WORK/grpc-tls/tls.key" \
    --log-format text "$@" >>"$OPERATOR_LOG" 2>&1 &
  OPERATOR_PID=$!
  local why
  why=$(wait_for --every 0.2 --pid "$OPERATOR_PID" "the operator's address file" 30 \
    test -s "$WORK/addresses") || {
    tail_log "$OPERATOR_LOG"
    die "the operator did not start: $why"
  }
  OPERATOR_HEALTH=$(sed -n 's/^health=//p' "$WORK/addresses")
  OPERATOR_GRPC=$(sed -n 's/^grpc=//p' "$WORK/addresses")
  wait_for "operator /readyz" 30 curl -sf "http://$OPERATOR_HEALTH/readyz" ||
    die "the operator never became ready"
}

# operator_kill SIGNAL — sends SIGNAL and waits for the process to go.
operator_kill() {
  [[ -n $OPERATOR_PID ]] || return 0
  kill "-$1" "$OPERATOR_PID" 2>/dev/null || true
  wait "$OPERATOR_PID" 2>/dev/null || true
  OPERATOR_PID=""
}

# webhook_register — after `operator_start --webhook-cert-dir "$WORK/webhook-tls" --webhook-addr
# 127.0.0.1:0`: registers the webhook configurations the chart ships, in url form, at the address
# the operator wrote, with the test CA as caBundle (again after a restart: the port changes).
# kube-system is never sent; pods of Jobs are filtered out by matchConditions (their Job is gated).
webhook_register() {
  local webhook ca_bundle
  webhook=$(sed -n 's/^webhook=//p' "$WORK/addresses")
  [[ -n $webhook ]] || die "the operator wrote no webhook address"
  ca_bundle=$(base64 -w0 <"$WORK/webhook-tls/ca.crt")
  kc apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: bursar-e2e}
webhooks:
  - name: jobs.admission.bursar.dev
    clientConfig: {url: "https://$webhook/mutate", caBundle: "$ca_bundle"}
    rules:
      - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE], resources: [jobs]}
      - {apiGroups: [jobset.x-k8s.io], apiVersions: [v1alpha2], operations: [CREATE], resources: [jobsets]}
      - {apiGroups: [kubeflow.org], apiVersions: [v1], operations: [CREATE], resources: [pytorchjobs, tfjobs]}
      - {apiGroups: [ray.io], apiVersions: [v1], operations: [CREATE], resources: [rayjobs]}
    namespaceSelector:
      matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]
    failurePolicy: Ignore
    sideEffects: None
    timeoutSeconds: 5
    admissionReviewVersions: [v1]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: bursar-e2e}
webhooks:
  - name: pods.admission.bursar.dev
    clientConfig: {url: "https://$webhook/validate", caBundle: "$ca_bundle"}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
    namespaceSelector:
      matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]
    matchConditions:
      - name: not-a-job-pod
        expression: "!has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(r, r.kind == 'Job')"
    failurePolicy: Ignore
    sideEffects: None
    timeoutSeconds: 5
    admissionReviewVersions: [v1]
YAML
}

# metric NAME_WITH_LABELS — one sample from the operator's /metrics ("" when absent).
metric() {
  curl -sf "http://$OPERATOR_HEALTH/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# The Job template every scenario uses: JOB NAMESPACE GPUS RUN_FOR [LABELS_YAML] [PRIORITY]
# [MORE_ANNOTATIONS] [GRACE_SECONDS] [MORE_POD_ANNOTATIONS] (annotations as flow-style entries,
# e.g. 'bursar.dev/max-cost: "3"'). Its pods declare a 1 s termination grace unless told, as
# every pod in these tests does: kwok's fast stages delete a pod at once, and Bursar projects a
# budget's burn over its pods' grace (30 s by default) before Drain can stop them, which would
# dwarf these tests' few-dollar limits. Scenario 15 gives a longer one, with the pod annotation
# kwok.bursar.test/stop: at-grace-end, for pods that do run through it.
gpu_job() {
  local name=$1 ns=$2 gpus=$3 run_for=$4 labels=${5:-"{}"} priority=${6:-0} more=${7:-}
  local grace=${8:-1} pod_more=${9:-}
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $name
  namespace: $ns
  annotations: {bursar.dev/priority: "$priority"${more:+, $more}}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: $labels
      annotations: {bursar.dev/run-for: "$run_for"${pod_more:+, $pod_more}}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: $grace
      nodeSelector: {bursar.dev/pool: a100}
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
      - name: train
        image: registry.invalid/bursar/fake-trainer:1
        resources: {limits: {nvidia.com/gpu: "$gpus"}}
---
EOF
}

# price_book_and_pool [MAX_NODES] [MIN_NODES] [GPUS_PER_NODE] [USD_PER_NODE_HOUR] — a price book
# and a kwok pool, by default of 2-GPU A100 nodes at $720 per node-hour. The budget converts
# money into GPUs at the node's per-GPU share ($360 per GPU-hour); a pod that requests one GPU
# and nothing else is charged the GPU part of the node price as OpenCost splits it over the
# node's 24 cores and 128 GiB ($213.68 per GPU-hour, $0.0594 per GPU-second).
price_book_and_pool() {
  local max_nodes=${1:-6} min_nodes=${2:-0} gpus_per_node=${3:-2} node_price=${4:-720}
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec:
  currency: USD
  gpus:
    - {model: NVIDIA-A100-SXM4-80GB, capacityType: OnDemand, pricePerHour: "360"}
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: a100}
spec:
  provider: {type: Kwok}
  nodeSelector: {bursar.dev/pool: a100}
  gpuType: NVIDIA-A100-SXM4-80GB
  gpusPerNode: $gpus_per_node
  pricePerNodeHour: "$node_price"
  minNodes: $min_nodes
  maxNodes: $max_nodes
  maxScaleStep: 2
  scaleDownDelay: 20s
---
EOF
}

# Seconds until the next multiple of PERIOD seconds since the Unix epoch (Custom periods
# anchored at the epoch start there).
seconds_to_boundary() {
  local period=$1 now
  now=$(date +%s)
  echo $((period - now % period))
}

# Sum of money over a time window, computed from pod timestamps (independently of the operator):
# python3 reads `kubectl get pods -o json` and prints the dollars each pod cost between FROM and
# TO (Unix seconds) at USD_PER_GPU_SECOND per requested GPU.
spend_from_pods() {
  local ns=$1 from=$2 to=$3 rate=$4
  kc get pods -n "$ns" -o json | python3 -c '
import json, sys, datetime
lo, hi, rate = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
total = 0.0
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {})
    if "startTime" not in st or not p["spec"].get("nodeName"): continue
    start = ts(st["startTime"]); end = hi
    ends = [c["state"]["terminated"]["finishedAt"] for c in st.get("containerStatuses", []) if "terminated" in c.get("state", {})]
    if st.get("phase") in ("Succeeded", "Failed") and ends: end = max(ts(e) for e in ends)
    gpus = sum(int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)) for c in p["spec"]["containers"])
    total += max(0.0, min(end, hi) - max(start, lo)) * gpus * rate
print("%.6f" % total)' "$from" "$to" "$rate"
}

# gpu_second_price BOOK POOL NODE — dollars per GPU-second that the cost model charges a pod that
# requests only GPUs on NODE of POOL (pricePerNodeHour): the node price split by the PriceBook's
# default unit prices over the node's capacity (OpenCost appendix A), derived here independently
# of the operator.
gpu_second_price() {
  {
    kc get pricebook "$1" -o json
    kc get gpunodepool "$2" -o json
    kc get node "$3" -o json
  } | python3 -c '
import json, sys
from decimal import Decimal as D
docs, dec, text = [], json.JSONDecoder(), sys.stdin.read()
i = 0
while i < len(text):
    if text[i].isspace(): i += 1; continue
    obj, i = dec.raw_decode(text, i); docs.append(obj)
book, pool, node = docs
d = book["spec"]["defaults"]
cap = node["status"]["capacity"]
units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
mem = cap["memory"]
gib = D(mem[:-2]) * units[mem[-2:]] / 2**30 if mem[-2:] in units else D(mem) / 2**30
cpu = D(cap["cpu"][:-1]) / 1000 if cap["cpu"].endswith("m") else D(cap["cpu"])
gpus = D(cap["nvidia.com/gpu"])
weight = cpu * D(d["cpuCoreHour"]) + gib * D(d["memoryGiBHour"]) + gpus * D(d["gpuHour"])
gpu_hour = D(pool["spec"]["pricePerNodeHour"]) * D(d["gpuHour"]) / weight
print("%.9f" % (gpu_hour / 3600))'
}

# budget_ledger_state BUDGET — "spent watermark_unix period_start_unix gpu_seconds listed_pods
# start_horizon_unix" of the budget's status (the horizon is "none" when absent).
budget_ledger_state() {
  kc get computebudget "$1" -o json | python3 -c '
import json, sys, datetime
s = json.load(sys.stdin).get("status", {})
def ts(t):
    t = t.rstrip("Z")
    whole, _, frac = t.partition(".")
    v = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return v + (float("0." + frac) if frac else 0.0)
l = s.get("ledger", {})
print(s.get("spent", "0"), "%.3f" % ts(l["watermark"]), "%.0f" % ts(l["periodStart"]),
      l.get("gpuSeconds", "0"), len(l.get("pods", [])),
      "%.0f" % ts(l["startHorizon"]) if "startHorizon" in l else "none")'
}

# ledger_matches_pods BUDGET NAMESPACE PRICE TOLERANCE [FLOOR] — the budget's status.spent equals
# the spend recomputed from its pods' timestamps up to its watermark (the time of its last pass)
# within TOLERANCE dollars (one tick of every GPU that can run: a pass happens between two
# watches of the same pod), and is at least FLOOR (what it was before a fault: nothing lost).
ledger_matches_pods() {
  local budget=$1 ns=$2 price=$3 tol=$4 floor=${5:-0} spent watermark start expected
  read -r spent watermark start _ < <(budget_ledger_state "$budget") || return 1
  expected=$(spend_from_pods "$ns" "$start" "$watermark" "$price") || return 1
  python3 - "$spent" "$expected" "$tol" "$floor" <<'PY'
import sys
spent, expected, tol, floor = map(float, sys.argv[1:5])
print(f"status.spent {spent:.6f}, from pods {expected:.6f}, difference {spent - expected:+.6f} (tolerance {tol:.6f}); floor {floor:.6f}")
sys.exit(0 if abs(spent - expected) <= tol and spent >= floor else 1)
PY
}

# finish — stops the operator, prints the summary and exits 1 if a check failed.
finish() {
  operator_kill TERM
  local took=$(($(date +%s) - SCENARIO_START))
  echo "$passed passed, $failed failed ($(format_duration "$took"))"
  if ((failed > 0)); then
    tail_log "$OPERATOR_LOG" 60
    exit 1
  fi
}

# Runs under set -e as an EXIT trap: nothing here may fail a run whose checks passed.
cleanup_e2e() {
  [[ -z $OPERATOR_PID ]] || kill -9 "$OPERATOR_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup_e2e EXIT
