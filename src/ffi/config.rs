//! fwasr_config: the builder read by fwasr_session_open.
//!
//! A config is a handle like a session (src/ffi/handles.rs): each call holds it locked, so
//! calls from several threads are safe, one config can open many sessions, it may be freed
//! right after the last open, and a config freed twice, or used after its free, gives
//! FWASR_ERR_INVALID_ARGUMENT instead of touching freed memory.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::audio::Format;
use crate::config::Config;
use crate::error::*;
use crate::event::{fwasr_log_level, Event, LogLevel};
use crate::ffi::event::{fwasr_event, OwnedEvent};
use crate::ffi::{arg_str, cstring, guard, handles, opt_str, status};

/// A session configuration. Opaque: a handle (a number, not an address; never dereference
/// it), like a session's. Create with fwasr_config_new, free with fwasr_config_free.
pub struct fwasr_config {
    _opaque: [u8; 0],
}

/// The config behind a handle, held for the duration of a call.
pub(crate) fn config(cfg: *const fwasr_config) -> Result<Arc<Mutex<Config>>, Error> {
    if cfg.is_null() {
        return Err(Error::invalid("cfg is NULL"));
    }
    handles::CONFIGS
        .get(cfg.addr())
        .ok_or_else(|| Error::invalid("cfg is not a live config (it was freed, or never made)"))
}

/// Receives events. `event` and its strings are valid only during the call. Runs on the
/// session's network thread (while streaming, a shared one with fwasr_config_set_shared_io), in
/// event order; it must return quickly, must not block, and must not unwind (no C++
/// exceptions). It may call any fwasr function on any session, with these rules, so that a
/// callback never waits for the thread it runs on:
/// - Calls that would wait for a network thread do not wait: fwasr_session_finish starts
///   finishing and returns FWASR_ERR_STATE unless its timeout is 0 (the CLOSED event tells
///   how it ends); fwasr_session_push_wait returns FWASR_ERR_STATE when the queue is full;
///   fwasr_session_wait_ready returns FWASR_ERR_STATE while still connecting;
///   fwasr_session_next_event does not wait.
/// - fwasr_session_free of any session never deadlocks: its own session's free returns at
///   once (no further callback runs after this one); another session's free waits for that
///   session's running callback, unless that callback is itself freeing, directly or through
///   other callbacks, the session this callback belongs to; then it returns without waiting
///   (the other callback is still running and returns by itself). It never waits for the
///   other session's thread to end.
pub type fwasr_event_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const fwasr_event)>;

/// Receives log lines (never containing the API key). Same thread rules as fwasr_event_fn.
pub type fwasr_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: fwasr_log_level, message: *const c_char)>;

/// A C function pointer and its userdata, called from the network thread.
#[derive(Clone, Copy)]
struct Callback<F> {
    f: F,
    userdata: *mut c_void,
}

impl<F: Copy> Callback<F> {
    /// The parts, taken through `&self` so closures capture the whole (Send) struct.
    fn parts(&self) -> (F, *mut c_void) {
        (self.f, self.userdata)
    }
}

// SAFETY: the API documents that callbacks run on the session's thread; the caller vouches
// that its function and userdata may be used from there.
unsafe impl<F> Send for Callback<F> {}
// SAFETY: as above; we never touch userdata ourselves, only pass it back.
unsafe impl<F> Sync for Callback<F> {}

/// A new configuration with the defaults: the Fireworks endpoint, `response_format`
/// `verbose_json`, 50 ms chunks, a 10,000 ms queue, no pacing, 10,000 ms connect and finish
/// timeouts, TLS verification on, no callbacks (poll mode). NULL only if out of memory (or
/// with a million configs not freed).
#[no_mangle]
pub extern "C" fn fwasr_config_new() -> *mut fwasr_config {
    guard(std::ptr::null_mut(), || {
        handles::CONFIGS
            .insert(Mutex::new(Config::new()))
            .map_or(std::ptr::null_mut(), std::ptr::without_provenance_mut)
    })
}

/// Frees a configuration. Sessions opened from it are not affected. NULL, or a config freed
/// already, does nothing; the handle is dead from then on (a call with it fails with
/// FWASR_ERR_INVALID_ARGUMENT).
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_free(cfg: *mut fwasr_config) {
    guard((), || {
        handles::CONFIGS.remove(cfg.addr());
    })
}

