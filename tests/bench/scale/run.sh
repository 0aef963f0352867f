#!/usr/bin/env bash
# The scale benchmark (docs/benchmarks.md): Bursar and a client-go informer on one cluster of N
# Running GPU pods, measured in one run. Runs inside a throwaway control plane with kwok:
#
#   tests/cluster/with-cluster.sh --with-kwok -- tests/bench/scale/run.sh [OPTIONS]
#   make bench-scale BENCH_PODS=10000        make test-bench-scale-small (2,000 pods, checked)
#
# Options: --pods N (2000) --namespaces M (4) --budgets B (4, at most M) --nodes K (N/25)
#          --samples S (5: latency probes of each kind) --tick D (5s: the operator's --tick)
#          --allocators "default arena16+threads40 jemalloc bin=/tmp/old/bursar" (Bursar once
#          per set-up, see bursar_start; latencies with the first). Exits 1 when a measurement is missing
#          (a probe that never showed, a cache that did not fill), like a test.
#
# What it does: scale-load (tests/bench/scale/peer) creates M namespaces, K kwok nodes and N pods
# by server-side apply, bound with spec.nodeName (no scheduler; kwok's stages run them); B
# ComputeBudgets, budget i over the namespaces bench-j with j mod B = i. Before the pods, Bursar
# and the peer run once on the empty cluster (the ~0 baseline). Then it measures
#   floor:   raw GET /api/v1/pods (curl, to /dev/null), kubectl get pods -A -o json
#   Bursar:  sync (process start → /readyz 200, i.e. every watch cache listed), VmRSS/VmHWM and
#            threads after sync and after 10 leader passes, bytes per cached pod, mean pass
#            (bursar_reconcile_duration_seconds), API requests per pass
#            (bursar_kube_requests_total), pod Running → its budget's status.ledger lists it and
#            limit lowered past Throttle → ResourceQuota changed (tests/e2e/latency.sh's method)
#   peer:    informer-peer, with and without a transform dropping managedFields: sync, RSS, heap
# and prints one table (also written to $BENCH_OUT, default build/bench-scale-N.txt).
set -euo pipefail
SCRIPT_NAME=bench/scale
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n "2,24p" "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi
# shellcheck source=tests/e2e/lib.sh
source "$HERE/../../e2e/lib.sh"

PODS=2000 NAMESPACES=4 BUDGETS=4 NODES=0 SAMPLES=5 TICK=5s ALLOCATORS=default
while (($# > 0)); do
  case $1 in
    --pods) PODS=$2 && shift ;;
    --namespaces) NAMESPACES=$2 && shift ;;
    --budgets) BUDGETS=$2 && shift ;;
    --nodes) NODES=$2 && shift ;;
    --samples) SAMPLES=$2 && shift ;;
    --tick) TICK=$2 && shift ;;
    --allocators) ALLOCATORS=$2 && shift ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
for v in PODS NAMESPACES BUDGETS NODES SAMPLES; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v,,} must be a whole number (got '${!v}')"
done
((BUDGETS >= 1 && BUDGETS <= NAMESPACES)) || die "--budgets must be between 1 and --namespaces"
OUT=${BENCH_OUT:-$REPO/build/bench-scale-$PODS.txt}
PEER_DIR=$("$HERE/build-peer.sh")
now_ms() { date +%s%3N; }
api() { curl -sf --cacert "$BURSAR_TEST_CA_FILE" --cert "$BURSAR_TEST_CLIENT_CERT_FILE" \
  --key "$BURSAR_TEST_CLIENT_KEY_FILE" "$BURSAR_TEST_APISERVER$1"; }
# proc PID FIELD — a /proc/PID/status field in KiB (or a count, for Threads).
proc() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
results=()
result() { results+=("$(printf '%-58s %s' "$1" "$2")"); }
# expect DESCRIPTION COMMAND... — a measurement that must be there; counted for `finish`.
expect() {
  if "${@:2}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL  $1"
  fi
}

# --- The cluster: namespaces, nodes, budgets, then (after the baseline) the pods -------------
install_crds
"$PEER_DIR/scale-load" --pods "$PODS" --namespaces "$NAMESPACES" --nodes "$NODES" --no-pods
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
  for ((b = 0; b < BUDGETS; b++)); do
    namespaces=$(seq "$b" "$BUDGETS" $((NAMESPACES - 1)) | sed 's/^/bench-/' | paste -sd, -)
    cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: budget-$b}
spec:
  scope: {namespaces: [$namespaces]}
  limit: {amount: "100000000", currency: USD}
  period: {type: Monthly}
  pacing: {mode: None}
