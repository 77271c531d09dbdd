//! fwasr-devserver: a local WebSocket server speaking the Fireworks streaming transcription
//! protocol, for fwasr's tests and demos and for users' own CI. Listens on 127.0.0.1 only.

mod event_loop;
mod faults;
mod script;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use faults::{Faults, Fired};
use script::{Reply, Source, Speaker, Times};

const PATH: &str = "/v1/audio/transcriptions/streaming";

const USAGE: &str = "usage: fwasr-devserver [options] [-- COMMAND [ARGS...]]

  --port N          port on 127.0.0.1 (0, the default, picks a free one)
  --api-key KEY     accept only this Authorization header (or query parameter); others get 401
  --script FILE     transcript to reveal as audio arrives: a JSON list of
                    {\"start\": s, \"end\": s, \"text\": \"...\"} segments
  --replay FILE     raw messages to send instead: a JSON list of
                    {\"at\": seconds | \"final\", \"json\": {...} | \"text\": \"...\"}
  --report FILE     append one JSON line per connection (what arrived, how it ended)
  --url-file FILE   also write the URL to FILE once listening (written whole, by rename), for
                    a parent that cannot read this program's output: a Windows program under
                    Wine cannot read the output of a Linux program it starts
  --save-audio DIR  write each connection's audio to DIR/connection-N.raw
  --tls-cert FILE   serve wss:// with this PEM certificate ...
  --tls-key FILE    ... and this PEM (PKCS#8) private key
  --timestamps      for latency benchmarks: stamp each message sent with
                    \"devserver_sent_ns\" (CLOCK_MONOTONIC) and report each audio
                    message's arrival time on the same clock (\"arrivals_ns\")
  --sink            no WebSocket: read and discard whatever each TCP connection sends
                    (the floor benchmark's peer)
  --event-loop      serve every connection on one thread (an event loop) instead of a
                    thread each: the benchmarks' peer; plain ws:// without fault modes
  --quiet           print only the listening line

Prints `listening <url>` once ready. With a COMMAND, runs it with FWASR_URL set to the
server's URL (and FIREWORKS_API_KEY to --api-key, if given), then exits with its status.
Without a script or replay, the transcript says how much audio arrived; it never invents speech.";

struct Options {
    port: u16,
    api_key: Option<String>,
    source: Source,
    report: Option<String>,
    url_file: Option<String>,
    save_audio: Option<String>,
    tls: Option<native_tls::TlsAcceptor>,
    timestamps: bool,
    sink: bool,
    event_loop: bool,
    quiet: bool,
    faults: Faults,
    command: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        port: 0,
        api_key: None,
        source: Source::Count,
        report: None,
        url_file: None,
        save_audio: None,
        tls: None,
        timestamps: false,
        sink: false,
        event_loop: false,
        quiet: false,
        faults: Faults::default(),
        command: Vec::new(),
    };
    let (mut cert, mut key) = (None, None);
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}"));
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--port" => o.port = value()?.parse().map_err(|_| "--port needs a number 0-65535")?,
            "--api-key" => o.api_key = Some(value()?),
            "--script" => o.source = Source::script(&read(&value()?)?)?,
            "--replay" => o.source = Source::replay(&read(&value()?)?)?,
            "--report" => o.report = Some(value()?),
            "--url-file" => o.url_file = Some(value()?),
            "--save-audio" => o.save_audio = Some(value()?),
            "--tls-cert" => cert = Some(std::fs::read(value()?).map_err(|e| e.to_string())?),
            "--tls-key" => key = Some(std::fs::read(value()?).map_err(|e| e.to_string())?),
            "--timestamps" => o.timestamps = true,
            "--sink" => o.sink = true,
            "--event-loop" => o.event_loop = true,
            "--quiet" => o.quiet = true,
            "-h" | "--help" => return Err(String::new()),
            "--" => {
                o.command = args.by_ref().collect();
                break;
            }
            other => {
                if !o.faults.parse(other, &mut value)? {
                    return Err(format!("unknown option {other}"));
                }
            }
        }
    }
    match (cert, key) {
        (Some(c), Some(k)) => {
            let id = native_tls::Identity::from_pkcs8(&c, &k)
                .map_err(|e| format!("bad TLS certificate or key: {e}"))?;
            o.tls = Some(native_tls::TlsAcceptor::new(id).map_err(|e| format!("cannot set up TLS: {e}"))?);
        }
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    if o.event_loop && (o.tls.is_some() || o.faults != Faults::default()) {
        return Err("--event-loop serves plain ws:// without fault modes".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fwasr-devserver: {e}");
            }
            eprintln!("{USAGE}\n\n{}", faults::USAGE);
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fwasr-devserver: cannot listen on 127.0.0.1:{}: {e}", opts.port);
            return ExitCode::from(1);
        }
    };
    deepen_backlog(&listener);
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(opts.port);
    let scheme = if opts.tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://127.0.0.1:{port}{PATH}");
    println!("listening {url}");
    let _ = io::stdout().flush();
    if let Some(path) = &opts.url_file {
        let tmp = format!("{path}.tmp");
        if let Err(e) = std::fs::write(&tmp, format!("{url}\n")).and_then(|()| std::fs::rename(&tmp, path)) {
            eprintln!("fwasr-devserver: cannot write {path}: {e}");
            return ExitCode::from(1);
        }
    }
    let server_opts = opts.clone();
    if opts.event_loop {
        std::thread::spawn(move || {
            if let Err(e) = event_loop::run(server_opts, listener) {
                eprintln!("fwasr-devserver: the event loop failed: {e}");
                std::process::exit(1);
            }
        });
    } else {
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let o = server_opts.clone();
                let _ = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
                    if o.sink {
                        sink(conn)
                    } else {
                        serve(&o, conn)
                    }
                });
            }
        });
    }
    if opts.command.is_empty() {
        loop {
            std::thread::park();
        }
    }
    let mut cmd = std::process::Command::new(&opts.command[0]);
    cmd.args(&opts.command[1..]).env("FWASR_URL", &url);
    if let Some(k) = &opts.api_key {
        cmd.env("FIREWORKS_API_KEY", k);
    }
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c as u8)),
        Err(e) => {
            eprintln!("fwasr-devserver: cannot run {}: {e}", opts.command[0]);
            ExitCode::from(127)
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// What one connection did, written as one report line.
#[derive(Default)]
struct Report {
    path: String,
    query: Vec<(String, String)>,
    headers: Map<String, Value>,
    auth: &'static str,
    /// The audio itself is kept only for --save-audio; a thousand benchmark streams would
    /// otherwise hold all of theirs.
    audio: Vec<u8>,
    audio_len: usize,
    audio_hash: Sha256,
    chunks: Vec<(usize, f64)>,
    arrivals_ns: Vec<u64>,
    control: Vec<Value>,
    /// Where in this connection's audio (bytes) each control message arrived.
    control_at: Vec<usize>,
    sent: usize,
    pings: usize,
    /// The client's X-Fwasr-Resume-Ms: where in its stream this connection's audio starts.
    resume_ms: Option<u64>,
    /// This connection's number on the server, from 0.
    index: usize,
    end: String,
}

impl Report {
    /// The report of the server's next connection.
    fn numbered() -> Report {
        static CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        Report {
            auth: "none",
            index: CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ..Report::default()
        }
    }
}

fn now_unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

// The error type is tungstenite's handshake callback contract.
#[allow(clippy::result_large_err)]
fn serve(o: &Options, tcp: TcpStream) {
    let started = Instant::now();
    let unix_ms = now_unix_ms();
    let _ = tcp.set_nodelay(true);
    let stream = match &o.tls {
        None => Stream::Plain(tcp),
        Some(acceptor) => match acceptor.accept(tcp) {
            Ok(s) => Stream::Tls(Box::new(s)),
            Err(e) => {
                log(o, &format!("TLS handshake failed: {e}"));
                return;
            }
        },
    };
    let mut rep = Report::numbered();
    let accepted = tungstenite::accept_hdr(stream, |req: &Request, resp: Response| {
        check_request(o, req, resp, &mut rep)
    })
    .map_err(|e| e.to_string());
    match accepted {
        Ok(mut ws) => {
            log(o, &format!("connection {}", rep.path));
            rep.end = converse(o, &mut ws, &mut rep, started);
        }
        Err(e) => {
            if rep.end.is_empty() {
                rep.end = format!("handshake failed: {e}");
            }
        }
    }
    log(
        o,
        &format!("connection ended: {} ({} bytes of audio)", rep.end, rep.audio_len),
    );
    write_report(o, &rep, unix_ms);
}

/// Records the upgrade request and refuses it when the path or the key is wrong.
#[allow(clippy::result_large_err)]
fn check_request(
    o: &Options,
    req: &Request,
    resp: Response,
    rep: &mut Report,
) -> Result<Response, ErrorResponse> {
    rep.path = req.uri().path().to_string();
    rep.resume_ms = req
        .headers()
        .get("x-fwasr-resume-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    rep.query = req.uri().query().map(parse_query).unwrap_or_default();
    let mut auth = None;
    for (name, value) in req.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).to_string();
        if name == "authorization" {
            auth = Some(v);
            rep.headers.insert(name.to_string(), json!("<redacted>"));
        } else {
            rep.headers.insert(name.to_string(), json!(v));
        }
    }
    let query_auth = rep
        .query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone());
    for (k, v) in rep.query.iter_mut() {
        if k.eq_ignore_ascii_case("authorization") {
            *v = "<redacted>".into();
        }
    }
    let refuse = |status: StatusCode, msg: &str| {
        let body = json!({ "error": { "message": msg, "code": status.as_u16() } }).to_string();
        let mut r = ErrorResponse::new(Some(body));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", "application/json".parse().expect("static header"));
        r
    };
    if let Some(d) = o.faults.handshake_delay {
        std::thread::sleep(d);
    }
    if let Some((status, body)) = o
        .faults
        .refuse
        .as_ref()
        .filter(|_| rep.index >= o.faults.refuse_from)
    {
        rep.end = format!("refused {status} (fault mode)");
        let mut r = ErrorResponse::new(Some(body.clone()));
        *r.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(v) = o.faults.retry_after.as_deref().and_then(|v| v.parse().ok()) {
            r.headers_mut().insert("retry-after", v);
        }
        return Err(r);
    }
    if rep.path != PATH {
        rep.end = format!("refused 404: path {}", rep.path);
        return Err(refuse(
            StatusCode::NOT_FOUND,
            &format!("no such endpoint: {}", rep.path),
        ));
    }
    if let Some(key) = &o.api_key {
        let given = auth.or(query_auth);
        if given.as_deref() != Some(key.as_str()) {
            rep.auth = "refused";
            rep.end = "refused 401: bad or missing API key".into();
            return Err(refuse(StatusCode::UNAUTHORIZED, "invalid or missing API key"));
        }
        rep.auth = "ok";
    }
    Ok(resp)
}

