// FwasrKit: Swift classes over the fwasr C API. Objects free their handles in deinit; the
// event callback is a Swift closure bridged with Unmanaged and runs on fwasr's network thread
// (hop to the main queue before touching UI).
import fwasr

public struct FwasrError: Error, CustomStringConvertible {
    public let status: fwasr_status
    public let message: String
    public var description: String { String(cString: fwasr_status_str(Int32(status.rawValue))) + ": " + message }
}

@inline(__always)
func check(_ status: fwasr_status) throws {
    if status != FWASR_OK {
        throw FwasrError(status: status, message: String(cString: fwasr_last_error()))
    }
}

/// An event, copied out of the C struct.
public struct Event {
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

    init(_ e: fwasr_event) {
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
    }
}

/// Holds the Swift closure the C callback calls; kept alive by Config and Session.
final class EventBox {
    let handler: (Event) -> Void
    init(_ handler: @escaping (Event) -> Void) { self.handler = handler }
}

public final class Config {
    let raw: OpaquePointer
    var events: EventBox?

    public init() {
        guard let p = fwasr_config_new() else { fatalError("fwasr_config_new: out of memory") }
        raw = p
    }

    deinit { fwasr_config_free(raw) }

    @discardableResult public func url(_ v: String) throws -> Config { try check(fwasr_config_set_url(raw, v)); return self }
    @discardableResult public func apiKey(_ v: String) throws -> Config { try check(fwasr_config_set_api_key(raw, v)); return self }
    @discardableResult public func language(_ v: String) throws -> Config { try check(fwasr_config_set_language(raw, v)); return self }
    @discardableResult public func prompt(_ v: String) throws -> Config { try check(fwasr_config_set_prompt(raw, v)); return self }
    @discardableResult public func param(_ name: String, _ value: String) throws -> Config {
        try check(fwasr_config_set_param(raw, name, value)); return self
    }
    /// Audio as Core Audio usually delivers it: e.g. `.f32`, 48000, 1.
    @discardableResult public func inputFormat(_ format: fwasr_format, sampleRate: UInt32, channels: UInt32) throws -> Config {
        try check(fwasr_config_set_input_format(raw, Int32(format.rawValue), sampleRate, channels)); return self
    }
    @discardableResult public func pacing(_ factor: Double) throws -> Config { try check(fwasr_config_set_pacing(raw, factor)); return self }

    /// Callback mode: `handler` receives every event on fwasr's network thread.
    @discardableResult public func onEvent(_ handler: @escaping (Event) -> Void) throws -> Config {
        let box = EventBox(handler)
        try check(fwasr_config_set_event_callback(raw, { userdata, event in
            guard let userdata = userdata, let event = event else { return }
            Unmanaged<EventBox>.fromOpaque(userdata).takeUnretainedValue().handler(Event(event.pointee))
        }, Unmanaged.passUnretained(box).toOpaque()))
        events = box
        return self
    }
}

public final class Session {
    let raw: OpaquePointer
    // The callback's closure must outlive the session's thread; deinit frees the session first.
    let events: EventBox?

    public init(_ config: Config) throws {
        var out: OpaquePointer?
        try check(fwasr_session_open(config.raw, &out))
        raw = out!
        events = config.events
    }

    deinit { fwasr_session_free(raw) }

    public func waitReady(timeoutMs: Int32 = -1) throws { try check(fwasr_session_wait_ready(raw, timeoutMs)) }

    /// For the audio thread: never throws or blocks; FWASR_ERR_BUFFER_FULL when the queue is full.
    public func tryPush(_ samples: UnsafeBufferPointer<Float>) -> fwasr_status {
        fwasr_session_push_f32(raw, samples.baseAddress, samples.count)
    }

    public func tryPush(_ samples: UnsafeBufferPointer<Int16>) -> fwasr_status {
        fwasr_session_push_s16(raw, samples.baseAddress, samples.count)
    }

    public func finish(timeoutMs: Int32 = -1) throws { try check(fwasr_session_finish(raw, timeoutMs)) }

    /// Poll mode: the next event, or nil.
    public func nextEvent(timeoutMs: Int32 = 0) -> Event? {
        guard let e = fwasr_session_next_event(raw, timeoutMs) else { return nil }
        defer { fwasr_event_free(e) }
        return Event(e.pointee)
    }

    public var transcript: String {
        let n = fwasr_session_transcript(raw, nil, 0)
        var buf = [CChar](repeating: 0, count: n + 1)
        fwasr_session_transcript(raw, &buf, buf.count)
        return String(cString: buf)
    }

    public var state: fwasr_state { fwasr_session_state(raw) }
}
