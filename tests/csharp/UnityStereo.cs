// What README's Unity snippet does, without Unity: OnAudioFilterRead hands over interleaved
// stereo floats at 48 kHz in buffers of 1,024 frames, and the session is configured with the
// channel count it delivers. The audio that reaches fwasr-devserver (--save-audio DIR) must
// last as long as what was played and carry the same 1 kHz tone; a session configured mono
// would deliver it twice as long, an octave down.
//   unity_stereo.exe DIR
using System;
using System.IO;
using System.Threading;
using Fwasr;
using static Checks;

static class UnityStereo
{
    const int Rate = 48000, Channels = 2, Frames = 1024;
    const double Seconds = 2.0, Tone = 1000.0;

    static int Main(string[] args)
    {
        string dir = args[0];
        using (var s = new Session(new Config()
                   .Url(Environment.GetEnvironmentVariable("FWASR_URL"))
                   .InputFormat(Format.F32, Rate, Channels)))
        {
            var data = new float[Frames * Channels];
            long frame = 0, total = (long)(Rate * Seconds);
            while (frame < total)
            {
                int n = (int)Math.Min(Frames, total - frame);
                for (int i = 0; i < n; i++, frame++)
                {
                    float x = (float)(0.5 * Math.Sin(2 * Math.PI * Tone * frame / Rate));
                    data[Channels * i] = x;
                    data[Channels * i + 1] = x;
                }
                // OnAudioFilterRead(float[] data, int channels): session.TryPush(data, data.Length)
                Check(s.TryPush(data, n * Channels) == Status.Ok, "push");
            }
            s.Finish(10000);
        }
        // The devserver writes a connection's audio once the connection has ended.
        string raw = Path.Combine(dir, "connection-0.raw");
        for (int i = 0; i < 100 && !File.Exists(raw); i++) Thread.Sleep(50);
        Thread.Sleep(100);
        byte[] bytes = File.ReadAllBytes(raw);
        double seconds = bytes.Length / 32000.0;
        Check(Math.Abs(seconds - Seconds) < 0.1, "duration " + seconds + " s, want " + Seconds);
        // The tone's zero crossings in the middle second: 2,000 for 1 kHz.
        int crossings = 0;
        short prev = BitConverter.ToInt16(bytes, 2 * 7999);
        for (int i = 8000; i < 24000; i++)
        {
            short x = BitConverter.ToInt16(bytes, 2 * i);
            if ((x >= 0) != (prev >= 0)) crossings++;
            prev = x;
        }
        Check(Math.Abs(crossings - 2000) < 40, crossings + " zero crossings in a second, want 2000");
        return Result();
    }
}
