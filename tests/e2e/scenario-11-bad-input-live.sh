#!/usr/bin/env bash
# Scenario 11 — Live bad input (issue 14, "Done when"): the cases of
# tests/e2e/bad-input-live/cases.txt (one line each: malformed or absurd budgets, pools and price
# books) are created one by one, in batches, against a running operator that meters two valid
# budgets. Each case is either refused by the API server with the expected message, or stored and
# then marked Ready=False with the expected reason and message and a Warning Event. A watchdog
# (bad_input_live.py) polls all along: the valid budgets' status.ledger.watermark never trails
# the clock by more than MAX_LAG (one 1 s tick of delay over the normal lag of a 1 s tick plus a
# status write; the operator writes every pass here, --status-interval 0, since the default 30 s
# lets a status whose only change is spend lag by up to 30 s), /healthz answers 200 and the
# process lives. At the end the operator still stops
# on SIGTERM within --shutdown-grace.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-11-bad-input-live.sh
#
# Environment: BURSAR_BAD_INPUT_ONLY=name,name runs only those cases (for debugging).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CASES=$E2E_DIR/bad-input-live/cases.txt
MAX_LAG=${BURSAR_BAD_INPUT_MAX_LAG:-3.0} # seconds: 1 s tick + 1 tick of delay + 1 s for the write
echo "scenario 11: live bad input ($(grep -cv '^[[:space:]]*\(#\|$\)' "$CASES") cases)"

install_crds
for ns in steady-a steady-b; do kc create namespace "$ns" >/dev/null; done
anchor=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
  price_book_and_pool 2 2
  for b in steady-a steady-b; do
    cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $b}
spec:
  scope: {namespaces: [$b]}
  limit: {amount: "100000", currency: USD}
  period: {type: Custom, duration: 30m, anchor: "$anchor"}
  pacing: {mode: None}
  nodePools: [a100]
---
EOF
    gpu_job train "$b" 1 30m
  done
  # What some cases refer to: a valid price book and pool.
  cat <<'EOF'
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: bi-valid-book}
spec:
  currency: USD
---
apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: bi-valid-pool}
spec:
  provider: {type: Kwok}
  nodeSelector: {bursar.dev/pool: bi-valid-pool}
  gpusPerNode: 8
  pricePerNodeHour: "8"
  maxNodes: 1
EOF
} | kc apply -f - >/dev/null
operator_start --shutdown-grace 10s --status-interval 0s

# spent_positive BUDGET — status.spent > 0.
spent_positive() {
  local spent
  spent=$(jp computebudget "$1" '{.status.spent}')
  [[ -n $spent ]] && python3 -c "import sys; sys.exit(0 if float('$spent') > 0 else 1)"
}
both_metered() { spent_positive steady-a && spent_positive steady-b; }
wait_for "both valid budgets metered" 90 both_metered || die "the valid budgets were never metered"

python3 "$E2E_DIR/bad-input-live/bad_input_live.py" --cases "$CASES" --results "$WORK/results" \
  --health "$OPERATOR_HEALTH" --pid "$OPERATOR_PID" --valid steady-a,steady-b \
  --max-lag "$MAX_LAG" --only "${BURSAR_BAD_INPUT_ONLY:-}"

# One check per result line: "PASS|FAIL<TAB>name<TAB>detail".
while IFS=$'\t' read -r verdict name detail; do
  result_line() {
    echo "$detail"
    [[ $verdict == PASS ]]
  }
  check "$name" result_line
  [[ $name != watchdog:* ]] || echo "      $detail"
done <"$WORK/results"

still_metering() { both_metered && curl -sf "http://$OPERATOR_HEALTH/healthz" >/dev/null; }
check "after every case, both valid budgets are metered and /healthz is 200" still_metering

stops_on_sigterm() {
  local t0=$SECONDS
  kill -TERM "$OPERATOR_PID"
  wait "$OPERATOR_PID" 2>/dev/null || true
  OPERATOR_PID=""
  echo "stopped $((SECONDS - t0))s after SIGTERM (--shutdown-grace 10s)"
  ((SECONDS - t0 <= 12))
}
check "SIGTERM stops the operator within --shutdown-grace" stops_on_sigterm

finish
