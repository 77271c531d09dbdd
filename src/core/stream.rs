//! The core on an open connection: what the server's messages mean, what is due to be
//! written (control messages at their audio position, chunks at their pace, at the end the
//! short last chunk and the final checkpoint), keep-alive, and the open connection's
//! deadlines.

use std::time::Instant;

use super::finish::FINAL;
use super::replay::bytes_at;
use super::{Action, Audio, Conn, Control, Core, Frame, Output, Phase, CLOSE_WAIT};
use crate::error::*;
use crate::event::*;
use crate::protocol;
use crate::transcript::Change;

/// Unanswered control messages kept for sending again; older ones are forgotten (a server
/// that left that many unanswered will not answer them on the next connection either).
const UNANSWERED_CAP: usize = 256;

impl<A: Audio> Core<A> {
    fn conn(&mut self) -> Option<&mut Conn> {
        match &mut self.phase {
            Phase::Open(c) => Some(c),
            _ => None,
        }
    }

    /// The server sent its close frame: `why` is the error the connection ends with (its
    /// code and reason). Only the close handshake is written from now on.
    pub fn received_close(&mut self, why: Error, now: Instant) {
        if let Some(c) = self.conn() {
            c.server_close.get_or_insert(why);
            c.close_deadline.get_or_insert(now + CLOSE_WAIT);
        }
    }

    pub fn received_pong(&mut self) {
        self.alive.heard();
    }

    /// A binary message: not part of the protocol, reported and otherwise ignored.
    pub fn received_binary(&mut self, len: usize) {
        self.alive.heard();
        self.counters.messages += 1;
        let error = Error::new(
            FWASR_ERR_PROTOCOL,
            format!("server sent a binary message of {len} bytes"),
        );
        self.emit(Event::Error { error, json: None });
    }

    /// A text message from the server.
    pub fn received_text(&mut self, text: &str, now: Instant) {
        self.alive.heard();
        self.counters.messages += 1;
        self.handle_text(text, now);
        if self.finish.final_received {
            // Our side of the close handshake, once; the server's side has its own wait.
            let timeout = self.finish.timeout();
            let goodbye = self.conn().is_some_and(|c| {
                c.close_deadline.is_none() && {
                    c.close_deadline = Some(now + CLOSE_WAIT.min(timeout));
                    true
                }
            });
            if goodbye {
                self.actions.push_back(Action::Close {
                    code: 1000,
                    reason: "",
                });
            }
        }
    }

    fn handle_text(&mut self, text: &str, now: Instant) {
        // After CLOSED the transcript is final: later messages change nothing.
        if self.closed_reported {
            return;
        }
        let msg = match protocol::parse(text, self.renumber.offset_s()) {
            Ok(m) => m,
            Err(why) => {
                self.log(FWASR_LOG_WARN, || why.clone());
                self.emit(Event::Error {
                    error: Error::new(FWASR_ERR_PROTOCOL, why),
                    json: Some(Json::new(text)),
                });
                return;
            }
        };
        let shared_text = Json::new(text);
        let json = || Some(shared_text.clone());
        if let Some(mut segments) = msg.segments {
            self.renumber.apply(&mut segments);
            for s in segments.iter().filter(|s| s.is_final == 1 && s.end_s.is_finite()) {
                self.final_end_s = self.final_end_s.max(s.end_s);
            }
            self.take_stamps();
            let changes = self.transcript.lock().apply(&segments);
            let mut finals = false;
            for change in changes {
                let event = match change {
                    Change::Upserted {
                        segment,
                        became_final,
                    } => {
                        let latency_ms = self.latency_ms(segment.end_s, now);
                        if became_final {
                            self.latencies.record(latency_ms);
                            finals = true;
                        }
                        Event::Segment {
                            segment,
                            latency_ms,
                            json: json(),
                        }
                    }
                    Change::Removed(segment) => Event::SegmentRemoved {
                        segment,
                        json: json(),
                    },
                };
                self.emit(event);
            }
            if finals {
                self.counters.latency = self.latencies.summary();
                self.push_times.forget_before(bytes_at(self.final_end_s) / 2);
            }
        }
        if let Some((message, code)) = &msg.error {
            let error = Error::with_code(FWASR_ERR_SERVER, *code, format!("server error: {message}"));
            self.log(FWASR_LOG_WARN, || error.message.to_string());
            self.emit(Event::Error { error, json: json() });
        }
        if let Some(id) = msg.trace_id {
            let sent_at = self.answered(|c| matches!(c, Control::Trace { id: sent, .. } if *sent == id));
            let rtt = sent_at.map_or(f64::NAN, |t| {
                now.saturating_duration_since(t).as_secs_f64() * 1000.0
            });
            if rtt.is_finite() {
                self.counters.last_rtt_ms = rtt;
            }
            self.emit(Event::Trace {
                id,
                rtt_ms: rtt,
                json: json(),
            });
        }
        if let Some(id) = msg.reset_id {
            self.answered(|c| matches!(c, Control::Clear { id: sent, .. } if *sent == id));
            self.emit(Event::Cleared { id, json: json() });
        }
        if let Some(id) = msg.checkpoint_id {
            self.answered(|c| matches!(c, Control::Checkpoint { id: sent, .. } if *sent == id));
            self.finish.echo(&id);
            self.emit(Event::Checkpoint { id, json: json() });
            if self.finish.final_received {
                self.report_finished();
            }
        }
    }