/// Talks to one client until it goes; returns how the connection ended.
fn converse(o: &Options, ws: &mut WebSocket<Stream>, rep: &mut Report, started: Instant) -> String {
    let f = &o.faults;
    let granularities = rep
        .query
        .iter()
        .find(|(k, _)| k == "timestamp_granularities")
        .map(|(_, v)| v.as_str());
    let mut speaker = Speaker::new(
        o.source.clone(),
        rep.resume_ms.unwrap_or(0) as f64 / 1000.0,
        Times::parse(granularities),
    );
    let mut fired = Fired::default();
    if f.not_a_frame {
        let garbage = b"\xf1\x7e\x10\x00not a WebSocket frame";
        if std::io::Write::write_all(ws.get_mut(), garbage)
            .and_then(|()| std::io::Write::flush(ws.get_mut()))
            .is_ok()
        {
            hold_until_client_goes(ws);
        }
        return "sent bytes that are not a frame (fault mode)".into();
    }
    let aborted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let (Some(d), Ok(sock)) = (f.abort_after_ms, tcp(ws).try_clone()) {
        // A watchdog, so the connection goes on time whatever this thread is doing (waiting
        // for audio, delaying a reply, stalled).
        let flag = aborted.clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            flag.store(true, std::sync::atomic::Ordering::Release);
            let _ = sock.shutdown(std::net::Shutdown::Both);
        });
    }
    let ended = |why: String| match f.abort_after_ms {
        Some(d) if aborted.load(std::sync::atomic::Ordering::Acquire) => {
            format!("aborted {} ms after the upgrade (fault mode)", d.as_millis())
        }
        _ => why,
    };
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::ConnectionClosed) => return ended("closed".into()),
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => return ended("client closed the TCP connection without a close frame".into()),
            Err(e) => return ended(format!("error: {e}")),
        };
        let mut replies = match hear(o, rep, &mut speaker, msg, started) {
            Heard::Replies(r) => r,
            Heard::Nothing => continue,
            Heard::Closed(why) => {
                let _ = ws.flush();
                return why;
            }
        };
        let t = clock(rep);
        let past = |at: Option<f64>| at.is_some_and(|at| t >= at);
        if past(f.abort_after) {
            abort(ws);
            return format!("aborted after {t:.2} s of audio (fault mode)");
        }
        if past(f.flood_after) {
            return flood(ws, rep, |n| {
                Message::text(json!({ "segments": [{ "id": 0, "text": format!("flood {n}") }] }).to_string())
            });
        }
        if past(f.ping_flood_after) {
            return flood(ws, rep, |_| Message::Ping(b"flood".to_vec().into()));
        }
        if past(f.stall_after) {
            // Stop reading: the client's writes back up into the socket buffers.
            std::thread::sleep(std::time::Duration::from_secs(60));
            return format!("stalled after {t:.2} s of audio (fault mode)");
        }
        if f.huge_message && !std::mem::replace(&mut fired.huge, true) {
            let text = "x".repeat(8 << 20);
            replies.insert(
                0,
                Reply::Text(json!({ "segments": [{ "id": "huge", "text": text }] }).to_string()),
            );
        }
        if past(f.garbage_after) && !std::mem::replace(&mut fired.garbage, true) {
            replies.push(Reply::Text("this is not JSON {".into()));
        }
        if past(f.error_after) && !std::mem::replace(&mut fired.error, true) {
            replies.push(Reply::Text(
                json!({ "error": { "message": "fault mode error", "code": 500 } }).to_string(),
            ));
        }
        if let Some((at, code, reason)) = &f.close_after {
            if t >= *at {
                replies.push(Reply::Close(*code, reason.clone()));
            }
        }
        if f.ping_every
            .is_some_and(|n| rep.chunks.len().is_multiple_of(n as usize))
        {
            if let Err(e) = ws.send(Message::Ping(b"fwasr-devserver".to_vec().into())) {
                return format!("error while sending a ping: {e}");
            }
        }
        for r in replies {
            if let Some(d) = f.reply_delay {
                std::thread::sleep(d);
            }
            rep.sent += 1;
            let sent = match r {
                Reply::Text(t) if o.timestamps => ws.send(Message::text(stamp(&t))),
                Reply::Text(t) => match f.fragment {
                    Some(n) => send_fragmented(ws, t.as_bytes(), n),
                    None => ws.send(Message::text(t)),
                },
                Reply::Close(code, reason) => {
                    let _ = ws.close(Some(CloseFrame {
                        code: code.into(),
                        reason: reason.clone().into(),
                    }));
                    drain_close(ws);
                    if f.hold_open {
                        hold_until_client_goes(ws);
                    }
                    return format!("server close {code} {reason}").trim_end().to_string();
                }
            };
            if let Err(e) = sent {
                return ended(format!("error while sending: {e}"));
            }
        }
        let final_answered = || {
            rep.control
                .iter()
                .any(|v| v.get("checkpoint_id").is_some_and(|id| id == "final"))
        };
        if f.mute_after_final && final_answered() {
            hold_until_client_goes(ws);
            return "muted after answering the final checkpoint (fault mode)".into();
        }
    }
}

