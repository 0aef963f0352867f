#!/usr/bin/env bash
# Starts a throwaway Kubernetes control plane on loopback for Bursar's integration tests, like
# controller-runtime's envtest: etcd and kube-apiserver, optionally kube-scheduler,
# kube-controller-manager and kwok (simulated nodes). Ports are free loopback ports picked by the
# kernel; certificates are generated afresh for every cluster. Nothing listens on or dials a
# non-loopback address (the service range and kwok's pod IPs are data only).
#
# Usage: up.sh DIR [--with-scheduler] [--with-controller-manager] [--with-kwok] [--with-all]
#
# Writes into DIR (created if missing; stop and remove it with down.sh DIR):
#   kubeconfig   admin (system:masters) client certificate, server verified with the test CA
#   env          `export NAME=value` lines: KUBECONFIG, BURSAR_TEST_APISERVER, certificate and
#                token paths, kubectl/helm, every port and PID (see docs/testing.md)
#   pids         "name pid executable" per started process, read by down.sh
#   logs/*.log   one log per component
#   pki/         CA, serving, client, front-proxy and service-account keys
# Environment: BURSAR_CLUSTER_TIMEOUT (seconds each component may take to become ready,
# default 90), BURSAR_CACHE (binaries, see build.sh), BURSAR_APISERVER_EXTRA_ARGS (extra
# kube-apiserver flags, split on spaces, e.g. --feature-gates=WatchList=false).
set -euo pipefail
SCRIPT_NAME=cluster/up
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=${BURSAR_CLUSTER_TIMEOUT:-90}
# Bind races (a port taken between picking and binding it) are retried with new ports.
MAX_ATTEMPTS=3

usage() {
  sed -n 's/^# \{0,1\}//; /^Usage:/,/^$/p' "${BASH_SOURCE[0]}" | sed '/^$/d' >&2
  exit 2
}

with_scheduler=false with_controller_manager=false with_kwok=false dir=""
while (($# > 0)); do
  case $1 in
    --with-scheduler) with_scheduler=true ;;
    --with-controller-manager) with_controller_manager=true ;;
    --with-kwok) with_kwok=true ;;
    --with-all) with_scheduler=true with_controller_manager=true with_kwok=true ;;
    -h | --help) usage ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z $dir ]] || die "only one DIR may be given (got '$dir' and '$1')"
      dir=$1
      ;;
  esac
  shift
done
[[ -n $dir ]] || usage

require_tools openssl python3 curl setsid base64
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [[ -s $dir/pids ]]; then
  die "$dir already holds a cluster (pids file present): run tests/cluster/down.sh $dir first"
fi
# down.sh deletes DIR, so take only a new, empty or earlier test-cluster folder, and mark it.
if [[ ! -f $dir/.bursar-test-cluster && -n $(ls -A "$dir") ]]; then
  die "$dir is not empty: give up.sh a new or empty folder (down.sh deletes it afterwards)"
fi
touch "$dir/.bursar-test-cluster"
mkdir -p "$dir/logs" "$dir/pki" "$dir/data"

components=(etcd kubernetes kubectl)
if $with_kwok; then components+=(kwok); fi
"$CLUSTER_SCRIPTS_DIR/build.sh" "${components[@]}"

PKI=$dir/pki
KUBECONFIG_FILE=$dir/kubeconfig

# ---------------------------------------------------------------------------------------------
# Certificates: a serving CA (apiserver and the components' HTTPS endpoints), a client CA (admin),
# a front-proxy CA (aggregated APIs such as metrics.k8s.io) and the service-account key pair.

openssl_log=$dir/logs/openssl.log

new_ec_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>>"$openssl_log"
}

