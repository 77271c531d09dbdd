//! A session's life on its network thread, as a state machine that its reactor steps when the
//! socket is ready, the session was notified, or its deadline came: dial (resolve, connect,
//! TLS, upgrade), stream, and after a break backoff and dial again, until it ends. It never
//! blocks, so one thread can carry one session or a thousand.

mod stream;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::{Interest, Registry, Token};
use tungstenite::protocol::frame::coding::CloseCode;

use super::finish::Finish;
use super::keepalive::KeepAlive;
use super::link::Link;
use super::pacing::Pacer;
use super::reconnect::{retryable, Budget};
use super::replay::{bytes_at, Renumber, ReplayLog};
use super::shared::*;
use super::sink::Sink;
use crate::chunker::AudioConsumer;
use crate::config::{Config, BYTES_PER_MS};
use crate::conn::{Connector, Dial, Net, Ws};
use crate::error::*;
use crate::event::*;

/// How a session ended.
pub(crate) enum Outcome {
    /// Freed by the caller: nobody is listening any more.
    Stopped,
    /// The final echo arrived: the transcript is complete.
    Finished,
    Failed(Error),
}

/// What a step leaves the reactor to do.
pub(crate) struct Wait {
    /// Step again by then; None when only the socket or a notification can move it on.
    pub deadline: Option<Instant>,
    /// Step again at once: messages are still waiting to be read (the step yielded).
    pub again: bool,
}

enum Phase {
    /// Making a connection; `attempt` is 0 for the first one.
    Dialing {
        dial: Dial,
        timeout_at: Instant,
        attempt: u32,
        resume: u64,
    },
    Open(Link<Net>),
    /// Waiting before reconnect attempt `attempt`.
    Backoff {
        until: Instant,
        attempt: u32,
    },
    /// Between two phases within a step.
    Between,
}

/// How an open connection ended.
enum Ended {
    /// After the final echo: the transcript is complete.
    Finished,
    /// It broke; a new connection may follow.
    Lost(Error),
    /// The session ends, whatever the reconnect settings.
    Over(Outcome),
}

pub(crate) struct Machine {
    shared: Arc<Shared>,
    sink: Sink,
    connector: Connector,
    audio: AudioConsumer,
    control: Receiver<Control>,
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
    /// Audio bytes taken from the queue and written.
    consumed: u64,
    /// Audio to send again after a reconnect, ahead of new audio, in chunks.
    replay: VecDeque<Vec<u8>>,
    /// The stream position of the next chunk of `replay`.
    replay_at: u64,
    dropped_reported: u64,
    connected_once: bool,
    /// CLOSED was reported at the final echo; the close handshake goes on unreported.
    closed_reported: bool,
    started: Instant,
    phase: Phase,
    /// What the socket is registered for.
    interest: Interest,
}

