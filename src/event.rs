//! Events a session raises, in the order they happen.

use std::ffi::c_char;
use std::sync::Arc;

use crate::error::{Error, Status, FWASR_OK};
use crate::transcript::Segment;

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
    pub fn same(&self, other: &Json) -> bool {
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
    /// again: `attempt` is the attempt about to be made, after `backoff_ms` milliseconds (at
    /// least what a refusal's `Retry-After` asked for, up to 120 s).
    FWASR_EVENT_RECONNECTING = 9,
    /// A new connection is up. Its audio starts `start_s` seconds into the stream;
    /// `replayed_ms` of audio the old connection had not confirmed is sent again, `dropped_ms`
    /// could not be (it was older than the replay buffer).
    FWASR_EVENT_RECONNECTED = 10,
}

pub use fwasr_event_type::*;

crate::c_enum::c_enum!(
    fwasr_event_type,
    "FWASR_EVENT_",
    [
        FWASR_EVENT_CONNECTED,
        FWASR_EVENT_SEGMENT,
        FWASR_EVENT_SEGMENT_REMOVED,
        FWASR_EVENT_CHECKPOINT,
        FWASR_EVENT_TRACE,
        FWASR_EVENT_CLEARED,
        FWASR_EVENT_OVERRUN,
        FWASR_EVENT_ERROR,
        FWASR_EVENT_CLOSED,
        FWASR_EVENT_RECONNECTING,
        FWASR_EVENT_RECONNECTED,
    ]
);

pub type EventType = fwasr_event_type;

/// One event, typed: each kind carries what it reports and nothing else. The C layer
/// flattens it into an `fwasr_event`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The WebSocket is open; audio flows.
    Connected,
    /// A segment was added, or its text, finality, times or words changed. `latency_ms`:
    /// from the push of the audio at the segment's end to this event; NaN when not known.
    Segment {
        segment: Segment,
        latency_ms: f64,
        json: Option<Json>,
    },
    /// The segment no longer exists (re-segmented by the server, or not final when the
    /// connection dropped). `segment` is how it last was.
    SegmentRemoved { segment: Segment, json: Option<Json> },
    /// The server echoed a checkpoint.
    Checkpoint { id: String, json: Option<Json> },
    /// The server answered a trace; `rtt_ms` is NaN when the trace was not this session's.
    Trace {
        id: String,
        rtt_ms: f64,
        json: Option<Json>,
    },
    /// The server forgot the session's context.
    Cleared { id: String, json: Option<Json> },
    /// An overrun began: `dropped_ms` of audio refused since the previous one.
    Overrun { dropped_ms: f64 },
    /// Something went wrong that did not end the session by itself.
    Error { error: Error, json: Option<Json> },
    /// The session ended: None when the whole transcript is in, else what ended it.
    Closed { error: Option<Error> },
    /// The connection broke with `error`; attempt `attempt` follows after `backoff_ms`.
    Reconnecting {
        error: Error,
        attempt: u32,
        backoff_ms: f64,
    },
    /// A new connection is up; its audio starts `start_s` into the stream, `replayed_ms` of
    /// it is sent again, `dropped_ms` could not be (older than the replay buffer).
    Reconnected {
        attempt: u32,
        start_s: f64,
        replayed_ms: f64,
        dropped_ms: f64,
    },
}

impl Event {
    pub fn kind(&self) -> EventType {
        match self {
            Event::Connected => FWASR_EVENT_CONNECTED,
            Event::Segment { .. } => FWASR_EVENT_SEGMENT,
            Event::SegmentRemoved { .. } => FWASR_EVENT_SEGMENT_REMOVED,
            Event::Checkpoint { .. } => FWASR_EVENT_CHECKPOINT,
            Event::Trace { .. } => FWASR_EVENT_TRACE,
            Event::Cleared { .. } => FWASR_EVENT_CLEARED,
            Event::Overrun { .. } => FWASR_EVENT_OVERRUN,
            Event::Error { .. } => FWASR_EVENT_ERROR,
            Event::Closed { .. } => FWASR_EVENT_CLOSED,
            Event::Reconnecting { .. } => FWASR_EVENT_RECONNECTING,
            Event::Reconnected { .. } => FWASR_EVENT_RECONNECTED,
        }
    }

    /// The segment of a SEGMENT or SEGMENT_REMOVED event.
    pub fn segment(&self) -> Option<&Segment> {
        match self {
            Event::Segment { segment, .. } | Event::SegmentRemoved { segment, .. } => Some(segment),
            _ => None,
        }
    }

    /// The error of an ERROR, RECONNECTING or failed CLOSED event.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Event::Error { error, .. } | Event::Reconnecting { error, .. } => Some(error),
            Event::Closed { error } => error.as_ref(),
            _ => None,
        }
    }

    /// The status an ERROR, RECONNECTING or CLOSED event reports; FWASR_OK otherwise.
    pub fn status(&self) -> Status {
        self.error().map_or(FWASR_OK, |e| e.status)
    }

    /// The HTTP status, close code or server error code of an event with an error; 0 otherwise.
    pub fn code(&self) -> i32 {
        self.error().map_or(0, |e| e.code)
    }

    /// The message of an event with an error; "" otherwise.
    pub fn message(&self) -> &str {
        self.error().map_or("", |e| e.message.as_ref())
    }

    /// The id of a CHECKPOINT, TRACE or CLEARED event.
    pub fn id(&self) -> Option<&str> {
        match self {
            Event::Checkpoint { id, .. } | Event::Trace { id, .. } | Event::Cleared { id, .. } => Some(id),
            _ => None,
        }
    }

    /// SEGMENT: milliseconds from the push of the audio at the segment's end; NaN otherwise.
    pub fn latency_ms(&self) -> f64 {
        match self {
            Event::Segment { latency_ms, .. } => *latency_ms,
            _ => f64::NAN,
        }
    }

    /// The server message the event came from.
    pub fn json(&self) -> Option<&Json> {
        match self {
            Event::Segment { json, .. }
            | Event::SegmentRemoved { json, .. }
            | Event::Checkpoint { json, .. }
            | Event::Trace { json, .. }
            | Event::Cleared { json, .. }
            | Event::Error { json, .. } => json.as_ref(),
            _ => None,
        }
    }

    /// Bytes the event holds besides its fixed size (the server message not included).
    pub(crate) fn heap_bytes(&self) -> usize {
        let seg = |s: &Segment| s.id.len() + s.text.len();
        let err = |e: &Error| e.message.len();
        match self {
            Event::Segment { segment, .. } | Event::SegmentRemoved { segment, .. } => seg(segment),
            Event::Checkpoint { id, .. } | Event::Trace { id, .. } | Event::Cleared { id, .. } => id.len(),
            Event::Error { error, .. } | Event::Reconnecting { error, .. } => err(error),
            Event::Closed { error } => error.as_ref().map_or(0, err),
            _ => 0,
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

crate::c_enum::c_enum!(
    fwasr_log_level,
    "FWASR_LOG_",
    [FWASR_LOG_ERROR, FWASR_LOG_WARN, FWASR_LOG_INFO, FWASR_LOG_DEBUG,]
);
