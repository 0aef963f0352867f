#!/usr/bin/env bash
# `make demo-cluster`: Bursar pacing three budgets live on a real (throwaway) control plane with
# kwok GPU nodes. It applies the CRDs, a price book, a Kwok GPUNodePool of 8-GPU nodes and three
# ComputeBudgets with short Custom periods, starts build/bursar, submits a seeded stream of GPU
# Jobs, redraws a live view every few seconds, and prints a summary at the end:
#
#   vision    pacing Even, Enforce: spend follows the pacing line; Bursar throttles its quota
#   nlp       pacing None, Enforce: runs flat out, is held then drained at its limit, and its
#             Jobs are released when the next period starts
#   research  pacing Even, DryRun: Bursar only records what it would do; nothing is stopped
#
#   tests/cluster/with-cluster.sh --with-all -- tools/demo-cluster.sh
#
# Environment: DEMO_MINUTES (about how long it runs, default 4), DEMO_PERIOD (seconds per budget
# period; default: the time split into whole periods of about 2 minutes, at least two),
# DEMO_SEED (the workload, default 7), DEMO_REFRESH (seconds between redraws, default 5),
# DEMO_DIR (where the operator log and the demo's files go; default a new /tmp/bursar-demo.*,
# kept afterwards). The view uses python3 (stdlib only): tools/demo-view.py.
set -euo pipefail
# shellcheck disable=SC2034  # read by die/log in tests/cluster/lib.sh
SCRIPT_NAME=demo-cluster
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The e2e helpers: operator_start (the flags the tests run the operator with), gpu_job (the Job
# template), install_crds, wait_for, jp.
# shellcheck source=tests/e2e/lib.sh
source "$TOOLS/../tests/e2e/lib.sh"

# lib.sh made a scratch folder it deletes on exit; the demo keeps its folder for the log.
rmdir "$WORK" 2>/dev/null || true
WORK=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bursar-demo.XXXXXX")}
mkdir -p "$WORK"
OPERATOR_LOG=$WORK/operator.log
STATE=$WORK/view-state.json
METRICS=$WORK/metrics.txt
VIEW=$TOOLS/demo-view.py
rm -f "$STATE" "$METRICS"
demo_cleanup() {
  [[ -n $OPERATOR_PID ]] && kill -TERM "$OPERATOR_PID" 2>/dev/null
  [[ -n $OPERATOR_PID ]] && wait "$OPERATOR_PID" 2>/dev/null
  true
}
trap demo_cleanup EXIT

MINUTES=${DEMO_MINUTES:-4}
SEED=${DEMO_SEED:-7}
REFRESH=${DEMO_REFRESH:-5}
if ! [[ $MINUTES =~ ^[0-9]+$ ]] || ((MINUTES < 1)); then
  die "DEMO_MINUTES must be a whole number of minutes (got '$MINUTES')"
fi
# About 25 s go to start-up and the summary; the rest is split into whole periods.
live=$((MINUTES * 60 - 25))
if [[ -n ${DEMO_PERIOD:-} ]]; then
  PERIOD=$DEMO_PERIOD
  PERIODS=$(((live + PERIOD / 2) / PERIOD))
  ((PERIODS >= 1)) || PERIODS=1
else
  PERIODS=$((live / 120))
  ((PERIODS >= 2)) || PERIODS=2
  PERIOD=$((live / PERIODS / 5 * 5))
  ((PERIOD >= 30)) || PERIOD=30
fi
# Limits in money, sized from what a GPU costs over one period: Bursar paces at the pool's price
# per GPU ($2880 per 8-GPU node-hour = $0.10 per GPU-second). Each namespace wants about 11 GPUs.
per_gpu=$(python3 -c "print($PERIOD * 0.10)")
limit() { python3 -c "print(round($1 * $per_gpu))"; }
LIMIT_VISION=$(limit 4)   # affords ~4 GPUs over the period: throttled
LIMIT_NLP=$(limit 3)      # spent in about the first half: held, drained, released next period
LIMIT_RESEARCH=$(limit 3) # DryRun: would throttle, only records

if [[ -t 1 ]]; then TTY=--tty; else TTY=""; fi
say() { printf '\033[1m%s\033[0m\n' "$*"; }
[[ -n $TTY ]] || say() { printf '%s\n' "$*"; }

say "Bursar demo: $PERIODS periods of ${PERIOD}s on a throwaway control plane with kwok GPU nodes"
echo "  vision   \$$LIMIT_VISION/period, pacing Even, enforced   -> throttled to the pacing line"
echo "  nlp      \$$LIMIT_NLP/period, pacing None, enforced   -> held and drained at the limit, released next period"
echo "  research \$$LIMIT_RESEARCH/period, pacing Even, DryRun     -> Bursar only records what it would do"
echo "  operator log: $OPERATOR_LOG"

install_crds
# The first period starts once the operator is up; Custom periods follow back to back from the anchor.
anchor_s=$(($(date +%s) + 12))
ANCHOR=$(date -u -d "@$anchor_s" +%Y-%m-%dT%H:%M:%SZ)
END=$((anchor_s + PERIODS * PERIOD))
budget() { # NAME LIMIT PACING ENFORCEMENT [THRESHOLDS]
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $1}
---
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: $1}
spec:
  scope: {namespaces: [$1]}
  limit: {amount: "$2", currency: USD}
  period: {type: Custom, duration: ${PERIOD}s, anchor: "$ANCHOR"}
  pacing: {mode: $3, burstPercent: 10}
  enforcement: $4
  nodePools: [a100]