/// What a client message did.
enum Heard {
    /// Audio or a control message: the replies it calls for.
    Replies(Vec<Reply>),
    /// A ping (answered by tungstenite) or a frame that calls for nothing.
    Nothing,
    /// The client's close frame: the conversation is over, for this reason.
    Closed(String),
}

/// Records a client message in the connection's report and makes the replies it calls for.
fn hear(o: &Options, rep: &mut Report, speaker: &mut Speaker, msg: Message, started: Instant) -> Heard {
    Heard::Replies(match msg {
        Message::Binary(b) => {
            if o.timestamps {
                rep.arrivals_ns.push(monotonic_ns());
            }
            if o.save_audio.is_some() {
                rep.audio.extend_from_slice(&b);
            }
            rep.audio_len += b.len();
            rep.audio_hash.update(&b);
            rep.chunks
                .push((b.len(), started.elapsed().as_secs_f64() * 1000.0));
            speaker.on_audio(clock(rep))
        }
        Message::Text(t) => {
            let v: Value =
                serde_json::from_str(t.as_str()).unwrap_or_else(|_| json!({ "unparsed": t.as_str() }));
            rep.control.push(v.clone());
            rep.control_at.push(rep.audio_len);
            control_reply(&v, speaker, clock(rep))
        }
        Message::Close(f) => {
            return Heard::Closed(match f {
                Some(f) => format!("client close {} {}", u16::from(f.code), f.reason)
                    .trim_end()
                    .to_string(),
                None => "client close".into(),
            })
        }
        Message::Ping(_) => {
            rep.pings += 1;
            return Heard::Nothing;
        }
        _ => return Heard::Nothing,
    })
}

