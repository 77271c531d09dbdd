//! Making the connection: resolve, non-blocking TCP connect, TLS, WebSocket upgrade. Every wait
//! goes through one poll on the socket and the session's waker, so freeing a connecting session
//! returns at once, and the connect timeout covers all stages.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{header, HeaderValue};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use crate::close_watch::{CloseWatch, RawClose};
use crate::config::{Config, Endpoint};
use crate::error::*;
use crate::sys::{self, Waker};

/// The session's byte stream: plain TCP or TLS over TCP, always non-blocking once connected.
/// It watches what the server sends for close frames (see close_watch) and counts what is
/// written, so a server that stops reading can be told from a slow one.
pub struct Stream {
    io: Io,
    watch: CloseWatch,
    written: u64,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Stream {
    fn new(io: Io) -> Stream {
        Stream {
            io,
            watch: CloseWatch::default(),
            written: 0,
        }
    }

    pub fn fd(&self) -> RawFd {
        match &self.io {
            Io::Plain(s) => s.as_raw_fd(),
            Io::Tls(s) => s.get_ref().as_raw_fd(),
        }
    }

    /// The last close frame the server sent, as it was on the wire.
    pub fn server_close(&self) -> Option<RawClose> {
        self.watch.last()
    }

    /// Bytes written to the socket so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.io {
            Io::Plain(s) => s.read(buf),
            Io::Tls(s) => s.read(buf),
        }?;
        self.watch.observe(&buf[..n]);
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.io {
            Io::Plain(s) => s.write(buf),
            Io::Tls(s) => s.write(buf),
        }?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.io {
            Io::Plain(s) => s.flush(),
            Io::Tls(s) => s.flush(),
        }
    }
}

pub type Ws = WebSocket<Stream>;

/// What the WebSocket may hold unsent. fwasr itself writes only while nothing is pending (a
/// chunk is at most 12.8 KB), so only automatic replies could grow it: with the bound, pongs
/// to a server that sends pings but never reads replace each other instead of piling up.
const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// What a connect needs, prepared on the caller's thread at open so that bad input fails there.
pub struct Connector {
    endpoint: Endpoint,
    request: tungstenite::handshake::client::Request,
    tls: Option<native_tls::TlsConnector>,
    timeout: std::time::Duration,
    pub display_url: String,
}

