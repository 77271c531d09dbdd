//! Handles. A `fwasr_session *` or `fwasr_config *` is not the address of the object but a
//! number: a slot in a table that is never freed, and the slot's generation. A call looks the
//! slot up and, if the generation still matches, holds the object (an `Arc`) for its
//! duration; a free bumps the generation first. So a call racing a free, or a call with a
//! handle already freed (a config freed twice), finds nothing and fails cleanly instead of
//! touching freed memory.
//! The look-up takes a per-slot lock nobody holds for longer than a clone, and allocates
//! nothing (the push path stays allocation-free).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::Config;
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
/// Objects of one kind open at once, at most.
const MAX_SLOTS: usize = CHUNK * CHUNKS;

struct Slot<T> {
    /// (generation, object)
    inner: Mutex<(usize, Option<Arc<T>>)>,
}

/// A table of handles to objects of one kind.
pub(crate) struct Table<T> {
    chunks: [AtomicPtr<[Slot<T>; CHUNK]>; CHUNKS],
    /// Free slots, oldest first, and the first slot never used.
    free: Mutex<(VecDeque<usize>, usize)>,
    /// What the objects are, for the error when the table is full.
    what: &'static str,
}

/// Sessions: `fwasr_session *`.
pub(crate) static SESSIONS: Table<Session> = Table::new("sessions");
/// Configurations: `fwasr_config *`. Locked for each call, so concurrent setters are safe.
pub(crate) static CONFIGS: Table<Mutex<Config>> = Table::new("configs");

impl<T> Table<T> {
    const fn new(what: &'static str) -> Table<T> {
        Table {
            chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS],
            free: Mutex::new((VecDeque::new(), 0)),
            what,
        }
    }

    fn slot(&self, index: usize) -> Option<&Slot<T>> {
        let chunk = self.chunks.get(index / CHUNK)?.load(Ordering::Acquire);
        // SAFETY: chunks are leaked boxes, published once with Release and never freed.
        unsafe { chunk.as_ref() }.map(|c| &c[index % CHUNK])
    }

    /// Puts an object in the table; its handle.
    pub(crate) fn insert(&self, object: T) -> Result<usize, Error> {
        let index = {
            let mut free = self.free.lock();
            match free.0.pop_front() {
                Some(i) => i,
                None if free.1 < MAX_SLOTS => {
                    let i = free.1;
                    let entry = &self.chunks[i / CHUNK];
                    if entry.load(Ordering::Acquire).is_null() {
                        let chunk: Box<[Slot<T>; CHUNK]> = Box::new(std::array::from_fn(|_| Slot {
                            inner: Mutex::new((0, None)),
                        }));
                        entry.store(Box::into_raw(chunk), Ordering::Release);
                    }
                    free.1 += 1;
                    i
                }
                None => {
                    return Err(Error::new(
                        FWASR_ERR_RESOURCE,
                        format!("{MAX_SLOTS} {} are open: free one first", self.what),
                    ))
                }
            }
        };
        let s = self.slot(index).expect("the slot's chunk exists");
        let mut inner = s.inner.lock();
        inner.1 = Some(Arc::new(object));
        Ok(((index + 1) << GENERATION_BITS) | inner.0)
    }

    /// The object behind `handle`, held for a call; None for NULL, a handle that was freed,
    /// or a value that never was a handle.
    pub(crate) fn get(&self, handle: usize) -> Option<Arc<T>> {
        let (s, generation) = self.decode(handle)?;
        let inner = s.inner.lock();
        inner.1.as_ref().filter(|_| inner.0 == generation).cloned()
    }

    /// Takes the object out of the table: from now on its handle finds nothing. Calls in
    /// progress keep their hold until they return.
    pub(crate) fn remove(&self, handle: usize) -> Option<Arc<T>> {
        let (s, generation) = self.decode(handle)?;
        let object = {
            let mut inner = s.inner.lock();
            if inner.0 != generation || inner.1.is_none() {
                return None;
            }
            inner.0 = (inner.0 + 1) & GENERATION_MASK;
            inner.1.take()
        };
        self.free.lock().0.push_back((handle >> GENERATION_BITS) - 1);
        object
    }

    fn decode(&self, handle: usize) -> Option<(&Slot<T>, usize)> {
        let index = (handle >> GENERATION_BITS).checked_sub(1)?;
        Some((self.slot(index)?, handle & GENERATION_MASK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let mut c = Config::new();
        // Nothing listens there; the session only has to exist.
        c.set_url("ws://127.0.0.1:9/x").unwrap();
        Session::open(&c).unwrap()
    }

    #[test]
    fn a_freed_handle_finds_nothing_even_when_its_slot_is_reused() {
        let a = SESSIONS.insert(session()).unwrap();
        assert!(SESSIONS.get(a).is_some());
        let held = SESSIONS.get(a).unwrap();
        let taken = SESSIONS.remove(a).unwrap();
        assert!(SESSIONS.get(a).is_none() && SESSIONS.remove(a).is_none());
        // A call in progress still holds the session.
        assert!(Arc::ptr_eq(&held, &taken));
        drop((held, taken));
        // Other sessions take slots; none answers to the old handle.
        let others: Vec<usize> = (0..3).map(|_| SESSIONS.insert(session()).unwrap()).collect();
        assert!(SESSIONS.get(a).is_none());
        for h in others {
            assert_ne!(h, a);
            assert!(SESSIONS.remove(h).is_some());
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
            assert!(SESSIONS.get(h).is_none(), "{h:#x}");
            assert!(SESSIONS.remove(h).is_none(), "{h:#x}");
            assert!(CONFIGS.get(h).is_none(), "{h:#x}");
        }
    }
}
