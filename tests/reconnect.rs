//! Automatic reconnection over real sockets: fwasr-devserver drops the connection (abort, or
//! close 1011) at several points of the sample recording; the audio of all connections, with
//! the replayed overlap removed, must be exactly what was pushed, and the final transcript
//! must hold every sentence once, in order. A 401 is not retried; max_attempts is honoured.
//! How the budget counts progress, backoff, and the finish deadline across reconnects are
//! tested on the core's virtual clock (src/core/tests.rs); one end-to-end test of each
//! stays here.

mod common;

use std::time::Duration;

use common::*;
use fwasr::error::*;
use fwasr::event::*;
use fwasr::{Config, Session};

fn survive(fault: &[&str], shared_io: bool) {
    let audio_dir = Scratch::new();
    let mut args = vec!["--save-audio", audio_dir.0.to_str().unwrap()];
    args.extend_from_slice(fault);
    let d = DevServer::with_script(&sample_script(), &args);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(5, 20, 200).unwrap();
    c.set_shared_io(shared_io);
    let s = Session::open(&c).unwrap();
    let pcm = sample_pcm();
    for piece in pcm.chunks(3200) {
        s.push_wait(piece, Some(Duration::from_secs(10))).unwrap();
    }
    s.finish(Some(Duration::from_secs(30))).unwrap();
    let events = drain(&s);
    let resumes: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            fwasr::Event::Reconnected { start_s, .. } => Some(*start_s),
            _ => None,
        })
        .collect();
    let reconnecting = events
        .iter()
        .filter(|e| e.kind() == FWASR_EVENT_RECONNECTING)
        .count();
    assert!(resumes.len() >= 2, "expected several drops, got {resumes:?}");
    assert_eq!(reconnecting, resumes.len());
    assert_eq!(s.stats().reconnects, resumes.len() as u64);

    // The audio: each connection up to where the next one resumed, then the last one whole.
    let reports = d.reports(resumes.len() + 1);
    let mut stream = Vec::new();
    let mut start = 0usize;
    for (i, r) in reports.iter().enumerate() {
        let n = r["connection"].as_u64().unwrap();
        let audio = std::fs::read(audio_dir.0.join(format!("connection-{n}.raw"))).unwrap();
        match resumes.get(i) {
            Some(next) => {
                let next = (next * 32_000.0).round() as usize;
                assert!(
                    start + audio.len() >= next,
                    "connection {n} ended before the resume point"
                );
                stream.extend_from_slice(&audio[..next - start]);
                start = next;
                assert_eq!(reports[i + 1]["resume_ms"].as_u64().unwrap() as usize, next / 32);
            }
            None => stream.extend_from_slice(&audio),
        }
    }
    assert_eq!(
        sha256_hex(&stream),
        sha256_hex(&pcm),
        "audio with the overlap removed"
    );

    // The transcript: every sentence once, in order, final.
    let want = sample_texts();
    let segs = s.segments();
    assert_eq!(
        segs.iter().map(|g| g.text.trim().to_string()).collect::<Vec<_>>(),
        want,
        "{segs:?}"
    );
    assert!(segs.iter().all(|g| g.is_final == 1));
    assert_eq!(s.transcript(), want.join(" "));
}

#[test]
fn aborted_connections_lose_no_audio_and_no_segment() {
    survive(&["--abort-after", "4.0"], false);
}

#[test]
fn aborted_connections_on_shared_network_threads_lose_no_audio_and_no_segment() {
    survive(&["--abort-after", "4.0"], true);
}

#[test]
fn closed_1011_connections_lose_no_audio_and_no_segment() {
    survive(&["--close-after", "4.0:1011:overloaded"], false);
}

#[test]
fn a_refused_key_is_not_retried() {
    let d = DevServer::start(&["--abort-after", "0.5", "--refuse", "401", "--refuse-from", "1"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(5, 10, 50).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(2000)).unwrap();
    let events = drain(&s);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind() == FWASR_EVENT_RECONNECTING)
            .count(),
        1
    );
    let closed = events.last().unwrap();
    assert_eq!((closed.status(), closed.code()), (FWASR_ERR_AUTH, 401));
    assert_eq!(d.reports(2).len(), 2, "one connection, one refused attempt");
}

