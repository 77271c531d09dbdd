//! Pacing: with a pacing factor, chunks leave at that multiple of real time (files); without,
//! each chunk leaves as soon as it is complete (live sources).

use std::time::{Duration, Instant};

pub(crate) struct Pacer {
    /// Time between chunks; None when not paced.
    interval: Option<Duration>,
    /// When the next chunk may go.
    next_due: Option<Instant>,
}

impl Pacer {
    /// `factor` 0 is unpaced; 1.0 real time, 2.0 twice real time ...
    pub fn new(chunk_ms: u32, factor: f64) -> Pacer {
        Pacer {
            interval: (factor > 0.0).then(|| Duration::from_secs_f64(f64::from(chunk_ms) / 1000.0 / factor)),
            next_due: None,
        }
    }

    /// Whether a chunk may go at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.next_due.is_none_or(|d| now >= d)
    }

    /// A chunk went at `now`: the next one is due an interval after this one's slot. After a
    /// starved stretch (nothing to send for longer than an interval) the schedule restarts
    /// from now instead of sending the backlog in a burst.
    pub fn sent(&mut self, now: Instant) {
        if let Some(iv) = self.interval {
            self.next_due = Some(match self.next_due {
                Some(d) if now < d + iv => d + iv,
                _ => now + iv,
            });
        }
    }

    /// When the next chunk may go, while paced and a chunk waits.
    pub fn due(&self) -> Option<Instant> {
        self.next_due
    }

    /// A new connection: its first chunk goes at once.
    pub fn restart(&mut self) {
        self.next_due = None;
    }

    pub fn is_paced(&self) -> bool {
        self.interval.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn unpaced_chunks_go_at_once() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50, 0.0);
        for i in 0..10 {
            assert!(p.ready(t0 + MS * i));
            p.sent(t0 + MS * i);
        }
        assert_eq!(p.due(), None);
        assert!(!p.is_paced());
    }

    #[test]
    fn real_time_keeps_its_schedule_despite_late_wake_ups() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50, 1.0);
        assert!(p.ready(t0));
        p.sent(t0);
        assert_eq!(p.due(), Some(t0 + MS * 50));
        assert!(!p.ready(t0 + MS * 49));
        // Sent 3 ms late: the next slot stays on the 50 ms grid.
        p.sent(t0 + MS * 53);
        assert_eq!(p.due(), Some(t0 + MS * 100));
    }

    #[test]
    fn a_starved_stretch_restarts_the_schedule_instead_of_bursting() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100, 2.0);
        p.sent(t0);
        assert_eq!(p.due(), Some(t0 + MS * 50));
        // Nothing to send for 400 ms: the next chunk does not make up for the gap.
        p.sent(t0 + MS * 400);
        assert_eq!(p.due(), Some(t0 + MS * 450));
        p.restart();
        assert!(p.ready(t0 + MS * 401));
    }
}
