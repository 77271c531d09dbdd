//! A network thread: one mio poll (epoll, kqueue or IOCP) for the sockets of its sessions, a
//! waker, and their deadlines. Each wake-up steps every session whose socket is ready, that
//! was notified, or whose deadline came. A session's own thread is a reactor holding that one
//! session (it ends with it); shared network threads are a few reactors holding many.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use mio::{Events, Poll, Token, Waker};

use super::driver::Driver;
use super::shared::{mark_network_thread, Doorbell, NO_SLOT};
use crate::core::Outcome;
use crate::error::*;

const WAKER: Token = Token(usize::MAX);

/// Sessions that may be listed as having work before the thread looks; beyond it (never,
/// with fewer sessions per thread) the thread looks at every session's flag.
const OWN_LIST: usize = 4;
const SHARED_LIST: usize = 4096;

/// When the sessions want their next steps: a wake-up looks at the due ones only, not at
/// every session (a shared thread holds hundreds and wakes a thousand times a second).
#[derive(Default)]
struct Timers {
    /// Each session's deadline, as its last step set it.
    deadline: Vec<Option<Instant>>,
    /// The earliest entry `heap` holds for each session. A later deadline adds no entry:
    /// when the earlier one comes due, the session's true deadline is looked up and queued.
    queued: Vec<Option<Instant>>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Sessions to step again at once (their step yielded with messages still to read).
    again: Vec<usize>,
}

impl Timers {
    fn add(&mut self) -> usize {
        self.deadline.push(None);
        self.queued.push(None);
        self.deadline.len() - 1
    }

    fn set(&mut self, slot: usize, deadline: Option<Instant>, again: bool) {
        self.deadline[slot] = deadline;
        if again {
            self.again.push(slot);
        }
        if let Some(d) = deadline {
            if self.queued[slot].is_none_or(|q| d < q) {
                self.queued[slot] = Some(d);
                self.heap.push(Reverse((d, slot)));
            }
        }
    }

    fn clear(&mut self, slot: usize) {
        self.deadline[slot] = None;
        self.queued[slot] = None;
    }

    /// When the thread must wake for a deadline; drops entries that no longer stand.
    fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, slot))) = self.heap.peek() {
            if self.queued[slot] == Some(t) {
                return Some(t);
            }
            self.heap.pop();
        }
        None
    }

    /// Lists each session whose deadline has come, and each to step again, in `due`.
    fn take_due(&mut self, now: Instant, due: &mut Vec<(usize, bool)>) {
        due.extend(self.again.drain(..).map(|slot| (slot, true)));
        while let Some(&Reverse((t, slot))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            if self.queued[slot] != Some(t) {
                continue;
            }
            self.queued[slot] = None;
            match self.deadline[slot] {
                Some(d) if d <= now => due.push((slot, false)),
                later => self.set(slot, later, false),
            }
        }
    }
}

pub(crate) struct Reactor {
    poll: Poll,
    doorbell: Arc<Doorbell>,
    listed: Receiver<usize>,
    jobs: Receiver<Driver>,
    drivers: Vec<Option<Box<Driver>>>,
    timers: Timers,
    free: Vec<usize>,
    /// The thread ends once it holds no session (a session's own thread).
    own: bool,
}

/// A new reactor and the doorbell that wakes it.
fn reactor(list: usize, own: bool) -> Result<(Reactor, Sender<Driver>), Error> {
    let poll = Poll::new().map_err(|e| Error::os(FWASR_ERR_INTERNAL, "cannot create a poll", &e))?;
    let waker = Waker::new(poll.registry(), WAKER)
        .map_err(|e| Error::os(FWASR_ERR_INTERNAL, "cannot create a waker", &e))?;
    let (listed_tx, listed) = bounded(list);
    let (jobs_tx, jobs) = unbounded();
    let doorbell = Arc::new(Doorbell {
        waker,
        listed: listed_tx,
        overflow: AtomicBool::new(false),
        sleeping: AtomicBool::new(false),
    });
    let r = Reactor {
        poll,
        doorbell,
        listed,
        jobs,
        drivers: Vec::new(),
        timers: Timers::default(),
        free: Vec::new(),
        own,
    };
    Ok((r, jobs_tx))
}

