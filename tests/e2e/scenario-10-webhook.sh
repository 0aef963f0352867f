#!/usr/bin/env bash
# Scenario 10 — Admission webhook. `bursar run --webhook-cert-dir` serves the mutating (Jobs) and
# validating (Pods) webhooks over TLS on loopback; the API server calls them through webhook
# configurations in url form with the test CA as caBundle and failurePolicy Ignore. Three
# podSelector budgets share one namespace in quota mode Webhook (no ResourceQuota):
#   team-a  $1, no pacing, Hold from 50% and Drain from 90%: a running Job spends half of it
#           within seconds, and the budget holds new work from then on (spend never goes back);
#   team-b  $1000 over 10 minutes, Even pacing: a GPU allowance of about a dozen GPUs;
#   team-c  $250 over a month, no pacing: what the money left buys per hour at the pool nodes'
#           cpu and memory prices (the node price split by the defaults' ratio: about $7 a
#           core-hour, $0.95 a GiB-hour) is a few dozen millicores and a few hundred MiB.
# Checks: a Job created in the held budget is stored suspended by the webhook (generation 1: the
# operator never had to patch it) and never gets a pod; a pod of the held budget is refused with
# the budget, its phase and what to do; a pod of team-b in the same namespace is admitted, one over
# its GPU allowance refused; cpu and memory allowances refuse and admit; with the operator
# stopped, creates still succeed (failurePolicy Ignore) and the API server counts the fail-open;
# spend stays within the limits.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-10-webhook.sh
set -euo pipefail
SCRIPT_NAME=e2e/scenario-10
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=shared
install_crds
{
  namespaces_yaml "$NS"
  price_book_and_pool 4 1
  for team in a b c; do
    case $team in
      a) limit=1 period="{type: Custom, duration: 600s}" pacing=None
         thresholds="[{percent: 50, action: Hold}, {percent: 90, action: Drain}]" ;;
      b) limit=1000 period="{type: Custom, duration: 600s}" pacing=Even thresholds="" ;;
      c) limit=250 period="{type: Monthly}" pacing=None thresholds="" ;;
    esac
    cat <<YAML
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: team-$team}
spec:
  scope: {namespaces: [$NS], podSelector: {matchLabels: {team: $team}}}
  limit: {amount: "$limit", currency: USD}
  period: $period
  pacing: {mode: $pacing}
  ${thresholds:+thresholds: $thresholds}
  quota: {mode: Webhook, resources: [nvidia.com/gpu, cpu, memory]}
  nodePools: [a100]
---
YAML
  done
} >"$WORK/setup.yaml"
kc apply -f "$WORK/setup.yaml" >/dev/null

make_grpc_tls "$WORK/webhook-tls"
operator_start --webhook-cert-dir "$WORK/webhook-tls" --webhook-addr 127.0.0.1:0
webhook_register

# bare_pod NAME TEAM REQUESTS_YAML — a pod outside any Job.
bare_pod() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {team: $2}}
spec:
  nodeSelector: {bursar.dev/pool: a100}
  tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: registry.invalid/bursar/fake-server:1
    resources: {requests: $3, limits: $3}
YAML
}

# create_pod NAME TEAM REQUESTS_YAML — kubectl create; its output (stderr too) in $WORK/NAME.out.
create_pod() { bare_pod "$@" | kc create -f - >"$WORK/$1.out" 2>&1; }

# The budgets publish status.admission once the operator planned them.
wait_for "every budget to publish status.admission" 30 bash -c \
  "[[ \$(kubectl get computebudgets -o jsonpath='{range .items[*]}{.status.admission.allowed.cpu}{\"\\n\"}{end}' | grep -c .) -eq 3 ]]" ||
  die "status.admission was not published"

gpu_job seed "$NS" 1 600s "{team: a}" | kc apply -f - >/dev/null
held() {
  wait_for "team-a to hold new work" 90 bash -c \
    "[[ \$(kubectl get computebudget team-a -o jsonpath='{.status.admission.holdNewWork}') == true ]]"
}
check "team-a holds new work after its Job spent the limit" held

