#!/usr/bin/env bash
# Admission latency (docs/operations.md, Admission latency): the webhook served by `bursar run`
# with N Running pods cached, at RATE admissions a minute. A measurement, not a test; not in
# `make test`. Runs inside a throwaway control plane with kwok:
#
#   tests/cluster/with-cluster.sh --with-kwok -- tests/bench/admission-latency.sh [OPTIONS]
#   make bench-admission [ADM_PODS=10000] [ADM_SECONDS=120] [ADM_ARGS=...]
#
# Options: --pods N (10000) --rate R (1000 a minute) --seconds S (120 per run) --tick D (15s)
#          --churn P (5: pods created and deleted a second during the churn runs)
#          --binary PATH (repeatable: each binary measured in turn on the same cluster; default
#          build/bursar) --runs "direct direct+churn apiserver apiserver+churn"
#
# Set-up: scale-load (tests/bench/scale/peer) makes namespaces bench-0..3, N/25 kwok nodes and N
# Running pods; five ComputeBudgets in quota mode Webhook: team0 (bench-0, podSelector team=team-0,
# a $1 limit so it is held within a few ticks), bench-0 (the rest of bench-0), bench-1..3 (open),
# and churn (namespace churn, excluded from the webhooks so churn pods are not admissions). The
# operator serves the webhook on loopback (TLS, a test CA), registered as e2e scenario 10 does.
# Each run sends RATE a minute for S seconds with tests/bench/admission-load.py (a cycle of refused
# and admitted Pods, Jobs created suspended, admitted, already suspended):
#   direct:    AdmissionReviews straight to the webhook: p50/p99/max per request (client side)
#   apiserver: dry-run creates through the API server: its
#              apiserver_admission_webhook_admission_duration_seconds p50/p99 (coarse buckets)
#              and the client's round trip
#   +churn:    the same while churn pods are created and deleted (every change of the pod cache)
# Each run also gives the webhook's own bursar_admission_duration_seconds (mean) and the load
# average. Prints one table (also $BENCH_OUT, default build/bench-admission-N.txt).
set -euo pipefail
SCRIPT_NAME=bench/admission
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n "2,28p" "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi
# shellcheck source=tests/e2e/lib.sh
source "$HERE/../e2e/lib.sh"

PODS=10000 RATE=1000 SECONDS_PER_RUN=120 TICK=15s CHURN=5 BINARIES=()
RUNS="direct direct+churn apiserver apiserver+churn"
while (($# > 0)); do
  case $1 in
    --pods) PODS=$2 && shift ;;
    --rate) RATE=$2 && shift ;;
    --seconds) SECONDS_PER_RUN=$2 && shift ;;
    --tick) TICK=$2 && shift ;;
    --churn) CHURN=$2 && shift ;;
    --binary) BINARIES+=("$2") && shift ;;
    --runs) RUNS=$2 && shift ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
for v in PODS RATE SECONDS_PER_RUN CHURN; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "--${v,,} must be a positive whole number (got '${!v}')"
done
for run in $RUNS; do
  [[ $run =~ ^(direct|apiserver)(\+churn)?$ ]] || die "--runs: unknown run '$run'"
