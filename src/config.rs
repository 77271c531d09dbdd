//! Session configuration: a plain builder, validated as each value is set, read once per open.

use std::sync::Arc;
use std::time::Duration;

use crate::audio::{Format, InputFormat};
use crate::error::Error;
use crate::event::{Event, LogLevel};
use crate::url::{parse_endpoint, percent_encode, redact_url, with_root_path, Endpoint};

/// Fireworks' production streaming transcription endpoint (v1), the default URL.
pub const FWASR_URL_PRODUCTION: &str =
    "wss://audio-streaming.api.fireworks.ai/v1/audio/transcriptions/streaming";
/// The regional (us-virginia-1) host of the same service, the one first published.
pub const FWASR_URL_US_VIRGINIA: &str =
    "wss://audio-streaming.us-virginia-1.direct.fireworks.ai/v1/audio/transcriptions/streaming";
/// The v2 preview host (a newer model; same protocol and path).
pub const FWASR_URL_V2_PREVIEW: &str =
    "wss://audio-streaming-v2.api.fireworks.ai/v1/audio/transcriptions/streaming";
pub(crate) const DEFAULT_URL: &str = FWASR_URL_PRODUCTION;
/// The environment variable read for the API key when none is set.
pub(crate) const API_KEY_ENV: &str = "FIREWORKS_API_KEY";

/// The only audio the service takes: 16 kHz mono s16le, 32 bytes per millisecond.
pub(crate) const BYTES_PER_MS: usize = 32;

pub(crate) const CHUNK_MS_MIN: u32 = 50;
pub(crate) const CHUNK_MS_MAX: u32 = 400;
pub(crate) const BUFFER_MS_MAX: u32 = 600_000;
pub(crate) const TIMEOUT_MS_MAX: u32 = 86_400_000;
pub(crate) const PACING_MAX: f64 = 100.0;

pub type EventHandler = Arc<dyn Fn(&Event) + Send + Sync>;
pub type LogHandler = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Everything a session needs to know before it opens. Cloned into each session.
#[derive(Clone)]
pub struct Config {
    url: String,
    api_key: Option<String>,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    pub(crate) input: InputFormat,
    pub(crate) chunk_ms: u32,
    pub(crate) buffer_ms: u32,
    pub(crate) pacing: f64,
    pub(crate) connect_timeout: Duration,
    pub(crate) finish_timeout: Duration,
    /// Ping interval; None = no keep-alive.
    pub(crate) keepalive: Option<Duration>,
    /// Silence sent after this long without audio; None = never.
    pub(crate) idle_silence: Option<Duration>,
    pub(crate) reconnect: Option<Reconnect>,
    pub(crate) tls_ca_pem: Option<Vec<u8>>,
    pub(crate) tls_verify: bool,
    /// None: the environment's proxy; Some(""): none; else a proxy URL.
    pub(crate) proxy: Option<String>,
    pub(crate) shared_io: bool,
    /// Ask for word and segment times (`timestamp_granularities=word,segment`).
    pub(crate) word_timestamps: bool,
    /// Write the audio sent to this WAV file.
    pub(crate) record_path: Option<String>,
    pub(crate) on_event: Option<EventHandler>,
    pub(crate) log: Option<(LogHandler, LogLevel)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: DEFAULT_URL.to_string(),
            api_key: None,
            params: vec![("response_format".into(), "verbose_json".into())],
            headers: Vec::new(),
            input: InputFormat::default(),
            chunk_ms: 50,
            buffer_ms: 10_000,
            pacing: 0.0,
            connect_timeout: Duration::from_millis(10_000),
            finish_timeout: Duration::from_millis(10_000),
            keepalive: Some(Duration::from_millis(15_000)),
            idle_silence: None,
            reconnect: None,
            tls_ca_pem: None,
            tls_verify: true,
            proxy: None,
            shared_io: false,
            word_timestamps: false,
            record_path: None,
            on_event: None,
            log: None,
        }
    }
}

