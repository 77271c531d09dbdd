// Fwasr.cs: C# bindings for fwasr (Unity, .NET, Mono): the whole C API of fwasr.h, with
// SafeHandle-owned Config and Session.
//
// Unity: push audio from OnAudioFilterRead or a capture thread with TryPush (never throws,
// never blocks) and call NextEvent(0) from Update() until it returns null. OnAudioFilterRead
// delivers the interleaved samples of every output channel (stereo by default): configure
// InputFormat with that channel count (README shows how).
//
// Calls that block, so keep them off Unity's main thread (or pass a zero timeout): Finish,
// WaitReady, PushWait, NextEvent with a timeout, and Dispose of a Session (it stops the session
// and waits up to about a second for its network thread). Their async forms never block the
// calling thread and take a CancellationToken: WaitReadyAsync, FinishAsync, and Events (every
// event as an IAsyncEnumerable, ending with Closed). The synchronous calls stay for audio
// threads and for code that owns its threads.
//
// Callbacks (OnEvent, OnLog) run on fwasr's network thread, where most of Unity's API must not
// be touched: OnEvent(handler, SynchronizationContext.Current) called on Unity's main thread
// hands every event to the main thread, in order (or queue them yourself and handle them in
// Update()). They go through static
// trampolines marked [MonoPInvokeCallback], as IL2CPP requires, with a GCHandle to the
// delegate as the user data; the handle lives until the config and every session opened from
// it are disposed.
//
// The native library is "fwasr" (libfwasr.so / libfwasr.dylib / fwasr.dll) on the plugin or
// library path; on iOS it is linked statically ("__Internal").
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

#if !UNITY_5_3_OR_NEWER
namespace AOT
{
    /// <summary>Unity's marker for methods native code calls back (IL2CPP needs it); declared
    /// here for plain .NET and Mono, where Unity does not provide it.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type) { }
    }
}
#endif

namespace Fwasr
{
    public enum Status
    {
        Ok = 0, InvalidArgument = 1, State = 2, BufferFull = 3, Timeout = 4, Resolve = 5, Connect = 6,
        ConnectTimeout = 7, Tls = 8, Handshake = 9, Auth = 10, Protocol = 11, Server = 12, Closed = 13,
        Io = 14, Busy = 15, Internal = 16, Resource = 17,
    }

    public enum EventType
    {
        Connected = 0, Segment = 1, SegmentRemoved = 2, Checkpoint = 3, Trace = 4, Cleared = 5,
        Overrun = 6, Error = 7, Closed = 8, Reconnecting = 9, Reconnected = 10,
    }

    public enum Format { S16LE = 0, F32 = 1, MuLaw = 2, ALaw = 3 }

    public enum State { Connecting = 0, Open = 1, Finishing = 2, Closed = 3, Failed = 4 }

    public enum LogLevel { Error = 1, Warn = 2, Info = 3, Debug = 4 }

    /// <summary>Fireworks' endpoints, for Config.Url.</summary>
    public static class Endpoints
    {
        /// <summary>Production (v1), the default.</summary>
        public const string Production = "wss://audio-streaming.api.fireworks.ai/v1/audio/transcriptions/streaming";
        /// <summary>The regional us-virginia-1 host.</summary>
        public const string UsVirginia = "wss://audio-streaming.us-virginia-1.direct.fireworks.ai/v1/audio/transcriptions/streaming";
        /// <summary>The v2 preview (a newer model; same protocol and path).</summary>
        public const string V2Preview = "wss://audio-streaming-v2.api.fireworks.ai/v1/audio/transcriptions/streaming";
    }

    /// <summary>Session counters (fwasr_stats).</summary>
    public sealed class Stats
    {
        public double AudioMsPushed, AudioMsSent, AudioMsDropped, AudioMsQueued;
        public ulong BytesSent, ChunksSent, MessagesReceived;
        public double LastRttMs, AudioMsSilence;
        public ulong Reconnects;
        public double AudioMsReplayed;
        /// <summary>Levels of the audio sent (see fwasr_stats): dBFS, NaN before any audio.</summary>
        public double LevelRmsDbfs, LevelPeakDbfs, PeakDbfs;
        public ulong ClippedSamples;
        public double AudioMsBelowSilence;
        /// <summary>Latency of the segments as they became final (see fwasr_stats): ms, NaN before one.</summary>
        public double FinalLatencyP50Ms, FinalLatencyP95Ms, FinalLatencyMaxMs;
        /// <summary>Audio sent that the recording left out (see fwasr_stats).</summary>
        public double AudioMsNotRecorded;
    }

