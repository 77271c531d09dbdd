// FwasrKit: Swift classes over the whole fwasr C API (fwasr.h). Objects free their handles in
// deinit. Callbacks (onEvent, onLog) are Swift closures bridged with Unmanaged; they run on
// fwasr's network thread, so hop to the main actor before touching UI.
//
// Swift concurrency: `try await session.finish()` and `waitReady()` wait on a thread of their
// own, never on the caller's (the main actor included); `session.events` is an AsyncSequence
// of the session's events that ends with CLOSED. Session, Event, Segment, Stats and FwasrError
// are Sendable: the C API may be called from any thread. For audio threads, `tryPush` stays
// wait-free and synchronous.
//
// Calls that block the calling thread: finishBlocking, waitReadyBlocking, pushWait,
// nextEvent with a timeout, and releasing the last reference to a Session (deinit stops the
// session and waits up to about a second for its network thread).
import Foundation
import fwasr

public struct FwasrError: Error, CustomStringConvertible, Sendable {
    public let status: fwasr_status
    public let message: String
    public var description: String { Fwasr.statusName(status) + ": " + message }
}

@inline(__always)
func check(_ status: fwasr_status) throws {
    if status != FWASR_OK {
        throw FwasrError(status: status, message: String(cString: fwasr_last_error()))
    }
}

/// Names, version and endpoints of the library.
public enum Fwasr {
    /// Production (v1), the default.
    public static let production = FWASR_URL_PRODUCTION
    /// The regional us-virginia-1 host.
    public static let usVirginia = FWASR_URL_US_VIRGINIA
    /// The v2 preview (a newer model; same protocol and path).
    public static let v2Preview = FWASR_URL_V2_PREVIEW

    public static var version: String { String(cString: fwasr_version()) }
    public static func statusName(_ status: fwasr_status) -> String {
        String(cString: fwasr_status_str(Int32(status.rawValue)))
    }
    public static func eventTypeName(_ type: fwasr_event_type) -> String {
        String(cString: fwasr_event_type_str(Int32(type.rawValue)))
    }
    /// The message of the last failed call on this thread.
    public static var lastError: String { String(cString: fwasr_last_error()) }
}

/// A word with its times, copied out of the C struct.
public struct Word: Sendable {
    public let text: String
    /// NaN unless word timestamps were asked for.
    public let startS: Double
    public let endS: Double
    /// NaN when the server sent none.
    public let probability: Double
    /// 1 final, 0 not final, -1 unknown.
    public let isFinal: Int32

    init(_ w: fwasr_word) {
        text = String(cString: w.text)
        startS = w.start_s
        endS = w.end_s
        probability = w.probability
        isFinal = w.is_final
    }
}

/// An event, copied out of the C struct.
public struct Event: Sendable {
    public let type: fwasr_event_type
    public let segmentId: String
    public let text: String
    public let isFinal: Int32
    public let startS: Double
    public let endS: Double
    public let checkpointId: String
    public let rttMs: Double
    public let droppedMs: Double
    public let status: fwasr_status
    public let code: Int32
    public let message: String
    public let json: String?
    public let attempt: Int32
    public let replayedMs: Double
    public let backoffMs: Double
    /// SEGMENT, SEGMENT_REMOVED: the segment's words.
    public let words: [Word]
    /// SEGMENT: ms from the push of the audio at the segment's end; NaN when unknown.
    public let latencyMs: Double

    /// From the library's own event (its words are reached through it).
    init(_ p: UnsafePointer<fwasr_event>) {
        let e = p.pointee
        type = e.type
        segmentId = String(cString: e.segment_id)
        text = String(cString: e.text)
        isFinal = e.is_final
        startS = e.start_s
        endS = e.end_s
        checkpointId = String(cString: e.checkpoint_id)
        rttMs = e.rtt_ms
        droppedMs = e.dropped_ms
        status = e.status
        code = e.code
        message = String(cString: e.message)
        json = e.json.map { String(cString: $0) }
        attempt = e.attempt
        replayedMs = e.replayed_ms
        backoffMs = e.backoff_ms
        latencyMs = e.latency_ms
        words = (0..<fwasr_event_word_count(p)).compactMap { fwasr_event_word(p, $0).map { Word($0.pointee) } }
    }
}

