//! A single-producer single-consumer byte queue whose memory is touched only as far as it is
//! actually used. A plain ring of `capacity` bytes writes over all of its memory as it wraps,
//! so every session would keep its whole queue (320 KiB at the default 10 s) resident even
//! though a real-time stream never has more than a chunk waiting. Here the bytes live in
//! fixed blocks of one mapping; the consumer hands each block it has emptied back to the
//! producer, which reuses the most recently returned one first, so a real-time stream keeps
//! cycling through two or three blocks and the rest of the mapping is never touched.
//!
//! Both sides are wait-free: no lock, no allocation, no syscall after creation.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::RingBuffer;

/// Block size: one page.
const BLOCK: usize = 4096;

/// The mapping and the two positions the sides share.
struct Shared {
    /// Owns the anonymous mapping `mem` points into (unmapped when dropped). Its pages
    /// become resident only when first written, on every platform memmap2 supports.
    _map: memmap2::MmapMut,
    mem: NonNull<u8>,
    capacity: u64,
    /// Bytes the producer has made visible, since creation.
    written: AtomicU64,
    /// Bytes the consumer has taken, since creation.
    read: AtomicU64,
}

// The mapping is only written by the producer in blocks the consumer does not read, and only
// read by the consumer in bytes the producer has published (see the two sides below).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The bytes of block `index`.
    fn block(&self, index: u32) -> *mut u8 {
        // SAFETY: `index` is below the block count the mapping was made for.
        unsafe { self.mem.as_ptr().add(index as usize * BLOCK) }
    }
}

pub struct Producer {
    shared: Arc<Shared>,
    /// Blocks in the order they are filled; the consumer empties them in the same order.
    order: rtrb::Producer<u32>,
    /// Blocks the consumer has emptied, not yet moved to `free`.
    returned: rtrb::Consumer<u32>,
    /// Unused blocks; the last one is the most recently returned (still in cache and mapped).
    free: Vec<u32>,
    /// The block being filled and how much of it is.
    current: u32,
    filled: usize,
    written: u64,
}

pub struct Consumer {
    shared: Arc<Shared>,
    order: rtrb::Consumer<u32>,
    returned: rtrb::Producer<u32>,
    read: u64,
}

/// A queue holding at most `capacity` bytes, or None when the mapping cannot be made.
pub fn queue(capacity: usize) -> Option<(Producer, Consumer)> {
    // Queued bytes span at most this many blocks, counting a partly read first block and a
    // partly filled last one.
    let blocks = capacity.div_ceil(BLOCK) + 1;
    let map_len = blocks * BLOCK;
    let mut map = memmap2::MmapMut::map_anon(map_len).ok()?;
    let mem = NonNull::new(map.as_mut_ptr())?;
    let shared = Arc::new(Shared {
        _map: map,
        mem,
        capacity: capacity as u64,
        written: AtomicU64::new(0),
        read: AtomicU64::new(0),
    });
    let (order_p, order_c) = RingBuffer::new(blocks);
    let (returned_p, returned_c) = RingBuffer::new(blocks);
    let mut free = Vec::with_capacity(blocks);
    free.extend((0..blocks as u32).rev());
    Some((
        Producer {
            shared: shared.clone(),
            order: order_p,
            returned: returned_c,
            free,
            current: 0,
            filled: BLOCK,
            written: 0,
        },
        Consumer {
            shared,
            order: order_c,
            returned: returned_p,
            read: 0,
        },
    ))
}

/// The push did not fit; nothing was taken.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Producer {
    /// Free room in bytes.
    pub fn room(&self) -> usize {
        let queued = self.written - self.shared.read.load(Ordering::Acquire);
        (self.shared.capacity - queued) as usize
    }

    /// Appends all of `data` or nothing.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), Full> {
        if data.len() > self.room() {
            return Err(Full);
        }
        while !data.is_empty() {
            if self.filled == BLOCK {
                while let Ok(b) = self.returned.pop() {
                    self.free.push(b);
                }
                // The block count covers everything that can be queued at once (see `queue`),
                // so a free block exists; the order ring has room for every block.
                self.current = self.free.pop().expect("a free block");
                self.order.push(self.current).expect("room for every block");
                self.filled = 0;
            }
            let n = data.len().min(BLOCK - self.filled);
            // SAFETY: the current block is the producer's alone until these bytes are
            // published below; the range lies within it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    self.shared.block(self.current).add(self.filled),
                    n,
                )
            };
            self.filled += n;
            data = &data[n..];
            self.written += n as u64;
        }
        self.shared.written.store(self.written, Ordering::Release);
        Ok(())
    }
}

