//! One status enum with stable numbers, shared by the Rust core and the C API.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The result of every fallible fwasr call. `FWASR_OK` is 0; the numbers never change.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum fwasr_status {
    /// Success.
    FWASR_OK = 0,
    /// An argument was NULL, not UTF-8, or out of range; the message names it.
    FWASR_ERR_INVALID_ARGUMENT = 1,
    /// The call is not allowed in the session's current state (e.g. push after finish).
    FWASR_ERR_STATE = 2,
    /// The outgoing audio queue has no room for this push; nothing was taken.
    FWASR_ERR_BUFFER_FULL = 3,
    /// A wait ran out of time (wait_ready, push_wait, finish, the final transcript).
    FWASR_ERR_TIMEOUT = 4,
    /// The server's host name could not be resolved.
    FWASR_ERR_RESOLVE = 5,
    /// The TCP connection was refused or the network is unreachable.
    FWASR_ERR_CONNECT = 6,
    /// The connection (TCP, TLS and WebSocket upgrade) was not up within the connect timeout.
    FWASR_ERR_CONNECT_TIMEOUT = 7,
    /// TLS failed: certificate not trusted, wrong host name, handshake error.
    FWASR_ERR_TLS = 8,
    /// The server refused the WebSocket upgrade; `code` is the HTTP status, the message has the body.
    FWASR_ERR_HANDSHAKE = 9,
    /// The server refused the API key (HTTP 401 or 403 at the upgrade).
    FWASR_ERR_AUTH = 10,
    /// The server sent something that is not a known protocol message.
    FWASR_ERR_PROTOCOL = 11,
    /// The server reported an error in a JSON message.
    FWASR_ERR_SERVER = 12,
    /// The server closed the WebSocket before the session finished; `code` is the close code.
    FWASR_ERR_CLOSED = 13,
    /// The connection broke (reset, closed without a close frame, read or write error).
    FWASR_ERR_IO = 14,
    /// Another thread is pushing to this session at the same time.
    FWASR_ERR_BUSY = 15,
    /// A bug in fwasr (a caught panic). The session is no longer usable.
    FWASR_ERR_INTERNAL = 16,
    /// The system ran out of something the session needs: file descriptors, memory, threads.
    /// Not a bug; closing other sessions or files, or raising the limit, lets a new one open.
    FWASR_ERR_RESOURCE = 17,
}

pub use fwasr_status::*;

crate::c_enum::c_enum!(
    fwasr_status,
    "FWASR_",
    [
        FWASR_OK,
        FWASR_ERR_INVALID_ARGUMENT,
        FWASR_ERR_STATE,
        FWASR_ERR_BUFFER_FULL,
        FWASR_ERR_TIMEOUT,
        FWASR_ERR_RESOLVE,
        FWASR_ERR_CONNECT,
        FWASR_ERR_CONNECT_TIMEOUT,
        FWASR_ERR_TLS,
        FWASR_ERR_HANDSHAKE,
        FWASR_ERR_AUTH,
        FWASR_ERR_PROTOCOL,
        FWASR_ERR_SERVER,
        FWASR_ERR_CLOSED,
        FWASR_ERR_IO,
        FWASR_ERR_BUSY,
        FWASR_ERR_INTERNAL,
        FWASR_ERR_RESOURCE,
    ]
);

pub type Status = fwasr_status;

/// An error: a status, an optional numeric detail (HTTP status or WebSocket close code) and a
/// message a person can act on. Messages never contain the API key. Fixed messages are
/// static, so the push path can fail without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    /// HTTP status of a refused upgrade, or close code of a close; 0 when not applicable.
    pub code: i32,
    pub message: Cow<'static, str>,
    /// How long the server asked to wait before trying again (its `Retry-After`, capped at
    /// RETRY_AFTER_MAX), when it refused with one.
    pub retry_after: Option<Duration>,
}

/// The longest `Retry-After` a reconnect honours: a server asking for more is waited for
/// this long (the budget's next attempt then finds out whether it still refuses).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(120);

impl Error {
    pub fn new(status: Status, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            status,
            code: 0,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_code(status: Status, code: i32, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(FWASR_ERR_INVALID_ARGUMENT, message)
    }

    /// An operating-system failure while `doing` something: FWASR_ERR_RESOURCE when the
    /// system ran out of descriptors, memory or threads, else `otherwise`.
    pub(crate) fn os(otherwise: Status, doing: &str, e: &std::io::Error) -> Error {
        let status = if exhausted(e) {
            FWASR_ERR_RESOURCE
        } else {
            otherwise
        };
        Error::new(status, format!("{doing}: {e}"))
    }
}

/// Whether `e` says the system ran out of descriptors, memory or threads: a condition the
/// host can act on, not a bug. std has no kind for most of these, so the OS's own numbers
/// are listed, per platform family; elsewhere only out-of-memory is recognised.
pub(crate) fn exhausted(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::OutOfMemory
        || e.raw_os_error().is_some_and(|code| EXHAUSTED.contains(&code))
}

/// EMFILE, ENFILE, ENOMEM, ENOBUFS, and EAGAIN (what thread creation fails with).
#[cfg(unix)]
const EXHAUSTED: [i32; 5] = [
    libc::EMFILE,
    libc::ENFILE,
    libc::ENOMEM,
    libc::ENOBUFS,
    libc::EAGAIN,
];
/// ERROR_TOO_MANY_OPEN_FILES, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY, WSAEMFILE, WSAENOBUFS.
#[cfg(windows)]
const EXHAUSTED: [i32; 5] = [4, 8, 14, 10024, 10055];
#[cfg(not(any(unix, windows)))]
const EXHAUSTED: [i32; 0] = [];

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_or_memory_is_a_resource_error() {
        let emfile = std::io::Error::from_raw_os_error(EXHAUSTED[0]);
        assert!(exhausted(&emfile));
        let oom = std::io::Error::from(std::io::ErrorKind::OutOfMemory);
        assert_eq!(Error::os(FWASR_ERR_IO, "x", &oom).status, FWASR_ERR_RESOURCE);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(Error::os(FWASR_ERR_IO, "x", &refused).status, FWASR_ERR_IO);
    }

    #[test]
    fn numbers_are_dense_and_stable() {
        for (i, s) in fwasr_status::ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            assert_eq!(fwasr_status::from_i32(i as i32), Some(*s));
        }
        assert_eq!(fwasr_status::from_i32(-1), None);
        assert_eq!(fwasr_status::from_i32(18), None);
        assert_eq!(FWASR_ERR_INTERNAL as i32, 16);
        assert_eq!(FWASR_ERR_RESOURCE as i32, 17);
    }
}