fn with(cfg: *mut fwasr_config, f: impl FnOnce(&mut Config) -> Result<(), Error>) -> fwasr_status {
    status(|| f(&mut config(cfg)?.lock()))
}

/// The WebSocket URL, `ws://` or `wss://` (TLS through the system's TLS library). Default:
/// FWASR_URL_PRODUCTION; FWASR_URL_US_VIRGINIA (regional) and FWASR_URL_V2_PREVIEW (the v2
/// preview model) name Fireworks' other hosts.
/// The query parameters set below are appended to any query the URL has. A URL without a
/// path gets "/". Refused (FWASR_ERR_INVALID_ARGUMENT): other schemes, user info
/// (`user:password@`: never sent; use fwasr_config_set_api_key or fwasr_config_set_header), a
/// `#fragment` (never sent to a server), spaces and non-ASCII characters. Error messages and
/// log lines show the URL with user info and secret-looking parameter values (names
/// containing auth, key, token, secret, pass, sig, credential or session) hidden.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_url(cfg: *mut fwasr_config, url: *const c_char) -> fwasr_status {
    // SAFETY: pointer arguments are checked by the helpers.
    unsafe { with(cfg, |c| c.set_url(arg_str(url, "url")?)) }
}

/// The API key, sent as the `Authorization` header. NULL (the default) means: read
/// FIREWORKS_API_KEY from the environment when a session opens; with neither, no header is
/// sent. The key never appears in a log line, event or error message.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_api_key(
    cfg: *mut fwasr_config,
    api_key: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe { with(cfg, |c| c.set_api_key(opt_str(api_key, "api_key")?)) }
}

/// Query parameter `language` (e.g. "en"); NULL removes it (the server detects the language).
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_language(
    cfg: *mut fwasr_config,
    language: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe { with(cfg, |c| c.set_param("language", opt_str(language, "language")?)) }
}

/// Query parameter `prompt` (custom words, style); URL-encoded for you. NULL removes it.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_prompt(
    cfg: *mut fwasr_config,
    prompt: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe { with(cfg, |c| c.set_param("prompt", opt_str(prompt, "prompt")?)) }
}

/// Query parameter `temperature`, 0.0 to 2.0 (the server's default is 0).
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_temperature(
    cfg: *mut fwasr_config,
    temperature: f32,
) -> fwasr_status {
    with(cfg, |c| c.set_temperature(temperature))
}

/// Query parameter `response_format`; default "verbose_json". NULL removes it.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_response_format(
    cfg: *mut fwasr_config,
    format: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe {
        with(cfg, |c| {
            c.set_param("response_format", opt_str(format, "format")?)
        })
    }
}

/// Any query parameter (`timestamp_granularities`, `skip_vad`, `text_timeout_seconds`, ...),
/// passed through URL-encoded. Setting a name again replaces its value; NULL value removes it.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_param(
    cfg: *mut fwasr_config,
    name: *const c_char,
    value: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe {
        with(cfg, |c| {
            c.set_param(arg_str(name, "name")?, opt_str(value, "value")?)
        })
    }
}

/// An extra HTTP header on the upgrade request (e.g. User-Agent). Setting a name again
/// replaces it; NULL value removes it. Refused: Authorization (use fwasr_config_set_api_key),
/// the headers of the WebSocket handshake (Host, Connection, Upgrade, Sec-WebSocket-*), and
/// body framing headers an upgrade has no use for (Content-Length, Transfer-Encoding, TE,
/// Trailer, Expect).
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_header(
    cfg: *mut fwasr_config,
    name: *const c_char,
    value: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe {
        with(cfg, |c| {
            c.set_header(arg_str(name, "name")?, opt_str(value, "value")?)
        })
    }
}

/// What fwasr_session_push takes: `format` (FWASR_FORMAT_S16LE, _F32, _MULAW, _ALAW),
/// `sample_rate` 8,000 to 192,000 Hz (G.711: 8,000 only), `channels` 1 to 8 (interleaved;
/// averaged into one unless fwasr_config_set_input_channel picks one). fwasr resamples to
/// 16 kHz with an anti-aliasing filter whose delay is flushed at finish, so the last word is
/// not cut. Default: S16LE, 16,000 Hz, 1 channel, sent unchanged (bit-exact).
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_input_format(
    cfg: *mut fwasr_config,
    format: i32,
    sample_rate: u32,
    channels: u32,
) -> fwasr_status {
    with(cfg, |c| {
        let f = Format::from_i32(format)
            .ok_or_else(|| Error::invalid(format!("format {format} is not an fwasr_format")))?;
        c.set_input_format(f, sample_rate, channels)
    })
}

