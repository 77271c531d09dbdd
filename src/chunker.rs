//! The outgoing audio queue: a wait-free byte ring between the pushing thread and the network
//! thread, cut into chunks of exactly `chunk_bytes` on the way out.

use rtrb::{Consumer, Producer, RingBuffer};

/// The pushing side. Owned by one thread at a time (the session guards it with a try-lock).
pub struct AudioProducer {
    ring: Producer<u8>,
    chunk_bytes: u64,
    pushed: u64,
}

/// The network thread's side.
pub struct AudioConsumer {
    ring: Consumer<u8>,
    chunk_bytes: usize,
}

/// The push did not fit; nothing was taken.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// A queue holding up to `capacity` bytes, cut into `chunk_bytes` chunks (an even number).
pub fn audio_queue(capacity: usize, chunk_bytes: usize) -> (AudioProducer, AudioConsumer) {
    debug_assert!(chunk_bytes % 2 == 0 && chunk_bytes <= capacity);
    let (p, c) = RingBuffer::new(capacity);
    (
        AudioProducer {
            ring: p,
            chunk_bytes: chunk_bytes as u64,
            pushed: 0,
        },
        AudioConsumer { ring: c, chunk_bytes },
    )
}

impl AudioProducer {
    /// Appends all of `data` or nothing. No allocation, no lock, no syscall.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Full> {
        self.ring.push_entire_slice(data).map_err(|_| Full)?;
        self.pushed += data.len() as u64;
        Ok(())
    }

    /// Whether the bytes written since `pushed()` was `before` completed a chunk, i.e.
    /// whether the network thread has new work.
    pub fn completes_chunk(&self, before: u64) -> bool {
        self.pushed / self.chunk_bytes > before / self.chunk_bytes
    }

    /// Bytes accepted so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Free room in bytes.
    pub fn room(&self) -> usize {
        self.ring.slots()
    }
}

impl AudioConsumer {
    /// Bytes waiting.
    pub fn queued(&self) -> usize {
        self.ring.slots()
    }

    pub fn has_chunk(&self) -> bool {
        self.queued() >= self.chunk_bytes
    }

    /// Takes exactly one chunk, if one is complete.
    pub fn take_chunk(&mut self) -> Option<Vec<u8>> {
        self.take(self.chunk_bytes)
    }

    /// Takes everything left, as the session's short last chunk. A trailing odd byte (half a
    /// sample) is dropped with it; the return says how many bytes were discarded that way.
    pub fn take_rest(&mut self) -> (Option<Vec<u8>>, usize) {
        let n = self.queued();
        let odd = n % 2;
        let chunk = self.take(n - odd);
        if odd == 1 {
            let _ = self.ring.pop();
        }
        (chunk, odd)
    }

    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        if n == 0 || self.queued() < n {
            return None;
        }
        let mut out = vec![0u8; n];
        self.ring.pop_entire_slice(&mut out).ok()?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_pushes_come_out_as_exact_chunks() {
        let (mut p, mut c) = audio_queue(10_000, 1600);
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut completed = 0;
        for piece in data.chunks(333) {
            let before = p.pushed();
            p.write(piece).unwrap();
            if p.completes_chunk(before) {
                completed += 1;
            }
        }
        assert_eq!(completed, 3);
        let mut out = Vec::new();
        while let Some(ch) = c.take_chunk() {
            assert_eq!(ch.len(), 1600);
            out.extend(ch);
        }
        let (rest, odd) = c.take_rest();
        assert_eq!((rest.as_ref().map(Vec::len), odd), (Some(200), 0));
        out.extend(rest.unwrap());
        assert_eq!(out, data);
    }

    #[test]
    fn full_queue_takes_nothing() {
        let (mut p, mut c) = audio_queue(3200, 1600);
        assert_eq!(p.write(&[1; 3000]), Ok(()));
        assert!(p.completes_chunk(0));
        assert_eq!(p.write(&[2; 201]), Err(Full));
        assert_eq!(p.pushed(), 3000);
        assert_eq!(p.write(&[3; 200]), Ok(()));
        assert!(p.completes_chunk(3000));
        assert!(c.take_chunk().is_some());
        assert!(c.take_chunk().is_some());
        assert!(c.take_chunk().is_none());
    }

    #[test]
    fn half_sample_at_the_end_is_dropped() {
        let (mut p, mut c) = audio_queue(3200, 1600);
        p.write(&[1; 101]).unwrap();
        let (rest, odd) = c.take_rest();
        assert_eq!((rest.unwrap().len(), odd), (100, 1));
        assert_eq!(c.queued(), 0);
    }
}
