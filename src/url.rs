//! The WebSocket URL: checked and taken apart once (scheme, host, port), given a path when it
//! has none, and shown in messages with its credentials hidden.

use crate::error::Error;

/// Where to connect, taken apart from the URL once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// `%XX` sequences decoded (bytes that do not form UTF-8 are replaced); anything else as is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Query parameter names that look like they carry a secret, lower case; a name containing
/// one of these has its value hidden in messages.
const SECRET_PARAMS: [&str; 8] = [
    "auth",
    "key",
    "token",
    "secret",
    "pass",
    "sig",
    "credential",
    "session",
];

/// A URL fit for a log line or an error message: user info and the values of parameters
/// that look secret (Authorization, api_key, token, ...) replaced by `<hidden>`. Works on any
/// text, including URLs fwasr refuses.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    if url.contains("://") {
        out.push_str(scheme);
        out.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str("<hidden>@");
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let (path_query, fragment) = match tail.split_once('#') {
        Some((pq, f)) => (pq, Some(f)),
        None => (tail, None),
    };
    match path_query.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}=<hidden>"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(path_query),
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| lower.contains(s))
}

/// The URL with "/" as its path when it has none (`ws://h:1?x` becomes `ws://h:1/?x`).
pub(crate) fn with_root_path(url: &str) -> String {
    let Some(i) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[i..];
    match rest.find(['/', '?']) {
        Some(j) if rest.as_bytes()[j] == b'/' => url.to_string(),
        Some(j) => format!("{}/{}", &url[..i + j], &rest[j..]),
        None => format!("{url}/"),
    }
}

/// Checks a `ws://` or `wss://` URL and takes out what the connection needs. Error messages
/// show the URL with credentials hidden.
pub fn parse_endpoint(url: &str) -> Result<Endpoint, Error> {
    let shown = redact_url(url);
    let bad = |why: &str| Error::invalid(format!("url '{shown}' {why}"));
    let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else {
        return Err(bad("must start with ws:// or wss://"));
    };
    if url.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(bad(
            "must not contain spaces, control or non-ASCII characters (percent-encode them)",
        ));
    }
    if url.contains('#') {
        return Err(bad(
            "must not have a #fragment: it is never sent to the server (write '#' in a parameter as %23)",
        ));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad(
            "must not carry user info (user:password@): fwasr does not send it; use fwasr_config_set_api_key or fwasr_config_set_header",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed IPv6 bracket"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("has text after the IPv6 address"))?,
            ),
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    // What an HTTP authority takes; the rest of the URL is checked by the request parser.
    let host_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~%:!$&'()*+,;=".contains(&b);
    if !host.bytes().all(host_char) {
        return Err(bad("has a host with characters a URL does not allow"));
    }
    {
        use tungstenite::client::IntoClientRequest;
        with_root_path(url)
            .into_client_request()
            .map_err(|_| bad("is not a valid request URL"))?;
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("has an invalid port"))?,
        None if tls => 443,
        None => 80,
    };
    Ok(Endpoint {
        tls,
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn refused_urls_never_echo_credentials() {
        for url in [
            "ws://user:hunter2@h/p",
            "http://user:hunter2@h/p",
            "ws://h/p?Authorization=hunter2#frag",
            "ws://h/p?x=1&access_token=hunter2 ",
            "ws://u:hunter2@h:99999/p",
        ] {
            let e = Config::new().set_url(url).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{url}: {}", e.message);
            assert!(e.message.contains("<hidden>"), "{url}: {}", e.message);
        }
        let e = Config::new().set_url("ws://user:pw@h/p").unwrap_err();
        assert!(e.message.contains("does not send it"), "{}", e.message);
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("wss://example.com/a").unwrap(),
            Endpoint {
                tls: true,
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_endpoint("ws://127.0.0.1:8080?q=1").unwrap(),
            Endpoint {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(parse_endpoint("ws://[::1]:5/x").unwrap().host, "::1");
        for bad in [
            "http://x",
            "ws://",
            "ws://h:0",
            "ws://h:99999",
            "ws://u:p@h",
            "ws://h/ x",
            "ws://h/é",
            "wss://[::1]<",
            "ws://a<b/",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