    /// <summary>A word with its times (fwasr_word).</summary>
    public sealed class Word
    {
        public string Text;
        /// <summary>NaN unless word timestamps were asked for.</summary>
        public double StartS, EndS;
        /// <summary>NaN when the server sent none.</summary>
        public double Probability;
        public int IsFinal;

        internal static Word[] All(Func<UIntPtr> count, Func<UIntPtr, IntPtr> get)
        {
            var words = new Word[(int)count()];
            for (int i = 0; i < words.Length; i++)
            {
                var raw = (Native.RawWord)Marshal.PtrToStructure(get((UIntPtr)i), typeof(Native.RawWord));
                words[i] = new Word
                {
                    Text = Native.Utf8(raw.text), StartS = raw.start_s, EndS = raw.end_s,
                    Probability = raw.probability, IsFinal = raw.is_final,
                };
            }
            return words;
        }
    }

    /// <summary>One segment of a snapshot (fwasr_segment).</summary>
    public sealed class Segment
    {
        public string Id, Text;
        public int IsFinal;
        public double StartS, EndS;
        public Word[] Words;
    }

    /// <summary>An event, copied out of the library's fwasr_event.</summary>
    public sealed class Event
    {
        public EventType Type;
        public string SegmentId, Text, CheckpointId, Message, Json;
        public int IsFinal;
        public double StartS, EndS, RttMs, DroppedMs;
        public Status Status;
        public int Code;
        public int Attempt;
        public double ReplayedMs, BackoffMs;
        /// <summary>SEGMENT, SEGMENT_REMOVED: the segment's words (empty when none).</summary>
        public Word[] Words;
        /// <summary>SEGMENT: ms from the push of the audio at the segment's end; NaN when unknown.</summary>
        public double LatencyMs;

        internal static Event From(IntPtr p)
        {
            var raw = (Native.RawEvent)Marshal.PtrToStructure(p, typeof(Native.RawEvent));
            return new Event
            {
                Type = (EventType)raw.type, SegmentId = Native.Utf8(raw.segment_id), Text = Native.Utf8(raw.text),
                IsFinal = raw.is_final, StartS = raw.start_s, EndS = raw.end_s,
                CheckpointId = Native.Utf8(raw.checkpoint_id), RttMs = raw.rtt_ms, DroppedMs = raw.dropped_ms,
                Status = (Status)raw.status, Code = raw.code, Message = Native.Utf8(raw.message),
                Json = Native.Utf8(raw.json), Attempt = raw.attempt, ReplayedMs = raw.replayed_ms,
                BackoffMs = raw.backoff_ms, LatencyMs = raw.latency_ms,
                Words = Word.All(() => Native.fwasr_event_word_count(p), i => Native.fwasr_event_word(p, i)),
            };
        }
    }

    public sealed class FwasrException : Exception
    {
        public readonly Status Status;

        public FwasrException(Status status, string message) : base(status + ": " + message) { Status = status; }

        internal static void Check(Status status)
        {
            if (status != Status.Ok) throw new FwasrException(status, Native.Utf8(Native.fwasr_last_error()));
        }
    }

    /// <summary>Names and version of the library.</summary>
    public static class Library
    {
        public static string Version { get { return Native.Utf8(Native.fwasr_version()); } }
        public static string StatusName(Status status) { return Native.Utf8(Native.fwasr_status_str((int)status)); }
        public static string EventTypeName(EventType type) { return Native.Utf8(Native.fwasr_event_type_str((int)type)); }
        /// <summary>The message of the last failed call on this thread.</summary>
        public static string LastError { get { return Native.Utf8(Native.fwasr_last_error()); } }
    }

