//! The session against fwasr-devserver over real loopback sockets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fwasr::error::*;
use fwasr::event::*;
use fwasr::session::*;
use fwasr::{Event, Session};
use serde_json::Value;

const SEC: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn auth_accepted_and_key_sent_as_header() {
    let d = DevServer::start(&["--api-key", "sk-test-123"]);
    let mut c = config(&d.url);
    c.set_api_key(Some("sk-test-123")).unwrap();
    let s = Session::open(&c).unwrap();
    s.wait_ready(SEC).unwrap();
    s.push(&audio(100)).unwrap();
    s.finish(SEC).unwrap();
    assert_eq!(s.state(), FWASR_STATE_CLOSED);
    let r = &d.reports(1)[0];
    assert_eq!(r["auth"], "ok");
    assert_eq!(r["headers"]["authorization"], "<redacted>");
    assert!(r["headers"]["user-agent"].as_str().unwrap().starts_with("fwasr/"));
}

#[test]
fn auth_refused_reports_status_and_body_without_the_key() {
    let d = DevServer::start(&["--api-key", "right-key"]);
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut c = config(&d.url);
    c.set_api_key(Some("wrong-key-SECRET")).unwrap();
    let l = logs.clone();
    c.set_log_handler(
        Some(Arc::new(move |_, m: &str| l.lock().unwrap().push(m.to_string()))),
        FWASR_LOG_DEBUG,
    );
    let s = Session::open(&c).unwrap();
    let e = s.wait_ready(SEC).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_AUTH);
    assert_eq!(e.code, 401);
    assert!(e.message.contains("invalid or missing API key"), "{}", e.message);
    assert_eq!(s.state(), FWASR_STATE_FAILED);
    let events = drain(&s);
    assert_eq!(events.len(), 1, "no CONNECTED before a refused handshake");
    assert_eq!((events[0].status(), events[0].code()), (FWASR_ERR_AUTH, 401));
    let logs = logs.lock().unwrap();
    assert!(!logs.is_empty());
    for line in logs
        .iter()
        .chain([&e.message.to_string(), &events[0].message().to_string()])
    {
        assert!(!line.contains("SECRET"), "key leaked: {line}");
    }
}

#[test]
fn query_parameters_are_encoded() {
    let d = DevServer::start(&[]);
    let prompt = "Um, here's a b&c=d — ünïcödé 日本";
    let mut c = config(&d.url);
    c.set_param("prompt", Some(prompt)).unwrap();
    c.set_param("language", Some("en")).unwrap();
    c.set_temperature(0.5).unwrap();
    c.set_param("timestamp_granularities", Some("word,segment"))
        .unwrap();
    c.set_header("X-Trace", Some("abc")).unwrap();
    let s = Session::open(&c).unwrap();
    s.wait_ready(SEC).unwrap();
    s.finish(SEC).unwrap();
    let r = &d.reports(1)[0];
    let q: Vec<(String, String)> = r["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect();
    let want = [
        ("response_format", "verbose_json"),
        ("prompt", prompt),
        ("language", "en"),
        ("temperature", "0.5"),
        ("timestamp_granularities", "word,segment"),
    ];
    assert_eq!(q, want.map(|(a, b)| (a.to_string(), b.to_string())));
    assert_eq!(r["headers"]["x-trace"], "abc");
    assert_eq!(r["path"], "/v1/audio/transcriptions/streaming");
}

#[test]
fn a_url_without_a_path_requests_the_root() {
    // The devserver answers only its endpoint's path, so "/" is refused with 404, in words;
    // what matters is that the request target it saw was "/", not an empty one.
    let d = DevServer::start(&[]);
    let base = d.url.trim_end_matches("/v1/audio/transcriptions/streaming");
    let s = Session::open(&config(base)).unwrap();
    let e = s.wait_ready(SEC).unwrap_err();
    assert_eq!((e.status, e.code), (FWASR_ERR_HANDSHAKE, 404), "{e}");
    let r = &d.reports(1)[0];
    assert_eq!(r["path"], "/");
    assert_eq!(r["query"][0][0], "response_format");
}

fn chunking(piece: usize) {
    let d = DevServer::start(&[]);
    let s = Session::open(&config(&d.url)).unwrap();
    let data = audio(1234);
    for p in data.chunks(piece) {
        s.push(p).unwrap();
    }
    s.finish(SEC).unwrap();
    let st = s.stats();
    assert_eq!(
        (st.bytes_pushed, st.bytes_sent, st.bytes_dropped),
        (data.len() as u64, data.len() as u64, 0)
    );
    assert_eq!(st.chunks_sent, 25);
    let r = &d.reports(1)[0];
    let sizes: Vec<u64> = r["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_u64().unwrap())
        .collect();
    assert_eq!(sizes.len(), 25);
    assert!(sizes[..24].iter().all(|&n| n == 1600), "{sizes:?}");
    assert_eq!(sizes[24], 34 * 32);
    assert_eq!(r["audio_sha256"], sha256_hex(&data));
    assert_eq!(r["audio_bytes"], data.len());
}

#[test]
fn odd_7ms_pushes_arrive_as_exact_50ms_chunks() {
    chunking(7 * 32);
}

#[test]
fn odd_333_byte_pushes_arrive_as_exact_50ms_chunks() {
    chunking(333);
}

#[test]
fn chunk_size_is_configurable() {
    let d = DevServer::start(&[]);
    let mut c = config(&d.url);
    c.set_chunk_ms(100).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(450)).unwrap();
    s.finish(SEC).unwrap();
    let sizes: Vec<u64> = d.reports(1)[0]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [3200, 3200, 3200, 3200, 1600]);
}