impl Connector {
    pub fn new(cfg: &Config) -> Result<Connector, Error> {
        let endpoint = cfg.endpoint();
        let mut request = cfg
            .request_url()
            .into_client_request()
            .map_err(|e| Error::invalid(format!("url '{}' is not usable: {e}", cfg.display_url())))?;
        let headers = request.headers_mut();
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("fwasr/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in cfg.headers() {
            let name = header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::invalid(format!("header name '{name}' is not valid")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::invalid(format!("value of header '{name}' is not valid")))?;
            headers.insert(name, value);
        }
        if let Some(key) = cfg.effective_api_key() {
            let mut value = HeaderValue::from_str(&key)
                .map_err(|_| Error::invalid("the API key contains characters not allowed in a header"))?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let tls = if endpoint.tls {
            Some(tls_connector(cfg)?)
        } else {
            None
        };
        Ok(Connector {
            endpoint,
            request,
            tls,
            timeout: cfg.connect_timeout,
            display_url: cfg.display_url(),
        })
    }

    /// Connects, or fails with the stage's own status. Returns early (FWASR_ERR_STATE) when
    /// `stop` is set and the waker fires. Every stage, name resolution included, ends by the
    /// connect timeout or by `give_up()` (the finish deadline), whichever is first.
    /// `resume_ms`: on a reconnect, where in the stream the new connection's audio starts; sent
    /// as the `X-Fwasr-Resume-Ms` header (servers that do not know it ignore it).
    // The handshake step results are tungstenite's own types, moved along a loop.
    #[allow(clippy::result_large_err)]
    pub fn connect(
        &self,
        waker: &Arc<Waker>,
        stop: &AtomicBool,
        give_up: &dyn Fn() -> Option<Instant>,
        resume_ms: Option<u64>,
    ) -> Result<Ws, Error> {
        let timeout_at = Instant::now() + self.timeout;
        let deadline = || give_up().map_or(timeout_at, |g| g.min(timeout_at));
        let deadline = &deadline;
        let ep = &self.endpoint;
        let timed_out = |stage: &str| {
            Error::new(
                FWASR_ERR_CONNECT_TIMEOUT,
                format!(
                    "{stage} {}:{} not done within {} ms",
                    ep.host,
                    ep.port,
                    self.timeout.as_millis()
                ),
            )
        };
        let addrs = match resolve(&ep.host, ep.port, waker, stop, deadline)? {
            Some(a) => a,
            None => return Err(timed_out("name resolution of")),
        };
        if addrs.is_empty() {
            return Err(Error::new(
                FWASR_ERR_RESOLVE,
                format!("'{}' has no address", ep.host),
            ));
        }
        let mut last = None;
        let mut tcp = None;
        for addr in &addrs {
            let attempt = sys::connect_nonblocking(addr).and_then(|s| {
                if !wait_ready(waker, stop, s.as_raw_fd(), false, deadline)? {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "timeout"));
                }
                match s.take_error()? {
                    Some(e) => Err(e),
                    None => Ok(s),
                }
            });
            match attempt {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(timed_out("TCP connect to")),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(cancelled()),
                Err(e) if sys::exhausted(&e) => {
                    return Err(Error::os(FWASR_ERR_RESOURCE, "cannot open a socket", &e))
                }
                Err(e) => last = Some((addr, e)),
            }
        }
        let Some(tcp) = tcp else {
            let (addr, e) = last.expect("at least one address was tried");
            return Err(Error::new(
                FWASR_ERR_CONNECT,
                format!("cannot connect to {addr}: {e}"),
            ));
        };
        let _ = tcp.set_nodelay(true);
        let stream = match &self.tls {
            None => Stream::new(Io::Plain(tcp)),
            Some(tls) => {
                let mut step = tls.connect(&ep.host, tcp);
                loop {
                    match step {
                        Ok(s) => break Stream::new(Io::Tls(Box::new(s))),
                        Err(native_tls::HandshakeError::WouldBlock(mid)) => {
                            if !wait_or_cancel(waker, stop, mid.get_ref().as_raw_fd(), deadline)? {
                                return Err(timed_out("TLS handshake with"));
                            }
                            step = mid.handshake();
                        }
                        Err(native_tls::HandshakeError::Failure(e)) => {
                            return Err(Error::new(
                                FWASR_ERR_TLS,
                                format!("TLS handshake with {} failed: {e}", ep.host),
                            ))
                        }
                    }
                }
            }
        };
        let fd = stream.fd();
        // tungstenite's 128 KiB buffers would be most of a session's memory, and it zeroes the
        // whole read buffer before every read. Server messages are small (a larger one grows
        // the buffer for itself); writes go out once 16 KiB are buffered (a chunk is at most
        // 12.8 KB).
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(16 * 1024)
            .max_write_buffer_size(MAX_WRITE_BUFFER);
        let mut request = self.request.clone();
        if let Some(ms) = resume_ms {
            request
                .headers_mut()
                .insert("x-fwasr-resume-ms", HeaderValue::from(ms));
        }
        let mut step = ClientHandshake::start(stream, request, Some(ws_config))
            .map_err(|e| handshake_error(e, &self.display_url))
            .map(|mid| mid.handshake())?;
        loop {
            match step {
                Ok((ws, _response)) => return Ok(ws),
                Err(HandshakeError::Interrupted(mid)) => {
                    if !wait_or_cancel(waker, stop, fd, deadline)? {
                        return Err(timed_out("WebSocket upgrade with"));
                    }
                    step = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => return Err(handshake_error(e, &self.display_url)),
            }
        }
    }
}

/// Resolves `host` on a thread of its own: the system resolver blocks and has no timeout of
/// ours, so the session waits for its answer on the waker, by the deadline, and a free does
/// not wait for it. A lookup still running then ends by itself and its answer is dropped.
/// Ok(None) when the deadline passed first.
fn resolve(
    host: &str,
    port: u16,
    waker: &Arc<Waker>,
    stop: &AtomicBool,
    deadline: &dyn Fn() -> Instant,
) -> Result<Option<Vec<SocketAddr>>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Some(vec![SocketAddr::new(ip, port)]));
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (name, wake) = (host.to_string(), waker.clone());
    std::thread::Builder::new()
        .name("fwasr-resolve".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(found);
            wake.wake();
        })
        .map_err(|e| Error::os(FWASR_ERR_RESOURCE, "cannot start a name lookup", &e))?;
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(cancelled());
        }
        if let Ok(found) = rx.try_recv() {
            return found
                .map(Some)
                .map_err(|e| Error::new(FWASR_ERR_RESOLVE, format!("cannot resolve '{host}': {e}")));
        }
        let now = Instant::now();
        let until = deadline();
        if now >= until {
            return Ok(None);
        }
        let ready = sys::wait(waker, None, Some(until - now))
            .map_err(|e| Error::os(FWASR_ERR_IO, "poll failed", &e))?;
        if ready.woken {
            waker.drain();
        }
    }
}

