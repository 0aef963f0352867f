#!/usr/bin/env bash
# Scenario 6 — Bad input:
#   (a) invalid budgets, pools and price books are rejected by the apiserver with the CRDs'
#       messages (a sample of tests/crds/invalid/, each with its "# server-expect:" or
#       "# expect:" text) and are not stored;
#   (b) budgets that pass the schema but cannot be honoured get Ready=False with the reason and a
#       message naming what is missing, and a Warning Event: an unknown node pool
#       (NodePoolNotFound), a missing PriceBook (PriceBookNotFound);
#   (c) the operator carries on with every other budget: a valid budget in another namespace is
#       metered (status.spent > 0) and gets its ResourceQuota, and the process keeps running;
#   (d) creating what was missing turns the broken budgets Ready=True, and they are metered;
#   (e) objects the apiserver holds but Bursar cannot use say why (issue 14): a PriceBook with a
#       1e17 price and a GPUNodePool with maxNodes 2147483648, stored before the CRDs had their
#       bounds, are Ready=False (InvalidSpec, naming the field) with one Warning Event each; a
#       budget using that PriceBook says PriceBookInvalid; a ClusterAPI pool whose
#       MachineDeployment does not exist says ProviderTargetNotFound; a pool naming a missing
#       PriceBook says PriceBookNotFound; an unreachable externalgrpc provider says
#       ProviderUnavailable; a budget in an unknown IANA time zone is Ready=False (InvalidSpec);
#       a valid PriceBook and pool are Ready=True;
#   (f) a budget that loses a namespace to an older budget with the same scope there writes no
#       ResourceQuota in it, and the one it wrote before is deleted.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-6-bad-input.sh
# shellcheck disable=SC2119  # operator_start takes optional flags; none are needed here
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "scenario 6: bad input"
install_crds

# --- (a) Rejected by the apiserver -------------------------------------------------------------
INVALID=(
  budget-custom-without-duration # CEL rule
  budget-thresholds-descending   # CEL rule
  budget-limit-empty             # CEL rule
  budget-unknown-field           # structural schema, strict field validation
  budget-bad-enforcement         # enum
  budget-amount-negative         # pattern
  pool-min-above-max             # CEL rule on a GPUNodePool
  pricebook-bad-decimal          # pattern on a PriceBook
)
# rejected FILE — `kubectl apply` fails with the file's expected text and stores nothing.
rejected() {
  local file=$1 expect out
  expect=$(sed -n 's/^# server-expect: //p' "$file" | head -n 1)
  [[ -n $expect ]] || expect=$(sed -n '1s/^# expect: //p' "$file")
  [[ -n $expect ]] || {
    echo "$file has no '# expect:' line"
    return 1
  }
  if out=$(kc apply -f "$file" 2>&1); then
    echo "accepted: $out"
    kc delete -f "$file" --ignore-not-found >/dev/null 2>&1 || true
    return 1
  fi
  if [[ $out != *"$expect"* ]]; then
    echo "rejected, but without '$expect':"
    echo "$out"
    return 1
  fi
  if kc get -f "$file" >/dev/null 2>&1; then
    echo "rejected, yet the object exists"
    return 1
  fi
  echo "$out"
}
for name in "${INVALID[@]}"; do
  file=$REPO/tests/crds/invalid/$name.yaml
  expect=$(sed -n 's/^# server-expect: //p' "$file" | head -n 1)
  [[ -n $expect ]] || expect=$(sed -n '1s/^# expect: //p' "$file")
  check_rejected() { rejected "$file"; }
  check "rejected by the apiserver: $name.yaml (\"$expect\")" check_rejected
done

# --- (e) setup: objects stored before the CRDs had their bounds ----------------------------------
# An upgrade keeps what the apiserver already stores: install the pool and price book CRDs without
# the bounds, store objects beyond them, then install the real CRDs again.
python3 - "$REPO/crds/bursar.dev_gpunodepools.yaml" "$REPO/crds/bursar.dev_pricebooks.yaml" \
  >"$WORK/loose-crds.yaml" <<'PY'