const STATE_REPLAY: &str = r#"[
 {"at": 0.05, "json": {"segments": [{"id": "0", "text": "zero"}, {"id": 1, "text": "one", "words": [{"word": "one", "is_final": false}]}]}},
 {"at": 0.10, "json": {"segments": [{"id": 1, "text": "one", "words": [{"word": "one", "is_final": true}]},
   {"id": "2", "text": "two"}, {"id": "3", "text": "3"}, {"id": "4", "text": "4"}, {"id": "5", "text": "5"}, {"id": "6", "text": "6"},
   {"id": "7", "text": "7"}, {"id": "8", "text": "8"}, {"id": "9", "text": "9"}, {"id": "10", "text": "ten"}, {"id": "11", "text": "eleven"}]}},
 {"at": 0.15, "json": {"segments": [{"id": "9", "text": "nine", "start": 1.5, "end": 2.0}], "unknown_field": {"x": 1}}},
 {"at": 0.20, "json": {"segments": [{"id": "9", "text": "nine", "start": 1.5, "end": 2.0}]}},
 {"at": 0.25, "text": "this is not json"},
 {"at": 0.25, "json": {"hello": "world"}},
 {"at": 0.30, "json": {"error": {"message": "audio too loud", "code": 42}}},
 {"at": "final", "json": {"segments": [{"id": 9, "text": "nine!", "start": 1.5, "end": 2.0}, {"id": 10, "text": "ten again"}]}}
]"#;

