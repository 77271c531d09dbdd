//! The protocol state of one session, with no I/O, no threads and no clock (sans-IO): what
//! to send and when, what the server's messages mean, when to dial again, when to give up.
//! The driver (`engine`) feeds it what happened, with the time it happened, and carries out
//! what it asks for:
//!
//! - inputs: `handle_timeout(now)`, `connected`, `dial_failed`, `received_*`,
//!   `connection_over`, `control`, `stop`, `reading_held`, `wrote`;
//! - outputs: `poll_action` (dial, close, release), `poll_transmit` (the next frame when the
//!   connection can take one), `poll_output` (events and log lines, in order), `poll_timeout`
//!   (when to call `handle_timeout` next), `outcome` once the session is over.
//!
//! Its parts each do one thing: pacing, finishing, keep-alive, replay and renumbering, the
//! reconnect budget. Tests drive it on a virtual clock (`tests.rs`).

mod control;
mod finish;
mod keepalive;
mod latency;
mod pacing;
mod reconnect;
mod replay;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) use control::Control;
use finish::Finish;
use keepalive::KeepAlive;
pub use latency::LatencySummary;
use latency::{LatencyHistogram, PushTimes};
use pacing::Pacer;
use reconnect::{retryable, Budget};
use replay::{bytes_at, Renumber, ReplayLog};

use crate::chunker::Stamp;
use crate::config::{Config, Reconnect, BYTES_PER_MS};
use crate::error::*;
use crate::event::*;
use crate::transcript::Transcript;

/// How long to wait for the server's side of the close handshake.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_millis(2000);

/// Where the session's audio comes from: the queue the caller pushes into, converted to
/// 16 kHz mono s16le and cut into chunks.
pub(crate) trait Audio {
    /// Whether a complete chunk can be taken.
    fn has_chunk(&mut self) -> bool;
    /// Takes exactly one chunk, if one is complete.
    fn take_chunk(&mut self) -> Option<Vec<u8>>;
    /// The input has ended: converts all of it; returns the bytes of an incomplete last
    /// frame that had to be discarded.
    fn finish_input(&mut self) -> usize;
    /// Everything left after `finish_input`, as the short last chunk.
    fn take_rest(&mut self) -> Option<Vec<u8>>;
    /// The oldest stamp of the caller's pushes not yet taken (none ever when the server is
    /// not asked for segment times: nothing could be timed).
    fn take_stamp(&mut self) -> Option<Stamp>;
}

/// What the core needs from the configuration.
#[derive(Clone)]
pub(crate) struct Settings {
    pub chunk_ms: u32,
    pub chunk_bytes: usize,
    pub pacing: f64,
    pub connect_timeout: Duration,
    pub finish_timeout: Duration,
    pub keepalive: Option<Duration>,
    pub idle_silence: Option<Duration>,
    pub reconnect: Option<Reconnect>,
    /// Audio kept for sending again after a reconnect (0 without reconnect).
    pub replay_bytes: usize,
    /// The most verbose log level anyone listens to; None: no log lines are made at all.
    pub log: Option<LogLevel>,
    /// Hand each chunk sent for the first time out as Output::Record.
    pub record: bool,
    /// Seeds the reconnect jitter.
    pub seed: u64,
}

impl Settings {
    pub fn new(cfg: &Config, seed: u64) -> Settings {
        Settings {
            chunk_ms: cfg.chunk_ms,
            chunk_bytes: cfg.chunk_ms as usize * BYTES_PER_MS,
            pacing: cfg.pacing,
            connect_timeout: cfg.connect_timeout,
            finish_timeout: cfg.finish_timeout,
            keepalive: cfg.keepalive,
            idle_silence: cfg.idle_silence,
            reconnect: cfg.reconnect,
            replay_bytes: if cfg.reconnect.is_some() {
                cfg.buffer_ms as usize * BYTES_PER_MS
            } else {
                0
            },
            log: cfg.log.as_ref().map(|(_, level)| *level),
            record: cfg.record_path.is_some(),
            seed,
        }
    }
}

/// A frame for the open connection.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    Binary(Vec<u8>),
    Text(String),
    /// A keep-alive ping.
    Ping,
}

/// What the driver is asked to do.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    /// Make a connection; answer with `connected` or `dial_failed`. `resume_ms`: on a
    /// reconnect, where in the stream its audio starts.
    Dial { attempt: u32, resume_ms: Option<u64> },
    /// The connection being made ran out of time: give it up and answer with `dial_failed`
    /// saying how far it got.
    AbandonDial,
    /// Start the close handshake.
    Close { code: u16, reason: &'static str },
    /// Let go of the connection (or the one being made).
    Release,
}