# new_ca NAME COMMON_NAME
new_ca() {
  local name=$1 cn=$2
  cat >"$PKI/$name.cnf" <<EOF
[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = $cn
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
EOF
  new_ec_key "$PKI/$name.key"
  openssl req -x509 -new -key "$PKI/$name.key" -config "$PKI/$name.cnf" -days 30 \
    -out "$PKI/$name.crt" 2>>"$openssl_log"
}

# new_cert NAME CA SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAME]
new_cert() {
  local name=$1 ca=$2 subject=$3 eku=$4 san=${5:-}
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = $eku"
    echo "authorityKeyIdentifier = keyid"
    if [[ -n $san ]]; then echo "subjectAltName = $san"; fi
  } >"$PKI/$name.ext"
  new_ec_key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>>"$openssl_log"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$PKI/$name.ext" \
    -out "$PKI/$name.crt" 2>>"$openssl_log"
  rm -f "$PKI/$name.csr"
}

generate_pki() {
  (
    umask 077
    new_ca ca "bursar-test-ca"
    new_cert serving ca "/CN=kube-apiserver" serverAuth "IP:127.0.0.1, DNS:localhost"
    new_ca client-ca "bursar-test-client-ca"
    new_cert admin client-ca "/O=system:masters/CN=admin" clientAuth
    new_ca front-proxy-ca "bursar-test-front-proxy-ca"
    new_cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
    # metrics-server's serving certificate (metrics-server.sh): the aggregator verifies it as
    # <service>.<namespace>.svc whatever address it dials.
    new_cert metrics-server ca "/CN=metrics-server" serverAuth \
      "DNS:metrics-server.kube-system.svc, DNS:localhost, IP:127.0.0.1"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>>"$openssl_log"
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>>"$openssl_log"
    # A static admin token too, for clients that prefer a bearer token to a client certificate.
    openssl rand -hex 32 >"$PKI/admin.token"
    printf '%s,admin,admin,"system:masters"\n' "$(cat "$PKI/admin.token")" >"$PKI/tokens.csv"
  ) || {
    tail_log "$openssl_log"
    die "generating certificates with openssl failed"
  }
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() {
  local server=$1
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bursar-test
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: bursar-test
  context:
    cluster: bursar-test
    user: admin
current-context: bursar-test
EOF
  chmod 0600 "$KUBECONFIG_FILE"
}

# ---------------------------------------------------------------------------------------------
# Processes

declare -A PID=()

# start NAME EXECUTABLE ARGS... — runs it in its own session (so a terminal's Ctrl-C reaches only
# with-cluster.sh, which then tears down in order) and records its PID at once, so down.sh can
# stop it even if this script fails half-way.
start() {
  local name=$1 exe=$2
  shift 2
  setsid "$exe" "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
  PID[$name]=$!
  printf '%s %d %s\n' "$name" "${PID[$name]}" "$exe" >>"$dir/pids"
  # The command line, NUL-separated, so restart.sh can start the same process again.
  mkdir -p "$dir/cmd"
  printf '%s\0' "$exe" "$@" >"$dir/cmd/$name"
}

# wait_ready NAME URL [CURL_ARGS...] — polls URL until it answers 2xx. Fails (returns 1) when the
# process exits or TIMEOUT passes, after printing the end of its log.
wait_ready() {
  local name=$1 url=$2 why
  shift 2
  why=$(wait_for --every 0.2 --pid "${PID[$name]}" "$name to become ready ($url)" "$TIMEOUT" \
    curl --silent --fail --noproxy '*' --max-time 2 "$@" "$url") && return 0
  log "$why"
  tail_log "$dir/logs/$name.log"
  return 1
}

# tls_args: curl arguments that verify the serving CA and present the admin certificate.
tls_args=()

# Runs as an `until` condition, where `set -e` is ignored: every step that can fail says so.
start_control_plane() {
  local ports line
  line=$(free_ports 6) || return 1
  read -r -a ports <<<"$line"
  ETCD_PORT=${ports[0]} ETCD_PEER_PORT=${ports[1]} APISERVER_PORT=${ports[2]}
  SCHEDULER_PORT=${ports[3]} CONTROLLER_MANAGER_PORT=${ports[4]} KWOK_PORT=${ports[5]}
  APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
  write_kubeconfig "$APISERVER_URL" || return 1

  rm -rf "$dir/data/etcd"
  start etcd "$ETCD_DIR/etcd" \
    --name=bursar-test \
    --data-dir="$dir/data/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="bursar-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync
  wait_ready etcd "http://127.0.0.1:$ETCD_PORT/health" || return 1

  # shellcheck disable=SC2086  # the extra flags are split on spaces on purpose
  start kube-apiserver "$KUBE_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$PKI/apiserver" \
    --tls-cert-file="$PKI/serving.crt" \
    --tls-private-key-file="$PKI/serving.key" \
    --client-ca-file="$PKI/client-ca.crt" \
    --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=RBAC \
    --service-cluster-ip-range=10.0.0.0/24 \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --disable-admission-plugins=ServiceAccount \
    --service-account-issuer="$APISERVER_URL" \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --profiling=false \
    ${BURSAR_APISERVER_EXTRA_ARGS:-}
  tls_args=(--cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key")
  wait_ready kube-apiserver "$APISERVER_URL/readyz" "${tls_args[@]}" || return 1
  # /readyz can pass a moment before the system namespaces exist; tests create things in default.
  wait_ready kube-apiserver "$APISERVER_URL/api/v1/namespaces/default" "${tls_args[@]}" || return 1

  if $with_scheduler; then
    start kube-scheduler "$KUBE_DIR/kube-scheduler" \
      --kubeconfig="$KUBECONFIG_FILE" \
      --authentication-kubeconfig="$KUBECONFIG_FILE" \
      --authorization-kubeconfig="$KUBECONFIG_FILE" \
      --leader-elect=false \
      --bind-address=127.0.0.1 \
      --secure-port="$SCHEDULER_PORT" \
      --tls-cert-file="$PKI/serving.crt" \
      --tls-private-key-file="$PKI/serving.key"
  fi
  if $with_controller_manager; then
    start kube-controller-manager "$KUBE_DIR/kube-controller-manager" \
      --kubeconfig="$KUBECONFIG_FILE" \
      --authentication-kubeconfig="$KUBECONFIG_FILE" \
      --authorization-kubeconfig="$KUBECONFIG_FILE" \
      --leader-elect=false \
      --bind-address=127.0.0.1 \
      --secure-port="$CONTROLLER_MANAGER_PORT" \
      --tls-cert-file="$PKI/serving.crt" \
      --tls-private-key-file="$PKI/serving.key" \
      --service-account-private-key-file="$PKI/sa.key" \
      --root-ca-file="$PKI/ca.crt" \
      --use-service-account-credentials=false
  fi
  if $with_kwok; then
    # --config once per Stage file; manages only Nodes annotated kwok.x-k8s.io/node=fake; keeps
    # node Leases (without them heartbeats come every ~55 s, past the controller-manager's 50 s
    # grace, and nodes flap NotReady, restarting pods' Stage delays). Pod IPs
    # come from --cidr, kept apart from the service range; both are data only. Its server
    # (healthz, kubelet-style resource metrics) starts once its controllers run.
    local stage_args=() stage
    # Our own Stages (tests/cluster/stages) replace the cached ones of the same file name.
    for stage in "$KWOK_DIR"/stages/*.yaml; do
      [[ -f $CLUSTER_SCRIPTS_DIR/stages/${stage##*/} ]] || stage_args+=("--config=$stage")
    done
    for stage in "$CLUSTER_SCRIPTS_DIR"/stages/*.yaml; do stage_args+=("--config=$stage"); done
    # kwok's emulated kubelet /metrics/resource (pod usage from the kwok.x-k8s.io/usage-cpu and
    # -memory annotations), served at /metrics/nodes/<node>/metrics/resource for metrics-server.
    for stage in "$KWOK_DIR"/metrics/*.yaml; do stage_args+=("--config=$stage"); done
    start kwok "$KWOK_DIR/kwok" \
      --kubeconfig="$KUBECONFIG_FILE" \
      --manage-all-nodes=false \
      --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --node-lease-duration-seconds=40 \
      --node-ip=127.0.0.1 \
      --cidr=10.244.0.0/16 \
      --server-address="127.0.0.1:$KWOK_PORT" \
      --tls-cert-file="$PKI/serving.crt" \
      --tls-private-key-file="$PKI/serving.key" \
      "${stage_args[@]}"
  fi
  if $with_scheduler; then
    wait_ready kube-scheduler "https://127.0.0.1:$SCHEDULER_PORT/healthz" \
      --cacert "$PKI/ca.crt" || return 1
  fi
  if $with_controller_manager; then
    wait_ready kube-controller-manager "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz" \
      --cacert "$PKI/ca.crt" || return 1
  fi
  if $with_kwok; then
    wait_ready kwok "https://127.0.0.1:$KWOK_PORT/healthz" --cacert "$PKI/ca.crt" || return 1
  fi
}

# "etcd kube-apiserver …" in the order they were started.
started_components() { cut -d' ' -f1 "$dir/pids" | paste -sd' ' -; }

write_env() {
  local name
  {
    printf 'export %s=%q\n' \
      KUBECONFIG "$KUBECONFIG_FILE" \
      BURSAR_TEST_CLUSTER_DIR "$dir" \
      BURSAR_TEST_APISERVER "$APISERVER_URL" \
      BURSAR_TEST_CA_FILE "$PKI/ca.crt" \
      BURSAR_TEST_CLIENT_CERT_FILE "$PKI/admin.crt" \
      BURSAR_TEST_CLIENT_KEY_FILE "$PKI/admin.key" \
      BURSAR_TEST_TOKEN_FILE "$PKI/admin.token" \
      BURSAR_TEST_BIN_PATH "$KUBECTL_DIR" \
      BURSAR_TEST_KUBECTL "$KUBECTL_DIR/kubectl" \
      BURSAR_TEST_HELM "$KUBECTL_DIR/helm" \
      BURSAR_TEST_KUBE_VERSION "$KUBE_VERSION" \
      BURSAR_TEST_ETCD_URL "http://127.0.0.1:$ETCD_PORT" \
      BURSAR_TEST_ETCD_PORT "$ETCD_PORT" \
      BURSAR_TEST_ETCD_PEER_PORT "$ETCD_PEER_PORT" \
      BURSAR_TEST_APISERVER_PORT "$APISERVER_PORT"
    $with_scheduler && printf 'export %s=%q\n' BURSAR_TEST_SCHEDULER_PORT "$SCHEDULER_PORT"
    $with_controller_manager &&
      printf 'export %s=%q\n' BURSAR_TEST_CONTROLLER_MANAGER_PORT "$CONTROLLER_MANAGER_PORT"
    $with_kwok && printf 'export %s=%q\n' BURSAR_TEST_KWOK_PORT "$KWOK_PORT"
    for name in "${!PID[@]}"; do
      local var=${name^^}
      var=${var//-/_}
      printf 'export BURSAR_TEST_%s_PID=%d\n' "${var#KUBE_}" "${PID[$name]}"
    done
    printf 'export %s=%q\n' BURSAR_TEST_COMPONENTS "$(started_components)"
  } >"$dir/env"
}

# Stops whatever a failed attempt started; keeps DIR and its logs.
stop_started() {
  "$CLUSTER_SCRIPTS_DIR/down.sh" --keep-dir "$dir" || true
  PID=()
}

trap 'log "interrupted"; stop_started; exit 130' INT TERM

start_time=$SECONDS
generate_pki
attempt=1
until start_control_plane; do
  stop_started
  if ((attempt < MAX_ATTEMPTS)) && grep -qs 'address already in use' "$dir"/logs/*.log; then
    log "a port was taken meanwhile; retrying with new ports" \
      "(attempt $((attempt + 1)) of $MAX_ATTEMPTS)"
    mkdir -p "$dir/logs/attempt-$attempt"
    find "$dir/logs" -maxdepth 1 -name '*.log' ! -name openssl.log \
      -exec mv {} "$dir/logs/attempt-$attempt/" \;
    attempt=$((attempt + 1))
    continue
  fi
  die "the test cluster did not come up (logs in $dir/logs; remove with tests/cluster/down.sh $dir)"
done
trap - INT TERM
write_env
log "ready in $(format_duration $((SECONDS - start_time))): $APISERVER_URL" \
  "($(started_components)); use: source $dir/env"