/// Automatic reconnection: attempts per outage and the exponential backoff's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    /// Checks and keeps a URL; a URL without a path gets "/" (the request target cannot be
    /// empty).
    pub fn set_url(&mut self, url: &str) -> Result<(), Error> {
        parse_endpoint(url)?;
        self.url = with_root_path(url);
        Ok(())
    }

    /// `None` falls back to `FIREWORKS_API_KEY` at open.
    pub fn set_api_key(&mut self, key: Option<&str>) -> Result<(), Error> {
        if let Some(k) = key {
            if k.is_empty() || k.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err(Error::invalid(
                    "api_key must be non-empty and free of control characters",
                ));
            }
        }
        self.api_key = key.map(str::to_string);
        Ok(())
    }

    /// Sets (or, with `None`, removes) a query parameter. A name set again keeps its place.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::invalid("parameter name must not be empty"));
        }
        set_pair(&mut self.params, name, value, |a, b| a == b);
        Ok(())
    }

    pub fn set_temperature(&mut self, t: f32) -> Result<(), Error> {
        if !(0.0..=2.0).contains(&t) {
            return Err(Error::invalid("temperature must be within 0.0..=2.0"));
        }
        self.set_param("temperature", Some(&format!("{t}")))
    }

    /// Sets (or removes) an extra HTTP header for the upgrade request.
    pub fn set_header(&mut self, name: &str, value: Option<&str>) -> Result<(), Error> {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(Error::invalid(format!(
                "header name '{name}' is not a valid HTTP token"
            )));
        }
        // Headers fwasr sets, headers whose meaning the WebSocket handshake fixes (a second
        // value breaks the upgrade), and the body framing headers an upgrade request has no
        // use for (Content-Length with Transfer-Encoding is how requests are smuggled past a
        // proxy).
        const RESERVED: [&str; 15] = [
            "authorization",
            "host",
            "connection",
            "upgrade",
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
            "sec-websocket-protocol",
            "sec-websocket-accept",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "expect",
            "x-fwasr-resume-ms",
        ];
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            return Err(Error::invalid(
                "header 'Authorization' is set by fwasr: use fwasr_config_set_api_key",
            ));
        }
        if RESERVED.contains(&lower.as_str()) {
            return Err(Error::invalid(format!(
                "header '{name}' is reserved: fwasr sets it, or it would break the WebSocket upgrade"
            )));
        }
        if let Some(v) = value {
            if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(Error::invalid(format!(
                    "value of header '{name}' contains control characters"
                )));
            }
        }
        set_pair(&mut self.headers, name, value, |a, b| a.eq_ignore_ascii_case(b));
        Ok(())
    }

    /// What `push` takes: format, rate (8-192 kHz) and channels (1-8). Converted to 16 kHz
    /// mono s16le inside.
    pub fn set_input_format(&mut self, format: Format, rate: u32, channels: u32) -> Result<(), Error> {
        self.input = self.input.with(format, rate, channels)?;
        Ok(())
    }

    /// Takes one channel (counted from 0) of multi-channel input instead of averaging them.
    pub fn set_input_channel(&mut self, channel: Option<u32>) -> Result<(), Error> {
        self.input = self.input.with_channel(channel)?;
        Ok(())
    }

    pub fn set_chunk_ms(&mut self, ms: u32) -> Result<(), Error> {
        if !(CHUNK_MS_MIN..=CHUNK_MS_MAX).contains(&ms) {
            return Err(Error::invalid(format!(
                "chunk_ms must be within {CHUNK_MS_MIN}..={CHUNK_MS_MAX} (the service takes 50-400 ms chunks), got {ms}"
            )));
        }
        self.chunk_ms = ms;
        Ok(())
    }

    pub fn set_buffer_ms(&mut self, ms: u32) -> Result<(), Error> {
        if !(CHUNK_MS_MIN..=BUFFER_MS_MAX).contains(&ms) {
            return Err(Error::invalid(format!(
                "buffer_ms must be within {CHUNK_MS_MIN}..={BUFFER_MS_MAX}, got {ms}"
            )));
        }
        self.buffer_ms = ms;
        Ok(())
    }

    pub fn set_pacing(&mut self, factor: f64) -> Result<(), Error> {
        if !(factor == 0.0 || (0.1..=PACING_MAX).contains(&factor)) {
            return Err(Error::invalid(format!(
                "pacing must be 0 (off) or within 0.1..={PACING_MAX}, got {factor}"
            )));
        }
        self.pacing = factor;
        Ok(())
    }

    pub fn set_connect_timeout_ms(&mut self, ms: u32) -> Result<(), Error> {
        self.connect_timeout = timeout("connect_timeout_ms", ms)?;
        Ok(())
    }

    pub fn set_finish_timeout_ms(&mut self, ms: u32) -> Result<(), Error> {
        self.finish_timeout = timeout("finish_timeout_ms", ms)?;
        Ok(())
    }

    /// WebSocket pings every `ms` while open (0 = off). A peer that sends nothing back within
    /// one interval is treated as gone.
    pub fn set_keepalive_ms(&mut self, ms: u32) -> Result<(), Error> {
        self.keepalive = optional_interval("keepalive_ms", ms)?;
        Ok(())
    }

    /// One chunk of silence after `ms` without audio while open (0 = off, the default:
    /// silence is billed audio).
    pub fn set_idle_silence_ms(&mut self, ms: u32) -> Result<(), Error> {
        self.idle_silence = optional_interval("idle_silence_ms", ms)?;
        Ok(())
    }

    /// Reconnects after a dropped connection (0 attempts = off, the default). Segment times are
    /// asked of the server (`timestamp_granularities=segment`, unless set) because the resume
    /// point is the end of the last final segment.
    pub fn set_reconnect(
        &mut self,
        max_attempts: u32,
        initial_backoff_ms: u32,
        max_backoff_ms: u32,
    ) -> Result<(), Error> {
        if max_attempts == 0 {
            self.reconnect = None;
            return Ok(());
        }
        if initial_backoff_ms == 0 || max_backoff_ms < initial_backoff_ms || max_backoff_ms > TIMEOUT_MS_MAX {
            return Err(Error::invalid(format!(
                "backoff must satisfy 0 < initial_backoff_ms <= max_backoff_ms <= {TIMEOUT_MS_MAX}, got {initial_backoff_ms} and {max_backoff_ms}"
            )));
        }
        self.reconnect = Some(Reconnect {
            max_attempts,
            initial_backoff: Duration::from_millis(initial_backoff_ms.into()),
            max_backoff: Duration::from_millis(max_backoff_ms.into()),
        });
        Ok(())
    }

    /// The HTTP proxy to tunnel through: None reads the environment (`https_proxy` for wss,
    /// `http_proxy` for ws, `all_proxy`, `no_proxy`), "" means none, else
    /// `http://[user:pass@]host[:port]`.
    pub fn set_proxy(&mut self, proxy: Option<&str>) -> Result<(), Error> {
        if let Some(url) = proxy.filter(|p| !p.is_empty()) {
            crate::proxy::parse(url)?;
        }
        self.proxy = proxy.map(str::to_string);
        Ok(())
    }

    /// Trusts the PEM certificates in this file (in addition to the system's roots).
    pub fn set_tls_ca_file(&mut self, path: Option<&str>) -> Result<(), Error> {
        let Some(path) = path else {
            self.tls_ca_pem = None;
            return Ok(());
        };
        let pem =
            std::fs::read(path).map_err(|e| Error::invalid(format!("cannot read CA file '{path}': {e}")))?;
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(Error::invalid(format!(
                "CA file '{path}' holds no PEM certificate"
            )));
        }
        self.tls_ca_pem = Some(pem);
        Ok(())
    }

    pub fn set_tls_verify(&mut self, verify: bool) {
        self.tls_verify = verify;
    }

    /// Writes a copy of the audio sent to a WAV file (src/engine/recorder.rs); None: no copy.
    pub fn set_record_path(&mut self, path: Option<&str>) -> Result<(), Error> {
        if path.is_some_and(str::is_empty) {
            return Err(Error::invalid("record path must not be empty"));
        }
        self.record_path = path.map(str::to_string);
        Ok(())
    }

    /// Asks the server for the times of words and segments, unless the
    /// `timestamp_granularities` parameter is set explicitly.
    pub fn set_word_timestamps(&mut self, on: bool) {
        self.word_timestamps = on;
    }

    /// Streams on network threads shared by all such sessions (one per core) instead of one
    /// thread per session; see src/engine/reactor.rs.
    pub fn set_shared_io(&mut self, shared: bool) {
        self.shared_io = shared;
    }

    pub fn set_event_handler(&mut self, handler: Option<EventHandler>) {
        self.on_event = handler;
    }

    pub fn set_log_handler(&mut self, handler: Option<LogHandler>, level: LogLevel) {
        self.log = handler.map(|h| (h, level));
    }

    /// The API key to send: the configured one, else the environment's.
    pub(crate) fn effective_api_key(&self) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| std::env::var(API_KEY_ENV).ok().filter(|k| !k.is_empty()))
    }

    pub(crate) fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Whether the server is asked for segment times (without them no latency is measured).
    pub(crate) fn asks_for_times(&self) -> bool {
        self.word_timestamps
            || self.reconnect.is_some()
            || self.params.iter().any(|(n, _)| n == "timestamp_granularities")
    }

    /// The URL with every query parameter appended, percent-encoded.
    pub fn request_url(&self) -> String {
        let mut url = self.url.clone();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        let mut params = self.params.clone();
        if !params.iter().any(|(n, _)| n == "timestamp_granularities") {
            if self.word_timestamps {
                params.push(("timestamp_granularities".into(), "word,segment".into()));
            } else if self.reconnect.is_some() {
                params.push(("timestamp_granularities".into(), "segment".into()));
            }
        }
        for (name, value) in &params {
            url.push(sep);
            url.push_str(&percent_encode(name));
            url.push('=');
            url.push_str(&percent_encode(value));
            sep = '&';
        }
        url
    }

    /// `request_url` with credentials hidden (see `redact_url`), for log lines and error
    /// messages.
    pub fn display_url(&self) -> String {
        redact_url(&self.request_url())
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        parse_endpoint(&self.url).expect("url was validated when set")
    }
}

