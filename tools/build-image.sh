#!/usr/bin/env bash
# Builds the operator image. By default without any container daemon: the root filesystem from
# tools/image-rootfs.sh (the binary, the shared libraries it loads, CA certificates, tzdata,
# /etc/passwd), one layer written by GNU tar with fixed times and owners, and an OCI image made
# with umoci (Debian package umoci). With --builder it runs the repository's Dockerfile instead,
# which assembles the same root filesystem with the same script.
#
# Usage: tools/build-image.sh [--binary FILE] [--out DIR] [--repository NAME] [--tag TAG]
#                             [--source URL] [--builder umoci|docker|podman|buildah] [--dry-run]
#   --binary      the bursar binary to package (default build/bursar: the one make test ran);
#                 its debug sections are left out
#   --out         where the OCI image goes (default build/image): DIR/oci (an OCI image layout),
#                 DIR/bursar-TAG.oci.tar (the same as an oci-archive), DIR/reference (the image
#                 reference with its digest) and DIR/helm-values.yaml (image.repository, tag and
#                 digest for `helm install -f`)
#   --repository  image name (default bursar; e.g. registry.example.com/bursar)
#   --tag         image tag (default: the version `BINARY version` prints)
#   --source      the org.opencontainers.image.source annotation (default: the Git remote
#                 "origin", else file://<this repository>)
#   --builder     umoci (default, no daemon), or docker (when its daemon answers), podman or
#                 buildah with the Dockerfile; those leave the image in their own store
#   --dry-run     with docker/podman/buildah: print the build command instead of running it
#
# Reproducible: the same binary and commit give the same digest (times come from the commit, or
# from $SOURCE_DATE_EPOCH when set). Prints the image reference last, on stdout.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
  printf 'build-image: error: %s\n' "$*" >&2
  exit 1
}
log() { printf 'build-image: %s\n' "$*" >&2; }

binary=$REPO/build/bursar out=$REPO/build/image repository=bursar tag="" source="" builder=umoci
dry_run=0 work="" context=""
while (($# > 0)); do
  case $1 in
    --binary | --prebuilt) binary=${2:?$1 needs a file} && shift ;;
    --out) out=${2:?--out needs a folder} && shift ;;
    --repository) repository=${2:?--repository needs a name} && shift ;;
    --tag) tag=${2:?--tag needs a value} && shift ;;
    --source) source=${2:?--source needs a URL} && shift ;;
    --builder) builder=${2:?--builder needs a value} && shift ;;
    --dry-run) dry_run=1 ;;
    -h | --help)
      sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
case $builder in umoci | docker | podman | buildah) ;; *) die "--builder must be umoci, docker, podman or buildah" ;; esac
[[ -f $binary && -x $binary ]] || die "--binary $binary: not an executable file (make build first)"
[[ $repository =~ ^[a-z0-9]+([._/:-][a-z0-9]+)*$ ]] || die "--repository '$repository': not an image name"

