#!/usr/bin/env bash
# The real metrics-server (sigs.k8s.io/metrics-server, METRICS_SERVER_VERSION in versions.sh) for
# the tests: built once by build.sh, run out of cluster against the test control plane, scraping
# kwok's emulated kubelet resource metrics and serving metrics.k8s.io through the apiserver's
# aggregation layer. Everything stays on 127.0.0.1.
#
# Usage: metrics-server.sh build    builds it into the cache (build.sh metrics-server)
#        metrics-server.sh start    inside tests/cluster/with-cluster.sh --with-kwok (or
#                                   --with-all): starts metrics-server, registers the APIService
#                                   v1beta1.metrics.k8s.io, waits until the aggregator calls it
#                                   Available
#        metrics-server.sh with [--] COMMAND...
#                                   the same, then runs COMMAND with BURSAR_TEST_METRICS_SERVER_PORT
#                                   and _PID exported; exits with its status
#        metrics-server.sh --help
#
# The wiring (docs/testing.md, "The metrics pipeline"):
#   pod annotations kwok.x-k8s.io/usage-cpu / -memory
#     → kwok (up.sh gives it kwok's Metric and ClusterResourceUsage documents) serves
#       https://127.0.0.1:<kwok port>/metrics/nodes/<node>/metrics/resource
#     → metrics-server dials each Node's InternalIP (kwok sets 127.0.0.1) at kwok's port, on the
#       path in the Node's annotation metrics.k8s.io/resource-metrics-path (Nodes without it are
#       scraped at /metrics/resource, which kwok does not serve: their pods get no metrics),
#       verifying kwok's serving certificate with the cluster CA
#     → kube-apiserver's aggregator proxies /apis/metrics.k8s.io/v1beta1 to the Service
#       kube-system/metrics-server, an ExternalName for localhost (the aggregator dials an
#       ExternalName Service at its name and the APIService's port; it would dial a ClusterIP
#       Service at its cluster IP, which is data here), and verifies metrics-server's
#       certificate as metrics-server.kube-system.svc against the APIService's caBundle
#     → metrics-server authenticates the aggregator's front-proxy headers (up.sh's front-proxy
#       CA) and authorises the user with a SubjectAccessReview.
# metrics-server scrapes every 10 s (its minimum); a pod appears in metrics.k8s.io after two
# scrapes of a Running pod, 10-20 s after it starts.
#
# `start` records the process in the cluster's pids file, so down.sh stops it with the rest; its
# log is logs/metrics-server.log. It exports nothing: the caller may source
# BURSAR_TEST_CLUSTER_DIR/metrics-server.env (BURSAR_TEST_METRICS_SERVER_PORT, _PID).
set -euo pipefail
SCRIPT_NAME=cluster/metrics-server
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=${BURSAR_CLUSTER_TIMEOUT:-90}
SERVICE_NAMESPACE=kube-system
SERVICE_NAME=metrics-server
API_SERVICE=v1beta1.metrics.k8s.io
# The path on which kwok serves a node's kubelet resource metrics (kwok's Metric document).
NODE_METRICS_PATH_ANNOTATION=metrics.k8s.io/resource-metrics-path

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# manifests PORT — the ExternalName Service and the APIService that send metrics.k8s.io to
# 127.0.0.1:PORT.
manifests() {
  local port=$1
  cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $SERVICE_NAME, namespace: $SERVICE_NAMESPACE}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: $port, protocol: TCP}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: $API_SERVICE}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {namespace: $SERVICE_NAMESPACE, name: $SERVICE_NAME, port: $port}
  caBundle: $(base64 -w0 <"$BURSAR_TEST_CLUSTER_DIR/pki/ca.crt")
EOF
}

# fail_start WHY — prints WHY and the end of the log, then exits 1.
fail_start() {
  log "$1"
  tail_log "$BURSAR_TEST_CLUSTER_DIR/logs/metrics-server.log"
  die "metrics-server did not start (log: $BURSAR_TEST_CLUSTER_DIR/logs/metrics-server.log)"
}