/// One segment of a transcript snapshot.
public struct Segment: Sendable {
    public let id: String
    public let text: String
    /// 1 final, 0 not final, -1 unknown.
    public let isFinal: Int32
    public let startS: Double
    public let endS: Double
    public let words: [Word]

    /// From a snapshot's own segment (its words are reached through it).
    init(_ p: UnsafePointer<fwasr_segment>) {
        let s = p.pointee
        id = String(cString: s.id)
        text = String(cString: s.text)
        isFinal = s.is_final
        startS = s.start_s
        endS = s.end_s
        words = (0..<fwasr_segment_word_count(p)).compactMap { fwasr_segment_word(p, $0).map { Word($0.pointee) } }
    }
}

/// Session counters.
public struct Stats: Sendable {
    public let audioMsPushed: Double
    public let audioMsSent: Double
    public let audioMsDropped: Double
    public let audioMsQueued: Double
    public let bytesSent: UInt64
    public let chunksSent: UInt64
    public let messagesReceived: UInt64
    public let lastRttMs: Double
    public let audioMsSilence: Double
    public let reconnects: UInt64
    public let audioMsReplayed: Double
    /// Levels of the audio sent (see fwasr_stats): dBFS, NaN before any audio.
    public let levelRmsDbfs: Double
    public let levelPeakDbfs: Double
    public let peakDbfs: Double
    public let clippedSamples: UInt64
    public let audioMsBelowSilence: Double
    /// Latency of the segments as they became final (see fwasr_stats): ms, NaN before one.
    public let finalLatencyP50Ms: Double
    public let finalLatencyP95Ms: Double
    public let finalLatencyMaxMs: Double
    /// Audio sent that the recording left out (see fwasr_stats).
    public let audioMsNotRecorded: Double

    init(_ s: fwasr_stats) {
        audioMsPushed = s.audio_ms_pushed
        audioMsSent = s.audio_ms_sent
        audioMsDropped = s.audio_ms_dropped
        audioMsQueued = s.audio_ms_queued
        bytesSent = s.bytes_sent
        chunksSent = s.chunks_sent
        messagesReceived = s.messages_received
        lastRttMs = s.last_rtt_ms
        audioMsSilence = s.audio_ms_silence
        reconnects = s.reconnects
        audioMsReplayed = s.audio_ms_replayed
        levelRmsDbfs = s.level_rms_dbfs
        levelPeakDbfs = s.level_peak_dbfs
        peakDbfs = s.peak_dbfs
        clippedSamples = s.clipped_samples
        audioMsBelowSilence = s.audio_ms_below_silence
        finalLatencyP50Ms = s.final_latency_p50_ms
        finalLatencyP95Ms = s.final_latency_p95_ms
        finalLatencyMaxMs = s.final_latency_max_ms
        audioMsNotRecorded = s.audio_ms_not_recorded
    }
}

/// Holds a Swift closure the C callbacks call; kept alive by Config and every Session opened
/// from it, because the network thread may call it until the session is freed.
final class Box<T: Sendable>: Sendable {
    let handler: T
    init(_ handler: T) { self.handler = handler }
}

/// A flag one thread sets and another reads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    /// Sets it; true if it was not set before.
    func set() -> Bool { lock.lock(); defer { lock.unlock() }; let was = value; value = true; return !was }
}

/// Runs `body` on a thread of its own and resumes the caller with its result, so a blocking C
/// call never holds the caller's executor (the main actor, or a thread of the cooperative pool).
func offThread(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
        Thread.detachNewThread { done.resume(with: Result { try body() }) }
    }
}

public final class Config {
    let raw: OpaquePointer
    var events: Box<@Sendable (Event) -> Void>?
    var logs: Box<@Sendable (fwasr_log_level, String) -> Void>?

