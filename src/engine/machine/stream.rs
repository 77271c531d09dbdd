//! The machine on an open connection: reads what the server sent, writes what is due
//! (control messages at their audio position, chunks at their pace, at the end the short
//! last chunk and the final checkpoint), keeps the connection alive, and watches deadlines.

use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, Utf8Bytes};

use super::{Ended, Machine, Outcome, Phase, Wait};
use crate::conn::Net;
use crate::engine::finish::FINAL;
use crate::engine::link::{Incoming, Link, ReadBudget, CLOSE_WAIT};
use crate::engine::replay::bytes_at;
use crate::engine::shared::Control;
use crate::error::*;
use crate::event::*;
use crate::protocol;
use crate::transcript::Change;

/// Unanswered control messages kept for sending again; older ones are forgotten (a server
/// that left that many unanswered will not answer them on the next connection either).
const UNANSWERED_CAP: usize = 256;

impl Machine {
    /// One step on the open connection `link`; puts it back unless the connection ended.
    pub(super) fn step_open(
        &mut self,
        registry: &Registry,
        token: Token,
        mut link: Link<Net>,
        readable: bool,
        now: Instant,
    ) -> Result<Wait, Outcome> {
        match self.stream(&mut link, readable, now) {
            Ok(wait) => {
                let want = if link.out_pending {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                if want != self.interest {
                    let tcp = link.ws.get_mut().get_mut().tcp_mut();
                    if let Err(e) = registry.reregister(tcp, token, want) {
                        let _ = registry.deregister(tcp);
                        return Err(Outcome::Failed(Error::os(
                            FWASR_ERR_INTERNAL,
                            "cannot watch the socket",
                            &e,
                        )));
                    }
                    self.interest = want;
                }
                self.phase = Phase::Open(link);
                Ok(wait)
            }
            Err(ended) => {
                let _ = registry.deregister(link.ws.get_mut().get_mut().tcp_mut());
                drop(link);
                match ended {
                    Ended::Finished => Err(Outcome::Finished),
                    Ended::Over(outcome) => Err(outcome),
                    Ended::Lost(e) => self.connection_lost(e, now),
                }
            }
        }
    }

    fn stream(&mut self, link: &mut Link<Net>, readable: bool, now: Instant) -> Result<Wait, Ended> {
        let paused = self.shared.reading_paused.load(Ordering::Acquire);
        // Read only when the socket said so (or the last step left messages unread): an
        // empty read is a wasted system call per wake-up.
        if (readable || link.read_more) && !paused {
            self.read_all(link, now)?;
        }
        if let Err(e) = self.write_due(link, now) {
            // What the server sent before the connection broke is still worth reading.
            self.read_all(link, now)?;
            return Err(self.link_ended(link, Some(e)));
        }
        if self.finish.expired(now) {
            link.goodbye(CloseCode::Normal, "final transcript timeout");
            return Err(Ended::Over(Outcome::Failed(self.finish.timeout_error())));
        }
        if link.close_deadline.is_some_and(|d| now >= d) {
            return Err(self.link_ended(link, None));
        }
        let paused = self.shared.reading_paused.load(Ordering::Acquire);
        if paused {
            self.alive.paused(now);
        }
        let silence_allowed = !self.finish.requested() && !link.closed_by_server();
        let due = match self
            .alive
            .check(now, link.written(), link.out_pending, silence_allowed)
        {
            Ok(due) => due,
            Err(e) => return Err(self.link_ended(link, Some(e))),
        };
        let sent = (|| {
            if due.ping {
                link.send(Message::Ping(b"fwasr".to_vec().into()))?;
                link.flush()?;
            }
            if due.silence {
                link.send(Message::binary(vec![0u8; self.shared.chunk_bytes]))?;
                link.flush()?;
                self.shared
                    .silence
                    .fetch_add(self.shared.chunk_bytes as u64, Ordering::Relaxed);
            }
            Ok(())
        })();
        if let Err(e) = sent {
            return Err(self.link_ended(link, Some(e)));
        }
        // After the final echo or the server's close only the close handshake is written
        // (write_due), so queued audio sets no deadline: a pacing time that has passed would
        // wake the thread again and again until the connection is over.
        let writing = !(self.finish.final_received || link.closed_by_server());
        let waiting_to_send = writing
            && !link.out_pending
            && (self.audio.has_chunk() || (self.finish.requested() && !self.finish.final_sent));
        let pacing = self
            .pacer
            .due()
            .filter(|_| waiting_to_send && self.pacer.is_paced());
        let again = link.read_more && !paused;
        let deadline = [
            pacing,
            self.finish.deadline(),
            link.close_deadline,
            self.alive.deadline(link.out_pending, silence_allowed),
        ]
        .into_iter()
        .flatten()
        .min();
        Ok(Wait { deadline, again })
    }

    /// The connection is over or broken: complete if the final echo came, else why.
    fn link_ended(&self, link: &Link<Net>, e: Option<Error>) -> Ended {
        if self.finish.final_received {
            Ended::Finished
        } else {
            Ended::Lost(link.end_error(e))
        }
    }

    /// Reads what the server sent, within a step's budget; stops reading while the app has
    /// a full event queue.
    fn read_all(&mut self, link: &mut Link<Net>, now: Instant) -> Result<(), Ended> {
        let sh = self.shared.clone();
        let mut budget = ReadBudget::default();
        loop {
            if self.sink.full(&sh) {
                // The server's messages wait in the socket (TCP holds the server back) until
                // next_event has taken half the queue and notifies this session.
                sh.reading_paused.store(true, Ordering::Release);
                if self.sink.full(&sh) {
                    link.read_more = true;
                    return Ok(());
                }
                sh.reading_paused.store(false, Ordering::Release);
            }
            match link.read(now, &mut budget) {
                Ok(Incoming::Text(t)) => {
                    self.alive.heard();
                    sh.messages.fetch_add(1, Ordering::Relaxed);
                    self.handle_text(&t, now);
                    if self.finish.final_received && link.close_deadline.is_none() {
                        link.goodbye(CloseCode::Normal, "");
                        link.close_deadline = Some(now + CLOSE_WAIT.min(self.finish.timeout()));
                    }
                }
                Ok(Incoming::Binary(n)) => {
                    self.alive.heard();
                    sh.messages.fetch_add(1, Ordering::Relaxed);
                    let error = Error::new(
                        FWASR_ERR_PROTOCOL,
                        format!("server sent a binary message of {n} bytes"),
                    );
                    self.sink.emit(&sh, Event::Error { error, json: None });
                }
                Ok(Incoming::Pong) => self.alive.heard(),
                Ok(Incoming::Drained | Incoming::Yield) => return Ok(()),
                Ok(Incoming::Closed) => return Err(self.link_ended(link, None)),
                Err(e) => return Err(self.link_ended(link, Some(e))),
            }
        }
    }

    fn handle_text(&mut self, text: &Utf8Bytes, now: Instant) {
        // After CLOSED the transcript is final: later messages change nothing.
        if self.closed_reported {
            return;
        }
        let sh = self.shared.clone();
        let msg = match protocol::parse(text.as_str()) {
            Ok(m) => m,
            Err(why) => {
                sh.log(FWASR_LOG_WARN, || why.clone());
                self.sink.emit(
                    &sh,
                    Event::Error {
                        error: Error::new(FWASR_ERR_PROTOCOL, why),
                        json: Some(Json::new(text.as_str())),
                    },
                );
                return;
            }
        };
        let shared_text = Json::new(text.as_str());
        let json = || Some(shared_text.clone());
        if let Some(mut segments) = msg.segments {
            self.renumber.apply(&mut segments);
            for s in segments.iter().filter(|s| s.is_final == 1 && s.end_s.is_finite()) {
                self.final_end_s = self.final_end_s.max(s.end_s);
            }
            let changes = sh.transcript.lock().apply(&segments);
            for change in changes {
                self.sink.emit(
                    &sh,
                    match change {
                        Change::Upserted(segment) => Event::Segment {
                            segment,
                            json: json(),
                        },
                        Change::Removed(segment) => Event::SegmentRemoved {
                            segment,
                            json: json(),
                        },
                    },
                );
            }
        }
        if let Some((message, code)) = &msg.error {
            let error = Error::with_code(FWASR_ERR_SERVER, *code, format!("server error: {message}"));
            sh.log(FWASR_LOG_WARN, || error.message.to_string());
            self.sink.emit(&sh, Event::Error { error, json: json() });
        }
        if let Some(id) = msg.trace_id {
            let sent_at = self.answered(|c| matches!(c, Control::Trace { id: sent, .. } if *sent == id));
            let rtt = sent_at.map_or(f64::NAN, |t| {
                now.saturating_duration_since(t).as_secs_f64() * 1000.0
            });
            if rtt.is_finite() {
                sh.last_rtt_bits.store(rtt.to_bits(), Ordering::Relaxed);
            }
            self.sink.emit(
                &sh,
                Event::Trace {
                    id,
                    rtt_ms: rtt,
                    json: json(),
                },
            );
        }
        if let Some(id) = msg.reset_id {
            self.answered(|c| matches!(c, Control::Clear { id: sent, .. } if *sent == id));
            self.sink.emit(&sh, Event::Cleared { id, json: json() });
        }
        if let Some(id) = msg.checkpoint_id {
            self.answered(|c| matches!(c, Control::Checkpoint { id: sent, .. } if *sent == id));
            self.finish.echo(&id);
            self.sink.emit(&sh, Event::Checkpoint { id, json: json() });
            if self.finish.final_received {
                self.report_finished();
            }
        }
    }

    /// Writes what is due: replayed audio, control messages whose audio position is reached,
    /// complete chunks (paced when asked), and at the end the short last chunk and the final
    /// checkpoint. Stops taking audio while the socket has unsent bytes, so a stalled server
    /// backs up into the queue (and `push` reports BUFFER_FULL) instead of into memory.
    fn write_due(&mut self, link: &mut Link<Net>, now: Instant) -> Result<(), Error> {
        // After the final echo or the server's close, only the close handshake is written.
        if self.finish.final_received || link.closed_by_server() {
            return link.flush();
        }
        let input_before = self.audio.queued_input();
        loop {
            if link.out_pending {
                link.flush()?;
                if link.out_pending {
                    break;
                }
            }
            if let Some(c) = self.pending.front() {
                // While replaying, a control message goes out where its audio position is
                // reached in the replayed audio.
                let reached = if self.replay.is_empty() {
                    self.consumed
                } else {
                    self.replay_at
                };
                if !matches!(c, Control::Finish { .. }) && c.at() <= reached {
                    let c = self.pending.pop_front().expect("front exists");
                    self.send_control(link, c, now)?;
                    continue;
                }
            }
            if let Some(piece) = self.replay.pop_front() {
                self.replay_at += piece.len() as u64;
                link.send(Message::binary(piece))?;
                self.shared.chunks_sent.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if !self.pacer.ready(now) {
                break;
            }
            let limit = self.pending.front().map(Control::at);
            if self.audio.has_chunk() && limit.is_none_or(|at| self.consumed < at) {
                let chunk = self.audio.take_chunk().expect("a complete chunk is queued");
                self.send_audio(link, chunk, now)?;
                continue;
            }
            if self.finish.requested()
                && !self.finish.final_sent
                && matches!(self.pending.front(), Some(Control::Finish { .. }))
            {
                if !self.finish.input_flushed {
                    // Convert what is left and flush the resampler; full chunks go out first.
                    self.finish.input_flushed = true;
                    let discarded = self.audio.finish_input();
                    if discarded > 0 {
                        self.shared.log(FWASR_LOG_WARN, || {
                            format!("dropped {discarded} bytes of an incomplete last frame")
                        });
                    }
                    continue;
                }
                self.pending.pop_front();
                if let Some(rest) = self.audio.take_rest() {
                    self.send_audio(link, rest, now)?;
                }
                link.send(Message::text(protocol::checkpoint(FINAL)))?;
                self.finish.final_sent(now);
                self.shared.log(FWASR_LOG_INFO, || "final checkpoint sent".into());
                continue;
            }
            break;
        }
        link.flush()?;
        self.shared
            .controls_pending
            .store(self.pending.len(), Ordering::Release);
        if self.audio.queued_input() != input_before {
            self.shared.room_changed();
        }
        Ok(())
    }

    fn send_audio(&mut self, link: &mut Link<Net>, chunk: Vec<u8>, now: Instant) -> Result<(), Error> {
        let n = chunk.len() as u64;
        self.log.record(&chunk, self.consumed, bytes_at(self.final_end_s));
        link.send(Message::binary(chunk))?;
        self.consumed += n;
        self.alive.audio_sent(now);
        self.pacer.sent(now);
        self.shared.sent.fetch_add(n, Ordering::Release);
        self.shared.chunks_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn send_control(&mut self, link: &mut Link<Net>, c: Control, now: Instant) -> Result<(), Error> {
        let text = match &c {
            Control::Checkpoint { id, .. } => protocol::checkpoint(id),
            Control::Trace { id, event_id, .. } => protocol::trace(event_id, id),
            Control::Clear { id, event_id, .. } => protocol::clear(event_id, id),
            Control::Finish { .. } => unreachable!("finish is handled by write_due"),
        };
        link.send(Message::text(text))?;
        // Bounded: a server that answers none of them cannot make this grow past the cap.
        if self.unanswered.len() == UNANSWERED_CAP {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back((c, now));
        Ok(())
    }

    /// An answer came: its message need not go again. When it was sent, if it was.
    fn answered(&mut self, answer: impl Fn(&Control) -> bool) -> Option<Instant> {
        let i = self.unanswered.iter().position(|(c, _)| answer(c))?;
        self.unanswered.remove(i).map(|(_, sent_at)| sent_at)
    }
}
