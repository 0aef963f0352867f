#!/usr/bin/env bash
# Runs a command against a throwaway test cluster: up.sh into a fresh temporary folder, the
# command with the cluster's environment (KUBECONFIG, BURSAR_TEST_*, kubectl and helm first on
# PATH), then down.sh — always, also when the command fails or the run is interrupted. Exits with
# the command's status. The command runs in its own process group: SIGINT/SIGTERM to this script
# are passed on to that group, and processes the command leaves behind are terminated too.
#
# Usage: with-cluster.sh [--with-scheduler] [--with-controller-manager] [--with-kwok]
#                        [--with-all] -- COMMAND [ARG...]
# Environment: BURSAR_CLUSTER_LOG_DIR — when set and the command or start-up fails, the
# components' logs are copied there before the folder is removed (for CI artifacts). Also
# BURSAR_CLUSTER_TIMEOUT, BURSAR_CLUSTER_GRACE and BURSAR_CACHE (see up.sh, down.sh, build.sh).
set -euo pipefail
SCRIPT_NAME=cluster/with-cluster
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

up_args=()
while (($# > 0)); do
  case $1 in
    --with-scheduler | --with-controller-manager | --with-kwok | --with-all) up_args+=("$1") ;;
    --) shift && break ;;
    *) die "unknown option '$1'; usage: with-cluster.sh [--with-...] -- COMMAND [ARG...]" ;;
  esac
  shift
done
(($# > 0)) || die "no command given; usage: with-cluster.sh [--with-...] -- COMMAND [ARG...]"

dir=$(mktemp -d "${TMPDIR:-/tmp}/bursar-cluster.XXXXXX")
touch "$dir/.bursar-test-cluster"
status=1

# shellcheck disable=SC2317  # called by the EXIT trap
teardown() {
  if ((status != 0)) && [[ -n ${BURSAR_CLUSTER_LOG_DIR:-} && -d $dir/logs ]]; then
    mkdir -p "$BURSAR_CLUSTER_LOG_DIR"
    cp -r "$dir/logs/." "$BURSAR_CLUSTER_LOG_DIR/" || true
    log "component logs copied to $BURSAR_CLUSTER_LOG_DIR"
  fi
  "$CLUSTER_SCRIPTS_DIR/down.sh" "$dir" || log "teardown of $dir failed; see the messages above"
}
trap teardown EXIT
trap 'status=130; stop_command TERM; exit 130' INT
trap 'status=143; stop_command TERM; exit 143' TERM

"$CLUSTER_SCRIPTS_DIR/up.sh" "$dir" "${up_args[@]+"${up_args[@]}"}"
# shellcheck source=/dev/null
source "$dir/env"
export PATH="$BURSAR_TEST_BIN_PATH:$PATH"

run_command "$@"
exit "$status"
