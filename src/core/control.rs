//! Requests from the caller's threads, in call order.

use std::time::Instant;

#[derive(Clone, Debug)]
pub(crate) enum Control {
    /// `at`: the audio byte position after which the message goes out.
    Checkpoint {
        id: String,
        at: u64,
    },
    Trace {
        id: String,
        event_id: String,
        at: u64,
    },
    Clear {
        id: String,
        event_id: String,
        at: u64,
    },
    /// No more audio; `end` is the total pushed. `by`: when finishing gives up (the finish
    /// timeout from the call, plus the time paced audio still takes to send), bounding
    /// everything after it, reconnects included.
    Finish {
        end: u64,
        by: Instant,
    },
}

impl Control {
    pub fn at(&self) -> u64 {
        match self {
            Control::Checkpoint { at, .. } | Control::Trace { at, .. } | Control::Clear { at, .. } => *at,
            Control::Finish { end, .. } => *end,
        }
    }
}
