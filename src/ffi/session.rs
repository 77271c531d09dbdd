//! fwasr_session: one stream and its network thread.
//!
//! Threads: push, push_s16 and push_wait may be called by one thread at a time (the media
//! thread; a second concurrent pusher gets FWASR_ERR_BUSY). Every other call is safe from any
//! thread, concurrently. fwasr_session_free may run while other calls are in progress (they
//! return promptly) and from inside the session's own event callback; a call with a handle
//! that was freed fails cleanly (see src/ffi/handles.rs).

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::audio::{Format, FWASR_FORMAT_F32, FWASR_FORMAT_S16LE};
use crate::error::*;
use crate::ffi::config::{config, fwasr_config};
use crate::ffi::event::{fwasr_event, fwasr_segments, fwasr_stats, write_stats, OwnedEvent};
use crate::ffi::{arg_str, guard, handles, status, timeout_arg, value, write_buf};
use crate::session::{fwasr_state, Session, FWASR_STATE_FAILED};

/// A streaming session. Opaque: a handle (a number, not an address; never dereference it).
/// Open with fwasr_session_open, free with fwasr_session_free.
pub struct fwasr_session {
    _opaque: [u8; 0],
}

/// The session behind a handle, held for the duration of a call.
fn session(s: *const fwasr_session) -> Result<Arc<Session>, Error> {
    if s.is_null() {
        return Err(Error::invalid("session is NULL"));
    }
    handles::SESSIONS
        .get(s.addr())
        .ok_or_else(|| Error::invalid("session is not an open session (it was freed, or never opened)"))
}

/// Checks `cfg` and starts a session: the connection is made on the session's own thread, so
/// this returns at once. Audio pushed before the connection is up is queued, not lost. On
/// success writes the new session to `*out` (free it with fwasr_session_free). Any thread.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_open(
    cfg: *const fwasr_config,
    out: *mut *mut fwasr_session,
) -> fwasr_status {
    status(|| {
        let cfg = config(cfg)?;
        if out.is_null() {
            return Err(Error::invalid("out is NULL"));
        }
        let session = Session::open(&cfg.lock())?;
        let handle = handles::SESSIONS.insert(session)?;
        // SAFETY: out is non-NULL and points to writable storage (caller's contract).
        unsafe { *out = std::ptr::without_provenance_mut(handle) };
        Ok(())
    })
}

/// Blocks until the session is connected (FWASR_OK), has failed (its error, e.g.
/// FWASR_ERR_AUTH with the HTTP status in the CLOSED event), or `timeout_ms` passes
/// (FWASR_ERR_TIMEOUT; -1 waits for ever). Optional: pushing does not need it. Inside a
/// callback it does not wait (see fwasr_event_fn).
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_wait_ready(s: *const fwasr_session, timeout_ms: i32) -> fwasr_status {
    // SAFETY: checked by the helpers.
    status(|| session(s)?.wait_ready(timeout_arg(timeout_ms, "timeout_ms")?))
}

/// Queues `nbytes` of audio in the configured input format (16 kHz mono s16le by default; any
/// length: a partial frame waits for the rest in the next push). The bytes are copied; the
/// network thread converts them to 16 kHz mono s16le. Never blocks, never allocates (also on
/// failure), makes no syscall except one wake-up of the network thread when a 16 kHz chunk
/// completes (or when an overrun begins, so the OVERRUN event is raised). All or nothing: without room it takes nothing, returns FWASR_ERR_BUFFER_FULL,
/// and the session raises one OVERRUN event per overrun. FWASR_ERR_STATE after finish or once
/// the session has ended.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_push(
    s: *const fwasr_session,
    data: *const c_void,
    nbytes: usize,
) -> fwasr_status {
    status(|| {
        // SAFETY: checked by the helpers.
        let s = session(s)?;
        // SAFETY: data points to nbytes readable bytes (caller's contract), checked for NULL.
        s.push(unsafe { bytes(data, nbytes) }?)
    })
}

/// fwasr_session_push for `nsamples` native-endian 16-bit samples (frames x channels).
/// FWASR_ERR_INVALID_ARGUMENT unless the input format is FWASR_FORMAT_S16LE.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_push_s16(
    s: *const fwasr_session,
    samples: *const i16,
    nsamples: usize,
) -> fwasr_status {
    status(|| {
        // SAFETY: checked by the helpers.
        let s = session(s)?;
        expect_format(&s, FWASR_FORMAT_S16LE)?;
        let n = nsamples
            .checked_mul(2)
            .ok_or_else(|| Error::invalid("nsamples is too large"))?;
        #[cfg(target_endian = "little")]
        // SAFETY: samples points to nsamples i16 (caller's contract); on little-endian hosts
        // their bytes are already s16le.
        return s.push(unsafe { bytes(samples.cast(), n) }?);
        #[cfg(target_endian = "big")]
        {
            // SAFETY: as above.
            let raw = unsafe { bytes(samples.cast(), n) }?;
            let le: Vec<u8> = raw.chunks_exact(2).flat_map(|b| [b[1], b[0]]).collect();
            s.push(&le)
        }
    })
}

