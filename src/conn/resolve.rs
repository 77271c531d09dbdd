//! Name resolution off the network thread. The system resolver blocks, on every OS, and has no
//! timeout of ours: it runs on a thread of its own, which wakes the session when it has an
//! answer. The session gives up on it at its deadline, and a free does not wait for it; a
//! lookup still running then ends by itself and its answer is dropped.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};

use crate::error::*;

/// Called by the lookup's thread once the answer is there.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

pub struct Lookup {
    host: String,
    state: State,
}

enum State {
    Ready(Vec<SocketAddr>),
    Pending(Receiver<io::Result<Vec<SocketAddr>>>),
    Taken,
}

impl Lookup {
    /// Starts resolving `host`; an IP address needs no lookup.
    pub fn start(host: &str, port: u16, wake: Wake) -> Result<Lookup, Error> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Lookup {
                host: host.to_string(),
                state: State::Ready(vec![SocketAddr::new(ip, port)]),
            });
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let name = host.to_string();
        std::thread::Builder::new()
            .name("fwasr-resolve".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let found = (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect::<Vec<_>>);
                let _ = tx.send(found);
                wake();
            })
            .map_err(|e| Error::os(FWASR_ERR_RESOURCE, "cannot start a name lookup", &e))?;
        Ok(Lookup {
            host: host.to_string(),
            state: State::Pending(rx),
        })
    }

    /// The addresses, once the answer is there (None before).
    pub fn poll(&mut self) -> Option<Result<Vec<SocketAddr>, Error>> {
        let found = match std::mem::replace(&mut self.state, State::Taken) {
            State::Ready(addrs) => Ok(addrs),
            State::Pending(rx) => match rx.try_recv() {
                Ok(found) => found.map_err(|e| {
                    Error::new(FWASR_ERR_RESOLVE, format!("cannot resolve '{}': {e}", self.host))
                }),
                Err(TryRecvError::Empty) => {
                    self.state = State::Pending(rx);
                    return None;
                }
                Err(TryRecvError::Disconnected) => Err(Error::new(
                    FWASR_ERR_RESOLVE,
                    format!("the lookup of '{}' ended without an answer", self.host),
                )),
            },
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