/// What the session tells the application, in order.
#[derive(Debug)]
pub(crate) enum Output {
    Event(Event),
    Log(LogLevel, String),
    /// Audio going to the server for the first time (settings.record): for the recording.
    Record(Vec<u8>),
}

/// How a session ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Freed by the caller: nobody is listening any more.
    Stopped,
    /// The final echo arrived: the transcript is complete.
    Finished,
    Failed(Error),
}

/// Totals the driver publishes for `fwasr_session_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Counters {
    pub sent: u64,
    pub chunks_sent: u64,
    /// Audio the replay log no longer held when a reconnect needed it.
    pub dropped: u64,
    pub silence: u64,
    pub reconnects: u64,
    pub replayed: u64,
    pub messages: u64,
    /// The last trace round trip; NaN before the first.
    pub last_rtt_ms: f64,
    /// Of the segments that became final.
    pub latency: LatencySummary,
}

/// The session's state as the core sees it (FAILED and CLOSED-by-failure are the driver's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Connecting,
    Open,
    /// The final echo came: the whole transcript is in.
    Closed,
}

enum Phase {
    /// Not started: the first `handle_timeout` dials.
    Idle,
    /// Making a connection; `attempt` is 0 for the first one.
    Dialing {
        timeout_at: Instant,
        attempt: u32,
        resume: u64,
        abandoned: bool,
    },
    Open(Conn),
    /// Waiting before reconnect attempt `attempt`.
    Backoff {
        until: Instant,
        attempt: u32,
    },
    Over,
}

/// An open connection's own state.
#[derive(Default)]
struct Conn {
    /// Why the connection is ending, once the server sent its close frame.
    server_close: Option<Error>,
    /// By when the connection must be over once a close handshake started.
    close_deadline: Option<Instant>,
    /// The socket has unsent bytes (as of the last `wrote`): nothing new is taken.
    backed_up: bool,
    /// Frames due now whatever the pace: keep-alive pings and silence.
    urgent: VecDeque<Frame>,
}

pub(crate) struct Core<A: Audio> {
    settings: Settings,
    audio: A,
    transcript: Arc<Mutex<Transcript>>,
    /// Control calls not yet sent, in call order.
    pending: VecDeque<Control>,
    /// Checkpoints, traces and clears sent and not answered yet, in sending order, with when
    /// they were sent (a trace's round trip): sent again if their connection drops.
    unanswered: VecDeque<(Control, Instant)>,
    finish: Finish,
    pacer: Pacer,
    alive: KeepAlive,
    log: ReplayLog,
    renumber: Renumber,
    budget: Budget,
    /// The stream time (s) up to which the transcript is final.
    final_end_s: f64,
    /// When the caller pushed each stretch of the stream not yet final.
    push_times: PushTimes,
    /// Latencies of the segments that became final.
    latencies: LatencyHistogram,
    /// Audio bytes taken from the queue and written.
    consumed: u64,
    /// Audio to send again after a reconnect, ahead of new audio, in chunks.
    replay: VecDeque<Vec<u8>>,
    /// The stream position of the next chunk of `replay`.
    replay_at: u64,
    connected_once: bool,
    /// CLOSED was reported at the final echo; the close handshake goes on unreported.
    closed_reported: bool,
    started: Instant,
    phase: Phase,
    actions: VecDeque<Action>,
    outputs: VecDeque<Output>,
    outcome: Option<Outcome>,
    pub counters: Counters,
}

impl<A: Audio> Core<A> {
    pub fn new(settings: Settings, audio: A, transcript: Arc<Mutex<Transcript>>, now: Instant) -> Core<A> {
        Core {
            finish: Finish::new(settings.finish_timeout),
            pacer: Pacer::new(settings.chunk_ms, settings.pacing),
            alive: KeepAlive::new(settings.keepalive, settings.idle_silence, now),
            log: ReplayLog::new(settings.replay_bytes),
            budget: Budget::new(settings.reconnect, settings.seed),
            settings,
            audio,
            transcript,
            pending: VecDeque::new(),
            unanswered: VecDeque::new(),
            renumber: Renumber::default(),
            final_end_s: 0.0,
            push_times: PushTimes::default(),
            latencies: LatencyHistogram::default(),
            consumed: 0,
            replay: VecDeque::new(),
            replay_at: 0,
            connected_once: false,
            closed_reported: false,
            started: now,
            phase: Phase::Idle,
            actions: VecDeque::new(),
            outputs: VecDeque::new(),
            outcome: None,
            counters: Counters {
                last_rtt_ms: f64::NAN,
                latency: LatencySummary::default(),
                ..Counters::default()
            },
        }
    }

    pub fn audio(&self) -> &A {
        &self.audio
    }

    pub fn audio_mut(&mut self) -> &mut A {
        &mut self.audio
    }

    /// Control calls taken and not sent yet.
    pub fn pending_controls(&self) -> usize {
        self.pending.len()
    }

