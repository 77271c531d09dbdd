//! The network thread sleeps while there is nothing to do: no timer, no polling loop. Counted
//! with the kernel's per-thread context-switch counter, so the machine's load does not matter.
//! The counter is read from /proc: Linux only.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
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

#[test]
fn an_idle_session_does_not_wake_up() {
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