---
EOF
  done
} >"$WORK/budgets.yaml"
kc apply -f "$WORK/budgets.yaml" >/dev/null

# bursar_start SETUP — starts the operator as operator_start does, under SETUP: "default" (as
# built), or words joined by '+': arenaN (MALLOC_ARENA_MAX=N), jemalloc (LD_PRELOAD of Debian's
# libjemalloc2), threadsN (BURSAR_HTTP_THREADS=N, cpprestsdk's pool), json (--pod-protobuf=false:
# Pods read as JSON); e.g. arena16+threads40 is glibc's and cpprestsdk's own defaults on 2 cores.
# Sets SYNC_MS from process start to /readyz answering 200 (every cache synced).
bursar_start() {
  local env=() args=() started word lib binary=$BURSAR
  local -a words
  IFS=+ read -r -a words <<<"$1"
  for word in "${words[@]}"; do
    case $word in
      default) ;;
      arena[0-9]*) env+=(MALLOC_ARENA_MAX="${word#arena}") ;;
      threads[0-9]*) env+=(BURSAR_HTTP_THREADS="${word#threads}") ;;
      json) args+=(--pod-protobuf=false) ;;
      bin=*) # another build of Bursar, e.g. the previous commit's, side by side in one run
        binary=${word#bin=}
        [[ -x $binary ]] || die "--allocators bin=: '$binary' is not an executable"
        ;;
      jemalloc)
        lib=$(find /usr/lib -name libjemalloc.so.2 2>/dev/null | head -1)
        [[ -n $lib ]] || die "--allocators jemalloc: libjemalloc.so.2 is not installed (apt-get install libjemalloc2)"
        env+=(LD_PRELOAD="$lib")
        ;;
      *) die "--allocators: unknown '$word' (default, arenaN, threadsN, jemalloc, json, bin=PATH, joined by +)" ;;
    esac
  done
  make_grpc_tls "$WORK/grpc-tls"
  rm -f "$WORK/addresses"
  started=$(now_ms)
  env "${env[@]}" "$binary" run --kubeconfig "$KUBECONFIG" --tick "$TICK" --leader-elect=false \
    --health-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --address-file "$WORK/addresses" \
    --grpc-tls-cert-file "$WORK/grpc-tls/tls.crt" --grpc-tls-key-file "$WORK/grpc-tls/tls.key" \
    --log-format text "${args[@]}" >>"$OPERATOR_LOG" 2>&1 &
  OPERATOR_PID=$!
  wait_for --every 0.02 --pid "$OPERATOR_PID" "the operator's address file" 60 test -s "$WORK/addresses" ||
    die "the operator did not start (log: $OPERATOR_LOG)"
  OPERATOR_HEALTH=$(sed -n 's/^health=//p' "$WORK/addresses")
  wait_for --every 0.02 --pid "$OPERATOR_PID" "operator /readyz" 600 \
    curl -sf "http://$OPERATOR_HEALTH/readyz" || die "the operator never synced"
  SYNC_MS=$(($(now_ms) - started))
}
leader_passes() { metric 'bursar_reconcile_duration_seconds_count{role="leader"}'; }
requests_sent() {
  curl -sf "http://$OPERATOR_HEALTH/metrics" | awk '$1 ~ /^bursar_kube_requests_total\{/ { n += $2 } END { print n + 0 }'
}
# wait_passes COUNT — waits until COUNT more leader passes have completed.
wait_passes() {
  local target=$(($(leader_passes || echo 0) + $1))
  wait_for --every 0.2 --pid "$OPERATOR_PID" "$1 leader passes" 900 \
    bash -c "[[ \$(curl -sf http://$OPERATOR_HEALTH/metrics | awk '\$1 == \"bursar_reconcile_duration_seconds_count{role=\\\"leader\\\"}\" { print \$2 }') -ge $target ]]" ||
    die "the operator did not complete $1 passes"
}

# peer MODE_FLAG... — runs informer-peer and prints its JSON line.
peer() { "$PEER_DIR/informer-peer" --kubeconfig "$KUBECONFIG" "$@"; }
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

# --- Baseline: every cache empty of pods -------------------------------------------------------
bursar_start default
wait_passes 2
BASE_RSS=$(proc "$OPERATOR_PID" VmRSS)
operator_kill TERM
PEER_BASE=$(peer)
PEER_BASE_DROP=$(peer --drop-managed-fields)
log "baseline: Bursar $(mib "$BASE_RSS") MiB, peer $(mib "$(json "$PEER_BASE" rss_kib)") MiB"

