#!/usr/bin/env bash
# Checks Bursar's CRD schemas and CEL rules in a real kube-apiserver: every manifest in
# tests/crds/invalid/ must be rejected by `kubectl apply --dry-run=server` with an error that
# contains the text of its first line, "# expect: <text>" — or, when the file has one, of a
# "# server-expect: <text>" line, for cases where the apiserver words the error differently from
# tests/crds/check_crds.py (which checks the same cases against Python twins of the rules; this
# runs the rules themselves). A file with "# server-accepts: <why>" must be accepted: only
# check_crds.py rejects it. Installs crds/ first. Needs only etcd and kube-apiserver:
#
#   tests/cluster/with-cluster.sh -- tests/cluster/crd-server-validation.sh [-v]
#
# Prints one line per manifest and "N passed, N failed" last; exits 1 if any failed.
# -v prints the apiserver's message for the cases that pass too.
set -euo pipefail
SCRIPT_NAME=cluster/crd-server-validation
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${KUBECONFIG:?run this through tests/cluster/with-cluster.sh (KUBECONFIG is unset)}"
REPO=$(cd "$CLUSTER_SCRIPTS_DIR/../.." && pwd)
KUBECTL=${BURSAR_TEST_KUBECTL:-kubectl}
verbose=false
[[ ${1:-} == -v ]] && verbose=true

"$KUBECTL" apply -f "$REPO/crds/" >/dev/null
"$KUBECTL" wait --for=condition=Established --timeout=60s -f "$REPO/crds/" >/dev/null

passed=0 failed=0
for manifest in "$REPO"/tests/crds/invalid/*.yaml; do
  name=${manifest##*/}
  expect=$(sed -n '1s/^# expect: //p' "$manifest")
  server_expect=$(sed -n 's/^# server-expect: //p' "$manifest" | head -n 1)
  [[ -z $server_expect ]] || expect=$server_expect
  if [[ -z $expect ]]; then
    echo "FAIL  $name: first line is not '# expect: <text>'"
    failed=$((failed + 1))
    continue
  fi
  accepts=$(sed -n 's/^# server-accepts: //p' "$manifest" | head -n 1)
  if [[ -n $accepts ]]; then
    # Only check_crds.py can reject this one; the apiserver must accept it (say why in the file).
    if out=$("$KUBECTL" apply --dry-run=server -f "$manifest" 2>&1); then
      echo "ok    $name (accepted by the apiserver: $accepts)"
      passed=$((passed + 1))
    else
      echo "FAIL  $name: expected the apiserver to accept it ($accepts), got: $out"
      failed=$((failed + 1))
    fi
    continue
  fi
  if out=$("$KUBECTL" apply --dry-run=server -f "$manifest" 2>&1); then
    echo "FAIL  $name: accepted, expected a rejection containing '$expect'"
    failed=$((failed + 1))
  elif [[ $out == *"$expect"* ]]; then
    echo "ok    $name"
    $verbose && printf '%s\n' "$out" | sed 's/^/      /'
    passed=$((passed + 1))
  else
    # Say whether the apiserver at least blamed the expected field (".spec.x: ..." → "spec.x").
    field=""
    if [[ $expect == *": "* ]]; then
      field=${expect%%: *}
      field=${field#.}
      [[ $field != *" "* ]] || field=""
    fi
    if [[ -n $field && $out == *"$field"* ]]; then
      echo "FAIL  $name: rejected at $field, but the message lacks '$expect':"
    else
      echo "FAIL  $name: rejected, but the message lacks '$expect':"
    fi
    printf '%s\n' "$out" | sed 's/^/      /'
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
((failed == 0))
