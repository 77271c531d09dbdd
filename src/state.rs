//! Where a session is in its life, as the C API reports it.

/// Where a session is in its life.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fwasr_state {
    /// The connection is being made; pushed audio is queued.
    FWASR_STATE_CONNECTING = 0,
    /// Connected; audio flows.
    FWASR_STATE_OPEN = 1,
    /// `finish` was called; the last audio and the final checkpoint are on their way.
    FWASR_STATE_FINISHING = 2,
    /// Ended as asked: finished with the whole transcript in, or freed.
    FWASR_STATE_CLOSED = 3,
    /// Ended by an error; `fwasr_session_finish` or the CLOSED event tells which.
    FWASR_STATE_FAILED = 4,
}

pub use fwasr_state::*;
pub type State = fwasr_state;

crate::c_enum::c_enum!(
    fwasr_state,
    "FWASR_STATE_",
    [
        FWASR_STATE_CONNECTING,
        FWASR_STATE_OPEN,
        FWASR_STATE_FINISHING,
        FWASR_STATE_CLOSED,
        FWASR_STATE_FAILED,
    ]
);
