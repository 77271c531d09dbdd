//! The bytes of a connection: TCP, or TLS over TCP, on a non-blocking mio socket; watched on
//! the way in for close frames (see close_watch) and counted on the way out, so a server that
//! stops reading can be told from a slow one.

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use tungstenite::WebSocket;

use super::close_watch::{CloseWatch, RawClose};

/// A session's socket, plain or TLS.
pub enum Net {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Net {
    /// The socket under any TLS, to register with a poll.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Net::Plain(s) => s,
            Net::Tls(s) => s.get_mut(),
        }
    }
}

impl Read for Net {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Net::Plain(s) => s.read(buf),
            Net::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Net {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Net::Plain(s) => s.write(buf),
            Net::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Net::Plain(s) => s.flush(),
            Net::Tls(s) => s.flush(),
        }
    }
}

/// Any byte stream with its incoming close frames watched and its outgoing bytes counted.
/// Audio frames are framed here rather than by tungstenite: masked straight from the chunk
/// into a buffer kept for the connection (tungstenite copies each message into a `Bytes`,
/// then into its own zeroed buffer). Every write passes through here, so a frame queued
/// here goes out whole before anything tungstenite writes after it.
pub struct Watched<S> {
    inner: S,
    watch: CloseWatch,
    written: u64,
    /// An audio frame not yet written, from `sent`.
    frame: Vec<u8>,
    sent: usize,
}

impl<S> Watched<S> {
    pub fn new(inner: S) -> Watched<S> {
        Watched {
            inner,
            watch: CloseWatch::default(),
            written: 0,
            frame: Vec::new(),
            sent: 0,
        }
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The last close frame the server sent, as it was on the wire.
    pub fn server_close(&self) -> Option<RawClose> {
        self.watch.last()
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Shows the watch an upgrade response, as a real handshake would have read it.
    #[cfg(test)]
    pub fn read_upgrade_for_test(&mut self, response: &[u8]) {
        self.watch.observe(response);
    }
}

/// The server sent bytes that are not a WebSocket frame (see CloseWatch::invalid).
#[derive(Debug)]
pub struct NotAFrame(pub &'static str);

impl std::fmt::Display for NotAFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server sent bytes that are not a WebSocket frame: {}",
            self.0
        )
    }
}

impl std::error::Error for NotAFrame {}

impl<S: Read> Read for Watched<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The bytes before the bad header were handed over whole; a reader that comes back
        // for more is waiting on a frame that will never be one.
        if let Some(why) = self.watch.invalid() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, NotAFrame(why)));
        }
        let n = self.inner.read(buf)?;
        self.watch.observe(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Watched<S> {
    /// Queues a masked binary frame of `payload` after whatever tungstenite has written (its
    /// buffer must be empty) and writes what the socket takes; the rest goes out with the
    /// next write or flush.
    pub fn send_binary(&mut self, payload: &[u8]) -> io::Result<()> {
        debug_assert!(self.frame_sent(), "one queued frame at a time");
        let f = &mut self.frame;
        f.clear();
        f.push(0x82); // FIN, binary
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key: [u8; 4] = rand::random();
        f.extend_from_slice(&key);
        let start = f.len();
        f.extend_from_slice(payload);
        mask(&mut f[start..], key);
        self.sent = 0;
        self.write_frame()
    }

    /// Whether the queued audio frame is all written.
    pub fn frame_sent(&self) -> bool {
        self.sent == self.frame.len()
    }

    fn write_frame(&mut self) -> io::Result<()> {
        while !self.frame_sent() {
            let n = self.inner.write(&self.frame[self.sent..])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.sent += n;
            self.written += n as u64;
        }
        Ok(())
    }
}

/// XORs `data` with the 4-byte masking key, eight bytes at a time (RFC 6455, 5.3).
fn mask(data: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut eights = data.chunks_exact_mut(8);
    for e in &mut eights {
        let v = u64::from_ne_bytes(e.try_into().expect("eight bytes")) ^ wide;
        e.copy_from_slice(&v.to_ne_bytes());
    }
    // A multiple of 8 bytes in: the tail starts at a key offset of 0.
    for (b, k) in eights.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *b ^= k;
    }
}

impl<S: Write> Write for Watched<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_frame()?;
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_frame()?;
        self.inner.flush()
    }
}

/// A session's connection.
pub type Wire = Watched<Net>;
pub type Ws = WebSocket<Wire>;