${5:-}
---
EOF
}
{
  price_book_and_pool 8 0 8 2880  # 8-GPU nodes at $2,880 per node-hour (tests/e2e/lib.sh)
  budget vision "$LIMIT_VISION" Even Enforce
  budget nlp "$LIMIT_NLP" None Enforce \
    "  thresholds: [{percent: 50, action: Notify}, {percent: 90, action: Hold}, {percent: 100, action: Drain}]"
  budget research "$LIMIT_RESEARCH" Even DryRun
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null
echo "  applied: $WORK/setup.yaml"
# shellcheck disable=SC2119  # no extra flags
operator_start
echo "  operator: pid $OPERATOR_PID, metrics http://$OPERATOR_HEALTH/metrics"

# The workload: one seeded stream of GPU Jobs per namespace, until 10 s before the end.
python3 "$VIEW" workload --seed "$SEED" --span $((PERIODS * PERIOD - 10)) vision nlp research |
  sort -n >"$WORK/workload.txt"
echo "  workload: $(wc -l <"$WORK/workload.txt") Jobs of 1-4 GPUs, 20-60 s each ($WORK/workload.txt)"
in_period() {
  local b
  for b in vision nlp research; do
    [[ $(jp computebudget "$b" '{.status.period.start}') == "$ANCHOR" ]] || return 1
  done
}
echo "  waiting for the first period to start at $ANCHOR..."
wait_for "the budgets to enter the first period" 60 in_period || true

snapshot() {
  curl -sf --max-time 3 "http://$OPERATOR_HEALTH/metrics" >"$METRICS.tmp" 2>/dev/null &&
    mv "$METRICS.tmp" "$METRICS"
  kc get computebudgets.bursar.dev,gpunodepools.bursar.dev,jobs.batch,pods,nodes -A -o json \
    2>/dev/null || true
}
view() { snapshot | python3 "$VIEW" "$@" --state "$STATE" --metrics "$METRICS" \
  --anchor "$ANCHOR" --period "$PERIOD" --periods "$PERIODS"; }

submitted=0
total=$(wc -l <"$WORK/workload.txt")
submit_due() {
  local elapsed=$(($(date +%s) - anchor_s)) batch=$WORK/batch.yaml line off ns name gpus run_for
  : >"$batch"
  while ((submitted < total)); do
    line=$(sed -n "$((submitted + 1))p" "$WORK/workload.txt")
    read -r off ns name gpus run_for <<<"$line"
    ((${off%.*} <= elapsed)) || break
    gpu_job "$name" "$ns" "$gpus" "$run_for" >>"$batch"
    submitted=$((submitted + 1))
  done
  [[ -s $batch ]] && { kc apply -f "$batch" >/dev/null || echo "(a Job submission failed; see above)"; }
  true
}

while (($(date +%s) < END)); do
  next=$(($(date +%s) + REFRESH))
  submit_due
  view render $TTY
  while (($(date +%s) < next && $(date +%s) < END)); do sleep 0.5; done
done
# One more pass after the last boundary writes that period's summary into recentActions.
last_start=$(date -u -d "@$END" +%Y-%m-%dT%H:%M:%SZ)
ended() {
  local b
  for b in vision nlp research; do
    [[ $(jp computebudget "$b" '{.status.period.start}') == "$last_start" ]] || return 1
  done
}
wait_for "the last period's summaries" 30 ended || true
view render $TTY
echo
view summary --log "$OPERATOR_LOG"
operator_kill TERM
echo "The demo's files (setup, workload, operator log) are kept in $WORK; the cluster is torn down now."
