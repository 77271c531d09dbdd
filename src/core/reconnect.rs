//! When and how often a broken connection is tried again. The budget is `max_attempts`
//! attempts in a row without progress, where progress is a connection that confirmed new
//! final audio: one that only connects, or only takes audio nobody settles, does not renew
//! it, so a server that accepts and drops every connection cannot keep a session
//! reconnecting.

use std::time::Duration;

use crate::config::Reconnect;
use crate::error::*;

pub(crate) struct Budget {
    policy: Option<Reconnect>,
    /// Jitter's random state: seeded by the caller, so a test can replay a sequence.
    rng: u64,
    /// Attempts since a connection last made progress.
    attempts: u32,
    /// The end of the final transcript (s) when the current connection came up.
    final_at_connect: f64,
}

impl Budget {
    pub fn new(policy: Option<Reconnect>, seed: u64) -> Budget {
        Budget {
            policy,
            // Spread over all bits (neighbouring seeds differ after it); xorshift has no zero
            // state.
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            attempts: 0,
            final_at_connect: 0.0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.policy.is_some()
    }

    /// A connection came up while the transcript was final up to `final_end_s`.
    pub fn connected(&mut self, final_end_s: f64) {
        self.final_at_connect = final_end_s;
    }

    /// The connection ended with the transcript final up to `final_end_s`.
    pub fn lost(&mut self, final_end_s: f64) {
        if final_end_s > self.final_at_connect {
            self.attempts = 0;
        }
    }

    /// The next attempt's number and backoff, or the error to give up with.
    pub fn next_attempt(&mut self, cause: &Error) -> Result<(u32, Duration), Error> {
        let policy = self.policy.expect("reconnect is on");
        if self.attempts >= policy.max_attempts {
            return Err(Error::with_code(
                cause.status,
                cause.code,
                format!(
                    "gave up after {} reconnect attempts without progress: {}",
                    policy.max_attempts, cause.message
                ),
            ));
        }
        self.attempts += 1;
        let jitter = self.next_random();
        let wait = backoff(&policy, self.attempts, jitter);
        // A server that said when to come back is not asked sooner.
        Ok((self.attempts, cause.retry_after.map_or(wait, |r| wait.max(r))))
    }

    /// xorshift64*: enough to spread clients apart, and no clock.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Errors a new connection may fix: the network and the server's transient states, not
/// credentials, certificates or configuration.
pub(crate) fn retryable(e: &Error) -> bool {
    match e.status {
        FWASR_ERR_IO
        | FWASR_ERR_CLOSED
        | FWASR_ERR_CONNECT
        | FWASR_ERR_CONNECT_TIMEOUT
        | FWASR_ERR_RESOLVE
        | FWASR_ERR_RESOURCE
        | FWASR_ERR_PROTOCOL => true,
        FWASR_ERR_HANDSHAKE => e.code == 429 || e.code >= 500,
        _ => false,
    }
}

/// Exponential backoff with jitter between half and all of the step, so many sessions that
/// lost one server do not come back at the same instant.
fn backoff(policy: &Reconnect, attempt: u32, random: u64) -> Duration {
    let step = policy
        .initial_backoff
        .saturating_mul(1 << (attempt - 1).min(20))
        .min(policy.max_backoff);
    step.mul_f64(0.5 + (random % 1001) as f64 / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> Option<Reconnect> {
        Some(Reconnect {
            max_attempts,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        })
    }

    #[test]
    fn connections_without_progress_use_the_budget_up() {
        let cause = Error::with_code(FWASR_ERR_HANDSHAKE, 503, "busy");
        let mut b = Budget::new(policy(3), 7);
        for want in 1..=3 {
            b.connected(2.0);
            b.lost(2.0);
            assert_eq!(b.next_attempt(&cause).unwrap().0, want);
        }
        let e = b.next_attempt(&cause).unwrap_err();
        assert_eq!((e.status, e.code), (FWASR_ERR_HANDSHAKE, 503));
        assert!(e
            .message
            .contains("gave up after 3 reconnect attempts without progress: busy"));
    }

    #[test]
    fn progress_renews_the_budget() {
        let cause = Error::new(FWASR_ERR_IO, "dropped");
        let mut b = Budget::new(policy(1), 7);
        for i in 0..10 {
            b.connected(f64::from(i));
            b.lost(f64::from(i) + 0.5);
            assert_eq!(b.next_attempt(&cause).unwrap().0, 1);
        }
    }

    #[test]
    fn backoff_grows_within_its_bounds() {
        let p = policy(10).unwrap();
        for attempt in 1..=10 {
            let step = (100u64 << (attempt - 1)).min(1000);
            for random in [0, 1000, 1001, u64::MAX] {
                let d = backoff(&p, attempt, random).as_millis() as u64;
                assert!((step / 2..=step).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
    }

    #[test]
    fn jitter_follows_its_seed() {
        let cause = Error::new(FWASR_ERR_IO, "dropped");
        let run = |seed| {
            let mut b = Budget::new(policy(10), seed);
            (0..10)
                .map(|_| b.next_attempt(&cause).unwrap().1)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1), "the same seed, the same backoffs");
        assert_ne!(run(1), run(2), "another seed spreads them");
    }

    #[test]
    fn only_what_a_new_connection_can_fix_is_retried() {
        for (status, code, want) in [
            (FWASR_ERR_IO, 0, true),
            (FWASR_ERR_CLOSED, 1011, true),
            (FWASR_ERR_HANDSHAKE, 503, true),
            (FWASR_ERR_HANDSHAKE, 429, true),
            (FWASR_ERR_HANDSHAKE, 404, false),
            (FWASR_ERR_AUTH, 401, false),
            (FWASR_ERR_TLS, 0, false),
        ] {
            assert_eq!(
                retryable(&Error::with_code(status, code, "")),
                want,
                "{status:?} {code}"
            );
        }
    }
}