# --- The pods ----------------------------------------------------------------------------------
started=$(now_ms)
"$PEER_DIR/scale-load" --pods "$PODS" --namespaces "$NAMESPACES" --nodes "$NODES"
not_running() { api "/api/v1/pods?fieldSelector=status.phase%21%3DRunning&limit=1" | grep -q '"items": *\[\]'; }
wait_for --every 2 "all $PODS pods Running" 1800 not_running || die "the pods did not all start"
log "$PODS pods Running $((($(now_ms) - started) / 1000)) s after the loader started"
APISERVER_RSS=$(proc "$BURSAR_TEST_APISERVER_PID" VmRSS)

# --- Floor -------------------------------------------------------------------------------------
t=$(now_ms)
bytes=$(api /api/v1/pods | wc -c)
result "floor: GET /api/v1/pods (curl, $((bytes / 1024 / 1024)) MiB of JSON)" "$(($(now_ms) - t)) ms"
t=$(now_ms)
kc get pods -A -o json >/dev/null
result "floor: kubectl get pods -A -o json" "$(($(now_ms) - t)) ms"

# --- Bursar, once per allocator set-up -----------------------------------------------------------
first=true
for allocator in $ALLOCATORS; do
  bursar_start "$allocator"
  wait_passes 1
  rss=$(proc "$OPERATOR_PID" VmRSS) hwm=$(proc "$OPERATOR_PID" VmHWM)
  threads=$(ls "/proc/$OPERATOR_PID/task" | wc -l)
  result "Bursar [$allocator]: sync (start → /readyz)" "$SYNC_MS ms"
  result "Bursar [$allocator]: VmRSS / VmHWM after sync, threads" "$(mib "$rss") / $(mib "$hwm") MiB, $threads threads"
  passes0=$(leader_passes) sum0=$(metric 'bursar_reconcile_duration_seconds_sum{role="leader"}')
  requests0=$(requests_sent)
  wait_passes 10
  passes1=$(leader_passes) sum1=$(metric 'bursar_reconcile_duration_seconds_sum{role="leader"}')
  requests1=$(requests_sent)
  rss10=$(proc "$OPERATOR_PID" VmRSS) hwm10=$(proc "$OPERATOR_PID" VmHWM)
  result "Bursar [$allocator]: VmRSS / VmHWM after 10 more passes" "$(mib "$rss10") / $(mib "$hwm10") MiB"
  result "Bursar [$allocator]: bytes per cached pod ((RSS − RSS at 0 pods) / N)" \
    "$(((rss10 - BASE_RSS) * 1024 / (PODS > 0 ? PODS : 1))) B"
  pass_ms=$(awk -v a="$sum0" -v b="$sum1" -v n=$((passes1 - passes0)) 'BEGIN { printf "%.0f", (b - a) * 1000 / n }')
  per_pass=$(awk -v a="$requests0" -v b="$requests1" -v n=$((passes1 - passes0)) 'BEGIN { printf "%.1f", (b - a) / n }')
  result "Bursar [$allocator]: leader pass, mean of $((passes1 - passes0))" "$pass_ms ms"
  result "Bursar [$allocator]: API requests per pass ($BUDGETS budgets)" "$per_pass"
  if $first; then
    first=false
    expect "Bursar cached every pod" test "$rss10" -gt "$BASE_RSS"
    expect "Bursar's requests are counted" test "$requests1" -gt 0
    # Spend-only status changes are written at most every --status-interval (30 s), so quiet
    # passes send fewer requests than one status per budget (docs/operations.md).
    expect "fewer requests a pass than budgets (status writes coalesced)" \
      awk -v n="$per_pass" -v b="$BUDGETS" 'BEGIN { exit !(n < b) }'
    # Latency probes on budget-0 (namespace bench-0), as tests/e2e/latency.sh measures them.
    probe() {
      cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: bench-0, labels: {app: probe}}
spec:
  nodeName: gpu-0
  tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
  terminationGracePeriodSeconds: 1
  containers:
  - name: work
    image: registry.invalid/bursar/fake-trainer:1
    resources: {limits: {nvidia.com/gpu: "1"}}
