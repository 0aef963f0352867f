#!/usr/bin/env bash
# Scenario 5 — Metrics: a real Prometheus scrapes a fake DCGM exporter whose series name the pods
# of a budget; the operator (--prometheus-url) reports the GPU-weighted mean utilisation of the
# budget's running pods as bursar_budget_gpu_utilization_percent{budget}, and follows changes.
# Runs under both wrappers (the Prometheus environment passes through with-cluster.sh):
#
#   tests/e2e/with-prometheus.sh -- tests/cluster/with-cluster.sh --with-all -- \
#     tests/e2e/scenario-5-gpu-metrics.sh
#
# The exporter serves, besides the budget's pods, an idle GPU (no pod labels) and a GPU of a pod
# outside every budget; neither may move the budget's figure. When the budget's series vanish,
# the gauge must vanish too (a stale figure would be reported as current).
#
# CPU usage comes from metrics.k8s.io, served by the real metrics-server
# (tests/cluster/metrics-server.sh start) scraping kwok's emulated kubelet resource metrics: the
# operator runs with --metrics-api, and a pod that uses more CPU than it requests (its
# kwok.x-k8s.io/usage-cpu annotation) must raise the budget's burn rate by its usage times the
# node's price per core.
# shellcheck disable=SC2119  # operator_start takes optional flags
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${BURSAR_TEST_PROMETHEUS_URL:?run this under tests/e2e/with-prometheus.sh (see the header)}"
: "${BURSAR_TEST_DCGM_SERIES:?run this under tests/e2e/with-prometheus.sh (see the header)}"

NS=ml
OTHER=scratch # a namespace no budget covers
BUDGET=ml
echo "scenario 5: GPU metrics (Prometheus $BURSAR_TEST_PROMETHEUS_URL)"

install_crds
kc create namespace "$NS" >/dev/null
kc create namespace "$OTHER" >/dev/null
# Three nodes exist before the budget, so nothing waits for the pool to grow.
price_book_and_pool 3 3 | kc apply -f - >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $BUDGET}
spec:
  scope: {namespaces: [$NS]}
  limit: {amount: "100000", currency: USD}
  period: {type: Custom, duration: 10m, anchor: "2026-01-01T00:00:00Z"}
  pacing: {mode: None}
  nodePools: [a100]
EOF
{
  gpu_job one "$NS" 1 10m
  gpu_job two "$NS" 2 10m
  gpu_job stray "$OTHER" 1 10m
} | kc apply -f - >/dev/null

"$REPO/tests/cluster/metrics-server.sh" start
operator_start --prometheus-url "$BURSAR_TEST_PROMETHEUS_URL" --metrics-api

# pod_of JOB NAMESPACE — "pod node" of the Job's running pod (fails while there is none).
pod_of() {
  local out
  out=$(kc get pods -n "$2" -l "job-name=$1" --field-selector=status.phase=Running \
    -o 'jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName}' 2>/dev/null) || return 1
  [[ $out =~ ^[^\ ]+\ [^\ ]+$ ]] || return 1
  echo "$out"
}
all_running() { pod_of one "$NS" && pod_of two "$NS" && pod_of stray "$OTHER"; }
wait_for "the three GPU pods to run" 90 all_running || die "the GPU pods did not start"
read -r POD1 NODE1 < <(pod_of one "$NS")
read -r POD2 NODE2 < <(pod_of two "$NS")
read -r POD3 NODE3 < <(pod_of stray "$OTHER")
echo "      pods: $NS/$POD1 (1 GPU on $NODE1), $NS/$POD2 (2 GPUs on $NODE2), $OTHER/$POD3 (1 GPU on $NODE3)"

