// The async C# API against fwasr-devserver ($FWASR_URL, started with a 300 ms handshake delay
// and the sample's script): WaitReadyAsync and FinishAsync return at once and complete later,
// cancel and time out; Events yields every event through Closed; OnEvent with a
// SynchronizationContext delivers on that context's thread, in order.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Fwasr;
using static Checks;

static class AsyncTests
{
    static Config Cfg() { return new Config().Url(Environment.GetEnvironmentVariable("FWASR_URL")); }

    static Exception Fault(Task t)
    {
        try { t.Wait(); return null; }
        catch (AggregateException e) { return e.InnerException; }
    }

    static async Task<List<Event>> ReadAll(Session s)
    {
        var seen = new List<Event>();
        var reader = s.Events.GetAsyncEnumerator();
        while (await reader.MoveNextAsync()) seen.Add(reader.Current);
        Check(!await reader.MoveNextAsync(), "nothing after Closed");
        await reader.DisposeAsync();
        return seen;
    }

    static void PushAll(Session s, byte[] wav)
    {
        for (int off = 44; off < wav.Length; off += 3200)
        {
            int n = Math.Min(3200, wav.Length - off);
            var piece = new byte[n];
            Array.Copy(wav, off, piece, 0, n);
            s.PushWait(piece, n, 10000);
        }
    }

    static async Task Run(byte[] wav, string expected)
    {
        // WaitReadyAsync hands back a task at once; it completes when the delayed handshake does.
        using (var cfg = Cfg())
        using (var s = new Session(cfg))
        {
            var clock = Stopwatch.StartNew();
            Task ready = s.WaitReadyAsync(10000);
            Check(clock.ElapsedMilliseconds < 100 && !ready.IsCompleted, "WaitReadyAsync returns before the connection is up");
            await ready;
            Check(clock.ElapsedMilliseconds >= 250 && s.State == State.Open, "ready after the 300 ms handshake");
        }

        // Cancelled, and timed out, while the handshake is still delayed.
        using (var cfg = Cfg())
        using (var s = new Session(cfg))
        {
            var cts = new CancellationTokenSource();
            Task ready = s.WaitReadyAsync(-1, cts.Token);
            cts.Cancel();
            Check(Fault(ready) is OperationCanceledException && ready.IsCanceled, "a cancelled wait ends cancelled");
            var late = Fault(s.WaitReadyAsync(50)) as FwasrException;
            Check(late != null && late.Status == Status.Timeout, "a wait shorter than the handshake times out");
            await s.WaitReadyAsync(10000);
            Check(s.State == State.Open, "the session connected all the same");
        }

        // Events as an async stream while the audio goes out; FinishAsync.
        using (var cfg = Cfg())
        using (var s = new Session(cfg))
        {
            Task<List<Event>> reading = ReadAll(s);
            PushAll(s, wav);
            var clock = Stopwatch.StartNew();
            Task finishing = s.FinishAsync(30000);
            Check(clock.ElapsedMilliseconds < 100, "FinishAsync returns at once");
            await finishing;
            List<Event> events = await reading;
            Check(events.Count > 3 && events[0].Type == EventType.Connected, "Connected first");
            Check(events[events.Count - 1].Type == EventType.Closed && events[events.Count - 1].Status == Status.Ok, "Closed last, Ok");
            Check(events.FindAll(e => e.Type == EventType.Segment).Count >= 3, "segment events");
            Check(s.Transcript == expected, "transcript: " + s.Transcript);
        }

        // A cancelled FinishAsync stops the wait, not the finishing.
        using (var cfg = Cfg())
        using (var s = new Session(cfg))
        {
            PushAll(s, wav);
            var cts = new CancellationTokenSource();
            cts.Cancel();
            Check(Fault(s.FinishAsync(-1, cts.Token)) is OperationCanceledException, "a cancelled finish ends cancelled");
            await s.FinishAsync(30000);
            Check(s.State == State.Closed && s.Transcript == expected, "finished all the same");
        }

        // Events handed to a SynchronizationContext run on its thread, in order.
        var main = new QueueContext();
        var onMain = new List<Event>();
        bool allOnMain = true;
        using (var cfg = Cfg().OnEvent(e => { onMain.Add(e); allOnMain &= Thread.CurrentThread == main.Thread; }, main))
        using (var s = new Session(cfg))
        {
            bool refused = false;
            try { s.Events.GetAsyncEnumerator(); }
            catch (InvalidOperationException) { refused = true; }
            Check(refused, "Events refuses a callback-mode session (its reader would spin)");
            PushAll(s, wav);
            await s.FinishAsync(30000);
        }
        main.Drain();
        Check(allOnMain, "every event on the context's thread");
        Check(onMain.Count > 3 && onMain[0].Type == EventType.Connected && onMain[onMain.Count - 1].Type == EventType.Closed,
              "in order, Connected to Closed");
    }

    static int Main(string[] args)
    {
        Run(File.ReadAllBytes(args[0]), args[1]).Wait();
        return Result();
    }
}

/// <summary>A main thread of its own: what is posted runs there, in order, as on Unity's.</summary>
sealed class QueueContext : SynchronizationContext
{
    readonly BlockingCollection<KeyValuePair<SendOrPostCallback, object>> queue =
        new BlockingCollection<KeyValuePair<SendOrPostCallback, object>>();
    public readonly Thread Thread;

    public QueueContext()
    {
        Thread = new Thread(() =>
        {
            foreach (var item in queue.GetConsumingEnumerable()) item.Key(item.Value);
        });
        Thread.Start();
    }

    public override void Post(SendOrPostCallback d, object state)
    {
        queue.Add(new KeyValuePair<SendOrPostCallback, object>(d, state));
    }

    /// <summary>Runs what was posted and stops the thread.</summary>
    public void Drain()
    {
        queue.CompleteAdding();
        Thread.Join();
    }
}
