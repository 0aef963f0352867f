#!/usr/bin/env bash
# Builds the operator image from the repository's Dockerfile with whichever builder is here:
# docker (when its daemon answers), podman or buildah, in that order.
#
# Usage: tools/build-image.sh [--tag NAME:TAG] [--prebuilt BINARY] [--builder docker|podman|buildah]
#                             [--dry-run]
#   --tag       image name (default bursar:<appVersion of helm/bursar/Chart.yaml>)
#   --prebuilt  package this binary (e.g. build/bursar, the one the tests ran) instead of
#               compiling in the image; it must have been built on Debian bookworm
#   --builder   use this builder, not the first one found
#   --dry-run   print the build command instead of running it
#
# The context is a scratch folder holding only the files Git knows or would add (tracked and
# untracked-but-not-ignored: build/ and other local output stay out), so any builder gets a small
# context without a .dockerignore. The compile inside the image downloads Debian packages: it needs
# the network.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
  printf 'build-image: error: %s\n' "$*" >&2
  exit 1
}
log() { printf 'build-image: %s\n' "$*" >&2; }

tag="" prebuilt="" builder="" dry_run=0
while (($# > 0)); do
  case $1 in
    --tag) tag=${2:?--tag needs a value} && shift ;;
    --prebuilt) prebuilt=${2:?--prebuilt needs a file} && shift ;;
    --builder) builder=${2:?--builder needs a value} && shift ;;
    --dry-run) dry_run=1 ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

if [[ -z $tag ]]; then
  version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$REPO/helm/bursar/Chart.yaml")
  [[ -n $version ]] || die "no appVersion in helm/bursar/Chart.yaml"
  tag=bursar:$version
fi

# usable BUILDER — whether BUILDER is installed and can build here.
usable() {
  command -v "$1" >/dev/null 2>&1 || return 1
  case $1 in
    # The docker CLI alone is not enough: its daemon must answer.
    docker) docker info >/dev/null 2>&1 || {
      log "docker is installed but its daemon does not answer (docker info failed); trying the next builder"
      return 1
    } ;;
  esac
}

if [[ -n $builder ]]; then
  case $builder in docker | podman | buildah) ;; *) die "--builder must be docker, podman or buildah" ;; esac
  if ((dry_run == 0)); then
    usable "$builder" || die "--builder $builder: not installed or not working"
  fi
else
  for candidate in docker podman buildah; do
    if usable "$candidate"; then
      builder=$candidate
      break
    fi
  done
  if [[ -z $builder ]]; then
    if ((dry_run == 1)); then
      builder=docker
      log "no working builder here; showing the docker command"
    else
      die "no container builder found: install docker (with a running daemon), podman or buildah, then run this again (or: make image)"
    fi
  fi
fi

context=$(mktemp -d "${TMPDIR:-/tmp}/bursar-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Deleted-but-tracked files are listed by git and skipped here.
  (
    cd "$REPO" &&
      git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [[ -e $f ]]; then printf '%s\0' "$f"; fi; done |
        tar --null -T - -cf -
  ) | tar -xf - -C "$context"
else
  tar -C "$REPO" --exclude='./build' --exclude='./build-*' --exclude='./.git' -cf - . |
    tar -xf - -C "$context"
fi
args=(--file "$context/Dockerfile" --tag "$tag")
if [[ -n $prebuilt ]]; then
  [[ -x $prebuilt ]] || die "--prebuilt $prebuilt: not an executable file"
  cp "$prebuilt" "$context/bursar"
  args+=(--build-arg BURSAR_BINARY=prebuilt)
fi

case $builder in
  docker) cmd=(env DOCKER_BUILDKIT=1 docker build "${args[@]}" "$context") ;;
  podman) cmd=(podman build "${args[@]}" "$context") ;;
  buildah) cmd=(buildah build "${args[@]}" "$context") ;;
esac

if ((dry_run == 1)); then
  printf '%q ' "${cmd[@]}"
  echo
  log "context: $(find "$context" -type f | wc -l) files, $(du -sh "$context" | cut -f1) (a scratch copy, removed now)"
  exit 0
fi
log "building $tag with $builder$([[ -n $prebuilt ]] && echo " from $prebuilt")"
"${cmd[@]}"
log "built $tag; for a kind cluster: kind load docker-image $tag; then helm install bursar helm/bursar --set image.repository=${tag%:*},image.tag=${tag##*:}"
