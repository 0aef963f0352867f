#!/usr/bin/env bash
# Scenario 14 — ML workload kinds beyond batch Jobs (issue 12): the real CRDs of Kubeflow's
# PyTorchJob (training-operator v1.8.1) and KubeRay's RayJob (v1.5.0), taken from the Go module
# cache at test time (nothing committed), are installed before the operator starts, so it
# watches both kinds. A podSelector budget in quota mode Webhook holds new work once its seed Job
# spent half of its $1 (Hold at 50 %). Checks:
#   - a PyTorchJob without spec.runPolicy and a RayJob created in the held budget are stored
#     suspended at their own paths (spec.runPolicy.suspend, spec.suspend) with Bursar's held-by
#     annotation, by the webhook (generation 1: nobody patched them after);
#   - they stay suspended while the budget holds;
#   - once the limit is raised, the operator resumes both through their own paths and removes
#     its annotations, and records a BursarRelease Event on each;
#   - a PyTorchJob of another team (no budget) is left as created.
# No Kubeflow or KubeRay controller runs: the objects are the API; their pods are gated at pod
# level, as scenario 10 shows.
#
#   tests/cluster/with-cluster.sh --with-all -- tests/e2e/scenario-14-workload-kinds.sh
set -euo pipefail
SCRIPT_NAME=e2e/scenario-14
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=shared

# module_crd MODULE@VERSION FILE — the path of FILE in the module, downloaded into the Go module
# cache when missing (the module proxy on this machine).
module_crd() {
  local dir
  dir=$(cd /tmp && GOWORK=off GOFLAGS= GOTOOLCHAIN=local go mod download -json "$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get("Dir", ""))') || true
  [[ -n $dir && -f $dir/$2 ]] || die "cannot get $2 from $1 (go mod download)"
  echo "$dir/$2"
}
pytorch_crd=$(module_crd github.com/kubeflow/training-operator@v1.8.1 \
  manifests/base/crds/kubeflow.org_pytorchjobs.yaml)
rayjob_crd=$(module_crd github.com/ray-project/kuberay/ray-operator@v1.5.0 \
  config/crd/bases/ray.io_rayjobs.yaml)

install_crds
# create, not apply: the RayJob CRD is larger than the last-applied annotation allows.
kc create -f "$pytorch_crd" -f "$rayjob_crd" >/dev/null
established() {
  local crd
  for crd in pytorchjobs.kubeflow.org rayjobs.ray.io; do
    [[ $(jp crd "$crd" '{.status.conditions[?(@.type=="Established")].status}') == True ]] || return 1
  done
}
wait_for "the PyTorchJob and RayJob CRDs to be established" 60 established ||
  die "the CRDs were not established"
{
  namespaces_yaml "$NS"
  price_book_and_pool 4 1
  cat <<YAML
apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: team-a}
spec:
  scope: {namespaces: [$NS], podSelector: {matchLabels: {team: a}}}
  limit: {amount: "1", currency: USD}
  period: {type: Custom, duration: 600s}
  pacing: {mode: None}
  thresholds: [{percent: 50, action: Hold}]
  quota: {mode: Webhook, resources: [nvidia.com/gpu]}
  nodePools: [a100]
YAML
} | kc apply -f - >/dev/null

make_grpc_tls "$WORK/webhook-tls"
operator_start --webhook-cert-dir "$WORK/webhook-tls" --webhook-addr 127.0.0.1:0
webhook_register

watched() {
  grep 'workload kind not watched' "$OPERATOR_LOG" || true # JobSet and TFJob are not installed
  ! grep 'workload kind not watched' "$OPERATOR_LOG" | grep -Eq 'kind=(PyTorchJob|RayJob)[.]'
}
check "the operator watches the PyTorchJob and RayJob kinds the cluster serves" watched

gpu_job seed "$NS" 1 600s "{team: a}" | kc apply -f - >/dev/null
held() {
  wait_for "team-a to hold new work" 90 bash -c \
    "[[ \$(kubectl get computebudget team-a -o jsonpath='{.status.admission.holdNewWork}') == true ]]"
}
check "team-a holds new work after its seed Job spent half its limit" held