EOF
    }
    pod_running() { api "/api/v1/namespaces/bench-0/pods/$1" | grep -q '"phase": *"Running"'; }
    in_ledger() { api /apis/bursar.dev/v1alpha1/computebudgets/budget-0 | grep -q "$1"; }
    : >"$WORK/start.txt"
    for ((s = 0; s < SAMPLES; s++)); do
      probe "probe-$s" | kc apply -f - >/dev/null
      wait_for --every 0.02 "probe-$s to run" 120 pod_running "probe-$s" || die "probe-$s never ran"
      running_at=$(now_ms)
      uid=$(jp pod "probe-$s" '{.metadata.uid}' bench-0)
      wait_for --every 0.02 "probe-$s in the ledger" 120 in_ledger "$uid" ||
        die "probe-$s never reached budget-0's status"
      echo $(($(now_ms) - running_at)) >>"$WORK/start.txt"
    done
    quota() { jp resourcequota bursar-budget-0 '{.spec.hard.requests\.nvidia\.com/gpu}' bench-0; }
    quota_changed() { local q; q=$(quota) && [[ -n $q && $q != "$1" ]]; }
    : >"$WORK/quota.txt"
    for ((s = 0; s < SAMPLES; s++)); do
      spent=$(jp computebudget budget-0 '{.status.spent}')
      # Usage between Throttle (80 %) and Hold (95 %) of the money left, alternately a little
      # lower, so each sample changes the quota (latency.sh's limits).
      limit=$(python3 -c "print(round(float('${spent:-0}') * (1.14 + 0.02 * ($s % 2)) + 0.01, 4))")
      before=$(quota)
      kc patch computebudget budget-0 --type merge -p "{\"spec\":{\"limit\":{\"amount\":\"$limit\"}}}" >/dev/null
      crossed_at=$(now_ms)
      if wait_for --every 0.02 "the quota to change" 60 quota_changed "$before"; then
        echo $(($(now_ms) - crossed_at)) >>"$WORK/quota.txt"
      fi
      kc patch computebudget budget-0 --type merge -p '{"spec":{"limit":{"amount":"100000000"}}}' >/dev/null
      wait_for --every 0.1 "quota removed" 60 bash -c "! $KUBECTL get resourcequota bursar-budget-0 -n bench-0" || true
    done
    pct() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print (NR ? a[i] " ms" : "none") }'; }
    result "Bursar: pod Running → status counts it, p50 / p99 (n=$(wc -l <"$WORK/start.txt"))" \
      "$(pct "$WORK/start.txt" 50) / $(pct "$WORK/start.txt" 99)"
    result "Bursar: threshold crossed → quota changed, p50 / p99 (n=$(wc -l <"$WORK/quota.txt"))" \
      "$(pct "$WORK/quota.txt" 50) / $(pct "$WORK/quota.txt" 99)"
    expect "every probe pod reached the status" test "$(wc -l <"$WORK/start.txt")" -eq "$SAMPLES"
    expect "every threshold sample changed the quota" test "$(wc -l <"$WORK/quota.txt")" -eq "$SAMPLES"
    kc delete pods -n bench-0 -l app=probe --wait=false >/dev/null
  fi
  operator_kill TERM
done

# --- The peer ----------------------------------------------------------------------------------
for flags in "" --drop-managed-fields; do
  # shellcheck disable=SC2086  # no flag or one flag
  out=$(peer $flags)
  base=$PEER_BASE
  [[ -n $flags ]] && base=$PEER_BASE_DROP
  name="peer [$(json "$out" mode)]"
  rss=$(json "$out" rss_kib)
  result "$name: sync" "$(json "$out" sync_s | awk '{ printf "%.0f ms", $1 * 1000 }')"
  result "$name: VmRSS / VmHWM, Go heap in use, threads" \
    "$(mib "$rss") / $(mib "$(json "$out" hwm_kib)") MiB, $(mib "$(json "$out" heap_inuse_kib)") MiB, $(json "$out" threads) threads"
  result "$name: bytes per cached pod" "$(((rss - $(json "$base" rss_kib)) * 1024 / (PODS > 0 ? PODS : 1))) B"
  expect "$name cached every pod" test "$(json "$out" pods)" -ge "$PODS"
done

{
  echo "scale benchmark: $PODS pods on ${NODES/#0/$((PODS / 25 > 4 ? PODS / 25 : 4))} kwok nodes, $NAMESPACES namespaces, $BUDGETS budgets, operator --tick $TICK"
  echo "baseline (0 pods): Bursar VmRSS $(mib "$BASE_RSS") MiB; peer $(mib "$(json "$PEER_BASE" rss_kib)") MiB, with the transform $(mib "$(json "$PEER_BASE_DROP" rss_kib)") MiB; kube-apiserver at $PODS pods $(mib "$APISERVER_RSS") MiB"
  printf '%s\n' "${results[@]}"
} | tee "$OUT"
finish