import sys, yaml
def loosen(node):
    if isinstance(node, dict):
        if node.get("maximum") == 5000:
            del node["maximum"]
        rules = [r for r in node.get("x-kubernetes-validations", []) if "matches(" not in r["rule"]]
        if "x-kubernetes-validations" in node:
            node["x-kubernetes-validations"] = rules
            if not rules:
                del node["x-kubernetes-validations"]
        for value in node.values():
            loosen(value)
    elif isinstance(node, list):
        for value in node:
            loosen(value)
docs = [yaml.safe_load(open(path)) for path in sys.argv[1:]]
for doc in docs:
    loosen(doc)
print(yaml.safe_dump_all(docs))
PY
kc apply -f "$WORK/loose-crds.yaml" >/dev/null
kc wait --for=condition=Established --timeout=60s -f "$WORK/loose-crds.yaml" >/dev/null
kc apply -f - >/dev/null <<'EOF'
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: huge}
spec:
  currency: USD
  gpus:
    - {model: NVIDIA-A100-SXM4-80GB, pricePerHour: "100000000000000000"}
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: big}
spec:
  provider: {type: Kwok}
  nodeSelector: {bursar.dev/pool: big}
  gpusPerNode: 8
  pricePerNodeHour: "8"
  maxNodes: 2147483648
EOF
install_crds
kc apply -f - >/dev/null <<'EOF'
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: capi}
spec:
  provider: {type: ClusterAPI, clusterAPI: {namespace: capi, name: md-missing}}
  nodeSelector: {bursar.dev/pool: capi}
  gpusPerNode: 8
  pricePerNodeHour: "8"
  maxNodes: 2
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: grpc}
spec:
  provider: {type: ExternalGRPC, externalGRPC: {address: "127.0.0.1:1", nodeGroup: ng-1}}
  nodeSelector: {bursar.dev/pool: grpc}
  gpusPerNode: 8
  pricePerNodeHour: "8"
  maxNodes: 2
---
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: mars}
spec:
  scope: {namespaces: [mars]}
  limit: {amount: "10"}
  period: {type: Daily, timeZone: Mars/Olympus_Mons}
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: nobook}
spec:
  provider: {type: Kwok}
  nodeSelector: {bursar.dev/pool: nobook}
  gpusPerNode: 8
  priceBookRef: missing-prices
  maxNodes: 1
EOF

# --- Budgets: one valid, three that cannot be honoured -----------------------------------------
for ns in vision nlp audio speech; do kc create namespace "$ns" >/dev/null; done
price_book_and_pool 2 2 | kc apply -f - >/dev/null
anchor=$(date -u +%Y-%m-%dT%H:%M:%SZ)
budget() { # NAME EXTRA_SPEC_LINE
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $1}
spec:
  scope: {namespaces: [$1]}
  limit: {amount: "1000", currency: USD}
  period: {type: Custom, duration: 10m, anchor: "$anchor"}
  $2
---
EOF
}
{
  budget vision "nodePools: [a100]"
  budget nlp "nodePools: [a100, h100]"
  budget audio "priceBookRef: gpu-prices"
  budget speech "priceBookRef: huge"
  gpu_job train vision 1 10m
  gpu_job train nlp 1 10m
  gpu_job train audio 1 10m
} | kc apply -f - >/dev/null
operator_start

# ready_is BUDGET STATUS REASON [MESSAGE_PART] — the Ready condition says so.
ready_is() {
  local got
  got=$(jp computebudget "$1" \
    '{.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].reason}|{.status.conditions[?(@.type=="Ready")].message}')
  echo "Ready of $1: $got"
  [[ $got == "$2|$3|"* && $got == *"${4:-}"* ]]
}
# warning_event BUDGET REASON MESSAGE_PART — a Warning Event on the budget says so.
warning_event() {
  local got
  got=$(kc get events -A --field-selector \
    "involvedObject.kind=ComputeBudget,involvedObject.name=$1,reason=$2,type=Warning" \
    -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}')
  echo "Warning events $2 on $1: ${got:-none}"
  [[ $got == *"$3"* ]]
}