held_job_created_suspended() {
  gpu_job late "$NS" 1 60s "{team: a}" | kc create -f - >"$WORK/late.out" 2>&1 || {
    cat "$WORK/late.out"
    return 1
  }
  grep -q 'bursar: created suspended' "$WORK/late.out" || {
    echo "no warning from the webhook:"
    cat "$WORK/late.out"
    return 1
  }
  local got
  got=$(jp job late '{.spec.suspend}/{.metadata.annotations.bursar\.dev/held-by}/{.metadata.generation}' "$NS")
  echo "stored: suspend/held-by/generation = $got"
  [[ $got == true/team-a/1 ]] || return 1
  [[ -n $(jp job late '{.metadata.annotations.bursar\.dev/held-reason}' "$NS") ]] || return 1
  sleep 3 # a few operator passes: a wrong resume would start a pod by now
  [[ -z $(kc get pods -n "$NS" -l job-name=late -o name) ]] || {
    echo "the held Job has pods"
    return 1
  }
}
check "a Job created in the held budget is stored suspended and gets no pod" held_job_created_suspended

held_pod_refused() {
  if create_pod a-pod a '{nvidia.com/gpu: "1"}'; then
    echo "admitted:"
    cat "$WORK/a-pod.out"
    return 1
  fi
  cat "$WORK/a-pod.out"
  grep -q 'budget "team-a" (phase' "$WORK/a-pod.out" && grep -q 'kubectl bursar why team-a' "$WORK/a-pod.out"
}
check "a pod of the held podSelector budget is refused, naming the budget, phase and what to do" held_pod_refused

other_budget_pod_admitted() { create_pod b-pod b '{nvidia.com/gpu: "1"}' || { cat "$WORK/b-pod.out"; return 1; }; }
check "a pod of another budget in the same namespace is admitted" other_budget_pod_admitted

over_gpu_allowance_refused() {
  echo "team-b allows $(jp computebudget team-b '{.status.admission.allowed.nvidia\.com/gpu}') GPUs"
  if create_pod b-wide b '{nvidia.com/gpu: "64"}'; then
    echo "admitted"
    return 1
  fi
  cat "$WORK/b-wide.out"
  grep -q 'requests nvidia.com/gpu 64' "$WORK/b-wide.out"
}
check "a pod over its budget's GPU allowance is refused" over_gpu_allowance_refused

cpu_and_memory_enforced() {
  echo "team-c allows cpu $(jp computebudget team-c '{.status.admission.allowed.cpu}'), memory $(jp computebudget team-c '{.status.admission.allowed.memory}')"
  if create_pod c-cpu c '{cpu: "2", memory: 16Mi}'; then
    echo "cpu pod admitted"
    return 1
  fi
  grep -q 'requests cpu 2' "$WORK/c-cpu.out" || { cat "$WORK/c-cpu.out"; return 1; }
  if create_pod c-memory c '{cpu: 1m, memory: 8Gi}'; then
    echo "memory pod admitted"
    return 1
  fi
  grep -q 'requests memory 8Gi' "$WORK/c-memory.out" || { cat "$WORK/c-memory.out"; return 1; }
  create_pod c-small c '{cpu: 1m, memory: 1Mi}' || { cat "$WORK/c-small.out"; return 1; }
}
check "cpu and memory allowances are enforced as well as GPUs" cpu_and_memory_enforced

admissions_counted() {
  local denied
  denied=$(metric 'bursar_admission_requests_total{kind="Pod",result="denied"}')
  echo "pods denied: ${denied:-none}; Jobs patched: $(metric 'bursar_admission_requests_total{kind="Job",result="patched"}')"
  [[ ${denied:-0} -ge 4 ]]
}
check "the operator counts its admissions" admissions_counted

spend_within_limits() {
  local a b
  a=$(jp computebudget team-a '{.status.spent}')
  b=$(jp computebudget team-b '{.status.spent}')
  echo "team-a spent $a of 1, team-b $b of 1000"
  python3 -c "import sys; sys.exit(0 if float('$a') <= 1 and float('$b') <= 1000 else 1)"
}
check "spend of both budgets stays within its limit" spend_within_limits

fail_open_when_stopped() {
  operator_kill TERM
  create_pod a-after a '{nvidia.com/gpu: "1"}' || { cat "$WORK/a-after.out"; return 1; }
  gpu_job after "$NS" 1 60s "{team: a}" | kc create -f - >/dev/null || return 1
  [[ $(jp job after '{.spec.suspend}' "$NS") == false ]] || return 1
  local failed_open
  failed_open=$(kc get --raw /metrics | awk '/^apiserver_admission_webhook_fail_open_count/ {s += $2} END {print s + 0}')
  echo "apiserver_admission_webhook_fail_open_count: $failed_open"
  ((failed_open >= 2))
}
check "with the operator stopped, creates succeed (failurePolicy Ignore) and the API server counts it" fail_open_when_stopped
finish
