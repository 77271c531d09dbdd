//! The operating-system specifics of the network thread, kept in one place so a port touches
//! one file: the wake-up descriptor (eventfd on Linux), poll(2) and epoll(7), and a
//! non-blocking connect.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Whether `e` says the system ran out of descriptors, memory or threads (a condition the
/// host can act on, not a bug).
pub fn exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS | libc::EAGAIN)
    ) || e.kind() == io::ErrorKind::OutOfMemory
}

/// A descriptor other threads make readable to wake the network thread out of `poll`.
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just created and is owned by nobody else.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the descriptor readable. One write; never blocks (the counter saturating at
    /// 2^64-2 pending wakes only fails with EAGAIN, which still leaves it readable).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own descriptor.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Resets the descriptor to not readable.
    pub fn drain(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from our own non-blocking descriptor.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }
}

/// An epoll set. Descriptors are registered once, with a token that comes back with their
/// readiness.
pub struct Epoll {
    ep: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is ours.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: ep was just created and is owned by nobody else.
        Ok(Epoll {
            ep: unsafe { OwnedFd::from_raw_fd(ep) },
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a live epoll_event; both descriptors are open.
        if unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches `fd` for input (and output when `write`); `edge` reports each new readiness
    /// once instead of for as long as it lasts.
    pub fn add(&self, fd: RawFd, write: bool, edge: bool, token: u64) -> io::Result<()> {
        let events =
            libc::EPOLLIN | if write { libc::EPOLLOUT } else { 0 } | if edge { libc::EPOLLET } else { 0 };
        self.ctl(libc::EPOLL_CTL_ADD, fd, events as u32, token)
    }

    /// Changes whether input and output readiness of a level-triggered `fd` are watched.
    pub fn set_interest(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let events =
            if interest.read { libc::EPOLLIN } else { 0 } | if interest.write { libc::EPOLLOUT } else { 0 };
        self.ctl(libc::EPOLL_CTL_MOD, fd, events as u32, token)
    }

    pub fn remove(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Sleeps until something registered is ready or the timeout passes (`None` = no
    /// timeout); returns the ready entries of `events` (none on EINTR), to be read with
    /// `readiness`.
    pub fn wait<'e>(
        &self,
        events: &'e mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<&'e [libc::epoll_event]> {
        // Round up so a deadline 0.3 ms away does not turn into a busy loop of zero timeouts.
        let ms = timeout.map_or(-1, |t| {
            i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        });
        let cap = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: events is a live array of at least `cap` epoll_event.
        let n = unsafe { libc::epoll_wait(self.ep.as_raw_fd(), events.as_mut_ptr(), cap, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(&[]);
            }
            return Err(e);
        }
        Ok(&events[..n as usize])
    }
}

/// What a socket is watched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

impl Default for Interest {
    fn default() -> Self {
        Interest {
            read: true,
            write: false,
        }
    }
}

/// The token of a ready entry and whether its descriptor is readable and writable. Errors and
/// hang-ups count as both, so the next read or write reports them.
pub fn readiness(ev: &libc::epoll_event) -> (u64, bool, bool) {
    let (bits, token) = (ev.events, ev.u64);
    let err = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
    (
        token,
        bits & (libc::EPOLLIN as u32 | err) != 0,
        bits & (libc::EPOLLOUT as u32 | err) != 0,
    )
}

/// The streaming loop's wait: an epoll set holding the waker and one socket. Against `wait`
/// (poll) it saves work on every wake-up, which matters at one wake-up per 50 ms chunk per
/// session: the set is registered once instead of per call, and the waker is edge-triggered,
/// so it is never drained (each `wake` reports once): a chunk costs one epoll_wait and one
/// send, the same two system calls as the bare minimum (a timed sleep and a write).
pub struct Poller {
    ep: Epoll,
    sock: RawFd,
    interest: Interest,
    events: [libc::epoll_event; 2],
}

const WAKER: u64 = 0;
const SOCKET: u64 = 1;

impl Poller {
    pub fn new(waker: &Waker, sock: RawFd) -> io::Result<Poller> {
        let ep = Epoll::new()?;
        ep.add(waker.raw_fd(), false, true, WAKER)?;
        ep.add(sock, false, false, SOCKET)?;
        Ok(Poller {
            ep,
            sock,
            interest: Interest::default(),
            events: [libc::epoll_event { events: 0, u64: 0 }; 2],
        })
    }

    /// Sleeps until woken, the socket is ready as `interest` says, or the timeout passes
    /// (`None` = no timeout). EINTR counts as a spurious wake-up.
    pub fn wait(&mut self, interest: Interest, timeout: Option<Duration>) -> io::Result<Ready> {
        if interest != self.interest {
            self.ep.set_interest(self.sock, interest, SOCKET)?;
            self.interest = interest;
        }
        let mut ready = Ready::default();
        for ev in self.ep.wait(&mut self.events, timeout)? {
            match readiness(ev) {
                (WAKER, ..) => ready.woken = true,
                (_, readable, writable) => {
                    ready.readable |= readable;
                    ready.writable |= writable;
                }
            }
        }
        Ok(ready)
    }
}

/// What `wait` found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    pub woken: bool,
    pub readable: bool,
    pub writable: bool,
}

/// Sleeps until the waker fires, the socket is ready as asked, or the timeout passes
/// (`None` = no timeout). EINTR counts as a spurious wake-up.
pub fn wait(
    waker: &Waker,
    sock: Option<(RawFd, bool, bool)>,
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: waker.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        },
    ];
    if let Some((fd, read, write)) = sock {
        fds[1].fd = fd;
        fds[1].events = if read { libc::POLLIN } else { 0 } | if write { libc::POLLOUT } else { 0 };
    }
    // Round up so a deadline 0.3 ms away does not turn into a busy loop of zero timeouts.
    let ms = timeout.map_or(-1, |t| {
        i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    // SAFETY: fds is a live array of 2 pollfd; poll ignores entries with a negative fd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready::default());
        }
        return Err(e);
    }
    let err = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    let r = fds[1].revents;
    Ok(Ready {
        woken: fds[0].revents & libc::POLLIN != 0,
        // Errors and hang-ups count as ready so the next read or write reports them.
        readable: r & (libc::POLLIN | err) != 0,
        writable: r & (libc::POLLOUT | err) != 0,
    })
}

/// Starts a TCP connect without blocking. The stream is non-blocking; it is connected once
/// writable and `take_error` reports nothing.
pub fn connect_nonblocking(addr: &SocketAddr) -> io::Result<TcpStream> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket takes no pointers.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new socket nobody else owns; TcpStream closes it on drop.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a valid sockaddr of `len` bytes for the socket's family.
    let rc = unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(stream)
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr type.
            let sin =
                unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above.
            let sin6 =
                unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