/// Multi-channel input: take only channel `channel` (counted from 0, e.g. one side of a
/// stereo call recording) instead of the average of all channels. -1 (the default) averages.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_input_channel(
    cfg: *mut fwasr_config,
    channel: i32,
) -> fwasr_status {
    with(cfg, |c| match channel {
        -1 => c.set_input_channel(None),
        n if n >= 0 => c.set_input_channel(Some(n as u32)),
        n => Err(Error::invalid(format!(
            "channel must be -1 (average) or >= 0, got {n}"
        ))),
    })
}

/// Chunk length, 50 to 400 ms (default 50). Audio leaves in binary frames of exactly this
/// length; only the last one of a session may be shorter.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_chunk_ms(cfg: *mut fwasr_config, ms: u32) -> fwasr_status {
    with(cfg, |c| c.set_chunk_ms(ms))
}

/// Capacity of the outgoing audio queue in ms of the input format, 50 to 600,000 (default
/// 10,000). A push that does not fit is refused whole with FWASR_ERR_BUFFER_FULL. The queue is
/// reserved address space: only the pages holding queued audio become resident, so a large
/// capacity costs memory only while a backlog lasts.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_buffer_ms(cfg: *mut fwasr_config, ms: u32) -> fwasr_status {
    with(cfg, |c| c.set_buffer_ms(ms))
}

/// Pacing of chunks: 0 (default) sends each chunk as soon as it is complete (live sources);
/// 1.0 sends at real time (files); 2.0 at twice real time; 0.1 to 100.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_pacing(cfg: *mut fwasr_config, factor: f64) -> fwasr_status {
    with(cfg, |c| c.set_pacing(factor))
}

/// Time allowed for name resolution, TCP, TLS and the WebSocket upgrade together
/// (default 10,000 ms). Exceeding it fails the session with FWASR_ERR_CONNECT_TIMEOUT. Every
/// address the name resolves to is tried within it, IPv6 and IPv4 taking turns, the next
/// 250 ms after the previous (at once when one fails); the first to connect is used, and an
/// error names every address tried and how it went.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_connect_timeout_ms(
    cfg: *mut fwasr_config,
    ms: u32,
) -> fwasr_status {
    with(cfg, |c| c.set_connect_timeout_ms(ms))
}

/// How long finishing may take beyond sending the queued audio at its pace: from
/// fwasr_session_finish to the server's final checkpoint echo (default 10,000 ms), whatever the
/// server does (a server that stops reading, one that floods messages, reconnects and their
/// backoff included). Exceeding it ends the session with FWASR_ERR_TIMEOUT.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_finish_timeout_ms(cfg: *mut fwasr_config, ms: u32) -> fwasr_status {
    with(cfg, |c| c.set_finish_timeout_ms(ms))
}

/// Keep-alive: a WebSocket ping every `ms` while the session is open (default 15,000; 0 = off;
/// else 50 or more). When neither a pong nor a message comes back from the server for a whole
/// interval after a ping, the server is taken as gone and the session ends with FWASR_ERR_IO
/// (the server's own pings do not count: a server that never reads can send them). So does
/// a server that takes none of the bytes waiting to be sent for a whole interval ("has not
/// read anything").
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_keepalive_ms(cfg: *mut fwasr_config, ms: u32) -> fwasr_status {
    with(cfg, |c| c.set_keepalive_ms(ms))
}

/// Sends one chunk of silence after `ms` without audio while open, for servers that close idle
/// streams (default 0 = off, since silence is billed audio; else 50 or more). Counted in
/// fwasr_stats.audio_ms_silence, not in audio_ms_sent.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_idle_silence_ms(cfg: *mut fwasr_config, ms: u32) -> fwasr_status {
    with(cfg, |c| c.set_idle_silence_ms(ms))
}

