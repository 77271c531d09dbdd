"""The baseline client: N streams in one Python process, written the way the vendor's example
client is (websocket-client's WebSocketApp, run_forever in a thread, a sender thread that
sends a 50 ms chunk and sleeps 50 ms, json.loads and a locked dict update per message).

    python baseline.py URL N SECONDS OUTDIR

Prints CPU as one JSON line and writes OUTDIR/completions.txt (per stream: its id and the
CLOCK_MONOTONIC time just before each chunk's send) and OUTDIR/events.txt (event latencies
in ns from the server's send stamp to the message handled, and the stamp), the files
fwasr_bench writes too.
"""

import json
import os
import resource
import sys
import threading
import time
import urllib.parse

import websocket

CHUNK_MS = 50
CHUNK = bytes((i * 37) % 251 for i in range(1600))


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def server_cpu_seconds():
    """The server's CPU seconds when run.sh names its process in BENCH_SERVER_PID, else -1."""
    pid = os.environ.get("BENCH_SERVER_PID")
    if not pid:
        return -1
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def main():
    url, n, seconds, outdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    chunks = seconds * 1000 // CHUNK_MS
    opened = threading.Barrier(n + 1)
    start = threading.Event()
    sends = [[] for _ in range(n)]
    latencies = [[] for _ in range(n)]
    done = [threading.Event() for _ in range(n)]
    sent_all = [0] * n
    lock = threading.Lock()
    state = {}

    def stream(i):
        def on_open(ws):
            def send_audio_chunks():
                opened.wait()
                start.wait()
                # Streams start at different times (as fwasr_bench and the floor spread theirs).
                time.sleep(i * CHUNK_MS / 1000 / n)
                for _ in range(chunks):
                    sends[i].append(time.clock_gettime_ns(time.CLOCK_MONOTONIC))
                    ws.send(CHUNK, opcode=websocket.ABNF.OPCODE_BINARY)
                    time.sleep(CHUNK_MS / 1000)
                sent_all[i] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                ws.send(json.dumps({"checkpoint_id": "final"}), opcode=websocket.ABNF.OPCODE_TEXT)

            threading.Thread(target=send_audio_chunks).start()

        def on_message(ws, message):
            t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            message = json.loads(message)
            latencies[i].append((t - message["devserver_sent_ns"], message["devserver_sent_ns"]))
            if message.get("checkpoint_id") == "final":
                ws.close()
                return
            update = {(i, s["id"]): s["text"] for s in message["segments"]}
            with lock:
                state.update(update)

        def on_error(ws, error):
            print(f"WebSocket error: {error}", file=sys.stderr)

        params = urllib.parse.urlencode({"language": "en", "bench_stream": i})
        ws = websocket.WebSocketApp(f"{url}?{params}", on_open=on_open, on_message=on_message, on_error=on_error)
        ws.run_forever()
        done[i].set()

    rss0 = rss_kib()
    for i in range(n):
        threading.Thread(target=stream, args=(i,), daemon=True).start()
    opened.wait()
    cpu0, wall0, server0 = cpu_seconds(), time.monotonic(), server_cpu_seconds()
    start.set()
    # Memory while every stream is sending.
    time.sleep(seconds * 0.8)
    rss = rss_kib() - rss0
    server = server_cpu_seconds() - server0 if server0 >= 0 else -1
    server_wall = time.monotonic() - wall0
    for d in done:
        d.wait()
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    with open(f"{outdir}/completions.txt", "w") as f:
        for i, s in enumerate(sends):
            f.write(" ".join(map(str, [i, *s])) + "\n")
    with open(f"{outdir}/events.txt", "w") as f:
        for lat in latencies:
            f.writelines(f"{x} {stamp}\n" for x, stamp in lat)
    print(json.dumps({"bench": "baseline", "streams": n, "seconds": round(wall, 3), "cpu_s": round(cpu, 4), "stream_end_ns": min(sent_all),
                      "server_cpu_s": round(server * seconds / server_wall, 3) if server >= 0 else -1,
                      "rss_kib": rss, "rss_kib_per_stream": round(rss / n, 1)}))


if __name__ == "__main__":
    main()
