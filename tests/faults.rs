//! The fault matrix: the session against each of fwasr-devserver's fault modes, over real
//! loopback sockets. For each: the status, code and message the caller sees; CLOSED exactly
//! once and last; the transcript received so far kept; stats accounting for audio sent and
//! not sent; push never blocking; finish and free returning in bounded time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fwasr::error::*;
use fwasr::event::*;
use fwasr::session::*;
use fwasr::{Event, Session};

const SEC10: Option<Duration> = Some(Duration::from_secs(10));
/// The documented bound for free is about a second; the margin absorbs a loaded machine.
const FREE_BOUND: Duration = Duration::from_millis(2000);

fn free_promptly(s: Session) {
    let t = Instant::now();
    drop(s);
    assert!(t.elapsed() < FREE_BOUND, "free took {:?}", t.elapsed());
}

#[test]
fn refused_handshakes_report_status_and_body() {
    for (status, want) in [
        (401, FWASR_ERR_AUTH),
        (403, FWASR_ERR_AUTH),
        (429, FWASR_ERR_HANDSHAKE),
        (500, FWASR_ERR_HANDSHAKE),
        (503, FWASR_ERR_HANDSHAKE),
    ] {
        let body = format!(r#"{{"error":"busy {status}"}}"#);
        let d = DevServer::start(&["--refuse", &format!("{status}:{body}")]);
        let s = Session::open(&config(&d.url)).unwrap();
        // The refusal may already have ended the session (then the push is refused too).
        let pushed = if s.push(&audio(200)).is_ok() { 6400 } else { 0 };
        let e = s.wait_ready(SEC10).unwrap_err();
        assert_eq!((e.status, e.code), (want, status), "{e}");
        assert!(e.message.contains(&format!("busy {status}")), "{}", e.message);
        let events = drain(&s);
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].status(), events[0].code()), (want, status));
        let st = s.stats();
        assert_eq!(
            (st.bytes_pushed, st.bytes_sent, st.bytes_queued),
            (pushed, 0, pushed)
        );
        assert_eq!(s.push(&audio(10)).unwrap_err().status, FWASR_ERR_STATE);
        assert_eq!(s.finish(SEC10).unwrap_err().status, want);
        free_promptly(s);
    }
}

#[test]
fn a_slow_handshake_times_out_or_succeeds_by_the_connect_timeout() {
    let d = DevServer::start(&["--handshake-delay", "800"]);
    let mut c = config(&d.url);
    c.set_connect_timeout_ms(200).unwrap();
    let s = Session::open(&c).unwrap();
    assert_eq!(s.wait_ready(SEC10).unwrap_err().status, FWASR_ERR_CONNECT_TIMEOUT);
    c.set_connect_timeout_ms(5000).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    s.finish(SEC10).unwrap();
    // Free while the upgrade is still pending returns at once.
    let s = Session::open(&c).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    free_promptly(s);
}

#[test]
fn server_close_mid_stream_keeps_the_transcript() {
    let d = DevServer::start(&["--close-after", "1.0:1011:model restarting"]);
    // Paced, so audio is still queued when the server closes.
    let mut c = config(&d.url);
    c.set_pacing(2.0).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(3000)).unwrap();
    let events = drain(&s);
    let closed = events.last().unwrap();
    assert_eq!((closed.status(), closed.code()), (FWASR_ERR_CLOSED, 1011));
    assert!(
        closed.message().contains("model restarting"),
        "{}",
        closed.message()
    );
    assert_eq!(s.transcript(), "1.00 s of audio received");
    let st = s.stats();
    assert_eq!(st.bytes_pushed, 3000 * 32);
    assert!(st.bytes_sent >= 32_000 && st.bytes_sent < 3000 * 32, "{st:?}");
    assert_eq!(
        st.bytes_queued,
        st.bytes_pushed - st.bytes_sent,
        "what was not sent is accounted for"
    );
    assert_eq!(s.finish(SEC10).unwrap_err().code, 1011);
    free_promptly(s);
}

