"""Prints bench/floor.sh's results as markdown tables: CPU-s per stream-hour (medians, × the
floors) and RSS per stream, or each run's event latency."""

import json
import statistics
import sys
from collections import defaultdict


def per_hour(r):
    # Streams start up to 4 frames apart: count the audio actually streamed where known.
    audio_s = r.get("audio_s_per_stream", r["seconds"])
    n = r["streams"]
    whole = r["cpu_s"] / (n * audio_s / 3600)
    own = (r["cpu_s"] - r.get("driver_cpu_s", 0.0)) / (n * audio_s / 3600)
    return whole, own


def cpu(rows):
    by = defaultdict(list)
    for r in rows:
        by[(r["client"], r["streams"])].append(r)
    med = lambda xs: statistics.median(xs) if xs else None

    def m(client, n, which):
        runs = by.get((client, n), [])
        return med([per_hour(r)[which] for r in runs])

    def runs(client, n, which):
        return " ".join(f"{per_hour(r)[which]:.2f}" for r in by.get((client, n), []))

    def x(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "—"

    def f(v):
        return f"{v:.2f}" if v is not None else "—"

    counts = sorted({n for _, n in by})
    print("| streams | floor_ws | floor_ws + caller: whole / sending thread | fwasr shared: whole / own threads "
          "| × floor_ws + caller (whole / own) | × floor_ws (own) | floor, thread per stream | fwasr thread per "
          "session: whole / own | × floor (own) | RSS per stream: shared / own |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in counts:
        fws, fwc, fwc_own = m("floor_ws", n, 0), m("floor_ws_caller", n, 0), m("floor_ws_caller", n, 1)
        sh, sh_own = m("shared", n, 0), m("shared", n, 1)
        fl, own, own_own = m("floor", n, 0), m("own", n, 0), m("own", n, 1)
        rss = lambda c: med([r["rss_kib_per_stream"] for r in by.get((c, n), [])])
        rss_s, rss_o = rss("shared"), rss("own")
        print(f"| {n:,} | {f(fws)} | {f(fwc)} / {f(fwc_own)} | {f(sh)} / {f(sh_own)} | {x(sh, fwc)} / {x(sh_own, fwc_own)} "
              f"| {x(sh_own, fws)} | {f(fl)} | {f(own)} / {f(own_own)} | {x(own_own, fl)} "
              f"| {f'{rss_s:.0f}' if rss_s else '—'} / {f'{rss_o:.0f}' if rss_o else '—'} KiB |")
    print()
    print("Every run (CPU-s per stream-hour, whole process / without the caller's thread):")
    print()
    for n in counts:
        for c in ("floor_ws", "floor_ws_caller", "shared", "floor", "own"):
            if (c, n) in by:
                own_runs = f" / {runs(c, n, 1)}" if c in ("floor_ws_caller", "shared", "own") else ""
                print(f"- {n:,} streams, {c}: {runs(c, n, 0)}{own_runs}")


def latency(rows):
    target = {100: 1.0, 1000: 2.0}
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r["streams"]][r["client"]].append(r.get("event_ms") or r.get("message_ms"))
    print("| streams | fwasr: runs with p99 within target | fwasr p99, each run (ms) | floor_ws p99, each run (ms) "
          "| fwasr p50, each run | floor_ws p50, each run | fwasr max, each run | floor_ws max, each run | messages per run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, c in sorted(by.items()):
        fw, fl = c.get("shared", []), c.get("floor_ws", [])
        t = target.get(n)
        within = f"{sum(1 for e in fw if t and e['p99'] <= t)} of {len(fw)} (≤ {t} ms)" if t else "—"
        col = lambda runs, k: " ".join(f"{e[k]:.2f}" for e in runs) or "—"
        print(f"| {n:,} | {within} | {col(fw, 'p99')} | {col(fl, 'p99')} | {col(fw, 'p50')} | {col(fl, 'p50')} "
              f"| {col(fw, 'max')} | {col(fl, 'max')} | {statistics.median(e['n'] for e in fw):.0f} |")


def isolation(rows):
    print("| threads | streams | stream 0's callback sleeps | other streams' chunks, push to arrival: p50 / p99 / max (ms) | chunks |")
    print("|---|---|---|---|---|")
    for r in rows:
        name = {"own": "a thread per session", "shared": "shared threads"}[r["client"]]
        print(f"| {name} | {r['streams']} | {r['slow_ms']} ms per segment event | {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.2f} | {r['chunks']} |")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    rows = [json.loads(l) for l in open(path) if l.strip()]
    {"cpu": cpu, "latency": latency, "isolation": isolation}[mode](rows)


if __name__ == "__main__":
    main()
