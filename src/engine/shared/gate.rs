//! The rules for running a session's callbacks: none after free returns, a free from inside
//! a callback does not wait for itself, and frees in callbacks of several sessions that wait
//! for each other do not deadlock.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::Shared;
use crate::config::LogHandler;
use crate::event::LogLevel;

pub(crate) struct Gate {
    /// Set by free: no callback may start after this.
    freed: AtomicBool,
    /// Held while a callback runs, so free can wait for a running callback to return.
    running: Mutex<()>,
    /// While this session's callback is inside a free of another session, that session.
    waiting_for: Mutex<Option<Arc<Shared>>>,
    log: Option<(LogHandler, LogLevel)>,
}

impl Gate {
    pub fn new(log: Option<(LogHandler, LogLevel)>) -> Gate {
        Gate {
            freed: AtomicBool::new(false),
            running: Mutex::new(()),
            waiting_for: Mutex::new(None),
            log,
        }
    }

    /// Marks the session freed; false when it already was.
    pub fn free(&self) -> bool {
        !self.freed.swap(true, Ordering::AcqRel)
    }
}

thread_local! {
    /// This thread is a network thread: a call that waits for a network thread must not
    /// wait here.
    static NETWORK_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The session whose callback this thread is running.
    static IN_CALLBACK: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

pub(crate) fn mark_network_thread() {
    NETWORK_THREAD.with(|n| n.set(true));
}

/// Whether the calling thread is a network thread, i.e. a call from inside a callback.
pub(crate) fn on_network_thread() -> bool {
    NETWORK_THREAD.with(Cell::get)
}

/// Clears IN_CALLBACK when a callback returns or unwinds.
struct CallbackScope(Option<Arc<Shared>>);

impl Drop for CallbackScope {
    fn drop(&mut self) {
        let previous = self.0.take();
        IN_CALLBACK.with(|c| *c.borrow_mut() = previous);
    }
}

/// How many sessions a chain of frees-in-callbacks is followed through to find a cycle.
const CYCLE_SEARCH: usize = 64;

impl Shared {
    pub fn log(self: &Arc<Self>, level: LogLevel, msg: impl FnOnce() -> String) {
        if let Some((f, max)) = &self.gate.log {
            if level <= *max {
                self.callback(|| f(level, &msg()));
            }
        }
    }

    /// Runs a callback of this session unless it has been freed. A free waits for a running
    /// callback to return (the gate), so none runs after free returns.
    pub(crate) fn callback(self: &Arc<Self>, f: impl FnOnce()) {
        if self.gate.freed.load(Ordering::Acquire) {
            return;
        }
        let _gate = self.gate.running.lock();
        if self.gate.freed.load(Ordering::Acquire) {
            return;
        }
        let previous = IN_CALLBACK.with(|c| c.borrow_mut().replace(self.clone()));
        let _scope = CallbackScope(previous);
        f();
    }

    /// Whether the calling thread runs a callback of this session.
    pub(crate) fn in_own_callback(self: &Arc<Self>) -> bool {
        IN_CALLBACK.with(|c| c.borrow().as_ref().is_some_and(|s| Arc::ptr_eq(s, self)))
    }

    /// Waits until no callback of this session runs (or is about to), called by free. From
    /// inside a callback of another session, the wait ends early when this session's
    /// callback is itself freeing, directly or through others, the session whose callback is
    /// calling: each waiting for the other would be a deadlock.
    pub(crate) fn wait_for_callbacks(self: &Arc<Self>) {
        let Some(me) = IN_CALLBACK.with(|c| c.borrow().clone()) else {
            drop(self.gate.running.lock());
            return;
        };
        *me.gate.waiting_for.lock() = Some(self.clone());
        loop {
            if let Some(gate) = self.gate.running.try_lock_for(Duration::from_millis(1)) {
                drop(gate);
                break;
            }
            if self.waits_for(&me) {
                break;
            }
        }
        *me.gate.waiting_for.lock() = None;
    }

    /// Whether this session's callback waits, through a chain of frees, for `target`.
    fn waits_for(self: &Arc<Self>, target: &Arc<Shared>) -> bool {
        let mut at = self.clone();
        for _ in 0..CYCLE_SEARCH {
            let next = at.gate.waiting_for.lock().clone();
            match next {
                Some(n) if Arc::ptr_eq(&n, target) => return true,
                Some(n) => at = n,
                None => return false,
            }
        }
        false
    }
}
