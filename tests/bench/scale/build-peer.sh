#!/usr/bin/env bash
# Builds the scale benchmark's Go fixtures (tests/bench/scale/peer: informer-peer, a client-go
# shared informer on all pods, and scale-load, the parallel loader) once into
#   $BURSAR_CACHE/informer-peer-<client-go version>-<source hash>/
# and prints that folder. A changed source builds into a new folder; old ones stay until removed
# by hand. Modules come from the Go module proxy (or Go's module cache); nothing goes into the
# repository. About 1.5 minutes cold on the 2-core machine (client-go already in Go's caches
# from the control plane's build), under a second when cached.
#
# Usage: build-peer.sh
set -euo pipefail
SCRIPT_NAME=bench/build-peer
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../cluster/lib.sh"
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0; }

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/peer" && pwd)
client_go=$(awk '$1 == "k8s.io/client-go" { print $2 }' "$src/go.mod")
[[ -n $client_go ]] || die "$src/go.mod does not require k8s.io/client-go"
hash=$(cd "$src" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
  sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
out=$BURSAR_CACHE/informer-peer-$client_go-$hash
if [[ ! -x $out/informer-peer || ! -x $out/scale-load ]]; then
  log "building informer-peer and scale-load (client-go $client_go) into $out"
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  (cd "$src" && CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local nice -n 10 go build -mod=readonly -trimpath \
    -buildvcs=false -gcflags=all=-dwarf=false -p "${BURSAR_GO_JOBS:-2}" -ldflags "-s -w" \
    -o "$out.partial/" ./cmd/informer-peer ./cmd/scale-load) || die "go build failed in $src"
  rm -rf "$out" && mv "$out.partial" "$out"
fi
echo "$out"
