#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (docs/testing.md, "Fuzzing").
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# Each target (all by default: every fuzz_* binary in BUILD_DIR/tests/fuzz) runs for SECONDS on
# a working corpus in BUILD_DIR/fuzz-corpus/<target> (new inputs go there, never into the repo),
# with the seed corpus tests/fuzz/corpus/<target> read beside it and its dictionary, if any.
# A finding stops the target; its input is saved as BUILD_DIR/fuzz-artifacts/<target>/crash-*
# (or leak-, timeout-, oom-) and the script fails after running the others. Prints one line per
# target: executions, coverage (edges) and features, from libFuzzer's final statistics.
set -uo pipefail

build=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)

dict_for() {
  case $1 in
    json | watch_event | pod_decoder | prometheus | pod_metrics | admission) echo "$here/dict/json.dict" ;;
    yaml | manifests | kubeconfig | scenario) echo "$here/dict/yaml.dict" ;;
    values) echo "$here/dict/values.dict" ;;
  esac
}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for bin in "$build"/tests/fuzz/fuzz_*; do
    [[ -x $bin ]] && targets+=("${bin##*/fuzz_}")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "run.sh: no fuzz targets in $build/tests/fuzz (build target bursar_fuzz_targets)" >&2
  exit 2
fi

# Binary seeds are not committed: the protobuf decoder's are written from the hex fixture of a
# Pod read from kube-apiserver (as a Pod body, a one-pod PodList body and a watch frame).
seed_binary() {
  [[ $1 == pod_proto_decoder ]] || return 0
  python3 - "$here/../testdata/gpu-pod.server.pb.hex" "$2" <<'PY'
import sys
body = bytes.fromhex(open(sys.argv[1]).read().replace("\n", ""))
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
def field(number, payload):
    return bytes([number << 3 | 2]) + varint(len(payload)) + payload
unknown = body[4:]  # Unknown{typeMeta = 1, raw = 2}: take the Pod out of it
i, pod = 0, b""
while i < len(unknown):
    tag = unknown[i]; i += 1
    n, shift = 0, 0
    while True:
        b = unknown[i]; i += 1; n |= (b & 0x7F) << shift; shift += 7
        if b < 0x80:
            break
    if tag >> 3 == 2:
        pod = unknown[i:i + n]
    i += n
pod_list = field(2, pod)
list_body = b"k8s\x00" + field(1, field(1, b"v1") + field(2, b"PodList")) + field(2, pod_list)
frame = field(1, b"ADDED") + field(2, field(1, body))
for name, data in (("pod", b"\x00" + body), ("list", b"\x01" + list_body), ("frame", b"\x02" + frame)):
    open(f"{sys.argv[2]}/seed-{name}", "wb").write(data)
PY
}

failed=()
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  work=$build/fuzz-corpus/$t
  artifacts=$build/fuzz-artifacts/$t
  log=$build/fuzz-logs/$t.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  seed_binary "$t" "$work"
  seeds=()
  [[ -d $here/corpus/$t ]] && seeds=("$here/corpus/$t")
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  dict=$(dict_for "$t")
  [[ -n $dict ]] && args+=(-dict="$dict")
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" "${args[@]}" "$work" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-14s %s  execs %-9s cov %-6s ft %-6s corpus %s\n' "$t" \
    "$([[ $rc -eq 0 ]] && echo ok || echo FAIL)" "${runs:-?}" "${cov:-?}" "${ft:-?}" \
    "$(ls "$work" | wc -l)"
  if [[ $rc -ne 0 ]]; then
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: findings in ${failed[*]} (logs: $build/fuzz-logs, inputs: $build/fuzz-artifacts)" >&2
  exit 1
fi
