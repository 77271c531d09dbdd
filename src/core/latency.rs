//! Latency: how long after the caller pushed the audio at a segment's end its event came.
//! The push stamps (src/chunker.rs) say when each stretch of the stream was pushed; the
//! session's final-segment latencies go into a histogram for their median, 95th percentile
//! and maximum.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::chunker::Stamp;

/// Stamps kept at most (8 KB): 2.56 s of audio at one per 10 ms, 5 s with 20 ms pushes, more
/// with larger ones. Older ones are forgotten, and the latency of audio that old is unknown.
const KEPT: usize = 256;
/// How far beyond the last stamp a segment may end and still count as pushed with it: a
/// server's rounding of times.
const SLACK_SAMPLES: u64 = 160;

/// A stamp as kept: 32 bytes instead of the ring's 56 (times as nanoseconds after the first
/// stamp).
#[derive(Clone, Copy, Debug)]
struct Kept {
    samples: u64,
    at_ns: u64,
    /// A burst's unstamped pushes reached this far (0: none) ...
    burst_end: u64,
    /// ... this many microseconds before this stamp (u32::MAX: too long ago to say).
    burst_back_us: u32,
    after_gap: bool,
}

/// When each stretch of the stream was pushed: stamp i covers the samples after stamp i - 1
/// up to its own.
#[derive(Default)]
pub(crate) struct PushTimes {
    stamps: VecDeque<Kept>,
    /// The first stamp's time: kept times count from it.
    base: Option<Instant>,
    /// Samples up to here are no longer covered (their stamps were forgotten).
    floor: u64,
}

impl PushTimes {
    pub fn add(&mut self, stamp: Stamp) {
        if self.stamps.len() == KEPT {
            self.forget_first();
        }
        let base = *self.base.get_or_insert(stamp.at);
        let (burst_end, burst_back_us) = stamp.burst.unwrap_or((0, 0));
        self.stamps.push_back(Kept {
            samples: stamp.samples,
            at_ns: u64::try_from(stamp.at.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX),
            burst_end,
            burst_back_us,
            after_gap: stamp.after_gap,
        });
    }

    fn time(&self, at_ns: u64) -> Option<Instant> {
        self.base.and_then(|b| b.checked_add(Duration::from_nanos(at_ns)))
    }

    fn forget_first(&mut self) {
        if let Some(s) = self.stamps.pop_front() {
            self.floor = s.samples;
        }
    }

    /// Forgets the stamps that cover only audio before `samples` (a final segment's end: no
    /// later segment ends before it).
    pub fn forget_before(&mut self, samples: u64) {
        while self.stamps.len() > 1 && self.stamps[0].samples < samples {
            self.forget_first();
        }
    }

    /// When the sample at `samples` was pushed; None when that is not known.
    pub fn pushed_at(&self, samples: u64) -> Option<Instant> {
        if samples <= self.floor && self.floor > 0 {
            return None;
        }
        let i = self.stamps.partition_point(|s| s.samples < samples);
        match self.stamps.get(i) {
            Some(s) if s.after_gap => None,
            // Pushed in a burst right after the stamp before (within BURST of it).
            Some(s) if samples <= s.burst_end => (s.burst_back_us < u32::MAX)
                .then(|| s.at_ns.checked_sub(u64::from(s.burst_back_us) * 1000))
                .flatten()
                .and_then(|ns| self.time(ns)),
            Some(s) => self.time(s.at_ns),
            None => self
                .stamps
                .back()
                .filter(|s| samples <= s.samples + SLACK_SAMPLES)
                .and_then(|s| self.time(s.at_ns)),
        }
    }
}

/// The median, 95th percentile and maximum latency of the segments that became final; NaN
/// before the first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl Default for LatencySummary {
    fn default() -> Self {
        LatencySummary {
            p50_ms: f64::NAN,
            p95_ms: f64::NAN,
            max_ms: f64::NAN,
        }
    }
}

/// Bucket widths grow by 2 %, so a percentile is within 1 % of the true one; 700 buckets span
/// 1 ms to over 16 minutes in 2.8 KB, allocated with the first latency.
const GROWTH: f64 = 1.02;
const BUCKETS: usize = 700;

#[derive(Default)]
pub(crate) struct LatencyHistogram {
    counts: Option<Box<[u32; BUCKETS]>>,
    n: u64,
    max_ms: f64,
}

impl LatencyHistogram {
    pub fn record(&mut self, ms: f64) {
        if !ms.is_finite() {
            return;
        }
        let ms = ms.max(0.0);
        let counts = self.counts.get_or_insert_with(|| Box::new([0; BUCKETS]));
        let i = bucket(ms);
        counts[i] = counts[i].saturating_add(1);
        self.n += 1;
        self.max_ms = if self.n == 1 { ms } else { self.max_ms.max(ms) };
    }