# --- (b) Cannot be honoured ----------------------------------------------------------------------
nlp_not_ready() { ready_is nlp False NodePoolNotFound '"h100"'; }
wait_for "nlp Ready=False" 30 nlp_not_ready || true
check "unknown node pool: nlp is Ready=False, reason NodePoolNotFound, naming h100" nlp_not_ready
nlp_event() { warning_event nlp NodePoolNotFound '"h100"'; }
wait_for "nlp's Warning Event" 15 nlp_event || true
check "unknown node pool: a Warning Event NodePoolNotFound naming h100" nlp_event

audio_not_ready() { ready_is audio False PriceBookNotFound '"gpu-prices"'; }
wait_for "audio Ready=False" 30 audio_not_ready || true
check "missing PriceBook: audio is Ready=False, reason PriceBookNotFound, naming gpu-prices" \
  audio_not_ready
audio_event() { warning_event audio PriceBookNotFound '"gpu-prices"'; }
wait_for "audio's Warning Event" 15 audio_event || true
check "missing PriceBook: a Warning Event PriceBookNotFound naming gpu-prices" audio_event
# The budgets stay broken for several 1 s passes: they are announced once, not once per pass.
announced_once() {
  local count
  count=$(kc get events -A --field-selector \
    "involvedObject.kind=ComputeBudget,involvedObject.name=nlp,reason=NodePoolNotFound" \
    -o 'jsonpath={range .items[*]}{.count}{"\n"}{end}' |
    awk '{n += ($1 == "" ? 1 : $1)} END {print n + 0}')
  echo "NodePoolNotFound events on nlp: $count (after $(($(date +%s) - SCENARIO_START))s)"
  ((count == 1))
}
sleep 3
check "a broken budget is announced by one Event, not one per pass" announced_once

# --- (e) Pools and price books say why -----------------------------------------------------------
# object_ready_is KIND NAME STATUS REASON [MESSAGE_PART] — the object's Ready condition says so.
object_ready_is() {
  local got
  got=$(jp "$1" "$2" \
    '{.status.conditions[?(@.type=="Ready")].status}|{.status.conditions[?(@.type=="Ready")].reason}|{.status.conditions[?(@.type=="Ready")].message}')
  echo "Ready of $1/$2: $got"
  [[ $got == "$3|$4|"* && $got == *"${5:-}"* ]]
}
# warnings KIND NAME REASON — how many Warning Events with REASON the object has (counts summed).
warnings() {
  kc get events -A --field-selector \
    "involvedObject.kind=$1,involvedObject.name=$2,reason=$3,type=Warning" \
    -o 'jsonpath={range .items[*]}{.count}{"\n"}{end}' |
    awk '{n += ($1 == "" ? 1 : $1)} END {print n + 0}'
}
huge_not_ready() { object_ready_is pricebook huge False InvalidSpec 'spec.gpus[0].pricePerHour'; }
wait_for "PriceBook huge Ready=False" 30 huge_not_ready || true
check "a PriceBook with a 1e17 price is Ready=False, InvalidSpec, naming the field" huge_not_ready
big_not_ready() { object_ready_is gpunodepool big False InvalidSpec 'spec.maxNodes'; }
wait_for "GPUNodePool big Ready=False" 30 big_not_ready || true
check "a GPUNodePool with maxNodes 2147483648 is Ready=False, InvalidSpec, naming spec.maxNodes" \
  big_not_ready
speech_not_ready() { ready_is speech False PriceBookInvalid '"huge" is invalid'; }
wait_for "speech Ready=False" 30 speech_not_ready || true
check "a budget using the invalid PriceBook says PriceBookInvalid (not PriceBookNotFound)" \
  speech_not_ready
