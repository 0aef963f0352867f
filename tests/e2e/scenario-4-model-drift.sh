#!/usr/bin/env bash
# Scenario 4 — modelDrift. A budget whose regular money is spent holds a retraining Job; a
# modelDrift report over the threshold (bursar.v1.Signals/ReportModelDrift, sent with
# `bursar report-drift`) unlocks the retraining reserve, and the Job that would otherwise have
# stayed held runs — while the regular work stays held.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-4-model-drift.sh
#
# Numbers: $16 per 100 s with 50 % reserved for retraining: regular work may spend $8, which four
# 1-GPU Jobs ($0.06 a second each) use up in about half a minute; the $8 reserve affords one GPU
# (at the pool's $360 per GPU-hour) for the rest of the period.
set -euo pipefail
SCRIPT_NAME=e2e/scenario-4
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PERIOD=100
install_crds
anchor=$(rfc3339_in 5)
{
  namespaces_yaml ml
  price_book_and_pool 6
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: fraud-team}
spec:
  scope: {namespaces: [ml]}
  limit: {amount: "16", currency: USD}
  period: {type: Custom, duration: ${PERIOD}s, anchor: "$anchor"}
  pacing: {mode: None}
  nodePools: [a100]
  retraining: {reservePercent: 50, driftThreshold: "0.3", cooldown: 1m, maxPerPeriod: 2}
EOF
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null
operator_start
wait_for "the operator to enter the period" 30 bash -c \
  "kubectl get computebudget fraud-team -o jsonpath='{.status.period.start}' | grep -qx '$anchor'"
for i in 1 2 3 4; do gpu_job "train-$i" ml 1 300s; done | kc apply -f - >/dev/null

retrain_labels='{bursar.dev/model: fraud, bursar.dev/purpose: retrain}'
retrain_job_is_held() {
  wait_for "regular money spent (Held or Exhausted)" 80 bash -c \
    "kubectl get computebudget fraud-team -o jsonpath='{.status.phase}' | grep -Eq 'Held|Exhausted'" ||
    return 1
  gpu_job retrain-fraud ml 1 20s "$retrain_labels" | kc apply -f - >/dev/null || return 1
  wait_for "retrain-fraud held by Bursar" 15 bash -c \
    "[[ \$(kubectl get job retrain-fraud -n ml -o jsonpath='{.spec.suspend}/{.metadata.annotations.bursar\\.dev/held-by}') == true/fraud-team ]]" ||
    return 1
  sleep 3 # a few passes: without a modelDrift report it stays held
  [[ $(jp job retrain-fraud '{.spec.suspend}' ml) == true ]]
}
check "without a modelDrift report the retraining Job is held" retrain_job_is_held

# The reporter: a ServiceAccount allowed to report for fraud and other, over TLS with a token.
grpc_reporter_token ml drift-monitor fraud other >"$WORK/reporter.token"
grpc_reporter_token ml outsider nobody >"$WORK/outsider.token"
report() {
  "$BURSAR" report-drift --address "$OPERATOR_GRPC" --ca-file "$OPERATOR_GRPC_CA" "$@"
}

reports_without_a_token_or_permission_are_refused() {
  local out
  out=$(report --no-token --model fraud --score 0.9 --source e2e 2>&1) && return 1
  grep -q "no credentials" <<<"$out" || {
    echo "without a token: $out"
    return 1
  }
  out=$(report --token-file "$WORK/outsider.token" --model fraud --score 0.9 --source e2e 2>&1) &&
    return 1
  grep -q "may not create bursar.dev models/drift \"fraud\"" <<<"$out" || {
    echo "without permission: $out"
    return 1
  }
  sleep 2 # a few passes: nothing may have been unlocked
  ! kubectl get computebudget fraud-team -o jsonpath='{.status.recentActions[*].action}' |
    grep -q UnlockReserve
}
check "a report without a token, or from a ServiceAccount without RBAC, unlocks nothing" \
  reports_without_a_token_or_permission_are_refused

drift_report_unlocks_reserve() {
  report --token-file "$WORK/reporter.token" --model fraud --score 0.62 --metric psi \
    --source e2e || return 1
  wait_for "UnlockReserve in recentActions" 15 bash -c \
    "kubectl get computebudget fraud-team -o jsonpath='{.status.recentActions[*].action}' | grep -q UnlockReserve" ||
    return 1
  [[ -n $(kc get events -n default --field-selector reason=ModelDriftUnlocked -o name) ]] || return 1
  # Who asked: the ServiceAccount, in the Event and in recentActions.
  kubectl get events -n default --field-selector reason=ModelDriftUnlocked \
    -o jsonpath='{.items[*].message}' | grep -q "from e2e as system:serviceaccount:ml:drift-monitor" ||
    return 1
  kubectl get computebudget fraud-team -o jsonpath='{.status.recentActions[*].message}' |
    grep -q "as system:serviceaccount:ml:drift-monitor"
}
check "a modelDrift report over the threshold unlocks the reserve, naming the caller" \
  drift_report_unlocks_reserve

retrain_job_runs() {
  wait_for "retrain-fraud resumed" 15 bash -c \
    "[[ \$(kubectl get job retrain-fraud -n ml -o jsonpath='{.spec.suspend}') == false ]]" || return 1
  wait_for "retrain-fraud to succeed" 60 bash -c \
    "kubectl get job retrain-fraud -n ml -o jsonpath='{.status.succeeded}' | grep -q 1" || return 1
  # The regular work is drained, not carried on the reserve: the reserve is for retraining only.
  wait_for "the four regular Jobs suspended" 40 bash -c \
    "[[ \$(kubectl get jobs train-1 train-2 train-3 train-4 -n ml -o jsonpath='{range .items[*]}{.spec.suspend}{\"\\n\"}{end}' | grep -c true) -eq 4 ]]"
}
check "the retraining Job runs on the reserve; regular work stays held" retrain_job_runs

below_threshold_is_ignored() {
  report --token-file "$WORK/reporter.token" --model other --score 0.1 --metric psi \
    --source e2e || return 1
  wait_for "the ignored report's Event" 15 bash -c \
    "kubectl get events -n default --field-selector reason=ModelDriftIgnored -o jsonpath='{.items[*].message}' | grep -q 'model other'"
}
check "a report below the threshold is recorded and ignored" below_threshold_is_ignored
finish
