// Fwasr.cs: C# bindings for fwasr (Unity, .NET, Mono). P/Invoke declarations of the C API in
// fwasr.h and SafeHandle-owned wrappers.
//
// Unity pattern: open a Session, push microphone audio from OnAudioFilterRead or a capture
// thread with TryPush (never throws, never blocks), and call NextEvent(0) from Update() until
// it returns null. Event callbacks are deliberately not bound: they would run on fwasr's
// network thread, where most of Unity's API must not be touched.
//
// The native library is "fwasr" (libfwasr.so / libfwasr.dylib / fwasr.dll) on the plugin or
// library path.
using System;
using System.Runtime.InteropServices;
using System.Text;

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

    public enum SessionState { Connecting = 0, Open = 1, Finishing = 2, Closed = 3, Failed = 4 }

    /// <summary>Session counters (fwasr_stats).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stats
    {
        public double AudioMsPushed, AudioMsSent, AudioMsDropped, AudioMsQueued;
        public ulong BytesSent, ChunksSent, MessagesReceived;
        public double LastRttMs;
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

    internal static class Native
    {
        const string Lib = "fwasr";

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
            public double replayed_ms, backoff_ms;
        }

        [DllImport(Lib)] internal static extern IntPtr fwasr_version();
        [DllImport(Lib)] internal static extern IntPtr fwasr_last_error();
        [DllImport(Lib)] internal static extern ConfigHandle fwasr_config_new();
        [DllImport(Lib)] internal static extern void fwasr_config_free(IntPtr cfg);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_url(ConfigHandle cfg, byte[] url);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_api_key(ConfigHandle cfg, byte[] key);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_language(ConfigHandle cfg, byte[] language);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_prompt(ConfigHandle cfg, byte[] prompt);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_param(ConfigHandle cfg, byte[] name, byte[] value);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_input_format(ConfigHandle cfg, int format, uint rate, uint channels);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_buffer_ms(ConfigHandle cfg, uint ms);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_pacing(ConfigHandle cfg, double factor);
        [DllImport(Lib)] internal static extern Status fwasr_config_set_shared_io(ConfigHandle cfg, [MarshalAs(UnmanagedType.I1)] bool shared);
        [DllImport(Lib)] internal static extern Status fwasr_session_open(ConfigHandle cfg, out SessionHandle session);
        [DllImport(Lib)] internal static extern void fwasr_session_free(IntPtr session);
        [DllImport(Lib)] internal static extern Status fwasr_session_wait_ready(SessionHandle s, int timeoutMs);
        [DllImport(Lib)] internal static extern Status fwasr_session_push(SessionHandle s, byte[] data, UIntPtr nbytes);
        [DllImport(Lib)] internal static extern Status fwasr_session_push_s16(SessionHandle s, short[] samples, UIntPtr n);
        [DllImport(Lib)] internal static extern Status fwasr_session_push_f32(SessionHandle s, float[] samples, UIntPtr n);
        [DllImport(Lib)] internal static extern Status fwasr_session_checkpoint(SessionHandle s, byte[] id);
        [DllImport(Lib)] internal static extern Status fwasr_session_finish(SessionHandle s, int timeoutMs);
        [DllImport(Lib)] internal static extern IntPtr fwasr_session_next_event(SessionHandle s, int timeoutMs);
        [DllImport(Lib)] internal static extern void fwasr_event_free(IntPtr ev);
        [DllImport(Lib)] internal static extern UIntPtr fwasr_session_transcript(SessionHandle s, byte[] buf, UIntPtr cap);
        [DllImport(Lib)] internal static extern Status fwasr_session_stats(SessionHandle s, out Stats stats, UIntPtr size);
        [DllImport(Lib)] internal static extern SessionState fwasr_session_state(SessionHandle s);

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
    }

    /// <summary>A session configuration (fwasr_config). Reusable; dispose when done.</summary>
    public sealed class Config : IDisposable
    {
        internal readonly ConfigHandle Handle;

        public Config()
        {
            Handle = Native.fwasr_config_new();
            if (Handle.IsInvalid) throw new OutOfMemoryException("fwasr_config_new");
        }

        public Config Url(string url) { FwasrException.Check(Native.fwasr_config_set_url(Handle, Native.Z(url))); return this; }
        public Config ApiKey(string key) { FwasrException.Check(Native.fwasr_config_set_api_key(Handle, Native.Z(key))); return this; }
        public Config Language(string language) { FwasrException.Check(Native.fwasr_config_set_language(Handle, Native.Z(language))); return this; }
        public Config Prompt(string prompt) { FwasrException.Check(Native.fwasr_config_set_prompt(Handle, Native.Z(prompt))); return this; }
        public Config Param(string name, string value) { FwasrException.Check(Native.fwasr_config_set_param(Handle, Native.Z(name), Native.Z(value))); return this; }
        public Config InputFormat(Format format, int sampleRate, int channels)
        {
            FwasrException.Check(Native.fwasr_config_set_input_format(Handle, (int)format, (uint)sampleRate, (uint)channels));
            return this;
        }
        public Config BufferMs(int ms) { FwasrException.Check(Native.fwasr_config_set_buffer_ms(Handle, (uint)ms)); return this; }
        public Config Pacing(double factor) { FwasrException.Check(Native.fwasr_config_set_pacing(Handle, factor)); return this; }
        /// <summary>Stream on network threads shared by sessions (see fwasr_config_set_shared_io).</summary>
        public Config SharedIo(bool shared) { FwasrException.Check(Native.fwasr_config_set_shared_io(Handle, shared)); return this; }

        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>One stream (fwasr_session). Dispose stops it without flushing: Finish first.</summary>
    public sealed class Session : IDisposable
    {
        readonly SessionHandle handle;

        public static string Version { get { return Native.Utf8(Native.fwasr_version()); } }

        public Session(Config config)
        {
            FwasrException.Check(Native.fwasr_session_open(config.Handle, out handle));
        }

        public void WaitReady(int timeoutMs = -1) { FwasrException.Check(Native.fwasr_session_wait_ready(handle, timeoutMs)); }

        /// <summary>For audio threads: never throws, never blocks; BufferFull when the queue is full.</summary>
        public Status TryPush(byte[] data, int count) { return Native.fwasr_session_push(handle, data, (UIntPtr)count); }
        public Status TryPush(short[] samples, int count) { return Native.fwasr_session_push_s16(handle, samples, (UIntPtr)count); }
        public Status TryPush(float[] samples, int count) { return Native.fwasr_session_push_f32(handle, samples, (UIntPtr)count); }

        public void Checkpoint(string id) { FwasrException.Check(Native.fwasr_session_checkpoint(handle, Native.Z(id))); }

        /// <summary>Flush and wait (0: start finishing and return; the Closed event tells the end).</summary>
        public void Finish(int timeoutMs = -1) { FwasrException.Check(Native.fwasr_session_finish(handle, timeoutMs)); }

        /// <summary>The next event, or null (none within timeoutMs; 0 never waits).</summary>
        public Event NextEvent(int timeoutMs = 0)
        {
            IntPtr p = Native.fwasr_session_next_event(handle, timeoutMs);
            if (p == IntPtr.Zero) return null;
            try
            {
                var raw = (Native.RawEvent)Marshal.PtrToStructure(p, typeof(Native.RawEvent));
                return new Event
                {
                    Type = (EventType)raw.type, SegmentId = Native.Utf8(raw.segment_id), Text = Native.Utf8(raw.text),
                    IsFinal = raw.is_final, StartS = raw.start_s, EndS = raw.end_s,
                    CheckpointId = Native.Utf8(raw.checkpoint_id), RttMs = raw.rtt_ms, DroppedMs = raw.dropped_ms,
                    Status = (Status)raw.status, Code = raw.code, Message = Native.Utf8(raw.message),
                    Json = Native.Utf8(raw.json), Attempt = raw.attempt, ReplayedMs = raw.replayed_ms,
                    BackoffMs = raw.backoff_ms,
                };
            }
            finally
            {
                Native.fwasr_event_free(p);
            }
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

        public Stats Stats
        {
            get
            {
                Stats st;
                FwasrException.Check(Native.fwasr_session_stats(handle, out st, (UIntPtr)Marshal.SizeOf(typeof(Stats))));
                return st;
            }
        }

        public SessionState State { get { return Native.fwasr_session_state(handle); } }

        public void Dispose() { handle.Dispose(); }
    }
}
