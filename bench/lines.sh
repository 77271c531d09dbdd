#!/usr/bin/env bash
# Memory lines per chunk, counted rather than timed: fwasr on shared threads and the floor fed
# by a caller (`floor_ws --caller`) run under valgrind's cache simulator (callgrind), and the
# misses of its last-level cache are counted per 50 ms chunk, on the network side and on the
# pushing side apart. With thousands of streams nothing of a session is still in cache when
# its next chunk comes, so every line a chunk touches is a miss; here 100 streams and a
# simulated last-level cache of 256 KiB make it so. The counts do not depend on what else the
# machine is doing, so they can compare changes too small for the timed benchmarks to see;
# which thread ran in between still moves them a little (instruction lines by up to 6 %).
# Each client runs twice, for SHORT and LONG seconds, and the difference is divided by the
# chunks between them, which leaves out connecting and closing.
# The simulator has one cache for all threads: lines that move between cores are not counted.
#
#   bench/lines.sh [STREAMS] [SHORT] [LONG]        (defaults 100 4 12)
#
# Prints a markdown table: per chunk, data lines missed for reading and for writing,
# instruction lines missed and instructions, for each side; then fwasr's functions that miss
# most data lines for reading.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/bench-lines
mkdir -p "$out"
n=${1:-100} short=${2:-4} long=${3:-12}
command -v valgrind >/dev/null || {
  echo "bench/lines.sh: needs valgrind (Debian package valgrind)" >&2
  exit 1
}

# shellcheck source=bench/build.sh
. bench/build.sh

# shellcheck source=bench/devserver.sh
. bench/devserver.sh

grind=(valgrind --tool=callgrind --cache-sim=yes --LL=262144,8,64)
mkdir -p "$out/run"
for seconds in "$short" "$long"; do
  echo "lines: fwasr, $n streams, $seconds s" >&2
  start_server --timestamps
  FWASR_URL=$url FWASR_SHARED_IO=1 "${grind[@]}" --callgrind-out-file="$out/fwasr.$seconds" \
    "$out/fwasr_bench" streams "$n" "$seconds" "$out/run" >/dev/null 2>"$out/fwasr.$seconds.log"
  stop_server
  echo "lines: floor_ws --caller, $n streams, $seconds s" >&2
  start_server --timestamps
  "${grind[@]}" --callgrind-out-file="$out/floor.$seconds" \
    "$out/floor_ws" "$url" "$n" "$seconds" --caller >/dev/null 2>"$out/floor.$seconds.log"
  stop_server
done
python3 - "$out" "$n" "$short" "$long" <<'EOF'
import re, subprocess, sys
out, n, short, long_ = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
chunks = n * (long_ - short) * 20
EVENTS = "DLmr,DLmw,I1mr,Ir"
NUM = r"([\d,]+|\.)\s+(?:\([^)]*\)\s+)?"

def costs(path, inclusive):
    """(lines missed reading, writing, instruction-cache misses, instructions) by function."""
    text = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                           "--threshold=100", f"--show={EVENTS}", path],
                          capture_output=True, text=True, check=True).stdout
    table = {}
    for line in text.splitlines():
        m = re.match(r"\s*" + NUM * 4 + r"(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        nums = [0 if x == "." else int(x.replace(",", "")) for x in m.groups()[:4]]
        # "file:function [object]" -> "function"
        name = re.sub(r" \[[^\]]*\]$", "", m.group(5))
        name = re.sub(r"^(\?\?\?|[^ ]*\.(rs|c|S|h)):", "", name)
        table[name] = [a + b for a, b in zip(table.get(name, [0] * 4), nums)]
    return table

def per_chunk(client, inclusive):
    a, b = (costs(f"{out}/{client}.{s}", inclusive) for s in (short, long_))
    # + 0.0: a count that did not change prints as 0.00, not -0.00.
    return {k: [round((y - x) / chunks, 2) + 0.0 for x, y in zip(a.get(k, [0] * 4), v)] for k, v in b.items()}

def side(table, name):
    return next((v for k, v in table.items() if k == name or k.endswith("::" + name)), [0] * 4)

fwasr, floor = per_chunk("fwasr", True), per_chunk("floor", True)
rows = [("fwasr, network threads", side(fwasr, "engine::reactor::Reactor::run")),
        ("fwasr, pushes (inside `fwasr_session_push_s16`)", side(fwasr, "fwasr_session_push_s16")),
        ("`floor_ws --caller`, sender", side(floor, "main")),
        ("`floor_ws --caller`, caller (its pushes)", side(floor, "caller"))]
print(f"Per 50 ms chunk, {n} streams, the {long_} s run less the {short} s run ({chunks:,} chunks):\n")
print("| side | data lines missed, read | written | instruction lines missed | instructions |")
print("|---|---|---|---|---|")
for label, (r, w, i1, ir) in rows:
    print(f"| {label} | {r:.1f} | {w:.1f} | {i1:.1f} | {ir:,.0f} |")
missing = [label for label, v in rows if v[3] <= 0]
if missing:
    sys.exit(f"bench/lines.sh: found no instructions for {', '.join(missing)} (a function renamed?)")
own = per_chunk("fwasr", False)
print("\nfwasr's functions by data lines missed for reading per chunk (their own, not their callees'):\n")
print("| function | read | written | instruction lines | instructions |")
print("|---|---|---|---|---|")
for k, (r, w, i1, ir) in sorted(own.items(), key=lambda kv: -kv[1][0])[:15]:
    print(f"| `{k[:80]}` | {r:.2f} | {w:.2f} | {i1:.2f} | {ir:,.0f} |")
EOF
