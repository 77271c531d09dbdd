//! A session's life as the caller's threads see it: its state (written by the network
//! thread only), why it failed, whether the network side has let go, and the one way to wait
//! for any of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::state::*;

pub(crate) struct Progress {
    state: State,
    /// Why the session failed, once it has.
    error: Option<Error>,
    /// The network side has let go of the session: no callback of it runs any more.
    pub done: bool,
}

impl Progress {
    /// Why calls fail once the session has ended: a FAILED session's error, or that it has
    /// ended (CLOSED). None while it runs.
    pub fn ended_error(&self) -> Option<Error> {
        let ended = || Error::new(crate::error::FWASR_ERR_STATE, "the session has ended");
        match self.state {
            FWASR_STATE_FAILED => Some(self.error.clone().unwrap_or_else(ended)),
            FWASR_STATE_CLOSED => Some(ended()),
            _ => None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
}

pub(crate) struct Life {
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Set by free: the network thread stops the session at its next step.
    pub stop: AtomicBool,
    /// The session has ended (CLOSED or FAILED); read by push without taking a lock.
    pub ended: AtomicBool,
    /// Set by finish: no more audio or control calls.
    pub finish_requested: AtomicBool,
}

impl Life {
    pub fn new() -> Life {
        Life {
            progress: Mutex::new(Progress {
                state: FWASR_STATE_CONNECTING,
                error: None,
                done: false,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            finish_requested: AtomicBool::new(false),
        }
    }

    /// The state, FINISHING once finish was called on an open session.
    pub fn state(&self) -> State {
        let state = self.progress.lock().state;
        if state == FWASR_STATE_OPEN && self.finish_requested.load(Ordering::Acquire) {
            FWASR_STATE_FINISHING
        } else {
            state
        }
    }

    /// Network thread: the session is open.
    pub fn opened(&self) {
        self.progress.lock().state = FWASR_STATE_OPEN;
        self.changed.notify_all();
    }

    /// Network thread: the whole transcript is in. Waiters are woken once the CLOSED event
    /// has been delivered (`wake_waiters`).
    pub fn closed(&self) {
        self.ended.store(true, Ordering::Release);
        self.progress.lock().state = FWASR_STATE_CLOSED;
    }

    /// Network thread: the session has ended with `error`: FAILED, and calls from now on
    /// say why. Waiters are woken once the CLOSED event has been delivered (`done`).
    pub fn fail(&self, error: Error) {
        self.ended.store(true, Ordering::Release);
        let mut p = self.progress.lock();
        p.state = FWASR_STATE_FAILED;
        p.error = Some(error);
    }

    /// Network thread: it has let go of the session.
    pub fn done(&self) {
        self.progress.lock().done = true;
        self.changed.notify_all();
    }

    /// Wakes every waiter to look again (audio was taken: there is room).
    pub fn wake_waiters(&self) {
        let _p = self.progress.lock();
        self.changed.notify_all();
    }

    /// What `f` reads from the progress, under its lock.
    pub fn look<R>(&self, f: impl FnOnce(&Progress) -> R) -> R {
        f(&self.progress.lock())
    }

    /// Waits until `ready` gives an answer or `deadline` passes (None: no deadline), then
    /// returns the answer (None: the deadline passed first). `ready` runs under the lock
    /// every change notifies under, so no change is missed between a look and the wait.
    pub fn wait_until<R>(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&Progress) -> Option<R>,
    ) -> Option<R> {
        let mut p = self.progress.lock();
        loop {
            if let Some(r) = ready(&p) {
                return Some(r);
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut p, d).timed_out() {
                        return ready(&p);
                    }
                }
                None => self.changed.wait(&mut p),
            }
        }
    }
}
