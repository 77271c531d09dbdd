//! Happy Eyeballs (RFC 8305) for the TCP connect: every resolved address, the two families
//! interleaved, the next attempt started 250 ms after the previous one (at once when one
//! fails), the first connection up wins and the others are closed. A broken route (a family
//! whose packets vanish, a host that drops SYNs) costs 250 ms instead of the connect timeout.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::error::*;

/// RFC 8305's recommended "Connection Attempt Delay".
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The addresses in the order to try them: the family of the first one first, then the
/// families taking turns (RFC 8305, section 4), each keeping the resolver's order.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> VecDeque<SocketAddr> {
    let Some(first) = addrs.first().copied() else {
        return VecDeque::new();
    };
    let (mut same, mut other): (VecDeque<_>, VecDeque<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first.is_ipv6());
    let mut out = VecDeque::with_capacity(same.len() + other.len());
    loop {
        match (same.pop_front(), other.pop_front()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// TCP connects racing to be the connection.
pub(crate) struct Race {
    /// Not tried yet, in order.
    pending: VecDeque<SocketAddr>,
    /// In flight.
    attempts: Vec<(SocketAddr, TcpStream)>,
    /// Tried and failed, with how.
    failures: Vec<(SocketAddr, String)>,
    /// When the next attempt starts if none succeeds or fails before.
    next_at: Instant,
    /// The destination, for the error when every address fails.
    dest: String,
}

/// Where a race stands after a look.
pub(crate) enum Standing {
    Won(TcpStream),
    Running,
    /// Every address failed; the error names each and how.
    Lost(Error),
}

impl Race {
    /// A race to `addrs`; `dest` names the destination in errors.
    pub fn new(addrs: Vec<SocketAddr>, dest: String, now: Instant) -> Race {
        Race {
            pending: interleave(addrs),
            attempts: Vec::new(),
            failures: Vec::new(),
            next_at: now,
            dest,
        }
    }

    /// Looks at the attempts in flight and starts the next when it is due.
    pub fn advance(&mut self, registry: &Registry, token: Token, now: Instant) -> Standing {
        let mut i = 0;
        while i < self.attempts.len() {
            match connect_state(&self.attempts[i].1) {
                Ok(false) => i += 1,
                Ok(true) => {
                    let (_, tcp) = self.attempts.swap_remove(i);
                    self.cancel(registry);
                    return Standing::Won(tcp);
                }
                Err(e) => {
                    let (addr, mut tcp) = self.attempts.swap_remove(i);
                    let _ = registry.deregister(&mut tcp);
                    self.failures.push((addr, e.to_string()));
                    // A failure starts the next attempt at once.
                    self.next_at = now;
                }
            }
        }
        while (self.attempts.is_empty() || now >= self.next_at) && !self.pending.is_empty() {
            let addr = self.pending.pop_front().expect("not empty");
            let started = TcpStream::connect(addr).and_then(|mut tcp| {
                registry.register(&mut tcp, token, Interest::READABLE | Interest::WRITABLE)?;
                Ok(tcp)
            });
            match started {
                Ok(tcp) => {
                    self.attempts.push((addr, tcp));
                    self.next_at = now + ATTEMPT_DELAY;
                }
                Err(e) if exhausted(&e) => {
                    self.cancel(registry);
                    return Standing::Lost(Error::os(FWASR_ERR_RESOURCE, "cannot open a socket", &e));
                }
                Err(e) => self.failures.push((addr, e.to_string())),
            }
        }
        if self.attempts.is_empty() {
            return Standing::Lost(Error::new(
                FWASR_ERR_CONNECT,
                format!("cannot connect to {}: {}", self.dest, self.tried()),
            ));
        }
        Standing::Running
    }

    /// When the next attempt starts, while one is left to start.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.pending.is_empty()).then_some(self.next_at)
    }

    /// Every address tried and how it went ("no answer yet" for those still in flight).
    pub fn tried(&self) -> String {
        let failed = self.failures.iter().map(|(a, e)| format!("{a}: {e}"));
        let waiting = self.attempts.iter().map(|(a, _)| format!("{a}: no answer"));
        let untried = (!self.pending.is_empty()).then(|| format!("{} more not tried", self.pending.len()));
        failed
            .chain(waiting)
            .chain(untried)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Stops watching every attempt in flight.
    pub fn cancel(&mut self, registry: &Registry) {
        for (_, tcp) in &mut self.attempts {
            let _ = registry.deregister(tcp);
        }
        self.attempts.clear();
    }
}

/// Whether a non-blocking connect is done: Ok(true) connected, Ok(false) still going.
fn connect_state(tcp: &TcpStream) -> io::Result<bool> {
    if let Some(e) = tcp.take_error()? {
        return Err(e);
    }
    match tcp.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn families_take_turns_starting_with_the_first() {
        let got: Vec<SocketAddr> = interleave(vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("10.0.0.1:1"),
            a("10.0.0.2:1"),
        ])
        .into();
        let want = ["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1", "[::3]:1"].map(a);
        assert_eq!(got, want);
        let got: Vec<SocketAddr> = interleave(vec![a("10.0.0.1:1"), a("[::1]:1"), a("10.0.0.2:1")]).into();
        assert_eq!(got, ["10.0.0.1:1", "[::1]:1", "10.0.0.2:1"].map(a));
        assert!(interleave(Vec::new()).is_empty());
    }

    /// Races until one wins; how long it took.
    fn win(addrs: Vec<SocketAddr>) -> (TcpStream, Duration) {
        let poll = mio::Poll::new().unwrap();
        let t = Instant::now();
        let mut race = Race::new(addrs, "test".into(), t);
        loop {
            match race.advance(poll.registry(), Token(0), Instant::now()) {
                Standing::Won(tcp) => return (tcp, t.elapsed()),
                Standing::Running => {}
                Standing::Lost(e) => panic!("{e}"),
            }
            assert!(t.elapsed() < Duration::from_secs(5), "{}", race.tried());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A listener whose queue is full: the kernel drops further SYNs, as a broken route or a
    /// firewall does, so a connect to it neither succeeds nor fails.
    #[cfg(target_os = "linux")]
    fn blackhole() -> (Vec<std::net::TcpStream>, std::os::fd::OwnedFd, SocketAddr) {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: plain socket calls on a descriptor this function owns.
        let fd = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0);
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len), 0);
            assert_eq!(libc::listen(fd, 0), 0);
            OwnedFd::from_raw_fd(fd)
        };
        // SAFETY: a bound socket's name into a sockaddr_in of the right size.
        let port = unsafe {
            use std::os::fd::AsRawFd;
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in).cast(),
                &mut len,
            );
            u16::from_be(sa.sin_port)
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Fill the queue; what does not fit hangs, which is what the race meets next.
        let fill = (0..3)
            .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
            .collect();
        (fill, fd, addr)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_silent_address_costs_the_attempt_delay_not_the_connect_timeout() {
        let (_fill, _hole, hole) = blackhole();
        // Alone, the hole holds a connect without an answer either way.
        let poll = mio::Poll::new().unwrap();
        let mut alone = Race::new(vec![hole], "test".into(), Instant::now());
        for _ in 0..30 {
            let standing = alone.advance(poll.registry(), Token(0), Instant::now());
            assert!(matches!(standing, Standing::Running), "{}", alone.tried());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(alone.tried(), format!("{hole}: no answer"));
        alone.cancel(poll.registry());
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (won, took) = win(vec![hole, server.local_addr().unwrap()]);
        assert_eq!(won.peer_addr().unwrap(), server.local_addr().unwrap());
        assert!(took >= ATTEMPT_DELAY, "{took:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }

    #[test]
    fn a_refused_address_moves_on_at_once() {
        let poll = mio::Poll::new().unwrap();
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        // 127.0.0.2 has no listener on that port: refused.
        let (won, _) = win(vec![
            a(&format!("127.0.0.2:{port}")),
            server.local_addr().unwrap(),
        ]);
        assert_eq!(won.peer_addr().unwrap(), server.local_addr().unwrap());

        // Two refusing addresses: lost, naming both.
        let mut race = Race::new(
            vec![a(&format!("127.0.0.2:{port}")), a(&format!("127.0.0.3:{port}"))],
            "two.test:1".into(),
            Instant::now(),
        );
        let until = Instant::now() + Duration::from_secs(10);
        let e = loop {
            assert!(Instant::now() < until, "{}", race.tried());
            match race.advance(poll.registry(), Token(0), Instant::now()) {
                Standing::Lost(e) => break e,
                Standing::Running => std::thread::sleep(Duration::from_millis(5)),
                Standing::Won(_) => panic!("nothing listens"),
            }
        };
        assert_eq!(e.status, FWASR_ERR_CONNECT);
        assert!(
            e.message.starts_with("cannot connect to two.test:1: 127.0.0.2:"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains(&format!("; 127.0.0.3:{port}: ")),
            "{}",
            e.message
        );
    }
}
