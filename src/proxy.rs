//! HTTP CONNECT proxies: which proxy a connection takes (the app's, or the environment's as
//! libcurl reads it), and the tunnel through it. TLS and the WebSocket upgrade then run
//! through the tunnel to the real host.

use std::io::{ErrorKind, Read, Write};

use crate::error::*;
use crate::url::percent_decode;

/// A proxy to tunnel through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    /// `Proxy-Authorization` value (Basic), when the URL had credentials.
    auth: Option<String>,
    /// For messages: the proxy's host and port, never its credentials.
    pub display: String,
}

/// The most of a proxy's answer read before it counts as garbage.
const RESPONSE_MAX: usize = 16 * 1024;

/// The proxy for a connection to `host:port` (`tls`: wss). `explicit` is the app's setting:
/// None reads the environment, "" means no proxy, else a proxy URL. `env` looks a variable up.
pub fn choose(
    explicit: Option<&str>,
    host: &str,
    port: u16,
    tls: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    let url = match explicit {
        Some("") => return Ok(None),
        Some(url) => url.to_string(),
        None => {
            // As libcurl: http_proxy only in lower case (HTTP_PROXY can be set by a CGI
            // request's Proxy header).
            let names: &[&str] = if tls {
                &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
            } else {
                &["http_proxy", "all_proxy", "ALL_PROXY"]
            };
            let Some(url) = names.iter().find_map(|n| env(n).filter(|v| !v.is_empty())) else {
                return Ok(None);
            };
            let no_proxy = env("no_proxy").or_else(|| env("NO_PROXY")).unwrap_or_default();
            if bypassed(&no_proxy, host, port) {
                return Ok(None);
            }
            url
        }
    };
    parse(&url).map(Some)
}

/// Whether `no_proxy` (comma-separated: `*`, host names matching themselves and their
/// subdomains, a leading dot optional, IP addresses, each with an optional `:port`) exempts
/// `host:port`.
pub fn bypassed(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, p.parse::<u16>().ok()),
                _ => (entry, None),
            };
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            let name = name
                .trim_start_matches('.')
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            host == name || host.ends_with(&format!(".{name}"))
        })
}

/// `http://[user:pass@]host[:port]` (the scheme may be left out; the port defaults to 1080,
/// as in libcurl).
pub fn parse(url: &str) -> Result<Proxy, Error> {
    let invalid = |why: &str| Error::invalid(format!("proxy '{}': {why}", redact(url)));
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(invalid(&format!(
                "scheme '{scheme}' is not supported (only http:// proxies, which tunnel with CONNECT)"
            )))
        }
        None => url,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed '['"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let port = match port {
        None | Some("") => 1080,
        Some(p) => p.parse().map_err(|_| invalid("the port is not a number"))?,
    };
    let auth = userinfo.map(|u| {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        let plain = format!("{}:{}", percent_decode(user), percent_decode(pass));
        format!("Basic {}", base64(plain.as_bytes()))
    });
    let display = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(Proxy {
        host,
        port,
        auth,
        display,
    })
}