fn timeout(name: &str, ms: u32) -> Result<Duration, Error> {
    if ms == 0 || ms > TIMEOUT_MS_MAX {
        return Err(Error::invalid(format!(
            "{name} must be within 1..={TIMEOUT_MS_MAX}, got {ms}"
        )));
    }
    Ok(Duration::from_millis(ms.into()))
}

fn optional_interval(name: &str, ms: u32) -> Result<Option<Duration>, Error> {
    match ms {
        0 => Ok(None),
        50..=TIMEOUT_MS_MAX => Ok(Some(Duration::from_millis(ms.into()))),
        _ => Err(Error::invalid(format!(
            "{name} must be 0 (off) or within 50..={TIMEOUT_MS_MAX}, got {ms}"
        ))),
    }
}

fn set_pair(
    list: &mut Vec<(String, String)>,
    name: &str,
    value: Option<&str>,
    same: impl Fn(&str, &str) -> bool,
) {
    let at = list.iter().position(|(n, _)| same(n, name));
    match (at, value) {
        (Some(i), Some(v)) => list[i].1 = v.to_string(),
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => list.push((name.to_string(), v.to_string())),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_prompt_with_reserved_and_unicode() {
        let mut c = Config::new();
        c.set_url("ws://127.0.0.1:9/v1/stream").unwrap();
        c.set_param("prompt", Some("a b&c=d é")).unwrap();
        assert_eq!(
            c.request_url(),
            "ws://127.0.0.1:9/v1/stream?response_format=verbose_json&prompt=a%20b%26c%3Dd%20%C3%A9"
        );
    }

    #[test]
    fn params_replace_in_place_and_remove() {
        let mut c = Config::new();
        c.set_url("ws://h/p?x=1").unwrap();
        c.set_param("language", Some("en")).unwrap();
        c.set_param("response_format", Some("json")).unwrap();
        assert_eq!(c.request_url(), "ws://h/p?x=1&response_format=json&language=en");
        c.set_param("response_format", None).unwrap();
        assert_eq!(c.request_url(), "ws://h/p?x=1&language=en");
    }

    #[test]
    fn timestamps_asked_for_unless_set_explicitly() {
        let mut c = Config::new();
        c.set_url("ws://h/p").unwrap();
        assert!(!c.request_url().contains("timestamp_granularities"));
        c.set_reconnect(3, 100, 1000).unwrap();
        assert!(c.request_url().ends_with("&timestamp_granularities=segment"));
        c.set_word_timestamps(true);
        assert!(c
            .request_url()
            .ends_with("&timestamp_granularities=word%2Csegment"));
        c.set_param("timestamp_granularities", Some("segment")).unwrap();
        assert!(c.request_url().ends_with("&timestamp_granularities=segment"));
    }

    #[test]
    fn display_url_hides_query_credentials() {
        let mut c = Config::new();
        c.set_url("ws://h/p").unwrap();
        c.set_param("Authorization", Some("secret-key")).unwrap();
        c.set_param("api_key", Some("secret-2")).unwrap();
        c.set_param("language", Some("en")).unwrap();
        let shown = c.display_url();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("Authorization=<hidden>"));
        assert!(shown.contains("api_key=<hidden>&language=en"), "{shown}");
    }

    #[test]
    fn url_shapes() {
        let mut c = Config::new();
        c.set_url("ws://127.0.0.1:9").unwrap();
        assert_eq!(c.request_url(), "ws://127.0.0.1:9/?response_format=verbose_json");
        c.set_url("ws://h?x=1").unwrap();
        assert_eq!(c.request_url(), "ws://h/?x=1&response_format=verbose_json");
        c.set_url("ws://[::1]:5").unwrap();
        assert_eq!(c.request_url(), "ws://[::1]:5/?response_format=verbose_json");
        let e = c.set_url("ws://h/p?x=1#top").unwrap_err();
        assert!(e.message.contains("fragment"), "{}", e.message);
    }

    #[test]
    fn headers_that_break_the_upgrade_are_refused() {
        let mut c = Config::new();
        for name in [
            "Sec-WebSocket-Extensions",
            "sec-websocket-protocol",
            "Transfer-Encoding",
            "Content-Length",
            "Host",
            "Connection",
            "Upgrade",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
        ] {
            let e = c.set_header(name, Some("x")).unwrap_err();
            assert!(e.message.contains("reserved"), "{name}: {}", e.message);
        }
        assert!(c.set_header("User-Agent", Some("app/1")).is_ok());
        assert!(c.set_header("X-Request-Id", Some("1")).is_ok());
    }

    #[test]
    fn ranges_are_checked() {
        let mut c = Config::new();
        assert!(c.set_chunk_ms(49).is_err());
        assert!(c.set_chunk_ms(401).is_err());
        assert!(c.set_chunk_ms(400).is_ok());
        assert!(c.set_pacing(-1.0).is_err());
        assert!(c.set_pacing(f64::NAN).is_err());
        assert!(c.set_pacing(1.0).is_ok());
        assert!(c.set_connect_timeout_ms(0).is_err());
        assert!(c.set_temperature(f32::NAN).is_err());
        assert!(c.set_header("Authorization", Some("x")).is_err());
        assert!(c.set_header("X-Bad Name", Some("x")).is_err());
        assert!(c.set_header("X-Ok", Some("a\r\nb")).is_err());
        assert!(c.set_api_key(Some("a\nb")).is_err());
    }
}
