//! Shared network threads, for sessions opened with `shared_io`. A thread per session costs a
//! wake-up per 50 ms chunk per session; at hundreds of sessions those wake-ups are most of the
//! process's CPU. Here a few threads (one per core, at most 8) each stream many sessions from
//! one epoll set: a wake-up serves every session whose chunk, control call, socket or deadline
//! is due, so its cost is shared.
//!
//! Only streaming moves here. A session's own thread still connects, reconnects (with its
//! backoff sleeps) and ends the session; while its connection streams it lends its worker and
//! connection to a shared thread and waits, without waking, for the outcome. So everything
//! about a session but where its streaming steps run is the same in both modes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::conn::Ws;
use crate::error::*;
use crate::session::Shared;
use crate::sys::{self, Epoll, Interest, Waker};
use crate::worker::{Outcome, Worker};

/// A streaming connection lent by a session thread, which waits on `done` meanwhile.
struct Job {
    worker: *mut Worker,
    ws: *mut Ws,
    done: Sender<Outcome>,
}

// SAFETY: the pointers are used only on the shared thread that received the job, and only
// until it sends on `done`; the lending thread does not touch either until it has received.
unsafe impl Send for Job {}

pub(crate) struct Reactor {
    jobs: Sender<Job>,
    mailbox: Waker,
    /// Sessions with a chunk to send, from the pushing threads: a push that completes a chunk
    /// puts its session here (once, until the shared thread takes it) instead of writing the
    /// session's eventfd, and writes the mailbox only when the shared thread sleeps. So one
    /// system call wakes the thread for all the chunks completed meanwhile.
    pending: Sender<Arc<Shared>>,
    /// The shared thread is about to sleep or sleeps in epoll_wait.
    sleeping: Arc<AtomicBool>,
}

/// Room on a pending list; beyond it (never, with fewer sessions per thread) pushes fall back
/// to the session's eventfd.
const PENDING_CAPACITY: usize = 4096;

/// Tells the network thread of `sh` that a chunk is complete: through its shared thread's
/// pending list while it streams there, else through its eventfd. Wait-free, no allocation;
/// at most one system call.
pub(crate) fn notify(sh: &Arc<Shared>) {
    let streaming = sh.reactor_slot.load(Ordering::Acquire) != NOT_STREAMING;
    let Some(r) = sh.reactor.get().filter(|_| streaming) else {
        sh.waker.wake();
        return;
    };
    if !sh.pending.swap(true, Ordering::AcqRel) && r.pending.try_send(sh.clone()).is_err() {
        sh.pending.store(false, Ordering::Release);
        sh.waker.wake();
        return;
    }
    // Pairs with the fence in `run` before it sleeps: either it sees this session on the
    // list, or this sees it sleeping.
    fence(Ordering::SeqCst);
    if r.sleeping.swap(false, Ordering::SeqCst) {
        r.mailbox.wake();
    }
}

static POOL: OnceLock<Vec<Reactor>> = OnceLock::new();
static POOL_START: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The shared threads, started by the first session that streams on them. A failure to
/// start them (out of descriptors, say) is not kept: a later session tries again.
fn pool() -> Result<&'static [Reactor], Error> {
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let _starting = POOL_START.lock();
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let reactors = (0..n).map(start).collect::<Result<Vec<_>, Error>>()?;
    Ok(POOL.get_or_init(|| reactors))
}

fn start(i: usize) -> Result<Reactor, Error> {
    let mailbox = Waker::new().map_err(|e| Error::os(FWASR_ERR_INTERNAL, "cannot create an eventfd", &e))?;
    let ep = Epoll::new().map_err(|e| Error::os(FWASR_ERR_INTERNAL, "cannot create an epoll set", &e))?;
    ep.add(mailbox.raw_fd(), false, true, MAILBOX)
        .map_err(|e| Error::os(FWASR_ERR_INTERNAL, "cannot watch the mailbox", &e))?;
    let (tx, rx) = unbounded();
    let (pending, pending_rx) = bounded(PENDING_CAPACITY);
    let sleeping = Arc::new(AtomicBool::new(false));
    let flag = sleeping.clone();
    std::thread::Builder::new()
        .name(format!("fwasr-shared-{i}"))
        .spawn(move || run(ep, rx, pending_rx, &flag))
        .map_err(|e| Error::os(FWASR_ERR_RESOURCE, "cannot start a shared network thread", &e))?;
    Ok(Reactor {
        jobs: tx,
        mailbox,
        pending,
        sleeping,
    })
}

/// Streams `ws` on a shared thread and returns how the connection ended.
pub(crate) fn stream(worker: &mut Worker, ws: &mut Ws) -> Outcome {
    let pool = match pool() {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e),
    };
    // A session keeps its shared thread across reconnects (pushes find it through Shared).
    let reactor = *worker
        .shared()
        .reactor
        .get_or_init(|| &pool[NEXT.fetch_add(1, Ordering::Relaxed) % pool.len()]);
    let (done, outcome) = bounded(1);
    let job = Job {
        worker: worker as *mut Worker,
        ws: ws as *mut Ws,
        done,
    };
    if reactor.jobs.send(job).is_err() {
        return Outcome::Failed(Error::new(
            FWASR_ERR_INTERNAL,
            "the shared network thread is gone",
        ));
    }
    reactor.mailbox.wake();
    // Until this returns, the shared thread owns `worker` and `ws` (see Job).
    let outcome = outcome.recv().unwrap_or_else(|_| {
        Outcome::Failed(Error::new(
            FWASR_ERR_INTERNAL,
            "the shared network thread dropped the session",
        ))
    });
    *worker.shared().network_thread.lock() = Some(std::thread::current().id());
    outcome
}

