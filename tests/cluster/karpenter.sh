#!/usr/bin/env bash
# The real Karpenter (sigs.k8s.io/karpenter, KARPENTER_VERSION in versions.sh) for the tests:
# its kwok cloud provider (the module's kwok/ main: Karpenter's own provisioning, disruption and
# NodeClaim lifecycle controllers, with a "cloud" that creates Node objects), built once by
# build.sh, run out of cluster against the test control plane; its CRDs from the Go module cache.
#
# Usage: karpenter.sh crds    prints the folder of Karpenter's CRDs in the module cache
#                             (pkg/apis/crds: NodePool, NodeClaim, NodeOverlay; downloads the
#                             module into GOMODCACHE when it is missing; nothing is copied)
#        karpenter.sh start   inside tests/cluster/with-cluster.sh --with-all: installs the CRDs
#                             and the KWOKNodeClass CRD (kwok/apis/crds), starts the controller,
#                             waits until its /readyz answers
#
# What it takes out of cluster (checked with v1.8.0):
# - KUBECONFIG in the environment (controller-runtime's loader); no webhooks (Karpenter v1 has
#   none; conversion is served by the CRDs' single stored version), so nothing to serve.
# - DISABLE_LEADER_ELECTION=true (one replica; otherwise it takes a Lease in the namespace it
#   cannot infer outside a pod).
# - METRICS_PORT and HEALTH_PROBE_PORT: Karpenter binds ":<port>" (every interface; there is no
#   address option). Free ports are picked; the tests only dial 127.0.0.1.
# - INSTANCE_TYPES_FILE_PATH: the embedded instance types have no GPUs; the tests use
#   BURSAR_TEST_KARPENTER_INSTANCE_TYPES, by default tests/cluster/fixtures/
#   karpenter-gpu-instance-types.json (one 2-GPU type, data written for these tests).
# - The kwok controller of the test cluster keeps the nodes Ready: Karpenter's kwok provider
#   creates each Node with the annotation kwok.x-k8s.io/node=fake (which up.sh's kwok manages)
#   and without a kubelet nothing else would report it Ready; NodeClaims initialise only once
#   their Node is Ready.
# - BATCH_IDLE_DURATION / BATCH_MAX_DURATION shortened (1 s / 3 s) so scenarios stay short.
# `start` records the process in the cluster's pids file (down.sh stops it); its log is
# logs/karpenter.log; it writes BURSAR_TEST_CLUSTER_DIR/karpenter.env.
set -euo pipefail
SCRIPT_NAME=cluster/karpenter
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=${BURSAR_CLUSTER_TIMEOUT:-90}

module_dir() {
  go_module_dir sigs.k8s.io/karpenter "$KARPENTER_VERSION"
}

crds_dir() {
  local dir
  dir=$(module_dir)/pkg/apis/crds
  [[ -f $dir/karpenter.sh_nodepools.yaml ]] || die "no Karpenter CRDs in $dir"
  echo "$dir"
}

start() {
  : "${BURSAR_TEST_CLUSTER_DIR:?run this inside tests/cluster/with-cluster.sh}"
  local dir=$BURSAR_TEST_CLUSTER_DIR module crds kwok_crd instance_types metrics_port health_port
  local pid why
  instance_types=${BURSAR_TEST_KARPENTER_INSTANCE_TYPES:-$CLUSTER_SCRIPTS_DIR/fixtures/karpenter-gpu-instance-types.json}
  [[ -r $instance_types ]] || die "cannot read the instance types file $instance_types"
  "$CLUSTER_SCRIPTS_DIR/build.sh" karpenter
  module=$(module_dir)
  crds=$(crds_dir)
  kwok_crd=$module/kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml
  [[ -f $kwok_crd ]] || die "no KWOKNodeClass CRD at $kwok_crd"
  kubectl apply --server-side -f "$crds" -f "$kwok_crd" >"$dir/logs/karpenter-install.log" 2>&1 || {
    tail_log "$dir/logs/karpenter-install.log"
    die "installing Karpenter's CRDs failed"
  }
  kubectl wait --for=condition=Established --timeout=60s -f "$crds" -f "$kwok_crd" >/dev/null ||
    die "Karpenter's CRDs were not established"
  read -r metrics_port health_port < <(free_ports 2)
  KUBECONFIG=$KUBECONFIG DISABLE_LEADER_ELECTION=true METRICS_PORT=$metrics_port \
    HEALTH_PROBE_PORT=$health_port INSTANCE_TYPES_FILE_PATH=$instance_types LOG_LEVEL=debug \
    BATCH_IDLE_DURATION=1s BATCH_MAX_DURATION=3s \
    setsid "$KARPENTER_DIR/karpenter" </dev/null >"$dir/logs/karpenter.log" 2>&1 &
  pid=$!
  printf '%s %d %s\n' karpenter "$pid" "$KARPENTER_DIR/karpenter" >>"$dir/pids"
  why=$(wait_for --every 0.5 --pid "$pid" "Karpenter's /readyz" "$TIMEOUT" \
    curl --silent --fail --noproxy '*' --max-time 2 "http://127.0.0.1:$health_port/readyz") || {
    log "$why"
    tail_log "$dir/logs/karpenter.log"
    die "Karpenter did not become ready"
  }
  printf 'export BURSAR_TEST_KARPENTER_PID=%d BURSAR_TEST_KARPENTER_METRICS_PORT=%d\n' "$pid" \
    "$metrics_port" >"$dir/karpenter.env"
  log "Karpenter $KARPENTER_VERSION running (pid $pid, log $dir/logs/karpenter.log)"
}

case ${1:-} in
  crds) crds_dir ;;
  start) start ;;
  *) die "usage: karpenter.sh crds|start" ;;
esac