/// fwasr_session_push for `nsamples` floats (frames x channels), nominally -1.0 to 1.0.
/// FWASR_ERR_INVALID_ARGUMENT unless the input format is FWASR_FORMAT_F32.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_push_f32(
    s: *const fwasr_session,
    samples: *const f32,
    nsamples: usize,
) -> fwasr_status {
    status(|| {
        // SAFETY: checked by the helpers.
        let s = session(s)?;
        expect_format(&s, FWASR_FORMAT_F32)?;
        let n = nsamples
            .checked_mul(4)
            .ok_or_else(|| Error::invalid("nsamples is too large"))?;
        // SAFETY: samples points to nsamples floats (caller's contract); F32 is host order.
        s.push(unsafe { bytes(samples.cast(), n) }?)
    })
}

/// Typed pushes must match the configured input format.
fn expect_format(s: &Session, want: Format) -> Result<(), Error> {
    if s.input_format() == want {
        return Ok(());
    }
    Err(Error::invalid(if want == FWASR_FORMAT_F32 {
        "fwasr_session_push_f32 needs the input format FWASR_FORMAT_F32; use fwasr_session_push"
    } else {
        "fwasr_session_push_s16 needs the input format FWASR_FORMAT_S16LE; use fwasr_session_push"
    }))
}

/// Like fwasr_session_push but waits up to `timeout_ms` (-1 for ever) for room instead of
/// failing with FWASR_ERR_BUFFER_FULL; FWASR_ERR_TIMEOUT if none came. For streaming files
/// with pacing. Raises no OVERRUN. Inside a callback it does not wait (see fwasr_event_fn).
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_push_wait(
    s: *const fwasr_session,
    data: *const c_void,
    nbytes: usize,
    timeout_ms: i32,
) -> fwasr_status {
    status(|| {
        // SAFETY: checked by the helpers.
        let s = session(s)?;
        let t = timeout_arg(timeout_ms, "timeout_ms")?;
        // SAFETY: as in fwasr_session_push.
        s.push_wait(unsafe { bytes(data, nbytes) }?, t)
    })
}

unsafe fn bytes<'a>(data: *const c_void, n: usize) -> Result<&'a [u8], Error> {
    if n == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::invalid("data is NULL"));
    }
    // SAFETY: non-NULL, n readable bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), n) })
}

/// Sends `{"checkpoint_id": id}` after the complete chunks pushed so far (a partial chunk
/// follows it). The server's echo raises CHECKPOINT, once, also when the connection drops
/// before the echo and reconnect is on (see fwasr_config_set_reconnect). "final" is reserved
/// for finish. Checkpoint, trace and clear messages not yet sent are bounded: with 1,024 of
/// them waiting (a server that stopped reading) each of these calls fails with
/// FWASR_ERR_BUFFER_FULL until some have gone out.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_checkpoint(
    s: *const fwasr_session,
    id: *const c_char,
) -> fwasr_status {
    // SAFETY: checked by the helpers.
    status(|| session(s)?.checkpoint(unsafe { arg_str(id, "id") }?))
}

/// Sends an `stt.input.trace` with this trace id; the answer raises TRACE with `rtt_ms`.
/// FWASR_ERR_BUFFER_FULL as for fwasr_session_checkpoint.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_trace(s: *const fwasr_session, id: *const c_char) -> fwasr_status {
    // SAFETY: checked by the helpers.
    status(|| session(s)?.trace(unsafe { arg_str(id, "id") }?))
}

/// Sends an `stt.state.clear` with this reset id: the server forgets the context so far. The
/// answer raises CLEARED. FWASR_ERR_BUFFER_FULL as for fwasr_session_checkpoint.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_clear(s: *const fwasr_session, id: *const c_char) -> fwasr_status {
    // SAFETY: checked by the helpers.
    status(|| session(s)?.clear(unsafe { arg_str(id, "id") }?))
}