#[test]
fn aborted_connection_is_an_io_error_and_keeps_the_transcript() {
    let d = DevServer::start(&["--abort-after", "1.0"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(3000)).unwrap();
    let events = drain(&s);
    let closed = events.last().unwrap();
    assert_eq!(closed.status(), FWASR_ERR_IO, "{closed:?}");
    assert!(
        closed.message().contains("without a close frame") || closed.message().contains("connection"),
        "{}",
        closed.message()
    );
    assert_eq!(s.transcript(), "0.50 s of audio received");
    assert_eq!(s.state(), FWASR_STATE_FAILED);
    free_promptly(s);
}

#[test]
fn garbage_and_error_messages_are_reported_and_the_session_goes_on() {
    let d = DevServer::start(&["--garbage-after", "0.1", "--error-after", "0.2"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(600)).unwrap();
    s.finish(SEC10).unwrap();
    let events = drain(&s);
    let errors: Vec<&Event> = events.iter().filter(|e| e.kind() == FWASR_EVENT_ERROR).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].status(), FWASR_ERR_PROTOCOL);
    assert_eq!(
        errors[0].json().as_ref().map(|j| j.as_str()),
        Some("this is not JSON {")
    );
    assert_eq!((errors[1].status(), errors[1].code()), (FWASR_ERR_SERVER, 500));
    assert_eq!(events.last().unwrap().status(), FWASR_OK);
    assert_eq!(s.transcript(), "0.60 s of audio received");
}

