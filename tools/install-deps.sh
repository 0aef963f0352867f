#!/usr/bin/env bash
# Installs the Debian packages Bursar builds and tests with. Idempotent: when everything is
# present it prints nothing and touches nothing; otherwise it runs `apt-get update` once and
# installs only what is missing. Needs root (or sudo) for the install step.
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache pkg-config git
  libabsl-dev             # Abseil: Status, StatusOr, time zones, flags
  libyaml-cpp-dev         # manifests, kubeconfig, scenarios
  libsimdjson-dev         # the JSON library, behind operator/json
  libcpprest-dev          # HTTP client/server and TLS (operator/kube transport)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy
  clang-14 libclang-rt-14-dev  # make fuzz / test-fuzz: libFuzzer with ASan+UBSan (tests/fuzz)
  tzdata                  # IANA zone files read by absl::LoadTimeZone
  python3 python3-yaml    # tests/crds/check_crds.py
  lua5.4                  # tests/gitops: runs the Argo CD health checks of docs/gitops.md
  curl openssl unzip      # tests/cluster: certificates, readiness probes, the kubectl/helm layer
  prometheus              # tests/e2e/prometheus.sh: a real Prometheus scraping a fake DCGM exporter
  umoci bubblewrap        # make image: the OCI image without a daemon; make test-image runs it
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