    public init() {
        guard let p = fwasr_config_new() else { fatalError("fwasr_config_new: out of memory") }
        raw = p
    }

    deinit { fwasr_config_free(raw) }

    @discardableResult func set(_ status: fwasr_status) throws -> Config { try check(status); return self }

    /// One of Fwasr.production (the default), Fwasr.usVirginia, Fwasr.v2Preview, or your own.
    @discardableResult public func url(_ v: String) throws -> Config { try set(fwasr_config_set_url(raw, v)) }
    @discardableResult public func apiKey(_ v: String) throws -> Config { try set(fwasr_config_set_api_key(raw, v)) }
    @discardableResult public func language(_ v: String) throws -> Config { try set(fwasr_config_set_language(raw, v)) }
    @discardableResult public func prompt(_ v: String) throws -> Config { try set(fwasr_config_set_prompt(raw, v)) }
    @discardableResult public func temperature(_ v: Float) throws -> Config { try set(fwasr_config_set_temperature(raw, v)) }
    @discardableResult public func responseFormat(_ v: String) throws -> Config {
        try set(fwasr_config_set_response_format(raw, v))
    }
    @discardableResult public func param(_ name: String, _ value: String) throws -> Config {
        try set(fwasr_config_set_param(raw, name, value))
    }
    @discardableResult public func header(_ name: String, _ value: String) throws -> Config {
        try set(fwasr_config_set_header(raw, name, value))
    }
    /// Audio as Core Audio usually delivers it: e.g. `FWASR_FORMAT_F32`, 48000, 1.
    @discardableResult public func inputFormat(_ format: fwasr_format, sampleRate: UInt32, channels: UInt32) throws -> Config {
        try set(fwasr_config_set_input_format(raw, Int32(format.rawValue), sampleRate, channels))
    }
    /// Transcribe one channel of interleaved input (from 0) instead of their average; -1 averages.
    @discardableResult public func inputChannel(_ channel: Int32) throws -> Config {
        try set(fwasr_config_set_input_channel(raw, channel))
    }
    @discardableResult public func chunkMs(_ ms: UInt32) throws -> Config { try set(fwasr_config_set_chunk_ms(raw, ms)) }
    @discardableResult public func bufferMs(_ ms: UInt32) throws -> Config { try set(fwasr_config_set_buffer_ms(raw, ms)) }
    @discardableResult public func pacing(_ factor: Double) throws -> Config { try set(fwasr_config_set_pacing(raw, factor)) }
    @discardableResult public func connectTimeoutMs(_ ms: UInt32) throws -> Config {
        try set(fwasr_config_set_connect_timeout_ms(raw, ms))
    }
    @discardableResult public func finishTimeoutMs(_ ms: UInt32) throws -> Config {
        try set(fwasr_config_set_finish_timeout_ms(raw, ms))
    }
    @discardableResult public func keepaliveMs(_ ms: UInt32) throws -> Config { try set(fwasr_config_set_keepalive_ms(raw, ms)) }
    @discardableResult public func idleSilenceMs(_ ms: UInt32) throws -> Config {
        try set(fwasr_config_set_idle_silence_ms(raw, ms))
    }
    @discardableResult public func reconnect(maxAttempts: UInt32, initialBackoffMs: UInt32, maxBackoffMs: UInt32) throws -> Config {
        try set(fwasr_config_set_reconnect(raw, maxAttempts, initialBackoffMs, maxBackoffMs))
    }
    @discardableResult public func tlsCaFile(_ path: String) throws -> Config { try set(fwasr_config_set_tls_ca_file(raw, path)) }
    @discardableResult public func tlsVerify(_ verify: Bool) throws -> Config { try set(fwasr_config_set_tls_verify(raw, verify)) }
    @discardableResult public func wordTimestamps(_ on: Bool) throws -> Config { try set(fwasr_config_set_word_timestamps(raw, on)) }
    /// The HTTP proxy (see fwasr_config_set_proxy): "" for none, nil for the environment's.
    @discardableResult public func proxy(_ url: String?) throws -> Config { try set(fwasr_config_set_proxy(raw, url)) }
    /// A WAV copy of the audio sent (see fwasr_config_set_record_path); nil for none.
    @discardableResult public func recordPath(_ path: String?) throws -> Config { try set(fwasr_config_set_record_path(raw, path)) }
    /// Run sessions on a few shared network threads instead of one thread each.
    @discardableResult public func sharedIo(_ shared: Bool) throws -> Config { try set(fwasr_config_set_shared_io(raw, shared)) }

