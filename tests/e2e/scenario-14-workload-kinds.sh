#!/usr/bin/env bash
# Scenario 14 — ML workload kinds beyond batch Jobs (issue 12): the real CRDs of Kubeflow's
# PyTorchJob and TFJob (training-operator v1.8.1), KubeRay's RayJob (v1.5.0) and JobSet (v0.8.0),
# taken from the Go module cache at test time (nothing committed), are installed before the
# operator starts, so it watches the four kinds. A podSelector budget in quota mode Webhook holds
# new work once its seed Job spent half of its $1 (Hold at 50 %). Checks:
#   - one of each kind created in the held budget is stored suspended at its own path
#     (spec.runPolicy.suspend, added with its parent on a PyTorchJob without spec.runPolicy;
#     spec.suspend) with Bursar's held-by annotation, by the webhook (generation 1: nobody
#     patched it after);
#   - they stay suspended while the budget holds;
#   - once the limit is raised, the operator resumes each through its own path, removes its
#     annotations and records a BursarRelease Event on each, and the budget's status is still
#     written (its allowance no longer limits anything: an empty map once failed every write);
#   - a PyTorchJob of another team (no budget) is left as created.
# No Kubeflow, KubeRay or JobSet controller runs: the objects are the API; their pods are gated
# at pod level, as scenario 10 shows.
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
crds=(
  "$(module_crd github.com/kubeflow/training-operator@v1.8.1 manifests/base/crds/kubeflow.org_pytorchjobs.yaml)"
  "$(module_crd github.com/kubeflow/training-operator@v1.8.1 manifests/base/crds/kubeflow.org_tfjobs.yaml)"
  "$(module_crd github.com/ray-project/kuberay/ray-operator@v1.5.0 config/crd/bases/ray.io_rayjobs.yaml)"
  "$(module_crd sigs.k8s.io/jobset@v0.8.0 config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml)"
)

install_crds
# create, not apply: the RayJob CRD is larger than the last-applied annotation allows.
for crd in "${crds[@]}"; do kc create -f "$crd" >/dev/null; done
established() {
  local crd
  for crd in pytorchjobs.kubeflow.org tfjobs.kubeflow.org rayjobs.ray.io jobsets.jobset.x-k8s.io; do
    [[ $(jp crd "$crd" '{.status.conditions[?(@.type=="Established")].status}') == True ]] || return 1
  done
}
wait_for "the four CRDs to be established" 60 established ||
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
  ! grep 'workload kind not watched' "$OPERATOR_LOG"
}
check "the operator watches the four kinds the cluster serves" watched

gpu_job seed "$NS" 1 600s "{team: a}" | kc apply -f - >/dev/null
held() {
  wait_for "team-a to hold new work" 90 bash -c \
    "[[ \$(kubectl get computebudget team-a -o jsonpath='{.status.admission.holdNewWork}') == true ]]"
}
check "team-a holds new work after its seed Job spent half its limit" held

# pytorchjob NAME TEAM — 1 master and 2 workers of 1 GPU; no spec.runPolicy.
pytorchjob() {
  local template
  template="{metadata: {labels: {team: $2}}, spec: {terminationGracePeriodSeconds: 1, containers: [{name: pytorch, image: registry.invalid/bursar/fake-trainer:1, resources: {limits: {nvidia.com/gpu: \"1\"}}}]}}"
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
        spec: {terminationGracePeriodSeconds: 1, containers: [{name: head, image: registry.invalid/bursar/ray:1}]}
    workerGroupSpecs:
      - groupName: gpu
        replicas: 2
        rayStartParams: {}
        template:
          metadata: {labels: {team: $2}}
          spec: {terminationGracePeriodSeconds: 1, containers: [{name: worker, image: registry.invalid/bursar/ray:1, resources: {limits: {nvidia.com/gpu: "1"}}}]}
YAML
}

# tfjob NAME TEAM — 2 workers of 1 GPU, with a spec.runPolicy of its own.
tfjob() {
  cat <<YAML
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: $1, namespace: $NS}
spec:
  runPolicy: {cleanPodPolicy: None}
  tfReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: Never
      template:
        metadata: {labels: {team: $2}}
        spec: {terminationGracePeriodSeconds: 1, containers: [{name: tensorflow, image: registry.invalid/bursar/fake-trainer:1, resources: {limits: {nvidia.com/gpu: "1"}}}]}
YAML
}