# write_series UTIL_ONE UTIL_TWO_GPU0 UTIL_TWO_GPU1 — the exporter's series, replaced atomically:
# one series per GPU as dcgm-exporter labels it, plus the stray pod (5%) and an idle GPU (0%).
write_series() {
  local tmp
  tmp=$(mktemp "$(dirname "$BURSAR_TEST_DCGM_SERIES")/.series.XXXXXX")
  cat >"$tmp" <<EOF
[
  {"namespace": "$NS", "pod": "$POD1", "container": "train", "gpu": "0", "node": "$NODE1", "util": $1},
  {"namespace": "$NS", "pod": "$POD2", "container": "train", "gpu": "0", "node": "$NODE2", "util": $2},
  {"namespace": "$NS", "pod": "$POD2", "container": "train", "gpu": "1", "node": "$NODE2", "util": $3},
  {"namespace": "$OTHER", "pod": "$POD3", "container": "train", "gpu": "0", "node": "$NODE3", "util": 5},
  {"gpu": "1", "node": "$NODE3", "util": 0}
]
EOF
  mv -f "$tmp" "$BURSAR_TEST_DCGM_SERIES"
}

# prometheus_has POD VALUE — Prometheus's latest sample for POD's GPU 0 is VALUE.
prometheus_has() {
  curl -sf --noproxy '*' "$BURSAR_TEST_PROMETHEUS_URL/api/v1/query" \
    --data-urlencode "query=DCGM_FI_DEV_GPU_UTIL{pod=\"$1\",gpu=\"0\"}" |
    python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if r and abs(float(r[0]["value"][1]) - float(sys.argv[1])) < 1e-9 else 1)' "$2"
}

# utilization_is WANT — the operator's gauge for the budget is within 0.5 of WANT.
utilization_is() {
  local got
  got=$(metric "bursar_budget_gpu_utilization_percent{budget=\"$BUDGET\"}")
  echo "bursar_budget_gpu_utilization_percent{budget=\"$BUDGET\"} = ${got:-absent}, want $1 ± 0.5"
  [[ -n $got ]] && python3 -c "import sys; sys.exit(0 if abs($got - $1) <= 0.5 else 1)"
}

# expect_utilization WANT DESCRIPTION — waits (30 s) for the gauge, then records the check.
expect_utilization() {
  local want=$1
  wait_for "utilisation $want" 30 utilization_is "$want" || true
  check_utilization() { utilization_is "$want"; }
  check "$2" check_utilization
}

# 1) 30% on the 1-GPU pod, 90% on both GPUs of the 2-GPU pod: (30×1 + 90×2) / 3 = 70.
write_series 30 90 90
wait_for "Prometheus to scrape the first series" 30 prometheus_has "$POD1" 30 ||
  die "Prometheus did not pick up the fake exporter's series"
expect_utilization 70 "GPU-weighted mean utilisation of the budget's pods is 70 (30×1 GPU, 90×2 GPUs)"

running_gpus() {
  local got
  got=$(metric "bursar_budget_running_gpus{budget=\"$BUDGET\"}")
  echo "bursar_budget_running_gpus{budget=\"$BUDGET\"} = ${got:-absent}, want 3"
  [[ $got == 3 ]]
}
check "the figure covers the budget's 3 running GPUs (the stray pod and the idle GPU are not in it)" \
  running_gpus

# 2) The series change: 60% on the 1-GPU pod; 10% and 50% on the 2-GPU pod's GPUs (a pod's GPUs
#    average to 30): (60×1 + 30×2) / 3 = 40.
write_series 60 10 50
wait_for "Prometheus to scrape the changed series" 30 prometheus_has "$POD1" 60 ||
  die "Prometheus did not pick up the changed series"
expect_utilization 40 "the metric follows the series: (60×1 + avg(10,50)×2) / 3 = 40"

# 3) Back up: 100% everywhere in the budget → 100.
write_series 100 100 100
expect_utilization 100 "and follows again: every GPU of the budget at 100% → 100"