    /// An answer came: its message need not go again. When it was sent, if it was.
    fn answered(&mut self, answer: impl Fn(&Control) -> bool) -> Option<Instant> {
        let i = self.unanswered.iter().position(|(c, _)| answer(c))?;
        self.unanswered.remove(i).map(|(_, sent_at)| sent_at)
    }

    /// Whether new frames are written: not after the final echo or the server's close (only
    /// the close handshake is).
    fn writing(&self) -> bool {
        match &self.phase {
            Phase::Open(c) => !self.finish.final_received && c.server_close.is_none(),
            _ => false,
        }
    }

    /// The next frame to write. `backed_up`: the socket still holds unsent bytes, so only
    /// keep-alive frames are taken (a stalled server backs up into the audio queue, and
    /// `push` reports BUFFER_FULL, instead of into memory).
    pub fn poll_transmit(&mut self, now: Instant, backed_up: bool) -> Option<Frame> {
        let conn = self.conn()?;
        if let Some(f) = conn.urgent.pop_front() {
            return Some(f);
        }
        if backed_up || !self.writing() {
            return None;
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
                return Some(self.send_control(c, now));
            }
        }
        if let Some(piece) = self.replay.pop_front() {
            self.replay_at += piece.len() as u64;
            self.counters.chunks_sent += 1;
            return Some(Frame::Binary(piece));
        }
        if !self.pacer.ready(now) {
            return None;
        }
        let limit = self.pending.front().map(Control::at);
        if limit.is_none_or(|at| self.consumed < at) {
            if let Some(chunk) = self.audio.take_chunk() {
                return Some(self.send_audio(chunk, now));
            }
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
                    self.log(FWASR_LOG_WARN, || {
                        format!("dropped {discarded} bytes of an incomplete last frame")
                    });
                }
                return self.poll_transmit(now, backed_up);
            }
            // The short last chunk and the final checkpoint go out together.
            self.pending.pop_front();
            let rest = self.audio.take_rest().map(|rest| self.send_audio(rest, now));
            self.finish.final_sent(now);
            self.log(FWASR_LOG_INFO, || "final checkpoint sent".into());
            let checkpoint = Frame::Text(protocol::checkpoint(FINAL));
            return match rest {
                Some(rest) => {
                    if let Some(c) = self.conn() {
                        c.urgent.push_back(checkpoint);
                    }
                    Some(rest)
                }
                None => Some(checkpoint),
            };
        }
        None
    }

    /// Moves the caller's push stamps over (the audio queue holds only a few).
    fn take_stamps(&mut self) {
        while let Some(s) = self.audio.take_stamp() {
            self.push_times.add(s);
        }
    }

    /// From the push of the audio at stream time `end_s` to `now`; NaN when not known.
    fn latency_ms(&self, end_s: f64, now: Instant) -> f64 {
        if !end_s.is_finite() || end_s < 0.0 {
            return f64::NAN;
        }
        self.push_times
            .pushed_at(bytes_at(end_s) / 2)
            .map_or(f64::NAN, |t| {
                now.saturating_duration_since(t).as_secs_f64() * 1000.0
            })
    }

    fn send_audio(&mut self, chunk: Vec<u8>, now: Instant) -> Frame {
        self.take_stamps();
        if self.settings.record {
            self.outputs.push_back(Output::Record(chunk.clone()));
        }
        let n = chunk.len() as u64;
        self.log.record(&chunk, self.consumed, bytes_at(self.final_end_s));
        self.consumed += n;
        self.alive.audio_sent(now);
        self.pacer.sent(now);
        self.counters.sent += n;
        self.counters.chunks_sent += 1;
        Frame::Binary(chunk)
    }

    fn send_control(&mut self, c: Control, now: Instant) -> Frame {
        let text = match &c {
            Control::Checkpoint { id, .. } => protocol::checkpoint(id),
            Control::Trace { id, event_id, .. } => protocol::trace(event_id, id),
            Control::Clear { id, event_id, .. } => protocol::clear(event_id, id),
            Control::Finish { .. } => unreachable!("finish is handled by poll_transmit"),
        };
        // Bounded: a server that answers none of them cannot make this grow past the cap.
        if self.unanswered.len() == UNANSWERED_CAP {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back((c, now));
        Frame::Text(text)
    }

    /// The app's event queue is full and the driver has stopped reading: the server's
    /// silence is not a dead connection.
    pub fn reading_held(&mut self, now: Instant) {
        self.alive.paused(now);
    }

    /// After the driver wrote what `poll_transmit` gave: `written` bytes have left in all
    /// on this connection, `backed_up` whether some wait. Keep-alive looks whether the
    /// server still reads and answers, and queues a ping or silence when due.
    pub fn wrote(&mut self, written: u64, backed_up: bool, now: Instant) {
        let silence_allowed = !self.finish.requested() && self.writing();
        let Some(conn) = self.conn() else {
            return;
        };
        conn.backed_up = backed_up;
        let due = match self.alive.check(now, written, backed_up, silence_allowed) {
            Ok(due) => due,
            Err(e) => return self.connection_over(Some(e), now),
        };
        let chunk_bytes = self.settings.chunk_bytes;
        let Some(conn) = self.conn() else {
            return;
        };
        if due.ping {
            conn.urgent.push_back(Frame::Ping);
        }
        if due.silence {
            conn.urgent.push_back(Frame::Binary(vec![0u8; chunk_bytes]));
            self.counters.silence += chunk_bytes as u64;
            if self.settings.record {
                self.outputs.push_back(Output::Record(vec![0u8; chunk_bytes]));
            }
        }
    }

    /// The open connection's next deadline: pacing (when audio waits for it), the close
    /// handshake's wait, keep-alive.
    pub(super) fn open_deadline(&mut self) -> Option<Instant> {
        let writing = self.writing();
        let Phase::Open(conn) = &self.phase else {
            return None;
        };
        let (backed_up, close_deadline) = (conn.backed_up, conn.close_deadline);
        let silence_allowed = !self.finish.requested() && writing;
        // After the final echo or the server's close only the close handshake is written, so
        // queued audio sets no deadline: a pacing time that has passed would wake the thread
        // again and again until the connection is over.
        let waiting_to_send = writing
            && !backed_up
            && (self.audio.has_chunk() || (self.finish.requested() && !self.finish.final_sent));
        let pacing = self
            .pacer
            .due()
            .filter(|_| waiting_to_send && self.pacer.is_paced());
        [
            pacing,
            close_deadline,
            self.alive.deadline(backed_up, silence_allowed),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
