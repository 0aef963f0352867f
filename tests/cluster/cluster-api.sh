#!/usr/bin/env bash
# Cluster API's CRDs (sigs.k8s.io/cluster-api, CLUSTER_API_VERSION in versions.sh) for the
# integration tests, from the Go module cache; nothing is copied into the repository and no
# Cluster API controller runs (see docs/testing.md for what a real Cluster API run would add).
#
# Usage: cluster-api.sh crds   prints the folder of the CRDs (config/crd/bases), downloading the
#                              module into GOMODCACHE when it is missing
set -euo pipefail
SCRIPT_NAME=cluster/cluster-api
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

crds_dir() {
  local dir
  dir=$(go_module_dir sigs.k8s.io/cluster-api "$CLUSTER_API_VERSION")/config/crd/bases
  [[ -f $dir/cluster.x-k8s.io_machinedeployments.yaml ]] || die "no Cluster API CRDs in $dir"
  echo "$dir"
}

case ${1:-} in
  crds) crds_dir ;;
  *) die "usage: cluster-api.sh crds" ;;
esac