#[test]
fn a_stalled_server_fills_the_queue_without_blocking_push() {
    let d = DevServer::start(&["--stall-after", "0.1"]);
    let mut c = config(&d.url);
    c.set_buffer_ms(1000).unwrap();
    c.set_finish_timeout_ms(300).unwrap();
    let s = Session::open(&c).unwrap();
    s.wait_ready(SEC10).unwrap();
    // Push 20 ms frames until the socket buffers and the queue are full for good (the
    // kernel's buffers grow for a while, so early refusals can be followed by room again):
    // 25 refusals in a row, 2 ms apart. Never more than 20 minutes of audio.
    let frame = audio(20);
    let (mut accepted, mut in_a_row, mut refused) = (0u64, 0u64, 0u64);
    let mut slowest = Duration::ZERO;
    let mut events = Vec::new();
    for _ in 0..60_000 {
        let t = Instant::now();
        let r = s.push(&frame);
        slowest = slowest.max(t.elapsed());
        match r {
            Ok(()) => {
                accepted += 1;
                in_a_row = 0;
            }
            Err(e) => {
                assert_eq!(e.status, FWASR_ERR_BUFFER_FULL);
                refused += 1;
                in_a_row += 1;
                if in_a_row == 25 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        while let Some(e) = s.next_event(Some(Duration::ZERO)) {
            events.push(e);
        }
    }
    assert_eq!(
        in_a_row, 25,
        "the queue never stayed full ({accepted} frames accepted)"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a push blocked for {slowest:?}"
    );
    std::thread::sleep(Duration::from_millis(50));
    while let Some(e) = s.next_event(Some(Duration::ZERO)) {
        events.push(e);
    }
    let overruns = events.iter().filter(|e| e.kind() == FWASR_EVENT_OVERRUN).count();
    assert!(overruns >= 1, "no OVERRUN event");
    // While the server stays stalled, more refused pushes are the same overrun: no new event.
    for _ in 0..100 {
        assert_eq!(s.push(&frame).unwrap_err().status, FWASR_ERR_BUFFER_FULL);
        refused += 1;
    }
    std::thread::sleep(Duration::from_millis(50));
    while let Some(e) = s.next_event(Some(Duration::ZERO)) {
        assert_ne!(e.kind(), FWASR_EVENT_OVERRUN, "a second OVERRUN during one stall");
    }
    let st = s.stats();
    assert_eq!(st.bytes_dropped, refused * 640);
    assert!(
        st.bytes_queued > 0 && st.bytes_sent + st.bytes_queued == st.bytes_pushed,
        "{st:?}"
    );
    // finish gives up after the finish timeout, though nothing can be sent.
    let t = Instant::now();
    assert_eq!(s.finish(SEC10).unwrap_err().status, FWASR_ERR_TIMEOUT);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let rest = drain(&s);
    assert_eq!(rest.last().unwrap().status(), FWASR_ERR_TIMEOUT);
    free_promptly(s);
}

#[test]
fn free_returns_promptly_while_the_server_stalls() {
    let d = DevServer::start(&["--stall-after", "0.0"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.wait_ready(SEC10).unwrap();
    for _ in 0..200 {
        let _ = s.push(&audio(100));
    }
    free_promptly(s);
}

#[test]
fn delayed_replies_still_finish() {
    let d = DevServer::start(&["--reply-delay", "300"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(200)).unwrap();
    s.trace("t").unwrap();
    s.finish(SEC10).unwrap();
    let events = drain(&s);
    let trace = events.iter().find(|e| e.kind() == FWASR_EVENT_TRACE).unwrap();
    assert!(
        matches!(trace, Event::Trace { rtt_ms, .. } if *rtt_ms >= 300.0),
        "{trace:?}"
    );
    // The same server with a finish timeout shorter than its delay: FWASR_ERR_TIMEOUT.
    let mut c = config(&d.url);
    c.set_finish_timeout_ms(100).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    assert_eq!(s.finish(SEC10).unwrap_err().status, FWASR_ERR_TIMEOUT);
    assert_eq!(drain(&s).last().unwrap().status(), FWASR_ERR_TIMEOUT);
}

#[test]
fn an_8_mib_message_is_taken() {
    let d = DevServer::start(&["--huge-message"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(600)).unwrap();
    s.finish(SEC10).unwrap();
    let events = drain(&s);
    let huge = events
        .iter()
        .find(|e| e.segment().is_some_and(|g| g.id == "huge"))
        .expect("the huge segment");
    assert_eq!(huge.segment().unwrap().text.len(), 8 << 20);
    // The next update (id 0) retracted it, as the protocol's rule says.
    assert!(events
        .iter()
        .any(|e| e.kind() == FWASR_EVENT_SEGMENT_REMOVED && e.segment().unwrap().id == "huge"));
    assert_eq!(s.transcript(), "0.60 s of audio received");
}

#[test]
fn pings_and_fragmented_messages_are_handled() {
    let d = DevServer::start(&["--ping-every", "2", "--fragment", "7"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(1000)).unwrap();
    s.checkpoint("cp").unwrap();
    s.finish(SEC10).unwrap();
    let events = drain(&s);
    assert!(events
        .iter()
        .any(|e| e.kind() == FWASR_EVENT_CHECKPOINT && e.id() == Some("cp")));
    assert!(
        !events.iter().any(|e| e.kind() == FWASR_EVENT_ERROR),
        "{events:?}"
    );
    assert_eq!(s.transcript(), "1.00 s of audio received");
}

#[test]
fn a_panic_on_the_session_thread_fails_the_session_instead_of_the_host() {
    let d = DevServer::start(&[]);
    let mut c = config(&d.url);
    c.set_event_handler(Some(std::sync::Arc::new(|e: &Event| {
        if e.kind() == FWASR_EVENT_CONNECTED {
            panic!("injected panic in an event handler");
        }
    })));
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    let e = s.finish(SEC10).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_INTERNAL, "{e}");
    assert_eq!(s.state(), FWASR_STATE_FAILED);
    assert_eq!(s.push(&audio(10)).unwrap_err().status, FWASR_ERR_STATE);
    free_promptly(s);
}

#[test]
fn keepalive_pings_and_detects_a_dead_server() {
    // Pings go out while idle and the server's automatic pongs keep the session open.
    let d = DevServer::start(&[]);
    let mut c = config(&d.url);
    c.set_keepalive_ms(100).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    std::thread::sleep(Duration::from_millis(650));
    assert_eq!(s.state(), FWASR_STATE_OPEN);
    s.finish(SEC10).unwrap();
    let pings = d.reports(1)[0]["pings_received"].as_u64().unwrap();
    assert!(pings >= 3, "{pings} pings");

    // A server that stops reading (and so never answers) is detected within two intervals.
    let d = DevServer::start(&["--stall-after", "0.0"]);
    let mut c = config(&d.url);
    c.set_keepalive_ms(200).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    let events = drain(&s);
    let closed = events.last().unwrap();
    assert_eq!(closed.status(), FWASR_ERR_IO, "{closed:?}");
    assert!(closed.message().contains("ping"), "{}", closed.message());

    // With keep-alive off, the same silent server leaves the session open.
    let mut c = config(&d.url);
    c.set_keepalive_ms(0).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.state(), FWASR_STATE_OPEN);
    free_promptly(s);
}

#[test]
fn idle_silence_is_sent_only_when_asked() {
    let d = DevServer::start(&[]);
    let mut c = config(&d.url);
    c.set_idle_silence_ms(150).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(100)).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    s.finish(SEC10).unwrap();
    let st = s.stats();
    assert_eq!(st.bytes_sent, 3200, "pushed audio sent");
    assert!(st.bytes_silence >= 2 * 1600, "{st:?}");
    let r = &d.reports(1)[0];
    assert_eq!(
        r["audio_bytes"].as_u64().unwrap(),
        st.bytes_sent + st.bytes_silence
    );
    // Off by default.
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(100)).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    s.finish(SEC10).unwrap();
    assert_eq!(s.stats().bytes_silence, 0);
}

#[test]
fn finish_racing_free_says_the_session_was_freed() {
    // The server stops reading: the final checkpoint is never answered, so finish waits; the
    // session is freed meanwhile. finish must not report the transcript complete.
    let d = DevServer::start(&["--stall-after", "0.1"]);
    for shared_io in [false, true] {
        let mut c = config(&d.url);
        c.set_shared_io(shared_io);
        let s = std::sync::Arc::new(Session::open(&c).unwrap());
        s.push(&audio(500)).unwrap();
        let finishing = {
            let s = s.clone();
            std::thread::spawn(move || s.finish(None))
        };
        std::thread::sleep(Duration::from_millis(200));
        s.close();
        let e = finishing.join().unwrap().unwrap_err();
        assert_eq!(e.status, FWASR_ERR_STATE, "{e}");
        assert!(e.message.contains("freed"), "{}", e.message);
        assert_eq!(s.state(), FWASR_STATE_FAILED);
    }
}

#[test]
fn finish_returns_at_the_final_echo() {
    // The server answers the final checkpoint at once, then never answers the close frame:
    // finish returns as soon as the transcript is complete; the close handshake times out
    // on its own afterwards (2 s), and CLOSED still reports success.
    let d = DevServer::start(&["--mute-after-final"]);
    for shared_io in [false, true] {
        let mut c = config(&d.url);
        c.set_shared_io(shared_io);
        let s = Session::open(&c).unwrap();
        s.push(&audio(500)).unwrap();
        s.finish(Some(Duration::from_millis(1000))).unwrap();
        assert_eq!(s.state(), FWASR_STATE_CLOSED);
        assert_eq!(s.transcript(), "0.50 s of audio received");
        let events = drain(&s);
        assert_eq!(events.last().map(Event::kind), Some(FWASR_EVENT_CLOSED));
        assert!(
            matches!(events.last(), Some(Event::Closed { error: None })),
            "{:?}",
            events.last()
        );
    }
}

#[test]
fn bytes_that_are_not_a_frame_fail_at_once() {
    // After its 101 the server sends a frame header with the reserved bits set that announces
    // 4 KiB, then holds the connection open: the session fails at once instead of waiting for a
    // payload that never comes.
    let d = DevServer::start(&["--not-a-frame"]);
    let s = Session::open(&config(&d.url)).unwrap();
    let closed = (0..50).find_map(|_| match s.next_event(Some(Duration::from_millis(100))) {
        Some(Event::Closed { error }) => Some(error),
        _ => None,
    });
    let e = closed
        .expect("no CLOSED within 5 s")
        .expect("CLOSED without an error");
    assert_eq!(e.status, FWASR_ERR_PROTOCOL, "{e}");
    assert!(e.message.contains("not a WebSocket frame"), "{}", e.message);
}

#[test]
fn finish_returns_after_the_callback_saw_closed() {
    // Callback mode: when finish says the transcript is in, CLOSED has been delivered.
    let d = DevServer::start(&[]);
    for _ in 0..20 {
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut c = config(&d.url);
        let seen = closed.clone();
        c.set_event_handler(Some(std::sync::Arc::new(move |e: &Event| {
            if e.kind() == FWASR_EVENT_CLOSED {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })));
        let s = Session::open(&c).unwrap();
        s.push(&audio(100)).unwrap();
        s.finish(SEC10).unwrap();
        assert_eq!(closed.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
