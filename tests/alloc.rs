//! Real-time safety of the push path: once a session is open, pushing (also through the C
//! entry points, also when the queue is full) allocates nothing on the pushing thread.
//! Counted by a global allocator that tallies allocations per thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::*;
use fwasr::audio::*;
use fwasr::ffi::config::{fwasr_config_free, fwasr_config_new, fwasr_config_set_url};
use fwasr::ffi::session::{
    fwasr_session, fwasr_session_free, fwasr_session_open, fwasr_session_push, fwasr_session_push_f32,
    fwasr_session_push_s16,
};
use fwasr::{Config, Session};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialized thread local,
// so counting never allocates itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn open(url: &str, format: Format, rate: u32, channels: u32, shared_io: bool) -> Session {
    let mut c = Config::new();
    c.set_shared_io(shared_io);
    c.set_url(url).unwrap();
    c.set_input_format(format, rate, channels).unwrap();
    c.set_buffer_ms(2000).unwrap();
    // Paced, so 3 s pushed at once overflow the 2 s queue and the refusal path runs too.
    c.set_pacing(1.0).unwrap();
    let s = Session::open(&c).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    // On shared threads, pushes notify through the thread's pending list once the session
    // streams there, a moment after it is ready.
    std::thread::sleep(Duration::from_millis(50));
    s
}

#[test]
fn pushing_allocates_nothing() {
    let d = DevServer::start(&[]);
    let cases: [(Format, u32, u32); 6] = [
        (FWASR_FORMAT_S16LE, 16000, 1),
        (FWASR_FORMAT_MULAW, 8000, 1),
        (FWASR_FORMAT_ALAW, 8000, 1),
        (FWASR_FORMAT_F32, 48000, 2),
        (FWASR_FORMAT_S16LE, 44100, 2),
        (FWASR_FORMAT_F32, 16000, 1),
    ];
    for ((format, rate, channels), shared_io) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let s = open(&d.url, format, rate, channels, shared_io);
        // 20 ms frames, 100 of them (2 s: as much as the queue holds, so a full queue too).
        let frame_bytes = (rate / 50 * channels) as usize * format.sample_bytes();
        let frame = vec![0x11u8; frame_bytes];
        let mut refused = 0;
        let n = allocations_during(|| {
            for _ in 0..150 {
                if s.push(&frame).is_err() {
                    refused += 1;
                }
            }
        });
        assert_eq!(
            n, 0,
            "{format:?} {rate} Hz x{channels} (shared threads: {shared_io}): {n} allocations in 150 pushes"
        );
        assert!(refused > 0, "the full-queue path was not exercised");
    }

    // The C entry points, including the typed ones and a failing call that sets the error.
    let url = std::ffi::CString::new(d.url.clone()).unwrap();
    let mut s: *mut fwasr_session = std::ptr::null_mut();
    // SAFETY: the C API used as C would: a fresh config, a live URL string, an out pointer.
    unsafe {
        let cfg = fwasr_config_new();
        assert_eq!(fwasr_config_set_url(cfg, url.as_ptr()), fwasr::error::FWASR_OK);
        assert_eq!(fwasr_session_open(cfg, &mut s), fwasr::error::FWASR_OK);
        fwasr_config_free(cfg);
    }
    let pcm = [100i16; 320];
    let floats = [0.25f32; 320];
    let n = allocations_during(|| {
        for _ in 0..50 {
            // SAFETY: s is a live session handle; the buffers outlive the calls.
            unsafe {
                fwasr_session_push(s, pcm.as_ptr().cast(), 640);
                fwasr_session_push_s16(s, pcm.as_ptr(), 320);
                // Wrong format for this session: an error, with its message set.
                fwasr_session_push_f32(s, floats.as_ptr(), 320);
            }
        }
    });
    assert_eq!(n, 0, "{n} allocations through the C API");
    // SAFETY: s came from fwasr_session_open and is freed once.
    unsafe { fwasr_session_free(s) };
}