impl Machine {
    pub fn new(
        shared: Arc<Shared>,
        connector: Connector,
        audio: AudioConsumer,
        control: Receiver<Control>,
        sink: Sink,
        cfg: &Config,
    ) -> Machine {
        let now = Instant::now();
        Machine {
            shared,
            sink,
            connector,
            audio,
            control,
            pending: VecDeque::new(),
            unanswered: VecDeque::new(),
            finish: Finish::new(cfg.finish_timeout),
            pacer: Pacer::new(cfg.chunk_ms, cfg.pacing),
            alive: KeepAlive::new(cfg.keepalive, cfg.idle_silence, now),
            log: ReplayLog::new(if cfg.reconnect.is_some() {
                cfg.buffer_ms as usize * BYTES_PER_MS
            } else {
                0
            }),
            renumber: Renumber::default(),
            budget: Budget::new(cfg.reconnect),
            final_end_s: 0.0,
            consumed: 0,
            replay: VecDeque::new(),
            replay_at: 0,
            dropped_reported: 0,
            connected_once: false,
            closed_reported: false,
            started: now,
            phase: Phase::Between,
            interest: Interest::READABLE | Interest::WRITABLE,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// One step: whatever the session can do now without waiting. Err when it has ended.
    pub fn step(&mut self, registry: &Registry, token: Token, readable: bool) -> Result<Wait, Outcome> {
        let now = Instant::now();
        if self.shared.stop.load(Ordering::Acquire) {
            if let Phase::Open(link) = &mut self.phase {
                link.goodbye(CloseCode::Away, "session freed");
            }
            return Err(Outcome::Stopped);
        }
        self.take_controls();
        self.report_overrun();
        match std::mem::replace(&mut self.phase, Phase::Between) {
            Phase::Between => {
                self.shared.log(FWASR_LOG_INFO, || {
                    format!("connecting to {}", self.connector.display_url)
                });
                self.dial(registry, token, 0, 0, now)
            }
            Phase::Dialing {
                dial,
                timeout_at,
                attempt,
                resume,
            } => self.step_dialing(registry, token, dial, timeout_at, attempt, resume, now),
            Phase::Backoff { until, attempt } => {
                if let Some(e) = self.finish_expired(now) {
                    return Err(Outcome::Failed(e));
                }
                if now < until {
                    self.phase = Phase::Backoff { until, attempt };
                    return Ok(self.wait_until(Some(until)));
                }
                let resume = self.log.resume_point(bytes_at(self.final_end_s), self.consumed);
                self.dial(registry, token, attempt, resume, now)
            }
            Phase::Open(link) => self.step_open(registry, token, link, readable, now),
        }
    }

    /// Starts a connection (attempt 0 is the first) and moves it on as far as it goes.
    fn dial(
        &mut self,
        registry: &Registry,
        token: Token,
        attempt: u32,
        resume: u64,
        now: Instant,
    ) -> Result<Wait, Outcome> {
        let shared = self.shared.clone();
        let resume_ms = (attempt > 0).then_some(resume / BYTES_PER_MS as u64);
        match self.connector.dial(resume_ms, Arc::new(move || shared.notify())) {
            Ok(dial) => {
                let timeout_at = now + self.connector.timeout;
                self.step_dialing(registry, token, dial, timeout_at, attempt, resume, now)
            }
            Err(e) => self.dial_failed(e, attempt, now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step_dialing(
        &mut self,
        registry: &Registry,
        token: Token,
        mut dial: Dial,
        timeout_at: Instant,
        attempt: u32,
        resume: u64,
        now: Instant,
    ) -> Result<Wait, Outcome> {
        match dial.advance(registry, token) {
            Ok(Some(ws)) => {
                self.interest = Interest::READABLE | Interest::WRITABLE;
                let link = self.opened(ws, attempt, resume, now);
                // The upgrade may have brought a first message along.
                self.step_open(registry, token, link, true, now)
            }
            Ok(None) => {
                let expired = self.finish_expired(now);
                if expired.is_some() || now >= timeout_at {
                    let e = dial.timed_out(self.connector.timeout);
                    dial.cancel(registry);
                    return match expired {
                        Some(timeout) => Err(Outcome::Failed(timeout)),
                        None => self.dial_failed(e, attempt, now),
                    };
                }
                self.phase = Phase::Dialing {
                    dial,
                    timeout_at,
                    attempt,
                    resume,
                };
                Ok(self.wait_until(Some(timeout_at)))
            }
            Err(e) => {
                dial.cancel(registry);
                self.dial_failed(e, attempt, now)
            }
        }
    }

    /// A connection could not be made: the first one ends the session (wait_ready reports
    /// it), a reconnect is tried again when a new attempt may fix it.
    fn dial_failed(&mut self, e: Error, attempt: u32, now: Instant) -> Result<Wait, Outcome> {
        if let Some(timeout) = self.finish_expired(now) {
            return Err(Outcome::Failed(timeout));
        }
        if attempt == 0 || !retryable(&e) {
            return Err(Outcome::Failed(e));
        }
        self.retry(e, now)
    }

    /// A connection is up: the first one opens the session, a later one resumes it.
    fn opened(&mut self, ws: Ws, attempt: u32, resume: u64, now: Instant) -> Link<Net> {
        let sh = self.shared.clone();
        if attempt == 0 {
            sh.log(FWASR_LOG_INFO, || {
                format!("connected in {} ms", self.started.elapsed().as_millis())
            });
            let state = if sh.finish_requested.load(Ordering::Acquire) {
                FWASR_STATE_FINISHING
            } else {
                FWASR_STATE_OPEN
            };
            sh.set_state(state);
            self.sink.emit(&sh, Event::Connected);
        } else {
            sh.reconnects.fetch_add(1, Ordering::Relaxed);
            self.resume(resume, attempt);
        }
        self.connected_once = true;
        self.budget.connected(self.final_end_s);
        self.alive.connected(now);
        self.pacer.restart();
        Link::new(ws)
    }

    /// A new connection after a break: forgets what the old one had not finished, renumbers
    /// what the new one will send, and queues the audio from `resume` to be sent again.
    fn resume(&mut self, resume: u64, attempt: u32) {
        let sh = self.shared.clone();
        let settled = bytes_at(self.final_end_s);
        let dropped = self.log.dropped(settled, self.consumed);
        if dropped > 0 {
            sh.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        let removed = sh.transcript.lock().remove_unfinished();
        for segment in removed {
            self.sink.emit(&sh, Event::SegmentRemoved { segment, json: None });
        }
        self.renumber
            .next_connection(resume, sh.transcript.lock().max_numeric_id());
        if self.finish.connection_lost() {
            // The final checkpoint went out on the old connection; its echo never came.
            if let Some(end) = self.finish.end {
                self.pending.push_front(Control::Finish { end });
            }
        }
        // So did these answers: the messages go again, each at its place in the replayed
        // audio (first, if its place is before the resume point), ahead of later calls.
        while let Some((c, _)) = self.unanswered.pop_back() {
            self.pending.push_front(c);
        }
        self.replay = self.log.replay(resume, sh.chunk_bytes);
        self.replay_at = resume;
        let replayed: u64 = self.replay.iter().map(|c| c.len() as u64).sum();
        sh.replayed.fetch_add(replayed, Ordering::Relaxed);
        let offset_s = self.renumber.offset_s();
        self.sink.emit(
            &sh,
            Event::Reconnected {
                attempt,
                start_s: offset_s,
                replayed_ms: replayed as f64 / BYTES_PER_MS as f64,
                dropped_ms: dropped as f64 / BYTES_PER_MS as f64,
            },
        );
        sh.log(FWASR_LOG_INFO, || {
            format!(
                "reconnected; resending {} ms from {offset_s:.3} s",
                replayed / BYTES_PER_MS as u64
            )
        });
    }

    /// The open connection ended: tries again when asked to and it may help.
    fn connection_lost(&mut self, e: Error, now: Instant) -> Result<Wait, Outcome> {
        self.budget.lost(self.final_end_s);
        let may = self.budget.enabled()
            && self.connected_once
            && !self.finish.final_received
            && !self.shared.stop.load(Ordering::Acquire)
            && retryable(&e);
        if !may {
            return Err(Outcome::Failed(e));
        }
        self.retry(e, now)
    }

    /// Schedules the next attempt after `cause`, or gives up when the budget is spent.
    fn retry(&mut self, cause: Error, now: Instant) -> Result<Wait, Outcome> {
        if let Some(timeout) = self.finish_expired(now) {
            return Err(Outcome::Failed(timeout));
        }
        let (attempt, backoff) = self.budget.next_attempt(&cause).map_err(Outcome::Failed)?;
        self.shared.log(FWASR_LOG_WARN, || {
            format!(
                "{cause}; reconnecting in {} ms (attempt {attempt})",
                backoff.as_millis()
            )
        });
        self.sink.emit(
            &self.shared,
            Event::Reconnecting {
                error: cause,
                attempt,
                backoff_ms: backoff.as_secs_f64() * 1000.0,
            },
        );
        let until = now + backoff;
        self.phase = Phase::Backoff { until, attempt };
        Ok(self.wait_until(Some(until)))
    }

    /// Takes the control calls made since the last look, in call order.
    fn take_controls(&mut self) {
        while let Ok(c) = self.control.try_recv() {
            if let Control::Finish { end } = c {
                self.finish.request(end, *self.shared.finish_by.lock());
            }
            self.pending.push_back(c);
        }
        self.shared
            .controls_pending
            .store(self.pending.len(), Ordering::Release);
    }

    fn report_overrun(&mut self) {
        let sh = self.shared.clone();
        if sh.overrun_signal.swap(false, Ordering::Acquire) {
            let dropped = sh.dropped.load(Ordering::Relaxed);
            let ms = (dropped - self.dropped_reported) as f64 / BYTES_PER_MS as f64;
            self.dropped_reported = dropped;
            sh.log(FWASR_LOG_WARN, || {
                format!("audio queue overrun: {ms:.1} ms of audio refused")
            });
            self.sink.emit(&sh, Event::Overrun { dropped_ms: ms });
        }
    }

    /// The timeout error once the finish deadline has passed without the final echo.
    fn finish_expired(&self, now: Instant) -> Option<Error> {
        self.finish.expired(now).then(|| self.finish.timeout_error())
    }

    /// A wait until `at` or the finish deadline, whichever is first.
    fn wait_until(&self, at: Option<Instant>) -> Wait {
        Wait {
            deadline: [at, self.finish.deadline()].into_iter().flatten().min(),
            again: false,
        }
    }

    /// Lets go of the socket (the thread stops watching it).
    fn release(&mut self, registry: &Registry) {
        match std::mem::replace(&mut self.phase, Phase::Between) {
            Phase::Open(mut link) => {
                let _ = registry.deregister(link.ws.get_mut().get_mut().tcp_mut());
            }
            Phase::Dialing { dial, .. } => dial.cancel(registry),
            Phase::Backoff { .. } | Phase::Between => {}
        }
    }

    /// The final echo came: the transcript is complete, so the session reports CLOSED now,
    /// and finish returns, without waiting for the server's side of the close handshake,
    /// which goes on unreported (within CLOSE_WAIT).
    pub(super) fn report_finished(&mut self) {
        if std::mem::replace(&mut self.closed_reported, true) {
            return;
        }
        let sh = self.shared.clone();
        sh.ended.store(true, Ordering::Release);
        sh.progress.lock().state = FWASR_STATE_CLOSED;
        sh.log(FWASR_LOG_INFO, || "finished: the whole transcript is in".into());
        self.sink.emit(&sh, Event::Closed { error: None });
        // Nothing more goes to the app: CLOSED is last.
        self.sink = Sink::Closed;
        // finish returns once the CLOSED event has been delivered, as at the end of a session.
        sh.changed.notify_all();
    }

    /// The session ended: reports how (unless CLOSED was reported at the final echo),
    /// releases its socket, and lets go of the session.
    pub fn end(mut self, registry: &Registry, outcome: Outcome) {
        self.release(registry);
        let sh = self.shared.clone();
        match outcome {
            Outcome::Finished => self.report_finished(),
            // CLOSED went out at the final echo: how the close handshake ended does not matter.
            _ if self.closed_reported => {}
            // Not CLOSED: a finish racing the free must not read "the whole transcript is in".
            // A freed session reports nothing: nobody is listening any more.
            Outcome::Stopped => sh.fail(Error::new(
                FWASR_ERR_STATE,
                "the session was freed before it finished",
            )),
            Outcome::Failed(e) => {
                sh.fail(e.clone());
                sh.log(FWASR_LOG_ERROR, || format!("session failed: {e}"));
                self.sink.emit(&sh, Event::Closed { error: Some(e) });
            }
        }
        // Dropping the sink disconnects the event queue: next_event returns NULL once drained.
        self.sink = Sink::Closed;
        drop(self);
        sh.done();
    }
}