capi_not_ready() { object_ready_is gpunodepool capi False ProviderTargetNotFound 'ClusterAPI'; }
wait_for "GPUNodePool capi Ready=False" 30 capi_not_ready || true
check "a ClusterAPI pool whose MachineDeployment does not exist says ProviderTargetNotFound" \
  capi_not_ready
grpc_not_ready() { object_ready_is gpunodepool grpc False ProviderUnavailable '127.0.0.1:1'; }
wait_for "GPUNodePool grpc Ready=False" 30 grpc_not_ready || true
check "a pool whose externalgrpc provider is unreachable says ProviderUnavailable, with the error" \
  grpc_not_ready
mars_not_ready() { ready_is mars False InvalidSpec 'is not a known IANA time zone'; }
wait_for "mars Ready=False" 30 mars_not_ready || true
check "a budget with an unknown IANA time zone is Ready=False, InvalidSpec, naming the zone" \
  mars_not_ready
nobook_not_ready() { object_ready_is gpunodepool nobook False PriceBookNotFound '"missing-prices"'; }
wait_for "GPUNodePool nobook Ready=False" 30 nobook_not_ready || true
check "a pool naming a missing PriceBook says PriceBookNotFound" nobook_not_ready
valid_objects_ready() {
  object_ready_is pricebook default True Valid && object_ready_is gpunodepool a100 True Ready
}
wait_for "the valid PriceBook and pool Ready=True" 30 valid_objects_ready || true
check "the valid PriceBook and GPUNodePool are Ready=True" valid_objects_ready
sleep 3 # several 1 s passes
one_warning_each() {
  local huge big capi grpc mars
  huge=$(warnings PriceBook huge InvalidSpec)
  big=$(warnings GPUNodePool big InvalidSpec)
  capi=$(warnings GPUNodePool capi ProviderTargetNotFound)
  grpc=$(warnings GPUNodePool grpc ProviderUnavailable)
  mars=$(warnings ComputeBudget mars InvalidSpec)
  echo "Warning Events: PriceBook huge $huge, GPUNodePool big $big, capi $capi, grpc $grpc;" \
    "ComputeBudget mars $mars"
  ((huge == 1 && big == 1 && capi == 1 && grpc == 1 && mars == 1))
}
check "each of them is announced by exactly one Warning Event, not one per pass" one_warning_each

# --- (c) Everything else carries on --------------------------------------------------------------
# spent_positive BUDGET — status.spent > 0.
spent_positive() {
  local spent
  spent=$(jp computebudget "$1" '{.status.spent}')
  echo "status.spent of $1: ${spent:-absent}"
  [[ -n $spent ]] && python3 -c "import sys; sys.exit(0 if float('$spent') > 0 else 1)"
}
vision_spends() { spent_positive vision; }
wait_for "vision's spend" 60 vision_spends || true
check "the valid budget (vision) is metered: status.spent > 0" vision_spends
vision_ready() { ready_is vision True Enforcing; }
check "the valid budget is Ready=True (Enforcing)" vision_ready
# quota_of BUDGET — its ResourceQuota bursar-BUDGET in namespace BUDGET has a GPU limit.
quota_of() {
  local hard
  hard=$(jp resourcequota "bursar-$1" '{.spec.hard.requests\.nvidia\.com/gpu}' "$1")
  echo "ResourceQuota $1/bursar-$1 requests.nvidia.com/gpu: ${hard:-absent}"
  [[ -n $hard ]]
}
vision_quota() { quota_of vision; }
wait_for "vision's ResourceQuota" 30 vision_quota || true
check "the valid budget gets its ResourceQuota bursar-vision" vision_quota
operator_alive() { kill -0 "$OPERATOR_PID" && curl -sf "http://$OPERATOR_HEALTH/healthz"; }
check "the operator is still running and healthy" operator_alive

