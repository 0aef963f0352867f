#!/usr/bin/env bash
# Runs a command next to a real Prometheus that scrapes a fake DCGM exporter, both on loopback in
# a fresh temporary folder: fake-dcgm-exporter.py serves the series of a JSON file the command
# may rewrite, prometheus.sh scrapes it every second. The command gets
#   BURSAR_TEST_PROMETHEUS_URL   http://127.0.0.1:PORT of Prometheus
#   BURSAR_TEST_DCGM_SERIES      the exporter's series file (a JSON list, initially empty; see
#                                fake-dcgm-exporter.py; replace it atomically)
#   BURSAR_TEST_DCGM_EXPORTER    http://127.0.0.1:PORT of the exporter (its /metrics)
# Both are stopped and the folder removed afterwards — always, also when the command fails or the
# run is interrupted. Exits with the command's status. The command runs in its own process group:
# SIGINT/SIGTERM to this script are passed on to it.
#
# Usage: with-prometheus.sh -- COMMAND [ARG...]
# Environment: BURSAR_E2E_LOG_DIR — when set and the command or start-up fails, the exporter's
# and Prometheus's logs are copied there before the folder is removed (for CI artifacts). Also
# BURSAR_PROMETHEUS* (see prometheus.sh).
set -euo pipefail
SCRIPT_NAME=e2e/with-prometheus
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=${BURSAR_PROMETHEUS_TIMEOUT:-60}

usage="usage: with-prometheus.sh -- COMMAND [ARG...]"
[[ ${1:-} == -- ]] || die "$usage"
shift
(($# > 0)) || die "no command given; $usage"
require_tools python3 setsid

dir=$(mktemp -d "${TMPDIR:-/tmp}/bursar-prometheus.XXXXXX")
status=1
exporter_pid=""

# True while PID is the exporter this script started (a reused PID is left alone).
# shellcheck disable=SC2317  # called by teardown
exporter_runs() {
  [[ -n $exporter_pid ]] &&
    tr '\0' ' ' <"/proc/$exporter_pid/cmdline" 2>/dev/null | grep -q "fake-dcgm-exporter.py --series $dir/"
}

# shellcheck disable=SC2317  # called by the EXIT trap
teardown() {
  if ((status != 0)) && [[ -n ${BURSAR_E2E_LOG_DIR:-} ]]; then
    mkdir -p "$BURSAR_E2E_LOG_DIR"
    cp "$dir"/*.log "$dir"/prometheus/*.log "$BURSAR_E2E_LOG_DIR/" 2>/dev/null || true
    log "logs copied to $BURSAR_E2E_LOG_DIR"
  fi
  "$E2E_DIR/prometheus.sh" stop "$dir/prometheus" || log "stopping prometheus failed; see above"
  if exporter_runs; then
    kill -TERM "$exporter_pid" 2>/dev/null || true
    wait "$exporter_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap teardown EXIT
trap 'status=130; stop_command TERM; exit 130' INT
trap 'status=143; stop_command TERM; exit 143' TERM

series=$dir/dcgm-series.json
echo '[]' >"$series"
setsid python3 "$E2E_DIR/fake-dcgm-exporter.py" --series "$series" \
  --port-file "$dir/exporter.port" </dev/null >"$dir/exporter.log" 2>&1 &
exporter_pid=$!
deadline=$((SECONDS + TIMEOUT))
until [[ -s $dir/exporter.port ]]; do
  if ! kill -0 "$exporter_pid" 2>/dev/null; then
    tail_log "$dir/exporter.log"
    die "the fake DCGM exporter exited before listening"
  fi
  ((SECONDS < deadline)) || die "the fake DCGM exporter is not listening after ${TIMEOUT}s"
  sleep 0.1
done
exporter_port=$(<"$dir/exporter.port")

"$E2E_DIR/prometheus.sh" start "$dir/prometheus" "127.0.0.1:$exporter_port"
# shellcheck source=/dev/null
source "$dir/prometheus/env"
export BURSAR_TEST_PROMETHEUS_URL BURSAR_TEST_DCGM_SERIES=$series \
  BURSAR_TEST_DCGM_EXPORTER=http://127.0.0.1:$exporter_port

run_command "$@"
exit "$status"