impl Consumer {
    /// Bytes waiting.
    pub fn len(&self) -> usize {
        (self.shared.written.load(Ordering::Acquire) - self.read) as usize
    }

    /// Passes the next `n` bytes (at most `len()`) to `f`, in one or more contiguous pieces,
    /// and removes them from the queue.
    pub fn consume(&mut self, n: usize, mut f: impl FnMut(&[u8])) {
        assert!(n <= self.len(), "consume past the written bytes");
        let mut left = n;
        while left > 0 {
            let block = *self.order.peek().expect("a block holds the written bytes");
            let offset = (self.read % BLOCK as u64) as usize;
            let take = left.min(BLOCK - offset);
            // SAFETY: these bytes were published by the producer's release store, observed by
            // `len`'s acquire load; the producer does not write them again until the block
            // is returned.
            f(unsafe { std::slice::from_raw_parts(self.shared.block(block).add(offset), take) });
            self.read += take as u64;
            left -= take;
            if offset + take == BLOCK {
                let _ = self.order.pop();
                self.returned.push(block).expect("room for every block");
            }
        }
        self.shared.read.store(self.read, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_blocks() {
        let (mut p, mut c) = queue(10_000).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut out = Vec::new();
        let mut i = 0;
        let mut step = 1;
        while out.len() < data.len() {
            if i < data.len() {
                let n = step.min(data.len() - i);
                if p.write(&data[i..i + n]).is_ok() {
                    i += n;
                }
            }
            let k = c.len().min(step * 3 / 2 + 1);
            c.consume(k, |b| out.extend_from_slice(b));
            step = step % 5000 + 97;
        }
        assert_eq!(out, data);
    }

    #[test]
    fn full_takes_nothing_and_room_comes_back() {
        let (mut p, mut c) = queue(5000).unwrap();
        assert_eq!(p.write(&[1; 4999]), Ok(()));
        assert_eq!(p.write(&[2; 2]), Err(Full));
        assert_eq!(p.room(), 1);
        assert_eq!(p.write(&[3; 1]), Ok(()));
        c.consume(4096, |_| {});
        assert_eq!(p.room(), 4096);
        assert_eq!(p.write(&[4; 4096]), Ok(()));
        let mut rest = Vec::new();
        c.consume(c.len(), |b| rest.extend_from_slice(b));
        assert_eq!(rest.len(), 5000);
        assert_eq!(rest[902], 1);
        assert_eq!(rest[903], 3);
        assert_eq!(rest[904], 4);
    }

    #[test]
    fn real_time_use_cycles_through_few_blocks() {
        let (mut p, mut c) = queue(320_000).unwrap();
        let mut used = std::collections::HashSet::new();
        for _ in 0..2000 {
            p.write(&[0; 640]).unwrap();
            used.insert(p.current);
            while c.len() >= 1600 {
                c.consume(1600, |_| {});
            }
        }
        assert!(used.len() <= 3, "{} blocks used", used.len());
    }

    #[test]
    fn the_other_side_runs_on_another_thread() {
        let (mut p, mut c) = queue(3000).unwrap();
        let n = 2_000_000usize;
        let writer = std::thread::spawn(move || {
            let mut i = 0usize;
            while i < n {
                let piece: Vec<u8> = (i..(i + 333).min(n)).map(|x| (x % 251) as u8).collect();
                while p.write(&piece).is_err() {
                    std::hint::spin_loop();
                }
                i += piece.len();
            }
        });
        let mut seen = 0usize;
        while seen < n {
            let k = c.len();
            c.consume(k, |b| {
                for &x in b {
                    assert_eq!(x, (seen % 251) as u8);
                    seen += 1;
                }
            });
        }
        writer.join().unwrap();
    }
}
