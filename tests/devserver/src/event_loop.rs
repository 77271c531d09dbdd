//! `--event-loop`: every connection on one thread with one poll, the benchmarks' peer. A
//! thread per connection (the default: simple, and able to play every fault mode) puts a
//! thousand threads beside the client being measured: each audio message it sends wakes one,
//! they compete with it for the cores, and a reply stamped by one of them may wait for a core
//! before it is sent. Here one thread reads whatever is ready and sends the replies at once,
//! so a stamp is taken right before its send. Plain ws:// only, no fault modes.

use std::cell::RefCell;
use std::io::{ErrorKind, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use crate::script::{Reply, Speaker, Times};
use crate::{check_request, hear, log, now_unix_ms, stamp, write_report, Heard, Options, Report};

const LISTENER: Token = Token(usize::MAX);

/// The upgrade check, recording the request in the connection's report.
struct Check {
    o: Arc<Options>,
    rep: Rc<RefCell<Report>>,
}

impl Callback for Check {
    fn on_request(self, req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
        check_request(&self.o, req, resp, &mut self.rep.borrow_mut())
    }
}

enum Phase {
    Upgrading(MidHandshake<ServerHandshake<TcpStream, Check>>),
    Open(Box<WebSocket<TcpStream>>, Speaker),
    /// `--sink`: bytes read and dropped.
    Sink(TcpStream),
}

struct Conn {
    /// None only while a step has it out.
    phase: Option<Phase>,
    rep: Rc<RefCell<Report>>,
    started: Instant,
    unix_ms: f64,
}

/// Serves every connection on this thread, for as long as the process runs.
pub fn run(o: Arc<Options>, listener: std::net::TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    // Readiness is reported once: accept until the queue is empty.
                    let mut tcp = match listener.accept() {
                        Ok((tcp, _)) => tcp,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // A connection reset while it waited: the next one.
                        Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
                        Err(e) => {
                            log(&o, &format!("cannot accept: {e}"));
                            break;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let slot = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if poll.registry().register(&mut tcp, Token(slot), interest).is_err() {
                        free.push(slot);
                        continue;
                    }
                    let rep = Rc::new(RefCell::new(Report::numbered()));
                    let phase = if o.sink {
                        Phase::Sink(tcp)
                    } else {
                        let check = Check {
                            o: o.clone(),
                            rep: rep.clone(),
                        };
                        match tungstenite::accept_hdr(tcp, check) {
                            Ok(ws) => opened(&o, ws, &rep),
                            Err(HandshakeError::Interrupted(mid)) => Phase::Upgrading(mid),
                            Err(HandshakeError::Failure(e)) => {
                                end(&o, &rep, format!("handshake failed: {e}"), now_unix_ms());
                                free.push(slot);
                                continue;
                            }
                        }
                    };
                    conns[slot] = Some(Conn {
                        phase: Some(phase),
                        rep,
                        started: Instant::now(),
                        unix_ms: now_unix_ms(),
                    });
                }
                continue;
            }
            let slot = ev.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if let Some(why) = step(&o, conn) {
                let conn = conns[slot].take().expect("the connection stepped");
                end(&o, &conn.rep, why, conn.unix_ms);
                free.push(slot);
            }
        }
    }
}

fn opened(o: &Options, ws: WebSocket<TcpStream>, rep: &Rc<RefCell<Report>>) -> Phase {
    let r = rep.borrow();
    log(o, &format!("connection {}", r.path));
    let granularities = r
        .query
        .iter()
        .find(|(k, _)| k == "timestamp_granularities")
        .map(|(_, v)| v.as_str());
    let speaker = Speaker::new(
        o.source.clone(),
        r.resume_ms.unwrap_or(0) as f64 / 1000.0,
        Times::parse(granularities),
    );
    Phase::Open(Box::new(ws), speaker)
}

fn end(o: &Options, rep: &Rc<RefCell<Report>>, why: String, unix_ms: f64) {
    let mut r = rep.borrow_mut();
    if r.end.is_empty() {
        r.end = why;
    }
    log(
        o,
        &format!("connection ended: {} ({} bytes of audio)", r.end, r.audio_len),
    );
    write_report(o, &r, unix_ms);
}

/// Does all a connection can do now (mio reports readiness once: read until it would block).
/// Some(reason) once it is over.
fn step(o: &Options, conn: &mut Conn) -> Option<String> {
    let phase = match conn.phase.take()? {
        Phase::Upgrading(mid) => match mid.handshake() {
            Ok(ws) => opened(o, ws, &conn.rep),
            Err(HandshakeError::Interrupted(mid)) => {
                conn.phase = Some(Phase::Upgrading(mid));
                return None;
            }
            Err(HandshakeError::Failure(e)) => return Some(format!("handshake failed: {e}")),
        },
        other => other,
    };
    match phase {
        Phase::Upgrading(_) => unreachable!("handled above"),
        Phase::Sink(mut tcp) => {
            let mut buf = [0u8; 16384];
            loop {
                match tcp.read(&mut buf) {
                    Ok(0) => return Some("closed".into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Some(format!("error: {e}")),
                }
            }
            conn.phase = Some(Phase::Sink(tcp));
            None
        }
        Phase::Open(mut ws, mut speaker) => {
            let over = converse(o, &mut ws, &mut speaker, conn);
            if over.is_none() {
                conn.phase = Some(Phase::Open(ws, speaker));
            }
            over
        }
    }
}

fn converse(
    o: &Options,
    ws: &mut WebSocket<TcpStream>,
    speaker: &mut Speaker,
    conn: &Conn,
) -> Option<String> {
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
            Err(tungstenite::Error::ConnectionClosed) => return Some("closed".into()),
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => return Some("client closed the TCP connection without a close frame".into()),
            Err(e) => return Some(format!("error: {e}")),
        };
        let replies = match hear(o, &mut conn.rep.borrow_mut(), speaker, msg, conn.started) {
            Heard::Replies(r) => r,
            Heard::Nothing => continue,
            Heard::Closed(why) => {
                let _ = ws.flush();
                return Some(why);
            }
        };
        for r in replies {
            conn.rep.borrow_mut().sent += 1;
            let written = match r {
                Reply::Text(t) if o.timestamps => ws.write(Message::text(stamp(&t))),
                Reply::Text(t) => ws.write(Message::text(t)),
                Reply::Close(code, reason) => ws.close(Some(CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                })),
            };
            match written {
                Ok(()) => {}
                // Queued; it goes out when the socket is writable again.
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Some(format!("error while sending: {e}")),
            }
        }
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Some(format!("error while sending: {e}")),
        }
    }
    match ws.flush() {
        Ok(()) => None,
        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => None,
        Err(tungstenite::Error::ConnectionClosed) => Some("closed".into()),
        Err(e) => Some(format!("error while sending: {e}")),
    }
}