# 4) The exporter loses the budget's GPUs (dcgm-exporter restarted, pods moved): with no
#    utilisation known, the gauge must go away rather than keep reporting the last value.
write_json() {
  local tmp
  tmp=$(mktemp "$(dirname "$BURSAR_TEST_DCGM_SERIES")/.series.XXXXXX")
  printf '%s\n' "$1" >"$tmp"
  mv -f "$tmp" "$BURSAR_TEST_DCGM_SERIES"
}
write_json "[{\"gpu\": \"1\", \"node\": \"$NODE3\", \"util\": 0}]"
prometheus_lost() { ! prometheus_has "$POD1" 100; }
wait_for "Prometheus to mark the series stale" 30 prometheus_lost || die "the series did not go stale"
utilization_absent() {
  local got
  got=$(metric "bursar_budget_gpu_utilization_percent{budget=\"$BUDGET\"}")
  echo "bursar_budget_gpu_utilization_percent{budget=\"$BUDGET\"} = ${got:-absent}, want absent"
  [[ -z $got ]]
}
wait_for "the gauge to go" 15 utilization_absent || true
check "with no utilisation series for its pods, the budget's gauge is dropped (not left stale)" \
  utilization_absent

# 5) CPU from metrics.k8s.io. The GPU pods request no CPU and use kwok's default 1m; now the
#    1-GPU pod uses 12 cores. The operator charges max(request, usage) per core at the node's
#    cpu share of its price, split as OpenCost does over the node's 24 cores, 128 GiB and 2 GPUs
#    at OpenCost's default prices: 720 × 0.031611 / (24×0.031611 + 128×0.004237 + 2×0.95) =
#    $7.1103 per core-hour, so the burn rate must rise by 12 × 7.1103 = $85.32 per hour.
CORES=12
burn_rate() { metric "bursar_budget_burn_rate{budget=\"$BUDGET\",currency=\"USD\"}"; }
BASE_RATE=$(burn_rate)
[[ -n $BASE_RATE ]] || die "the operator exports no burn rate for $BUDGET"
kc annotate pod -n "$NS" "$POD1" --overwrite "kwok.x-k8s.io/usage-cpu=$CORES" >/dev/null

# metrics_server_cpu POD WANT_CORES — metrics.k8s.io lists POD's container at WANT_CORES ± 5 %.
metrics_server_cpu() {
  kc get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/$NS/pods/$1" | python3 -c '
import json, sys
pod = json.load(sys.stdin)
cpu = pod["containers"][0]["usage"]["cpu"]
cores = float(cpu[:-1]) / 1e9 if cpu.endswith("n") else float(cpu[:-1]) / 1e3 if cpu.endswith("m") else float(cpu)
name = pod["metadata"]["name"]
print(f"metrics.k8s.io: {name} uses {cpu} ({cores:.3f} cores), want {sys.argv[1]} ± 5 %")
sys.exit(0 if abs(cores - float(sys.argv[1])) <= 0.05 * float(sys.argv[1]) else 1)' "$2"
}
wait_for "metrics-server to report $CORES cores for $POD1" 60 metrics_server_cpu "$POD1" "$CORES" || true
check_metrics_server() { metrics_server_cpu "$POD1" "$CORES"; }
check "metrics-server (scraping kwok) reports the pod's annotated usage: $CORES cores" \
  check_metrics_server

# burn_rate_rose_by WANT — the burn rate is BASE_RATE + WANT (± 2 %, the rate metrics-server
# computes from two cumulative samples).
burn_rate_rose_by() {
  local got
  got=$(burn_rate)
  echo "burn rate $got, was $BASE_RATE; want a rise of $1 ± 2 %"
  [[ -n $got ]] && python3 -c "import sys; sys.exit(0 if abs(($got - $BASE_RATE) - $1) <= 0.02 * $1 else 1)"
}
WANT_RISE=$(python3 -c "print(round($CORES * 720 * 0.031611 / (24*0.031611 + 128*0.004237 + 2*0.95), 4))")
wait_for "the burn rate to follow the CPU usage" 30 burn_rate_rose_by "$WANT_RISE" || true
check_burn_rate() { burn_rate_rose_by "$WANT_RISE"; }
check "the operator (--metrics-api) charges the pod's CPU usage above its request: +\$$WANT_RISE/h" \
  check_burn_rate
no_metrics_warning() { ! grep -q "metrics.k8s.io unavailable" "$OPERATOR_LOG"; }
check "the operator never lost metrics.k8s.io" no_metrics_warning

still_running() { kill -0 "$OPERATOR_PID"; }
check "the operator is still running" still_running

finish
