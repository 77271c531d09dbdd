//! Hostile servers: floods of messages or pings from a server that never reads, messages that
//! fan out into thousands of events. Each must leave the client's memory bounded, its
//! timeouts honoured, free prompt, and the other sessions of a shared thread unharmed.
//! Memory is the live heap of this process, counted by a global allocator; the tests take
//! turns so one test's allocations are not another's.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use fwasr::error::*;
use fwasr::event::*;
use fwasr::session::*;
use fwasr::Session;
use serde_json::json;

#[global_allocator]
static GLOBAL: heap::Counting = heap::Counting;

static TURN: Mutex<()> = Mutex::new(());

/// Runs `f` alone and returns how far the live heap rose above where it started.
fn peak_growth(f: impl FnOnce()) -> usize {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    heap::peak_growth(f)
}

const MIB: usize = 1 << 20;
const SEC10: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn pings_from_a_server_that_never_reads_neither_pile_up_nor_keep_the_session_alive() {
    let d = DevServer::start(&["--ping-flood-after", "0.1"]);
    let mut closed = None;
    let mut took = Duration::ZERO;
    let peak = peak_growth(|| {
        let started = Instant::now();
        let mut c = config(&d.url);
        c.set_keepalive_ms(500).unwrap();
        let s = Session::open(&c).unwrap();
        s.push(&audio(300)).unwrap();
        closed = drain(&s).pop();
        took = started.elapsed();
    });
    let closed = closed.unwrap();
    assert_eq!(closed.status(), FWASR_ERR_IO, "{closed:?}");
    // Not fooled by the server's pings: ended by keep-alive within a few intervals.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(peak < 16 * MIB, "the live heap grew by {} MiB", peak / MIB);
}

#[test]
fn a_message_flood_leaves_finish_and_free_on_time() {
    let d = DevServer::start(&["--flood-after", "0.1"]);
    let peak = peak_growth(|| {
        // finish gives up at the finish timeout, though the server never stops sending.
        let mut c = config(&d.url);
        c.set_finish_timeout_ms(1000).unwrap();
        let s = Session::open(&c).unwrap();
        s.push(&audio(300)).unwrap();
        wait_for(&s, FWASR_EVENT_SEGMENT);
        let t = Instant::now();
        let e = s.finish(SEC10).unwrap_err();
        assert_eq!(e.status, FWASR_ERR_TIMEOUT, "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "finish took {:?}",
            t.elapsed()
        );
        assert_eq!(s.state(), FWASR_STATE_FAILED);

        // free returns promptly and the connection goes with it.
        let s = Session::open(&config(&d.url)).unwrap();
        s.push(&audio(300)).unwrap();
        wait_for(&s, FWASR_EVENT_SEGMENT);
        let t = Instant::now();
        drop(s);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "free took {:?}",
            t.elapsed()
        );
        let ended = d.reports(2);
        assert!(
            ended
                .iter()
                .all(|r| r["end"].as_str().unwrap().contains("flood of")),
            "{ended:?}"
        );
    });
    assert!(peak < 64 * MIB, "the live heap grew by {} MiB", peak / MIB);
}

#[test]
fn a_flooded_session_does_not_starve_its_shared_thread() {
    let flood = DevServer::start(&["--flood-after", "0.1"]);
    let calm = DevServer::start(&[]);
    // Sessions go to the shared threads in turn: with one flooded session per thread, every
    // calm session shares its thread with one.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let open = |url: &str| {
        let mut c = config(url);
        c.set_shared_io(true);
        Session::open(&c).unwrap()
    };
    let flooded: Vec<Session> = (0..threads).map(|_| open(&flood.url)).collect();
    for s in &flooded {
        s.push(&audio(300)).unwrap();
        wait_for(s, FWASR_EVENT_SEGMENT);
    }
    let calm_sessions: Vec<Session> = (0..threads).map(|_| open(&calm.url)).collect();
    for s in &calm_sessions {
        s.push(&audio(2000)).unwrap();
    }
    for s in &calm_sessions {
        s.finish(SEC10).unwrap();
        assert_eq!(s.transcript(), "2.00 s of audio received");
    }
    drop(flooded);
}

