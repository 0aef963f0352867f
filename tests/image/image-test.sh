#!/usr/bin/env bash
# The operator image that `make image` built (tools/build-image.sh), checked and run:
#   - umoci unpacks it; the oci-archive and the printed reference name the same manifest;
#   - its config: user 65532, entrypoint /bursar, the OCI annotations (version, revision,
#     source, created); its files: no shell, no package manager, /bursar is the tested binary
#     (same GNU build ID), every file owned by root; the size (under 60 MiB compressed);
#   - the Dockerfile's last stage gives the same contents (same rootfs script, packages, user,
#     entrypoint and labels): parsed, since no daemon is here to build it;
#   - `helm template -f DIR/helm-values.yaml` renders the reference the build printed, and
#     crane (tests/image/crane.sh) pushes the layout to a loopback registry under that digest;
#   - its tzdata: a budget in America/New_York simulates in the sandbox as on the host;
#   - the image's root filesystem alone (bubblewrap: read-only, uid 65532, no host files but the
#     mounts a pod would get: the ServiceAccount token, the chart's ConfigMap, the gRPC TLS
#     Secret and /tmp; the host's network, since the API server is on 127.0.0.1) runs the
#     chart's Deployment args with in-cluster config until a full reconcile with no RBAC denial
#     (tests/helm/reconcile-lib.sh, shared with tests/helm/helm-test.sh).
#
#   tests/cluster/with-cluster.sh -- tests/image/image-test.sh [IMAGE_DIR]   (make test-image)
#
# IMAGE_DIR is tools/build-image.sh's --out (default build/image). Settings: BURSAR_BIN (the
# binary the image should hold, default build/bursar), BURSAR_IMAGE_TEST_TIMEOUT (seconds to wait
# for the reconcile, default 60), BURSAR_IMAGE_TEST_KEEP (keep the scratch folder).
# Prints one line per check and "N passed, N failed" last; exits 1 if any check failed.
set -euo pipefail

: "${KUBECONFIG:?run this through tests/cluster/with-cluster.sh (KUBECONFIG is unset)}"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRIPT_NAME=image/image-test
# shellcheck source=tests/cluster/lib.sh
source "$REPO/tests/cluster/lib.sh" # check, log, die, make_grpc_tls
IMAGE=$(cd "${1:-$REPO/build/image}" 2>/dev/null && pwd) ||
  die "image folder ${1:-$REPO/build/image} is missing; build it with make image"
KUBECTL=${BURSAR_TEST_KUBECTL:-kubectl}
HELM=${BURSAR_TEST_HELM:-helm}
BURSAR=${BURSAR_BIN:-$REPO/build/bursar}
TIMEOUT=${BURSAR_IMAGE_TEST_TIMEOUT:-60}
MAX_MIB=60
require_tools "$KUBECTL" "$HELM" umoci bwrap python3 readelf curl
[[ -f $IMAGE/oci/index.json && -f $IMAGE/reference ]] ||
  die "$IMAGE holds no OCI layout and reference; build it with make image"