    /// Callback mode: `handler` receives every event on fwasr's network thread.
    @discardableResult public func onEvent(_ handler: @escaping @Sendable (Event) -> Void) throws -> Config {
        let box = Box(handler)
        try check(fwasr_config_set_event_callback(raw, { userdata, event in
            guard let userdata = userdata, let event = event else { return }
            Unmanaged<Box<@Sendable (Event) -> Void>>.fromOpaque(userdata).takeUnretainedValue().handler(Event(event))
        }, Unmanaged.passUnretained(box).toOpaque()))
        events = box
        return self
    }

    /// Log lines at `level` or more severe go to `handler`, on fwasr's threads.
    @discardableResult public func onLog(level: fwasr_log_level = FWASR_LOG_INFO,
                                         _ handler: @escaping @Sendable (fwasr_log_level, String) -> Void) throws -> Config {
        let box = Box(handler)
        try check(fwasr_config_set_log_callback(raw, { userdata, level, message in
            guard let userdata = userdata, let message = message else { return }
            Unmanaged<Box<@Sendable (fwasr_log_level, String) -> Void>>.fromOpaque(userdata).takeUnretainedValue()
                .handler(level, String(cString: message))
        }, Unmanaged.passUnretained(box).toOpaque(), Int32(level.rawValue)))
        logs = box
        return self
    }
}

/// A streaming session. Sendable: every call of the C API may come from any thread, and a
/// handle freed by deinit is never touched again (fwasr's handles are checked, not pointers).
public final class Session: @unchecked Sendable {
    let raw: OpaquePointer
    // The callbacks' closures must outlive the session's thread; deinit frees the session first.
    let onEvent: Box<@Sendable (Event) -> Void>?
    let logs: Box<@Sendable (fwasr_log_level, String) -> Void>?
    let eventsTaken = Flag()

    public init(_ config: Config) throws {
        var out: OpaquePointer?
        try check(fwasr_session_open(config.raw, &out))
        raw = out!
        onEvent = config.events
        logs = config.logs
    }

    deinit { fwasr_session_free(raw) }

    /// Waits until the connection is open (or has failed), on a thread of its own.
    /// `timeoutMs` -1 waits for ever.
    public func waitReady(timeoutMs: Int32 = -1) async throws {
        try await offThread { [self] in try waitReadyBlocking(timeoutMs: timeoutMs) }
    }

    /// waitReady on the calling thread.
    public func waitReadyBlocking(timeoutMs: Int32 = -1) throws { try check(fwasr_session_wait_ready(raw, timeoutMs)) }

    /// For the audio thread: never throws or blocks; FWASR_ERR_BUFFER_FULL when the queue is full.
    public func tryPush(_ bytes: UnsafeRawBufferPointer) -> fwasr_status {
        fwasr_session_push(raw, bytes.baseAddress, bytes.count)
    }

    public func tryPush(_ samples: UnsafeBufferPointer<Float>) -> fwasr_status {
        fwasr_session_push_f32(raw, samples.baseAddress, samples.count)
    }

    public func tryPush(_ samples: UnsafeBufferPointer<Int16>) -> fwasr_status {
        fwasr_session_push_s16(raw, samples.baseAddress, samples.count)
    }

