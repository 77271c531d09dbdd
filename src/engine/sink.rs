//! Where a session's events go: the caller's callback, or the queue `next_event` reads, whose
//! memory is counted so a server cannot fill it behind an app that does not take its events.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::shared::{Shared, EVENT_QUEUE_BYTES};
use crate::config::EventHandler;
use crate::event::{Event, Json};

/// A poll-mode event and the bytes it counts against EVENT_QUEUE_BYTES.
pub(crate) struct Queued {
    pub event: Event,
    pub bytes: usize,
}

pub(crate) enum Sink {
    Callback(EventHandler),
    Queue {
        tx: Sender<Queued>,
        /// The last server message counted: one shared by several events counts once.
        counted: RefCell<Option<Json>>,
    },
    /// The session has ended: nothing more goes anywhere (dropping the sender lets
    /// next_event return NULL once the queue is drained).
    Closed,
}

impl Sink {
    pub fn queue(tx: Sender<Queued>) -> Sink {
        Sink::Queue {
            tx,
            counted: RefCell::new(None),
        }
    }

    pub fn emit(&self, shared: &Arc<Shared>, ev: Event) {
        match self {
            Sink::Callback(f) => shared.callback(|| f(&ev)),
            Sink::Queue { tx, counted } => {
                let mut counted = counted.borrow_mut();
                let json = ev.json().filter(|j| counted.as_ref().is_none_or(|c| !c.same(j)));
                let bytes =
                    std::mem::size_of::<Queued>() + ev.heap_bytes() + json.map_or(0, |j| j.as_str().len());
                if let Some(j) = json {
                    *counted = Some(j.clone());
                }
                shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
                let _ = tx.send(Queued { event: ev, bytes });
            }
            Sink::Closed => {}
        }
    }

    /// Poll mode: the events the app has not taken hold EVENT_QUEUE_BYTES.
    pub fn full(&self, shared: &Shared) -> bool {
        matches!(self, Sink::Queue { .. }) && shared.queued_bytes.load(Ordering::Acquire) >= EVENT_QUEUE_BYTES
    }
}