    pub fn summary(&self) -> LatencySummary {
        let Some(counts) = &self.counts else {
            return LatencySummary::default();
        };
        let at = |q: f64| {
            // The smallest value with at least q of the latencies at or below it.
            let rank = ((q * self.n as f64).ceil() as u64).max(1);
            let mut seen = 0u64;
            let i = counts
                .iter()
                .position(|&c| {
                    seen += u64::from(c);
                    seen >= rank
                })
                .unwrap_or(BUCKETS - 1);
            middle(i).min(self.max_ms)
        };
        LatencySummary {
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            max_ms: self.max_ms,
        }
    }
}

/// Bucket 0 holds under 1 ms; bucket i ≥ 1 holds [GROWTH^(i-1), GROWTH^i) ms.
fn bucket(ms: f64) -> usize {
    if ms < 1.0 {
        return 0;
    }
    ((ms.ln() / GROWTH.ln()).floor() as usize + 1).min(BUCKETS - 1)
}

/// The value a bucket stands for: the geometric middle of its bounds.
fn middle(i: usize) -> f64 {
    if i == 0 {
        return 0.5;
    }
    GROWTH.powf(i as f64 - 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(t0: Instant, samples: u64, ms: u64, after_gap: bool) -> Stamp {
        Stamp {
            samples,
            at: t0 + Duration::from_millis(ms),
            after_gap,
            burst: None,
        }
    }

    #[test]
    fn each_sample_has_the_time_of_the_push_that_brought_it() {
        let t0 = Instant::now();
        let mut p = PushTimes::default();
        p.add(stamp(t0, 320, 20, false));
        p.add(stamp(t0, 640, 40, false));
        p.add(stamp(t0, 1280, 90, true));
        p.add(stamp(t0, 1600, 100, false));
        p.add(Stamp {
            burst: Some((1800, 30_000)),
            ..stamp(t0, 1920, 130, false)
        });
        let at = |p: &PushTimes, s| p.pushed_at(s).map(|t| t.duration_since(t0).as_millis());
        assert_eq!(at(&p, 0), Some(20));
        assert_eq!(at(&p, 320), Some(20));
        assert_eq!(at(&p, 321), Some(40));
        assert_eq!(at(&p, 640), Some(40));
        // Stamps were lost before the one at 1280: the audio it covers has no known time.
        assert_eq!(at(&p, 641), None);
        assert_eq!(at(&p, 1280), None);
        assert_eq!(at(&p, 1281), Some(100));
        // Pushes a burst skipped: pushed right after the stamp before; then the stamp's own.
        assert_eq!(at(&p, 1700), Some(100));
        assert_eq!(at(&p, 1800), Some(100));
        assert_eq!(at(&p, 1801), Some(130));
        // A server's rounding past the last push.
        assert_eq!(at(&p, 1920 + 160), Some(130));
        assert_eq!(at(&p, 1920 + 161), None);
        p.forget_before(1000);
        assert_eq!(at(&p, 1281), Some(100));
        // A burst's time is its own: the stamp before may be forgotten.
        p.forget_before(1700);
        assert_eq!(at(&p, 1700), Some(100));
        assert_eq!(at(&p, 500), None, "forgotten");
    }

    #[test]
    fn the_oldest_stamps_go_first() {
        let t0 = Instant::now();
        let mut p = PushTimes::default();
        for i in 1..=KEPT as u64 + 10 {
            p.add(stamp(t0, i * 160, i * 10, false));
        }
        assert_eq!(std::mem::size_of::<Kept>(), 32);
        assert_eq!(p.pushed_at(160 * 10), None);
        assert!(p.pushed_at(160 * 12).is_some());
    }

    #[test]
    fn percentiles_within_one_percent() {
        let mut h = LatencyHistogram::default();
        assert!(h.summary().p50_ms.is_nan());
        for ms in 1..=1000 {
            h.record(f64::from(ms));
        }
        let s = h.summary();
        assert!((s.p50_ms / 500.0 - 1.0).abs() < 0.01, "{s:?}");
        assert!((s.p95_ms / 950.0 - 1.0).abs() < 0.01, "{s:?}");
        assert_eq!(s.max_ms, 1000.0);
        let mut one = LatencyHistogram::default();
        one.record(37.0);
        one.record(f64::NAN);
        let s = one.summary();
        assert!(
            (s.p50_ms / 37.0 - 1.0).abs() < 0.01 && s.p95_ms <= 37.0 && s.max_ms == 37.0,
            "{s:?}"
        );
        let mut fast = LatencyHistogram::default();
        fast.record(0.2);
        assert_eq!(fast.summary().p50_ms, 0.2);
    }
}