/// Automatic reconnection (default off; the examples turn it on). When an established
/// connection drops, closes unexpectedly or stops answering pings, the session raises
/// RECONNECTING, waits (exponential backoff from `initial_backoff_ms` to `max_backoff_ms`,
/// with jitter), connects again (a 401/403, TLS or configuration error is not retried),
/// raises RECONNECTED and sends again the audio after
/// the end of the last final segment; segments not yet final are removed first (the server
/// transcribes that audio again). New segments get ids after the old ones and times offset to
/// the stream. Audio pushed meanwhile is queued within buffer_ms. Asks the server for segment
/// times (`timestamp_granularities=segment`) unless that parameter is set. The first
/// connection is not retried: fwasr_session_wait_ready reports its failure.
/// A checkpoint, trace or clear that went out on the dropped connection and was not answered
/// there is sent again on the new one where its audio position comes in the audio sent again
/// (first, if that is before the resume point), so its event still comes, once; a trace's
/// rtt_ms then counts from the second sending. The 256 most recent unanswered ones are kept.
/// Budget: `max_attempts` connection attempts in a row without progress, where progress is a
/// connection that confirmed new final audio (the transcript moved forward for good). A
/// connection that only connects, or only streams audio nobody confirms, does not renew the
/// budget, so a server that accepts and drops every connection ends the session after
/// `max_attempts` attempts with the last connection's error ("gave up after N reconnect
/// attempts without progress"). The backoff keeps growing over such a stretch. After
/// fwasr_session_finish, the finish timeout bounds everything, reconnects included.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_reconnect(
    cfg: *mut fwasr_config,
    max_attempts: u32,
    initial_backoff_ms: u32,
    max_backoff_ms: u32,
) -> fwasr_status {
    with(cfg, |c| {
        c.set_reconnect(max_attempts, initial_backoff_ms, max_backoff_ms)
    })
}

/// The HTTP proxy to reach the server through: `http://[user:pass@]host[:port]` (port 1080
/// when left out; credentials percent-encoded, sent as Basic auth and hidden in every message
/// and log line). The connection is a CONNECT tunnel (for ws:// and wss:// alike); TLS runs
/// through it to the real host, verified against that host's name. NULL (the default) reads
/// the environment as libcurl does: `https_proxy` or `HTTPS_PROXY` for wss://, `http_proxy`
/// for ws://, else `all_proxy` / `ALL_PROXY`; `no_proxy` / `NO_PROXY` lists hosts to reach
/// directly (`*`, names matching themselves and their subdomains, IP addresses, each with an
/// optional `:port`). "" means no proxy, whatever the environment says. Only http:// proxies
/// (no https:// or SOCKS proxies): anything else is FWASR_ERR_INVALID_ARGUMENT. A proxy that
/// refuses the tunnel fails the connection with the proxy's HTTP status as `code` and a
/// message naming the proxy: FWASR_ERR_AUTH for 407 or 401 (not retried), FWASR_ERR_CONNECT for
/// others (retried by reconnect).
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_proxy(
    cfg: *mut fwasr_config,
    proxy: *const c_char,
) -> fwasr_status {
    // SAFETY: pointer arguments are checked by the helpers.
    unsafe { with(cfg, |c| c.set_proxy(opt_str(proxy, "proxy")?)) }
}

/// Also trust the PEM certificate(s) in this file for wss:// (read now). NULL forgets them.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_tls_ca_file(
    cfg: *mut fwasr_config,
    path: *const c_char,
) -> fwasr_status {
    // SAFETY: as above.
    unsafe { with(cfg, |c| c.set_tls_ca_file(opt_str(path, "path")?)) }
}

/// Writes a copy of the audio the server receives to a WAV file at `path` (16 kHz mono
/// 16-bit), for debugging and compliance; NULL (the default) makes none. The file is created
/// by fwasr_session_open (which fails with FWASR_ERR_IO when it cannot be) and holds each
/// second of the stream once: audio sent again after a reconnect is not written twice, idle
/// silence is written (the server received it). A thread of the session writes it through a
/// bounded queue (12.8 s of audio in 50 ms chunks), so a slow or failing disk never holds up the stream: audio
/// left out is counted in fwasr_stats.audio_ms_not_recorded and logged as a warning. The
/// header's sizes are written when the transcript is complete; fwasr_session_finish waits for
/// that within its timeout. The warning comes from the session's network thread: a failure
/// the count shows before fwasr_session_finish is called is logged before it returns; one met
/// later (the file's last writes, once the transcript is complete) may be logged after it, or
/// not at all once the session has ended. A session that fails or is freed still completes
/// its file.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_record_path(
    cfg: *mut fwasr_config,
    path: *const c_char,
) -> fwasr_status {
    // SAFETY: path is NULL or a C string (the function's contract).
    unsafe { with(cfg, |c| c.set_record_path(opt_str(path, "path")?)) }
}

