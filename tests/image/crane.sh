#!/usr/bin/env bash
# crane from github.com/google/go-containerregistry (GGCR_VERSION), built once from the Go module
# proxy into ~/.cache/bursar/go-containerregistry-<version>/, for tests/image/image-test.sh: it
# serves an in-memory registry on loopback (crane registry serve), pushes the image the way
# docs/install.md says and checks the digest. Prints the path of `crane`.
#
# Usage: tests/image/crane.sh
# Cost: 33 s of CPU the first time with empty Go caches (3.5 min wall at load 15-21), nothing
# afterwards.
set -euo pipefail
SCRIPT_NAME=image/crane
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh" # BURSAR_CACHE, STAMP_FILE, log, die

GGCR_VERSION=v0.22.1
dir=$BURSAR_CACHE/go-containerregistry-$GGCR_VERSION
case ${1:-} in
  -h | --help)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  "") ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

if [[ ! -f $dir/$STAMP_FILE ]]; then
  require_tools go
  log "building crane $GGCR_VERSION into $dir (once)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/bursar-ggcr.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    # Built like the other Go fixtures (tests/cluster/build.sh): static and without DWARF, so
    # that it shares the standard library they compiled in Go's build cache (with cgo, net and
    # os/user compile again).
    export GOWORK=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0
    printf 'module bursar.dev/test/ggcr\n\ngo 1.26\n' >go.mod
    go get "github.com/google/go-containerregistry/cmd/crane@$GGCR_VERSION" >&2
    mkdir -p "$work/bin"
    go build -trimpath -buildvcs=false -gcflags=all=-dwarf=false -p "${BURSAR_GO_JOBS:-2}" \
      -ldflags "-s -w" -o "$work/bin/" github.com/google/go-containerregistry/cmd/crane
  ) || die "building go-containerregistry $GGCR_VERSION failed (see above)"
  mkdir -p "$dir"
  mv "$work/bin/crane" "$dir/"
  touch "$dir/$STAMP_FILE"
fi
echo "$dir/crane"