/// Where a new session will run.
pub(crate) enum Place {
    /// A thread of its own, started by `run`.
    Own(Box<Reactor>),
    /// One of the shared network threads.
    Shared(&'static Pooled),
}

pub(crate) struct Pooled {
    doorbell: Arc<Doorbell>,
    jobs: Sender<Driver>,
}

impl Place {
    pub fn new(shared_io: bool) -> Result<Place, Error> {
        if shared_io {
            let pool = pool()?;
            return Ok(Place::Shared(
                &pool[NEXT.fetch_add(1, Ordering::Relaxed) % pool.len()],
            ));
        }
        let (r, _jobs) = reactor(OWN_LIST, true)?;
        Ok(Place::Own(Box::new(r)))
    }

    pub fn doorbell(&self) -> Arc<Doorbell> {
        match self {
            Place::Own(r) => r.doorbell.clone(),
            Place::Shared(p) => p.doorbell.clone(),
        }
    }

    /// Runs `driver` here: on its own thread (returned), or on the shared one.
    pub fn run(self, driver: Driver) -> Result<Option<JoinHandle<()>>, Error> {
        match self {
            Place::Own(mut r) => {
                r.install(driver);
                std::thread::Builder::new()
                    .name("fwasr-session".into())
                    .stack_size(256 * 1024)
                    .spawn(move || r.run())
                    .map(Some)
                    .map_err(|e| Error::os(FWASR_ERR_RESOURCE, "cannot start the session thread", &e))
            }
            Place::Shared(p) => {
                p.jobs
                    .send(driver)
                    .map_err(|_| Error::new(FWASR_ERR_INTERNAL, "the shared network thread is gone"))?;
                let _ = p.doorbell.waker.wake();
                Ok(None)
            }
        }
    }
}

static POOL: OnceLock<Vec<Pooled>> = OnceLock::new();
static POOL_START: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The shared threads (one per core, at most 8), started by the first session that asks. A
/// failure to start them (out of descriptors, say) is not kept: a later session tries again.
fn pool() -> Result<&'static [Pooled], Error> {
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let _starting = POOL_START.lock();
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let mut pooled = Vec::with_capacity(n);
    for i in 0..n {
        let (r, jobs) = reactor(SHARED_LIST, false)?;
        let doorbell = r.doorbell.clone();
        std::thread::Builder::new()
            .name(format!("fwasr-shared-{i}"))
            .spawn(move || r.run())
            .map_err(|e| Error::os(FWASR_ERR_RESOURCE, "cannot start a shared network thread", &e))?;
        pooled.push(Pooled { doorbell, jobs });
    }
    Ok(POOL.get_or_init(|| pooled))
}