/// Ask the server for the times of every word and segment (default false):
/// `timestamp_granularities=word,segment`, unless that parameter is set with
/// fwasr_config_set_param. Without it the server sends words (fwasr_event_word) without times
/// (NaN), and segment times only when reconnect is on.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_word_timestamps(cfg: *mut fwasr_config, on: bool) -> fwasr_status {
    with(cfg, |c| {
        c.set_word_timestamps(on);
        Ok(())
    })
}

/// Verify the server's certificate and host name (default true). false accepts any
/// certificate: for local test servers only.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_tls_verify(cfg: *mut fwasr_config, verify: bool) -> fwasr_status {
    with(cfg, |c| {
        c.set_tls_verify(verify);
        Ok(())
    })
}

/// Stream on network threads shared by every session opened with this set (one per core, at
/// most 8), instead of on the session's own thread (false, the default). For hosts running
/// hundreds of sessions: a shared thread's wake-up serves every session with work due, which
/// costs much less CPU than a wake-up per session per chunk (BENCHMARKS.md). Such a session
/// has no thread of its own: connecting, reconnecting and ending happen on the shared threads
/// too (only a name lookup runs on a short-lived thread until the resolver answers).
/// Callbacks of such sessions run on the shared threads: a callback that blocks holds up the
/// other sessions of its thread, their audio included (a callback blocking 100 ms delayed the
/// others' chunks by up to 105 ms; with a thread per session, 11 ms: BENCHMARKS.md). Keep such
/// callbacks short, or take events with fwasr_session_next_event. Callbacks may call into fwasr as fwasr_event_fn says.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_shared_io(cfg: *mut fwasr_config, shared: bool) -> fwasr_status {
    with(cfg, |c| {
        c.set_shared_io(shared);
        Ok(())
    })
}

/// Callback mode: every event of sessions opened from this config goes to `callback` (see
/// fwasr_event_fn), and fwasr_session_next_event returns NULL. NULL callback: poll mode.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_event_callback(
    cfg: *mut fwasr_config,
    callback: fwasr_event_fn,
    userdata: *mut c_void,
) -> fwasr_status {
    with(cfg, move |c| {
        let handler = callback.map(|f| {
            let cb = Callback { f, userdata };
            Arc::new(move |e: &Event| {
                let owned = OwnedEvent::new(e);
                let (f, userdata) = cb.parts();
                // SAFETY: the caller registered f/userdata for this use (see fwasr_event_fn).
                unsafe { f(userdata, &owned.raw) }
            }) as crate::config::EventHandler
        });
        c.set_event_handler(handler);
        Ok(())
    })
}

/// Send log lines at `level` or more severe (FWASR_LOG_ERROR=1 ... FWASR_LOG_DEBUG=4) to
/// `callback`. The library logs nowhere else. NULL callback turns logging off.
#[no_mangle]
pub unsafe extern "C" fn fwasr_config_set_log_callback(
    cfg: *mut fwasr_config,
    callback: fwasr_log_fn,
    userdata: *mut c_void,
    level: i32,
) -> fwasr_status {
    with(cfg, move |c| {
        let level = LogLevel::from_i32(level)
            .ok_or_else(|| Error::invalid(format!("level must be 1 (error) to 4 (debug), got {level}")))?;
        let handler = callback.map(|f| {
            let cb = Callback { f, userdata };
            Arc::new(move |lvl: LogLevel, msg: &str| {
                let m = cstring(msg);
                let (f, userdata) = cb.parts();
                // SAFETY: the caller registered f/userdata for this use.
                unsafe { f(userdata, lvl, m.as_ptr()) }
            }) as crate::config::LogHandler
        });
        c.set_log_handler(handler, level);
        Ok(())
    })
}
