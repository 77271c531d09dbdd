//! HTTP CONNECT proxies, against a proxy nobody here wrote: Debian's tinyproxy, started on
//! loopback by each test (ws and wss through it, Basic auth accepted and refused, a proxy that
//! denies the client, reconnects through it), and a proxy that never answers.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fwasr::error::*;
use fwasr::{Config, Session};

const SEC10: Option<Duration> = Some(Duration::from_secs(10));

/// tinyproxy on 127.0.0.1, foreground, killed on drop.
struct TinyProxy {
    child: Child,
    url: String,
    _dir: Scratch,
}

impl TinyProxy {
    /// `extra`: more lines of its configuration (BasicAuth, Allow ...).
    fn start(extra: &str) -> TinyProxy {
        let dir = Scratch::new();
        // A free port for it (tinyproxy takes only a fixed one).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let allow = if extra.contains("Allow ") {
            ""
        } else {
            "Allow 127.0.0.1\n"
        };
        let log = dir.0.join("tinyproxy.log");
        let conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 100\nLogLevel Connect\nLogFile \"{}\"\n{allow}{extra}\n",
            log.display()
        );
        let path = dir.0.join("tinyproxy.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy (Debian package tinyproxy) is installed");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "tinyproxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        TinyProxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl TinyProxy {
    /// What it logged: a line per tunnel it opened, among others.
    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for TinyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of a ws:// or wss:// URL.
fn port_of(url: &str) -> String {
    url.split(':')
        .nth(2)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

fn skip() -> bool {
    skip_under_wine("tinyproxy is a Linux program the Windows test build cannot start")
}

/// A config for `url` through the proxy at `proxy`.
fn through(proxy: &str, url: &str) -> Config {
    let mut c = Config::new();
    c.set_url(url).unwrap();
    c.set_proxy(Some(proxy)).unwrap();
    c
}

/// Streams 1 s through `c` and finishes: the devserver's transcript of it.
fn stream(c: &Config) -> Result<String, Error> {
    let s = Session::open(c)?;
    s.wait_ready(SEC10)?;
    s.push(&audio(1000))?;
    s.finish(SEC10)?;
    Ok(s.transcript())
}

#[test]
fn ws_and_wss_go_through_a_real_proxy() {
    if skip() {
        return;
    }
    let proxy = TinyProxy::start("");
    let d = DevServer::start(&[]);
    let c = through(&proxy.url, &d.url);
    assert_eq!(stream(&c).unwrap(), "1.00 s of audio received");
    let port = port_of(&d.url);
    assert!(
        proxy.log().contains(&format!("CONNECT 127.0.0.1:{port}")),
        "{}",
        proxy.log()
    );

    // wss: TLS through the tunnel to the real host, verified against its name.
    let data = root().join("tests/data");
    let d = DevServer::start(&[
        "--tls-cert",
        data.join("localhost.crt").to_str().unwrap(),
        "--tls-key",
        data.join("localhost.key").to_str().unwrap(),
    ]);
    let mut c = Config::new();
    c.set_url(&d.url.replace("127.0.0.1", "localhost")).unwrap();
    c.set_tls_ca_file(Some(data.join("localhost.crt").to_str().unwrap()))
        .unwrap();
    c.set_proxy(Some(&proxy.url)).unwrap();
    assert_eq!(stream(&c).unwrap(), "1.00 s of audio received");
    let port = port_of(&d.url);
    assert!(
        proxy.log().contains(&format!("CONNECT localhost:{port}")),
        "{}",
        proxy.log()
    );
}

#[test]
fn basic_auth_is_sent_and_a_refusal_says_it_came_from_the_proxy() {
    if skip() {
        return;
    }
    let proxy = TinyProxy::start("BasicAuth alice s3cr3t");
    let d = DevServer::start(&[]);
    let with = |userinfo: &str| {
        let mut c = Config::new();
        c.set_url(&d.url).unwrap();
        c.set_proxy(Some(
            &proxy.url.replace("http://", &format!("http://{userinfo}@")),
        ))
        .unwrap();
        c
    };
    assert_eq!(stream(&with("alice:s3cr3t")).unwrap(), "1.00 s of audio received");
    let e = stream(&with("alice:wrong-pass")).unwrap_err();
    // tinyproxy answers a CONNECT with wrong credentials 401, not 407.
    assert_eq!(e.status, FWASR_ERR_AUTH, "{e}");
    assert!(matches!(e.code, 401 | 407), "{e}");
    let port = proxy.url.rsplit(':').next().unwrap();
    assert!(
        e.message.starts_with(&format!(
            "proxy 127.0.0.1:{port} refused the tunnel to 127.0.0.1:"
        )),
        "{e}"
    );
    assert!(
        !e.message.contains("wrong-pass") && !e.message.contains("alice"),
        "{e}"
    );
}

#[test]
fn a_proxy_that_denies_the_client_is_a_connect_error_with_its_status() {
    if skip() {
        return;
    }
    let proxy = TinyProxy::start("Allow 192.0.2.1");
    let d = DevServer::start(&[]);
    let c = through(&proxy.url, &d.url);
    let e = stream(&c).unwrap_err();
    assert_eq!((e.status, e.code), (FWASR_ERR_CONNECT, 403), "{e}");
    assert!(e.message.contains("refused the tunnel"), "{e}");
}

#[test]
fn reconnects_go_through_the_proxy_too() {
    if skip() {
        return;
    }
    let proxy = TinyProxy::start("");
    let d = DevServer::with_script(&sample_script(), &["--abort-after", "4.0"]);
    let mut c = through(&proxy.url, &d.url);
    c.set_reconnect(5, 10, 40).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&sample_pcm()).unwrap();
    s.finish(Some(Duration::from_secs(30))).unwrap();
    assert!(s.stats().reconnects >= 2, "{:?}", s.stats());
    assert_eq!(s.transcript(), sample_texts().join(" "));
}

#[test]
fn a_proxy_that_never_answers_is_given_up_at_the_connect_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let held = std::thread::spawn(move || silent.accept().map(|(tcp, _)| tcp));
    let mut c = Config::new();
    c.set_url("ws://127.0.0.1:9/").unwrap();
    c.set_proxy(Some(&format!("http://{addr}"))).unwrap();
    c.set_connect_timeout_ms(500).unwrap();
    let s = Session::open(&c).unwrap();
    let t = Instant::now();
    let e = s.wait_ready(SEC10).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_CONNECT_TIMEOUT, "{e}");
    assert!(
        e.message.starts_with("proxy tunnel (CONNECT) to 127.0.0.1:9"),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    drop(held);
}

#[test]
fn only_http_proxies_are_taken() {
    let mut c = Config::new();
    let e = c.set_proxy(Some("socks5h://user:pw@127.0.0.1:1080")).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_INVALID_ARGUMENT);
    assert!(!e.message.contains("pw"), "{e}");
    c.set_proxy(Some("")).unwrap();
    c.set_proxy(None).unwrap();
}
