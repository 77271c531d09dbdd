//! The outgoing audio queue. The pushing thread copies its bytes, in the caller's input
//! format, into a wait-free queue (blockq); the network thread converts them (audio::Converter) and cuts
//! 16 kHz mono s16le chunks of exactly `chunk_bytes`. Keeping the conversion off the pushing
//! thread makes `push` a bounds check and a memcpy, whatever the format.
//!
//! Beside the audio, a push leaves a stamp (how much audio had been pushed, and when) every
//! 10 ms of audio, for the network thread to measure latency from the push on; none when the
//! server is not asked for segment times, since nothing could be timed.

use std::time::{Duration, Instant};

use crate::audio::resample::Timing;
use crate::audio::{Converter, InputFormat};
use crate::blockq;

/// When the audio up to a point had been pushed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stamp {
    /// 16 kHz samples of the stream pushed by then.
    pub samples: u64,
    pub at: Instant,
    /// Stamps were lost just before this one (their ring was full): when the audio between
    /// the previous stamp and this one was pushed is not known.
    pub after_gap: bool,
    /// Pushes of a burst were not stamped just before this one: the audio after the previous
    /// stamp up to these samples was pushed within BURST after the previous stamp, which was
    /// this many microseconds before this one (so the previous stamp may be gone).
    pub burst: Option<(u64, u32)>,
}

/// Stamps waiting for the network thread (3.5 KB): 640 ms of audio at one per 10 ms, more with
/// larger pushes, and a burst's take one per millisecond past half. Past that the newest are
/// dropped and the gap is marked.
const STAMPS: usize = 64;
/// A push that crosses a multiple of this many samples (10 ms) leaves a stamp...
const STAMP_EVERY: u64 = 160;
/// ...unless the ring is half full and the last stamp is younger than this: a burst of pushes
/// (a file pushed at once) is stamped once per this, not once per push, so it does not fill
/// the ring. The next stamp says how far the pushes it skipped went (Stamp::burst_end).
pub const BURST: Duration = Duration::from_millis(1);

/// The pushing side. Owned by one thread at a time (the session guards it with a try-lock).
pub struct AudioProducer {
    ring: blockq::Producer,
    frame_bytes: u64,
    timing: Timing,
    /// Input bytes accepted so far.
    bytes_in: u64,
    /// The 16 kHz samples they yield before the end (kept, so a push computes it once).
    samples: u64,
    /// None when nothing would read the stamps (the server is not asked for segment times).
    stamps: Option<rtrb::Producer<Stamp>>,
    /// A stamp was dropped since the last one that went in.
    stamp_lost: bool,
    /// Pushes of a burst went unstamped since the last stamp, up to these samples.
    burst_end: Option<u64>,
    /// When the last stamp went in.
    stamped_at: Option<Instant>,
}

/// The network thread's side.
pub struct AudioConsumer {
    ring: blockq::Consumer,
    stamps: Option<rtrb::Consumer<Stamp>>,
    chunk_bytes: usize,
    /// None when the input already is 16 kHz mono s16le: its bytes go out unchanged.
    converter: Option<Converter>,
    /// Converted audio not yet sent, from `staged_at` on.
    staged: Vec<u8>,
    staged_at: usize,
    input_done: bool,
}

/// The push did not fit; nothing was taken.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Input bytes converted per step, so conversion keeps pace with sending instead of draining
/// the whole queue at once (which would double its effective size).
const CONVERT_STEP: usize = 4096;

/// A queue holding `capacity` bytes of input, cut into chunks of `chunk_bytes` (even) of 16 kHz
/// mono s16le; None when its memory cannot be mapped.
pub fn audio_queue(
    input: InputFormat,
    capacity: usize,
    chunk_bytes: usize,
    stamped: bool,
) -> Option<(AudioProducer, AudioConsumer)> {
    debug_assert!(chunk_bytes.is_multiple_of(2));
    let (p, c) = blockq::queue(capacity)?;
    let converter = (!input.is_native()).then(|| Converter::new(input));
    let (stamps_in, stamps_out) = match stamped {
        true => {
            let (i, o) = rtrb::RingBuffer::new(STAMPS);
            (Some(i), Some(o))
        }
        false => (None, None),
    };
    Some((
        AudioProducer {
            ring: p,
            frame_bytes: input.frame_bytes() as u64,
            timing: input.timing(),
            stamps: stamps_in,
            stamp_lost: false,
            burst_end: None,
            stamped_at: None,
            bytes_in: 0,
            samples: input.timing().available(0),
        },
        AudioConsumer {
            ring: c,
            stamps: stamps_out,
            chunk_bytes,
            staged: Vec::with_capacity(if converter.is_some() { 2 * chunk_bytes } else { 0 }),
            converter,
            staged_at: 0,
            input_done: false,
        },
    ))
}

