//! What hostile servers cost a session: for each attack the hardening work answers, the
//! client's peak memory (resident set, reset before each case, and live heap), how long
//! finish and free take, and CPU where that is the cost. Against fwasr-devserver's fault
//! modes on loopback. Run with `cargo bench --bench hostile`; the numbers go into
//! README.md (Reliability) and BENCHMARKS.md. It reads /proc and getrusage: Linux only.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fwasr::{Config, Session};
use serde_json::json;

#[global_allocator]
static GLOBAL: heap::Counting = heap::Counting;

const MIB: f64 = 1024.0 * 1024.0;

/// The process's resident set high-water mark in bytes (VmHWM).
fn rss_peak() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb * 1024.0)
}

/// CPU seconds of this process (user + system).
#[cfg(target_os = "linux")]
fn cpu_s() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Runs one case and prints its line: what it measured, then peak RSS and heap growth.
fn case(name: &str, f: impl FnOnce() -> String) {
    // Writing 5 resets the high-water mark (Linux 4.0+).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss0 = rss_peak();
    let mut what = String::new();
    let heap = heap::peak_growth(|| what = f()) as f64 / MIB;
    let rss = (rss_peak() - rss0) / MIB;
    println!("| {name} | {what} | {rss:.0} MiB | {heap:.1} MiB |");
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Pushes 20 ms frames in real time until `stop`, from a thread of its own.
fn pusher(s: Arc<Session>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let frame = audio(20);
        let start = Instant::now();
        let mut k = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let _ = s.push(&frame);
            k += 1;
            let next = start + Duration::from_millis(20) * k;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    })
}

fn reconnect_budget() {
    case(
        "every connection dropped 500 ms after its upgrade, reconnect (5 attempts)",
        || {
            let d = DevServer::start(&["--abort-after-ms", "500"]);
            let mut c = config(&d.url);
            c.set_reconnect(5, 100, 1000).unwrap();
            let s = Arc::new(Session::open(&c).unwrap());
            let stop = Arc::new(AtomicBool::new(false));
            let push = pusher(s.clone(), stop.clone());
            let t = Instant::now();
            let closed = drain(&s).pop().unwrap();
            let took = t.elapsed();
            stop.store(true, Ordering::Relaxed);
            push.join().unwrap();
            let reconnects = s.stats().reconnects;
            format!(
                "gave up after {} connections in {:.1} s: {}",
                reconnects + 1,
                took.as_secs_f64(),
                closed.status().name()
            )
        },
    );
    case(
        "finish(-1), 3 s finish timeout, every connection dropped before the final echo",
        || {
            let d = DevServer::start(&["--abort-after-ms", "300", "--reply-delay", "1000"]);
            let mut c = config(&d.url);
            c.set_reconnect(100, 100, 1000).unwrap();
            c.set_finish_timeout_ms(3000).unwrap();
            let s = Session::open(&c).unwrap();
            s.push(&audio(500)).unwrap();
            s.wait_ready(Some(Duration::from_secs(10))).unwrap();
            let t = Instant::now();
            let r = s.finish(None);
            format!(
                "finish returned {} after {}, {} reconnects",
                r.err().map_or("FWASR_OK", |e| e.status.name()),
                ms(t.elapsed()),
                s.stats().reconnects
            )
        },
    );
}

/// A message with `n` segments whose texts make it `bytes` long in all (ids `prefix`0..n).
fn wide_message(n: usize, bytes: usize, prefix: &str) -> serde_json::Value {
    let each = bytes / n;
    let segments: Vec<_> = (0..n)
        .map(|i| {
            let id = if prefix.is_empty() {
                json!(i)
            } else {
                json!(format!("{prefix}{i}"))
            };
            json!({ "id": id, "text": "x".repeat(each.saturating_sub(20)) })
        })
        .collect();
    json!({ "segments": segments })
}

fn fan_out() {
    case(
        "one 1 MB message of 5,000 segments, then one retracting 4,999 of them (poll mode)",
        || {
            let mut retract = wide_message(1, 200, "");
            retract["padding"] = json!("p".repeat(1 << 20));
            let replay = json!([
                { "at": 0.05, "json": wide_message(5000, 1 << 20, "") },
                { "at": 0.10, "json": retract },
            ]);
            poll_until_finished(&replay)
        },
    );
    case(
        "100 messages of 1,000 segments each (poll mode, events taken at the end)",
        || {
            let replay: Vec<_> = (0..100)
                .map(|i| json!({ "at": 0.05 + i as f64 * 0.002, "json": wide_message(1000, 200_000, &format!("m{i}-")) }))
                .collect();
            poll_until_finished(&serde_json::Value::from(replay))
        },
    );
}

