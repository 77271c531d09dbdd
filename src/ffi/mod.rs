//! The C API. Only pointer conversion, argument checks, the panic boundary and error mapping
//! live here; the behaviour is in the safe core. Every export goes through `status` or
//! `guard`, so no panic crosses into C.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod config;
pub mod event;
mod handles;
pub mod session;

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::*;

/// Room for the last error message, NUL included; longer messages are cut at a character
/// boundary. A fixed buffer, so failing calls (e.g. a full queue on a media thread) do not
/// allocate.
const LAST_ERROR_CAP: usize = 1024;

thread_local! {
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_CAP]> = const { RefCell::new([0; LAST_ERROR_CAP]) };
}

pub(crate) fn set_last_error(e: &Error) {
    let msg = e.message.as_ref();
    let mut n = msg.len().min(LAST_ERROR_CAP - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    LAST_ERROR.with(|l| {
        let mut buf = l.borrow_mut();
        for (dst, src) in buf.iter_mut().zip(&msg.as_bytes()[..n]) {
            // An interior NUL would end the C string early.
            *dst = if *src == 0 { b' ' } else { *src };
        }
        buf[n] = 0;
    });
}

/// Runs `f`; a panic becomes `on_panic` and FWASR_ERR_INTERNAL's message.
pub(crate) fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(&Error::new(
                FWASR_ERR_INTERNAL,
                format!("internal error (caught panic): {what}"),
            ));
            on_panic
        }
    }
}

/// Runs a fallible call: maps its error to a status and the thread's last error.
pub(crate) fn status(f: impl FnOnce() -> Result<(), Error>) -> fwasr_status {
    guard(FWASR_ERR_INTERNAL, || match f() {
        Ok(()) => FWASR_OK,
        Err(e) => {
            set_last_error(&e);
            e.status
        }
    })
}

/// Runs a call returning a value or a default (NULL, 0) with the thread's last error set.
pub(crate) fn value<T>(default: T, f: impl FnOnce() -> Result<T, Error>) -> T
where
    T: Copy,
{
    guard(default, || match f() {
        Ok(v) => v,
        Err(e) => {
            set_last_error(&e);
            default
        }
    })
}

/// A C string argument that must be present.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Error> {
    // SAFETY: the caller passes NULL or a NUL-terminated string that outlives the call.
    unsafe { opt_str(p, name) }?.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// A C string argument where NULL means "none".
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and, per the API contract, NUL-terminated and alive during the call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map(Some)
        .map_err(|_| Error::invalid(format!("{name} is not valid UTF-8")))
}

/// A reference from an object pointer the caller got from us.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller passes NULL or a live pointer returned by the matching _new/_open.
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// A C string from Rust text; interior NULs (possible in server text) are dropped.
pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new(s.replace('\0', "")).expect("NULs removed"))
}

/// Copies `s` into `buf` with snprintf semantics; returns the full length in bytes.
pub(crate) unsafe fn write_buf(s: &str, buf: *mut c_char, cap: usize) -> usize {
    if !buf.is_null() && cap > 0 {
        let n = s.len().min(cap - 1);
        // SAFETY: buf has room for cap bytes (caller's contract); n + 1 <= cap.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    s.len()
}

/// Milliseconds from C: -1 waits forever; other negatives are refused.
pub(crate) fn timeout_arg(ms: i32, name: &str) -> Result<Option<std::time::Duration>, Error> {
    match ms {
        -1 => Ok(None),
        m if m >= 0 => Ok(Some(std::time::Duration::from_millis(m as u64))),
        m => Err(Error::invalid(format!(
            "{name} must be -1 (forever) or >= 0, got {m}"
        ))),
    }
}

/// The static name of a status, e.g. "FWASR_ERR_TIMEOUT"; "FWASR_UNKNOWN_STATUS" for numbers
/// that are not a status. Never NULL; any thread; never blocks.
#[no_mangle]
pub extern "C" fn fwasr_status_str(status: c_int) -> *const c_char {
    guard(c"FWASR_UNKNOWN_STATUS".as_ptr(), || {
        fwasr_status::from_i32(status)
            .map_or(c"FWASR_UNKNOWN_STATUS", fwasr_status::c_name)
            .as_ptr()
    })
}

/// The message of the last failed fwasr call on the calling thread ("" if none failed yet).
/// Owned by the library; valid until the next failing fwasr call on this thread. Never NULL.
#[no_mangle]
pub extern "C" fn fwasr_last_error() -> *const c_char {
    guard(c"".as_ptr(), || {
        LAST_ERROR.with(|l| l.as_ptr().cast::<c_char>().cast_const())
    })
}

/// The library's version, e.g. "0.1.0". Static; never NULL.
#[no_mangle]
pub extern "C" fn fwasr_version() -> *const c_char {
    guard(c"".as_ptr(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: fwasr_last_error returns a live NUL-terminated string.
        unsafe { CStr::from_ptr(fwasr_last_error()) }
            .to_str()
            .unwrap()
            .to_string()
    }

    /// The boundary every export goes through: a panic inside becomes FWASR_ERR_INTERNAL (or
    /// the call's default value) with a message, and does not unwind into the caller.
    #[test]
    fn panics_become_internal_errors() {
        assert_eq!(status(|| panic!("injected")), FWASR_ERR_INTERNAL);
        assert!(last_error().contains("injected"), "{}", last_error());
        assert_eq!(value(7usize, || -> Result<usize, Error> { panic!("again") }), 7);
        assert!(last_error().contains("again"));
        assert!(guard(std::ptr::null::<u8>(), || panic!("third")).is_null());
    }

    /// The one export pattern: every exported function's body is a single call of a
    /// boundary helper (`guard`, `status`, `value`, or the config's `with`, which is
    /// `status`), so no work happens outside the panic guard.
    #[test]
    fn every_export_runs_inside_the_panic_guard() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("config.rs"),
            include_str!("event.rs"),
            include_str!("session.rs"),
        ];
        let mut exports = 0;
        for src in sources {
            for (i, _) in src.match_indices("extern \"C\" fn ") {
                let body = &src[i + src[i..].find("{\n").expect("a body") + 2..];
                let first = body
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with("//"))
                    .expect("a statement");
                let name = &src[i + 14..i + src[i..].find('(').unwrap()];
                let allowed = [
                    "guard(",
                    "status(",
                    "value(",
                    "with(",
                    "unsafe { with(",
                    "unsafe {",
                ];
                assert!(
                    allowed.iter().any(|a| first.starts_with(a)),
                    "{name} starts with `{first}`, outside the panic guard"
                );
                if first == "unsafe {" {
                    let next = body
                        .lines()
                        .map(str::trim)
                        .find(|l| l.starts_with("with(") || l.starts_with("status("));
                    assert!(
                        next.is_some(),
                        "{name}: an unsafe block that is not a guarded call"
                    );
                }
                exports += 1;
            }
        }
        assert!(exports > 40, "{exports} exports found");
    }

    #[test]
    fn last_error_is_cut_at_a_character_boundary() {
        set_last_error(&Error::invalid("é".repeat(1000)));
        let e = last_error();
        assert!(e.len() < LAST_ERROR_CAP && e.chars().all(|c| c == 'é'));
        set_last_error(&Error::invalid("a\0b"));
        assert_eq!(last_error(), "a b");
    }
}
