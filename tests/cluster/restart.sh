#!/usr/bin/env bash
# restart.sh DIR COMPONENT — stops one component of a cluster started by up.sh (TERM, then KILL
# after a grace period) and starts it again with the same command line, then waits until it is
# ready. Integration tests use it to check that watches survive a kube-apiserver restart.
#
#   tests/cluster/restart.sh "$BURSAR_TEST_CLUSTER_DIR" kube-apiserver
set -euo pipefail
SCRIPT_NAME=cluster/restart
# shellcheck source=tests/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir=${1:?usage: restart.sh DIR COMPONENT}
name=${2:?usage: restart.sh DIR COMPONENT}
[[ -f $dir/cmd/$name ]] || die "$dir/cmd/$name: no recorded command line for $name"
old_pid=$(awk -v n="$name" '$1 == n { pid = $2 } END { print pid }' "$dir/pids")
[[ -n $old_pid ]] || die "$dir/pids: $name is not listed"

if kill -0 "$old_pid" 2>/dev/null; then
  kill -TERM "$old_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$old_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$old_pid" 2>/dev/null || true
fi

mapfile -d '' argv <"$dir/cmd/$name"
setsid "${argv[@]}" </dev/null >>"$dir/logs/$name.log" 2>&1 &
new_pid=$!
# Record the new PID for down.sh (the old line is dropped).
awk -v n="$name" -v p="$new_pid" '$1 == n { $2 = p } { print }' "$dir/pids" >"$dir/pids.new"
mv "$dir/pids.new" "$dir/pids"

# shellcheck disable=SC1091
source "$dir/env"
url=
case $name in
  etcd) url="$BURSAR_TEST_ETCD_URL/health" ;;
  kube-apiserver) url="$BURSAR_TEST_APISERVER/readyz" ;;
  *) url= ;;
esac
if [[ -n $url ]]; then
  why=$(wait_for --every 0.2 --pid "$new_pid" "$name to become ready after restarting" 60 \
    curl --silent --fail --noproxy '*' --max-time 2 --cacert "$BURSAR_TEST_CA_FILE" \
    --cert "$BURSAR_TEST_CLIENT_CERT_FILE" --key "$BURSAR_TEST_CLIENT_KEY_FILE" "$url") ||
    die "$why (see $dir/logs/$name.log)"
fi
log "$name restarted (pid $old_pid -> $new_pid)"
