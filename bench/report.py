"""Turns a bench/run.sh output directory into tables (printed, and written into BENCHMARKS.md
between its bench:begin and bench:end markers when --markdown is given) and a latency CDF
plot (--plot).

Wire latency joins each stream's completions.txt (the client's time of the push that
completed chunk k, or of the baseline's send of chunk k) with the server's report
(arrivals_ns: when the k-th audio message arrived), matched by the bench_stream query
parameter. Both are CLOCK_MONOTONIC on this machine.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys


def load_json(path):
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))
    return sorted_values[i]


def wire_latencies(run_dir):
    completions = {}
    with open(f"{run_dir}/completions.txt") as f:
        for line in f:
            parts = line.split()
            completions[parts[0]] = [int(x) for x in parts[1:]]
    out = []
    with open(f"{run_dir}/report.jsonl") as f:
        for line in f:
            r = json.loads(line)
            stream = dict(r["query"]).get("bench_stream")
            sent = completions.get(stream, [])
            out.extend(a - c for a, c in zip(r.get("arrivals_ns", []), sent))
    return sorted(x / 1e6 for x in out)


def event_latencies(run_dir, end_ns):
    """Latencies of the messages the server sent while every stream was still streaming: the
    finish (all streams' final checkpoints at the same instant) is not real-time traffic."""
    out = []
    with open(f"{run_dir}/events.txt") as f:
        for line in f:
            if line.strip():
                latency, stamp = map(int, line.split())
                if stamp <= end_ns:
                    out.append(latency / 1e6)
    return sorted(out)


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.split()
    return f"{os.cpu_count()} vCPU {cpu}, Linux {platform.release()}, rustc {rustc[1] if len(rustc) > 1 else '?'}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--markdown")
    ap.add_argument("--plot")
    ap.add_argument("--command", default="bench/run.sh")
    a = ap.parse_args()
    out = a.out

    # A thread per session is held against the thread-per-stream floor, shared threads against
    # the one-thread WebSocket floor.
    floor, floor_ws = {}, {}
    for pattern, into in ((f"{out}/floor-*.json", floor), (f"{out}/floor_ws-*.json", floor_ws)):
        for p in glob.glob(pattern):
            r = load_json(p)
            into[r["streams"]] = r

    def per_hour(cpu, n, audio_s=a.seconds):
        return cpu / (n * audio_s / 3600)

    rows = []
    curves = {}
    order = ["fwasr-ws", "fwasr-shared", "fwasr-wss", "baseline"]

    def run_key(d):
        name, n = os.path.basename(d.rstrip("/")).rsplit("-", 1)
        return (order.index(name) if name in order else len(order), int(n))

    for run_dir in sorted(glob.glob(f"{out}/*-*/"), key=run_key):
        name, n = os.path.basename(run_dir.rstrip("/")).rsplit("-", 1)
        n = int(n)
        r = load_json(f"{run_dir}/result.json")
        wire, events = wire_latencies(run_dir), event_latencies(run_dir, r["stream_end_ns"])
        # Audio actually streamed per stream (streams start up to 4 frames apart).
        audio_s = r.get("audio_s_per_stream", a.seconds)
        cph = per_hour(r["cpu_s"], n, audio_s)
        # fwasr_bench's driver thread plays the caller's media thread; without it, what the
        # library's own threads cost.
        own = per_hour(r["cpu_s"] - r["driver_cpu_s"], n, audio_s) if "driver_cpu_s" in r else None
        f = (floor_ws if name == "fwasr-shared" else floor).get(n)
        fph = per_hour(f["cpu_s"], n) if f else None
        rows.append({
            "client": {"fwasr-ws": "fwasr, ws", "fwasr-wss": "fwasr, wss", "fwasr-shared": "fwasr, ws, shared threads",
                       "baseline": "Python baseline, ws"}[name],
            "name": name,
            "n": n,
            "cph": cph,
            "own": own,
            "x_floor": cph / fph if f else None,
            "own_x_floor": own / fph if f and own is not None else None,
            "core": 100 * r["cpu_s"] / r["seconds"],
            "rss": r.get("rss_kib_per_stream"),
            "wire50": percentile(wire, 50),
            "wire99": percentile(wire, 99),
            "ev50": percentile(events, 50),
            "ev99": percentile(events, 99),
            "wire_n": len(wire),
            "ev_n": len(events),
            "overruns": r.get("overruns"),
            "server": 100 * r["server_cpu_s"] / r["seconds"] if r.get("server_cpu_s", -1) >= 0 else None,
            "refused": r.get("refused_pushes"),
        })
        curves[(name, n)] = (wire, events)
    for n, r in sorted(floor.items()):
        rows.append({"client": "floor (C, thread per stream)", "name": "floor", "n": n,
                     "cph": per_hour(r["cpu_s"], n), "x_floor": 1.0, "core": 100 * r["cpu_s"] / r["seconds"]})
    for n, r in sorted(floor_ws.items()):
        rows.append({"client": "floor (C, one thread, WebSocket)", "name": "floor_ws", "n": n,
                     "cph": per_hour(r["cpu_s"], n), "x_floor": 1.0, "core": 100 * r["cpu_s"] / r["seconds"]})

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    lines = []
    lines.append("| input (20 ms frames) | median | p99 | max |")
    lines.append("|---|---|---|---|")
    for p in [json.loads(x) for x in open(f"{out}/push.jsonl") if x.strip()]:
        lines.append(f"| {p['input']} | {p['median_us']:.2f} µs | {p['p99_us']:.2f} µs | {p['max_us']:.2f} µs |")
    lines.append("")
    lines.append("| client | streams | CPU-s per stream-hour (× floor) | without the caller's push thread (× floor) "
                 "| CPU, % of one core | RSS per stream | wire p50 / p99 | event p50 / p99 | overruns "
                 "| devserver CPU |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        wire = f"{r['wire50']:.3f} / {r['wire99']:.3f} ms" if "wire50" in r else "—"
        ev = f"{r['ev50']:.3f} / {r['ev99']:.3f} ms" if "ev50" in r else "—"
        rss = f"{r['rss']:.0f} KiB" if r.get("rss") is not None else "—"
        total = f"{r['cph']:.2f} ({fmt(r['x_floor'], '.2f')})"
        own = f"{r['own']:.2f} ({fmt(r['own_x_floor'], '.2f')})" if r.get("own") is not None else "—"
        lines.append(f"| {r['client']} | {r['n']} | {total} | {own} | {r['core']:.1f} % "
                     f"| {rss} | {wire} | {ev} | {fmt(r.get('overruns'), 'd')} "
                     f"| {fmt(r.get('server'), '.0f')}{' %' if r.get('server') is not None else ''} |")
    lines.append("")
    lines.append("| idle sessions | CPU-s per session-hour | CPU, % of one core |")
    lines.append("|---|---|---|")
    for p in sorted(glob.glob(f"{out}/idle-*.json"), key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0])):
        r = load_json(p)
        lines.append(f"| {r['streams']} | {r['cpu_s'] / (r['streams'] * r['seconds'] / 3600):.3f} "
                     f"| {100 * r['cpu_s'] / r['seconds']:.2f} % |")
    lines.append("")
    by = {(r["name"], r["n"]): r for r in rows}
    ratio_lines = []
    for n in sorted({r["n"] for r in rows if r["name"] == "baseline"}):
        b, w = by.get(("baseline", n)), by.get(("fwasr-ws", n))
        if b and w:
            ratio_lines.append(
                f"| {n} | {b['cph'] / w['cph']:.1f}× | {b['wire99'] / w['wire99']:.1f}× | {b['ev99'] / w['ev99']:.1f}× |")
    if ratio_lines:
        lines.append("| streams | baseline ÷ fwasr: CPU per stream-hour | wire p99 | event p99 |")
        lines.append("|---|---|---|---|")
        lines.extend(ratio_lines)
        lines.append("")
    lines.append(f"Latency samples: " + ", ".join(
        f"{r['client']} ×{r['n']}: {r['wire_n']} chunks, {r['ev_n']} messages" for r in rows if "wire_n" in r) + ".")
    table = "\n".join(lines)
    print(table)

    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, which, title in ((axes[0], 0, "wire latency (push completing a chunk → server)"),
                                 (axes[1], 1, "event latency (server send → callback)")):
            for (name, n), c in sorted(curves.items()):
                if name == "fwasr-wss" or (name == "fwasr-shared" and n != 1000):
                    continue
                v = c[which]
                if not v:
                    continue
                ys = [(i + 1) / len(v) for i in range(len(v))]
                style = {"fwasr-ws": "-", "fwasr-shared": ":"}.get(name, "--")
                client = {"fwasr-ws": "fwasr", "fwasr-shared": "fwasr, shared threads"}.get(name, "Python baseline")
                color = {1: "C0", 100: "C1", 1000: "C3"}.get(n, "C2")
                ax.plot(v, ys, style, color=color, label=f"{client}, {n} stream{'s' if n != 1 else ''}")
            ax.set_xscale("log")
            ax.set_xlabel("ms")
            ax.set_ylabel("fraction ≤ x")
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=100)
        print(f"wrote {a.plot}", file=sys.stderr)

    if a.markdown:
        with open(a.markdown) as f:
            text = f.read()
        header = (f"Command: `{a.command}`. Machine: {machine()}. "
                  f"Date: {datetime.date.today().isoformat()}. Streams run {a.seconds:g} s of real-time audio each.\n\n")
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        if begin not in text or end not in text:
            sys.exit(f"{a.markdown} has no {begin} ... {end} section")
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        with open(a.markdown, "w") as f:
            f.write(f"{pre}{begin}\n{header}{table}\n{end}{post}")
        print(f"wrote {a.markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