impl Reactor {
    /// Takes a session in; its first step starts its connection.
    fn install(&mut self, driver: Driver) -> usize {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.drivers.push(None);
            self.timers.add()
        });
        let sh = driver.shared().clone();
        sh.wake.slot.store(slot, Ordering::Release);
        sh.wake.pending.store(false, Ordering::Release);
        self.drivers[slot] = Some(Box::new(driver));
        self.timers.set(slot, Some(Instant::now()), false);
        slot
    }

    fn live(&self) -> usize {
        self.drivers.len() - self.free.len()
    }

    fn run(mut self) {
        mark_network_thread();
        let mut events = Events::with_capacity(if self.own { 8 } else { 256 });
        // (slot, readable) to step this turn.
        let mut due: Vec<(usize, bool)> = Vec::new();
        loop {
            while let Ok(driver) = self.jobs.try_recv() {
                self.install(driver);
            }
            if self.own && self.live() == 0 {
                return;
            }
            let now = Instant::now();
            let next = if self.timers.again.is_empty() {
                self.timers.next()
            } else {
                Some(now)
            };
            let bell = &self.doorbell;
            bell.sleeping.store(true, Ordering::SeqCst);
            // Pairs with the fence in Shared::notify: a session listed before this point is
            // seen here, or its notifier sees this thread sleeping and wakes it.
            fence(Ordering::SeqCst);
            let busy =
                !self.listed.is_empty() || bell.overflow.load(Ordering::Acquire) || !self.jobs.is_empty();
            let timeout = if busy {
                Some(Duration::ZERO)
            } else {
                next.map(|d| d.saturating_duration_since(now))
            };
            let polled = self.poll.poll(&mut events, timeout);
            bell.sleeping.store(false, Ordering::SeqCst);
            if let Err(e) = polled {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    // Not expected with our own poll; do not spin on it.
                    std::thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
            due.clear();
            for ev in events.iter().filter(|ev| ev.token() != WAKER) {
                let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                due.push((ev.token().0, readable));
            }
            while let Ok(slot) = self.listed.try_recv() {
                due.push((slot, false));
            }
            if bell.overflow.swap(false, Ordering::AcqRel) {
                for (i, m) in self.drivers.iter().enumerate() {
                    if m.as_ref()
                        .is_some_and(|m| m.shared().wake.pending.load(Ordering::Acquire))
                    {
                        due.push((i, false));
                    }
                }
            }
            self.timers.take_due(Instant::now(), &mut due);
            // One step per session per turn, readable if any of its entries was.
            due.sort_unstable();
            due.dedup_by(|later, first| {
                let same = later.0 == first.0;
                if same {
                    first.1 |= later.1;
                }
                same
            });
            // Sessions with something to read first: a server message then waits behind the
            // other sessions' reads, not behind their audio sends (each a system call that
            // also delivers the bytes on loopback).
            due.sort_by_key(|&(_, readable)| !readable);
            for &(i, readable) in &due {
                self.step(i, readable);
            }
        }
    }

    fn step(&mut self, i: usize, readable: bool) {
        let registry = self.poll.registry();
        let Some(driver) = self.drivers.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        // Cleared before the step, so a notification during it lists the session again.
        driver.shared().wake.pending.store(false, Ordering::Release);
        let stepped = catch_unwind(AssertUnwindSafe(|| driver.step(registry, Token(i), readable)));
        let outcome = match stepped {
            Ok(Ok(wait)) => {
                self.timers.set(i, wait.deadline, wait.again);
                return;
            }
            Ok(Err(outcome)) => outcome,
            Err(_) => Outcome::Failed(Error::new(
                FWASR_ERR_INTERNAL,
                "internal error (caught panic) on a network thread",
            )),
        };
        let driver = self.drivers[i].take().expect("the slot stepped above");
        self.timers.clear(i);
        self.free.push(i);
        let sh = driver.shared().clone();
        sh.wake.slot.store(NO_SLOT, Ordering::Release);
        if catch_unwind(AssertUnwindSafe(|| driver.end(registry, outcome))).is_err() {
            sh.fail_internal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_hand_out_due_sessions_once_and_follow_moved_deadlines() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut t = Timers::default();
        let (a, b, c) = (t.add(), t.add(), t.add());
        t.set(a, Some(ms(10)), false);
        t.set(b, Some(ms(20)), false);
        t.set(c, None, true);
        assert_eq!(t.next(), Some(ms(10)));
        // a moves later (no new entry), b earlier (a new one).
        t.set(a, Some(ms(30)), false);
        t.set(b, Some(ms(5)), false);
        let mut due = Vec::new();
        t.take_due(ms(12), &mut due);
        assert_eq!(
            due,
            [(c, true), (b, false)],
            "c to step again, b due; a's old entry re-queued"
        );
        assert_eq!(t.next(), Some(ms(30)));
        due.clear();
        t.take_due(ms(25), &mut due);
        assert!(due.is_empty(), "b's old entry at 20 ms is stale: {due:?}");
        // A freed session's entry is never handed out.
        t.clear(a);
        assert_eq!(t.next(), None);
        t.take_due(ms(40), &mut due);
        assert!(due.is_empty());
    }
}