    pub fn stage(&self) -> Stage {
        if self.closed_reported {
            Stage::Closed
        } else if self.connected_once {
            Stage::Open
        } else {
            Stage::Connecting
        }
    }

    /// Whether a connection is open (the driver reads and writes only then).
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// How the session ended, once it has (after the last action and output).
    pub fn outcome(&mut self) -> Option<Outcome> {
        if !self.actions.is_empty() {
            return None;
        }
        self.outcome.take()
    }

    fn emit(&mut self, ev: Event) {
        self.outputs.push_back(Output::Event(ev));
    }

    fn log(&mut self, level: LogLevel, msg: impl FnOnce() -> String) {
        if self.settings.log.is_some_and(|max| level <= max) {
            self.outputs.push_back(Output::Log(level, msg()));
        }
    }

    /// The session is over: lets go of its connection.
    fn over(&mut self, outcome: Outcome) {
        if matches!(self.phase, Phase::Open(_) | Phase::Dialing { .. }) {
            self.actions.push_back(Action::Release);
        }
        self.phase = Phase::Over;
        self.outcome = Some(outcome);
    }

    /// The caller freed the session.
    pub fn stop(&mut self) {
        if matches!(self.phase, Phase::Over) {
            return;
        }
        if self.is_open() {
            self.actions.push_back(Action::Close {
                code: 1001,
                reason: "session freed",
            });
        }
        self.over(Outcome::Stopped);
    }

    /// A control call, in call order.
    pub fn control(&mut self, c: Control) {
        if let Control::Finish { end, by } = c {
            self.finish.request(end, Some(by));
        }
        self.pending.push_back(c);
    }