/// Appends samples to the staged bytes through a small block, instead of growing the vector
/// two bytes at a time.
struct Staging<'a> {
    staged: &'a mut Vec<u8>,
    block: [u8; 512],
    len: usize,
}

impl<'a> Staging<'a> {
    fn new(staged: &'a mut Vec<u8>) -> Staging<'a> {
        Staging {
            staged,
            block: [0; 512],
            len: 0,
        }
    }

    #[inline]
    fn put(&mut self, s: i16) {
        self.block[self.len..self.len + 2].copy_from_slice(&s.to_le_bytes());
        self.len += 2;
        if self.len == self.block.len() {
            self.staged.extend_from_slice(&self.block);
            self.len = 0;
        }
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        self.staged.extend_from_slice(&self.block[..self.len]);
    }
}

impl AudioProducer {
    /// Appends all of `data` or nothing, and stamps when it crossed a 10 ms mark. No
    /// allocation, no lock, no syscall (the clock is read in user space where the OS allows).
    pub fn write(&mut self, data: &[u8]) -> Result<(), Full> {
        self.ring.write(data).map_err(|_| Full)?;
        self.bytes_in += data.len() as u64;
        let before = self.samples;
        self.samples = self.timing.available(self.bytes_in / self.frame_bytes);
        let crossed = self.samples / STAMP_EVERY > before / STAMP_EVERY;
        if let (true, Some(ring)) = (crossed, &self.stamps) {
            let crowded = ring.slots() < STAMPS / 2;
            let now = Instant::now();
            if crowded
                && self
                    .stamped_at
                    .is_some_and(|t| now.saturating_duration_since(t) < BURST)
            {
                self.burst_end = Some(self.samples);
            } else {
                self.stamp(self.samples, now);
            }
        }
        Ok(())
    }

    /// Stamps the end of the input (with the filter's tail) as pushed at `at`: at finish.
    pub fn stamp_end(&mut self, at: Instant) {
        self.stamp(self.end_samples(), at);
    }

    fn stamp(&mut self, samples: u64, at: Instant) {
        let Some(ring) = self.stamps.as_mut() else {
            return;
        };
        let stamp = Stamp {
            samples,
            at,
            after_gap: self.stamp_lost,
            burst: self.burst_end.take().zip(self.stamped_at).map(|(end, before)| {
                let back = at.saturating_duration_since(before).as_micros();
                (end, u32::try_from(back).unwrap_or(u32::MAX))
            }),
        };
        if ring.push(stamp).is_ok() {
            self.stamp_lost = false;
            self.stamped_at = Some(at);
        } else {
            // The lost stretch takes in the burst's too.
            self.stamp_lost = true;
        }
    }

    /// 16 kHz samples the input so far yields before the end (the filter holds back its delay).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// 16 kHz samples the whole input yields once the filter's tail is flushed at the end.
    pub fn end_samples(&self) -> u64 {
        self.timing.total(self.bytes_in / self.frame_bytes)
    }

    /// Free room in input bytes.
    pub fn room(&self) -> usize {
        self.ring.room()
    }
}

impl AudioConsumer {
    /// The oldest stamp not yet taken.
    pub fn take_stamp(&mut self) -> Option<Stamp> {
        self.stamps.as_mut().and_then(|r| r.pop().ok())
    }

    /// Input bytes waiting to be converted.
    pub fn queued_input(&self) -> usize {
        self.ring.len()
    }

    fn staged_len(&self) -> usize {
        self.staged.len() - self.staged_at
    }