#[test]
fn segment_state_follows_the_protocol_rules() {
    let d = DevServer::with_replay(STATE_REPLAY);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(400)).unwrap();
    s.finish(SEC).unwrap();
    let events = drain(&s);
    assert_eq!(events[0].kind(), FWASR_EVENT_CONNECTED);
    let seg: Vec<(EventType, String, String, i32)> = events
        .iter()
        .filter(|e| matches!(e.kind(), FWASR_EVENT_SEGMENT | FWASR_EVENT_SEGMENT_REMOVED))
        .map(|e| {
            let g = e.segment().unwrap();
            (e.kind(), g.id.clone(), g.text.clone(), g.is_final)
        })
        .collect();
    let upd = |id: &str, t: &str, f: i32| (FWASR_EVENT_SEGMENT, id.to_string(), t.to_string(), f);
    let rem = |id: &str, t: &str| (FWASR_EVENT_SEGMENT_REMOVED, id.to_string(), t.to_string(), -1);
    let mut want = vec![
        upd("0", "zero", -1),
        upd("1", "one", 0),
        upd("1", "one", 1),
        upd("2", "two", -1),
    ];
    for i in 3..=8 {
        want.push(upd(&i.to_string(), &i.to_string(), -1));
    }
    want.extend([upd("9", "9", -1), upd("10", "ten", -1), upd("11", "eleven", -1)]);
    want.extend([upd("9", "nine", -1), rem("10", "ten"), rem("11", "eleven")]);
    want.extend([upd("9", "nine!", -1), upd("10", "ten again", -1)]);
    assert_eq!(seg, want);
    let times = events
        .iter()
        .find(|e| e.kind() == FWASR_EVENT_SEGMENT && e.segment().unwrap().text == "nine")
        .unwrap();
    let g = times.segment().unwrap();
    assert_eq!((g.start_s, g.end_s), (1.5, 2.0));
    assert!(times
        .json()
        .as_ref()
        .map(|j| j.as_str())
        .unwrap()
        .contains("unknown_field"));
    let errors: Vec<&Event> = events.iter().filter(|e| e.kind() == FWASR_EVENT_ERROR).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0].status(), FWASR_ERR_PROTOCOL);
    assert_eq!(
        errors[0].json().as_ref().map(|j| j.as_str()),
        Some("this is not json")
    );
    assert_eq!(errors[1].status(), FWASR_ERR_PROTOCOL);
    assert_eq!((errors[2].status(), errors[2].code()), (FWASR_ERR_SERVER, 42));
    assert!(errors[2].message().contains("audio too loud"));
    assert_eq!(s.transcript(), "zero one two 3 4 5 6 7 8 nine! ten again");
    let segs = s.segments();
    assert_eq!(
        segs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
    );
    assert_eq!(segs[1].is_final, 1);
    assert_eq!(events.last().unwrap().status(), FWASR_OK);
}

const SCRIPT: &str = r#"[
 {"start": 0.0, "end": 0.6, "text": "hello there"},
 {"start": 0.8, "end": 1.6, "text": "general kenobi"},
 {"start": 1.7, "end": 1.95, "text": "tail"}
]"#;

#[test]
fn finish_returns_after_the_final_echo_with_the_whole_transcript() {
    let d = DevServer::with_script(SCRIPT, &[]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(1960)).unwrap();
    s.finish(SEC).unwrap();
    assert_eq!(s.transcript(), "hello there general kenobi tail");
    assert!(s.segments().iter().all(|g| g.is_final == 1));
    let events = drain(&s);
    let cps: Vec<&str> = events
        .iter()
        .filter(|e| e.kind() == FWASR_EVENT_CHECKPOINT)
        .filter_map(|e| e.id())
        .collect();
    assert_eq!(cps, ["final"]);
    let r = &d.reports(1)[0];
    assert_eq!(
        r["control"].as_array().unwrap().last().unwrap()["checkpoint_id"],
        "final"
    );
    assert_eq!(r["end"], "client close 1000");
}