    /// Whatever time alone moves on: the first dial, the end of a backoff, a connection
    /// that takes too long, the finish deadline, the close handshake's wait.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Over => {}
            Phase::Idle => self.dial(0, 0, now),
            Phase::Backoff { until, attempt } => {
                let (until, attempt) = (*until, *attempt);
                if let Some(e) = self.finish_expired(now) {
                    self.over(Outcome::Failed(e));
                } else if now >= until {
                    let resume = self.log.resume_point(bytes_at(self.final_end_s), self.consumed);
                    self.dial(attempt, resume, now);
                }
            }
            Phase::Dialing {
                timeout_at,
                abandoned,
                ..
            } => {
                if !*abandoned && (now >= *timeout_at || self.finish.expired(now)) {
                    *abandoned = true;
                    self.actions.push_back(Action::AbandonDial);
                }
            }
            Phase::Open(conn) => {
                if self.finish.expired(now) {
                    let e = self.finish.timeout_error();
                    self.actions.push_back(Action::Close {
                        code: 1000,
                        reason: "final transcript timeout",
                    });
                    self.over(Outcome::Failed(e));
                } else if conn.close_deadline.is_some_and(|d| now >= d) {
                    self.connection_over(None, now);
                }
            }
        }
    }

    fn dial(&mut self, attempt: u32, resume: u64, now: Instant) {
        self.phase = Phase::Dialing {
            timeout_at: now + self.settings.connect_timeout,
            attempt,
            resume,
            abandoned: false,
        };
        let resume_ms = (attempt > 0).then_some(resume / BYTES_PER_MS as u64);
        self.actions.push_back(Action::Dial { attempt, resume_ms });
    }

    /// The connection asked for could not be made: the first one ends the session
    /// (wait_ready reports it), a reconnect is tried again when a new attempt may fix it.
    pub fn dial_failed(&mut self, e: Error, now: Instant) {
        let Phase::Dialing { attempt, .. } = self.phase else {
            return;
        };
        self.phase = Phase::Backoff { until: now, attempt };
        if let Some(timeout) = self.finish_expired(now) {
            self.over(Outcome::Failed(timeout));
        } else if attempt == 0 || !retryable(&e) {
            self.over(Outcome::Failed(e));
        } else {
            self.retry(e, now);
        }
    }

    /// The connection asked for is up: the first one opens the session, a later one resumes
    /// it.
    pub fn connected(&mut self, now: Instant) {
        let Phase::Dialing { attempt, resume, .. } = self.phase else {
            return;
        };
        self.phase = Phase::Open(Conn::default());
        if attempt == 0 {
            let ms = now.saturating_duration_since(self.started).as_millis();
            self.log(FWASR_LOG_INFO, || format!("connected in {ms} ms"));
            self.emit(Event::Connected);
        } else {
            self.counters.reconnects += 1;
            self.resume(resume, attempt);
        }
        self.connected_once = true;
        self.budget.connected(self.final_end_s);
        self.alive.connected(now);
        self.pacer.restart();
    }

    /// A new connection after a break: forgets what the old one had not finished, renumbers
    /// what the new one will send, and queues the audio from `resume` to be sent again.
    fn resume(&mut self, resume: u64, attempt: u32) {
        let settled = bytes_at(self.final_end_s);
        let dropped = self.log.dropped(settled, self.consumed);
        self.counters.dropped += dropped;
        let removed = self.transcript.lock().remove_unfinished();
        for segment in removed {
            self.emit(Event::SegmentRemoved { segment, json: None });
        }
        let max_id = self.transcript.lock().max_numeric_id().map(str::to_string);
        self.renumber.next_connection(resume, max_id.as_deref());
        if self.finish.connection_lost() {
            // The final checkpoint went out on the old connection; its echo never came.
            if let (Some(end), Some(by)) = (self.finish.end, self.finish.deadline()) {
                self.pending.push_front(Control::Finish { end, by });
            }
        }
        // So did these answers: the messages go again, each at its place in the replayed
        // audio (first, if its place is before the resume point), ahead of later calls.
        while let Some((c, _)) = self.unanswered.pop_back() {
            self.pending.push_front(c);
        }
        self.replay = self.log.replay(resume, self.settings.chunk_bytes);
        self.replay_at = resume;
        let replayed: u64 = self.replay.iter().map(|c| c.len() as u64).sum();
        self.counters.replayed += replayed;
        let offset_s = self.renumber.offset_s();
        self.emit(Event::Reconnected {
            attempt,
            start_s: offset_s,
            replayed_ms: replayed as f64 / BYTES_PER_MS as f64,
            dropped_ms: dropped as f64 / BYTES_PER_MS as f64,
        });
        self.log(FWASR_LOG_INFO, || {
            format!(
                "reconnected; resending {} ms from {offset_s:.3} s",
                replayed / BYTES_PER_MS as u64
            )
        });
    }

    /// The open connection is over: `e` says why (None: after the close handshake). With
    /// the final echo in, the session is complete; otherwise it tries again when asked to
    /// and it may help.
    pub fn connection_over(&mut self, e: Option<Error>, now: Instant) {
        let Phase::Open(conn) = &mut self.phase else {
            return;
        };
        let e = conn
            .server_close
            .take()
            .or(e)
            .unwrap_or_else(|| Error::new(FWASR_ERR_IO, "connection closed without a close frame"));
        self.actions.push_back(Action::Release);
        if self.finish.final_received {
            self.phase = Phase::Over;
            self.outcome = Some(Outcome::Finished);
            return;
        }
        self.phase = Phase::Backoff {
            until: now,
            attempt: 0,
        };
        self.budget.lost(self.final_end_s);
        if self.budget.enabled() && self.connected_once && retryable(&e) {
            self.retry(e, now);
        } else {
            self.phase = Phase::Over;
            self.outcome = Some(Outcome::Failed(e));
        }
    }

    /// Schedules the next attempt after `cause`, or gives up when the budget is spent.
    fn retry(&mut self, cause: Error, now: Instant) {
        if let Some(timeout) = self.finish_expired(now) {
            return self.over(Outcome::Failed(timeout));
        }
        let (attempt, backoff) = match self.budget.next_attempt(&cause) {
            Ok(next) => next,
            Err(e) => return self.over(Outcome::Failed(e)),
        };
        self.log(FWASR_LOG_WARN, || {
            format!(
                "{cause}; reconnecting in {} ms (attempt {attempt})",
                backoff.as_millis()
            )
        });
        self.emit(Event::Reconnecting {
            error: cause,
            attempt,
            backoff_ms: backoff.as_secs_f64() * 1000.0,
        });
        self.phase = Phase::Backoff {
            until: now + backoff,
            attempt,
        };
    }

    /// The timeout error once the finish deadline has passed without the final echo.
    fn finish_expired(&self, now: Instant) -> Option<Error> {
        self.finish.expired(now).then(|| self.finish.timeout_error())
    }

    /// When `handle_timeout` must run next (None: only an input can move the session on).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let at = match &self.phase {
            Phase::Over => return None,
            Phase::Idle => return Some(self.started),
            Phase::Dialing {
                timeout_at,
                abandoned,
                ..
            } => (!abandoned).then_some(*timeout_at),
            Phase::Backoff { until, .. } => Some(*until),
            Phase::Open(_) => self.open_deadline(),
        };
        [at, self.finish.deadline()].into_iter().flatten().min()
    }

    /// The final echo came: the transcript is complete, so the session reports CLOSED now
    /// (finish returns) without waiting for the server's side of the close handshake,
    /// which goes on unreported (within CLOSE_WAIT).
    fn report_finished(&mut self) {
        if std::mem::replace(&mut self.closed_reported, true) {
            return;
        }
        self.log(FWASR_LOG_INFO, || "finished: the whole transcript is in".into());
        self.emit(Event::Closed { error: None });
    }
}