    /// Converts input until `want` bytes are staged or the input runs out.
    fn stage(&mut self, want: usize) {
        let Some(conv) = self.converter.as_mut() else {
            return;
        };
        let ring = &mut self.ring;
        if self.staged_at > 0 && self.staged_at == self.staged.len() {
            self.staged.clear();
            self.staged_at = 0;
        }
        while self.staged.len() - self.staged_at < want {
            let n = ring.len().min(CONVERT_STEP);
            if n == 0 {
                break;
            }
            let mut out = Staging::new(&mut self.staged);
            ring.consume(n, |part| conv.convert(part, &mut |s| out.put(s)));
        }
    }

    /// Whether a complete chunk can be taken.
    pub fn has_chunk(&mut self) -> bool {
        match self.converter {
            None => self.ring.len() >= self.chunk_bytes,
            Some(_) => {
                self.stage(self.chunk_bytes);
                self.staged_len() >= self.chunk_bytes
            }
        }
    }

    /// Takes exactly one chunk, if one is complete.
    pub fn take_chunk(&mut self) -> Option<Vec<u8>> {
        if !self.has_chunk() {
            return None;
        }
        Some(self.take(self.chunk_bytes))
    }

    /// The input has ended: convert all of it and push the filter's tail through. Returns the
    /// bytes of an incomplete last frame (or half sample) that had to be discarded.
    pub fn finish_input(&mut self) -> usize {
        if std::mem::replace(&mut self.input_done, true) {
            return 0;
        }
        match self.converter {
            None => self.ring.len() % 2,
            Some(_) => {
                self.stage(usize::MAX);
                let mut out = Staging::new(&mut self.staged);
                self.converter
                    .as_mut()
                    .map_or(0, |c| c.flush(&mut |s| out.put(s)))
            }
        }
    }

