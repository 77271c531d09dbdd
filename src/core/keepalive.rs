//! Keep-alive and idle silence on an open connection. A ping every interval; the server is
//! gone when neither a pong nor a message came back within the next interval (its own pings
//! do not count: a server that never reads can still send them), or when it has taken none
//! of the bytes waiting to be sent for a whole interval. Optionally a chunk of silence after
//! a pause in the audio, for servers that close idle streams.

use std::time::{Duration, Instant};

use crate::error::*;

pub(crate) struct KeepAlive {
    interval: Option<Duration>,
    idle_silence: Option<Duration>,
    next_ping: Option<Instant>,
    awaiting_pong: bool,
    /// Bytes written when last looked at, and when that count last grew.
    written: u64,
    write_progress: Instant,
    last_audio: Instant,
}

/// What is due on the connection now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    pub ping: bool,
    pub silence: bool,
}

impl KeepAlive {
    pub fn new(interval: Option<Duration>, idle_silence: Option<Duration>, now: Instant) -> KeepAlive {
        KeepAlive {
            interval,
            idle_silence,
            next_ping: None,
            awaiting_pong: false,
            written: 0,
            write_progress: now,
            last_audio: now,
        }
    }

    /// A new connection is up at `now`.
    pub fn connected(&mut self, now: Instant) {
        self.next_ping = self.interval.map(|k| now + k);
        self.awaiting_pong = false;
        self.written = 0;
        self.write_progress = now;
        self.last_audio = now;
    }

    /// A pong or a message came.
    pub fn heard(&mut self) {
        self.awaiting_pong = false;
    }

    /// Reading is paused (the app has not taken its events), so no pong could be seen:
    /// pings wait.
    pub fn paused(&mut self, now: Instant) {
        if let Some(k) = self.interval {
            self.next_ping = Some(now + k);
            self.awaiting_pong = false;
        }
    }

    pub fn audio_sent(&mut self, now: Instant) {
        self.last_audio = now;
    }

    /// Checks the connection at `now`: `written` bytes so far, some of them still waiting when
    /// `out_pending`; `silence_allowed` while streaming and not finishing. An error when the
    /// server is gone.
    pub fn check(
        &mut self,
        now: Instant,
        written: u64,
        out_pending: bool,
        silence_allowed: bool,
    ) -> Result<Due, Error> {
        if written != self.written || !out_pending {
            self.written = written;
            self.write_progress = now;
        }
        if let (Some(due), Some(k)) = (self.stall_due(out_pending), self.interval) {
            if now >= due {
                return Err(Error::new(
                    FWASR_ERR_IO,
                    format!(
                        "the server has not read anything for {} ms (keep-alive interval)",
                        k.as_millis()
                    ),
                ));
            }
        }
        let mut due = Due::default();
        if let (Some(at), Some(k)) = (self.next_ping, self.interval) {
            if now >= at {
                if self.awaiting_pong {
                    return Err(Error::new(
                        FWASR_ERR_IO,
                        format!("the server did not answer a ping within {} ms", k.as_millis()),
                    ));
                }
                due.ping = true;
                self.awaiting_pong = true;
                self.next_ping = Some(now + k);
            }
        }
        due.silence = !out_pending && self.silence_due(silence_allowed).is_some_and(|at| now >= at);
        if due.silence {
            self.last_audio = now;
        }
        Ok(due)
    }

    /// When something is next due, for the thread's sleep.
    pub fn deadline(&self, out_pending: bool, silence_allowed: bool) -> Option<Instant> {
        [
            self.next_ping,
            self.stall_due(out_pending),
            self.silence_due(silence_allowed),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn stall_due(&self, out_pending: bool) -> Option<Instant> {
        let k = self.interval.filter(|_| out_pending)?;
        Some(self.write_progress + k)
    }

    fn silence_due(&self, allowed: bool) -> Option<Instant> {
        let idle = self.idle_silence.filter(|_| allowed)?;
        Some(self.last_audio + idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pings_on_schedule_and_an_unanswered_one_ends_it() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(Some(MS * 100), None, t0);
        k.connected(t0);
        assert_eq!(k.deadline(false, true), Some(t0 + MS * 100));
        assert_eq!(k.check(t0 + MS * 50, 0, false, true).unwrap(), Due::default());
        assert!(k.check(t0 + MS * 100, 0, false, true).unwrap().ping);
        // A pong (or any message) answers it.
        k.heard();
        assert!(k.check(t0 + MS * 200, 0, false, true).unwrap().ping);
        // Nothing comes back for an interval.
        let e = k.check(t0 + MS * 300, 0, false, true).unwrap_err();
        assert_eq!(e.status, FWASR_ERR_IO);
        assert!(e.message.contains("did not answer a ping"), "{}", e.message);
    }

    #[test]
    fn a_server_that_takes_no_bytes_for_an_interval_is_gone() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(Some(MS * 100), None, t0);
        k.connected(t0);
        k.check(t0, 5000, true, true).unwrap();
        // Some progress at 60 ms moves the stall deadline.
        k.check(t0 + MS * 60, 6000, true, true).unwrap();
        assert_eq!(k.deadline(true, true), Some(t0 + MS * 100));
        k.heard();
        assert!(k.check(t0 + MS * 159, 6000, true, true).is_ok());
        let e = k.check(t0 + MS * 160, 6000, true, true).unwrap_err();
        assert!(e.message.contains("has not read anything"), "{}", e.message);
    }

    #[test]
    fn pings_wait_while_reading_is_paused() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(Some(MS * 100), None, t0);
        k.connected(t0);
        assert!(k.check(t0 + MS * 100, 0, false, true).unwrap().ping);
        k.paused(t0 + MS * 150);
        assert_eq!(k.check(t0 + MS * 200, 0, false, true).unwrap(), Due::default());
        assert!(k.check(t0 + MS * 250, 0, false, true).unwrap().ping);
    }

    #[test]
    fn idle_silence_after_a_pause_in_the_audio_only() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(None, Some(MS * 150), t0);
        k.connected(t0);
        k.audio_sent(t0 + MS * 100);
        assert_eq!(k.deadline(false, true), Some(t0 + MS * 250));
        assert!(!k.check(t0 + MS * 249, 0, false, true).unwrap().silence);
        assert!(k.check(t0 + MS * 250, 0, false, true).unwrap().silence);
        // Not while finishing, not while a write waits.
        assert!(!k.check(t0 + MS * 900, 0, false, false).unwrap().silence);
        assert!(!k.check(t0 + MS * 900, 0, true, true).unwrap().silence);
        assert_eq!(k.deadline(false, false), None);
    }
}
