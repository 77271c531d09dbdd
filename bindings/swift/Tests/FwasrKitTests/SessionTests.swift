// FwasrKit against fwasr-devserver: FWASR_URL serves the sample's script, FWASR_DROP_URL drops
// every connection after 4 s of its audio, FWASR_SAMPLE is the sample recording
// (scripts/swift-tests.sh starts both servers and runs `swift test`).
import Foundation
import FwasrKit
import XCTest
import fwasr

let expected = "Hello from fwasr. This sample is streamed in real time to a local server. "
    + "The transcript grows as the words arrive."

func env(_ name: String) throws -> String {
    guard let v = ProcessInfo.processInfo.environment[name] else {
        throw XCTSkip("\(name) is not set: run scripts/swift-tests.sh")
    }
    return v
}

/// The sample's 16 kHz mono s16 samples (its canonical 44-byte header skipped).
func sample() throws -> [UInt8] {
    let path = try env("FWASR_SAMPLE")
    guard let data = FileManager.default.contents(atPath: path), data.count > 44 else {
        throw XCTSkip("cannot read \(path)")
    }
    return Array(data.dropFirst(44))
}

/// Lines a callback collects on fwasr's thread.
final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

func push(_ session: Session, _ audio: [UInt8]) throws {
    try audio.withUnsafeBytes { bytes in
        var at = 0
        while at < bytes.count {
            let n = min(3200, bytes.count - at)
            try session.pushWait(UnsafeRawBufferPointer(rebasing: bytes[at..<at + n]), timeoutMs: 10000)
            at += n
        }
    }
}

