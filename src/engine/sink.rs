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
                shared.flow.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
                let _ = tx.send(Queued { event: ev, bytes });
            }
            Sink::Closed => {}
        }
    }

    /// Poll mode: the events the app has not taken hold EVENT_QUEUE_BYTES.
    pub fn full(&self, shared: &Shared) -> bool {
        matches!(self, Sink::Queue { .. })
            && shared.flow.queued_bytes.load(Ordering::Acquire) >= EVENT_QUEUE_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::shared::Doorbell;
    use crate::error::{Error, FWASR_ERR_PROTOCOL};
    use crate::transcript::Segment;
    use std::sync::atomic::AtomicBool;

    fn shared() -> (Arc<Shared>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let (listed, _) = crossbeam_channel::bounded(4);
        let doorbell = Arc::new(Doorbell {
            waker: mio::Waker::new(poll.registry(), mio::Token(0)).unwrap(),
            listed,
            overflow: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
        });
        (Arc::new(Shared::new(doorbell, 1600, None)), poll)
    }

    #[test]
    fn a_message_shared_by_its_events_counts_once() {
        let (sh, _poll) = shared();
        let (tx, rx) = crossbeam_channel::unbounded();
        let sink = Sink::queue(tx);
        let json = Json::new(&"x".repeat(10_000));
        for i in 0..100 {
            let segment = Segment::untimed(&i.to_string(), "word");
            sink.emit(
                &sh,
                Event::Segment {
                    segment,
                    latency_ms: f64::NAN,
                    json: Some(json.clone()),
                },
            );
        }
        let queued: Vec<Queued> = rx.try_iter().collect();
        let total: usize = queued.iter().map(|q| q.bytes).sum();
        assert_eq!(total, sh.flow.queued_bytes.load(Ordering::Acquire));
        let each = std::mem::size_of::<Queued>();
        assert!(total < 100 * (each + 10) + 10_000 + 1, "{total}");
        assert!(total >= 10_000);
        // Another message counts again.
        let other = Json::new("{}");
        sink.emit(
            &sh,
            Event::Error {
                error: Error::new(FWASR_ERR_PROTOCOL, "bad"),
                json: Some(other),
            },
        );
        assert_eq!(rx.try_recv().unwrap().bytes, each + 3 + 2);
    }

    #[test]
    fn the_queue_is_full_at_its_bound() {
        let (sh, _poll) = shared();
        let (tx, _rx) = crossbeam_channel::unbounded();
        let sink = Sink::queue(tx);
        assert!(!sink.full(&sh));
        sh.flow.queued_bytes.store(EVENT_QUEUE_BYTES, Ordering::Release);
        assert!(sink.full(&sh));
        assert!(!Sink::Closed.full(&sh), "only a queue fills");
    }
}
