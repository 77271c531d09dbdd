//! Levels of the audio a session sends: RMS and peak of the last 100 ms, the session's peak,
//! clipped samples, and how much was silence. Measured on the 16 kHz mono s16 audio as the
//! network thread takes it from the queue (where it is converted anyway), so pushing costs
//! nothing more. dBFS is relative to full scale, 32,768: a full-scale square wave reads
//! 0 dBFS RMS, a full-scale sine −3.01 dBFS RMS and 0 dBFS peak (as ffmpeg's astats).

/// 10 ms at 16 kHz: the unit of the window and of the silence count.
const BLOCK: u32 = 160;
/// Blocks in the window: 100 ms.
const WINDOW: usize = 10;
/// A 10 ms block whose RMS is below −60 dBFS (this, of 32,768) counts as silence.
const SILENCE_RMS: f64 = 32.768;

/// A block is silent when its sum of squares is below this (no root or logarithm per block).
const SILENT_BLOCK_SUM_SQ: f64 = SILENCE_RMS * SILENCE_RMS * BLOCK as f64;

#[derive(Clone, Copy, Default)]
struct Block {
    /// Exact: 160 squares of at most 2^30 each.
    sum_sq: u64,
    peak: u32,
    samples: u32,
}

/// What `stats` reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelStats {
    /// RMS of the last 100 ms taken (dBFS; −inf for digital silence, NaN before any audio).
    pub rms_dbfs: f64,
    /// Peak of the last 100 ms taken (dBFS).
    pub peak_dbfs: f64,
    /// Peak of the whole session so far (dBFS).
    pub session_peak_dbfs: f64,
    /// Samples at full scale (±32,767 or −32,768): clipped input, or input that reached full
    /// scale.
    pub clipped_samples: u64,
    /// Milliseconds of audio in 10 ms blocks whose RMS was below −60 dBFS.
    pub silence_ms: f64,
}

#[derive(Default)]
pub(crate) struct Levels {
    window: [Block; WINDOW],
    /// Where the next complete block goes in `window`.
    next: usize,
    current: Block,
    session_peak: u32,
    clipped: u64,
    silent_blocks: u64,
    /// Samples seen in all: NaN levels before the first.
    samples: u64,
}

/// Sum of squares, peak magnitude and full-scale count of some 16-bit little-endian samples.
#[derive(Debug, PartialEq)]
struct Sums {
    sum_sq: u64,
    peak: u32,
    clipped: u32,
}

