//! Name resolution off the network thread. The system resolver blocks, on every OS, and has no
//! timeout of ours, so lookups run on a few threads shared by the whole process
//! (RESOLVER_THREADS; more lookups wait their turn), each waking its session when the answer
//! is there. A session has at most one lookup in flight: a reconnect joins the one still
//! running instead of starting another, and dials the addresses that resolved last while a
//! fresh lookup runs. A session that gives up on a lookup (its deadline, a free) leaves it
//! behind holding nothing of the session but a weak wake-up; a lookup still queued when its
//! session is gone is skipped.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::error::*;

/// Called by the resolver thread once the answer is there. It must not keep the session
/// alive (hold it weakly): a lookup may outlive its session by the resolver's own timeout.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Resolver threads per process: the most lookups in flight at once, whatever the number of
/// sessions and reconnects.
pub(crate) const RESOLVER_THREADS: usize = 4;

/// One lookup, shared by its session and the resolver thread.
struct Answer {
    result: Mutex<Option<io::Result<Vec<SocketAddr>>>>,
    wake: Mutex<Option<Wake>>,
    /// Nobody waits for it any more: skipped if still queued.
    abandoned: AtomicBool,
}

struct Job {
    host: String,
    port: u16,
    answer: Arc<Answer>,
}

static JOBS: OnceLock<Sender<Job>> = OnceLock::new();
static JOBS_START: Mutex<()> = Mutex::new(());

/// The queue of the resolver threads, started by the first lookup that needs them.
fn jobs() -> Result<&'static Sender<Job>, Error> {
    if let Some(tx) = JOBS.get() {
        return Ok(tx);
    }
    let _starting = JOBS_START.lock();
    if let Some(tx) = JOBS.get() {
        return Ok(tx);
    }
    let (tx, rx) = crossbeam_channel::unbounded::<Job>();
    let mut started = 0;
    let mut failure = None;
    for i in 0..RESOLVER_THREADS {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("fwasr-resolve-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                for job in rx.iter() {
                    if job.answer.abandoned.load(Ordering::Acquire) {
                        continue;
                    }
                    let found = (job.host.as_str(), job.port)
                        .to_socket_addrs()
                        .map(Iterator::collect::<Vec<_>>);
                    *job.answer.result.lock() = Some(found);
                    let wake = job.answer.wake.lock().clone();
                    if let Some(wake) = wake {
                        wake();
                    }
                }
            });
        match spawned {
            Ok(_) => started += 1,
            Err(e) => failure = Some(e),
        }
    }
    if started == 0 {
        let e = failure.expect("no thread started, so one failed");
        return Err(Error::os(
            FWASR_ERR_RESOURCE,
            "cannot start a resolver thread",
            &e,
        ));
    }
    Ok(JOBS.get_or_init(|| tx))
}

/// A session's name resolution across its connections.
pub struct Resolver {
    host: String,
    port: u16,
    in_flight: Option<Arc<Answer>>,
    /// The addresses of the last answer, dialed at once by the next connection.
    last: Vec<SocketAddr>,
}

impl Resolver {
    pub fn new(host: &str, port: u16) -> Resolver {
        Resolver {
            host: host.to_string(),
            port,
            in_flight: None,
            last: Vec::new(),
        }
    }

