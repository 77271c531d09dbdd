//! The network engine: each session is a non-blocking state machine (machine) stepped by a
//! reactor thread; a session's own thread is a reactor holding it alone, shared network
//! threads are reactors holding many. The parts each do one thing: pacing, finishing,
//! keep-alive, replay and renumbering, the reconnect budget, the open WebSocket (link), and
//! where events go (sink). Imports run one way: session → engine → conn.

mod finish;
mod keepalive;
mod link;
mod machine;
mod pacing;
mod reactor;
mod reconnect;
mod replay;
mod shared;
mod sink;

pub(crate) use machine::Machine;
pub(crate) use reactor::Place;
pub use shared::{
    fwasr_state, State, FWASR_STATE_CLOSED, FWASR_STATE_CONNECTING, FWASR_STATE_FAILED,
    FWASR_STATE_FINISHING, FWASR_STATE_OPEN,
};
pub(crate) use shared::{on_network_thread, Control, Shared, CONTROLS_QUEUED_MAX, EVENT_QUEUE_BYTES};
pub(crate) use sink::{Queued, Sink};
