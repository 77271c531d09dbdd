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
pub struct Watched<S> {
    inner: S,
    watch: CloseWatch,
    written: u64,
}

impl<S> Watched<S> {
    pub fn new(inner: S) -> Watched<S> {
        Watched {
            inner,
            watch: CloseWatch::default(),
            written: 0,
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

impl<S: Write> Write for Watched<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A session's connection.
pub type Wire = Watched<Net>;
pub type Ws = WebSocket<Wire>;
