//! How other threads wake a session's network thread.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;

/// A network thread's doorbell: each session with work is listed once (its `pending` flag)
/// and the thread is woken only when it sleeps, so a wake-up serves every chunk completed
/// meanwhile, on any number of sessions. Wait-free and allocation-free.
pub(crate) struct Doorbell {
    pub(crate) waker: mio::Waker,
    pub(crate) listed: Sender<usize>,
    /// The list was full: the thread looks at every session's flag.
    pub(crate) overflow: AtomicBool,
    /// The thread sleeps in its poll, or is about to.
    pub(crate) sleeping: AtomicBool,
}

/// A session's slot before its network thread has taken it in.
pub(crate) const NO_SLOT: usize = usize::MAX;

/// One session's side of its thread's doorbell.
pub(crate) struct Wake {
    pub(crate) doorbell: Arc<Doorbell>,
    /// The session's place on its network thread (written by that thread).
    pub(crate) slot: AtomicUsize,
    /// Listed as having work, not yet stepped.
    pub(crate) pending: AtomicBool,
}

impl Wake {
    pub fn new(doorbell: Arc<Doorbell>) -> Wake {
        Wake {
            doorbell,
            slot: AtomicUsize::new(NO_SLOT),
            pending: AtomicBool::new(false),
        }
    }

    /// Tells the network thread this session has work (a complete chunk, a control call,
    /// an answer from a name lookup, a free). Wait-free, no allocation, at most one system
    /// call (only when that thread sleeps).
    pub fn notify(&self) {
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let bell = &self.doorbell;
        let slot = self.slot.load(Ordering::Acquire);
        // Before the thread takes the session in, its first step sees the work anyway.
        if slot != NO_SLOT && bell.listed.try_send(slot).is_err() {
            bell.overflow.store(true, Ordering::Release);
        }
        // Pairs with the fence in the thread's loop before it sleeps: either it sees this
        // session listed, or this sees it sleeping.
        fence(Ordering::SeqCst);
        if bell.sleeping.swap(false, Ordering::SeqCst) {
            let _ = bell.waker.wake();
        }
    }
}
