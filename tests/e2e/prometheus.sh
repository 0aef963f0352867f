#!/usr/bin/env bash
# Starts and stops a throwaway Prometheus (the Debian package's /usr/bin/prometheus) that scrapes
# one target every second: a fake DCGM exporter in Bursar's end-to-end tests. Loopback only: it
# listens on a free 127.0.0.1 port picked by the kernel and stores its TSDB under DIR.
#
# Usage: prometheus.sh start DIR TARGET_HOST:PORT
#        prometheus.sh stop DIR
#
# start writes into DIR (created if missing):
#   prometheus.yml   scrape_interval 1s; one job, `dcgm`, with honor_labels: true (the exporter's
#                    namespace/pod labels are kept, as a GPU operator's ServiceMonitor should)
#   data/            the TSDB
#   prometheus.log   its log
#   prometheus.pid   "pid executable", read by stop
#   env              export BURSAR_TEST_PROMETHEUS_URL=http://127.0.0.1:PORT (and _PID)
# and returns once /-/ready answers. stop signals exactly the recorded PID (only while it still
# runs the recorded executable): SIGTERM, then SIGKILL after a grace period. It keeps DIR.
# Environment: BURSAR_PROMETHEUS (executable, default /usr/bin/prometheus),
# BURSAR_PROMETHEUS_TIMEOUT (seconds to become ready, default 60), BURSAR_PROMETHEUS_GRACE
# (seconds before SIGKILL, default 10).
set -euo pipefail
SCRIPT_NAME=e2e/prometheus
# log, die, require_tools, tail_log.
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

PROMETHEUS=${BURSAR_PROMETHEUS:-/usr/bin/prometheus}
TIMEOUT=${BURSAR_PROMETHEUS_TIMEOUT:-60}
GRACE=${BURSAR_PROMETHEUS_GRACE:-10}
# Bind races (the port taken between picking and binding it) are retried with a new port.
MAX_ATTEMPTS=3

usage() {
  sed -n 's/^# \{0,1\}//; /^Usage:/,/^$/p' "${BASH_SOURCE[0]}" | sed '/^$/d' >&2
  exit 2
}

# True while PID runs EXE (a zombie or a reused PID does not count).
runs() {
  local pid=$1 exe=$2 actual
  actual=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ $actual == "$exe" ]]
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

write_config() {
  local target=$1
  cat >"$dir/prometheus.yml" <<EOF
# Written by tests/e2e/prometheus.sh.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dcgm
    honor_labels: true
    static_configs:
      - targets: ["$target"]
EOF
}

# Starts Prometheus on a fresh port and waits until it is ready. Returns 1 on failure (the
# process, if it still runs, is left for the caller to stop).
start_once() {
  local why
  port=$(free_port) || return 1
  url=http://127.0.0.1:$port
  # Its own session: a terminal's Ctrl-C reaches only the script that owns it.
  setsid "$PROMETHEUS" \
    --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address="127.0.0.1:$port" \
    --log.level=info \
    </dev/null >"$dir/prometheus.log" 2>&1 &
  pid=$!
  printf '%d %s\n' "$pid" "$PROMETHEUS" >"$dir/prometheus.pid"
  why=$(wait_for --every 0.2 --pid "$pid" "prometheus to become ready ($url)" "$TIMEOUT" \
    curl --silent --fail --noproxy '*' --max-time 2 "$url/-/ready") && return 0
  log "$why"
  tail_log "$dir/prometheus.log"
  return 1
}

stop() {
  [[ -f $dir/prometheus.pid ]] || return 0
  local pid exe deadline killed=false
  read -r pid exe <"$dir/prometheus.pid"
  if runs "$pid" "$exe"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + GRACE))
    while runs "$pid" "$exe"; do
      if ((SECONDS >= deadline)); then
        if $killed; then
          log "error: prometheus (pid $pid) still running after SIGKILL"
          return 1
        fi
        log "prometheus (pid $pid) still running ${GRACE}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        killed=true
        deadline=$((SECONDS + GRACE))
      fi
      sleep 0.1
    done
  fi
  rm -f "$dir/prometheus.pid" "$dir/env"
}

(($# >= 2)) || usage
command=$1 dir=$2
case $command in
  start)
    (($# == 3)) || usage
    target=$3
    [[ $target =~ ^[^:/[:space:]]+:[0-9]+$ ]] || die "target '$target' is not HOST:PORT"
    require_tools python3 curl setsid
    [[ -x $PROMETHEUS ]] ||
      die "$PROMETHEUS is not installed (run tools/install-deps.sh, or set BURSAR_PROMETHEUS)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -f $dir/prometheus.pid ]]; then
      read -r old_pid old_exe <"$dir/prometheus.pid"
      ! runs "$old_pid" "$old_exe" ||
        die "$dir already has a running prometheus (pid $old_pid): run prometheus.sh stop $dir first"
    fi
    write_config "$target"
    trap 'log "interrupted"; stop; exit 130' INT TERM
    attempt=1
    until start_once; do
      stop || true
      if ((attempt < MAX_ATTEMPTS)) && grep -qs 'address already in use' "$dir/prometheus.log"; then
        log "port $port was taken meanwhile; retrying with a new one" \
          "(attempt $((attempt + 1)) of $MAX_ATTEMPTS)"
        attempt=$((attempt + 1))
        continue
      fi
      die "prometheus did not come up (log: $dir/prometheus.log)"
    done
    trap - INT TERM
    printf 'export %s=%q\n' BURSAR_TEST_PROMETHEUS_URL "$url" \
      BURSAR_TEST_PROMETHEUS_PID "$pid" >"$dir/env"
    log "ready: $url scraping $target every 1s (pid $pid); use: source $dir/env"
    ;;
  stop)
    (($# == 2)) || usage
    [[ -d $dir ]] || exit 0 # already gone
    stop
    ;;
  -h | --help) usage ;;
  *) die "unknown command '$command' (want start or stop; see --help)" ;;
esac