/// The URL with its credentials hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}<hidden>@{}", &url[..s + 3], &url[at + 1..]),
        (None, Some(at)) => format!("<hidden>@{}", &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A CONNECT exchange in progress on a non-blocking socket.
pub struct Tunnel {
    request: Vec<u8>,
    written: usize,
    response: Vec<u8>,
    proxy: String,
    target: String,
}

impl Tunnel {
    pub fn new(proxy: &Proxy, host: &str, port: u16) -> Tunnel {
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = &proxy.auth {
            request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        Tunnel {
            request: request.into_bytes(),
            written: 0,
            response: Vec::new(),
            proxy: proxy.display.clone(),
            target,
        }
    }

    /// Moves the exchange on: Ok(true) once the proxy said 200 (the socket is then the
    /// tunnel), Ok(false) while it goes on.
    pub fn advance(&mut self, tcp: &mut (impl Read + Write)) -> Result<bool, Error> {
        let lost = |e: std::io::Error, proxy: &str| {
            Error::new(FWASR_ERR_IO, format!("connection to proxy {proxy} lost: {e}"))
        };
        while self.written < self.request.len() {
            match tcp.write(&self.request[self.written..]) {
                Ok(0) => return Err(lost(ErrorKind::WriteZero.into(), &self.proxy)),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(e, &self.proxy)),
            }
        }
        // Byte by byte, so nothing of the tunnel after the answer's end is taken from it.
        let mut byte = [0u8; 1];
        while !self.response.ends_with(b"\r\n\r\n") {
            if self.response.len() >= RESPONSE_MAX {
                return Err(Error::new(
                    FWASR_ERR_PROTOCOL,
                    format!(
                        "proxy {} sent more than {RESPONSE_MAX} bytes without ending its answer",
                        self.proxy
                    ),
                ));
            }
            match tcp.read(&mut byte) {
                Ok(0) => {
                    return Err(Error::new(
                        FWASR_ERR_IO,
                        format!(
                            "proxy {} closed the connection before answering CONNECT",
                            self.proxy
                        ),
                    ))
                }
                Ok(_) => self.response.push(byte[0]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(e, &self.proxy)),
            }
        }
        let head = String::from_utf8_lossy(&self.response);
        let status_line = head.lines().next().unwrap_or_default().to_string();
        let code: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if (200..300).contains(&code) {
            return Ok(true);
        }
        // 407 is the proxy's "credentials, please"; some proxies (tinyproxy) answer 401.
        let status = match code {
            401 | 407 => FWASR_ERR_AUTH,
            0 => FWASR_ERR_PROTOCOL,
            _ => FWASR_ERR_CONNECT,
        };
        Err(Error::with_code(
            status,
            i32::from(code),
            format!(
                "proxy {} refused the tunnel to {}: {}",
                self.proxy,
                self.target,
                status_line.trim()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_environment_is_read_as_libcurl_reads_it() {
        let vars = [
            ("https_proxy", "http://secure:3128"),
            ("http_proxy", "plain:8080"),
            ("HTTP_PROXY", "http://ignored:1"),
            ("no_proxy", "internal.example, .corp.example:443,10.0.0.7"),
        ];
        let pick = |host: &str, port, tls| {
            choose(None, host, port, tls, env(&vars))
                .unwrap()
                .map(|p| p.display)
        };
        assert_eq!(
            pick("api.fireworks.ai", 443, true).as_deref(),
            Some("secure:3128")
        );
        assert_eq!(pick("api.fireworks.ai", 80, false).as_deref(), Some("plain:8080"));
        assert_eq!(pick("a.internal.example", 443, true), None, "a subdomain");
        assert_eq!(pick("internal.example", 443, true), None);
        assert_eq!(pick("x.corp.example", 443, true), None, "its port");
        assert_eq!(
            pick("x.corp.example", 8443, true).as_deref(),
            Some("secure:3128"),
            "another port"
        );
        assert_eq!(
            pick("notinternal.example", 443, true).as_deref(),
            Some("secure:3128")
        );
        assert_eq!(pick("10.0.0.7", 80, false), None);
        let all = [("ALL_PROXY", "http://all:1"), ("NO_PROXY", "")];
        assert_eq!(
            choose(None, "h", 1, true, env(&all))
                .unwrap()
                .map(|p| p.display)
                .as_deref(),
            Some("all:1")
        );
        let star = [("https_proxy", "p:1"), ("no_proxy", "*")];
        assert_eq!(choose(None, "h", 1, true, env(&star)).unwrap(), None);
        // The app's setting wins: a proxy, or none at all.
        assert_eq!(
            choose(Some("http://app:9"), "h", 1, true, env(&vars))
                .unwrap()
                .map(|p| p.display)
                .as_deref(),
            Some("app:9")
        );
        assert_eq!(choose(Some(""), "h", 1, true, env(&vars)).unwrap(), None);
        assert_eq!(choose(None, "h", 1, true, env(&[])).unwrap(), None);
    }

    #[test]
    fn proxy_urls_are_parsed_and_their_credentials_hidden() {
        let p = parse("http://us%40er:p%3Ass@proxy.example:3128/").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.display.as_str()),
            ("proxy.example", 3128, "proxy.example:3128")
        );
        assert_eq!(
            p.auth.as_deref(),
            Some(format!("Basic {}", base64(b"us@er:p:ss")).as_str())
        );
        assert_eq!(parse("[::1]:8").unwrap().display, "[::1]:8");
        assert_eq!(parse("proxy").unwrap().port, 1080);
        let e = parse("socks5://user:secret@p:1").unwrap_err();
        assert!(
            e.message.contains("only http://") && !e.message.contains("secret"),
            "{e}"
        );
        let e = parse("http://user:secret@p:x").unwrap_err();
        assert!(!e.message.contains("secret"), "{e}");
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    /// A proxy's side in memory.
    struct Peer {
        answer: Vec<u8>,
        got: Vec<u8>,
    }

    impl Read for Peer {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.answer.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.answer.len());
            buf[..n].copy_from_slice(&self.answer[..n]);
            self.answer.drain(..n);
            Ok(n)
        }
    }

    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_tunnel_asks_with_credentials_and_takes_nothing_past_the_answer() {
        let proxy = parse("http://u:p@px:1").unwrap();
        let mut t = Tunnel::new(&proxy, "api.example", 443);
        let mut peer = Peer {
            answer: b"HTTP/1.1 200 Connection established\r\n\r\nTLS".to_vec(),
            got: Vec::new(),
        };
        assert!(t.advance(&mut peer).unwrap());
        assert_eq!(
            String::from_utf8(peer.got).unwrap(),
            "CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
        assert_eq!(peer.answer, b"TLS", "the tunnel's own bytes stay in the socket");

        let mut t = Tunnel::new(&proxy, "api.example", 443);
        let mut peer = Peer {
            answer: b"HTTP/1.1 407 Proxy Authentication Required\r\nX: y\r\n\r\n".to_vec(),
            got: Vec::new(),
        };
        let e = t.advance(&mut peer).unwrap_err();
        assert_eq!((e.status, e.code), (FWASR_ERR_AUTH, 407));
        assert!(
            e.message
                .starts_with("proxy px:1 refused the tunnel to api.example:443: HTTP/1.1 407"),
            "{e}"
        );
    }
}