/// Every chunk a session sends passes here, 20 times a second per stream: SSE2 (part of
/// every x86-64) does eight samples per step, an order of magnitude faster than the scalar
/// loop, which the compiler does not vectorize (it widens each square to 64 bits).
#[cfg(target_arch = "x86_64")]
fn sums(pcm: &[u8]) -> Sums {
    use std::arch::x86_64::*;
    let mut eights = pcm.chunks_exact(16);
    // SAFETY: SSE2 is in every x86-64 CPU; the loads are unaligned loads of 16 bytes that
    // `chunks_exact` guarantees, and the stores write arrays of exactly 16 bytes.
    let (squares, max, min, full) = unsafe {
        let zero = _mm_setzero_si128();
        let (mut lo, mut hi, mut max, mut min, mut full) = (zero, zero, zero, zero, zero);
        let (top, bottom) = (_mm_set1_epi16(32766), _mm_set1_epi16(-32766));
        for e in &mut eights {
            let v = _mm_loadu_si128(e.as_ptr().cast());
            // Pairs of squares: at most 2 × 2^30, exact as unsigned 32-bit, widened to 64.
            let sq = _mm_madd_epi16(v, v);
            lo = _mm_add_epi64(lo, _mm_unpacklo_epi32(sq, zero));
            hi = _mm_add_epi64(hi, _mm_unpackhi_epi32(sq, zero));
            max = _mm_max_epi16(max, v);
            min = _mm_min_epi16(min, v);
            // Each lane counts down by one per sample at full scale: -1 per match.
            let at_full = _mm_or_si128(_mm_cmpgt_epi16(v, top), _mm_cmplt_epi16(v, bottom));
            full = _mm_sub_epi16(full, at_full);
        }
        let (mut squares, mut max_l, mut min_l, mut full_l) = ([0u64; 4], [0i16; 8], [0i16; 8], [0u16; 8]);
        _mm_storeu_si128(squares.as_mut_ptr().cast(), lo);
        _mm_storeu_si128(squares.as_mut_ptr().add(2).cast(), hi);
        _mm_storeu_si128(max_l.as_mut_ptr().cast(), max);
        _mm_storeu_si128(min_l.as_mut_ptr().cast(), min);
        _mm_storeu_si128(full_l.as_mut_ptr().cast(), full);
        (squares, max_l, min_l, full_l)
    };
    let rest = sums_scalar(eights.remainder());
    let peak = max
        .iter()
        .chain(&min)
        .map(|&x| u32::from(x.unsigned_abs()))
        .max()
        .unwrap_or(0);
    Sums {
        sum_sq: squares.iter().sum::<u64>() + rest.sum_sq,
        peak: peak.max(rest.peak),
        // A lane counts at most an eighth of the samples (a part is at most 160).
        clipped: full.iter().map(|&x| u32::from(x)).sum::<u32>() + rest.clipped,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn sums(pcm: &[u8]) -> Sums {
    sums_scalar(pcm)
}

fn sums_scalar(pcm: &[u8]) -> Sums {
    let mut s = Sums {
        sum_sq: 0,
        peak: 0,
        clipped: 0,
    };
    for b in pcm.chunks_exact(2) {
        let a = u32::from(i16::from_le_bytes([b[0], b[1]]).unsigned_abs());
        s.sum_sq += u64::from(a * a);
        s.peak = s.peak.max(a);
        s.clipped += u32::from(a >= 32767);
    }
    s
}

fn dbfs(x: f64) -> f64 {
    20.0 * (x / 32768.0).log10()
}

impl Default for LevelStats {
    /// No audio yet.
    fn default() -> LevelStats {
        LevelStats {
            rms_dbfs: f64::NAN,
            peak_dbfs: f64::NAN,
            session_peak_dbfs: f64::NAN,
            clipped_samples: 0,
            silence_ms: 0.0,
        }
    }
}

impl Levels {
    /// Takes in 16-bit little-endian mono samples, a block's part at a time.
    pub fn feed(&mut self, pcm: &[u8]) {
        let mut rest = &pcm[..pcm.len() / 2 * 2];
        while !rest.is_empty() {
            let room = (BLOCK - self.current.samples) as usize * 2;
            let (part, after) = rest.split_at(room.min(rest.len()));
            rest = after;
            let Sums {
                sum_sq,
                peak,
                clipped,
            } = sums(part);
            self.clipped += u64::from(clipped);
            let b = &mut self.current;
            b.sum_sq += sum_sq;
            b.peak = b.peak.max(peak);
            b.samples += (part.len() / 2) as u32;
            if b.samples == BLOCK {
                if (b.sum_sq as f64) < SILENT_BLOCK_SUM_SQ {
                    self.silent_blocks += 1;
                }
                self.session_peak = self.session_peak.max(b.peak);
                self.window[self.next] = std::mem::take(b);
                self.next = (self.next + 1) % WINDOW;
            }
        }
        self.samples += (pcm.len() / 2) as u64;
    }

    pub fn stats(&self) -> LevelStats {
        if self.samples == 0 {
            return LevelStats::default();
        }
        // The last 100 ms: the block being filled and the complete ones before it.
        let mut left = WINDOW as u32 * BLOCK;
        let (mut sum_sq, mut peak, mut n) = (0u64, 0u32, 0u32);
        let recent = std::iter::once(self.current)
            .chain((1..=WINDOW).map(|k| self.window[(self.next + WINDOW - k) % WINDOW]));
        for b in recent {
            if left == 0 {
                break;
            }
            sum_sq += b.sum_sq;
            peak = peak.max(b.peak);
            n += b.samples;
            left = left.saturating_sub(b.samples.max(1));
        }
        LevelStats {
            rms_dbfs: dbfs((sum_sq as f64 / f64::from(n.max(1))).sqrt()),
            peak_dbfs: dbfs(f64::from(peak)),
            session_peak_dbfs: dbfs(f64::from(self.session_peak.max(self.current.peak))),
            clipped_samples: self.clipped,
            silence_ms: self.silent_blocks as f64 * 10.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(peak_dbfs: f64, ms: usize, hz: f64) -> Vec<u8> {
        let amp = 32768.0 * 10f64.powf(peak_dbfs / 20.0);
        (0..ms * 16)
            .flat_map(|i| {
                let v = amp * (2.0 * std::f64::consts::PI * hz * i as f64 / 16000.0).sin();
                (v.round().clamp(-32768.0, 32767.0) as i16).to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn the_fast_sums_equal_the_plain_ones() {
        let mut x = 0x2545_f491u32;
        let mut pcm: Vec<u8> = (0..1600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        // Full scale both ways, one short of it, and -32768 twice in one pair.
        for (at, v) in [
            (6, 32767i16),
            (20, -32768),
            (22, -32768),
            (40, -32767),
            (60, 32766),
            (62, -32766),
        ] {
            pcm[at..at + 2].copy_from_slice(&v.to_le_bytes());
        }
        for len in (0..=pcm.len()).step_by(2) {
            assert_eq!(sums(&pcm[..len]), sums_scalar(&pcm[..len]), "{len} bytes");
        }
        assert_eq!(sums_scalar(&pcm[20..24]).sum_sq, 1 << 31);
    }

    #[test]
    fn the_silence_threshold_is_minus_60_dbfs() {
        assert!((dbfs(SILENCE_RMS) + 60.0).abs() < 1e-9);
        let mut l = Levels::default();
        l.feed(&tone(-57.5, 100, 1000.0)); // RMS -60.5 dBFS
        l.feed(&tone(-56.5, 100, 1000.0));
        assert_eq!(l.stats().silence_ms, 100.0);
    }

    #[test]
    fn sines_read_their_peak_and_three_db_less_rms() {
        for want in [-6.0, -30.0] {
            let mut l = Levels::default();
            l.feed(&tone(want, 1000, 1000.0));
            let s = l.stats();
            assert!((s.peak_dbfs - want).abs() < 0.01, "{s:?}");
            assert!((s.session_peak_dbfs - want).abs() < 0.01, "{s:?}");
            assert!((s.rms_dbfs - (want - 3.0103)).abs() < 0.01, "{s:?}");
            assert_eq!((s.clipped_samples, s.silence_ms), (0, 0.0));
        }
    }

    #[test]
    fn the_window_is_the_last_100_ms_and_silence_is_counted() {
        let mut l = Levels::default();
        assert!(l.stats().rms_dbfs.is_nan());
        l.feed(&tone(-6.0, 500, 1000.0));
        l.feed(&vec![0u8; 32 * 250]);
        let s = l.stats();
        assert_eq!(s.rms_dbfs, f64::NEG_INFINITY, "only silence in the last 100 ms");
        assert!((s.session_peak_dbfs + 6.0).abs() < 0.01);
        assert_eq!(s.silence_ms, 250.0);
        // A clipped square: every sample at full scale.
        let square: Vec<u8> = (0..1600)
            .flat_map(|i| if i % 16 < 8 { 32767i16 } else { -32768 }.to_le_bytes())
            .collect();
        l.feed(&square);
        let s = l.stats();
        assert_eq!(s.clipped_samples, 1600);
        assert!(s.rms_dbfs > -0.01 && s.peak_dbfs > -0.01, "{s:?}");
    }
}
