#!/usr/bin/env bash
# Scenario 15 — Pods that take their grace to stop. Three 1-GPU Jobs whose pods run on for their
# 20 s terminationGracePeriodSeconds after they are told to stop (a trainer writing a checkpoint
# on SIGTERM; kwok emulates it: tests/cluster/stages/pod-delete-at-grace-end.yaml). A budget
# without pacing, Drain at 95 % of $8, must drain them while the money left still pays for
# their stop: Bursar projects their burn over a tick plus their grace (docs/concepts.md), and
# keeps nothing beside pods already stopping.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-15-stop-grace.sh
#
# Numbers: three pods at $0.0594 per GPU-second burn $0.178 a second, so their 20 s stop costs
# $3.56. Drain keeps what the money left pays for over the 21 s lookahead, counting that what it
# suspends costs its 20 s stop: it drains the last Job at the last pass at which the stop still
# fits ($8 - $3.56 - a tick; status reads $4.45 by the time the test sees the last Job drained),
# and the period ends near $7.8 (three runs: $7.72-$7.78). (Before
# 7 December 2026 it took suspended pods to stop at once and drained earlier, at about $4.1,
# ending near $7.4; projected over two ticks, before the grace counted at all, Drain came at
# about $7.2 and the stop took spend to about $10.8.)
set -euo pipefail
SCRIPT_NAME=e2e/scenario-15
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIMIT=8
GRACE=20
BURN_PER_SECOND=0.178 # three 1-GPU pods
install_crds
anchor=$(rfc3339_in 2)
{
  namespaces_yaml vision
  price_book_and_pool 6 2 # two 2-GPU nodes from the start: the pool's floor, charged to nobody
  cat <<EOF
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: vision}
spec:
  scope: {namespaces: [vision]}
  limit: {amount: "$LIMIT", currency: USD}
  period: {type: Custom, duration: 1h, anchor: "$anchor"}
  pacing: {mode: None}
  thresholds: [{percent: 90, action: Hold}, {percent: 95, action: Drain}]
  nodePools: [a100]
EOF
} | kc apply -f - >/dev/null
operator_start --status-interval 1s
wait_for "the operator to enter the period" 30 bash -c \
  "kubectl get computebudget vision -o jsonpath='{.status.period.start}' | grep -qx '$anchor'"

# 1-GPU Jobs whose pods have a 20 s grace that kwok honours (their annotation).
for i in 1 2 3; do
  gpu_job "train-$i" vision 1 600s "{}" 0 "" "$GRACE" "kwok.bursar.test/stop: at-grace-end"
done | kc apply -f - >/dev/null

running_pods() {
  kc get pods -n vision --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l
}
jobs_run() {
  wait_for "three running pods" 90 bash -c \
    "[[ \$(kubectl get pods -n vision --field-selector=status.phase=Running --no-headers | wc -l) -eq 3 ]]"
}
check "the three Jobs run" jobs_run

drain_leaves_money_for_the_stop() {
  wait_for "the three Jobs drained" 90 bash -c \
    "[[ \$(kubectl get jobs -n vision -o jsonpath='{range .items[*]}{.metadata.annotations.bursar\\.dev/held-for}{\"\\n\"}{end}' | grep -c Drain) -eq 3 ]]" ||
    return 1
  local spent stop most
  spent=$(jp computebudget vision '{.status.spent}')
  stop=$(python3 -c "print(round($BURN_PER_SECOND * $GRACE, 2))")
  # status.spent is read up to two 1 s passes after the Drain (the wait's poll, the status write),
  # while the drained pods still burn: allow two ticks of their burn.
  most=$(python3 -c "print(round($LIMIT - $BURN_PER_SECOND * $GRACE + 2 * $BURN_PER_SECOND, 2))")
  echo "spent \$$spent when the last Job was drained; the stop costs about \$$stop of the \$$LIMIT"
  echo "$spent" >"$WORK/spent-at-drain"
  python3 -c "import sys; sys.exit(0 if float('${spent:-99}') <= $most else 1)"
}
check "Drain comes while the money left pays for the pods' ${GRACE}s stop" \
  drain_leaves_money_for_the_stop

pods_stop_at_grace_end() {
  sleep $((GRACE / 2))
  local left
  left=$(running_pods)
  echo "pods still running $((GRACE / 2)) s after the drain: $left"
  ((left > 0)) || return 1 # kwok must emulate the grace, or this scenario proves nothing
  wait_for "the drained pods gone" $((GRACE + 30)) bash -c \
    "[[ -z \$(kubectl get pods -n vision -o name) ]]"
}
check "the drained pods run on until their grace ends, then go" pods_stop_at_grace_end

spent_within_limit() {
  sleep 3 # a few passes after the last pod went
  local spent
  spent=$(jp computebudget vision '{.status.spent}')
  echo "spent \$$spent of \$$LIMIT after the pods stopped"
  echo "$spent" >"$WORK/spent-at-end"
  python3 -c "import sys; sys.exit(0 if float('${spent:-99}') <= $LIMIT else 1)"
}
check "spend ends at or under the limit" spent_within_limit
log "spent \$$(cat "$WORK/spent-at-drain" 2>/dev/null) when drained, \$$(cat "$WORK/spent-at-end" 2>/dev/null) at the end, of \$$LIMIT"
finish