/// Reads the raw TCP connection until the client drops it: whatever it sends (a close frame
/// included) goes unanswered.
fn hold_until_client_goes(ws: &WebSocket<Stream>) {
    let mut buf = [0u8; 1024];
    while tcp(ws).read(&mut buf).is_ok_and(|n| n > 0) {}
}

/// Sends `make(n)` for n = 0, 1, ... without reading, until the client goes.
fn flood(ws: &mut WebSocket<Stream>, rep: &mut Report, make: impl Fn(u64) -> Message) -> String {
    for n in 0.. {
        if let Err(e) = ws.send(make(n)) {
            return format!("flood of {n} messages ended: {e}");
        }
        rep.sent += 1;
    }
    unreachable!("the flood ends when the client goes")
}

/// The TCP connection under the WebSocket.
fn tcp(ws: &WebSocket<Stream>) -> &TcpStream {
    match ws.get_ref() {
        Stream::Plain(s) => s,
        Stream::Tls(s) => s.get_ref(),
    }
}

/// Sends a text message as a first frame and continuation frames of `n` bytes each.
fn send_fragmented(ws: &mut WebSocket<Stream>, text: &[u8], n: usize) -> tungstenite::Result<()> {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let parts: Vec<&[u8]> = text.chunks(n).collect();
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 { Data::Text } else { Data::Continue };
        let frame = Frame::message(part.to_vec(), OpCode::Data(op), i + 1 == parts.len());
        ws.write(Message::Frame(frame))?;
    }
    ws.flush()
}