/// A poll-mode session against `replay`: finishes, then takes its events.
fn poll_until_finished(replay: &serde_json::Value) -> String {
    let d = DevServer::with_replay(&replay.to_string());
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(300)).unwrap();
    let t = Instant::now();
    let r = s.finish(Some(Duration::from_secs(60)));
    let took = t.elapsed();
    let events = drain(&s).len();
    format!(
        "{} events, finish {} after {}",
        events,
        r.err().map_or("FWASR_OK", |e| e.status.name()),
        ms(took)
    )
}

fn floods() {
    case("pings from a server that never reads (keep-alive 1 s)", || {
        let d = DevServer::start(&["--ping-flood-after", "0.1"]);
        let mut c = config(&d.url);
        c.set_keepalive_ms(1000).unwrap();
        let s = Session::open(&c).unwrap();
        s.push(&audio(300)).unwrap();
        let t = Instant::now();
        let closed = drain(&s).pop().unwrap();
        format!("ended after {}: {}", ms(t.elapsed()), closed.status().name())
    });
    case(
        "message flood: finish(10 s) with a 3 s finish timeout, app not taking events",
        || {
            let d = DevServer::start(&["--flood-after", "0.1"]);
            let mut c = config(&d.url);
            c.set_finish_timeout_ms(3000).unwrap();
            let s = Session::open(&c).unwrap();
            s.push(&audio(300)).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            let t = Instant::now();
            let r = s.finish(Some(Duration::from_secs(10)));
            let finish = t.elapsed();
            let t = Instant::now();
            drop(s);
            format!(
                "finish {} after {}, free {}",
                r.err().map_or("FWASR_OK", |e| e.status.name()),
                ms(finish),
                ms(t.elapsed())
            )
        },
    );
    case(
        "message flood on shared threads: a calm session on each flooded thread streams 5 s",
        || {
            let flood = DevServer::start(&["--flood-after", "0.1"]);
            let calm = DevServer::start(&[]);
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
            let open = |url: &str| {
                let mut c: Config = config(url);
                c.set_shared_io(true);
                Session::open(&c).unwrap()
            };
            let flooded: Vec<Session> = (0..threads).map(|_| open(&flood.url)).collect();
            for s in &flooded {
                s.push(&audio(300)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(300));
            let calm_sessions: Vec<Session> = (0..threads).map(|_| open(&calm.url)).collect();
            for s in &calm_sessions {
                s.push(&audio(5000)).unwrap();
            }
            let t = Instant::now();
            let ok = calm_sessions
                .iter()
                .filter(|s| s.finish(Some(Duration::from_secs(30))).is_ok())
                .count();
            let took = t.elapsed();
            let t = Instant::now();
            drop(flooded);
            format!(
                "{ok} of {threads} calm sessions finished in {}, the flooded ones freed in {}",
                ms(took),
                ms(t.elapsed())
            )
        },
    );
}

#[cfg(target_os = "linux")]
fn string_ids() {
    for total in [25_000usize, 50_000, 100_000] {
        case(
            &format!("{total} segments with string ids, 1,000 new per message"),
            || {
                let replay: Vec<_> = (0..total / 1000)
                    .map(|i| {
                        let segs: Vec<_> = (0..1000)
                            .map(|j| json!({ "id": format!("s{}", i * 1000 + j), "text": "w" }))
                            .collect();
                        json!({ "at": 0.05, "json": { "segments": segs } })
                    })
                    .collect();
                let d = DevServer::with_replay(&serde_json::Value::from(replay).to_string());
                let s = Session::open(&config(&d.url)).unwrap();
                s.push(&audio(300)).unwrap();
                s.wait_ready(Some(Duration::from_secs(10))).unwrap();
                let cpu = cpu_s();
                let r = s.finish(Some(Duration::from_secs(120)));
                let cpu = cpu_s() - cpu;
                let segments = s.segments().len();
                drop(drain(&s));
                format!(
                    "{segments} segments kept, finish {}, {cpu:.2} CPU-s",
                    r.err().map_or("FWASR_OK", |e| e.status.name())
                )
            },
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("benches/hostile reads /proc and getrusage: run it on Linux");
}

#[cfg(target_os = "linux")]
fn main() {
    println!("| case | result | peak RSS growth | peak heap growth |");
    println!("|---|---|---|---|");
    reconnect_budget();
    fan_out();
    floods();
    string_ids();
}
