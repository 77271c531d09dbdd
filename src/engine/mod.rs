//! The driver side: real sockets, threads and time for the sessions' cores (`crate::core`).
//! Each session's driver carries out what its core asks for; a reactor thread steps the
//! drivers whose socket is ready, that were notified, or whose deadline came. A session's
//! own thread is a reactor holding it alone, shared network threads are reactors holding
//! many. The open WebSocket (link), where events go (sink) and what the caller's threads
//! share with the network thread (shared) live here. Imports run one way: session → engine →
//! core and conn.

mod driver;
mod link;
mod reactor;
mod recorder;
mod shared;
mod sink;

pub(crate) use driver::Driver;
pub(crate) use reactor::Place;
pub(crate) use recorder::{RecordState, Recorder};
pub(crate) use shared::{on_network_thread, Progress, Shared, CONTROLS_QUEUED_MAX, EVENT_QUEUE_BYTES};
pub(crate) use sink::{Queued, Sink};
