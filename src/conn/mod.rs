//! Making a connection: resolve (off the network thread), non-blocking TCP connect, TLS,
//! WebSocket upgrade, as a state machine a network thread moves on whenever the socket is
//! ready, so it never blocks and one thread can connect many sessions at once.

mod close_watch;
mod pem;
mod race;
mod resolve;
mod retry_after;
mod tls_error;
mod wire;

use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Registry, Token};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{ClientHandshake, Request};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::http::{header, HeaderValue};
use tungstenite::protocol::WebSocketConfig;

use crate::config::Config;
use crate::error::*;
use crate::proxy::{Proxy, Tunnel};
use crate::url::Endpoint;

pub use resolve::Wake;
pub use wire::{Net, NotAFrame, Watched, Wire, Ws};

use race::{Race, Standing};
use resolve::{Lookup, Resolver};

/// What the WebSocket may hold unsent. fwasr itself writes only while nothing is pending (a
/// chunk is at most 12.8 KB), so only automatic replies could grow it: with the bound, pongs
/// to a server that sends pings but never reads replace each other instead of piling up.
const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// tungstenite's 128 KiB buffers would be most of a session's memory, and it zeroes the whole
/// read buffer before every read, so every line of it is written per read and stays resident.
/// 4 KiB holds a typical message whole (a larger one grows the buffer for itself and takes
/// more reads); 8 KiB cost 4 KiB more per session and twice the zeroing (BENCHMARKS.md).
/// Writes go out once 16 KiB are buffered (a chunk is at most 12.8 KB).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// What a connect needs, prepared on the caller's thread at open so that bad input fails there.
pub struct Connector {
    endpoint: Endpoint,
    request: Request,
    tls: Option<native_tls::TlsConnector>,
    proxy: Option<Proxy>,
    resolver: Resolver,
    pub timeout: Duration,
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
        let proxy = crate::proxy::choose(
            cfg.proxy.as_deref(),
            &endpoint.host,
            endpoint.port,
            endpoint.tls,
            |name| std::env::var(name).ok(),
        )?;
        // Through a proxy, the name looked up is the proxy's.
        let resolver = match &proxy {
            Some(p) => Resolver::new(&p.host, p.port),
            None => Resolver::new(&endpoint.host, endpoint.port),
        };
        Ok(Connector {
            proxy,
            resolver,
            endpoint,
            request,
            tls,
            timeout: cfg.connect_timeout,
            display_url: cfg.display_url(),
        })
    }

    /// Starts a connection. `resume_ms`: on a reconnect, where in the stream the new
    /// connection's audio starts, sent as the `X-Fwasr-Resume-Ms` header (servers that do not
    /// know it ignore it). `wake` is called when a name lookup has its answer.
    pub fn dial(&mut self, resume_ms: Option<u64>, wake: Wake) -> Result<Dial, Error> {
        let mut request = self.request.clone();
        if let Some(ms) = resume_ms {
            request
                .headers_mut()
                .insert("x-fwasr-resume-ms", HeaderValue::from(ms));
        }
        Ok(Dial {
            stage: Stage::Resolving(self.resolver.lookup(wake)?),
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
            tls: self.tls.clone(),
            proxy: self.proxy.clone(),
            request: Some(request),
            display_url: self.display_url.clone(),
        })
    }
}

/// A connection being made. `advance` moves it on as far as it can go without waiting; the
/// network thread calls it again when the socket is ready or the lookup has its answer.
pub struct Dial {
    stage: Stage,
    host: String,
    port: u16,
    tls: Option<native_tls::TlsConnector>,
    proxy: Option<Proxy>,
    request: Option<Request>,
    display_url: String,
}

enum Stage {
    Resolving(Lookup),
    Connecting(Race),
    /// Asking the proxy for a tunnel to the host.
    Tunneling(TcpStream, Tunnel),
    Tls(native_tls::MidHandshakeTlsStream<TcpStream>),
    // Boxed: a handshake in progress holds the whole connection state.
    Upgrading(Box<MidHandshake<ClientHandshake<Wire>>>),
    Gone,
}

