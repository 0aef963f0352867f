#!/usr/bin/env bash
# End-to-end check that the test cluster does what Bursar's tests rely on: the stamped version,
# Bursar's CRDs and examples, a kwok fake GPU node that becomes Ready, a GPU pod that the
# scheduler binds and kwok runs, a Job that kube-controller-manager completes and whose pods the
# garbage collector removes. Needs a cluster with every component:
#
#   tests/cluster/with-cluster.sh --with-all -- tests/cluster/smoke-test.sh
#
# Prints one line per check and "N passed, N failed" last; exits 1 if any check failed.
set -euo pipefail
SCRIPT_NAME=cluster/smoke-test
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${KUBECONFIG:?run this through tests/cluster/with-cluster.sh --with-all (KUBECONFIG is unset)}"
REPO=$(cd "$CLUSTER_SCRIPTS_DIR/../.." && pwd)
FIXTURES=$CLUSTER_SCRIPTS_DIR/fixtures
KUBECTL=${BURSAR_TEST_KUBECTL:-kubectl}
WAIT=${BURSAR_SMOKE_TIMEOUT:-90s}

passed=0 failed=0

kc() { "$KUBECTL" "$@"; }

version_is_stamped() {
  local got
  got=$(kc get --raw /version |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])') || return 1
  [[ $got == "$KUBE_VERSION" ]] || {
    echo "/version says $got, expected $KUBE_VERSION"
    return 1
  }
}

crds_are_established() {
  kc apply -f "$REPO/crds/" || return 1
  kc wait --for=condition=Established --timeout="$WAIT" -f "$REPO/crds/" || return 1
  kc get crds || return 1
}

examples_are_accepted() {
  kc apply -f "$REPO/examples/pricebooks/" -f "$REPO/examples/pools/" \
    -f "$REPO/examples/budgets/" || return 1
}

fake_gpu_node_is_ready() {
  local gpus
  kc apply -f "$FIXTURES/fake-gpu-node.yaml" || return 1
  kc wait --for=condition=Ready --timeout="$WAIT" node/kwok-gpu-0 || return 1
  gpus=$(kc get node kwok-gpu-0 -o jsonpath='{.status.allocatable.nvidia\.com/gpu}') || return 1
  [[ $gpus == 8 ]] || {
    echo "allocatable nvidia.com/gpu is '$gpus', expected 8"
    return 1
  }
}

gpu_pod_runs_on_fake_node() {
  local node
  kc apply -f "$FIXTURES/gpu-pod.yaml" || return 1
  kc wait --for=jsonpath='{.status.phase}'=Running --timeout="$WAIT" pod/gpu-pod || return 1
  node=$(kc get pod gpu-pod -o jsonpath='{.spec.nodeName}') || return 1
  [[ $node == kwok-gpu-0 ]] || {
    echo "gpu-pod runs on '$node', expected kwok-gpu-0"
    return 1
  }
}

job_completes_and_is_collected() {
  kc apply -f "$FIXTURES/gpu-job.yaml" || return 1
  kc wait --for=condition=Complete --timeout="$WAIT" job/gpu-job || return 1
  [[ -n $(kc get pods -l job-name=gpu-job -o name) ]] || {
    echo "the completed Job has no pods"
    return 1
  }
  # Background propagation: the garbage collector deletes the pods after the Job is gone.
  kc delete job gpu-job --cascade=background --wait=true || return 1
  kc wait --for=delete --timeout="$WAIT" pod -l job-name=gpu-job || return 1
}

check "apiserver /version is $KUBE_VERSION" version_is_stamped
check "Bursar CRDs apply and become Established" crds_are_established
check "example PriceBook, GPUNodePools and ComputeBudgets are accepted" examples_are_accepted
check "kwok fake GPU node becomes Ready with nvidia.com/gpu: 8" fake_gpu_node_is_ready
check "a pod requesting nvidia.com/gpu is scheduled and Running" gpu_pod_runs_on_fake_node
check "a GPU Job completes and GC removes its pods" job_completes_and_is_collected

echo "$passed passed, $failed failed"
((failed == 0))