# pytorchjob NAME TEAM — 1 master and 2 workers of 1 GPU; no spec.runPolicy.
pytorchjob() {
  local template
  template="{metadata: {labels: {team: $2}}, spec: {containers: [{name: pytorch, image: registry.invalid/bursar/fake-trainer:1, resources: {limits: {nvidia.com/gpu: \"1\"}}}]}}"
  cat <<YAML
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: $1, namespace: $NS}
spec:
  pytorchReplicaSpecs:
    Master: {replicas: 1, restartPolicy: Never, template: $template}
    Worker: {replicas: 2, restartPolicy: Never, template: $template}
YAML
}

rayjob() {
  cat <<YAML
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: $1, namespace: $NS}
spec:
  entrypoint: python train.py
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        metadata: {labels: {team: $2}}
        spec: {containers: [{name: head, image: registry.invalid/bursar/ray:1}]}
    workerGroupSpecs:
      - groupName: gpu
        replicas: 2
        rayStartParams: {}
        template:
          metadata: {labels: {team: $2}}
          spec: {containers: [{name: worker, image: registry.invalid/bursar/ray:1, resources: {limits: {nvidia.com/gpu: "1"}}}]}
YAML
}

created_suspended() {
  pytorchjob ft a | kc create -f - >"$WORK/ft.out" 2>&1 || { cat "$WORK/ft.out"; return 1; }
  rayjob sweep a | kc create -f - >"$WORK/sweep.out" 2>&1 || { cat "$WORK/sweep.out"; return 1; }
  grep -q 'created suspended' "$WORK/ft.out" && grep -q 'created suspended' "$WORK/sweep.out" || {
    cat "$WORK/ft.out" "$WORK/sweep.out"
    return 1
  }
  local ft sweep
  ft=$(jp pytorchjob ft '{.spec.runPolicy.suspend}/{.metadata.annotations.bursar\.dev/held-by}/{.metadata.generation}' "$NS")
  sweep=$(jp rayjob sweep '{.spec.suspend}/{.metadata.annotations.bursar\.dev/held-by}/{.metadata.generation}' "$NS")
  echo "PyTorchJob runPolicy.suspend/held-by/generation = $ft; RayJob suspend/held-by/generation = $sweep"
  [[ $ft == true/team-a/1 && $sweep == true/team-a/1 ]]
}
check "a PyTorchJob and a RayJob created in the held budget are stored suspended at their own paths" created_suspended

others_left_alone() {
  pytorchjob free b | kc create -f - >"$WORK/free.out" 2>&1 || { cat "$WORK/free.out"; return 1; }
  [[ -z $(jp pytorchjob free '{.spec.runPolicy.suspend}{.metadata.annotations}' "$NS") ]]
}
check "a PyTorchJob no budget pays for is left as created" others_left_alone

stays_held() {
  sleep 4 # a few 1 s passes: a wrong release would show by now
  [[ $(jp pytorchjob ft '{.spec.runPolicy.suspend}' "$NS") == true &&
    $(jp rayjob sweep '{.spec.suspend}' "$NS") == true ]]
}
check "they stay suspended while the budget holds" stays_held

kc patch computebudget team-a --type merge -p '{"spec":{"limit":{"amount":"100000"}}}' >/dev/null
released() {
  wait_for "both to be resumed" 60 bash -c "
    [[ \$(kubectl get pytorchjob ft -n $NS -o jsonpath='{.spec.runPolicy.suspend}') == false &&
       \$(kubectl get rayjob sweep -n $NS -o jsonpath='{.spec.suspend}') == false ]]" || return 1
  local annotations
  annotations=$(jp pytorchjob ft '{.metadata.annotations}' "$NS")$(jp rayjob sweep '{.metadata.annotations}' "$NS")
  echo "annotations left: ${annotations:-none}"
  [[ $annotations != *bursar.dev/held* ]] || return 1
  wait_for "BursarRelease Events" 30 bash -c "
    kubectl get events -n $NS --field-selector reason=BursarRelease -o jsonpath='{range .items[*]}{.involvedObject.kind}{\"\\n\"}{end}' |
      sort -u | tr '\\n' ' ' | grep -q 'PyTorchJob RayJob'"
}
check "once the limit is raised, the operator resumes both at their own paths, with an Event each" released
finish