# --- (d) Fixing the bad budgets ------------------------------------------------------------------
kc apply -f - >/dev/null <<EOF
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: gpu-prices}
spec:
  currency: USD
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: h100}
spec:
  provider: {type: Kwok}
  nodeSelector: {bursar.dev/pool: h100}
  gpuType: NVIDIA-H100-80GB-HBM3
  gpusPerNode: 8
  pricePerNodeHour: "2000"
  minNodes: 0
  maxNodes: 1
EOF
audio_ready() { ready_is audio True Enforcing; }
wait_for "audio Ready=True" 30 audio_ready || true
check "creating the missing PriceBook turns audio Ready=True" audio_ready
nlp_ready() { ready_is nlp True Enforcing; }
wait_for "nlp Ready=True" 30 nlp_ready || true
check "creating the missing GPUNodePool turns nlp Ready=True" nlp_ready
fixed_spend() { spent_positive audio && spent_positive nlp; }
wait_for "the fixed budgets' spend" 30 fixed_spend || true
check "the fixed budgets are metered (status.spent > 0)" fixed_spend
# What ran while audio could not be priced is charged once it can: its ledger's GPU-seconds equal
# its pod's since the period start, up to the last pass (one 1-GPU pod: within a 1 s tick).
audio_nothing_lost() {
  local gpu_seconds watermark start from_pods
  read -r gpu_seconds watermark start < <(kc get computebudget audio -o json | python3 -c '
import json, sys, datetime
l = json.load(sys.stdin)["status"]["ledger"]
def ts(t):
    whole, _, frac = t.rstrip("Z").partition(".")
    v = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return v + (float("0." + frac) if frac else 0.0)
print(l.get("gpuSeconds", "0"), "%.3f" % ts(l["watermark"]), "%.0f" % ts(l["periodStart"]))') ||
    return 1
  from_pods=$(spend_from_pods audio "$start" "$watermark" 1) || return 1
  echo "audio ledger gpuSeconds $gpu_seconds, from its pod $from_pods"
  python3 -c "import sys; sys.exit(0 if abs($gpu_seconds - $from_pods) <= 1 else 1)"
}
check "the GPU time audio ran while unpriceable is charged once fixed (nothing lost)" \
  audio_nothing_lost
check "the operator is still running and healthy" operator_alive

# --- (f) A budget that loses an overlap writes no quota --------------------------------------------
# "first" (older) and "second" each select one namespace and get a quota there; then "first"
# also selects second's namespace. It wins it (same pods, older), so second's quota there goes
# and only first's remains: second's quota would refuse first's new pods.
for ns in quota-a quota-b; do kc create namespace "$ns" >/dev/null; done
budget first "" | sed 's/namespaces: \[first\]/namespaces: [quota-a]/' | kc apply -f - >/dev/null
sleep 1 # a later creationTimestamp: second is the newer budget
budget second "" | sed 's/namespaces: \[second\]/namespaces: [quota-b]/' | kc apply -f - >/dev/null
# quota_in NS BUDGET — the ResourceQuota bursar-BUDGET exists in NS.
quota_in() { [[ -n $(jp resourcequota "bursar-$2" '{.metadata.name}' "$1") ]]; }
both_quotas() { quota_in quota-a first && quota_in quota-b second; }
wait_for "the quotas of first and second" 30 both_quotas || true
check "two budgets without overlap each write their quota" both_quotas
kc patch computebudget first --type merge -p '{"spec":{"scope":{"namespaces":["quota-a","quota-b"]}}}' \
  >/dev/null
loser_quota_gone() {
  local names
  names=$(kc get resourcequota -n quota-b -o 'jsonpath={.items[*].metadata.name}')
  echo "ResourceQuotas in quota-b: ${names:-none}"
  [[ $names == "bursar-first" ]]
}
wait_for "second's quota in quota-b to go" 30 loser_quota_gone || true
check "the overlap's loser (second) no longer has a quota in quota-b; the winner (first) has" \
  loser_quota_gone

finish