    /// Takes everything left (after `finish_input`), as the session's short last chunk.
    pub fn take_rest(&mut self) -> Option<Vec<u8>> {
        let n = match self.converter {
            None => self.ring.len() / 2 * 2,
            Some(_) => self.staged_len(),
        };
        let rest = (n > 0).then(|| self.take(n));
        if self.converter.is_none() {
            // A trailing half sample is not audio.
            let half = self.ring.len();
            self.ring.consume(half, |_| {});
        }
        rest
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        match self.converter {
            None => {
                let mut out = Vec::with_capacity(n);
                self.ring.consume(n, |b| out.extend_from_slice(b));
                out
            }
            Some(_) => {
                let out = self.staged[self.staged_at..self.staged_at + n].to_vec();
                self.staged_at += n;
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{FWASR_FORMAT_MULAW, FWASR_FORMAT_S16LE};

    fn native() -> InputFormat {
        InputFormat::default()
    }

    #[test]
    fn odd_pushes_come_out_as_exact_chunks() {
        let (mut p, mut c) = audio_queue(native(), 10_000, 1600, true).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        for piece in data.chunks(333) {
            p.write(piece).unwrap();
        }
        assert_eq!(p.samples(), 2500);
        let mut out = Vec::new();
        while let Some(ch) = c.take_chunk() {
            assert_eq!(ch.len(), 1600);
            out.extend(ch);
        }
        assert_eq!(c.finish_input(), 0);
        let rest = c.take_rest().unwrap();
        assert_eq!(rest.len(), 200);
        out.extend(rest);
        assert_eq!(out, data);
    }

    #[test]
    fn pushes_are_stamped_every_10_ms_and_a_burst_once_per_millisecond() {
        let (mut p, mut c) = audio_queue(native(), 1 << 20, 1600, true).unwrap();
        // 5 ms pushes: every second one crosses a 10 ms mark.
        for _ in 0..4 {
            p.write(&[0; 160]).unwrap();
        }
        let s: Vec<u64> = std::iter::from_fn(|| c.take_stamp()).map(|s| s.samples).collect();
        assert_eq!(s, [160, 320]);
        // A burst: every push while the ring is less than half full, then at most one per
        // millisecond, each saying how far the pushes it skipped went.
        let started = Instant::now();
        let pushes = 4 * STAMPS as u64;
        for _ in 0..pushes {
            p.write(&[0; 320]).unwrap();
        }
        let elapsed_ms = started.elapsed().as_millis() as usize;
        let taken: Vec<Stamp> = std::iter::from_fn(|| c.take_stamp()).collect();
        assert!(
            taken.len() <= STAMPS / 2 + elapsed_ms + 1,
            "{} stamps in {elapsed_ms} ms",
            taken.len()
        );
        assert!(taken.iter().all(|s| !s.after_gap));
        assert!(taken[..STAMPS / 2].iter().all(|s| s.burst.is_none()));
        // Stamps go in freely until the ring holds more than half: the 65th is the last so.
        for w in taken[STAMPS / 2..].windows(2) {
            assert!(w[1].at - w[0].at >= BURST, "{w:?}");
            // What a stamp skipped lies between the stamp before it and its own push, and was
            // pushed right after the stamp before.
            if let Some((end, back)) = w[1].burst {
                assert!(w[0].samples < end && end < w[1].samples, "{w:?}");
                assert_eq!(u128::from(back), (w[1].at - w[0].at).as_micros());
            }
        }
        // Past the burst, the next push is stamped and says where the burst's skipped
        // pushes ended.
        let last = taken.last().unwrap().samples;
        std::thread::sleep(BURST);
        p.write(&[0; 320]).unwrap();
        let next = c.take_stamp().unwrap();
        assert_eq!(next.samples, 320 + (pushes + 1) * 160);
        let total = 320 + pushes * 160;
        assert_eq!(next.burst.map(|b| b.0), (last < total).then_some(total));
        assert!(!next.after_gap);
        p.write(&[0; 320]).unwrap();
        assert_eq!(c.take_stamp().unwrap().burst, None);
        let end = Instant::now();
        p.stamp_end(end);
        assert_eq!(c.take_stamp().unwrap().at, end);
    }

    #[test]
    fn a_full_ring_leaves_a_marked_gap() {
        let (mut p, mut c) = audio_queue(native(), 1 << 20, 1600, true).unwrap();
        // Pushes more than a millisecond apart are each stamped, until the ring is full.
        for _ in 0..STAMPS + 2 {
            p.write(&[0; 320]).unwrap();
            std::thread::sleep(BURST + Duration::from_micros(100));
        }
        assert_eq!(std::iter::from_fn(|| c.take_stamp()).count(), STAMPS);
        p.write(&[0; 320]).unwrap();
        assert!(c.take_stamp().unwrap().after_gap);
    }

    #[test]
    fn full_queue_takes_nothing() {
        let (mut p, mut c) = audio_queue(native(), 3200, 1600, true).unwrap();
        assert_eq!(p.write(&[1; 3000]), Ok(()));
        assert_eq!(p.write(&[2; 201]), Err(Full));
        assert_eq!(p.samples(), 1500);
        assert_eq!(p.write(&[3; 200]), Ok(()));
        assert!(c.take_chunk().is_some());
        assert!(c.take_chunk().is_some());
        assert!(c.take_chunk().is_none());
    }

    #[test]
    fn half_sample_at_the_end_is_dropped() {
        let (mut p, mut c) = audio_queue(native(), 3200, 1600, true).unwrap();
        p.write(&[1; 101]).unwrap();
        assert_eq!(c.finish_input(), 1);
        assert_eq!(c.take_rest().unwrap().len(), 100);
        assert_eq!(c.queued_input(), 0);
    }

    #[test]
    fn converted_input_is_cut_into_exact_chunks_with_the_tail() {
        let ulaw = InputFormat::default().with(FWASR_FORMAT_MULAW, 8000, 1).unwrap();
        let (mut p, mut c) = audio_queue(ulaw, 8000, 1600, true).unwrap();
        p.write(&[0xff; 4001]).unwrap();
        assert_eq!(p.end_samples(), 8002);
        let mut sizes = Vec::new();
        while let Some(ch) = c.take_chunk() {
            sizes.push(ch.len());
        }
        assert_eq!(c.finish_input(), 0);
        while let Some(ch) = c.take_chunk() {
            sizes.push(ch.len());
        }
        sizes.push(c.take_rest().unwrap().len());
        assert_eq!(sizes.iter().sum::<usize>(), 8002 * 2);
        assert!(sizes[..sizes.len() - 1].iter().all(|&n| n == 1600), "{sizes:?}");
        let s16 = InputFormat::default().with(FWASR_FORMAT_S16LE, 16000, 2).unwrap();
        let (mut p, _) = audio_queue(s16, 100, 1600, true).unwrap();
        p.write(&[0; 7]).unwrap();
        assert_eq!(p.samples(), 1);
    }
}
