// The callback side of Fwasr.cs against fwasr-devserver ($FWASR_URL, which drops each
// connection after 4 s of audio): event and log callbacks through the MonoPInvokeCallback
// trampolines, reconnect events and counters, traces, checkpoints, clears, segments, names.
//   callbacks.exe SAMPLE.wav "expected transcript"
using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using Fwasr;
using static Checks;

static class Callbacks
{
    static int Main(string[] args)
    {
        byte[] wav = File.ReadAllBytes(args[0]);
        var events = new ConcurrentQueue<Event>();
        var logs = new ConcurrentQueue<string>();
        using (var cfg = new Config()
                   .Url(Environment.GetEnvironmentVariable("FWASR_URL"))
                   .Reconnect(5, 20, 200)
                   .KeepaliveMs(5000)
                   .FinishTimeoutMs(10000)
                   .ChunkMs(50)
                   .OnEvent(e => events.Enqueue(e))
                   .OnLog((level, line) => logs.Enqueue(level + " " + line), LogLevel.Info))
        using (var s = new Session(cfg))
        {
            s.WaitReady(10000);
            s.Checkpoint("cp");
            s.Trace("tr");
            s.Clear("rs");
            var piece = new byte[3200];
            for (int off = 44; off < wav.Length; off += piece.Length)
            {
                int n = Math.Min(piece.Length, wav.Length - off);
                Array.Copy(wav, off, piece, 0, n);
                s.PushWait(piece, n, 10000);
            }
            s.Finish(30000);
            var all = events.ToArray();
            Check(all.Length > 0 && all[0].Type == EventType.Connected, "Connected first");
            Check(all.Count(e => e.Type == EventType.Closed) == 1 && all.Last().Type == EventType.Closed
                  && all.Last().Status == Status.Ok, "one Closed, last, Ok");
            var reconnecting = all.Where(e => e.Type == EventType.Reconnecting).ToArray();
            var reconnected = all.Where(e => e.Type == EventType.Reconnected).ToArray();
            Check(reconnecting.Length >= 1, "Reconnecting events");
            Check(reconnecting.All(e => e.Attempt >= 1 && e.BackoffMs > 0 && e.Status == Status.Io), "attempt and backoff");
            Check(reconnected.Length == reconnecting.Length, "a Reconnected for each Reconnecting");
            Check(reconnected.All(e => e.StartS > 0 && e.ReplayedMs >= 0), "resume point and replay");
            Check(all.Any(e => e.Type == EventType.Checkpoint && e.CheckpointId == "cp"), "checkpoint echo");
            Check(all.Any(e => e.Type == EventType.Trace && e.CheckpointId == "tr" && e.RttMs >= 0), "trace answer");
            Check(all.Any(e => e.Type == EventType.Cleared && e.CheckpointId == "rs"), "clear answer");
            Check(all.Any(e => e.Type == EventType.Segment && e.Json != null), "segments with their message");
            Check(s.Stats.Reconnects == (ulong)reconnected.Length, "reconnect counter");
            Check(s.Stats.AudioMsSent > 9000 && s.Stats.AudioMsDropped == 0, "audio sent, none dropped");
            Check(s.Transcript == args[1], "transcript: " + s.Transcript);
            var segs = s.Segments;
            Check(segs.Length == 3 && segs.All(g => g.IsFinal == 1 && g.EndS > g.StartS), "segment snapshot");
            Check(s.State == State.Closed, "state Closed");
            var lines = logs.ToArray();
            Check(lines.Any(l => l.StartsWith("Info connecting to")), "log: connecting");
            Check(lines.Any(l => l.StartsWith("Warn") && l.Contains("reconnecting in")), "log: reconnecting");
        }
        int after = events.Count;
        System.Threading.Thread.Sleep(200);
        Check(events.Count == after, "no callback after Dispose");
        Check(Library.StatusName(Status.Timeout) == "FWASR_ERR_TIMEOUT", "status name");
        Check(Library.EventTypeName(EventType.Reconnected) == "RECONNECTED", "event type name");
        Check(Endpoints.Production.StartsWith("wss://") && Endpoints.V2Preview.Contains("v2"), "endpoints");
        return Result();
    }
}
