//! One open WebSocket: reading server messages within a step's budget, writing without ever
//! blocking or buffering more than a chunk, and the close handshake, with the server's close
//! reported as it was on the wire. Generic over the byte stream so it is tested in memory.

use std::io::{ErrorKind, Read, Write};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use crate::conn::{NotAFrame, Watched};
use crate::error::*;

/// Server messages read in one step before the step yields, so a flood cannot keep the
/// thread from deadlines, finish, free, or the other sessions of its thread.
const READ_MESSAGES_PER_STEP: usize = 64;
const READ_BYTES_PER_STEP: usize = 1 << 20;

/// What one step may still read.
pub(crate) struct ReadBudget {
    messages: usize,
    bytes: usize,
}

impl Default for ReadBudget {
    fn default() -> Self {
        ReadBudget {
            messages: READ_MESSAGES_PER_STEP,
            bytes: READ_BYTES_PER_STEP,
        }
    }
}

/// What a read found.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    Text(Utf8Bytes),
    /// A binary message of this many bytes (not part of the protocol).
    Binary(usize),
    /// An answer to our ping.
    Pong,
    /// The server's close frame (`end_error` describes it); the connection is over once the
    /// close handshake is.
    Close,
    /// Nothing more for now: the socket is drained.
    Drained,
    /// The step's budget is spent; more may be waiting (`read_more`).
    Yield,
    /// The connection is over (after a close handshake, or the server went).
    Closed,
}

pub(crate) struct Link<S: Read + Write> {
    pub ws: WebSocket<Watched<S>>,
    /// Bytes wait in the WebSocket's buffer for the socket: nothing new is written until
    /// they are out, so a server that stops reading backs up into the audio queue.
    pub out_pending: bool,
    /// The last read stopped on its budget before the socket was drained.
    pub read_more: bool,
    /// The server's close (code, reason), once it came.
    close: Option<(u16, String)>,
}

impl<S: Read + Write> Link<S> {
    pub fn new(ws: WebSocket<Watched<S>>) -> Link<S> {
        Link {
            ws,
            out_pending: false,
            read_more: false,
            close: None,
        }
    }

    /// The next server message within `budget`. Pings are answered (tungstenite queues the
    /// pong) and skipped; after the server's close frame reading goes on until the
    /// connection is over.
    pub fn read(&mut self, budget: &mut ReadBudget) -> Result<Incoming, Error> {
        loop {
            if budget.messages == 0 || budget.bytes == 0 {
                self.read_more = true;
                return Ok(Incoming::Yield);
            }
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    self.read_more = false;
                    return Ok(Incoming::Drained);
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(Incoming::Closed)
                }
                Err(e) => {
                    // A malformed close frame (a one-byte payload, a reason that is not
                    // UTF-8) is still the server's close.
                    if self.close.is_none() && self.ws.get_ref().server_close().is_some() {
                        self.close = Some(self.server_close(None));
                    }
                    return Err(ws_error(e));
                }
            };
            budget.messages -= 1;
            budget.bytes = budget.bytes.saturating_sub(msg.len());
            match msg {
                Message::Text(t) => return Ok(Incoming::Text(t)),
                Message::Binary(b) => return Ok(Incoming::Binary(b.len())),
                Message::Pong(_) => return Ok(Incoming::Pong),
                Message::Close(frame) => {
                    let reported = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    self.close = Some(self.server_close(reported));
                    return Ok(Incoming::Close);
                }
                Message::Ping(_) | Message::Frame(_) => {}
            }
        }
    }

    /// The server's close code and reason. tungstenite reports its own 1002 reply for a code
    /// that may not be sent; the bytes on the wire say what the server sent.
    fn server_close(&self, reported: Option<(u16, String)>) -> (u16, String) {
        let Some(raw) = self.ws.get_ref().server_close() else {
            return reported.unwrap_or((1005, String::new()));
        };
        let Some(code) = raw.code else {
            return (1005, raw.reason);
        };
        if reported.is_some_and(|(c, _)| c == code) {
            return (code, raw.reason);
        }
        let note = "not a valid close code or frame on the wire; fwasr answered 1002";
        let reason = if raw.reason.is_empty() {
            format!("({note})")
        } else {
            format!("{} ({note})", raw.reason)
        };
        (code, reason)
    }

    /// Why the connection ended: the server's close if it sent one, else `e`, else a
    /// connection that went without a close frame.
    pub fn end_error(&self, e: Option<Error>) -> Error {
        match (&self.close, e) {
            (Some((code, reason)), _) => Error::with_code(
                FWASR_ERR_CLOSED,
                i32::from(*code),
                format!("server closed the connection with code {code}: {reason}"),
            ),
            (None, Some(e)) => e,
            (None, None) => Error::new(FWASR_ERR_IO, "connection closed without a close frame"),
        }
    }

    /// Queues a message; it goes out with the next flush or when the socket takes it.
    pub fn send(&mut self, msg: Message) -> Result<(), Error> {
        match self.ws.write(msg) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                self.out_pending = true;
                Ok(())
            }
            Err(e) => Err(ws_error(e)),
        }
    }

    /// Queues an audio chunk as a binary frame. With nothing else waiting to go out (what
    /// tungstenite buffered, including a pong it wrote only in part, is flushed first) it is
    /// framed by `Watched` (see there); behind bytes that wait, it queues behind them.
    pub fn send_binary(&mut self, payload: &[u8]) -> Result<(), Error> {
        if !self.out_pending {
            self.flush()?;
        }
        if self.out_pending {
            return self.send(Message::binary(payload.to_vec()));
        }
        match self.ws.get_mut().send_binary(payload) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.out_pending = true;
                Ok(())
            }
            Err(e) => Err(ws_error(tungstenite::Error::Io(e))),
        }
    }

    pub fn flush(&mut self) -> Result<(), Error> {
        match self.ws.flush() {
            Ok(()) => {
                self.out_pending = false;
                Ok(())
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                self.out_pending = true;
                Ok(())
            }
            Err(e) => Err(ws_error(e)),
        }
    }

    /// Starts the close handshake (errors do not matter any more).
    pub fn goodbye(&mut self, code: u16, reason: &str) {
        let _ = self.ws.close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        }));
        let _ = self.ws.flush();
    }

    /// Bytes written to the socket so far.
    pub fn written(&self) -> u64 {
        self.ws.get_ref().written()
    }
}