/// Ends the TCP connection under the WebSocket without a close frame: the client reads what
/// was sent, then the end of the stream. The server side keeps reading (and discarding) until
/// the client goes, so no reset races the data it already sent.
fn abort(ws: &mut WebSocket<Stream>) {
    let tcp = tcp(ws);
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut sink = [0u8; 16384];
    let mut reader = tcp;
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
}

/// Completes a close the server started: reads until the client's close frame arrives.
fn drain_close(ws: &mut WebSocket<Stream>) {
    while ws.read().is_ok() {}
}

fn clock(rep: &Report) -> f64 {
    rep.audio_len as f64 / 32_000.0
}

/// Answers a control message: checkpoints (the final one after the last updates), traces,
/// clears. Anything else gets an error object, as a real server might send.
fn control_reply(v: &Value, speaker: &mut Speaker, clock: f64) -> Vec<Reply> {
    if let Some(id) = v.get("checkpoint_id") {
        let mut out = if id == "final" {
            speaker.on_final(clock)
        } else {
            Vec::new()
        };
        out.push(Reply::Text(json!({ "checkpoint_id": id }).to_string()));
        return out;
    }
    let answer = match v.get("object").and_then(Value::as_str) {
        Some("stt.input.trace") => json!({ "object": "stt.output.trace", "trace_id": v.get("trace_id") }),
        Some("stt.state.clear") => json!({ "object": "stt.state.cleared", "reset_id": v.get("reset_id") }),
        _ => json!({ "error": { "message": "unknown control message", "code": 400 } }),
    };
    vec![Reply::Text(answer.to_string())]
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

static REPORT_LOCK: Mutex<()> = Mutex::new(());

fn write_report(o: &Options, rep: &Report, unix_ms: f64) {
    if let Some(dir) = &o.save_audio {
        let path = format!("{dir}/connection-{}.raw", rep.index);
        if let Err(e) = std::fs::write(&path, &rep.audio) {
            eprintln!("fwasr-devserver: cannot write {path}: {e}");
        }
    }
    let Some(path) = &o.report else { return };
    let line = json!({
        "path": rep.path,
        "query": rep.query.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "headers": rep.headers,
        "auth": rep.auth,
        "tls": o.tls.is_some(),
        "start_unix_ms": unix_ms,
        "audio_bytes": rep.audio_len,
        "audio_sha256": hex(&rep.audio_hash.clone().finalize()),
        "chunks": rep.chunks.iter().map(|(n, t)| json!([n, (t * 1000.0).round() / 1000.0])).collect::<Vec<_>>(),
        "control": rep.control,
        "control_at_bytes": rep.control_at,
        "messages_sent": rep.sent,
        "pings_received": rep.pings,
        "resume_ms": rep.resume_ms,
        "connection": rep.index,
        "end": rep.end,
    });
    let mut line = line;
    if o.timestamps {
        line["arrivals_ns"] = json!(rep.arrivals_ns);
    }
    let _guard = REPORT_LOCK.lock();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!("fwasr-devserver: cannot write report {path}: {e}");
    }
}

