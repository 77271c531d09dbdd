#!/usr/bin/env bash
# fwasr against the floor: what any client must at least spend on the same traffic. Every
# run streams real time against `fwasr-devserver --event-loop` (one thread for all
# connections, so the peer does not crowd the cores the client is measured on), runs of
# the clients alternating, and prints markdown tables (medians, and every run).
#
#   bench/floor.sh cpu [RUNS] [SECONDS] [COUNTS]      CPU and memory per stream, both modes
#       floor_ws            one thread, WebSocket, a send per 50 ms chunk (no caller)
#       floor_ws --caller   the same fed by a caller thread paced as fwasr_bench's driver
#       floor               a thread per stream writing raw chunks (no WebSocket), --sink peer
#       fwasr shared / own  fwasr_bench streams on shared threads / a thread per session
#   bench/floor.sh isolation [SLOW_MS] [STREAMS]     one stream's callback sleeps SLOW_MS on each
#       segment event: how late the other streams' chunks reach the server (the push that
#       completed a chunk to its arrival), a thread per session and shared threads
#   bench/floor.sh latency [RUNS] [STREAMS...]       event latency, the peer pinned to core 1
#       and the client to core 0 (taskset): fwasr on shared threads (the server's send stamp
#       to the callback), and floor_ws on the same traffic (the stamp to its read), alternating
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/bench-floor
mkdir -p "$out"

# shellcheck source=bench/build.sh
. bench/build.sh

# shellcheck source=bench/devserver.sh
. bench/devserver.sh

# One run of CLIENT with N streams for SECONDS; appends its JSON line, tagged, to $results.
run() {
  local client=$1 n=$2 seconds=$3 dir=$out/run
  rm -rf "$dir" && mkdir -p "$dir"
  case $client in
    floor) start_server --sink ;;
    *) start_server --timestamps ;;
  esac
  local line status=0
  case $client in
    floor_ws) line=$(${client_pin:-} "$out/floor_ws" "$url" "$n" "$seconds") || status=$? ;;
    floor_ws_caller) line=$("$out/floor_ws" "$url" "$n" "$seconds" --caller) || status=$? ;;
    floor) line=$("$out/floor" "${url#ws://}" "$n" "$seconds") || status=$? ;;
    shared) line=$(FWASR_URL=$url FWASR_SHARED_IO=1 ${client_pin:-} "$out/fwasr_bench" streams "$n" "$seconds" "$dir") || status=$? ;;
    own) line=$(FWASR_URL=$url ${client_pin:-} "$out/fwasr_bench" streams "$n" "$seconds" "$dir") || status=$? ;;
  esac
  stop_server
  # A long table is not thrown away for one failed run; the failure is printed and counted.
  if ((status != 0)); then
    echo "bench/floor.sh: $client with $n streams failed (exit $status)" >&2
    failed=$((failed + 1))
    return 0
  fi
  python3 - "$client" "$line" "$dir" >>"$results" <<'EOF'
import json, sys
client, line, d = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
line["client"] = client
if "stream_end_ns" in line:
    # Event latency: messages the server sent while every stream was still streaming.
    lat = []
    for row in open(f"{d}/events.txt"):
        ns, stamp = map(int, row.split())
        if stamp <= line["stream_end_ns"]:
            lat.append(ns / 1e6)
    lat.sort()
    pick = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else None
    line["event_ms"] = {"n": len(lat), "p50": pick(50), "p99": pick(99), "max": lat[-1] if lat else None}
print(json.dumps(line))
EOF
}

mode=${1:-cpu}
failed=0
results=$out/$mode.jsonl
: >"$results"
case $mode in
  cpu)
    runs=${2:-3} seconds=${3:-15} counts=${4:-1 100 1000 3000}
    for n in $counts; do
      for ((k = 1; k <= runs; k++)); do
        for client in floor_ws floor_ws_caller shared floor own; do
          echo "$client: $n streams, run $k of $runs" >&2
          run "$client" "$n" "$seconds"
        done
      done
    done
    ;;
  isolation)
    slow=${2:-100} n=${3:-100}
    for threads in own shared; do
      echo "isolation: $threads, $n streams, stream 0's callback sleeping $slow ms" >&2
      dir=$out/run && rm -rf "$dir" && mkdir -p "$dir"
      start_server --timestamps --report "$dir/report.jsonl"
      shared=
      [[ $threads == shared ]] && shared=1
      FWASR_URL=$url FWASR_SHARED_IO=$shared FWASR_BENCH_SLOW_CALLBACK_MS=$slow \
        "$out/fwasr_bench" streams "$n" 10 "$dir" >/dev/null
      for _ in $(seq 100); do
        [[ -f $dir/report.jsonl && $(wc -l <"$dir/report.jsonl") -ge $n ]] && break
        sleep 0.1
      done
      stop_server
      python3 - "$threads" "$slow" "$dir" >>"$results" <<'EOF'
import json, sys
mode, slow, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
done = {}
for row in open(f"{d}/completions.txt"):
    parts = row.split()
    done[parts[0]] = [int(x) for x in parts[1:]]
lat = []
for row in open(f"{d}/report.jsonl"):
    r = json.loads(row)
    stream = dict(r["query"]).get("bench_stream")
    if stream != "0":
        lat.extend((a - c) / 1e6 for a, c in zip(r.get("arrivals_ns", []), done.get(stream, [])))
lat.sort()
pick = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(json.dumps({"client": mode, "slow_ms": slow, "streams": len(done), "chunks": len(lat),
                  "p50": pick(50), "p99": pick(99), "max": lat[-1]}))
EOF
    done
    ;;
  latency)
    runs=${2:-10}
    shift 2 || true
    counts=${*:-100 1000}
    pin="taskset -c 1" client_pin="taskset -c 0"
    for n in $counts; do
      for ((k = 1; k <= runs; k++)); do
        echo "latency: $n streams, run $k of $runs" >&2
        run floor_ws "$n" 10
        run shared "$n" 10
      done
    done
    ;;
  *)
    echo "usage: bench/floor.sh cpu [RUNS] [SECONDS] [COUNTS] | isolation [SLOW_MS] [STREAMS] | latency [RUNS] [STREAMS...]" >&2
    exit 2
    ;;
esac
python3 bench/floor_table.py "$mode" "$results"
if ((failed > 0)); then
  echo "bench/floor.sh: $failed runs failed" >&2
  exit 1
fi
