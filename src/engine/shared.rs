//! What a session's caller threads and its network thread share: its state, counters and
//! flags, the doorbell that wakes its network thread, and the rules for running callbacks.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::config::LogHandler;
use crate::error::Error;
use crate::event::LogLevel;
use crate::transcript::Transcript;

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

pub(crate) struct Progress {
    pub state: State,
    /// Why the session failed, once it has.
    pub error: Option<Error>,
    /// The network side has let go of the session: no callback of it runs any more.
    pub done: bool,
}

/// How other threads wake a network thread: each session with work is listed once (its
/// `pending` flag) and the thread is woken only when it sleeps, so a wake-up serves every
/// chunk completed meanwhile, on any number of sessions. Wait-free and allocation-free.
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

/// What the caller's threads and the network thread share.
pub(crate) struct Shared {
    pub doorbell: Arc<Doorbell>,
    /// The session's place on its network thread, and whether it is listed there.
    pub slot: AtomicUsize,
    pub pending: AtomicBool,
    pub progress: Mutex<Progress>,
    pub changed: Condvar,
    pub transcript: Arc<Mutex<Transcript>>,
    pub stop: AtomicBool,
    /// The session has ended (CLOSED or FAILED); read by push without taking a lock.
    pub ended: AtomicBool,
    /// Set by free: no callback may start after this.
    pub freed: AtomicBool,
    /// Held while a callback runs, so free can wait for a running callback to return.
    pub callback_gate: Mutex<()>,
    /// While this session's callback is inside a free of another session, that session.
    waiting_for: Mutex<Option<Arc<Shared>>>,
    pub pushed: AtomicU64,
    pub sent: AtomicU64,
    pub chunks_sent: AtomicU64,
    pub dropped: AtomicU64,
    /// Bytes of idle silence sent (not pushed audio).
    pub silence: AtomicU64,
    pub reconnects: AtomicU64,
    pub replayed: AtomicU64,
    pub messages: AtomicU64,
    pub last_rtt_bits: AtomicU64,
    /// Poll mode: the event queue is full and the network thread has stopped reading from
    /// the server; next_event wakes it once half the queue is taken.
    pub reading_paused: AtomicBool,
    /// Poll mode: bytes of events queued and not yet taken (see EVENT_QUEUE_BYTES).
    pub queued_bytes: AtomicUsize,
    /// Control messages the network thread holds unsent, as of its last look (see
    /// CONTROLS_QUEUED_MAX).
    pub controls_pending: AtomicUsize,
    /// An overrun began; the network thread raises the OVERRUN event.
    pub overrun_signal: AtomicBool,
    pub in_overrun: AtomicBool,
    /// push_wait callers sleeping until the network thread takes audio.
    pub room: Mutex<()>,
    pub room_changed: Condvar,
    pub finish_requested: AtomicBool,
    pub chunk_bytes: usize,
    log: Option<(LogHandler, LogLevel)>,
}

/// Poll mode: the memory of untaken events (their strings and the server messages they came
/// from) at which a session stops reading from the server until next_event has taken half
/// (the server's messages then wait in the socket; nothing is lost). One message's events are
/// always queued whole, so the queue can pass this by one message's worth.
pub(crate) const EVENT_QUEUE_BYTES: usize = 32 << 20;

/// Checkpoint, trace and clear calls waiting to be sent, at most: past it they are refused
/// with FWASR_ERR_BUFFER_FULL, so a server that reads nothing cannot make them pile up.
pub(crate) const CONTROLS_QUEUED_MAX: usize = 1024;

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
    pub fn new(doorbell: Arc<Doorbell>, chunk_bytes: usize, log: Option<(LogHandler, LogLevel)>) -> Shared {
        Shared {
            doorbell,
            slot: AtomicUsize::new(NO_SLOT),
            pending: AtomicBool::new(false),
            progress: Mutex::new(Progress {
                state: FWASR_STATE_CONNECTING,
                error: None,
                done: false,
            }),
            changed: Condvar::new(),
            transcript: Arc::new(Mutex::new(Transcript::new())),
            stop: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            freed: AtomicBool::new(false),
            callback_gate: Mutex::new(()),
            waiting_for: Mutex::new(None),
            pushed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            chunks_sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            silence: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            last_rtt_bits: AtomicU64::new(f64::NAN.to_bits()),
            reading_paused: AtomicBool::new(false),
            queued_bytes: AtomicUsize::new(0),
            controls_pending: AtomicUsize::new(0),
            overrun_signal: AtomicBool::new(false),
            in_overrun: AtomicBool::new(false),
            room: Mutex::new(()),
            room_changed: Condvar::new(),
            finish_requested: AtomicBool::new(false),
            chunk_bytes,
            log,
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

    pub fn log(self: &Arc<Self>, level: LogLevel, msg: impl FnOnce() -> String) {
        if let Some((f, max)) = &self.log {
            if level <= *max {
                self.callback(|| f(level, &msg()));
            }
        }
    }

    /// Runs a callback of this session unless it has been freed. A free waits for a running
    /// callback to return (the gate), so none runs after free returns.
    pub(crate) fn callback(self: &Arc<Self>, f: impl FnOnce()) {
        if self.freed.load(Ordering::Acquire) {
            return;
        }
        let _gate = self.callback_gate.lock();
        if self.freed.load(Ordering::Acquire) {
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
            drop(self.callback_gate.lock());
            return;
        };
        *me.waiting_for.lock() = Some(self.clone());
        loop {
            if let Some(gate) = self.callback_gate.try_lock_for(Duration::from_millis(1)) {
                drop(gate);
                break;
            }
            if self.waits_for(&me) {
                break;
            }
        }
        *me.waiting_for.lock() = None;
    }

    /// Whether this session's callback waits, through a chain of frees, for `target`.
    fn waits_for(self: &Arc<Self>, target: &Arc<Shared>) -> bool {
        let mut at = self.clone();
        for _ in 0..CYCLE_SEARCH {
            let next = at.waiting_for.lock().clone();
            match next {
                Some(n) if Arc::ptr_eq(&n, target) => return true,
                Some(n) => at = n,
                None => return false,
            }
        }
        false
    }

    pub fn set_state(&self, state: State) {
        self.progress.lock().state = state;
        self.changed.notify_all();
    }

    pub fn state(&self) -> State {
        self.progress.lock().state
    }

    /// Wakes push_wait callers: audio was taken, or the session ended.
    pub fn room_changed(&self) {
        let _room = self.room.lock();
        self.room_changed.notify_all();
    }

    /// The session has ended with `error`: FAILED, and calls from now on say why.
    pub fn fail(&self, error: Error) {
        self.ended.store(true, Ordering::Release);
        let mut p = self.progress.lock();
        p.state = FWASR_STATE_FAILED;
        p.error = Some(error);
    }

    /// A bug on the network thread while ending the session: it fails without more ado.
    pub fn fail_internal(&self) {
        self.fail(Error::new(
            crate::error::FWASR_ERR_INTERNAL,
            "internal error: the session's network thread panicked",
        ));
        self.done();
    }

    /// The network side has let go: wakes everyone waiting for that.
    pub fn done(&self) {
        self.progress.lock().done = true;
        self.changed.notify_all();
        self.room_changed();
    }
}