pub(crate) fn ws_error(e: tungstenite::Error) -> Error {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(e) if e.get_ref().is_some_and(|i| i.is::<NotAFrame>()) => {
            Error::new(FWASR_ERR_PROTOCOL, e.to_string())
        }
        tungstenite::Error::Io(e) => Error::new(FWASR_ERR_IO, format!("connection lost: {e}")),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Error::new(FWASR_ERR_IO, "connection closed without a close frame")
        }
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Error::new(FWASR_ERR_IO, "connection closed")
        }
        other => Error::new(FWASR_ERR_PROTOCOL, format!("WebSocket error: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io;

    use tungstenite::protocol::Role;

    use super::*;
    use crate::conn::ws_config;

    /// The server's side in memory: what it sent waits in `input`; what the client wrote
    /// lands in `output`, until `room` (when set) runs out, as with a server that stops
    /// reading.
    #[derive(Default)]
    struct Pipe {
        input: VecDeque<u8>,
        output: Vec<u8>,
        room: Option<usize>,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.input.len());
            for (b, x) in buf.iter_mut().zip(self.input.drain(..n)) {
                *b = x;
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.room.map_or(buf.len(), |r| r.min(buf.len()));
            if n == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            if let Some(r) = &mut self.room {
                *r -= n;
            }
            self.output.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An unmasked frame, as a server sends it.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        if payload.len() < 126 {
            f.push(payload.len() as u8);
        } else {
            f.push(126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    fn link(server_sends: &[Vec<u8>], room: Option<usize>) -> Link<Pipe> {
        let mut watched = Watched::new(Pipe::default());
        // The watch has seen the upgrade response, as after a real handshake.
        watched.read_upgrade_for_test(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
        let pipe = watched.get_mut();
        pipe.input = server_sends.concat().into();
        pipe.room = room;
        Link::new(WebSocket::from_raw_socket(
            watched,
            Role::Client,
            Some(ws_config()),
        ))
    }

    fn read_all(l: &mut Link<Pipe>) -> Vec<Incoming> {
        let mut out = Vec::new();
        loop {
            let mut budget = ReadBudget::default();
            loop {
                match l.read(&mut budget).unwrap() {
                    Incoming::Yield => break,
                    Incoming::Drained => return out,
                    other => out.push(other),
                }
            }
            out.push(Incoming::Yield);
        }
    }

    #[test]
    fn reads_yield_after_their_budget() {
        let texts: Vec<Vec<u8>> = (0..150)
            .map(|i| frame(0x1, format!("{{\"n\":{i}}}").as_bytes()))
            .collect();
        let mut l = link(&texts, None);
        let got = read_all(&mut l);
        let yields: Vec<usize> = got
            .iter()
            .enumerate()
            .filter(|(_, g)| **g == Incoming::Yield)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(yields, [64, 129], "a yield after every 64 messages");
        assert_eq!(got.len(), 152);
        assert!(!l.read_more);
    }

    #[test]
    fn pings_are_answered_but_not_reported_and_pongs_are() {
        let mut l = link(&[frame(0x9, b"a"), frame(0x9, b"b"), frame(0xA, b"fwasr")], None);
        assert_eq!(read_all(&mut l), [Incoming::Pong]);
        l.flush().unwrap();
        // The pong to the last ping went out (masked client frame, opcode 0xA).
        assert_eq!(l.ws.get_mut().get_mut().output.first(), Some(&0x8A));
    }

    #[test]
    fn pongs_to_a_server_that_never_reads_do_not_pile_up() {
        let pings: Vec<Vec<u8>> = (0..20_000).map(|_| frame(0x9, &[7; 100])).collect();
        let mut l = link(&pings, Some(0));
        read_all(&mut l);
        // tungstenite keeps one pending pong, and its write buffer is capped: nothing grew.
        assert!(l.ws.get_mut().get_mut().output.is_empty());
        assert!(l.send(Message::Ping(vec![1].into())).is_ok());
    }

    #[test]
    fn a_close_code_not_allowed_on_the_wire_is_reported_as_sent() {
        let mut payload = 5000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"custom");
        let mut l = link(&[frame(0x8, &payload)], None);
        assert_eq!(read_all(&mut l), [Incoming::Close]);
        let e = l.end_error(None);
        assert_eq!((e.status, e.code), (FWASR_ERR_CLOSED, 5000));
        assert!(
            e.message.contains("custom (not a valid close code"),
            "{}",
            e.message
        );
    }

    /// The client's frames in `wire`: (opcode, unmasked payload).
    fn client_frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            assert_eq!(wire[0] & 0x80, 0x80, "FIN");
            assert_eq!(wire[1] & 0x80, 0x80, "a client's frames are masked");
            let (len, at) = match wire[1] & 0x7f {
                126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
                127 => (u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize, 10),
                n => (n as usize, 2),
            };
            let key = &wire[at..at + 4];
            let payload = wire[at + 4..at + 4 + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4]);
            out.push((wire[0] & 0x0f, payload.collect()));
            wire = &wire[at + 4 + len..];
        }
        out
    }

    #[test]
    fn audio_frames_are_masked_binary_frames_of_every_length() {
        let mut l = link(&[], None);
        let lengths = [0, 1, 7, 125, 126, 1600, 65_535, 65_536, 100_003];
        for n in lengths {
            let payload: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
            l.send_binary(&payload).unwrap();
        }
        let got = client_frames(&l.ws.get_mut().get_mut().output);
        assert_eq!(got.len(), lengths.len());
        for ((op, payload), n) in got.into_iter().zip(lengths) {
            assert_eq!(op, 0x2);
            assert_eq!(payload, (0..n).map(|i| (i * 31 + n) as u8).collect::<Vec<u8>>());
        }
        assert_eq!(l.written() as usize, l.ws.get_mut().get_mut().output.len());
    }

    #[test]
    fn writes_back_up_instead_of_buffering() {
        let mut l = link(&[], Some(3000));
        let chunk: Vec<u8> = (0..1600u32).map(|i| i as u8).collect();
        l.send_binary(&chunk).unwrap();
        l.flush().unwrap();
        assert!(!l.out_pending);
        l.send_binary(&chunk).unwrap();
        assert!(l.out_pending, "the socket took only part of the second chunk");
        l.flush().unwrap();
        assert!(l.out_pending);
        assert_eq!(l.written(), 3000);
        l.ws.get_mut().get_mut().room = Some(10_000);
        l.flush().unwrap();
        assert!(!l.out_pending);
        assert_eq!(l.written(), 2 * 1608);
        let got = client_frames(&l.ws.get_mut().get_mut().output);
        assert_eq!(got, [(0x2, chunk.clone()), (0x2, chunk)]);
    }

    #[test]
    fn frames_go_out_in_the_order_they_were_queued() {
        let mut l = link(&[], Some(0));
        let chunk = vec![9u8; 1600];
        // Behind a blocked socket: the text, then audio queued behind it, then more text.
        l.send(Message::text("{\"checkpoint_id\":\"a\"}")).unwrap();
        l.send_binary(&chunk).unwrap();
        l.send(Message::text("{\"checkpoint_id\":\"b\"}")).unwrap();
        l.ws.get_mut().get_mut().room = Some(1000);
        // Part of an audio frame, then a text message and audio queued while it waits.
        l.flush().unwrap();
        l.send_binary(&chunk).unwrap();
        l.send(Message::text("{\"checkpoint_id\":\"c\"}")).unwrap();
        l.send_binary(&chunk).unwrap();
        l.ws.get_mut().get_mut().room = None;
        l.flush().unwrap();
        // With nothing waiting: text, then audio framed at once.
        l.send(Message::text("{\"checkpoint_id\":\"d\"}")).unwrap();
        l.send_binary(&chunk).unwrap();
        l.flush().unwrap();
        let got: Vec<String> = client_frames(&l.ws.get_mut().get_mut().output)
            .into_iter()
            .map(|(op, p)| match op {
                1 => String::from_utf8(p).unwrap()[18..19].to_string(),
                _ => format!("{op}:{}", p.len()),
            })
            .collect();
        let audio = "2:1600";
        assert_eq!(got, ["a", audio, "b", audio, "c", audio, "d", audio]);
    }

    #[test]
    fn a_pong_waits_for_the_rest_of_an_audio_frame() {
        let mut l = link(&[frame(0x9, b"hi")], Some(1000));
        let chunk = vec![5u8; 1600];
        l.send_binary(&chunk).unwrap();
        assert!(l.out_pending);
        // Reading answers the ping; the pong must not land inside the audio frame.
        assert_eq!(read_all(&mut l), []);
        l.ws.get_mut().get_mut().room = None;
        l.flush().unwrap();
        let got = client_frames(&l.ws.get_mut().get_mut().output);
        assert_eq!(got, [(0x2, chunk), (0xA, b"hi".to_vec())]);
    }
}
