#!/usr/bin/env bash
# fwasr's benchmark suite: builds everything, runs fwasr_bench (push cost, 1/100/1,000
# real-time streams over ws and wss, idle sessions), the Python baseline client and the floor
# program against fwasr-devserver on loopback, and writes the results into BENCHMARKS.md
# (between its bench:begin/bench:end markers) and bench/latency.png.
#
#   bench/run.sh            the full run, a few minutes
#   bench/run.sh --smoke    every part for a second or two at small stream counts; results go
#                           to build/bench-smoke only (CI runs this so the suite cannot rot)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

smoke=0
[[ ${1:-} == --smoke ]] && smoke=1
if ((smoke)); then
  seconds=2 idle_seconds=2 counts="1 5" wss_counts="1" shared_counts="5" baseline_counts="1 3"
  out=$root/build/bench-smoke
else
  seconds=20 idle_seconds=30 counts="1 100 1000" wss_counts="1 100" shared_counts="100 1000"
  baseline_counts="1 100"
  out=$root/build/bench
fi
rm -rf "$out"
mkdir -p "$out"

# shellcheck source=bench/build.sh
. bench/build.sh

venv=$root/build/bench-venv
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import websocket, matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi
py=$venv/bin/python

# shellcheck source=bench/devserver.sh
. bench/devserver.sh
# Waits until the server has reported N connections.
await_reports() {
  local file=$1 n=$2
  for _ in $(seq 600); do
    [[ -f $file && $(wc -l <"$file") -ge $n ]] && return 0
    sleep 0.1
  done
  echo "the server reported $(wc -l <"$file" 2>/dev/null || echo 0) of $n connections" >&2
  exit 1
}

tls=(--tls-cert tests/data/localhost.crt --tls-key tests/data/localhost.key)

echo "push cost" >&2
start_server
FWASR_URL=$url "$out/fwasr_bench" push >"$out/push.jsonl"
stop_server

for n in $counts; do
  echo "idle: $n sessions" >&2
  start_server
  FWASR_URL=$url "$out/fwasr_bench" idle "$n" "$idle_seconds" >"$out/idle-$n.json"
  stop_server
done

run_streams() {
  local name=$1 n=$2
  shift 2
  local dir=$out/$name-$n
  mkdir -p "$dir"
  echo "$name: $n streams" >&2
  start_server --timestamps --report "$dir/report.jsonl" "$@"
  if [[ $name == baseline ]]; then
    BENCH_SERVER_PID=$server_pid "$py" bench/baseline.py "$url" "$n" "$seconds" "$dir" >"$dir/result.json"
  else
    local ca= shared=
    [[ $name == fwasr-wss ]] && ca=$root/tests/data/localhost.crt
    [[ $name == fwasr-shared ]] && shared=1
    BENCH_SERVER_PID=$server_pid FWASR_URL=$url FWASR_CA_FILE=$ca FWASR_SHARED_IO=$shared \
      "$out/fwasr_bench" streams "$n" "$seconds" "$dir" >"$dir/result.json"
  fi
  await_reports "$dir/report.jsonl" "$n"
  stop_server
}

for n in $counts; do run_streams fwasr-ws "$n"; done
for n in $wss_counts; do run_streams fwasr-wss "$n" "${tls[@]}"; done
for n in $shared_counts; do run_streams fwasr-shared "$n"; done
for n in $baseline_counts; do run_streams baseline "$n"; done

for n in $counts; do
  echo "floor: $n streams" >&2
  start_server --sink
  "$out/floor" "${url#ws://}" "$n" "$seconds" >"$out/floor-$n.json"
  stop_server
done

# The shared-thread floor: one thread, real WebSocket upgrades, one masked send per chunk,
# the server's messages (a count every 0.5 s) read and discarded.
for n in 1 $shared_counts; do
  echo "floor_ws: $n streams" >&2
  start_server
  "$out/floor_ws" "$url" "$n" "$seconds" >"$out/floor_ws-$n.json"
  stop_server
done

args=("$out" --seconds "$seconds")
((smoke)) || args+=(--markdown BENCHMARKS.md --plot bench/latency.png --command "bench/run.sh")
"$py" bench/report.py "${args[@]}"