fn cancelled() -> Error {
    Error::new(FWASR_ERR_STATE, "session freed while connecting")
}

/// Waits for the socket to be readable; false on deadline, error when cancelled.
fn wait_or_cancel(
    waker: &Waker,
    stop: &AtomicBool,
    fd: RawFd,
    deadline: &dyn Fn() -> Instant,
) -> Result<bool, Error> {
    wait_ready(waker, stop, fd, true, deadline).map_err(|e| match e.kind() {
        io::ErrorKind::Interrupted => cancelled(),
        _ => Error::new(FWASR_ERR_IO, format!("poll failed: {e}")),
    })
}

/// Waits for the socket (readable or writable); Ok(false) on deadline, Interrupted when stopped.
fn wait_ready(
    waker: &Waker,
    stop: &AtomicBool,
    fd: RawFd,
    read: bool,
    deadline: &dyn Fn() -> Instant,
) -> io::Result<bool> {
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let now = Instant::now();
        let until = deadline();
        if now >= until {
            return Ok(false);
        }
        let ready = sys::wait(waker, Some((fd, read, !read)), Some(until - now))?;
        if ready.woken {
            waker.drain();
        }
        if ready.readable || ready.writable {
            return Ok(true);
        }
    }
}

fn handshake_error(e: tungstenite::Error, url: &str) -> Error {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status();
            let body = resp
                .body()
                .as_deref()
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .trim()
                        .chars()
                        .take(2000)
                        .collect::<String>()
                })
                .unwrap_or_default();
            let code = if matches!(status.as_u16(), 401 | 403) {
                FWASR_ERR_AUTH
            } else {
                FWASR_ERR_HANDSHAKE
            };
            Error::with_code(
                code,
                i32::from(status.as_u16()),
                format!("server refused the WebSocket upgrade with HTTP {status}: {body}"),
            )
        }
        tungstenite::Error::Io(e) => Error::new(
            FWASR_ERR_IO,
            format!("connection lost during the WebSocket upgrade: {e}"),
        ),
        tungstenite::Error::Url(e) => Error::invalid(format!("url '{url}' is not usable: {e}")),
        other => Error::new(
            FWASR_ERR_PROTOCOL,
            format!("invalid WebSocket upgrade response: {other}"),
        ),
    }
}

/// TLS connectors by (CA file contents, verify). Each holds an OpenSSL context with the whole
/// trust store loaded, about a megabyte; sessions with the same TLS settings share one, so a
/// thousand wss:// sessions do not load a thousand copies of the system's CA certificates.
/// Few distinct settings exist in a process; the oldest is dropped beyond `TLS_CACHE_MAX`.
static TLS_CACHE: parking_lot::Mutex<Vec<TlsEntry>> = parking_lot::Mutex::new(Vec::new());
type TlsEntry = ((Option<Vec<u8>>, bool), native_tls::TlsConnector);
const TLS_CACHE_MAX: usize = 8;

fn tls_connector(cfg: &Config) -> Result<native_tls::TlsConnector, Error> {
    let key = (cfg.tls_ca_pem.clone(), cfg.tls_verify);
    if let Some((_, c)) = TLS_CACHE.lock().iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let mut b = native_tls::TlsConnector::builder();
    if let Some(pem) = &cfg.tls_ca_pem {
        for cert in pem_certificates(pem) {
            let c = native_tls::Certificate::from_pem(cert)
                .map_err(|e| Error::new(FWASR_ERR_TLS, format!("bad certificate in CA file: {e}")))?;
            b.add_root_certificate(c);
        }
    }
    if !cfg.tls_verify {
        b.danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
    }
    let c = b
        .build()
        .map_err(|e| Error::new(FWASR_ERR_TLS, format!("cannot set up TLS: {e}")))?;
    let mut cache = TLS_CACHE.lock();
    if cache.len() == TLS_CACHE_MAX {
        cache.remove(0);
    }
    cache.push((key, c.clone()));
    Ok(c)
}

/// Splits a PEM bundle into its certificates.
fn pem_certificates(pem: &[u8]) -> Vec<&[u8]> {
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(i) = rest.windows(END.len()).position(|w| w == END) {
        out.push(&rest[..i + END.len()]);
        rest = &rest[i + END.len()..];
    }
    out
}
