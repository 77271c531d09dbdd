//! Events a session raises, in the order they happen.

use std::ffi::c_char;
use std::sync::Arc;

use crate::error::{Error, Status, FWASR_OK};

/// The text of one server message, shared by every event made from it (a message with
/// thousands of segments is kept once, not once per event). Kept NUL-terminated so the C
/// layer hands it out without a copy; NUL characters in it are dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Json(Arc<str>);

impl Json {
    pub fn new(text: &str) -> Json {
        let mut s = String::with_capacity(text.len() + 1);
        s.extend(text.chars().filter(|c| *c != '\0'));
        s.push('\0');
        Json(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0[..self.0.len() - 1]
    }

    /// Whether both are the same shared copy.
    pub(crate) fn same(&self, other: &Json) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The text as a C string, valid while this (or a clone) lives.
    pub(crate) fn as_c_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

/// What an event reports.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fwasr_event_type {
    /// The WebSocket is open; audio flows. Always the first event of a session that connects.
    FWASR_EVENT_CONNECTED = 0,
    /// A segment was added or its text, finality or times changed.
    FWASR_EVENT_SEGMENT = 1,
    /// The server re-segmented the tail: this segment no longer exists.
    FWASR_EVENT_SEGMENT_REMOVED = 2,
    /// The server echoed a checkpoint (`checkpoint_id`), including the final one.
    FWASR_EVENT_CHECKPOINT = 3,
    /// The server answered a trace (`checkpoint_id` holds the trace id, `rtt_ms` the round trip).
    FWASR_EVENT_TRACE = 4,
    /// The server forgot the session's context (`checkpoint_id` holds the reset id).
    FWASR_EVENT_CLEARED = 5,
    /// A push found the audio queue full: an overrun began. One per overrun, which ends when the
    /// queue has drained to half. `dropped_ms` is the audio refused since the previous one.
    FWASR_EVENT_OVERRUN = 6,
    /// Something went wrong that did not end the session by itself (`status`, `code`, `message`).
    FWASR_EVENT_ERROR = 7,
    /// The session ended. Always the last event, exactly once. `status` is `FWASR_OK` when the
    /// whole transcript is in; otherwise the error that ended the session.
    FWASR_EVENT_CLOSED = 8,
    /// The connection broke (`status`, `code`, `message` say how) and the session will try
    /// again: `attempt` is the attempt about to be made, after `rtt_ms` milliseconds of backoff.
    FWASR_EVENT_RECONNECTING = 9,
    /// A new connection is up. Its audio starts `start_s` seconds into the stream;
    /// `replayed_ms` of audio the old connection had not confirmed is sent again, `dropped_ms`
    /// could not be (it was older than the replay buffer).
    FWASR_EVENT_RECONNECTED = 10,
}

pub use fwasr_event_type::*;

pub type EventType = fwasr_event_type;

/// One event, owned by Rust. The C layer turns it into an `fwasr_event`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub segment_id: String,
    pub text: String,
    /// 1 final, 0 not final, -1 unknown (the segment has no words).
    pub is_final: i32,
    pub start_s: f64,
    pub end_s: f64,
    /// Checkpoint id, trace id or reset id.
    pub checkpoint_id: String,
    pub rtt_ms: f64,
    pub dropped_ms: f64,
    pub status: Status,
    pub code: i32,
    pub message: String,
    /// The raw server message this event came from.
    pub json: Option<Json>,
    pub attempt: i32,
    pub replayed_ms: f64,
}

impl Event {
    pub fn new(kind: EventType) -> Event {
        Event {
            kind,
            segment_id: String::new(),
            text: String::new(),
            is_final: -1,
            start_s: f64::NAN,
            end_s: f64::NAN,
            checkpoint_id: String::new(),
            rtt_ms: f64::NAN,
            dropped_ms: 0.0,
            status: FWASR_OK,
            code: 0,
            message: String::new(),
            json: None,
            attempt: 0,
            replayed_ms: 0.0,
        }
    }

    pub fn from_error(kind: EventType, err: &Error) -> Event {
        Event {
            status: err.status,
            code: err.code,
            message: err.message.to_string(),
            ..Event::new(kind)
        }
    }
}

/// Severity of a log line; a log callback receives lines at or above its level.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum fwasr_log_level {
    FWASR_LOG_ERROR = 1,
    FWASR_LOG_WARN = 2,
    FWASR_LOG_INFO = 3,
    FWASR_LOG_DEBUG = 4,
}

pub use fwasr_log_level::*;

pub type LogLevel = fwasr_log_level;

impl fwasr_log_level {
    pub fn from_i32(n: i32) -> Option<LogLevel> {
        match n {
            1 => Some(FWASR_LOG_ERROR),
            2 => Some(FWASR_LOG_WARN),
            3 => Some(FWASR_LOG_INFO),
            4 => Some(FWASR_LOG_DEBUG),
            _ => None,
        }
    }
}
