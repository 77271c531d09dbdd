//! Latency as measured by the session, against fwasr-devserver: audio pushed at real time in
//! 20 ms frames; the same script with and without `--reply-delay 300`. Each SEGMENT event's
//! latency_ms must grow by the delay (the measure runs from the push to the event), and the
//! final segments' latency without it must be the server's wait for more audio (0.4 s after a
//! segment's end, tests/devserver/src/script.rs) and little else.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use fwasr::event::*;
use fwasr::{Config, Session};

/// Latency of each SEGMENT event by (segment id, text, finality), and the session's stats.
fn run(extra: &[&str]) -> (HashMap<(String, String, i32), f64>, fwasr::Stats) {
    let script = std::fs::read_to_string(root().join("tests/data/words.script.json")).unwrap();
    let d = DevServer::with_script(&script, extra);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_word_timestamps(true);
    let s = Session::open(&c).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    let pcm = audio(5000);
    let start = Instant::now();
    for (i, frame) in pcm.chunks(640).enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        s.push(frame).unwrap();
    }
    s.finish(Some(Duration::from_secs(30))).unwrap();
    let mut latencies = HashMap::new();
    for e in drain(&s) {
        if e.kind() == FWASR_EVENT_SEGMENT {
            let g = e.segment().unwrap();
            latencies.insert((g.id.clone(), g.text.clone(), g.is_final), e.latency_ms());
        }
    }
    (latencies, s.stats())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn a_servers_reply_delay_shows_in_latency_ms() {
    let (plain, plain_stats) = run(&[]);
    let (delayed, delayed_stats) = run(&["--reply-delay", "300"]);
    assert!(plain.len() >= 8, "{plain:?}");
    assert!(plain.values().all(|l| l.is_finite()), "{plain:?}");

    // Final segments wait for 0.4 s more audio, pushed at real time.
    let finals: Vec<f64> = plain.iter().filter(|(k, _)| k.2 == 1).map(|(_, l)| *l).collect();
    assert_eq!(finals.len(), 3, "{plain:?}");
    let p50 = median(finals.clone());
    assert!((395.0..460.0).contains(&p50), "final latencies {finals:?}");
    // The stats summarise the same latencies.
    assert!(
        (plain_stats.latency.p50_ms / p50 - 1.0).abs() < 0.01,
        "{:?}",
        plain_stats.latency
    );
    let max = finals.iter().copied().fold(0.0, f64::max);
    assert_eq!(plain_stats.latency.max_ms, max);

    // The same events, each 300 ms later.
    let mut added = Vec::new();
    for (key, l) in &plain {
        if let Some(d) = delayed.get(key) {
            assert!(d - l >= 290.0, "{key:?}: {l} ms, then {d} ms");
            added.push(d - l);
        }
    }
    assert!(added.len() >= 6, "{plain:?} against {delayed:?}");
    let m = median(added.clone());
    assert!((m - 300.0).abs() < 15.0, "the delay added {added:?}");
    assert!(delayed_stats.latency.p50_ms > plain_stats.latency.p50_ms + 250.0);
}
