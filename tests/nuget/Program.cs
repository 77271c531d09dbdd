// Streams a WAV file to $FWASR_URL with the Fwasr package's async API and prints the final
// transcript; exit status 0 when it is the expected one.
using System;
using System.IO;
using System.Threading.Tasks;
using Fwasr;

static class App
{
    static async Task<string> Transcribe(byte[] wav)
    {
        using (var cfg = new Config().Url(Environment.GetEnvironmentVariable("FWASR_URL")))
        using (var s = new Session(cfg))
        {
            await s.WaitReadyAsync(10000);
            for (int off = 44; off < wav.Length; off += 3200)
            {
                int n = Math.Min(3200, wav.Length - off);
                var piece = new byte[n];
                Array.Copy(wav, off, piece, 0, n);
                s.PushWait(piece, n, 10000);
            }
            await s.FinishAsync(30000);
            return s.Transcript;
        }
    }

    static int Main(string[] args)
    {
        string text = Transcribe(File.ReadAllBytes(args[0])).Result;
        Console.WriteLine("fwasr " + Session.Version + " from the NuGet package: " + text);
        return text == args[1] ? 0 : 1;
    }
}
