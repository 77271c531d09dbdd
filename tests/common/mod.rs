//! Shared by the integration tests: start fwasr-devserver on a free loopback port, read its
//! report, make audio.

#![allow(dead_code)]

pub mod heap;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use fwasr::event::FWASR_EVENT_CLOSED;
use fwasr::{Config, Event, Session};
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The devserver binary: `FWASR_DEVSERVER` when set (a prebuilt one, for test binaries run
/// where there is no cargo, such as under Wine), else built once per test run.
pub fn devserver_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FWASR_DEVSERVER") {
        return PathBuf::from(bin);
    }
    static BUILD: Once = Once::new();
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = target.join(format!("fwasr-devserver{}", std::env::consts::EXE_SUFFIX));
    BUILD.call_once(|| {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "--quiet", "-p", "fwasr-devserver"]);
        // Benchmarks run from target/release.
        if target.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo
            .current_dir(root())
            .status()
            .expect("run cargo to build fwasr-devserver");
        assert!(status.success(), "building fwasr-devserver failed");
    });
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// The sample recording's 16 kHz mono s16 samples (its header is the canonical 44 bytes,
/// written by Python's wave module).
pub fn sample_pcm() -> Vec<u8> {
    std::fs::read(root().join("examples-c/data/sample.wav")).unwrap()[44..].to_vec()
}

/// The sample's devserver script.
pub fn sample_script() -> String {
    std::fs::read_to_string(root().join("examples-c/data/sample.script.json")).unwrap()
}

/// The sample's sentences, in order.
pub fn sample_texts() -> Vec<String> {
    serde_json::from_str::<Value>(&sample_script())
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect()
}

/// Under Wine (FWASR_WINE, set by scripts/windows-tests.sh), says on stderr past the test
/// harness's capture that the calling test is skipped and why, and returns true.
pub fn skip_under_wine(why: &str) -> bool {
    if std::env::var_os("FWASR_WINE").is_none() {
        return false;
    }
    let name = std::thread::current().name().unwrap_or("test").to_string();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{name}: skipped under Wine: {why}\n").as_bytes(),
    );
    true
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        // The time too: under Wine every test program may have the same process id, and one
        // that was killed leaves its directories behind.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!(
            "fwasr-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct DevServer {
    child: Child,
    pub url: String,
    pub port: u16,
    report: PathBuf,
    pub scratch: Scratch,
}

impl DevServer {
    /// Starts the server with these extra arguments (a report file is always added). Its URL
    /// comes through a file (--url-file), which also works for a Windows test under Wine
    /// starting the Linux devserver (tests/windows/linux-devserver.sh), where the child's
    /// output does not reach the parent.
    pub fn start(args: &[&str]) -> DevServer {
        let scratch = Scratch::new();
        let report = scratch.0.join("report.jsonl");
        let url_file = scratch.0.join("url");
        let mut child = Command::new(devserver_bin())
            .args(args)
            .arg("--report")
            .arg(&report)
            .arg("--url-file")
            .arg(&url_file)
            .arg("--quiet")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start fwasr-devserver");
        // Generous: under Wine, starting a program takes a while on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&url_file) {
                break text.trim().to_string();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("fwasr-devserver {args:?} exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "fwasr-devserver {args:?} not listening after 30 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("port");
        DevServer {
            child,
            url,
            port,
            report,
            scratch,
        }
    }

    pub fn with_script(script: &str, extra: &[&str]) -> DevServer {
        let s = Scratch::new();
        let path = s.file("script.json", script);
        let mut args = vec!["--script", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let d = DevServer::start(&args);
        std::fs::rename(&path, d.scratch.0.join("script.json")).ok();
        d
    }

    pub fn with_replay(replay: &str) -> DevServer {
        DevServer::with_replay_and(replay, &[])
    }

    pub fn with_replay_and(replay: &str, extra: &[&str]) -> DevServer {
        let s = Scratch::new();
        let path = s.file("replay.json", replay);
        let mut args = vec!["--replay", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let d = DevServer::start(&args);
        std::fs::rename(&path, d.scratch.0.join("replay.json")).ok();
        d
    }

    /// Waits (up to 10 s) until the report has `n` connection lines, and returns them.
    pub fn reports(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.report).unwrap_or_default();
            // Only whole lines: the server may be writing the next one.
            let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            let lines: Vec<Value> = whole
                .lines()
                .map(|l| serde_json::from_str(l).expect("report line is JSON"))
                .collect();
            if lines.len() >= n || Instant::now() > deadline {
                assert_eq!(lines.len(), n, "report lines");
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        // Stops the Linux devserver started from Wine (tests/windows/linux-devserver.sh),
        // which Wine cannot kill.
        let _ = std::fs::remove_file(self.scratch.0.join("url"));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ms` milliseconds of a 16 kHz s16le signal whose bytes differ from sample to sample.
pub fn audio(ms: usize) -> Vec<u8> {
    (0..ms * 16)
        .flat_map(|i| (((i * 7919) % 65536) as u16 as i16).to_le_bytes())
        .collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A default configuration for `url`.
pub fn config(url: &str) -> Config {
    let mut c = Config::new();
    c.set_url(url).unwrap();
    c
}

/// Events of a poll-mode session up to and including the first of `kind` (or CLOSED).
pub fn wait_for(s: &Session, kind: fwasr::EventType) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = s.next_event(Some(Duration::from_secs(30))) {
        let done = e.kind() == kind || e.kind() == FWASR_EVENT_CLOSED;
        out.push(e);
        if done {
            break;
        }
    }
    out
}

/// Every event of a poll-mode session until CLOSED, which must come once and last.
pub fn drain(s: &Session) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = s.next_event(Some(Duration::from_secs(30))) {
        out.push(e);
    }
    assert_eq!(
        out.iter().filter(|e| e.kind() == FWASR_EVENT_CLOSED).count(),
        1,
        "{out:?}"
    );
    assert_eq!(out.last().map(|e| e.kind()), Some(FWASR_EVENT_CLOSED), "{out:?}");
    out
}