impl Dial {
    /// The stage, for a timeout's message: "TCP connect to", ...
    pub fn stage(&self) -> &'static str {
        match self.stage {
            Stage::Resolving(_) => "name resolution of",
            Stage::Connecting(_) | Stage::Gone => "TCP connect to",
            Stage::Tunneling(..) => "proxy tunnel (CONNECT) to",
            Stage::Tls(_) => "TLS handshake with",
            Stage::Upgrading(_) => "WebSocket upgrade with",
        }
    }

    /// The error of a connection that ran out of time at its current stage (at the TCP
    /// connect, with every address tried and how it went).
    pub fn timed_out(&self, timeout: Duration) -> Error {
        let tried = match &self.stage {
            Stage::Connecting(race) => format!(" ({})", race.tried()),
            _ => String::new(),
        };
        Error::new(
            FWASR_ERR_CONNECT_TIMEOUT,
            format!(
                "{} {}:{} not done within {} ms{tried}",
                self.stage(),
                self.host,
                self.port,
                timeout.as_millis()
            ),
        )
    }

    /// When the connection wants to be moved on even if no socket is ready: the next
    /// address's turn in the race.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Connecting(race) => race.deadline(),
            _ => None,
        }
    }

    /// Moves on; Some(ws) once the WebSocket is open (registered under `token`).
    // The handshake results are tungstenite's own types, moved along.
    #[allow(clippy::result_large_err)]
    pub fn advance(&mut self, registry: &Registry, token: Token) -> Result<Option<Ws>, Error> {
        loop {
            self.stage = match std::mem::replace(&mut self.stage, Stage::Gone) {
                Stage::Resolving(mut lookup) => match lookup.poll() {
                    None => {
                        self.stage = Stage::Resolving(lookup);
                        return Ok(None);
                    }
                    Some(addrs) => {
                        let dest = match &self.proxy {
                            Some(p) => format!("proxy {}", p.display),
                            None => format!("{}:{}", self.host, self.port),
                        };
                        Stage::Connecting(Race::new(addrs?, dest, Instant::now()))
                    }
                },
                Stage::Connecting(mut race) => match race.advance(registry, token, Instant::now()) {
                    Standing::Won(tcp) => match &self.proxy {
                        Some(p) => Stage::Tunneling(tcp, Tunnel::new(p, &self.host, self.port)),
                        None => self.connected(tcp)?,
                    },
                    Standing::Running => {
                        self.stage = Stage::Connecting(race);
                        return Ok(None);
                    }
                    Standing::Lost(e) => return Err(e),
                },
                Stage::Tunneling(mut tcp, mut tunnel) => match tunnel.advance(&mut tcp) {
                    Ok(true) => self.connected(tcp)?,
                    Ok(false) => {
                        self.stage = Stage::Tunneling(tcp, tunnel);
                        return Ok(None);
                    }
                    Err(e) => {
                        let _ = registry.deregister(&mut tcp);
                        return Err(e);
                    }
                },
                Stage::Tls(mid) => match mid.handshake() {
                    Ok(s) => self.upgrade(Net::Tls(Box::new(s)))?,
                    Err(native_tls::HandshakeError::WouldBlock(mid)) => {
                        self.stage = Stage::Tls(mid);
                        return Ok(None);
                    }
                    Err(native_tls::HandshakeError::Failure(e)) => return Err(self.tls_failed(e)),
                },
                Stage::Upgrading(mid) => match mid.handshake() {
                    Ok((ws, _response)) => return Ok(Some(ws)),
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.stage = Stage::Upgrading(Box::new(mid));
                        return Ok(None);
                    }
                    Err(HandshakeError::Failure(e)) => return Err(handshake_error(e, &self.display_url)),
                },
                Stage::Gone => return Err(Error::new(FWASR_ERR_INTERNAL, "connection attempt used up")),
            };
        }
    }

    fn connected(&mut self, tcp: TcpStream) -> Result<Stage, Error> {
        let _ = tcp.set_nodelay(true);
        match self.tls.clone() {
            None => self.upgrade(Net::Plain(tcp)),
            Some(tls) => match tls.connect(&self.host, tcp) {
                Ok(s) => self.upgrade(Net::Tls(Box::new(s))),
                Err(native_tls::HandshakeError::WouldBlock(mid)) => Ok(Stage::Tls(mid)),
                Err(native_tls::HandshakeError::Failure(e)) => Err(self.tls_failed(e)),
            },
        }
    }

    fn tls_failed(&self, e: native_tls::Error) -> Error {
        // The server, or a middlebox, went away mid-handshake: a connection failure, which a
        // reconnect retries, not a certificate or protocol problem.
        if tls_error::lost_connection(&e) {
            return Error::new(
                FWASR_ERR_IO,
                format!("connection lost during the TLS handshake with {}: {e}", self.host),
            );
        }
        Error::new(
            FWASR_ERR_TLS,
            format!(
                "TLS handshake with {} failed: {}",
                self.host,
                tls_error::describe(&e.to_string())
            ),
        )
    }

    // The handshake results are tungstenite's own types.
    #[allow(clippy::result_large_err)]
    fn upgrade(&mut self, net: Net) -> Result<Stage, Error> {
        let request = self.request.take().expect("one upgrade per connection");
        match ClientHandshake::start(Watched::new(net), request, Some(ws_config())) {
            Ok(mid) => Ok(Stage::Upgrading(Box::new(mid))),
            Err(e) => Err(handshake_error(e, &self.display_url)),
        }
    }

    /// Stops watching the socket of an attempt given up.
    pub fn cancel(mut self, registry: &Registry) {
        let tcp = match &mut self.stage {
            Stage::Connecting(race) => {
                race.cancel(registry);
                None
            }
            Stage::Tunneling(tcp, _) => Some(tcp),
            Stage::Tls(mid) => Some(mid.get_mut()),
            Stage::Upgrading(mid) => Some(mid.get_mut().get_mut().get_mut().tcp_mut()),
            Stage::Resolving(_) | Stage::Gone => None,
        };
        if let Some(tcp) = tcp {
            let _ = registry.deregister(tcp);
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
            let header = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let retry_after = header
                .as_deref()
                .and_then(|v| retry_after::parse(v, std::time::SystemTime::now()));
            let asked = match (&header, retry_after) {
                (Some(h), Some(_)) => format!(" (Retry-After: {h})"),
                _ => String::new(),
            };
            let mut e = Error::with_code(
                code,
                i32::from(status.as_u16()),
                format!("server refused the WebSocket upgrade with HTTP {status}{asked}: {body}"),
            );
            e.retry_after = retry_after;
            e
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
        let certs =
            pem::certificates(pem).map_err(|e| Error::new(FWASR_ERR_TLS, format!("bad CA file: {e}")))?;
        for der in certs {
            let c = native_tls::Certificate::from_der(&der)
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