/// A message with `n` segments of ~250 bytes each (ids 0..n).
fn wide_message(n: usize) -> serde_json::Value {
    let segments: Vec<_> = (0..n)
        .map(|i| json!({ "id": i, "text": format!("{i:06} {}", "x".repeat(240)) }))
        .collect();
    json!({ "segments": segments })
}

#[test]
fn events_of_one_message_share_one_copy_of_it() {
    // 2,000 SEGMENT events from one 0.5 MB message, then 1,999 SEGMENT_REMOVED events from
    // another: one copy of each message, not one per event.
    let mut retract = wide_message(1);
    retract["padding"] = json!("p".repeat(500_000));
    let replay = json!([
        { "at": 0.05, "json": wide_message(2000) },
        { "at": 0.10, "json": retract },
    ]);
    let d = DevServer::with_replay(&replay.to_string());
    let mut events = Vec::new();
    let peak = peak_growth(|| {
        let s = Session::open(&config(&d.url)).unwrap();
        s.push(&audio(300)).unwrap();
        s.finish(SEC10).unwrap();
        events = drain(&s);
    });
    let kinds = |k| events.iter().filter(|e| e.kind() == k).count();
    assert_eq!(kinds(FWASR_EVENT_SEGMENT), 2000);
    assert_eq!(kinds(FWASR_EVENT_SEGMENT_REMOVED), 1999);
    let json = events[1].json().unwrap();
    assert!(json.as_str().contains("\"segments\""));
    assert!(peak < 32 * MIB, "the live heap grew by {} MiB", peak / MIB);
}

#[test]
fn an_app_that_does_not_take_its_events_holds_the_server_back() {
    // Poll mode, a server flooding messages, an app that takes no event for a while: the
    // queue stops at 32 MiB of events (the rest waits in the socket), and reading goes on once
    // the app takes half of them.
    let d = DevServer::start(&["--flood-after", "0.1"]);
    let peak = peak_growth(|| {
        for shared_io in [false, true] {
            let mut c = config(&d.url);
            c.set_shared_io(shared_io);
            let s = Session::open(&c).unwrap();
            s.push(&audio(300)).unwrap();
            // Reading stops at the bound. The session says when; a pause in the flood (a slow
            // scheduler, a busy machine) is not taken for it. Under Wine filling 32 MiB with
            // small messages takes about a minute.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.reading_held() {
                assert!(Instant::now() < deadline, "reading never stopped");
                std::thread::sleep(Duration::from_millis(20));
            }
            // Nothing more is received while nothing is taken.
            let held = s.stats().messages_received;
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(s.stats().messages_received, held, "read on while held");
            assert!(held > 10_000, "stopped after only {held} messages");
            // Taking half the queue lets reading go on.
            let mut taken = 0;
            while s.reading_held() {
                assert!(s.next_event(Some(Duration::from_secs(5))).is_some());
                taken += 1;
                assert!(taken <= held, "reading did not resume");
            }
            assert!(taken >= held / 3, "resumed after {taken} of {held}");
            let deadline = Instant::now() + Duration::from_secs(60);
            while s.stats().messages_received == held {
                assert!(Instant::now() < deadline, "nothing was read after resuming");
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(s.state(), FWASR_STATE_OPEN);
        }
    });
    assert!(peak < 64 * MIB, "the live heap grew by {} MiB", peak / MIB);
}

#[test]
fn control_calls_to_a_server_that_reads_nothing_are_bounded() {
    // Traces go out until the socket's buffers are full; then they wait in fwasr, up to a
    // bound, past which they are refused instead of piling up in memory.
    let d = DevServer::start(&["--stall-after", "0.0"]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    let (mut accepted, mut refused) = (0, 0);
    let peak = peak_growth(|| {
        for i in 0..400_000 {
            match s.trace(&format!("t{i}")) {
                Ok(()) => accepted += 1,
                Err(e) => {
                    assert_eq!(e.status, FWASR_ERR_BUFFER_FULL, "{e}");
                    assert!(e.message.contains("wait to be sent"), "{}", e.message);
                    refused += 1;
                }
            }
        }
    });
    assert!(refused > 0, "all {accepted} traces were accepted");
    assert!(peak < 16 * MIB, "the live heap grew by {} MiB", peak / MIB);
}