    /// The addresses for a new connection: an IP address at once; the last answer at once
    /// (a fresh lookup starts behind it for the next connection); otherwise the lookup in
    /// flight, or a new one.
    pub fn lookup(&mut self, wake: Wake) -> Result<Lookup, Error> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(self.ready(vec![SocketAddr::new(ip, self.port)]));
        }
        let done = self.in_flight.as_ref().and_then(|a| a.result.lock().take());
        if let Some(found) = done {
            self.in_flight = None;
            if let Ok(addrs) = found {
                if !addrs.is_empty() {
                    self.last = addrs;
                }
            }
        }
        let answer = match &self.in_flight {
            Some(answer) => {
                *answer.wake.lock() = Some(wake);
                answer.clone()
            }
            None => {
                let answer = Arc::new(Answer {
                    result: Mutex::new(None),
                    wake: Mutex::new(Some(wake)),
                    abandoned: AtomicBool::new(false),
                });
                let job = Job {
                    host: self.host.clone(),
                    port: self.port,
                    answer: answer.clone(),
                };
                jobs()?
                    .send(job)
                    .map_err(|_| Error::new(FWASR_ERR_INTERNAL, "the resolver threads are gone"))?;
                self.in_flight = Some(answer.clone());
                answer
            }
        };
        if !self.last.is_empty() {
            // The fresh answer serves the next connection; this one needs no wake-up.
            *answer.wake.lock() = None;
            return Ok(self.ready(self.last.clone()));
        }
        Ok(Lookup {
            host: self.host.clone(),
            state: State::Pending(answer),
        })
    }

    fn ready(&self, addrs: Vec<SocketAddr>) -> Lookup {
        Lookup {
            host: self.host.clone(),
            state: State::Ready(addrs),
        }
    }

    /// The session is done with name resolution: a lookup still queued is skipped.
    pub fn abandon(&mut self) {
        if let Some(answer) = self.in_flight.take() {
            answer.abandoned.store(true, Ordering::Release);
            *answer.wake.lock() = None;
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The addresses of one connection attempt, once they are there.
pub struct Lookup {
    host: String,
    state: State,
}

enum State {
    Ready(Vec<SocketAddr>),
    Pending(Arc<Answer>),
    Taken,
}

impl Lookup {
    /// The addresses, once the answer is there (None before).
    pub fn poll(&mut self) -> Option<Result<Vec<SocketAddr>, Error>> {
        let found = match std::mem::replace(&mut self.state, State::Taken) {
            State::Ready(addrs) => Ok(addrs),
            State::Pending(answer) => {
                let result = answer.result.lock().as_ref().map(|r| match r {
                    Ok(addrs) => Ok(addrs.clone()),
                    Err(e) => Err(Error::new(
                        FWASR_ERR_RESOLVE,
                        format!("cannot resolve '{}': {e}", self.host),
                    )),
                });
                match result {
                    Some(r) => r,
                    None => {
                        self.state = State::Pending(answer);
                        return None;
                    }
                }
            }
            State::Taken => return None,
        };
        Some(found.and_then(|addrs| {
            if addrs.is_empty() {
                Err(Error::new(
                    FWASR_ERR_RESOLVE,
                    format!("'{}' has no address", self.host),
                ))
            } else {
                Ok(addrs)
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(l: &Lookup) -> Option<&Arc<Answer>> {
        match &l.state {
            State::Pending(a) => Some(a),
            _ => None,
        }
    }

    #[test]
    fn one_lookup_in_flight_and_the_last_answer_first() {
        let mut r = Resolver::new("localhost", 9);
        let wake: Wake = Arc::new(|| {});
        let mut first = r.lookup(wake.clone()).unwrap();
        // A second connection while the first lookup runs joins it.
        let second = r.lookup(wake.clone()).unwrap();
        if let (Some(a), Some(b)) = (pending(&first), pending(&second)) {
            assert!(Arc::ptr_eq(a, b), "one lookup in flight");
        }
        // Only a guard against a lookup that never ends, not a speed test: under Wine, on a
        // loaded machine, a lookup of localhost once took more than 10 s.
        let start = std::time::Instant::now();
        let addrs = loop {
            if let Some(found) = first.poll() {
                break found.unwrap();
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(120),
                "no answer for localhost after {:?}",
                start.elapsed()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        // The next connection dials those at once; a fresh lookup runs behind it.
        let mut third = r.lookup(wake).unwrap();
        assert_eq!(third.poll().unwrap().unwrap(), addrs);
        assert!(r.in_flight.is_some(), "a fresh lookup for the one after");
        let answer = r.in_flight.clone().unwrap();
        drop(r);
        assert!(
            answer.abandoned.load(Ordering::Acquire),
            "dropped with its session"
        );
    }
}