/// A benchmark opens thousands of connections at once; the standard library's listen backlog
/// (128) overflows, and a connection the full queue dropped can end reset mid-upgrade.
/// Listening again on a listening socket sets its backlog (capped by net.core.somaxconn).
#[cfg(unix)]
fn deepen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a socket this process owns; it only changes the backlog.
    unsafe { libc::listen(listener.as_raw_fd(), 4096) };
}

#[cfg(not(unix))]
fn deepen_backlog(_: &TcpListener) {}

/// CLOCK_MONOTONIC in nanoseconds: the clock a benchmark client on this machine reads too.
#[cfg(unix)]
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Elsewhere (the benchmarks run on Linux) a monotonic clock of this process.
#[cfg(not(unix))]
fn monotonic_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A JSON object message with the time it is sent as its first member.
fn stamp(text: &str) -> String {
    match text.strip_prefix('{') {
        Some(rest) => {
            let sep = if rest.trim_start().starts_with('}') {
                ""
            } else {
                ","
            };
            format!("{{\"devserver_sent_ns\":{}{sep}{rest}", monotonic_ns())
        }
        None => text.to_string(),
    }
}

/// The floor benchmark's peer: takes bytes until the client goes.
fn sink(mut tcp: TcpStream) {
    let mut buf = [0u8; 16384];
    while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn log(o: &Options, msg: &str) {
    if !o.quiet {
        eprintln!("fwasr-devserver: {msg}");
    }
}