const MAILBOX: u64 = u64::MAX;

/// `Shared::reactor_slot` of a session not streaming on its shared thread.
pub(crate) const NOT_STREAMING: usize = usize::MAX;

/// A session being streamed: tokens are `2 * slot` (its waker) and `2 * slot + 1` (socket).
struct Slot {
    job: Job,
    sock: i32,
    waker: i32,
    deadline: Option<Instant>,
    interest: Interest,
    /// The last step yielded with messages left to read.
    read_again: bool,
}

fn run(ep: Epoll, jobs: Receiver<Job>, pending: Receiver<Arc<Shared>>, sleeping: &AtomicBool) {
    crate::session::mark_network_thread();
    let me = std::thread::current().id();
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    // (slot, readable) to step this turn.
    let mut due: Vec<(usize, bool)> = Vec::new();
    loop {
        let now = Instant::now();
        let timeout = slots
            .iter()
            .flatten()
            .filter_map(|s| s.deadline)
            .min()
            .map(|d| d.saturating_duration_since(now));
        sleeping.store(true, Ordering::SeqCst);
        // Pairs with the fence in `notify`: a session listed before this point is seen here.
        fence(Ordering::SeqCst);
        let timeout = if pending.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        let waited = ep.wait(&mut events, timeout);
        sleeping.store(false, Ordering::SeqCst);
        let Ok(ready) = waited else {
            // Only EBADF/EFAULT/EINVAL, which cannot happen with our own set; do not spin.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        due.clear();
        for (token, readable, _) in ready.iter().map(sys::readiness) {
            if token == MAILBOX {
                while let Ok(job) = jobs.try_recv() {
                    // SAFETY: the job was just lent to this thread (see Job).
                    let (worker, ws) = unsafe { (&mut *job.worker, &mut *job.ws) };
                    *worker.shared().network_thread.lock() = Some(me);
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    let waker = worker.shared().waker.raw_fd();
                    let sock = ws.get_ref().fd();
                    let added = ep
                        .add(waker, false, true, 2 * slot as u64)
                        .and_then(|()| ep.add(sock, false, false, 2 * slot as u64 + 1));
                    if let Err(e) = added {
                        let _ = ep.remove(waker);
                        free.push(slot);
                        let _ = job.done.send(Outcome::Failed(Error::os(
                            FWASR_ERR_INTERNAL,
                            "cannot watch the connection",
                            &e,
                        )));
                        continue;
                    }
                    worker.shared().reactor_slot.store(slot, Ordering::Release);
                    slots[slot] = Some(Slot {
                        job,
                        sock,
                        waker,
                        deadline: None,
                        interest: Interest::default(),
                        read_again: false,
                    });
                    // The upgrade may have brought a first message along.
                    due.push((slot, true));
                }
            } else {
                let slot = (token / 2) as usize;
                due.push((slot, token % 2 == 1 && readable));
            }
        }
        while let Ok(sh) = pending.try_recv() {
            sh.pending.store(false, Ordering::Release);
            let i = sh.reactor_slot.load(Ordering::Relaxed);
            // SAFETY: lent to this thread until `done` is sent (see Job).
            let current = slots
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|s| unsafe { Arc::ptr_eq((*s.job.worker).shared(), &sh) });
            if current {
                due.push((i, false));
            }
        }
        let now = Instant::now();
        for (i, s) in slots.iter().enumerate() {
            if let Some(s) = s.as_ref().filter(|s| s.deadline.is_some_and(|d| d <= now)) {
                due.push((i, s.read_again));
            }
        }
        // One step per session per turn, readable if any of its entries was.
        due.sort_unstable();
        due.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 |= later.1;
            }
            same
        });
        for &(i, readable) in &due {
            let Some(s) = slots.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            // SAFETY: lent to this thread until `done` is sent (see Job).
            let (worker, ws) = unsafe { (&mut *s.job.worker, &mut *s.job.ws) };
            let stepped = catch_unwind(AssertUnwindSafe(|| worker.step(ws, readable)));
            let outcome = match stepped {
                Ok(Ok(wait)) => {
                    s.deadline = wait.timeout.map(|t| Instant::now() + t);
                    s.read_again = wait.read_again;
                    if wait.interest == s.interest {
                        continue;
                    }
                    match ep.set_interest(s.sock, wait.interest, 2 * i as u64 + 1) {
                        Ok(()) => {
                            s.interest = wait.interest;
                            continue;
                        }
                        Err(e) => Outcome::Failed(Error::os(FWASR_ERR_INTERNAL, "epoll failed", &e)),
                    }
                }
                Ok(Err(outcome)) => outcome,
                Err(_) => Outcome::Failed(Error::new(
                    FWASR_ERR_INTERNAL,
                    "internal error (caught panic) on a shared network thread",
                )),
            };
            let s = slots[i].take().expect("the slot stepped above");
            // SAFETY: still lent to this thread (`done` is sent below).
            unsafe { (*s.job.worker).shared() }
                .reactor_slot
                .store(NOT_STREAMING, Ordering::Release);
            let _ = ep.remove(s.sock);
            let _ = ep.remove(s.waker);
            free.push(i);
            let _ = s.job.done.send(outcome);
        }
    }
}