// XCTest on Linux runs async tests through closures that capture the test case, which Swift 6
// requires to be Sendable; these tests keep no state in the case.
final class SessionTests: XCTestCase, @unchecked Sendable {
    func testStreamsTheSampleWithEventsAsAnAsyncSequence() async throws {
        let logs = Lines()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("fwasr-swift-\(getpid()).wav").path
        let config = try Config().url(env("FWASR_URL")).wordTimestamps(true).recordPath(copy).onLog(level: FWASR_LOG_INFO) { _, line in logs.add(line) }
        let session = try Session(config)
        try await session.waitReady(timeoutMs: 10000)
        // The events are read while the audio goes out.
        let reader = Task { () -> [Event] in
            var seen: [Event] = []
            for try await event in session.events { seen.append(event) }
            return seen
        }
        try push(session, sample())
        try await session.finish(timeoutMs: 30000)
        let events = try await reader.value

        XCTAssertEqual(session.transcript, expected)
        // Segment texts are as the server sent them (with a leading space); the transcript
        // trims each.
        XCTAssertEqual(session.segments.map { $0.text.trimmingCharacters(in: .whitespaces) }.joined(separator: " "), expected)
        XCTAssertEqual(events.last?.type, FWASR_EVENT_CLOSED)
        XCTAssertEqual(events.last?.status, FWASR_OK)
        XCTAssertEqual(events.filter { $0.type == FWASR_EVENT_CLOSED }.count, 1)
        let finals = events.filter { $0.type == FWASR_EVENT_SEGMENT && $0.isFinal == 1 }
            .map { $0.text.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(finals.joined(separator: " "), expected)
        // The words spell the transcript, each final, in time order, with a probability.
        let words = session.segments.flatMap { $0.words }
        XCTAssertEqual(words.map { $0.text }.joined(separator: " "), expected)
        XCTAssertTrue(words.allSatisfy { $0.isFinal == 1 && $0.endS > $0.startS && $0.probability >= 0.5 && $0.probability < 1 })
        XCTAssertTrue(zip(words, words.dropFirst()).allSatisfy { $0.endS <= $1.startS }, "\(words)")
        let segmentEvents = events.filter { $0.type == FWASR_EVENT_SEGMENT }
        XCTAssertTrue(segmentEvents.allSatisfy { !$0.words.isEmpty })
        // A latency on the segment events (NaN is allowed for audio answered before the push
        // stamp that times it reaches the network thread, or when the stamps' ring was full).
        XCTAssertGreaterThanOrEqual(segmentEvents.filter { $0.latencyMs >= 0 }.count * 2, segmentEvents.count)
        XCTAssertTrue(events.contains { $0.type == FWASR_EVENT_CHECKPOINT && $0.checkpointId == "final" })
        let stats = try session.stats()
        XCTAssertEqual(stats.audioMsDropped, 0)
        XCTAssertGreaterThan(stats.audioMsSent, 8000)
        // The sample's own levels: peak -1.71 dBFS, nothing clipped, 2.18 s below -60 dBFS.
        XCTAssertEqual(stats.peakDbfs, -1.715, accuracy: 0.01)
        XCTAssertEqual(stats.clippedSamples, 0)
        XCTAssertEqual(stats.audioMsBelowSilence, 2180)
        XCTAssertGreaterThanOrEqual(stats.finalLatencyP50Ms, 0)
        // finish returned: the recording is complete, the audio sent after its header.
        let recorded = try XCTUnwrap(FileManager.default.contents(atPath: copy))
        XCTAssertEqual(recorded.count, 44 + Int(stats.bytesSent))
        XCTAssertEqual(stats.audioMsNotRecorded, 0)
        try? FileManager.default.removeItem(atPath: copy)
        XCTAssertLessThanOrEqual(stats.finalLatencyP95Ms, stats.finalLatencyMaxMs * 1.01)
        XCTAssertTrue(logs.all.contains { $0.contains("finished") }, "\(logs.all)")
        XCTAssertEqual(session.state, FWASR_STATE_CLOSED)
    }

    func testTryPushIsWaitFreeAndReportsAFullQueue() async throws {
        // Paced at real time, 2 s of audio cannot leave a 200 ms queue as fast as it comes.
        let session = try Session(Config().url(env("FWASR_URL")).bufferMs(200).pacing(1.0))
        let frame = [Int16](repeating: 1000, count: 320)
        var full = 0
        for _ in 0..<100 {
            let status = frame.withUnsafeBufferPointer { session.tryPush($0) }
            if status == FWASR_ERR_BUFFER_FULL { full += 1 } else { XCTAssertEqual(status, FWASR_OK) }
        }
        XCTAssertGreaterThan(full, 0, "a 200 ms queue took 2 s of audio at once")
        try await session.finish(timeoutMs: 30000)
        XCTAssertGreaterThan(try session.stats().audioMsDropped, 0)
    }

    func testReconnectsAreEvents() async throws {
        let config = try Config().url(env("FWASR_DROP_URL")).reconnect(maxAttempts: 5, initialBackoffMs: 20, maxBackoffMs: 200)
        let session = try Session(config)
        try push(session, sample())
        try await session.finish(timeoutMs: 30000)
        var types: [fwasr_event_type] = []
        for try await event in session.events { types.append(event.type) }
        let reconnecting = types.filter { $0 == FWASR_EVENT_RECONNECTING }.count
        let reconnected = types.filter { $0 == FWASR_EVENT_RECONNECTED }.count
        XCTAssertGreaterThanOrEqual(reconnected, 1)
        XCTAssertEqual(reconnecting, reconnected)
        XCTAssertEqual(try session.stats().reconnects, UInt64(reconnected))
        XCTAssertEqual(types.last, FWASR_EVENT_CLOSED)
    }

    func testFailuresThrowWithTheirStatus() async throws {
        XCTAssertThrowsError(try Config().chunkMs(1)) { error in
            XCTAssertEqual((error as? FwasrError)?.status, FWASR_ERR_INVALID_ARGUMENT)
        }
        // Nothing listens on port 1: the connection fails, finish says so, and so does the
        // event sequence, after CLOSED.
        let session = try Session(Config().url("ws://127.0.0.1:1/v1/audio/transcriptions/streaming"))
        do {
            try await session.finish(timeoutMs: 10000)
            XCTFail("finish succeeded without a server")
        } catch let error as FwasrError {
            XCTAssertEqual(error.status, FWASR_ERR_CONNECT, error.description)
        }
        var last: Event?
        do {
            for try await event in session.events { last = event }
            XCTFail("the events of a failed session ended without an error")
        } catch let error as FwasrError {
            XCTAssertEqual(error.status, FWASR_ERR_CONNECT)
        }
        XCTAssertEqual(last?.type, FWASR_EVENT_CLOSED)
        XCTAssertEqual(last?.status, FWASR_ERR_CONNECT)
    }

    func testOneEventReaderAndNoneWithACallback() async throws {
        let session = try Session(Config().url(env("FWASR_URL")))
        let first = session.events
        do {
            for try await _ in session.events {}
            XCTFail("a second reader was allowed")
        } catch let error as FwasrError {
            XCTAssertEqual(error.status, FWASR_ERR_STATE)
        }
        _ = first
        let calls = Lines()
        let withCallback = try Session(Config().url(env("FWASR_URL")).onEvent { calls.add(Fwasr.eventTypeName($0.type)) })
        do {
            for try await _ in withCallback.events {}
            XCTFail("events were allowed beside onEvent")
        } catch let error as FwasrError {
            XCTAssertEqual(error.status, FWASR_ERR_STATE)
        }
        try await withCallback.finish(timeoutMs: 10000)
        XCTAssertEqual(calls.all.last, Fwasr.eventTypeName(FWASR_EVENT_CLOSED))
    }

    func testCancellingTheIterationFreesNothing() async throws {
        let session = try Session(Config().url(env("FWASR_URL")))
        let reader = Task {
            for try await _ in session.events {}
        }
        try await Task.sleep(nanoseconds: 200_000_000)
        reader.cancel()
        _ = await reader.result
        // The session goes on: audio, finish, transcript.
        try push(session, sample())
        try await session.finish(timeoutMs: 30000)
        XCTAssertEqual(session.transcript, expected)
        XCTAssertEqual(session.state, FWASR_STATE_CLOSED)
    }
}