    public sealed class ConfigHandle : SafeHandle
    {
        ConfigHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.fwasr_config_free(handle); return true; }
    }

    public sealed class SessionHandle : SafeHandle
    {
        SessionHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle() { Native.fwasr_session_free(handle); return true; }
    }

    /// <summary>A delegate the library calls back, pinned by a GCHandle that goes when the last
    /// of its holders (the config, the sessions opened from it) lets go.</summary>
    internal sealed class Pinned
    {
        readonly GCHandle handle;
        int holders = 1;

        internal Pinned(object target) { handle = GCHandle.Alloc(target); }

        internal IntPtr UserData { get { return GCHandle.ToIntPtr(handle); } }

        internal Pinned Hold() { Interlocked.Increment(ref holders); return this; }

        internal void Release() { if (Interlocked.Decrement(ref holders) == 0) handle.Free(); }
    }

    internal static class Native
    {
#if UNITY_IOS && !UNITY_EDITOR
        const string Lib = "__Internal";
#else
        const string Lib = "fwasr";
#endif

        [StructLayout(LayoutKind.Sequential)]
        internal struct RawEvent
        {
            public int type;
            public IntPtr segment_id, text;
            public int is_final;
            public double start_s, end_s;
            public IntPtr checkpoint_id;
            public double rtt_ms, dropped_ms;
            public int status, code;
            public IntPtr message, json;
            public int attempt;
            public double replayed_ms, backoff_ms, latency_ms;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct RawStats
        {
            public double audio_ms_pushed, audio_ms_sent, audio_ms_dropped, audio_ms_queued;
            public ulong bytes_sent, chunks_sent, messages_received;
            public double last_rtt_ms, audio_ms_silence;
            public ulong reconnects;
            public double audio_ms_replayed;
            public double level_rms_dbfs, level_peak_dbfs, peak_dbfs;
            public ulong clipped_samples;
            public double audio_ms_below_silence;
            public double final_latency_p50_ms, final_latency_p95_ms, final_latency_max_ms;
            public double audio_ms_not_recorded;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct RawWord
        {
            public IntPtr text;
            public double start_s, end_s, probability;
            public int is_final;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct RawSegment
        {
            public IntPtr id, text;
            public int is_final;
            public double start_s, end_s;
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void EventFn(IntPtr userdata, IntPtr ev);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void LogFn(IntPtr userdata, int level, IntPtr message);

        [DllImport(Lib)] internal static extern IntPtr fwasr_version();
        [DllImport(Lib)] internal static extern IntPtr fwasr_last_error();
        [DllImport(Lib)] internal static extern IntPtr fwasr_status_str(int status);
        [DllImport(Lib)] internal static extern IntPtr fwasr_event_type_str(int type);
        [DllImport(Lib)] internal static extern ConfigHandle fwasr_config_new();
        [DllImport(Lib)] internal static extern void fwasr_config_free(IntPtr cfg);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_url(ConfigHandle cfg, byte[] url);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_api_key(ConfigHandle cfg, byte[] key);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_language(ConfigHandle cfg, byte[] language);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_prompt(ConfigHandle cfg, byte[] prompt);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_temperature(ConfigHandle cfg, float temperature);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_response_format(ConfigHandle cfg, byte[] format);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_param(ConfigHandle cfg, byte[] name, byte[] value);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_header(ConfigHandle cfg, byte[] name, byte[] value);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_input_format(ConfigHandle cfg, int format, uint rate, uint channels);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_input_channel(ConfigHandle cfg, int channel);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_chunk_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_buffer_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_pacing(ConfigHandle cfg, double factor);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_connect_timeout_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_finish_timeout_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_keepalive_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_idle_silence_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_reconnect(ConfigHandle cfg, uint maxAttempts, uint initialBackoffMs, uint maxBackoffMs);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_tls_ca_file(ConfigHandle cfg, byte[] path);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_proxy(ConfigHandle cfg, byte[] proxy);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_record_path(ConfigHandle cfg, byte[] path);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_tls_verify(ConfigHandle cfg, [MarshalAs(UnmanagedType.I1)] bool verify);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_word_timestamps(ConfigHandle cfg, [MarshalAs(UnmanagedType.I1)] bool on);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_shared_io(ConfigHandle cfg, [MarshalAs(UnmanagedType.I1)] bool shared);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_event_callback(ConfigHandle cfg, EventFn callback, IntPtr userdata);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_log_callback(ConfigHandle cfg, LogFn callback, IntPtr userdata, int level);
        [DllImport(Lib)] internal static extern Status fwasr_session_open(ConfigHandle cfg, out SessionHandle session);
        [DllImport(Lib)] internal static extern void fwasr_session_free(IntPtr session);
        [DllImport(Lib)] internal static extern Status fwasr_session_wait_ready(SessionHandle s, int timeoutMs);
        [DllImport(Lib)] internal static extern Status fwasr_session_push(SessionHandle s, byte[] data, UIntPtr nbytes);
        [DllImport(Lib)] internal static extern Status fwasr_session_push_s16(SessionHandle s, short[] samples, UIntPtr n);
        [DllImport(Lib)] internal static extern Status fwasr_session_push_f32(SessionHandle s, float[] samples, UIntPtr n);
        [DllImport(Lib)] internal static extern Status fwasr_session_push_wait(SessionHandle s, byte[] data, UIntPtr nbytes, int timeoutMs);
        [DllImport(Lib)] internal static extern Status fwasr_session_checkpoint(SessionHandle s, byte[] id);
        [DllImport(Lib)] internal static extern Status fwasr_session_trace(SessionHandle s, byte[] id);
        [DllImport(Lib)] internal static extern Status fwasr_session_clear(SessionHandle s, byte[] id);
        [DllImport(Lib)] internal static extern Status fwasr_session_finish(SessionHandle s, int timeoutMs);
        [DllImport(Lib)] internal static extern IntPtr fwasr_session_next_event(SessionHandle s, int timeoutMs);
        [DllImport(Lib)] internal static extern void fwasr_event_free(IntPtr ev);
        [DllImport(Lib)] internal static extern UIntPtr fwasr_session_transcript(SessionHandle s, byte[] buf, UIntPtr cap);
        [DllImport(Lib)] internal static extern IntPtr fwasr_session_segments(SessionHandle s);
        [DllImport(Lib)] internal static extern UIntPtr fwasr_segments_len(IntPtr segments);
        [DllImport(Lib)] internal static extern IntPtr fwasr_segments_get(IntPtr segments, UIntPtr index);
        [DllImport(Lib)] internal static extern void fwasr_segments_free(IntPtr segments);
        [DllImport(Lib)] internal static extern UIntPtr fwasr_segment_word_count(IntPtr segment);
        [DllImport(Lib)] internal static extern IntPtr fwasr_segment_word(IntPtr segment, UIntPtr index);
        [DllImport(Lib)] internal static extern UIntPtr fwasr_event_word_count(IntPtr ev);
        [DllImport(Lib)] internal static extern IntPtr fwasr_event_word(IntPtr ev, UIntPtr index);
        [DllImport(Lib)] internal static extern Status fwasr_session_stats(SessionHandle s, out RawStats stats, UIntPtr size);
        [DllImport(Lib)] internal static extern State fwasr_session_state(SessionHandle s);

        /// <summary>A NUL-terminated UTF-8 copy of s (null stays null: NULL for the library).</summary>
        internal static byte[] Z(string s) { return s == null ? null : Encoding.UTF8.GetBytes(s + "\0"); }

        /// <summary>A string from a NUL-terminated UTF-8 pointer (older Mono lacks PtrToStringUTF8).</summary>
        internal static string Utf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }

        // The trampolines the library calls; kept in static fields so they are never collected.
        internal static readonly EventFn EventTrampoline = OnEvent;
        internal static readonly LogFn LogTrampoline = OnLog;

        [AOT.MonoPInvokeCallback(typeof(EventFn))]
        static void OnEvent(IntPtr userdata, IntPtr ev)
        {
            // An exception must not unwind into native code.
            try { ((Action<Event>)GCHandle.FromIntPtr(userdata).Target)(Event.From(ev)); }
            catch (Exception) { }
        }

        [AOT.MonoPInvokeCallback(typeof(LogFn))]
        static void OnLog(IntPtr userdata, int level, IntPtr message)
        {
            try { ((Action<LogLevel, string>)GCHandle.FromIntPtr(userdata).Target)((LogLevel)level, Utf8(message)); }
            catch (Exception) { }
        }
    }

    /// <summary>A session configuration (fwasr_config). Reusable; dispose when done.</summary>
    public sealed class Config : IDisposable
    {
        internal readonly ConfigHandle Handle;
        internal Pinned EventHandler, LogHandler;

        public Config()
        {
            Handle = Native.fwasr_config_new();
            if (Handle.IsInvalid) throw new OutOfMemoryException("fwasr_config_new");
        }

        Config Set(Status status) { FwasrException.Check(status); return this; }

        public Config Url(string url) { return Set(Native.fwasr_config_set_url(Handle, Native.Z(url))); }
        public Config ApiKey(string key) { return Set(Native.fwasr_config_set_api_key(Handle, Native.Z(key))); }
        public Config Language(string language) { return Set(Native.fwasr_config_set_language(Handle, Native.Z(language))); }
        public Config Prompt(string prompt) { return Set(Native.fwasr_config_set_prompt(Handle, Native.Z(prompt))); }
        public Config Temperature(float t) { return Set(Native.fwasr_config_set_temperature(Handle, t)); }
        public Config ResponseFormat(string format) { return Set(Native.fwasr_config_set_response_format(Handle, Native.Z(format))); }
        public Config Param(string name, string value) { return Set(Native.fwasr_config_set_param(Handle, Native.Z(name), Native.Z(value))); }
        public Config Header(string name, string value) { return Set(Native.fwasr_config_set_header(Handle, Native.Z(name), Native.Z(value))); }
        /// <summary>What TryPush takes: format, rate, and the channels it interleaves.</summary>
        public Config InputFormat(Format format, int sampleRate, int channels)
        {
            return Set(Native.fwasr_config_set_input_format(Handle, (int)format, (uint)sampleRate, (uint)channels));
        }
        /// <summary>Take one channel (from 0) of multi-channel input; -1 averages them (default).</summary>
        public Config InputChannel(int channel) { return Set(Native.fwasr_config_set_input_channel(Handle, channel)); }
        public Config ChunkMs(int ms) { return Set(Native.fwasr_config_set_chunk_ms(Handle, (uint)ms)); }
        public Config BufferMs(int ms) { return Set(Native.fwasr_config_set_buffer_ms(Handle, (uint)ms)); }
        public Config Pacing(double factor) { return Set(Native.fwasr_config_set_pacing(Handle, factor)); }
        public Config ConnectTimeoutMs(int ms) { return Set(Native.fwasr_config_set_connect_timeout_ms(Handle, (uint)ms)); }
        public Config FinishTimeoutMs(int ms) { return Set(Native.fwasr_config_set_finish_timeout_ms(Handle, (uint)ms)); }
        public Config KeepaliveMs(int ms) { return Set(Native.fwasr_config_set_keepalive_ms(Handle, (uint)ms)); }
        public Config IdleSilenceMs(int ms) { return Set(Native.fwasr_config_set_idle_silence_ms(Handle, (uint)ms)); }
        /// <summary>Reconnect after a drop (0 attempts: off, the default).</summary>
        public Config Reconnect(int maxAttempts, int initialBackoffMs, int maxBackoffMs)
        {
            return Set(Native.fwasr_config_set_reconnect(Handle, (uint)maxAttempts, (uint)initialBackoffMs, (uint)maxBackoffMs));
        }
        public Config TlsCaFile(string path) { return Set(Native.fwasr_config_set_tls_ca_file(Handle, Native.Z(path))); }
        public Config TlsVerify(bool verify) { return Set(Native.fwasr_config_set_tls_verify(Handle, verify)); }
        public Config WordTimestamps(bool on) { return Set(Native.fwasr_config_set_word_timestamps(Handle, on)); }
        /// <summary>The HTTP proxy (see fwasr_config_set_proxy): "" for none, null for the environment's.</summary>
        public Config Proxy(string url) { return Set(Native.fwasr_config_set_proxy(Handle, Native.Z(url))); }
        /// <summary>A WAV copy of the audio sent (see fwasr_config_set_record_path); null for none.</summary>
        public Config RecordPath(string path) { return Set(Native.fwasr_config_set_record_path(Handle, Native.Z(path))); }
        /// <summary>Stream on network threads shared by sessions (see fwasr_config_set_shared_io).</summary>
        public Config SharedIo(bool shared) { return Set(Native.fwasr_config_set_shared_io(Handle, shared)); }

        /// <summary>Callback mode: every event of sessions opened from now on goes to handler, on
        /// fwasr's network thread (null: poll mode again).</summary>
        public Config OnEvent(Action<Event> handler)
        {
            var pinned = handler == null ? null : new Pinned(handler);
            var status = Native.fwasr_config_set_event_callback(Handle, handler == null ? null : Native.EventTrampoline,
                pinned == null ? IntPtr.Zero : pinned.UserData);
            Replace(ref EventHandler, pinned, status);
            return this;
        }

        /// <summary>Callback mode with every event handed to context (Unity's main thread when
        /// called there with SynchronizationContext.Current), in order, instead of the network
        /// thread.</summary>
        public Config OnEvent(Action<Event> handler, SynchronizationContext context)
        {
            if (handler == null || context == null) return OnEvent(null);
            SendOrPostCallback deliver = state => handler((Event)state);
            return OnEvent(e => context.Post(deliver, e));
        }

        /// <summary>Log lines at level or more severe go to handler, on fwasr's threads.</summary>
        public Config OnLog(Action<LogLevel, string> handler, LogLevel level = LogLevel.Info)
        {
            var pinned = handler == null ? null : new Pinned(handler);
            var status = Native.fwasr_config_set_log_callback(Handle, handler == null ? null : Native.LogTrampoline,
                pinned == null ? IntPtr.Zero : pinned.UserData, (int)level);
            Replace(ref LogHandler, pinned, status);
            return this;
        }

        static void Replace(ref Pinned slot, Pinned next, Status status)
        {
            if (status != Status.Ok)
            {
                if (next != null) next.Release();
                FwasrException.Check(status);
            }
            if (slot != null) slot.Release();
            slot = next;
        }

        public void Dispose()
        {
            if (Handle.IsClosed) return;
            Handle.Dispose();
            if (EventHandler != null) { EventHandler.Release(); EventHandler = null; }
            if (LogHandler != null) { LogHandler.Release(); LogHandler = null; }
        }
    }

    /// <summary>One stream (fwasr_session). Dispose stops it without flushing (Finish first for
    /// the whole transcript); it blocks up to about a second.</summary>
    public sealed class Session : IDisposable
    {
        readonly SessionHandle handle;
        readonly Pinned eventHandler, logHandler;
        int disposed;

        public static string Version { get { return Library.Version; } }

        public Session(Config config)
        {
            FwasrException.Check(Native.fwasr_session_open(config.Handle, out handle));
            eventHandler = config.EventHandler == null ? null : config.EventHandler.Hold();
            logHandler = config.LogHandler == null ? null : config.LogHandler.Hold();
        }

        /// <summary>Blocks until connected (throws the error if it failed).</summary>
        public void WaitReady(int timeoutMs = -1) { FwasrException.Check(Native.fwasr_session_wait_ready(handle, timeoutMs)); }

        /// <summary>How long a waiting task waits in the library at a time: a cancellation is
        /// seen within this.</summary>
        const int Slice = 50;

        /// <summary>Waits on a pool thread, in slices, until wait(slice) says something other
        /// than Timeout; the caller's thread is never blocked.</summary>
        static Task Waiting(Func<int, Status> wait, int timeoutMs, CancellationToken cancel, string what)
        {
            return Task.Run(() =>
            {
                var clock = Stopwatch.StartNew();
                for (;;)
                {
                    cancel.ThrowIfCancellationRequested();
                    int slice = timeoutMs < 0 ? Slice : (int)Math.Max(0, Math.Min(Slice, timeoutMs - clock.ElapsedMilliseconds));
                    Status status = wait(slice);
                    if (status != Status.Timeout) { FwasrException.Check(status); return; }
                    if (timeoutMs >= 0 && clock.ElapsedMilliseconds >= timeoutMs)
                        throw new FwasrException(Status.Timeout, what);
                }
            }, cancel);
        }

        /// <summary>Completes once connected; faults with the error if connecting failed, or
        /// with Timeout after timeoutMs (-1: no limit). Cancelling stops the wait only.</summary>
        public Task WaitReadyAsync(int timeoutMs = -1, CancellationToken cancel = default(CancellationToken))
        {
            return Waiting(slice => Native.fwasr_session_wait_ready(handle, slice), timeoutMs, cancel,
                "still connecting when the wait ran out");
        }

        /// <summary>Starts finishing and completes once the whole transcript is in; faults with
        /// the error that ended the session, or with Timeout after timeoutMs (-1: no limit).
        /// Cancelling stops the wait only: the session goes on finishing.</summary>
        public Task FinishAsync(int timeoutMs = -1, CancellationToken cancel = default(CancellationToken))
        {
            Status started = Native.fwasr_session_finish(handle, 0);
            if (started != Status.Ok) return Task.FromException(new FwasrException(started, Library.LastError));
            return Waiting(slice => Native.fwasr_session_finish(handle, slice), timeoutMs, cancel,
                "the session is still finishing");
        }

        /// <summary>Poll mode: every event as an async stream, in order, ending after Closed.
        /// One reader at a time (events are taken from the session's queue).</summary>
        public IAsyncEnumerable<Event> Events { get { return new EventStream(this); } }

        sealed class EventStream : IAsyncEnumerable<Event>
        {
            readonly Session session;
            public EventStream(Session session) { this.session = session; }

            public IAsyncEnumerator<Event> GetAsyncEnumerator(CancellationToken cancel = default(CancellationToken))
            {
                // In callback mode NextEvent never waits, so the reader would spin.
                if (session.eventHandler != null)
                    throw new InvalidOperationException("Events reads a poll-mode session; this one delivers to OnEvent");
                return new EventReader(session, cancel);
            }
        }

        sealed class EventReader : IAsyncEnumerator<Event>
        {
            readonly Session session;
            readonly CancellationToken cancel;
            bool closed;

            public EventReader(Session session, CancellationToken cancel) { this.session = session; this.cancel = cancel; }

            public Event Current { get; private set; }

            public ValueTask<bool> MoveNextAsync()
            {
                if (closed) return new ValueTask<bool>(false);
                cancel.ThrowIfCancellationRequested();
                // An event already queued is taken at once, without a thread hop.
                Event ready = session.NextEvent(0);
                if (ready != null) return new ValueTask<bool>(Take(ready));
                return new ValueTask<bool>(Task.Run(() =>
                {
                    for (;;)
                    {
                        cancel.ThrowIfCancellationRequested();
                        Event e = session.NextEvent(Slice);
                        if (e != null) return Take(e);
                        if (session.State == State.Closed || session.State == State.Failed)
                        {
                            // Ended: whatever is left is queued already.
                            e = session.NextEvent(0);
                            return e != null && Take(e);
                        }
                    }
                }, cancel));
            }

            bool Take(Event e)
            {
                Current = e;
                if (e.Type == EventType.Closed) closed = true;
                return true;
            }

            public ValueTask DisposeAsync() { return default(ValueTask); }
        }

        /// <summary>For audio threads: never throws, never blocks; BufferFull when the queue is full.</summary>
        public Status TryPush(byte[] data, int count) { return Native.fwasr_session_push(handle, data, (UIntPtr)count); }
        public Status TryPush(short[] samples, int count) { return Native.fwasr_session_push_s16(handle, samples, (UIntPtr)count); }
        public Status TryPush(float[] samples, int count) { return Native.fwasr_session_push_f32(handle, samples, (UIntPtr)count); }
        /// <summary>Waits up to timeoutMs for room instead (files). Blocks.</summary>
        public void PushWait(byte[] data, int count, int timeoutMs = -1)
        {
            FwasrException.Check(Native.fwasr_session_push_wait(handle, data, (UIntPtr)count, timeoutMs));
        }

        public void Checkpoint(string id) { FwasrException.Check(Native.fwasr_session_checkpoint(handle, Native.Z(id))); }
        public void Trace(string id) { FwasrException.Check(Native.fwasr_session_trace(handle, Native.Z(id))); }
        public void Clear(string id) { FwasrException.Check(Native.fwasr_session_clear(handle, Native.Z(id))); }

        /// <summary>Flush and wait (0: start finishing and return; the Closed event tells the end). Blocks.</summary>
        public void Finish(int timeoutMs = -1) { FwasrException.Check(Native.fwasr_session_finish(handle, timeoutMs)); }

        /// <summary>The next event, or null (none within timeoutMs; 0 never waits).</summary>
        public Event NextEvent(int timeoutMs = 0)
        {
            IntPtr p = Native.fwasr_session_next_event(handle, timeoutMs);
            if (p == IntPtr.Zero) return null;
            try { return Event.From(p); }
            finally { Native.fwasr_event_free(p); }
        }

        public string Transcript
        {
            get
            {
                int n = (int)Native.fwasr_session_transcript(handle, null, UIntPtr.Zero);
                var buf = new byte[n + 1];
                Native.fwasr_session_transcript(handle, buf, (UIntPtr)buf.Length);
                int len = Array.IndexOf(buf, (byte)0);
                return Encoding.UTF8.GetString(buf, 0, len < 0 ? n : len);
            }
        }

        /// <summary>A snapshot of the segments, in id order.</summary>
        public Segment[] Segments
        {
            get
            {
                IntPtr snap = Native.fwasr_session_segments(handle);
                if (snap == IntPtr.Zero) throw new FwasrException(Status.InvalidArgument, Library.LastError);
                try
                {
                    var out_ = new Segment[(int)Native.fwasr_segments_len(snap)];
                    for (int i = 0; i < out_.Length; i++)
                    {
                        IntPtr seg = Native.fwasr_segments_get(snap, (UIntPtr)i);
                        var raw = (Native.RawSegment)Marshal.PtrToStructure(seg, typeof(Native.RawSegment));
                        out_[i] = new Segment
                        {
                            Id = Native.Utf8(raw.id), Text = Native.Utf8(raw.text), IsFinal = raw.is_final,
                            StartS = raw.start_s, EndS = raw.end_s,
                            Words = Word.All(() => Native.fwasr_segment_word_count(seg), j => Native.fwasr_segment_word(seg, j)),
                        };
                    }
                    return out_;
                }
                finally { Native.fwasr_segments_free(snap); }
            }
        }

        public Stats Stats
        {
            get
            {
                Native.RawStats raw;
                FwasrException.Check(Native.fwasr_session_stats(handle, out raw, (UIntPtr)Marshal.SizeOf(typeof(Native.RawStats))));
                return new Stats
                {
                    AudioMsPushed = raw.audio_ms_pushed, AudioMsSent = raw.audio_ms_sent,
                    AudioMsDropped = raw.audio_ms_dropped, AudioMsQueued = raw.audio_ms_queued,
                    BytesSent = raw.bytes_sent, ChunksSent = raw.chunks_sent, MessagesReceived = raw.messages_received,
                    LastRttMs = raw.last_rtt_ms, AudioMsSilence = raw.audio_ms_silence, Reconnects = raw.reconnects,
                    AudioMsReplayed = raw.audio_ms_replayed,
                    LevelRmsDbfs = raw.level_rms_dbfs, LevelPeakDbfs = raw.level_peak_dbfs, PeakDbfs = raw.peak_dbfs,
                    ClippedSamples = raw.clipped_samples, AudioMsBelowSilence = raw.audio_ms_below_silence,
                    FinalLatencyP50Ms = raw.final_latency_p50_ms, FinalLatencyP95Ms = raw.final_latency_p95_ms,
                    FinalLatencyMaxMs = raw.final_latency_max_ms, AudioMsNotRecorded = raw.audio_ms_not_recorded,
                };
            }
        }

        public State State { get { return Native.fwasr_session_state(handle); } }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0) return;
            // After the free returns no callback runs: the delegates may go.
            handle.Dispose();
            if (eventHandler != null) eventHandler.Release();
            if (logHandler != null) logHandler.Release();
        }
    }
}
