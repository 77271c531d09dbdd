// Streams a 16 kHz mono WAV to fwasr-devserver ($FWASR_URL) through Fwasr.cs the way a Unity
// game would: 20 ms pushes and NextEvent(0) polls in one loop, then checks the transcript.
using System;
using System.IO;
using Fwasr;
using static Checks;

static class StreamSample
{
    static int Main(string[] args)
    {
        byte[] wav = File.ReadAllBytes(args[0]);
        string expected = args[1];
        string wavCopy = Path.GetTempFileName();
        using (var cfg = new Config().Url(Environment.GetEnvironmentVariable("FWASR_URL")).Language("en").SharedIo(true).WordTimestamps(true).RecordPath(wavCopy))
        using (var s = new Session(cfg))
        {
            try { new Config().BufferMs(1); Check(false, "BufferMs(1) throws"); }
            catch (FwasrException e) { Check(e.Status == Status.InvalidArgument, "status of a bad value"); }
            Check(s.TryPush(new float[4], 4) == Status.InvalidArgument, "push of the wrong format");

            var frame = new byte[640];
            int segments = 0, closed = 0, latencies = 0;
            Status end = Status.Internal;
            for (int off = 44; off < wav.Length; off += frame.Length)
            {
                int n = Math.Min(frame.Length, wav.Length - off);
                Array.Copy(wav, off, frame, 0, n);
                Check(s.TryPush(frame, n) == Status.Ok, "push");
                for (Event e; (e = s.NextEvent(0)) != null;)
                    if (e.Type == EventType.Segment && e.Words.Length > 0) { segments++; if (e.LatencyMs >= 0) latencies++; }
            }
            s.Finish(0);
            for (Event e; (e = s.NextEvent(10000)) != null;)
            {
                if (e.Type == EventType.Segment && e.Words.Length > 0) { segments++; if (e.LatencyMs >= 0) latencies++; }
                if (e.Type == EventType.Closed) { closed++; end = e.Status; }
            }
            Check(closed == 1 && end == Status.Ok, "one Closed event, status Ok");
            Check(segments >= 3, "segment events with words");
            Check(s.State == State.Closed, "state Closed");
            Check(s.Transcript == expected, "transcript: " + s.Transcript);
            // The words spell the transcript, each final, in time order, with a probability.
            var words = new System.Collections.Generic.List<string>();
            double last = 0;
            bool ordered = true;
            foreach (var g in s.Segments)
                foreach (var w in g.Words)
                {
                    words.Add(w.Text);
                    ordered &= w.IsFinal == 1 && w.StartS >= last && w.EndS > w.StartS && w.Probability >= 0.5 && w.Probability < 1;
                    last = w.EndS;
                }
            Check(string.Join(" ", words) == expected, "words: " + string.Join(" ", words));
            Check(ordered, "word times in order, final, with probabilities");
            // Word timestamps give segment times, so latency is measured.
            Check(s.Stats.FinalLatencyP50Ms >= 0 && s.Stats.FinalLatencyP50Ms <= s.Stats.FinalLatencyMaxMs * 1.01,
                  "final latency: " + s.Stats.FinalLatencyP50Ms + " ms");
            // A latency on the segment events: NaN is allowed for audio the server answers
            // before the push stamp that times it reaches the network thread (a burst's pushes
            // are timed by the next stamp), or when the stamps' ring was full.
            Check(latencies * 2 >= segments && latencies > 0, "latencies on " + latencies + " of " + segments + " segment events");
            Check(s.Stats.BytesSent == (ulong)((wav.Length - 44) / 2 * 2), "bytes sent");
            // The sample's own levels: peak -1.71 dBFS, nothing clipped, 2.18 s below -60 dBFS.
            Check(Math.Abs(s.Stats.PeakDbfs + 1.715) < 0.01 && s.Stats.ClippedSamples == 0, "peak level, no clipping");
            Check(s.Stats.AudioMsBelowSilence == 2180, "silence: " + s.Stats.AudioMsBelowSilence);
            Check(Session.Version.StartsWith("0."), "version");
            // Finish returned: the recording is complete, the same audio after its header.
            byte[] copy = File.ReadAllBytes(wavCopy);
            Check(copy.Length == 44 + (wav.Length - 44) / 2 * 2 && s.Stats.AudioMsNotRecorded == 0, "recording: " + copy.Length + " bytes");
            File.Delete(wavCopy);
        }
        return Result();
    }
}
