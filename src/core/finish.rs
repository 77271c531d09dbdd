//! Finishing: after `finish`, the last audio, then the final checkpoint, then its echo, all
//! by one deadline set when finish was called, which nothing extends (a slow or silent
//! server, reconnects, a final checkpoint sent again).

use std::time::{Duration, Instant};

use crate::error::*;

/// The id of the checkpoint that ends a session.
pub(crate) const FINAL: &str = "final";

#[derive(Default)]
pub(crate) struct Finish {
    /// finish was called; `end` is the audio position it ends at.
    pub end: Option<u64>,
    /// The last input was converted and the resampler flushed.
    pub input_flushed: bool,
    /// The final checkpoint went out on the current connection.
    pub final_sent: bool,
    /// Its echo came: the transcript is complete.
    pub final_received: bool,
    deadline: Option<Instant>,
    timeout: Duration,
}

impl Finish {
    pub fn new(timeout: Duration) -> Finish {
        Finish {
            timeout,
            ..Finish::default()
        }
    }

    pub fn requested(&self) -> bool {
        self.end.is_some()
    }

    /// finish was called: no audio after `end`; give up at `deadline` (set by the caller,
    /// so it holds whatever the network thread was doing then).
    pub fn request(&mut self, end: u64, deadline: Option<Instant>) {
        self.end = Some(end);
        self.deadline = deadline;
    }

    /// The final checkpoint went out at `now`.
    pub fn final_sent(&mut self, now: Instant) {
        self.final_sent = true;
        self.deadline.get_or_insert(now + self.timeout);
    }

    /// A checkpoint echo came: the final one counts once it was sent on this connection.
    pub fn echo(&mut self, id: &str) {
        if id == FINAL && self.final_sent {
            self.final_received = true;
        }
    }

    /// The connection was lost: a final checkpoint whose echo never came must go again on
    /// the next one. True when it must.
    pub fn connection_lost(&mut self) -> bool {
        let resend = self.final_sent && !self.final_received;
        if resend {
            self.final_sent = false;
        }
        resend
    }

    /// When finishing gives up, while it waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.filter(|_| !self.final_received)
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn timeout_error(&self) -> Error {
        Error::new(
            FWASR_ERR_TIMEOUT,
            format!(
                "the final transcript did not arrive within the finish timeout ({} ms)",
                self.timeout.as_millis()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_deadline_set_at_finish_holds_across_resends() {
        let t0 = Instant::now();
        let mut f = Finish::new(3 * S);
        assert!(!f.requested() && f.deadline().is_none());
        f.request(3200, Some(t0 + 3 * S));
        f.final_sent(t0 + 2 * S);
        assert_eq!(f.deadline(), Some(t0 + 3 * S));
        // The connection drops before the echo; the checkpoint goes again, the deadline stays.
        assert!(f.connection_lost());
        assert!(!f.final_sent);
        f.final_sent(t0 + 5 * S / 2);
        assert_eq!(f.deadline(), Some(t0 + 3 * S));
        assert!(!f.expired(t0 + 2 * S) && f.expired(t0 + 3 * S));
    }

    #[test]
    fn only_the_echo_of_a_sent_final_checkpoint_completes() {
        let t0 = Instant::now();
        let mut f = Finish::new(S);
        f.echo(FINAL);
        assert!(!f.final_received, "an echo before the checkpoint went out");
        f.request(0, None);
        f.final_sent(t0);
        assert_eq!(
            f.deadline(),
            Some(t0 + S),
            "without a caller's deadline, the timeout"
        );
        f.echo("other");
        assert!(!f.final_received);
        f.echo(FINAL);
        assert!(f.final_received);
        assert_eq!(f.deadline(), None);
        assert!(!f.expired(t0 + 10 * S));
        assert!(!f.connection_lost());
        assert_eq!(f.timeout_error().status, FWASR_ERR_TIMEOUT);
    }
}