#[test]
fn checkpoint_trace_and_clear_round_trip() {
    let d = DevServer::start(&[]);
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(120)).unwrap();
    s.checkpoint("cp-1").unwrap();
    s.trace("tr-1").unwrap();
    s.clear("rs-1").unwrap();
    assert_eq!(
        s.checkpoint("final").unwrap_err().status,
        FWASR_ERR_INVALID_ARGUMENT
    );
    s.finish(SEC).unwrap();
    let events = drain(&s);
    let find = |k| {
        events
            .iter()
            .find(|e| e.kind() == k)
            .unwrap_or_else(|| panic!("{k:?} missing: {events:?}"))
    };
    assert_eq!(find(FWASR_EVENT_CHECKPOINT).id(), Some("cp-1"));
    let tr = find(FWASR_EVENT_TRACE);
    assert!(
        matches!(tr, Event::Trace { id, rtt_ms, .. } if id == "tr-1" && (0.0..10_000.0).contains(rtt_ms)),
        "{tr:?}"
    );
    assert_eq!(find(FWASR_EVENT_CLEARED).id(), Some("rs-1"));
    assert!(s.stats().last_rtt_ms >= 0.0);
    // The checkpoint follows the complete chunks pushed before it (2 of them), not the partial one.
    let r = &d.reports(1)[0];
    assert_eq!(r["control"][0]["checkpoint_id"], "cp-1");
    assert_eq!(r["control"][1]["object"], "stt.input.trace");
    assert_eq!(r["control"][2]["object"], "stt.state.clear");
    assert_eq!(r["chunks"].as_array().unwrap().len(), 3);
    assert_eq!(s.checkpoint("late").unwrap_err().status, FWASR_ERR_STATE);
    assert_eq!(s.push(&audio(10)).unwrap_err().status, FWASR_ERR_STATE);
}

#[test]
fn connection_refused_and_connect_timeout_are_distinct() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let s = Session::open(&config(&format!("ws://127.0.0.1:{port}/x"))).unwrap();
    let e = s.wait_ready(SEC).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_CONNECT, "{e}");

    // A server that accepts TCP but never answers the upgrade.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = config(&format!("ws://{}/x", silent.local_addr().unwrap()));
    c.set_connect_timeout_ms(300).unwrap();
    let t = Instant::now();
    let s = Session::open(&c).unwrap();
    let e = s.wait_ready(SEC).unwrap_err();
    assert_eq!(e.status, FWASR_ERR_CONNECT_TIMEOUT, "{e}");
    assert!(t.elapsed() >= Duration::from_millis(290));
    let closed = drain(&s);
    assert_eq!(closed[0].status(), FWASR_ERR_CONNECT_TIMEOUT);
    assert_eq!(s.finish(SEC).unwrap_err().status, FWASR_ERR_CONNECT_TIMEOUT);

    let s = Session::open(&config("ws://no-such-host.invalid/x")).unwrap();
    assert_eq!(s.wait_ready(SEC).unwrap_err().status, FWASR_ERR_RESOLVE);
}

#[test]
fn audio_pushed_before_the_connection_is_kept() {
    let d = DevServer::start(&[]);
    let s = Session::open(&config(&d.url)).unwrap();
    let data = audio(500);
    s.push(&data).unwrap();
    s.finish(SEC).unwrap();
    assert_eq!(d.reports(1)[0]["audio_sha256"], sha256_hex(&data));
}

#[test]
fn callback_mode_delivers_every_event_in_order() {
    let d = DevServer::with_script(SCRIPT, &[]);
    let seen = Arc::new(Mutex::new(Vec::<Event>::new()));
    let mut c = config(&d.url);
    let s2 = seen.clone();
    c.set_event_handler(Some(Arc::new(move |e: &Event| {
        s2.lock().unwrap().push(e.clone())
    })));
    let s = Session::open(&c).unwrap();
    s.push(&audio(1960)).unwrap();
    s.finish(SEC).unwrap();
    assert!(
        s.next_event(Some(Duration::ZERO)).is_none(),
        "callback mode has no queue"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].kind(), FWASR_EVENT_CONNECTED);
    assert_eq!(seen.last().unwrap().kind(), FWASR_EVENT_CLOSED);
    assert_eq!(seen.iter().filter(|e| e.kind() == FWASR_EVENT_CLOSED).count(), 1);
    assert!(seen.iter().filter(|e| e.kind() == FWASR_EVENT_SEGMENT).count() >= 3);
}

#[test]
fn pacing_spreads_chunks_at_real_time() {
    let d = DevServer::start(&[]);
    let mut c = config(&d.url);
    c.set_pacing(1.0).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(500)).unwrap();
    let t = Instant::now();
    s.finish(SEC).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    let times: Vec<f64> = d.reports(1)[0]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[1].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 10);
    assert!(times[9] - times[0] >= 9.0 * 50.0 * 0.9, "{times:?}");
}

