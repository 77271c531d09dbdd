//! Sessions on shared network threads (Config::set_shared_io) over real sockets: many sessions
//! stream at once on a few threads and lose nothing; faults end them as on their own threads;
//! callbacks may free their own and other sessions without holding up the shared thread.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fwasr::event::*;
use fwasr::{Config, Session};

const SEC10: Option<Duration> = Some(Duration::from_secs(10));

fn shared(url: &str) -> Config {
    let mut c = config(url);
    c.set_shared_io(true);
    c
}

/// Threads named fwasr-shared-N, from /proc (Linux); elsewhere the count is not checked.
#[cfg(target_os = "linux")]
fn shared_threads() -> Option<usize> {
    let n = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("fwasr-shared"))
        .count();
    Some(n)
}

#[cfg(not(target_os = "linux"))]
fn shared_threads() -> Option<usize> {
    None
}

#[test]
fn many_sessions_stream_on_a_few_threads_and_lose_nothing() {
    let d = DevServer::start(&[]);
    let c = shared(&d.url);
    let n = 40;
    let sessions: Vec<Session> = (0..n).map(|_| Session::open(&c).unwrap()).collect();
    let data = audio(2000);
    // 100 ms pieces, round-robin, as a media thread serving many calls pushes them.
    for piece in data.chunks(3200) {
        for s in &sessions {
            s.push_wait(piece, SEC10).unwrap();
        }
    }
    if let Some(threads) = shared_threads() {
        assert!((1..=8).contains(&threads), "{threads} shared threads");
    }
    for s in &sessions {
        s.finish(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(s.transcript(), "2.00 s of audio received");
        let st = s.stats();
        assert_eq!((st.bytes_sent, st.bytes_dropped), (data.len() as u64, 0));
    }
    let reports = d.reports(n);
    assert!(reports.iter().all(|r| r["audio_sha256"] == sha256_hex(&data)));
    assert!(reports
        .iter()
        .all(|r| r["chunks"].as_array().unwrap().len() == 40));
}

#[test]
fn faults_end_shared_sessions_as_they_end_their_own() {
    for fault in [
        ["--garbage-after", "0.7"],
        ["--abort-after", "0.7"],
        ["--error-after", "0.7"],
    ] {
        let d = DevServer::start(&fault);
        let mut outcomes = Vec::new();
        for shared_io in [false, true] {
            let mut c = config(&d.url);
            c.set_shared_io(shared_io);
            let s = Session::open(&c).unwrap();
            s.push(&audio(1000)).unwrap();
            let _ = s.finish(SEC10);
            let events = drain(&s);
            let closed = events.last().unwrap();
            let errors: Vec<_> = events
                .iter()
                .filter(|e| e.kind() == FWASR_EVENT_ERROR)
                .map(|e| e.status())
                .collect();
            outcomes.push((closed.status(), closed.code(), errors, s.transcript()));
        }
        assert_eq!(outcomes[0], outcomes[1], "{fault:?}");
        assert_ne!(
            outcomes[0].3, "",
            "{fault:?}: the transcript before the fault is kept"
        );
    }
}

#[test]
fn callbacks_on_shared_threads_free_sessions_without_holding_the_thread() {
    let d = DevServer::start(&[]);
    type Slot = Arc<Mutex<Option<Session>>>;
    let own: Slot = Arc::default();
    let other: Slot = Arc::default();
    let after_free = Arc::new(Mutex::new(0usize));
    let free_took = Arc::new(Mutex::new(None::<Duration>));

    // Session A frees itself from its first transcript event.
    let mut ca = shared(&d.url);
    let slot = own.clone();
    let count = after_free.clone();
    ca.set_event_handler(Some(Arc::new(move |e: &Event| {
        if e.kind() == FWASR_EVENT_SEGMENT {
            if let Some(s) = slot.lock().unwrap().take() {
                drop(s);
            } else {
                *count.lock().unwrap() += 1;
            }
        }
    })));
    // Session B frees session C, another shared session, from its first transcript event.
    let mut cb = shared(&d.url);
    let slot = other.clone();
    let took = free_took.clone();
    cb.set_event_handler(Some(Arc::new(move |e: &Event| {
        if e.kind() == FWASR_EVENT_SEGMENT {
            if let Some(s) = slot.lock().unwrap().take() {
                let t = Instant::now();
                drop(s);
                *took.lock().unwrap() = Some(t.elapsed());
            }
        }
    })));
    let a = Session::open(&ca).unwrap();
    a.push(&audio(600)).unwrap();
    *own.lock().unwrap() = Some(a);
    let c = Session::open(&shared(&d.url)).unwrap();
    c.push(&audio(5000)).unwrap();
    *other.lock().unwrap() = Some(c);
    let b = Session::open(&cb).unwrap();
    b.push(&audio(600)).unwrap();
    b.finish(SEC10).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (own.lock().unwrap().is_some() || free_took.lock().unwrap().is_none()) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(own.lock().unwrap().is_none(), "A freed itself");
    let took = free_took.lock().unwrap().expect("B freed C");
    assert!(took < Duration::from_millis(500), "freeing C took {took:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(*after_free.lock().unwrap(), 0, "no callback of A after its free");
    assert_eq!(b.transcript(), "0.60 s of audio received");
}

#[test]
fn a_completed_chunk_goes_out_at_once_without_other_wake_ups() {
    // Nothing but the push (no finish, no control call, pings 15 s away) may wake the shared
    // thread for these chunks: each must be sent by itself, promptly.
    let d = DevServer::start(&[]);
    let s = Session::open(&shared(&d.url)).unwrap();
    s.wait_ready(SEC10).unwrap();
    let chunk = audio(50);
    for round in 1..=5u64 {
        s.push(&chunk).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.stats().bytes_sent < round * 1600 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(s.stats().bytes_sent, round * 1600, "chunk {round} was not sent");
    }
}