# The annotations: version, revision, source, created.
version=$("$binary" version) || die "$binary version failed"
version=${version#bursar }
[[ $version =~ ^[0-9A-Za-z._+-]+$ ]] || die "$binary version printed '$version', not a version"
tag=${tag:-$version}
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag '$tag': not an image tag"
revision=unknown epoch=${SOURCE_DATE_EPOCH:-}
if git -C "$REPO" rev-parse --verify -q HEAD >/dev/null; then
  revision=$(git -C "$REPO" rev-parse HEAD)
  # A build from a changed tree is not that commit: say so in the annotation.
  if [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then revision+=-dirty; fi
  epoch=${epoch:-$(git -C "$REPO" log -1 --format=%ct)}
  source=${source:-$(git -C "$REPO" remote get-url origin 2>/dev/null || true)}
fi
epoch=${epoch:-0}
[[ $epoch =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$epoch': not a number of seconds"
source=${source:-file://$REPO}
# A remote that is a local path (a clone of a clone, as CI's) is still a location: make it a URL.
if [[ $source == /* ]]; then source=file://$source; fi
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
labels=(
  "org.opencontainers.image.title=bursar"
  "org.opencontainers.image.description=Keeps the compute spend of ML workloads within declared budgets (Kubernetes operator)"
  "org.opencontainers.image.version=$version"
  "org.opencontainers.image.revision=$revision"
  "org.opencontainers.image.source=$source"
  "org.opencontainers.image.created=$created"
)

# ---------------------------------------------------------------------------------------------
# With a daemon: the Dockerfile, from a context of the files Git knows (build/ stays out).

build_with_dockerfile() {
  if ((dry_run == 0)); then
    command -v "$builder" >/dev/null || die "--builder $builder: not installed"
    if [[ $builder == docker ]] && ! docker info >/dev/null 2>&1; then
      die "docker is installed but its daemon does not answer (docker info failed); without a daemon use the default, --builder umoci"
    fi
  fi
  local args=() cmd=() label
  context=$(mktemp -d "${TMPDIR:-/tmp}/bursar-image.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  (
    cd "$REPO" &&
      git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [[ -e $f ]]; then printf '%s\0' "$f"; fi; done |
        tar --null -T - -cf -
  ) | tar -xf - -C "$context"
  cp "$binary" "$context/bursar"
  args=(--file "$context/Dockerfile" --tag "$repository:$tag" --build-arg BURSAR_BINARY=prebuilt)
  for label in "${labels[@]:2}"; do args+=(--label "$label"); done
  case $builder in
    docker) cmd=(env DOCKER_BUILDKIT=1 SOURCE_DATE_EPOCH="$epoch" docker build "${args[@]}" "$context") ;;
    podman) cmd=(podman build "${args[@]}" "$context") ;;
    buildah) cmd=(buildah build "${args[@]}" "$context") ;;
  esac
  if ((dry_run == 1)); then
    printf '%q ' "${cmd[@]}"
    echo
    return 0
  fi
  log "building $repository:$tag with $builder from $binary"
  "${cmd[@]}" >&2
  echo "$repository:$tag"
}

# ---------------------------------------------------------------------------------------------
# Without a daemon: umoci.

# write_layer ROOTFS TAR — one uncompressed layer: names sorted, owner root, mtimes the commit's,
# no access or change times; the same tree always gives the same bytes.
write_layer() {
  (cd "$1" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
    tar -C "$1" --create --file "$2" --no-recursion --verbatim-files-from --files-from - \
      --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      --mtime="@$epoch" --owner=0 --group=0 --numeric-owner
}

# manifest_digest LAYOUT — the digest of the (only) manifest in the layout's index.
manifest_digest() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
    "$1/index.json"
}

# The host's architecture as OCI names it (the libraries are the host's): Debian's names are the
# same for amd64, arm64, s390x and riscv64.
architecture=$(dpkg --print-architecture 2>/dev/null) || architecture=""
case $architecture in
  amd64 | arm64 | s390x | riscv64) ;;
  ppc64el) architecture=ppc64le ;;
  *) architecture="" ;;
esac

build_with_umoci() {
  [[ -n $architecture ]] || die "unsupported host architecture '$(dpkg --print-architecture 2>&1)' (needs Debian on amd64, arm64, ppc64el, s390x or riscv64)"
  command -v umoci >/dev/null || die "umoci is not installed (Debian package umoci; make deps installs it)"
  local layout=$out/oci archive=$out/bursar-$tag.oci.tar digest label reference
  local -a config=()
  work=$(mktemp -d "${TMPDIR:-/tmp}/bursar-image.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  "$REPO/tools/image-rootfs.sh" "$binary" "$work/rootfs"
  write_layer "$work/rootfs" "$work/layer.tar"

  rm -rf "$layout" "$archive"
  mkdir -p "$out"
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci raw add-layer --image "$layout:$tag" --history.created "$created" \
    --history.created_by "tools/image-rootfs.sh (tools/build-image.sh)" "$work/layer.tar"
  # The same settings as the Dockerfile's last stage; labels in the config (as docker build
  # writes them) and annotations on the manifest.
  config=(--created "$created" --os linux --architecture "$architecture" --config.user 65532:65532
    --config.entrypoint /bursar --config.cmd run --config.workingdir / --no-history)
  for label in "${labels[@]}"; do
    config+=(--config.label "$label" --manifest.annotation "$label")
  done
  umoci config --image "$layout:$tag" "${config[@]}"
  umoci gc --layout "$layout"

  # The oci-archive: the layout as one tar, with the same fixed times and owners.
  write_layer "$layout" "$archive"
  digest=$(manifest_digest "$layout")
  reference=$repository:$tag@$digest
  printf '%s\n' "$reference" >"$out/reference"
  cat >"$out/helm-values.yaml" <<EOF
# Written by tools/build-image.sh: helm install bursar helm/bursar -f $out/helm-values.yaml
image:
  repository: $repository
  tag: "$tag"
  digest: "$digest"
EOF
  log "image $reference"
  log "  layout $layout, archive $archive ($(du -h "$archive" | cut -f1)), rootfs $(du -sh "$work/rootfs" | cut -f1)"
  log "  helm values $out/helm-values.yaml; push: skopeo copy --preserve-digests oci-archive:$archive docker://$repository:$tag"
  echo "$reference"
}

if [[ $builder == umoci ]]; then build_with_umoci; else build_with_dockerfile; fi