# jobset NAME TEAM — 2 replicated Jobs of 2 pods of 1 GPU.
jobset() {
  cat <<YAML
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata: {name: $1, namespace: $NS}
spec:
  replicatedJobs:
    - name: workers
      replicas: 2
      template:
        spec:
          parallelism: 2
          completions: 2
          template:
            metadata: {labels: {team: $2}}
            spec:
              restartPolicy: Never
              terminationGracePeriodSeconds: 1
              containers: [{name: train, image: registry.invalid/bursar/fake-trainer:1, resources: {limits: {nvidia.com/gpu: "1"}}}]
YAML
}

# stored KIND NAME PATH — "<suspend>/<held-by>/<generation>" of a stored object.
stored() { jp "$1" "$2" "{$3}/{.metadata.annotations.bursar\.dev/held-by}/{.metadata.generation}" "$NS"; }

created_suspended() {
  local kind name path got ok=0
  pytorchjob ft a >"$WORK/ft.yaml"
  tfjob tf a >"$WORK/tf.yaml"
  rayjob sweep a >"$WORK/sweep.yaml"
  jobset js a >"$WORK/js.yaml"
  for name in ft tf sweep js; do
    kc create -f "$WORK/$name.yaml" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out"; return 1; }
    grep -q 'created suspended' "$WORK/$name.out" || { cat "$WORK/$name.out"; ok=1; }
  done
  for kind in pytorchjob/ft/.spec.runPolicy.suspend tfjob/tf/.spec.runPolicy.suspend \
    rayjob/sweep/.spec.suspend jobset/js/.spec.suspend; do
    IFS=/ read -r kind name path <<<"$kind"
    got=$(stored "$kind" "$name" "$path")
    echo "$kind $name: $path/held-by/generation = $got"
    [[ $got == true/team-a/1 ]] || ok=1
  done
  return $ok
}
check "a PyTorchJob, a TFJob, a RayJob and a JobSet created in the held budget are stored suspended at their own paths" created_suspended

others_left_alone() {
  pytorchjob free b | kc create -f - >"$WORK/free.out" 2>&1 || { cat "$WORK/free.out"; return 1; }
  [[ -z $(jp pytorchjob free '{.spec.runPolicy.suspend}{.metadata.annotations}' "$NS") ]]
}
check "a PyTorchJob no budget pays for is left as created" others_left_alone

# suspended_all — the four stored objects' suspend fields, one line.
suspended_all() {
  echo "$(jp pytorchjob ft '{.spec.runPolicy.suspend}' "$NS") $(jp tfjob tf '{.spec.runPolicy.suspend}' "$NS")" \
    "$(jp rayjob sweep '{.spec.suspend}' "$NS") $(jp jobset js '{.spec.suspend}' "$NS")"
}
stays_held() {
  sleep 4 # a few 1 s passes: a wrong release would show by now
  [[ $(suspended_all) == "true true true true" ]]
}
check "they stay suspended while the budget holds" stays_held

kc patch computebudget team-a --type merge -p '{"spec":{"limit":{"amount":"100000"}}}' >/dev/null
all_resumed() { [[ $(suspended_all) == "false false false false" ]]; }
release_events() {
  [[ $(kc get events -n "$NS" --field-selector reason=BursarRelease \
    -o jsonpath='{range .items[*]}{.involvedObject.kind}{"\n"}{end}' | sort -u | tr '\n' ' ') == \
    "JobSet PyTorchJob RayJob TFJob " ]]
}
released() {
  wait_for "the four to be resumed" 60 all_resumed || { suspended_all; return 1; }
  local annotations
  annotations=$(jp pytorchjob ft '{.metadata.annotations}' "$NS")$(jp tfjob tf '{.metadata.annotations}' "$NS")
  annotations+=$(jp rayjob sweep '{.metadata.annotations}' "$NS")$(jp jobset js '{.metadata.annotations}' "$NS")
  echo "annotations left: ${annotations:-none}"
  [[ $annotations != *bursar.dev/held* ]] || return 1
  wait_for "a BursarRelease Event on each" 30 release_events
}
check "once the limit is raised, the operator resumes each at its own path, with an Event each" released

status_still_written() {
  # Released with pacing None: the allowance limits nothing now, and the status says so.
  wait_for "team-a to admit again" 30 bash -c \
    "[[ \$(kubectl get computebudget team-a -o jsonpath='{.status.admission.holdNewWork}') == false ]]" || return 1
  local ready allowed
  ready=$(jp computebudget team-a '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')
  allowed=$(jp computebudget team-a '{.status.admission.allowed}')
  echo "Ready: $ready; status.admission.allowed: ${allowed:-absent}"
  [[ $ready == True/* && -z $allowed ]] && ! grep -q 'admission.allowed in body must be of type object' "$OPERATOR_LOG"
}
check "the budget's status is still written once its allowance limits nothing" status_still_written
finish