/// No more audio: sends what is queued (the last chunk may be short, paced like the others),
/// then the final checkpoint, waits for its echo (up to the config's finish timeout), and
/// closes the WebSocket. This call blocks up to `timeout_ms` (-1 for ever) until the echo:
/// FWASR_OK means the whole transcript is in: the session is CLOSED and has raised CLOSED at
/// the echo, and the WebSocket's close handshake finishes in the background (within 2 s,
/// reporting nothing); FWASR_ERR_TIMEOUT means still finishing (the CLOSED event will tell);
/// another status is the error that ended the session.
/// With `timeout_ms` 0 it only starts finishing and returns FWASR_OK. Calling it again waits
/// again. Later pushes fail with FWASR_ERR_STATE. Inside a callback it starts finishing and
/// does not wait (see fwasr_event_fn).
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_finish(s: *const fwasr_session, timeout_ms: i32) -> fwasr_status {
    // SAFETY: checked by the helpers.
    status(|| session(s)?.finish(timeout_arg(timeout_ms, "timeout_ms")?))
}

/// Poll mode (no event callback set): the next event, or NULL when `timeout_ms` passes (0 =
/// do not wait, for game loops; -1 = for ever) or the session has ended and every event was
/// taken. The event is yours: free it with fwasr_event_free. In callback mode returns NULL at
/// once. Events are kept until taken; a session delivers CLOSED last, exactly once. Inside a
/// callback (e.g. a log callback) it does not wait. While 32 MiB of events (their strings and
/// the server messages they came from) wait to be taken, the session reads nothing more from
/// the server (its messages wait in the socket, nothing is lost, keep-alive pauses) until
/// half of that is taken: take events as they come; a session whose app stops taking them
/// stops too, and a finish then ends with FWASR_ERR_TIMEOUT.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_next_event(
    s: *const fwasr_session,
    timeout_ms: i32,
) -> *mut fwasr_event {
    value(std::ptr::null_mut(), || {
        // SAFETY: checked by the helpers.
        let s = session(s)?;
        let t = timeout_arg(timeout_ms, "timeout_ms")?;
        Ok(s.next_event(t).map_or(std::ptr::null_mut(), |e| {
            Box::into_raw(Box::new(OwnedEvent::new(&e))).cast()
        }))
    })
}

/// Writes the transcript so far into `buf` (snprintf semantics: at most `cap - 1` bytes and
/// a NUL; `buf` may be NULL when `cap` is 0) and returns its full length in bytes. The
/// transcript is the segment texts in id order, each trimmed, joined by one space.
/// 0 with fwasr_last_error set when `s` is NULL.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_transcript(
    s: *const fwasr_session,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    value(0, || {
        // SAFETY: checked by the helpers; buf has cap bytes (caller's contract).
        let text = session(s)?.transcript();
        Ok(unsafe { write_buf(&text, buf, cap) })
    })
}

/// An owned snapshot of the segments in id order (see fwasr_segments_get); free it with
/// fwasr_segments_free. NULL only when `s` is NULL.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_segments(s: *const fwasr_session) -> *mut fwasr_segments {
    value(std::ptr::null_mut(), || {
        // SAFETY: checked by the helpers.
        let segs = session(s)?.segments();
        Ok(Box::into_raw(Box::new(fwasr_segments::new(&segs))))
    })
}

/// Copies the session's counters into `out`. Pass `sizeof(fwasr_stats)` as `size`: later
/// versions append fields and write only what your struct has room for.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_stats(
    s: *const fwasr_session,
    out: *mut fwasr_stats,
    size: usize,
) -> fwasr_status {
    // SAFETY: checked by the helpers.
    status(|| unsafe { write_stats(session(s)?.stats(), out, size) })
}

/// Where the session is: CONNECTING, OPEN, FINISHING, CLOSED or FAILED. FAILED for NULL.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_state(s: *const fwasr_session) -> fwasr_state {
    // SAFETY: checked by the helpers.
    value(FWASR_STATE_FAILED, || Ok(session(s)?.state()))
}

/// Stops the session if it is still running (no flush: use fwasr_session_finish first to get
/// the whole transcript), joins its thread and frees it. Returns within about a second
/// whatever the server does (a name lookup in progress is not waited for). No callback runs
/// after it returns; called from inside the session's own callback, no further callback runs
/// after that one returns. From inside another session's callback see fwasr_event_fn. Calls
/// in progress on other threads (a push, a blocking next_event or finish) return promptly
/// with FWASR_ERR_STATE or their result, and the memory is released when the last of them
/// does. The handle is dead from then on: a call with it, even one racing the free, fails with
/// FWASR_ERR_INVALID_ARGUMENT instead of touching freed memory (on 32-bit platforms, unless
/// its slot was reused 4,096 times since). NULL, or a handle already freed, does nothing.
#[no_mangle]
pub unsafe extern "C" fn fwasr_session_free(s: *mut fwasr_session) {
    guard((), || {
        // Calls in progress hold the session until they return; no new call finds it.
        if let Some(session) = handles::SESSIONS.remove(s.addr()) {
            session.close();
        }
    })
}