done
((${#BINARIES[@]} > 0)) || BINARIES=("$BURSAR")
for b in "${BINARIES[@]}"; do
  [[ -x $b ]] || die "--binary: '$b' is not an executable"
done
OUT=${BENCH_OUT:-$REPO/build/bench-admission-$PODS.txt}
PEER_DIR=$("$HERE/scale/build-peer.sh")
LOAD=$HERE/admission-load.py
CLIENT=(--ca "$BURSAR_TEST_CA_FILE" --cert "$BURSAR_TEST_CLIENT_CERT_FILE"
  --key "$BURSAR_TEST_CLIENT_KEY_FILE" --server "$BURSAR_TEST_APISERVER")
api() { curl -sf --cacert "$BURSAR_TEST_CA_FILE" --cert "$BURSAR_TEST_CLIENT_CERT_FILE" \
  --key "$BURSAR_TEST_CLIENT_KEY_FILE" "$BURSAR_TEST_APISERVER$1"; }
field() { python3 -c "import json,sys; v=json.loads(sys.argv[1]).get('$2'); print('-' if v is None else v)" "$1"; }
results=()
result() { results+=("$(printf '%-64s %s' "$1" "$2")"); }

# --- The cluster --------------------------------------------------------------------------------
install_crds
started=$(date +%s)
"$PEER_DIR/scale-load" --pods "$PODS" --namespaces 4
kc create namespace churn >/dev/null
budget() { # NAME SCOPE LIMIT
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $1}
spec:
  scope: $2
  limit: {amount: "$3", currency: USD}
  period: {type: Monthly}
  pacing: {mode: None}
  quota: {mode: Webhook, resources: [nvidia.com/gpu]}
---
EOF
}
{
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec:
  currency: USD
  gpus:
    - {model: NVIDIA-A100-SXM4-40GB, capacityType: OnDemand, pricePerHour: "4"}
---
EOF
  budget team0 "{namespaces: [bench-0], podSelector: {matchLabels: {team: team-0}}}" 1
  for ns in bench-0 bench-1 bench-2 bench-3 churn; do
    budget "$ns" "{namespaces: [$ns]}" 100000000
  done
} >"$WORK/budgets.yaml"
kc apply -f "$WORK/budgets.yaml" >/dev/null
not_running() { api "/api/v1/pods?fieldSelector=status.phase%21%3DRunning&limit=1" | grep -q '"items": *\[\]'; }
wait_for --every 2 "all $PODS pods Running" 1800 not_running || die "the pods did not all start"
log "$PODS pods Running $(($(date +%s) - started)) s after the loader started"
make_grpc_tls "$WORK/webhook-tls"

# bursar_start BINARY — the operator with the webhook on loopback (operator_start's flags, this
# run's --tick), registered with the API server; waits until team0 holds new work.
bursar_start() {
  rm -f "$WORK/addresses"
  make_grpc_tls "$WORK/grpc-tls"
  "$1" run --kubeconfig "$KUBECONFIG" --tick "$TICK" --leader-elect=false \
    --health-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --address-file "$WORK/addresses" \
    --grpc-tls-cert-file "$WORK/grpc-tls/tls.crt" --grpc-tls-key-file "$WORK/grpc-tls/tls.key" \
    --webhook-cert-dir "$WORK/webhook-tls" --webhook-addr 127.0.0.1:0 \
    --log-format text >>"$OPERATOR_LOG" 2>&1 &
  OPERATOR_PID=$!
  wait_for --every 0.1 --pid "$OPERATOR_PID" "the operator's address file" 60 test -s "$WORK/addresses" ||
    die "the operator did not start (log: $OPERATOR_LOG)"
  OPERATOR_HEALTH=$(sed -n 's/^health=//p' "$WORK/addresses")
  WEBHOOK=$(sed -n 's/^webhook=//p' "$WORK/addresses")
  wait_for --every 0.1 --pid "$OPERATOR_PID" "operator /readyz" 600 \
    curl -sf "http://$OPERATOR_HEALTH/readyz" || die "the operator never synced"
  webhook_register
  # Churn pods are not admissions: keep namespace churn out of both webhooks.
  kc patch mutatingwebhookconfiguration bursar-e2e --type json -p \
    '[{"op":"replace","path":"/webhooks/0/namespaceSelector/matchExpressions/0/values","value":["kube-system","churn"]}]' >/dev/null
  kc patch validatingwebhookconfiguration bursar-e2e --type json -p \
    '[{"op":"replace","path":"/webhooks/0/namespaceSelector/matchExpressions/0/values","value":["kube-system","churn"]}]' >/dev/null
  held() { [[ $(jp computebudget team0 '{.status.admission.holdNewWork}') == true ]]; }
  wait_for --every 1 --pid "$OPERATOR_PID" "budget team0 to hold new work" 300 held ||
    die "team0 never held new work"
}
webhook_histogram() { # SUM COUNT of bursar_admission_duration_seconds
  curl -sf "http://$OPERATOR_HEALTH/metrics" |
    awk '$1 == "bursar_admission_duration_seconds_sum" { s = $2 } $1 == "bursar_admission_duration_seconds_count" { c = $2 } END { print s + 0, c + 0 }'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# measure LABEL RUN — one run; adds its lines to the table.
measure() {
  local label=$1 run=$2 mode=${2%+churn} churn_pid="" out hist before after load_before
  if [[ $run == *+churn ]]; then
    python3 "$LOAD" churn "${CLIENT[@]}" --namespace churn --node gpu-0 \
      --per-second "$CHURN" --seconds "$((SECONDS_PER_RUN + 5))" >"$WORK/churn.json" &
    churn_pid=$!
    sleep 3 # churn under way before the first admission
  fi
  read -r before_sum before_count < <(webhook_histogram)
  kc get --raw /metrics >"$WORK/apiserver-before.txt"
  load_before=$(loadavg)
  if [[ $mode == direct ]]; then
    out=$(python3 "$LOAD" direct --webhook "$WEBHOOK" --ca "$WORK/webhook-tls/ca.crt" \
      --rate "$RATE" --seconds "$SECONDS_PER_RUN") || log "$label: the load reported errors: $out"
  else
    out=$(python3 "$LOAD" apiserver "${CLIENT[@]}" --rate "$RATE" --seconds "$SECONDS_PER_RUN") ||
      log "$label: the load reported errors: $out"
  fi
  local load_after
  load_after=$(loadavg)
  kc get --raw /metrics >"$WORK/apiserver-after.txt"
  read -r after_sum after_count < <(webhook_histogram)
  if [[ -n $churn_pid ]]; then
    wait "$churn_pid" || log "$label: churn reported errors: $(cat "$WORK/churn.json")"
  fi
  echo "$label $run: $out" >>"$WORK/raw.txt"
  result "$label $run: client p50 / p99 / max (n=$(field "$out" answered), errors $(field "$out" errors))" \
    "$(field "$out" p50_ms) / $(field "$out" p99_ms) / $(field "$out" max_ms) ms at $(field "$out" rate_per_min)/min"
  result "$label $run: results" "$(field "$out" results) unexpected: $(field "$out" unexpected | cut -c1-200)"
  if [[ $mode == apiserver ]]; then
    hist=$(python3 "$LOAD" quantiles "$WORK/apiserver-before.txt" "$WORK/apiserver-after.txt" || true)
    result "$label $run: API server's webhook histogram p50 / p99 (n=$(field "$hist" count))" \
      "$(field "$hist" p50_ms) / $(field "$hist" p99_ms) ms"
  fi
  result "$label $run: webhook's own decision time, mean" \
    "$(awk -v a="$before_sum" -v b="$after_sum" -v c="$before_count" -v d="$after_count" \
      'BEGIN { printf "%.2f ms over %d", (d > c ? (b - a) * 1000 / (d - c) : 0), d - c }')"
  [[ -n $churn_pid ]] && result "$label $run: churn" "$(cat "$WORK/churn.json")"
  result "$label $run: load average before → after" "$load_before → $load_after"
}

for binary in "${BINARIES[@]}"; do
  label=$(basename "$(dirname "$binary")")
  bursar_start "$binary"
  for run in $RUNS; do
    measure "$label" "$run"
  done
  operator_kill TERM
done

{
  echo "admission latency: $PODS pods cached, $RATE admissions a minute for $SECONDS_PER_RUN s a run, operator --tick $TICK, churn $CHURN pods/s created and deleted, $(nproc) cores"
  printf '%s\n' "${results[@]}"
} | tee "$OUT"
cat "$WORK/raw.txt" >>"$OUT"
finish
