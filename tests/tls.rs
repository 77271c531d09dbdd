//! wss:// through the real TLS stack against fwasr-devserver with a self-signed certificate.

mod common;

use std::time::Duration;

use common::*;
use fwasr::error::*;
use fwasr::{Config, Session};

const SEC: Option<Duration> = Some(Duration::from_secs(10));

fn tls_server() -> DevServer {
    let data = root().join("tests/data");
    DevServer::start(&[
        "--tls-cert",
        data.join("localhost.crt").to_str().unwrap(),
        "--tls-key",
        data.join("localhost.key").to_str().unwrap(),
    ])
}

fn transcribe(cfg: &Config) -> Result<String, fwasr::Error> {
    let s = Session::open(cfg)?;
    // A session that has already failed refuses audio (FWASR_ERR_STATE); finish says why.
    if let Err(e) = s.push(&audio(600)) {
        assert_eq!(e.status, FWASR_ERR_STATE);
    }
    s.finish(SEC)?;
    Ok(s.transcript())
}

#[test]
fn self_signed_certificate_is_refused_by_default() {
    let d = tls_server();
    assert!(d.url.starts_with("wss://"));
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    let e = transcribe(&c).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_TLS, "{e}");
    assert!(e.message.contains("certificate"), "{}", e.message);
}

#[test]
fn self_signed_certificate_is_accepted_from_a_ca_file() {
    let d = tls_server();
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_tls_ca_file(Some(root().join("tests/data/localhost.crt").to_str().unwrap()))
        .unwrap();
    assert_eq!(transcribe(&c).unwrap(), "0.60 s of audio received");
    let r = &d.reports(1)[0];
    assert_eq!(r["tls"], true);
    assert_eq!(r["audio_sha256"], sha256_hex(&audio(600)));
}

#[test]
fn any_certificate_is_accepted_with_verification_off() {
    let d = tls_server();
    let mut c = Config::new();
    c.set_url(&d.url.replace("127.0.0.1", "localhost")).unwrap();
    c.set_tls_verify(false);
    assert_eq!(transcribe(&c).unwrap(), "0.60 s of audio received");
}

#[test]
fn sessions_sharing_tls_settings_keep_their_own_verification() {
    // Connectors are shared between sessions with the same TLS settings; different settings
    // in one process must still get their own (a shared permissive one would accept below).
    let d = tls_server();
    let mut open = Config::new();
    open.set_url(&d.url).unwrap();
    open.set_tls_verify(false);
    let mut strict = Config::new();
    strict.set_url(&d.url).unwrap();
    for _ in 0..3 {
        assert_eq!(transcribe(&open).unwrap(), "0.60 s of audio received");
        assert_eq!(transcribe(&strict).unwrap_err().status, FWASR_ERR_TLS);
    }
    let mut ca = Config::new();
    ca.set_url(&d.url).unwrap();
    ca.set_tls_ca_file(Some(root().join("tests/data/localhost.crt").to_str().unwrap()))
        .unwrap();
    assert_eq!(transcribe(&ca).unwrap(), "0.60 s of audio received");
    assert_eq!(transcribe(&strict).unwrap_err().status, FWASR_ERR_TLS);
}
