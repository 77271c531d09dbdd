//! Session handles. A `fwasr_session *` is not the address of the session but a number: a
//! slot in a table that is never freed, and the slot's generation. A call looks the slot up
//! and, if the generation still matches, holds the session (an `Arc`) for its duration;
//! `fwasr_session_free` bumps the generation first. So a call racing a free, or a call with a
//! handle already freed, finds no session and fails cleanly instead of touching freed memory.
//! The look-up takes a per-slot lock nobody holds for longer than a clone, and allocates
//! nothing (the push path stays allocation-free).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::*;
use crate::session::Session;

/// Bits of a handle that hold the generation; the rest hold the slot number plus one (so no
/// handle is NULL). On 32-bit platforms a stale handle is recognised until its slot has been
/// reused 4,096 times (slots are reused oldest first).
#[cfg(target_pointer_width = "64")]
const GENERATION_BITS: u32 = 32;
#[cfg(not(target_pointer_width = "64"))]
const GENERATION_BITS: u32 = 12;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;

/// Slots come in chunks that are allocated once and never move or go.
const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;
/// Sessions open at once, at most.
const MAX_SLOTS: usize = CHUNK * CHUNKS;

#[derive(Default)]
struct Slot {
    /// (generation, session)
    inner: Mutex<(usize, Option<Arc<Session>>)>,
}

type Chunk = [Slot; CHUNK];

static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

/// Free slots, oldest first, and the first slot never used.
static FREE: Mutex<(VecDeque<usize>, usize)> = Mutex::new((VecDeque::new(), 0));

fn slot(index: usize) -> Option<&'static Slot> {
    let chunk = TABLE.get(index / CHUNK)?.load(Ordering::Acquire);
    // SAFETY: chunks are leaked boxes, published once with Release and never freed.
    unsafe { chunk.as_ref() }.map(|c| &c[index % CHUNK])
}

/// Puts a session in the table; its handle.
pub(crate) fn insert(session: Session) -> Result<usize, Error> {
    let index = {
        let mut free = FREE.lock();
        match free.0.pop_front() {
            Some(i) => i,
            None if free.1 < MAX_SLOTS => {
                let i = free.1;
                let entry = &TABLE[i / CHUNK];
                if entry.load(Ordering::Acquire).is_null() {
                    let chunk: Box<Chunk> = Box::new(std::array::from_fn(|_| Slot::default()));
                    entry.store(Box::into_raw(chunk), Ordering::Release);
                }
                free.1 += 1;
                i
            }
            None => {
                return Err(Error::new(
                    FWASR_ERR_RESOURCE,
                    format!("{MAX_SLOTS} sessions are open: free one first"),
                ))
            }
        }
    };
    let s = slot(index).expect("the slot's chunk exists");
    let mut inner = s.inner.lock();
    inner.1 = Some(Arc::new(session));
    Ok(((index + 1) << GENERATION_BITS) | inner.0)
}

/// The session behind `handle`, held for a call; None for NULL, a handle that was freed, or
/// a value that never was a handle.
pub(crate) fn get(handle: usize) -> Option<Arc<Session>> {
    let (s, generation) = decode(handle)?;
    let inner = s.inner.lock();
    inner.1.as_ref().filter(|_| inner.0 == generation).cloned()
}

/// Takes the session out of the table: from now on its handle finds nothing. Calls in
/// progress keep their hold until they return.
pub(crate) fn remove(handle: usize) -> Option<Arc<Session>> {
    let (s, generation) = decode(handle)?;
    let session = {
        let mut inner = s.inner.lock();
        if inner.0 != generation || inner.1.is_none() {
            return None;
        }
        inner.0 = (inner.0 + 1) & GENERATION_MASK;
        inner.1.take()
    };
    FREE.lock().0.push_back((handle >> GENERATION_BITS) - 1);
    session
}

fn decode(handle: usize) -> Option<(&'static Slot, usize)> {
    let index = (handle >> GENERATION_BITS).checked_sub(1)?;
    Some((slot(index)?, handle & GENERATION_MASK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn session() -> Session {
        let mut c = Config::new();
        // Nothing listens there; the session only has to exist.
        c.set_url("ws://127.0.0.1:9/x").unwrap();
        Session::open(&c).unwrap()
    }

    #[test]
    fn a_freed_handle_finds_nothing_even_when_its_slot_is_reused() {
        let a = insert(session()).unwrap();
        assert!(get(a).is_some());
        let held = get(a).unwrap();
        let taken = remove(a).unwrap();
        assert!(get(a).is_none() && remove(a).is_none());
        // A call in progress still holds the session.
        assert!(Arc::ptr_eq(&held, &taken));
        drop((held, taken));
        // Other sessions take slots; none answers to the old handle.
        let others: Vec<usize> = (0..3).map(|_| insert(session()).unwrap()).collect();
        assert!(get(a).is_none());
        for h in others {
            assert_ne!(h, a);
            assert!(remove(h).is_some());
        }
    }

    #[test]
    fn values_that_never_were_handles_find_nothing() {
        for h in [
            0,
            1,
            GENERATION_MASK,
            usize::MAX,
            0x7fff_0000_dead_beef_u64 as usize,
        ] {
            assert!(get(h).is_none(), "{h:#x}");
            assert!(remove(h).is_none(), "{h:#x}");
        }
    }
}
