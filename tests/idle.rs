//! The network thread sleeps while there is nothing to do: no timer, no polling loop. Counted
//! with the kernel's per-thread context-switch counter, so the machine's load does not matter.
//! The counter is read from /proc: Linux only.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use fwasr::session::*;
use fwasr::{Config, Session};

/// Voluntary context switches of this process's threads named `name`; panics if there is none.
fn switches(name: &str) -> u64 {
    let mut total = 0;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        found = true;
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    assert!(found, "no thread named {name}");
    total
}

/// The tests count by thread name, so they run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// CPU time (user + system, in clock ticks of 10 ms) of this process's threads whose names
/// start with `name`, or None when there is none.
fn cpu_ticks(name: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(") ").map_or("", |(_, r)| r).split(' ').collect();
        let ticks: u64 = fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        *total.get_or_insert(0) += ticks;
    }
    total
}

#[test]
fn waiting_for_the_servers_close_does_not_spin() {
    // The server closes the WebSocket after 0.5 s of audio but keeps TCP open, with paced
    // audio still queued: the session waits out the close handshake (2 s) asleep, though the
    // pacer's next send time passes meanwhile (nothing more is written after a close).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = DevServer::start(&["--close-after", "0.5:1000:bye", "--hold-open"]);
    for (shared_io, thread) in [(false, "fwasr-session"), (true, "fwasr-shared-")] {
        let mut c = Config::new();
        c.set_url(&d.url).unwrap();
        c.set_pacing(1.0).unwrap();
        c.set_shared_io(shared_io);
        // Shared threads live on: what they used before counts for nothing.
        let before = cpu_ticks(thread).unwrap_or(0);
        let s = Session::open(&c).unwrap();
        s.push(&audio(4000)).unwrap();
        let started = Instant::now();
        let mut most = 0;
        while !matches!(s.state(), FWASR_STATE_CLOSED | FWASR_STATE_FAILED) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the session never ended"
            );
            if let Some(t) = cpu_ticks(thread) {
                most = most.max(t.saturating_sub(before));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "no close wait to measure"
        );
        assert!(
            most < 30,
            "{thread}: the network thread used {} ms of CPU",
            most * 10
        );
    }
}

#[test]
fn an_idle_session_does_not_wake_up() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = DevServer::start(&[]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    let s = Session::open(&c).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    // Let the connection settle, then watch it do nothing.
    std::thread::sleep(Duration::from_millis(100));
    let before = switches("fwasr-session");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        switches("fwasr-session") - before,
        0,
        "the idle network thread woke up"
    );

    // Less than a chunk of audio does not wake it either; completing the chunk does.
    s.push(&audio(30)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        switches("fwasr-session") - before,
        0,
        "a partial chunk woke the network thread"
    );
    s.push(&audio(20)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        switches("fwasr-session") > before,
        "a complete chunk did not wake the network thread"
    );
    assert_eq!(s.stats().chunks_sent, 1);
}