/// A 429 with `Retry-After: 2` on every reconnect: each next attempt waits the 2 s the server
/// asked for (not the 10–40 ms backoff), RECONNECTING says so, and the error names it.
#[test]
fn a_rate_limited_reconnect_waits_for_retry_after() {
    let d = DevServer::start(&[
        "--abort-after",
        "0.5",
        "--refuse",
        "429",
        "--refuse-from",
        "1",
        "--retry-after",
        "2",
    ]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(3, 10, 40).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(2000)).unwrap();
    let mut timed = Vec::new();
    while let Some(e) = s.next_event(Some(Duration::from_secs(30))) {
        timed.push((std::time::Instant::now(), e));
    }
    let tries: Vec<(std::time::Instant, u32, f64, String)> = timed
        .iter()
        .filter_map(|(t, e)| match e {
            fwasr::Event::Reconnecting {
                attempt,
                backoff_ms,
                error,
            } => Some((*t, *attempt, *backoff_ms, error.message.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(tries.iter().map(|t| t.1).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        tries[0].2 <= 40.0,
        "after the drop, the plain backoff: {}",
        tries[0].2
    );
    for (_, attempt, backoff_ms, message) in &tries[1..] {
        assert_eq!(*backoff_ms, 2000.0, "attempt {attempt}");
        assert!(
            message.contains("HTTP 429 Too Many Requests (Retry-After: 2)"),
            "{message}"
        );
    }
    let (end, closed) = timed.last().unwrap();
    assert_eq!((closed.status(), closed.code()), (FWASR_ERR_HANDSHAKE, 429));
    // Attempts 2 and 3 each came 2 s after the refusal before them.
    let waited = end.duration_since(tries[1].0);
    eprintln!("429 with Retry-After: 2 on attempts 2 and 3: backoffs {:?} ms, {waited:?} from the first refusal to the end", tries.iter().map(|t| t.2).collect::<Vec<_>>());
    assert!(waited >= Duration::from_millis(3900), "{waited:?}");
    assert_eq!(d.reports(4).len(), 4, "the first connection and three attempts");

    // A first connection refused that way fails with the server's Retry-After in the error.
    let d = DevServer::start(&["--refuse", "503", "--retry-after", "7"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    let s = Session::open(&c).unwrap();
    let e = s.wait_ready(Some(Duration::from_secs(10))).unwrap_err();
    assert_eq!((e.status, e.code), (FWASR_ERR_HANDSHAKE, 503));
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert!(e.message.contains("(Retry-After: 7)"), "{}", e.message);
}

#[test]
fn max_attempts_is_honoured() {
    let d = DevServer::start(&["--abort-after", "0.5", "--refuse", "503", "--refuse-from", "1"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(3, 10, 40).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(2000)).unwrap();
    let events = drain(&s);
    assert_eq!(attempts(&events), [1, 2, 3]);
    let closed = events.last().unwrap();
    assert_eq!((closed.status(), closed.code()), (FWASR_ERR_HANDSHAKE, 503));
    assert_eq!(d.reports(4).len(), 4, "the first connection and three attempts");
    // Reconnect is off by default: the same fault just ends the session.
    let d = DevServer::start(&["--abort-after", "0.5"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(2000)).unwrap();
    let events = drain(&s);
    assert!(!events.iter().any(|e| e.kind() == FWASR_EVENT_RECONNECTING));
    assert_eq!(events.last().unwrap().status(), FWASR_ERR_IO);
}

#[test]
fn ids_are_renumbered_past_u128_without_wrapping() {
    // Each connection sends ids 0 and u128::MAX, final, ending at 0.45 s. The second
    // connection's ids go after the first's: MAX + 1 and 2 * MAX + 1, never back to 0.
    let max = u128::MAX.to_string();
    let word = |t: &str| serde_json::json!([{ "word": t, "start": 0.0, "end": 0.45, "is_final": true }]);
    let replay = serde_json::json!([{ "at": 0.1, "json": { "segments": [
        { "id": 0, "text": "zero", "start": 0.0, "end": 0.45, "words": word("zero") },
        { "id": max, "text": "max", "start": 0.0, "end": 0.45, "words": word("max") },
    ] } }]);
    let d = DevServer::with_replay_and(&replay.to_string(), &["--abort-after", "0.5"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(3, 10, 50).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(600)).unwrap();
    // The first connection aborts after 0.5 s; the second resumes at 0.45 s.
    let events = wait_for(&s, FWASR_EVENT_RECONNECTED);
    assert!(
        !events.iter().any(|e| e.kind() == FWASR_EVENT_CLOSED),
        "{events:?}"
    );
    s.finish(Some(Duration::from_secs(10))).unwrap();
    let segs: Vec<(String, String)> = s.segments().into_iter().map(|g| (g.id, g.text)).collect();
    let twice = "680564733841876926926749214863536422911".to_string();
    assert_eq!(
        segs,
        [
            ("0".to_string(), "zero".to_string()),
            (max.clone(), "max".into()),
            ("340282366920938463463374607431768211456".into(), "zero".into()),
            (twice, "max".into()),
        ]
    );
}

/// The attempt numbers of the RECONNECTING events.
fn attempts(events: &[fwasr::Event]) -> Vec<i32> {
    events
        .iter()
        .filter_map(|e| match e {
            fwasr::Event::Reconnecting { attempt, .. } => Some(*attempt as i32),
            _ => None,
        })
        .collect()
}

#[test]
fn the_finish_timeout_bounds_reconnects() {
    // Every connection is dropped 300 ms after its upgrade, before the (delayed) final echo;
    // the budget would allow 100 attempts, the finish timeout ends it all after 1.5 s.
    let d = DevServer::start(&["--abort-after-ms", "300", "--reply-delay", "1000"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(100, 50, 200).unwrap();
    c.set_finish_timeout_ms(1500).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(200)).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    let t = std::time::Instant::now();
    let e = s.finish(None).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.status, FWASR_ERR_TIMEOUT, "{e}");
    assert!(took < Duration::from_millis(3500), "finish(-1) took {took:?}");
    assert!(took >= Duration::from_millis(1400), "finish(-1) took {took:?}");
}

/// A checkpoint, trace and clear sent right behind the audio that makes the server drop the
/// connection (it never reads them) are sent again on the next connection, at their place in
/// the replayed audio, and each is answered once.
#[test]
fn control_messages_unanswered_on_a_dropped_connection_are_sent_again() {
    let d = DevServer::with_script(&sample_script(), &["--abort-after", "4.0"]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_reconnect(5, 20, 200).unwrap();
    let s = Session::open(&c).unwrap();
    let pcm = sample_pcm();
    // 4.0 s is a whole number of chunks: the messages follow the chunk the server drops on.
    let (before, after) = pcm.split_at(4 * 32_000);
    s.push_wait(before, Some(Duration::from_secs(10))).unwrap();
    s.checkpoint("cp").unwrap();
    s.trace("tr").unwrap();
    s.clear("rs").unwrap();
    for piece in after.chunks(3200) {
        s.push_wait(piece, Some(Duration::from_secs(10))).unwrap();
    }
    s.finish(Some(Duration::from_secs(30))).unwrap();
    let events = drain(&s);

    let first_reconnect = events
        .iter()
        .position(|e| matches!(e, fwasr::Event::Reconnected { .. }))
        .expect("the server dropped the connection");
    let answers: Vec<(usize, &str)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            fwasr::Event::Checkpoint { id, .. } if id != "final" => Some((i, "checkpoint")),
            fwasr::Event::Trace { id, rtt_ms, .. } if id == "tr" && rtt_ms.is_finite() => Some((i, "trace")),
            fwasr::Event::Cleared { id, .. } if id == "rs" => Some((i, "clear")),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers.iter().map(|a| a.1).collect::<Vec<_>>(),
        ["checkpoint", "trace", "clear"],
        "each answered once, in order: {answers:?}"
    );
    assert!(
        answers.iter().all(|a| a.0 > first_reconnect),
        "answered after the reconnect"
    );

    // On the second connection each came where its audio ended, 4.0 s into the stream:
    // after the audio replayed from the resume point up to there, not ahead of it.
    let reconnects = events
        .iter()
        .filter(|e| matches!(e, fwasr::Event::Reconnected { .. }))
        .count();
    let reports = d.reports(reconnects + 1);
    let second = &reports[1];
    let resume_ms = second["resume_ms"].as_u64().unwrap();
    let control = second["control"].as_array().unwrap();
    let at = second["control_at_bytes"].as_array().unwrap();
    assert!(resume_ms < 4000, "resumed at {resume_ms} ms");
    assert_eq!(control.len(), 3, "{control:?}");
    assert_eq!(control[0]["checkpoint_id"], "cp");
    assert_eq!(control[1]["object"], "stt.input.trace");
    assert_eq!(control[2]["object"], "stt.state.clear");
    let replayed_to_there = (4000 - resume_ms) * 32;
    for a in at {
        let a = a.as_u64().unwrap();
        // The devserver reports the resume point in whole ms; the audio is whole chunks.
        assert!(
            a.abs_diff(replayed_to_there) < 32 * 100,
            "at {a} bytes, want ~{replayed_to_there}"
        );
    }
    assert_eq!(
        reports[0]["control"].as_array().unwrap().len(),
        0,
        "the first connection read none"
    );
}
