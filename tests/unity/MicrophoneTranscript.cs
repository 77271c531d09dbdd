// The package's sample: streams the default microphone to the transcription service and shows
// the transcript as it evolves. Put it on any GameObject; set the URL (a local
// fwasr-devserver, or the Fireworks endpoint with an API key).
using System.Threading;
using Fwasr;
using UnityEngine;

public class MicrophoneTranscript : MonoBehaviour
{
    public string url = Endpoints.Production;
    public string apiKey = "";

    const int Rate = 16000;
    Session session;
    AudioClip clip;
    int read;
    string transcript = "";

    void Start()
    {
        // A looping 10 s clip the microphone records into; Update sends what is new in it.
        clip = Microphone.Start(null, true, 10, Rate);
        var config = new Config().Url(url).Language("en").InputFormat(Format.F32, Rate, clip.channels)
            .OnEvent(OnEvent, SynchronizationContext.Current);
        if (apiKey != "") config.ApiKey(apiKey);
        session = new Session(config);
        config.Dispose();
    }

    void Update()
    {
        int at = Microphone.GetPosition(null);
        int fresh = (at - read + clip.samples) % clip.samples;
        if (fresh == 0) return;
        // GetData fills the whole array, wrapping around the end of the looping clip.
        var part = new float[fresh * clip.channels];
        clip.GetData(part, read);
        // Never blocks: a full queue (no network for a while) drops this piece and says so.
        if (session.TryPush(part, part.Length) == Status.BufferFull) Debug.LogWarning("fwasr: audio dropped");
        read = at;
    }

    // On the main thread (OnEvent was given its SynchronizationContext), so Unity's API is safe.
    void OnEvent(Fwasr.Event e)
    {
        if (e.Type == Fwasr.EventType.Segment || e.Type == Fwasr.EventType.SegmentRemoved) transcript = session.Transcript;
        if (e.Type == Fwasr.EventType.Error || e.Type == Fwasr.EventType.Closed && e.Status != Status.Ok)
            Debug.LogWarning("fwasr: " + e.Status + " " + e.Message);
    }

    void OnGUI()
    {
        GUILayout.Label(transcript);
    }

    void OnDestroy()
    {
        Microphone.End(null);
        if (session != null) session.Dispose();
    }
}