[[ -x $BURSAR ]] || die "$BURSAR is missing; build it (make build) or set BURSAR_BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bursar-image-test.XXXXXX")
export HELM_CACHE_HOME=$WORK/helm/cache HELM_CONFIG_HOME=$WORK/helm/config
export HELM_DATA_HOME=$WORK/helm/data
ROOTFS=$WORK/bundle/rootfs
# What the operator writes: the pod's /tmp (an emptyDir in the chart).
ADDRESS_FILE=$WORK/pod-tmp/addresses
OPERATOR_PID="" OPERATOR_SIGNAL_PID=""
cleanup() {
  if [[ -n $OPERATOR_PID ]]; then kill -TERM "$OPERATOR_SIGNAL_PID" "$OPERATOR_PID" 2>/dev/null || true; fi
  if [[ -n ${BURSAR_IMAGE_TEST_KEEP:-} ]]; then echo "image-test: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

passed=0 failed=0
started=$SECONDS
kc() { "$KUBECTL" "$@"; }
helm() { "$HELM" "$@"; }
# shellcheck source=tests/helm/reconcile-lib.sh
source "$REPO/tests/helm/reconcile-lib.sh" # chart_installs, operator_reconciles_with_chart_rbac

# The tag in the layout's index (tools/build-image.sh writes one).
TAG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' \
  "$IMAGE/oci/index.json") || die "$IMAGE/oci/index.json names no tag"
REFERENCE=$(<"$IMAGE/reference")

# ---------------------------------------------------------------------------------------------

image_unpacks() {
  local rootless=()
  if (($(id -u) != 0)); then rootless=(--rootless); fi
  umoci unpack "${rootless[@]}" --image "$IMAGE/oci:$TAG" "$WORK/bundle" >/dev/null || return 1
  [[ -x $ROOTFS/bursar ]] || {
    echo "the unpacked image has no /bursar"
    return 1
  }
  image_json >"$WORK/image.json" || return 1
  # Mount points, as a container runtime makes them in the image's root filesystem.
  mkdir -p "$ROOTFS"/{proc,dev,tmp} "$ROOTFS/var/run/secrets/kubernetes.io/serviceaccount" \
    "$ROOTFS/etc/bursar/config" "$ROOTFS/etc/bursar/grpc-tls" || return 1
  # The archive is the same layout; the reference names its manifest.
  mkdir -p "$WORK/archive" && tar -xf "$IMAGE/bursar-$TAG.oci.tar" -C "$WORK/archive" || return 1
  cmp "$WORK/archive/index.json" "$IMAGE/oci/index.json" || return 1
  local digest
  digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
    "$IMAGE/oci/index.json") || return 1
  [[ $REFERENCE == *":$TAG@$digest" && -f $WORK/archive/blobs/sha256/${digest#sha256:} ]] || {
    echo "reference $REFERENCE does not name the manifest $digest (tag $TAG) of the archive"
    return 1
  }
}

# image_json — the manifest and config of the image, as one JSON object {manifest, config, size}
# (kept in $WORK/image.json by image_unpacks).
image_json() {
  python3 - "$IMAGE/oci" <<'EOF'
import json, sys
layout = sys.argv[1]
blob = lambda d: json.load(open(f"{layout}/blobs/sha256/{d.split(':')[1]}"))
manifest = blob(json.load(open(f"{layout}/index.json"))["manifests"][0]["digest"])
config = blob(manifest["config"]["digest"])
size = sum(l["size"] for l in manifest["layers"]) + manifest["config"]["size"]
print(json.dumps({"manifest": manifest, "config": config, "size": size}))
EOF
}

image_config_is_right() {
  local version revision
  version=$("$BURSAR" version) || return 1
  version=${version#bursar }
  revision=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
  python3 -c '
import json, re, sys
version, revision = sys.argv[1], sys.argv[2]
image = json.load(sys.stdin)
c, m = image["config"], image["manifest"]
assert c["config"]["User"] == "65532:65532", c["config"]
assert c["config"]["Entrypoint"] == ["/bursar"] and c["config"]["Cmd"] == ["run"], c["config"]
assert c["os"] == "linux" and c["architecture"] == sys.argv[4], (c["os"], c["architecture"])
a = m.get("annotations", {})
p = "org.opencontainers.image."
assert a.get(p + "version") == version, (a, version)
built = a.get(p + "revision", "")
assert built.removesuffix("-dirty") == revision, \
    f"the image was built from {built}, the tree is at {revision}: make image again"
assert a.get(p + "source"), a
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a.get(p + "created", "")), a
assert c["config"]["Labels"] == a, "config labels differ from manifest annotations"
assert len(m["layers"]) == 1, m["layers"]
mib = image["size"] / 2**20
print(f"compressed size {mib:.1f} MiB")
assert mib < float(sys.argv[3]), f"the image is {mib:.1f} MiB, over {sys.argv[3]} MiB"
' "$version" "$revision" "$MAX_MIB" "$(oci_architecture)" <"$WORK/image.json" || return 1
  echo "uncompressed root filesystem $(du -sm "$ROOTFS" | cut -f1) MiB, $(find "$ROOTFS" -type f | wc -l) files"
}

# oci_architecture — this host's architecture as OCI names it (tools/build-image.sh's rule).
oci_architecture() {
  local a
  a=$(dpkg --print-architecture)
  [[ $a == ppc64el ]] && a=ppc64le
  echo "$a"
}

build_id() { readelf -n "$1" | sed -n 's/^ *Build ID: //p'; }

rootfs_is_minimal() {
  local f bad=0 want got
  for f in bin sbin usr/bin usr/sbin usr/local/bin bin/sh usr/bin/apt usr/bin/dpkg; do
    if [[ -e $ROOTFS/$f || -L $ROOTFS/$f ]]; then
      echo "the image has /$f"
      bad=1
    fi
  done
  # Executables: the operator and the dynamic loader, nothing else.
  local interpreter
  interpreter=$(readelf -l "$BURSAR" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
  got=$(cd "$ROOTFS" && find . -type f -perm /111 | sort | tr '\n' ' ')
  [[ $got == "$(printf '%s\n' ./bursar ".$interpreter" | sort | tr '\n' ' ')" ]] || {
    echo "executable files: $got"
    bad=1
  }
  want=$(build_id "$BURSAR") got=$(build_id "$ROOTFS/bursar")
  [[ -n $want && $want == "$got" ]] || {
    echo "/bursar has build ID '$got'; $BURSAR has '$want'"
    bad=1
  }
  grep -qx 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' "$ROOTFS/etc/passwd" || bad=1
  [[ -s $ROOTFS/etc/ssl/certs/ca-certificates.crt && -s $ROOTFS/usr/share/zoneinfo/Europe/Berlin ]] || {
    echo "no CA bundle or no tzdata"
    bad=1
  }
  # Every entry of the layer is owned by root.
  local layer
  layer=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["layers"][0]["digest"].split(":")[1])' <"$WORK/image.json")
  got=$(tar -tvzf "$IMAGE/oci/blobs/sha256/$layer" | awk '$2 != "0/0"' | head -3)
  [[ -z $got ]] || {
    echo "entries not owned by 0/0: $got"
    bad=1
  }
  ((bad == 0))
}

# The Dockerfile's last stage is scratch plus the rootfs stage's /rootfs, which runs
# tools/image-rootfs.sh; its packages are those of the image's dpkg status; its user, entrypoint,
# cmd and workdir are the image's config; its labels are in the image's.
dockerfile_matches_image() {
  python3 - "$REPO/Dockerfile" "$ROOTFS/var/lib/dpkg/status.d" "$WORK/image.json" <<'EOF' || return 1
import json, os, re, shlex, sys
image = json.load(open(sys.argv[3]))
cfg = image["config"]["config"]
text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
stages, current = [], None
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    word, _, rest = line.partition(" ")
    if word.upper() == "FROM":
        current = {"from": rest.split()[0], "name": rest.split()[-1] if " AS " in rest.upper() else "", "ops": []}
        stages.append(current)
    elif current is not None:  # ARGs before the first FROM are not a stage's
        current["ops"].append((word.upper(), rest.strip()))
last = stages[-1]
assert last["from"] == "scratch", f"the last stage is FROM {last['from']}, not scratch"
ops = {}
for word, rest in last["ops"]:
    ops.setdefault(word, []).append(rest)
assert ops.get("COPY") == ["--from=rootfs /rootfs/ /"], f"the last stage copies {ops.get('COPY')}"
assert set(ops) <= {"COPY", "LABEL", "USER", "WORKDIR", "ENTRYPOINT", "CMD"}, set(ops)
assert ops["USER"] == [cfg["User"]], (ops["USER"], cfg["User"])
assert json.loads(ops["ENTRYPOINT"][0]) == cfg["Entrypoint"], (ops["ENTRYPOINT"], cfg["Entrypoint"])
assert json.loads(ops["CMD"][0]) == cfg["Cmd"], (ops["CMD"], cfg["Cmd"])
assert ops["WORKDIR"] == [cfg["WorkingDir"]], (ops["WORKDIR"], cfg["WorkingDir"])
for label in ops.get("LABEL", []):
    for pair in shlex.split(label):
        key, _, value = pair.partition("=")
        assert cfg["Labels"].get(key) == value, f"LABEL {key}={value!r}; the image has {cfg['Labels'].get(key)!r}"
rootfs = next(s for s in stages if s["name"] == "rootfs")
runs = " ".join(rest for word, rest in rootfs["ops"] if word == "RUN")
assert "image-rootfs.sh /tmp/bursar /rootfs" in runs, "the rootfs stage does not run tools/image-rootfs.sh"
installed = set(re.search(r"--no-install-recommends (.*?)&&", runs).group(1).split())
# The base image has the essential packages already: glibc, libgcc, libstdc++.
base = {"libc6", "libgcc-s1", "libstdc++6"}
in_image = set(os.listdir(sys.argv[2]))
tools = {"binutils"}  # objcopy, for the script; not in the image
missing = in_image - base - installed
extra = installed - tools - in_image
assert not missing, f"the image holds packages the Dockerfile does not install: {sorted(missing)}"
assert not extra, f"the Dockerfile installs packages the image does not hold: {sorted(extra)}"
print(f"{len(in_image)} packages; last stage scratch + rootfs; user {cfg['User']}, entrypoint {cfg['Entrypoint']}")
EOF
}

helm_template_uses_the_reference() {
  local rendered
  rendered=$(helm template bursar "$CHART" -n "$NS" -f "$IMAGE/helm-values.yaml" |
    python3 -c '
import sys, yaml
dep = next(d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment")
print(dep["spec"]["template"]["spec"]["containers"][0]["image"])') || return 1
  # The chart writes repository@digest when a digest is set; the build printed repository:tag@digest.
  [[ $rendered == "${REFERENCE%%:*}@${REFERENCE##*@}" ]] || {
    echo "helm template renders image '$rendered'; the build printed '$REFERENCE'"
    return 1
  }
  echo "$rendered"
}

# Pushed as docs/install.md says (crane push of the layout), to crane's in-memory registry on
# loopback, the image keeps the digest the build printed, and the registry serves it whole.
image_pushes_with_its_digest() {
  local crane registry rc=0
  crane=$("$REPO/tests/image/crane.sh") || return 1
  "$crane" registry serve --address 127.0.0.1:0 >"$WORK/registry.log" 2>&1 &
  local registry_pid=$!
  push_and_compare || rc=1
  kill "$registry_pid" 2>/dev/null
  wait "$registry_pid" 2>/dev/null || true
  return "$rc"
}

push_and_compare() {
  local deadline=$((SECONDS + 10)) pushed
  # It logs "serving on port N".
  until registry=$(sed -n 's/.*serving on port \([0-9]*\)$/\1/p' "$WORK/registry.log") &&
    [[ -n $registry ]]; do
    ((SECONDS < deadline)) || {
      echo "crane registry serve printed no port:"
      cat "$WORK/registry.log"
      return 1
    }
    sleep 0.1
  done
  registry=127.0.0.1:$registry
  # Plain HTTP: the registry is on loopback and lives for this check only.
  "$crane" push --insecure "$IMAGE/oci" "$registry/bursar:$TAG" >/dev/null || return 1
  pushed=$("$crane" digest --insecure "$registry/bursar:$TAG") || return 1
  [[ $pushed == "${REFERENCE##*@}" ]] || {
    echo "pushed as $pushed; the build printed $REFERENCE"
    return 1
  }
  "$crane" validate --insecure --remote "$registry/bursar@$pushed" || return 1
  echo "pushed $registry/bursar@$pushed"
}

# IANA zones come from the image's /usr/share/zoneinfo (absl::LoadTimeZone; UTC needs no file):
# a budget in America/New_York, simulated over a DST change in the sandbox, gives the host's
# result byte for byte (the engine is deterministic).
image_has_time_zones() {
  local args=(simulate --scenario /tmp/examples/scenarios/stress-dst-month.yaml --quiet --output json)
  (cd / && "$BURSAR" "${args[@]/#\/tmp\/examples/$REPO/examples}") >"$WORK/sim-host.json" || return 1
  # The scenario files on a tmpfs /tmp, like a volume: the image itself has no mount point.
  bwrap --ro-bind "$ROOTFS" / --proc /proc --dev /dev --tmpfs /tmp \
    --ro-bind "$REPO/examples" /tmp/examples \
    --unshare-all --uid 65532 --gid 65532 --clearenv -- /bursar "${args[@]}" \
    >"$WORK/sim-image.json" || return 1
  cmp "$WORK/sim-host.json" "$WORK/sim-image.json" || return 1
  grep -q '"jobsTotal":[1-9]' "$WORK/sim-image.json" || {
    echo "the simulation ran no jobs: $(head -c 300 "$WORK/sim-image.json")"
    return 1
  }
}

# start_operator — for operator_reconciles_with_chart_rbac: the image's entrypoint and the chart's
# Deployment args, in the image's root filesystem with only what a pod of the chart gets mounted.
start_operator() {
  local server hostport entrypoint args
  server=$(<"$WORK/sa.server")
  hostport=${server#https://}
  mkdir -p "$WORK/config" "$WORK/pod-tmp" &&
    cp "$WORK/config.yaml" "$WORK/config/config.yaml" || return 1
  mapfile -t entrypoint < <(python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["config"]["config"]["Entrypoint"]))' <"$WORK/image.json")
  mapfile -t args < <(helm get manifest "$RELEASE" -n "$NS" | python3 -c '
import sys, yaml
dep = next(d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment")
for a in dep["spec"]["template"]["spec"]["containers"][0]["args"]:
    print(a.replace("$(POD_NAME)", "image-test-0"))')
  ((${#entrypoint[@]} > 0 && ${#args[@]} > 0)) || return 1
  # Test-only overrides: a fast tick, free ports on the shared host network, the address file.
  bwrap --ro-bind "$ROOTFS" / --proc /proc --dev /dev --bind "$WORK/pod-tmp" /tmp \
    --ro-bind "$WORK/serviceaccount" /var/run/secrets/kubernetes.io/serviceaccount \
    --ro-bind "$WORK/config" /etc/bursar/config --ro-bind "$WORK/grpc-tls" /etc/bursar/grpc-tls \
    --unshare-all --share-net --as-pid-1 --die-with-parent --info-fd 3 \
    --uid 65532 --gid 65532 --chdir / --clearenv \
    --setenv KUBERNETES_SERVICE_HOST "${hostport%:*}" --setenv KUBERNETES_SERVICE_PORT "${hostport##*:}" \
    --setenv POD_NAME image-test-0 --setenv POD_NAMESPACE "$NS" \
    -- "${entrypoint[@]}" "${args[@]}" --tick 1s --health-addr 127.0.0.1:0 \
    --grpc-addr 127.0.0.1:0 --address-file /tmp/addresses \
    >"$WORK/operator.log" 2>&1 3>"$WORK/bwrap-info.json" &
  OPERATOR_PID=$!
  # The operator is the sandbox's PID 1, as in a pod. bwrap does not pass signals on: SIGTERM
  # goes to the operator itself (its host PID from --info-fd); bwrap exits with its status.
  local deadline=$((SECONDS + 10))
  # Ready once the sandbox has exec'd the entrypoint (so its mounts are final).
  until OPERATOR_SIGNAL_PID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["child-pid"])' \
    "$WORK/bwrap-info.json" 2>/dev/null) &&
    [[ $(readlink "/proc/$OPERATOR_SIGNAL_PID/exe" 2>/dev/null) == "${entrypoint[0]}" ]]; do
    ((SECONDS < deadline)) && kill -0 "$OPERATOR_PID" 2>/dev/null || {
      echo "bwrap did not start the operator:"
      cat "$WORK/operator.log"
      return 1
    }
    sleep 0.1
  done
  # What the sandbox claims, seen from the host: uid 65532 inside, a read-only root.
  grep -Eq '^ *65532 +[0-9]+ +1$' "/proc/$OPERATOR_SIGNAL_PID/uid_map" || {
    echo "the operator's uid map is not 65532: $(cat "/proc/$OPERATOR_SIGNAL_PID/uid_map")"
    return 1
  }
  awk '$5 == "/" { found = 1; if ($6 !~ /(^|,)ro(,|$)/) bad = 1 } END { exit !(found && !bad) }' \
    "/proc/$OPERATOR_SIGNAL_PID/mountinfo" || {
    echo "the operator's root filesystem is not mounted read-only"
    return 1
  }
}

# The sandbox is what the check above claims: a read-only root, uid 65532, no host files.
sandbox_is_confined() {
  local out
  out=$(bwrap --ro-bind "$ROOTFS" / --proc /proc --dev /dev --unshare-all --share-net \
    --uid 65532 --gid 65532 --clearenv -- /bursar version 2>&1) || {
    echo "the image's /bursar does not start on its own root filesystem: $out"
    return 1
  }
  # No shell to try anything else with: the sandbox has nothing but the image.
  if bwrap --ro-bind "$ROOTFS" / --proc /proc --dev /dev --unshare-all /bin/sh -c true 2>/dev/null; then
    echo "/bin/sh runs in the sandbox"
    return 1
  fi
  echo "$out"
}

check "umoci unpacks the image; archive and reference name its manifest" image_unpacks
check "config: user 65532, entrypoint /bursar, OCI annotations; under $MAX_MIB MiB" image_config_is_right
check "root filesystem: no shell or package manager; /bursar is $BURSAR (build ID)" rootfs_is_minimal
check "the Dockerfile gives the same contents (stages, packages, user, entrypoint, labels)" \
  dockerfile_matches_image
check "helm template -f helm-values.yaml renders the printed reference" helm_template_uses_the_reference
check "crane pushes it to a loopback registry with the printed digest" image_pushes_with_its_digest
check "the image's /bursar starts alone in the sandbox, which has no shell" sandbox_is_confined
check "the image's tzdata: an America/New_York month simulates as on the host" \
  image_has_time_zones
check "helm install into the apiserver, CRDs included and Established" chart_installs
check "the image (read-only, uid 65532, in-cluster token) reconciles with the chart's RBAC" \
  operator_reconciles_with_chart_rbac

echo "$passed passed, $failed failed ($((SECONDS - started))s)"
((failed == 0))