start() {
  : "${BURSAR_TEST_CLUSTER_DIR:?run this inside tests/cluster/with-cluster.sh --with-kwok}"
  : "${BURSAR_TEST_KWOK_PORT:?metrics-server scrapes kwok: start the cluster --with-kwok or --with-all}"
  local dir=$BURSAR_TEST_CLUSTER_DIR pki=$BURSAR_TEST_CLUSTER_DIR/pki port pid why t0=$SECONDS
  "$CLUSTER_SCRIPTS_DIR/build.sh" metrics-server
  [[ -s $pki/metrics-server.crt ]] ||
    die "$pki has no metrics-server.crt: the cluster was started by an older up.sh; restart it"
  port=$(python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  setsid "$METRICS_SERVER_DIR/metrics-server" \
    --kubeconfig="$KUBECONFIG" \
    --authentication-kubeconfig="$KUBECONFIG" \
    --authorization-kubeconfig="$KUBECONFIG" \
    --bind-address=127.0.0.1 \
    --secure-port="$port" \
    --tls-cert-file="$pki/metrics-server.crt" \
    --tls-private-key-file="$pki/metrics-server.key" \
    --kubelet-port="$BURSAR_TEST_KWOK_PORT" \
    --kubelet-preferred-address-types=InternalIP \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-request-timeout=5s \
    --metric-resolution=10s \
    </dev/null >"$dir/logs/metrics-server.log" 2>&1 &
  pid=$!
  printf '%s %d %s\n' metrics-server "$pid" "$METRICS_SERVER_DIR/metrics-server" >>"$dir/pids"
  why=$(wait_for --every 0.2 --pid "$pid" "metrics-server's /livez" "$TIMEOUT" \
    curl --silent --fail --noproxy '*' --max-time 2 --cacert "$pki/ca.crt" \
    "https://127.0.0.1:$port/livez") || fail_start "$why"
  manifests "$port" | kubectl apply -f - >"$dir/logs/metrics-server-install.log" 2>&1 || {
    tail_log "$dir/logs/metrics-server-install.log"
    die "registering the APIService $API_SERVICE failed"
  }
  # Available once the aggregator has fetched the group's discovery document through the Service.
  why=$(wait_for --every 0.2 --pid "$pid" "the APIService $API_SERVICE to be Available" "$TIMEOUT" \
    bash -c "[[ \$(kubectl get apiservice $API_SERVICE \
      -o jsonpath='{.status.conditions[?(@.type==\"Available\")].status}') == True ]]") || {
    kubectl get apiservice "$API_SERVICE" -o jsonpath='{.status.conditions}' >&2 || true
    fail_start "$why"
  }
  printf 'export %s=%q\n' BURSAR_TEST_METRICS_SERVER_PORT "$port" \
    BURSAR_TEST_METRICS_SERVER_PID "$pid" >"$dir/metrics-server.env"
  log "metrics-server $METRICS_SERVER_VERSION on 127.0.0.1:$port serves $API_SERVICE" \
    "(ready in $(format_duration $((SECONDS - t0)))); Nodes need the annotation" \
    "$NODE_METRICS_PATH_ANNOTATION=/metrics/nodes/<name>/metrics/resource"
}

case ${1:-} in
  build) "$CLUSTER_SCRIPTS_DIR/build.sh" metrics-server ;;
  start) start ;;
  with)
    shift
    [[ ${1:-} != -- ]] || shift
    (($# > 0)) || die "with: no command given"
    start
    # shellcheck source=/dev/null
    source "$BURSAR_TEST_CLUSTER_DIR/metrics-server.env"
    export BURSAR_TEST_METRICS_SERVER_PORT BURSAR_TEST_METRICS_SERVER_PID
    exec "$@"
    ;;
  -h | --help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
