//! Levels of the audio a session sends: RMS and peak of the last 100 ms, the session's peak,
//! clipped samples, and how much was silence. Measured on the 16 kHz mono s16 audio as the
//! network thread takes it from the queue (where it is converted anyway), so pushing costs
//! nothing more. dBFS is relative to full scale, 32,768: a full-scale square wave reads
//! 0 dBFS RMS, a full-scale sine −3.01 dBFS RMS and 0 dBFS peak (as ffmpeg's astats).

/// 10 ms at 16 kHz: the unit of the window and of the silence count.
const BLOCK: u32 = 160;
/// Blocks in the window: 100 ms.
const WINDOW: usize = 10;
/// A 10 ms block whose RMS is below this counts as silence.
pub(crate) const SILENCE_DBFS: f64 = -60.0;

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
    /// Milliseconds of audio in 10 ms blocks whose RMS was below SILENCE_DBFS.
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
    /// Takes in 16-bit little-endian mono samples. A block's part at a time, in integers, so
    /// the loop has no float dependency and no per-sample branch (it vectorizes).
    pub fn feed(&mut self, pcm: &[u8]) {
        let mut rest = &pcm[..pcm.len() / 2 * 2];
        while !rest.is_empty() {
            let room = (BLOCK - self.current.samples) as usize * 2;
            let (part, after) = rest.split_at(room.min(rest.len()));
            rest = after;
            let (mut sum_sq, mut peak, mut clipped) = (0u64, 0u32, 0u32);
            for s in part.chunks_exact(2) {
                let s = i16::from_le_bytes([s[0], s[1]]);
                let a = u32::from(s.unsigned_abs());
                sum_sq += u64::from(a * a);
                peak = peak.max(a);
                clipped += u32::from(a >= 32767);
            }
            self.clipped += u64::from(clipped);
            let b = &mut self.current;
            b.sum_sq += sum_sq;
            b.peak = b.peak.max(peak);
            b.samples += (part.len() / 2) as u32;
            if b.samples == BLOCK {
                if dbfs((b.sum_sq as f64 / f64::from(BLOCK)).sqrt()) < SILENCE_DBFS {
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