    /// Waits up to `timeoutMs` (-1 for ever) for room instead of failing; for streaming files.
    public func pushWait(_ bytes: UnsafeRawBufferPointer, timeoutMs: Int32 = -1) throws {
        try check(fwasr_session_push_wait(raw, bytes.baseAddress, bytes.count, timeoutMs))
    }

    public func checkpoint(_ id: String) throws { try check(fwasr_session_checkpoint(raw, id)) }
    public func trace(_ id: String) throws { try check(fwasr_session_trace(raw, id)) }
    public func clear(_ id: String) throws { try check(fwasr_session_clear(raw, id)) }

    /// Sends what is queued and the final checkpoint and returns once the final transcript is
    /// in, waiting on a thread of its own. Cancelling the calling task does not stop it; the
    /// timeout does (-1: the configured finish timeout).
    public func finish(timeoutMs: Int32 = -1) async throws {
        try await offThread { [self] in try finishBlocking(timeoutMs: timeoutMs) }
    }

    /// finish on the calling thread.
    public func finishBlocking(timeoutMs: Int32 = -1) throws { try check(fwasr_session_finish(raw, timeoutMs)) }

    /// Poll mode: the session's events as they come, ending after CLOSED, and throwing
    /// CLOSED's error when the session failed. One reader per session: another `events`, or a
    /// session with onEvent, fails with FWASR_ERR_STATE. A thread of its own takes the events
    /// (next_event); iterating keeps the session alive until CLOSED, and ending the iteration
    /// early (break, task cancelled) stops that thread and frees nothing.
    public var events: AsyncThrowingStream<Event, Error> {
        AsyncThrowingStream { continuation in
            if onEvent != nil || !eventsTaken.set() {
                let why = onEvent != nil ? "this session delivers its events to onEvent" : "events has a reader already"
                continuation.finish(throwing: FwasrError(status: FWASR_ERR_STATE, message: why))
                return
            }
            let stop = Flag()
            continuation.onTermination = { _ in _ = stop.set() }
            Thread.detachNewThread { [self] in
                while !stop.isSet {
                    // A short wait, so an iteration that ended is noticed soon.
                    guard let ev = nextEvent(timeoutMs: 100) else {
                        // NULL at once once the session is over and every event was taken
                        // (CLOSED too, should another caller have taken it with nextEvent).
                        let over = state == FWASR_STATE_CLOSED || state == FWASR_STATE_FAILED
                        if over, nextEvent() == nil { continuation.finish(); return }
                        continue
                    }
                    continuation.yield(ev)
                    if ev.type == FWASR_EVENT_CLOSED {
                        if ev.status == FWASR_OK {
                            continuation.finish()
                        } else {
                            continuation.finish(throwing: FwasrError(status: ev.status, message: ev.message))
                        }
                        return
                    }
                }
            }
        }
    }

    /// Poll mode: the next event, or nil.
    public func nextEvent(timeoutMs: Int32 = 0) -> Event? {
        guard let e = fwasr_session_next_event(raw, timeoutMs) else { return nil }
        defer { fwasr_event_free(e) }
        return Event(e)
    }

    public var transcript: String {
        let n = fwasr_session_transcript(raw, nil, 0)
        var buf = [UInt8](repeating: 0, count: n + 1)
        let len = buf.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                fwasr_session_transcript(raw, $0, b.count)
            }
        }
        return String(decoding: buf.prefix(min(len, n)), as: UTF8.self)
    }

    /// The transcript's segments in id order.
    public var segments: [Segment] {
        guard let snap = fwasr_session_segments(raw) else { return [] }
        defer { fwasr_segments_free(snap) }
        return (0..<fwasr_segments_len(snap)).compactMap { i in
            fwasr_segments_get(snap, i).map { Segment($0) }
        }
    }

    public func stats() throws -> Stats {
        var s = fwasr_stats()
        try check(fwasr_session_stats(raw, &s, MemoryLayout<fwasr_stats>.size))
        return Stats(s)
    }

    public var state: fwasr_state { fwasr_session_state(raw) }
}