#[test]
fn full_queue_refuses_whole_push_and_raises_one_overrun() {
    let d = DevServer::start(&[]);
    let mut c = config(&d.url);
    c.set_pacing(1.0).unwrap();
    c.set_buffer_ms(200).unwrap();
    let s = Session::open(&c).unwrap();
    s.wait_ready(SEC).unwrap();
    s.push(&audio(200)).unwrap();
    let mut refused = 0;
    for _ in 0..5 {
        let e = s.push(&audio(100)).unwrap_err();
        assert_eq!(e.status, FWASR_ERR_BUFFER_FULL);
        refused += 1;
    }
    let st = s.stats();
    assert_eq!(st.bytes_dropped, refused * 3200);
    assert_eq!(st.bytes_pushed, 6400);
    // push_wait waits for room instead.
    s.push_wait(&audio(100), SEC).unwrap();
    s.finish(SEC).unwrap();
    let events = drain(&s);
    let overruns: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind() == FWASR_EVENT_OVERRUN)
        .collect();
    assert_eq!(overruns.len(), 1, "{events:?}");
    // Raised when the overrun begins; it counts what was refused by then, stats the total.
    assert!(
        matches!(overruns[0], Event::Overrun { dropped_ms } if (100.0..=500.0).contains(dropped_ms)),
        "{:?}",
        overruns[0]
    );
    assert_eq!(d.reports(1)[0]["audio_bytes"], 9600);
}

#[test]
fn close_from_server_is_reported_with_code_and_reason() {
    let d = DevServer::with_replay(
        r#"[{"at": 0.05, "json": {"segments": [{"id": 0, "text": "kept"}]}}, {"at": 0.1, "close": {"code": 1011, "reason": "model crashed"}}]"#,
    );
    let s = Session::open(&config(&d.url)).unwrap();
    s.push(&audio(300)).unwrap();
    let events = drain(&s);
    let closed = events.last().unwrap();
    assert_eq!((closed.status(), closed.code()), (FWASR_ERR_CLOSED, 1011));
    assert!(closed.message().contains("model crashed"), "{}", closed.message());
    assert_eq!(s.state(), FWASR_STATE_FAILED);
    assert_eq!(s.transcript(), "kept");
    assert_eq!(s.finish(SEC).unwrap_err().code, 1011);
}

#[test]
fn close_codes_not_allowed_on_the_wire_are_reported_as_sent() {
    // fwasr answers these with 1002; the caller still learns the server's code and reason.
    for code in [999u16, 1005, 1006, 1015, 5000] {
        let replay = format!(r#"[{{"at": 0.05, "close": {{"code": {code}, "reason": "reason {code}"}}}}]"#);
        let d = DevServer::with_replay(&replay);
        let s = Session::open(&config(&d.url)).unwrap();
        s.push(&audio(200)).unwrap();
        let closed = drain(&s).pop().unwrap();
        assert_eq!(
            (closed.status(), closed.code()),
            (FWASR_ERR_CLOSED, i32::from(code)),
            "{closed:?}"
        );
        assert!(
            closed.message().contains(&format!("reason {code}")),
            "{}",
            closed.message()
        );
        assert!(closed.message().contains("answered 1002"), "{}", closed.message());
    }
}

#[test]
fn free_while_connecting_returns_promptly() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = config(&format!("ws://{}/x", silent.local_addr().unwrap()));
    let s = Session::open(&c).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(s);
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
}

#[test]
fn many_sessions_share_one_server() {
    let d = DevServer::with_script(SCRIPT, &[]);
    let sessions: Vec<Session> = (0..20).map(|_| Session::open(&config(&d.url)).unwrap()).collect();
    for s in &sessions {
        s.push(&audio(1960)).unwrap();
    }
    for s in &sessions {
        s.finish(SEC).unwrap();
        assert_eq!(s.transcript(), "hello there general kenobi tail");
    }
    let reports: Vec<Value> = d.reports(20);
    assert!(reports.iter().all(|r| r["audio_bytes"] == 1960 * 32));
}
