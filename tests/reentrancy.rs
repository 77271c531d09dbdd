//! Callbacks that call back into fwasr, with sessions on their own threads and on shared
//! network threads: two callbacks freeing each other's sessions at the same moment, and calls
//! that would wait for the network thread the callback runs on. Neither may hang; each test
//! runs under a watchdog, so a deadlock fails it instead of stalling the suite.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use common::*;
use fwasr::error::*;
use fwasr::event::*;
use fwasr::{Config, Event, Session, Status};

/// Runs `f` on a thread and fails if it has not returned within `limit`.
fn within(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("still running after {limit:?}: a deadlock")
        }
        Err(_) => panic!("the test body panicked"),
    }
}

/// Held by the tests that open sessions on shared threads: each opens its sessions in a row,
/// so the pool's round robin puts two sessions opened one after the other on different
/// threads (tests of this file run in parallel otherwise).
static SHARED_POOL: Mutex<()> = Mutex::new(());

fn pool_turn(shared_io: bool) -> Option<std::sync::MutexGuard<'static, ()>> {
    shared_io.then(|| SHARED_POOL.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Both arrive, or the first gives up after `limit` (then the race was not set up).
fn meet(count: &AtomicUsize, limit: Duration) -> bool {
    count.fetch_add(1, Ordering::AcqRel);
    let until = Instant::now() + limit;
    while count.load(Ordering::Acquire) < 2 {
        if Instant::now() > until {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

fn mutual_free(shared_io: bool) {
    let _turn = pool_turn(shared_io);
    let d = DevServer::start(&[]);
    let url = d.url.clone();
    within(Duration::from_secs(30), move || {
        let slots: [Arc<Mutex<Option<Session>>>; 2] = Default::default();
        let met = Arc::new(AtomicUsize::new(0));
        let raced = Arc::new(AtomicBool::new(true));
        let freed = Arc::new(AtomicUsize::new(0));
        for me in 0..2 {
            let other = slots[1 - me].clone();
            let (met, raced, freed) = (met.clone(), raced.clone(), freed.clone());
            let once = AtomicBool::new(false);
            let mut c = config(&url);
            c.set_shared_io(shared_io);
            c.set_event_handler(Some(Arc::new(move |e: &Event| {
                if e.kind() != FWASR_EVENT_SEGMENT || once.swap(true, Ordering::AcqRel) {
                    return;
                }
                // Both callbacks run at once, then each frees the other's session.
                if !meet(&met, Duration::from_secs(5)) {
                    raced.store(false, Ordering::Release);
                }
                let session = other.lock().unwrap().take();
                drop(session);
                freed.fetch_add(1, Ordering::AcqRel);
            })));
            *slots[me].lock().unwrap() = Some(Session::open(&c).unwrap());
        }
        for slot in &slots {
            if let Some(s) = slot.lock().unwrap().as_ref() {
                s.push(&audio(600)).unwrap();
            }
        }
        let until = Instant::now() + Duration::from_secs(20);
        while freed.load(Ordering::Acquire) < 2 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            freed.load(Ordering::Acquire),
            2,
            "both callbacks returned from their frees"
        );
        assert!(
            raced.load(Ordering::Acquire),
            "the two callbacks did not run at the same time"
        );
        for slot in &slots {
            assert!(slot.lock().unwrap().is_none());
        }
    });
}

#[test]
fn callbacks_freeing_each_others_sessions_do_not_deadlock() {
    mutual_free(false);
}

#[test]
fn callbacks_freeing_each_others_sessions_on_shared_threads_do_not_deadlock() {
    mutual_free(true);
}

/// What the calls made from inside the callback returned.
#[derive(Default)]
struct Seen {
    finish: Option<Result<(), Error>>,
    push_wait: Option<Result<(), Error>>,
    next_event: Option<bool>,
    took: Duration,
}

fn blocking_calls(shared_io: bool, poll: bool) {
    let _turn = pool_turn(shared_io);
    let d = DevServer::start(&[]);
    let url = d.url.clone();
    within(Duration::from_secs(30), move || {
        let me: Arc<OnceLock<Weak<Session>>> = Arc::new(OnceLock::new());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let pushed = Arc::new(AtomicBool::new(false));
        let (me2, seen2, pushed2) = (me.clone(), seen.clone(), pushed.clone());
        let once = AtomicBool::new(false);
        // Called from the network thread: an event callback, or (poll mode) a log callback.
        let inside = move || {
            if once.swap(true, Ordering::AcqRel) {
                return;
            }
            // The session may connect before open has returned and the test has kept it.
            let until = Instant::now() + Duration::from_secs(5);
            let s = loop {
                if let Some(s) = me2.get().and_then(Weak::upgrade) {
                    break s;
                }
                if Instant::now() > until {
                    return;
                }
                std::thread::yield_now();
            };
            while !pushed2.load(Ordering::Acquire) && Instant::now() < until {
                std::thread::yield_now();
            }
            let t = Instant::now();
            let mut seen = seen2.lock().unwrap();
            // The queue holds 50 ms and is full (this thread cannot send while it is here).
            seen.push_wait = Some(s.push_wait(&audio(50), None));
            seen.next_event = Some(s.next_event(None).is_some());
            seen.finish = Some(s.finish(None));
            seen.took = t.elapsed();
        };
        let mut c: Config = config(&url);
        c.set_shared_io(shared_io);
        c.set_buffer_ms(50).unwrap();
        if poll {
            c.set_log_handler(
                Some(Arc::new(move |_, line: &str| {
                    if line.starts_with("connected") {
                        inside();
                    }
                })),
                FWASR_LOG_INFO,
            );
        } else {
            c.set_event_handler(Some(Arc::new(move |e: &Event| {
                if e.kind() == FWASR_EVENT_CONNECTED {
                    inside();
                }
            })));
        }
        let s = Arc::new(Session::open(&c).unwrap());
        me.set(Arc::downgrade(&s)).unwrap();
        s.push(&audio(50)).unwrap();
        pushed.store(true, Ordering::Release);
        let until = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().finish.is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let seen = seen.lock().unwrap();
        fn state(r: &Option<Result<(), Error>>) -> Option<Result<(), Status>> {
            r.as_ref().map(|r| r.clone().map_err(|e| e.status))
        }
        assert_eq!(state(&seen.push_wait), Some(Err(FWASR_ERR_STATE)));
        assert_eq!(state(&seen.finish), Some(Err(FWASR_ERR_STATE)));
        // Poll mode: nothing is queued yet (CONNECTED follows the log line), and the call
        // returned at once instead of waiting. Callback mode: never an event to poll.
        assert_eq!(seen.next_event, Some(false));
        assert!(
            seen.took < Duration::from_secs(2),
            "the calls took {:?}",
            seen.took
        );
        drop(seen);
        // finish started from the callback: the session ends with the whole transcript.
        s.finish(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(s.transcript(), "0.05 s of audio received");
        let t = Instant::now();
        drop(s);
        assert!(t.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn blocking_calls_in_a_callback_return_instead_of_hanging() {
    blocking_calls(false, false);
}

#[test]
fn blocking_calls_in_a_callback_on_a_shared_thread_return_instead_of_hanging() {
    blocking_calls(true, false);
}

#[test]
fn blocking_calls_in_a_log_callback_of_a_poll_session_return_instead_of_hanging() {
    blocking_calls(false, true);
    blocking_calls(true, true);
}
