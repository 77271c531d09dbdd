//! The network thread of a session: connect, then one epoll loop that moves audio and control
//! messages out and server messages in. It sleeps until a chunk is complete, a control call is
//! made, the socket is ready, or a deadline (pacing, final echo, close) comes.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use crate::chunker::AudioConsumer;
use crate::config::{Config, EventHandler, Reconnect, BYTES_PER_MS};
use crate::conn::{Connector, Ws};
use crate::error::*;
use crate::event::*;
use crate::protocol;
use crate::reactor;
use crate::session::*;
use crate::sys::{self, Interest};
use crate::transcript::{decimal_add, numeric, Change, Segment};

/// Requests from the caller's threads, in call order.
pub(crate) enum Control {
    /// `at`: the audio byte position after which the message goes out.
    Checkpoint {
        id: String,
        at: u64,
    },
    Trace {
        id: String,
        event_id: String,
        at: u64,
    },
    Clear {
        id: String,
        event_id: String,
        at: u64,
    },
    /// No more audio; `end` is the total pushed.
    Finish {
        end: u64,
    },
}

impl Control {
    fn at(&self) -> u64 {
        match self {
            Control::Checkpoint { at, .. } | Control::Trace { at, .. } | Control::Clear { at, .. } => *at,
            Control::Finish { end } => *end,
        }
    }
}

/// Where events go: the caller's callback, or the queue `next_event` reads.
pub(crate) enum Sink {
    Callback(EventHandler),
    Queue(Sender<Queued>),
}

/// How the session ended.
pub(crate) enum Outcome {
    /// Freed by the caller: nobody is listening any more.
    Stopped,
    /// The final echo arrived: the transcript is complete.
    Finished,
    Failed(Error),
    /// Reconnecting failed for good: no further attempts.
    GaveUp(Error),
}

/// 16 kHz mono s16le per second.
const BYTES_PER_S: f64 = BYTES_PER_MS as f64 * 1000.0;

/// How long to wait for the server's side of the close handshake.
const CLOSE_WAIT: Duration = Duration::from_millis(2000);

/// Server messages read in one step before the step yields, so a flood cannot keep the
/// thread from deadlines, finish, free, or the other sessions of a shared thread.
const READ_MESSAGES_PER_STEP: usize = 64;
const READ_BYTES_PER_STEP: usize = 1 << 20;

pub(crate) struct Worker {
    shared: Arc<Shared>,
    connector: Connector,
    audio: AudioConsumer,
    control: Receiver<Control>,
    sink: Option<Sink>,
    /// Time between chunks when paced.
    interval: Option<Duration>,
    finish_timeout: Duration,
    pending: VecDeque<Control>,
    /// Audio bytes taken from the queue and written.
    consumed: u64,
    finishing: bool,
    /// The last input has been converted and the resampler flushed.
    input_finished: bool,
    /// The final checkpoint has been written.
    final_sent: bool,
    /// When finishing gives up waiting for the final echo.
    finish_deadline: Option<Instant>,
    final_received: bool,
    next_due: Option<Instant>,
    traces: HashMap<String, Instant>,
    close_deadline: Option<Instant>,
    close_frame: Option<(u16, String)>,
    out_pending: bool,
    /// The last step stopped reading before the socket was drained (see READ_*_PER_STEP).
    read_more: bool,
    /// Bytes written to the socket at the last step, and when that count last grew: a
    /// server that stops reading is told from a slow one by this.
    written: u64,
    write_progress: Instant,
    /// Audio to send again after a reconnect, ahead of new audio, in chunks.
    replay: VecDeque<Vec<u8>>,
    /// The last server message counted against the poll queue's memory.
    counted_json: std::cell::RefCell<Option<Json>>,
    dropped_reported: u64,
    keepalive: Option<Duration>,
    /// When the next ping goes out, and whether the last one is still unanswered.
    next_ping: Option<Instant>,
    awaiting_pong: bool,
    idle_silence: Option<Duration>,
    last_audio: Instant,
    reconnect: Option<Reconnect>,
    /// A connection has been up (only an established session is reconnected).
    connected: bool,
    /// Reconnect attempts since a connection last made progress, and the final position
    /// when the current connection came up (progress is moving it).
    attempts: u32,
    final_at_connect: f64,
    /// The end of Finish, kept to send the final checkpoint again after a reconnect.
    finish_end: Option<u64>,
    /// Audio sent and not yet settled by a final segment, kept for replay: bytes
    /// `log_start..consumed` of the stream.
    log: VecDeque<u8>,
    log_start: u64,
    log_capacity: usize,
    /// The stream time (s) up to which the transcript is final.
    last_final_end_s: f64,
    /// The current connection's audio starts this far into the stream (s); its numeric ids
    /// are shifted by `id_base`, its other ids prefixed by the generation.
    offset_s: f64,
    id_base: String,
    generation: u64,
    /// Stream on a shared network thread (src/reactor.rs) instead of this session's own.
    shared_io: bool,
}

/// What the streaming loop waits for after a step.
pub(crate) struct Wait {
    /// The next deadline, from now; None when only a wake-up or the socket can end the wait.
    pub timeout: Option<Duration>,
    /// What the socket is watched for: writability while a write is pending; readability
    /// unless reading is paused (the app has not taken its events).
    pub interest: Interest,
    /// Step again at once and read, though the socket may not signal: messages are still
    /// buffered (the step yielded). `timeout` is zero then.
    pub read_again: bool,
}

impl Worker {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn new(
        shared: Arc<Shared>,
        connector: Connector,
        audio: AudioConsumer,
        control: Receiver<Control>,
        sink: Sink,
        cfg: &Config,
    ) -> Worker {
        let interval =
            (cfg.pacing > 0.0).then(|| Duration::from_secs_f64(cfg.chunk_ms as f64 / 1000.0 / cfg.pacing));
        Worker {
            shared,
            connector,
            audio,
            control,
            sink: Some(sink),
            interval,
            finish_timeout: cfg.finish_timeout,
            pending: VecDeque::new(),
            consumed: 0,
            finishing: false,
            input_finished: false,
            final_sent: false,
            finish_deadline: None,
            final_received: false,
            next_due: None,
            traces: HashMap::new(),
            close_deadline: None,
            close_frame: None,
            out_pending: false,
            read_more: false,
            written: 0,
            write_progress: Instant::now(),
            replay: VecDeque::new(),
            counted_json: Default::default(),
            dropped_reported: 0,
            keepalive: cfg.keepalive,
            next_ping: None,
            awaiting_pong: false,
            idle_silence: cfg.idle_silence,
            last_audio: Instant::now(),
            reconnect: cfg.reconnect,
            connected: false,
            attempts: 0,
            final_at_connect: 0.0,
            finish_end: None,
            log: VecDeque::new(),
            log_start: 0,
            log_capacity: if cfg.reconnect.is_some() {
                cfg.buffer_ms as usize * BYTES_PER_MS
            } else {
                0
            },
            last_final_end_s: 0.0,
            offset_s: 0.0,
            id_base: "0".into(),
            generation: 0,
            shared_io: cfg.shared_io,
        }
    }

    pub fn run(mut self) {
        let sh = self.shared.clone();
        sh.log(FWASR_LOG_INFO, || {
            format!("connecting to {}", self.connector.display_url)
        });
        let started = Instant::now();
        let mut outcome = match self.connect(None) {
            Err(outcome) => outcome,
            Ok(mut ws) => {
                sh.log(FWASR_LOG_INFO, || {
                    format!("connected in {} ms", started.elapsed().as_millis())
                });
                let state = if sh.finish_requested.load(Ordering::Acquire) {
                    FWASR_STATE_FINISHING
                } else {
                    FWASR_STATE_OPEN
                };
                sh.set_state(state);
                self.emit(Event::Connected);
                self.stream(&mut ws)
            }
        };
        // An established connection that broke is tried again, when asked to.
        while let Outcome::Failed(e) = &outcome {
            if !self.may_reconnect(e) {
                break;
            }
            let e = e.clone();
            outcome = self.reconnect(e);
        }
        self.end(outcome);
    }

    /// Connects (the first time, or again from `resume_ms`), within the connect timeout and,
    /// once finish was called, within the finish deadline.
    fn connect(&mut self, resume_ms: Option<u64>) -> Result<Ws, Outcome> {
        let sh = self.shared.clone();
        let finish_by = || *sh.finish_by.lock();
        match self.connector.connect(&sh.waker, &sh.stop, &finish_by, resume_ms) {
            Ok(ws) => Ok(ws),
            Err(_) if sh.stop.load(Ordering::Acquire) => Err(Outcome::Stopped),
            Err(e) => Err(self.finish_expired().unwrap_or(Outcome::Failed(e))),
        }
    }

    /// The timeout outcome once the finish deadline has passed without the final echo.
    fn finish_expired(&mut self) -> Option<Outcome> {
        self.take_controls();
        let expired = self
            .finish_deadline
            .is_some_and(|d| !self.final_received && Instant::now() >= d);
        expired.then(|| {
            Outcome::Failed(Error::new(
                FWASR_ERR_TIMEOUT,
                format!(
                    "the final transcript did not arrive within the finish timeout ({} ms)",
                    self.finish_timeout.as_millis()
                ),
            ))
        })
    }

    /// Whether the session should try a new connection after `e` ended the last one: asked
    /// for, not finished or freed, and an error a new connection can fix.
    fn may_reconnect(&self, e: &Error) -> bool {
        self.reconnect.is_some()
            && self.connected
            && !self.final_received
            && !self.shared.stop.load(Ordering::Acquire)
            && retryable(e)
    }

    /// Tries new connections until one is up (then streams on it), the budget runs out, or
    /// the finish deadline passes. The budget is `max_attempts` connection attempts in a
    /// row without progress: a connection that confirmed new final audio (the transcript
    /// moved forward for good) starts the count again; one that only connected does not, so
    /// a server that accepts and drops every connection cannot keep the session reconnecting.
    fn reconnect(&mut self, mut cause: Error) -> Outcome {
        let policy = self.reconnect.expect("reconnect is on");
        if self.last_final_end_s > self.final_at_connect {
            self.attempts = 0;
        }
        let sh = self.shared.clone();
        loop {
            if let Some(timeout) = self.finish_expired() {
                return timeout;
            }
            if self.attempts == policy.max_attempts {
                return Outcome::GaveUp(Error::with_code(
                    cause.status,
                    cause.code,
                    format!(
                        "gave up after {} reconnect attempts without progress: {}",
                        policy.max_attempts, cause.message
                    ),
                ));
            }
            self.attempts += 1;
            let attempt = self.attempts;
            let backoff = backoff(&policy, attempt);
            sh.log(FWASR_LOG_WARN, || {
                format!(
                    "{cause}; reconnecting in {} ms (attempt {attempt})",
                    backoff.as_millis()
                )
            });
            self.emit(Event::Reconnecting {
                error: cause.clone(),
                attempt,
                backoff_ms: backoff.as_secs_f64() * 1000.0,
            });
            if !self.sleep(backoff) {
                return Outcome::Stopped;
            }
            if let Some(timeout) = self.finish_expired() {
                return timeout;
            }
            let resume = self.resume_point();
            match self.connect(Some(resume / BYTES_PER_MS as u64)) {
                Err(Outcome::Failed(e)) if retryable(&e) => cause = e,
                Err(Outcome::Failed(e)) => return Outcome::GaveUp(e),
                Err(other) => return other,
                Ok(mut ws) => {
                    sh.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.resume(resume, attempt);
                    return self.stream(&mut ws);
                }
            }
        }
    }

    /// Sleeps on the waker until `d` passes or the finish deadline, whichever is first; false
    /// when the session is freed meanwhile.
    fn sleep(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                return false;
            }
            self.take_controls();
            let until = self.finish_deadline.map_or(until, |f| f.min(until));
            let now = Instant::now();
            if now >= until {
                return true;
            }
            if matches!(sys::wait(&self.shared.waker, None, Some(until - now)), Ok(r) if r.woken) {
                self.shared.waker.drain();
            }
        }
    }

    /// Where a new connection's audio starts: the end of the last final segment (the server
    /// has transcribed everything before it for good), but no earlier than the oldest audio
    /// still kept for replay.
    fn resume_point(&self) -> u64 {
        self.final_bytes().clamp(self.log_start, self.consumed)
    }

    /// The stream position (bytes, whole samples) up to which the transcript is final.
    fn final_bytes(&self) -> u64 {
        (self.last_final_end_s * BYTES_PER_S) as u64 / 2 * 2
    }

    /// Starts a new connection: forgets what the old one had not finished, renumbers what the
    /// new one will send, and sends again the audio from `resume`.
    fn resume(&mut self, resume: u64, attempt: u32) {
        let dropped = self
            .log_start
            .saturating_sub(self.final_bytes().min(self.consumed));
        if dropped > 0 {
            self.shared.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        let removed = self.shared.transcript.lock().remove_unfinished();
        for segment in removed {
            self.emit(Event::SegmentRemoved { segment, json: None });
        }
        self.offset_s = resume as f64 / BYTES_PER_S;
        self.id_base = self
            .shared
            .transcript
            .lock()
            .max_numeric_id()
            .map_or_else(|| "0".into(), |m| decimal_add(m, "1"));
        self.generation += 1;
        // Per-connection state starts over.
        self.out_pending = false;
        self.read_more = false;
        self.written = 0;
        self.write_progress = Instant::now();
        self.close_frame = None;
        self.close_deadline = None;
        self.awaiting_pong = false;
        self.traces.clear();
        self.next_due = None;
        if self.final_sent && !self.final_received {
            // The final checkpoint went out on the old connection; its echo never came.
            self.final_sent = false;
            if let Some(end) = self.finish_end {
                self.pending.push_front(Control::Finish { end });
            }
        }
        let replay: Vec<u8> = self
            .log
            .iter()
            .skip((resume - self.log_start) as usize)
            .copied()
            .collect();
        let replayed = replay.len() as u64;
        // Sent by write_due ahead of new audio, as the socket takes it, so the WebSocket's
        // write buffer stays within its bound.
        self.replay = replay
            .chunks(self.shared.chunk_bytes)
            .map(<[u8]>::to_vec)
            .collect();
        self.shared.replayed.fetch_add(replayed, Ordering::Relaxed);
        self.emit(Event::Reconnected {
            attempt,
            start_s: self.offset_s,
            replayed_ms: replayed as f64 / BYTES_PER_MS as f64,
            dropped_ms: dropped as f64 / BYTES_PER_MS as f64,
        });
        self.shared.log(FWASR_LOG_INFO, || {
            format!(
                "reconnected; resending {} ms from {:.3} s",
                replayed / BYTES_PER_MS as u64,
                self.offset_s
            )
        });
    }

    fn end(mut self, outcome: Outcome) {
        let sh = self.shared.clone();
        let (state, result) = match outcome {
            Outcome::Stopped => (FWASR_STATE_CLOSED, None),
            Outcome::Finished => (FWASR_STATE_CLOSED, Some(Ok(()))),
            Outcome::Failed(e) | Outcome::GaveUp(e) => (FWASR_STATE_FAILED, Some(Err(e))),
        };
        sh.ended.store(true, Ordering::Release);
        {
            let mut p = sh.progress.lock();
            p.state = state;
            if let Some(Err(e)) = &result {
                p.error = Some(e.clone());
            }
        }
        match result {
            Some(Ok(())) => {
                sh.log(FWASR_LOG_INFO, || "finished: the whole transcript is in".into());
                self.emit(Event::Closed { error: None });
            }
            Some(Err(e)) => {
                sh.log(FWASR_LOG_ERROR, || format!("session failed: {e}"));
                self.emit(Event::Closed { error: Some(e) });
            }
            None => {}
        }
        // Dropping the sink disconnects the event queue: next_event returns None once drained.
        self.sink = None;
        drop(self);
        sh.progress.lock().thread_done = true;
        sh.changed.notify_all();
        let _room = sh.room.lock();
        sh.room_changed.notify_all();
    }

    fn emit(&self, ev: Event) {
        let sh = &self.shared;
        match &self.sink {
            Some(Sink::Callback(f)) => sh.callback(|| f(&ev)),
            Some(Sink::Queue(tx)) => {
                // A server message shared by several events counts once, with its first.
                let mut counted = self.counted_json.borrow_mut();
                let json = ev.json().filter(|j| counted.as_ref().is_none_or(|c| !c.same(j)));
                let bytes =
                    std::mem::size_of::<Queued>() + ev.heap_bytes() + json.map_or(0, |j| j.as_str().len());
                if let Some(j) = json {
                    *counted = Some(j.clone());
                }
                sh.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
                let _ = tx.send(Queued { event: ev, bytes });
            }
            None => {}
        }
    }

    fn stream(&mut self, ws: &mut Ws) -> Outcome {
        self.connected = true;
        self.final_at_connect = self.last_final_end_s;
        self.next_ping = self.keepalive.map(|k| Instant::now() + k);
        self.last_audio = Instant::now();
        if self.shared_io {
            return reactor::stream(self, ws);
        }
        let mut poller = match sys::Poller::new(&self.shared.waker, ws.get_ref().fd()) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Failed(Error::os(FWASR_ERR_INTERNAL, "cannot create an epoll set", &e))
            }
        };
        // The upgrade may have brought a first message along.
        let mut readable = true;
        loop {
            let wait = match self.step(ws, readable) {
                Ok(w) => w,
                Err(outcome) => return outcome,
            };
            readable = match poller.wait(wait.interest, wait.timeout) {
                Ok(r) => r.readable || wait.read_again,
                Err(e) => return Outcome::Failed(Error::os(FWASR_ERR_INTERNAL, "epoll failed", &e)),
            };
        }
    }

    /// One turn of the streaming loop, after a wake-up: takes control calls, reads what the
    /// server sent (when `readable`), writes what is due, checks deadlines. Returns what to
    /// wait for next, or how the connection ended.
    pub(crate) fn step(&mut self, ws: &mut Ws, readable: bool) -> Result<Wait, Outcome> {
        if self.shared.stop.load(Ordering::Acquire) {
            let _ = ws.close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "session freed".into(),
            }));
            let _ = ws.flush();
            return Err(Outcome::Stopped);
        }
        self.take_controls();
        let sh = &self.shared;
        if sh.overrun_signal.swap(false, Ordering::Acquire) {
            let dropped = sh.dropped.load(Ordering::Relaxed);
            let ms = (dropped - self.dropped_reported) as f64 / BYTES_PER_MS as f64;
            self.dropped_reported = dropped;
            sh.log(FWASR_LOG_WARN, || {
                format!("audio queue overrun: {ms:.1} ms of audio refused")
            });
            self.emit(Event::Overrun { dropped_ms: ms });
        }
        // Read only when the wait said so (or the last step left messages unread): an empty
        // read is a wasted syscall per wake-up.
        if (readable || self.read_more) && !self.reading_paused() {
            if let Some(outcome) = self.read_all(ws) {
                return Err(outcome);
            }
        }
        if let Err(e) = self.write_due(ws) {
            // What the server sent before the connection broke is still worth reading.
            if let Some(outcome) = self.read_all(ws) {
                return Err(outcome);
            }
            return Err(self.broken(e));
        }
        let now = Instant::now();
        if let Some(d) = self.finish_deadline {
            if !self.final_received && now >= d {
                let _ = ws.close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "final transcript timeout".into(),
                }));
                let _ = ws.flush();
                return Err(Outcome::Failed(Error::new(
                    FWASR_ERR_TIMEOUT,
                    format!(
                        "the final transcript did not arrive within the finish timeout ({} ms)",
                        self.finish_timeout.as_millis()
                    ),
                )));
            }
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            return Err(self.peer_ended());
        }
        if let Err(e) = self.keep_alive(ws, now) {
            return Err(self.broken(e));
        }
        let timeout = if self.read_more && !self.reading_paused() {
            Some(Duration::ZERO)
        } else {
            self.next_deadline().map(|d| d.saturating_duration_since(now))
        };
        Ok(Wait {
            timeout,
            interest: Interest {
                read: !self.reading_paused(),
                write: self.out_pending,
            },
            read_again: self.read_more,
        })
    }

    /// Poll mode: the events the app has not taken hold EVENT_QUEUE_BYTES.
    fn events_full(&self) -> bool {
        matches!(self.sink, Some(Sink::Queue(_)))
            && self.shared.queued_bytes.load(Ordering::Acquire) >= EVENT_QUEUE_BYTES
    }

    fn reading_paused(&self) -> bool {
        self.shared.reading_paused.load(Ordering::Acquire)
    }

    /// Takes the control calls made since the last look, in call order.
    fn take_controls(&mut self) {
        while let Ok(c) = self.control.try_recv() {
            if let Control::Finish { end } = c {
                self.finishing = true;
                self.finish_end = Some(end);
                self.finish_deadline = *self.shared.finish_by.lock();
            }
            self.pending.push_back(c);
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let waiting_to_send =
            !self.out_pending && (self.audio.has_chunk() || (self.finishing && !self.final_sent));
        let pacing = self
            .next_due
            .filter(|_| waiting_to_send && self.interval.is_some());
        let fin = self.finish_deadline.filter(|_| !self.final_received);
        let silence = self.silence_due();
        let stall = self.stall_due();
        [pacing, fin, self.close_deadline, self.next_ping, silence, stall]
            .into_iter()
            .flatten()
            .min()
    }

    /// When a server that has taken none of the bytes waiting to be written counts as no
    /// longer reading: one keep-alive interval after the last progress.
    fn stall_due(&self) -> Option<Instant> {
        let k = self.keepalive.filter(|_| self.out_pending)?;
        Some(self.write_progress + k)
    }

    /// When a chunk of silence is due (idle silence on, connection open, not finishing).
    fn silence_due(&self) -> Option<Instant> {
        let idle = self
            .idle_silence
            .filter(|_| !self.finishing && self.close_frame.is_none())?;
        Some(self.last_audio + idle)
    }

    /// Pings on schedule; a ping unanswered for a whole interval means the peer is gone. Sends
    /// idle silence when due.
    fn keep_alive(&mut self, ws: &mut Ws, now: Instant) -> Result<(), Error> {
        if let (true, Some(k)) = (self.reading_paused(), self.keepalive) {
            // Nothing is read meanwhile, so no pong could be seen: pings wait.
            self.next_ping = Some(now + k);
            self.awaiting_pong = false;
        }
        let written = ws.get_ref().written();
        if written != self.written || !self.out_pending {
            self.written = written;
            self.write_progress = now;
        }
        if let (Some(due), Some(k)) = (self.stall_due(), self.keepalive) {
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
        if let (Some(due), Some(interval)) = (self.next_ping, self.keepalive) {
            if now >= due {
                if self.awaiting_pong {
                    return Err(Error::new(
                        FWASR_ERR_IO,
                        format!(
                            "the server did not answer a ping within {} ms",
                            interval.as_millis()
                        ),
                    ));
                }
                send(ws, Message::Ping(b"fwasr".to_vec().into()), &mut self.out_pending)?;
                flush(ws, &mut self.out_pending)?;
                self.awaiting_pong = true;
                self.next_ping = Some(now + interval);
            }
        }
        if self.silence_due().is_some_and(|due| now >= due) && !self.out_pending {
            let chunk = vec![0u8; self.shared.chunk_bytes];
            send(ws, Message::binary(chunk), &mut self.out_pending)?;
            flush(ws, &mut self.out_pending)?;
            self.shared
                .silence
                .fetch_add(self.shared.chunk_bytes as u64, Ordering::Relaxed);
            self.last_audio = now;
        }
        Ok(())
    }

    /// Reads every message the socket has. Some(outcome) when the connection is over.
    fn read_all(&mut self, ws: &mut Ws) -> Option<Outcome> {
        let (mut messages, mut bytes) = (0, 0);
        self.read_more = false;
        loop {
            if messages >= READ_MESSAGES_PER_STEP || bytes >= READ_BYTES_PER_STEP {
                self.read_more = true;
                return None;
            }
            if self.events_full() {
                // The server's messages wait in the socket (TCP holds the server back) until
                // next_event has taken half the queue and wakes this thread.
                self.shared.reading_paused.store(true, Ordering::Release);
                if !self.events_full() {
                    self.shared.reading_paused.store(false, Ordering::Release);
                    continue;
                }
                self.read_more = true;
                return None;
            }
            let msg = ws.read();
            // A pong or a message shows the server is alive; its own pings do not (a server
            // that never reads can still send them).
            if matches!(&msg, Ok(m) if !m.is_ping()) {
                self.awaiting_pong = false;
            }
            if let Ok(m) = &msg {
                messages += 1;
                bytes += m.len();
            }
            match msg {
                Ok(Message::Text(t)) => {
                    self.shared.messages.fetch_add(1, Ordering::Relaxed);
                    self.handle_text(t.as_str());
                    if self.final_received && self.close_deadline.is_none() {
                        let _ = ws.close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "".into(),
                        }));
                        self.close_deadline = Some(Instant::now() + CLOSE_WAIT.min(self.finish_timeout));
                    }
                }
                Ok(Message::Binary(b)) => {
                    self.shared.messages.fetch_add(1, Ordering::Relaxed);
                    let e = Error::new(
                        FWASR_ERR_PROTOCOL,
                        format!("server sent a binary message of {} bytes", b.len()),
                    );
                    self.emit(Event::Error { error: e, json: None });
                }
                Ok(Message::Close(frame)) => {
                    let reported = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    self.close_frame = Some(server_close(ws, reported));
                    self.close_deadline.get_or_insert(Instant::now() + CLOSE_WAIT);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Some(self.peer_ended())
                }
                Err(e) => {
                    // A malformed close frame (a one-byte payload, a reason that is not
                    // UTF-8) is still the server's close.
                    if self.close_frame.is_none() && ws.get_ref().server_close().is_some() {
                        self.close_frame = Some(server_close(ws, None));
                    }
                    return Some(self.broken(ws_error(e)));
                }
            }
        }
    }

    /// The connection is gone or going: complete if the final echo came, else the reason.
    fn peer_ended(&self) -> Outcome {
        if self.final_received {
            return Outcome::Finished;
        }
        match &self.close_frame {
            Some((code, reason)) => Outcome::Failed(Error::with_code(
                FWASR_ERR_CLOSED,
                i32::from(*code),
                format!("server closed the connection with code {code}: {reason}"),
            )),
            None => Outcome::Failed(Error::new(
                FWASR_ERR_IO,
                "connection closed without a close frame",
            )),
        }
    }

    /// A read or write failed. Once the server has closed, that close is the reason.
    fn broken(&self, e: Error) -> Outcome {
        if self.final_received {
            Outcome::Finished
        } else if self.close_frame.is_some() {
            self.peer_ended()
        } else {
            Outcome::Failed(e)
        }
    }

    fn handle_text(&mut self, text: &str) {
        let msg = match protocol::parse(text) {
            Ok(m) => m,
            Err(why) => {
                self.shared.log(FWASR_LOG_WARN, || why.clone());
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
            if self.generation > 0 {
                self.renumber(&mut segments);
            }
            for s in segments.iter().filter(|s| s.is_final == 1 && s.end_s.is_finite()) {
                self.last_final_end_s = self.last_final_end_s.max(s.end_s);
            }
            let changes = self.shared.transcript.lock().apply(&segments);
            for change in changes {
                self.emit(match change {
                    Change::Upserted(segment) => Event::Segment {
                        segment,
                        json: json(),
                    },
                    Change::Removed(segment) => Event::SegmentRemoved {
                        segment,
                        json: json(),
                    },
                });
            }
        }
        if let Some((message, code)) = &msg.error {
            let e = Error::with_code(FWASR_ERR_SERVER, *code, format!("server error: {message}"));
            self.shared.log(FWASR_LOG_WARN, || e.message.to_string());
            self.emit(Event::Error {
                error: e,
                json: json(),
            });
        }
        if let Some(id) = msg.trace_id {
            let rtt = self
                .traces
                .remove(&id)
                .map_or(f64::NAN, |t| t.elapsed().as_secs_f64() * 1000.0);
            if rtt.is_finite() {
                self.shared.last_rtt_bits.store(rtt.to_bits(), Ordering::Relaxed);
            }
            self.emit(Event::Trace {
                id,
                rtt_ms: rtt,
                json: json(),
            });
        }
        if let Some(id) = msg.reset_id {
            self.emit(Event::Cleared { id, json: json() });
        }
        if let Some(id) = msg.checkpoint_id {
            if id == "final" && self.final_sent {
                self.final_received = true;
            }
            self.emit(Event::Checkpoint { id, json: json() });
        }
    }

    /// Places a later connection's segments after the earlier ones: numeric ids shifted past
    /// the ids already used, other ids prefixed, times moved to the stream's clock.
    fn renumber(&self, segments: &mut [Segment]) {
        for s in segments {
            s.id = match numeric(&s.id) {
                Some(n) => decimal_add(&self.id_base, n),
                None => format!("{}:{}", self.generation, s.id),
            };
            s.start_s += self.offset_s;
            s.end_s += self.offset_s;
        }
    }

    /// Writes what is due: control messages whose audio position is reached, complete chunks
    /// (paced when asked), and at the end the short last chunk and the final checkpoint. Stops
    /// taking audio while the socket has unsent bytes, so a stalled server backs up into the
    /// queue (and `push` reports BUFFER_FULL) instead of into memory.
    fn write_due(&mut self, ws: &mut Ws) -> Result<(), Error> {
        // After the final echo or the server's close, only the close handshake is written.
        if self.final_received || self.close_frame.is_some() {
            return flush(ws, &mut self.out_pending);
        }
        let input_before = self.audio.queued_input();
        loop {
            if self.out_pending {
                flush(ws, &mut self.out_pending)?;
                if self.out_pending {
                    break;
                }
            }
            if let Some(piece) = self.replay.pop_front() {
                send(ws, Message::binary(piece), &mut self.out_pending)?;
                self.shared.chunks_sent.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(c) = self.pending.front() {
                if !matches!(c, Control::Finish { .. }) && c.at() <= self.consumed {
                    let c = self.pending.pop_front().expect("front exists");
                    self.send_control(ws, c)?;
                    continue;
                }
            }
            let now = Instant::now();
            if self.next_due.is_some_and(|d| self.interval.is_some() && now < d) {
                break;
            }
            let limit = self.pending.front().map(Control::at);
            if self.audio.has_chunk() && limit.is_none_or(|at| self.consumed < at) {
                let chunk = self.audio.take_chunk().expect("a complete chunk is queued");
                self.send_audio(ws, chunk, now)?;
                continue;
            }
            if self.finishing
                && !self.final_sent
                && matches!(self.pending.front(), Some(Control::Finish { .. }))
            {
                if !self.input_finished {
                    // Convert what is left and flush the resampler; full chunks go out first.
                    self.input_finished = true;
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
                    self.send_audio(ws, rest, now)?;
                }
                send(
                    ws,
                    Message::text(protocol::checkpoint("final")),
                    &mut self.out_pending,
                )?;
                self.final_sent = true;
                // The deadline set at finish stands, reconnects or not.
                self.finish_deadline.get_or_insert(now + self.finish_timeout);
                self.shared.log(FWASR_LOG_INFO, || "final checkpoint sent".into());
                continue;
            }
            break;
        }
        flush(ws, &mut self.out_pending)?;
        if self.audio.queued_input() != input_before {
            let _room = self.shared.room.lock();
            self.shared.room_changed.notify_all();
        }
        Ok(())
    }

    fn send_audio(&mut self, ws: &mut Ws, chunk: Vec<u8>, now: Instant) -> Result<(), Error> {
        let n = chunk.len() as u64;
        if self.log_capacity > 0 {
            self.log.extend(&chunk);
            // Audio before the end of the last final segment is never sent again (see
            // resume_point), so the log holds only what is not settled yet, at most its capacity.
            let settled = self
                .final_bytes()
                .min(self.consumed + n)
                .saturating_sub(self.log_start) as usize;
            let excess = self
                .log
                .len()
                .saturating_sub(self.log_capacity)
                .max(settled.min(self.log.len()));
            self.log.drain(..excess);
            self.log_start += excess as u64;
        }
        send(ws, Message::binary(chunk), &mut self.out_pending)?;
        self.consumed += n;
        self.last_audio = now;
        self.shared.sent.fetch_add(n, Ordering::Release);
        self.shared.chunks_sent.fetch_add(1, Ordering::Relaxed);
        if let Some(iv) = self.interval {
            // Keep the schedule, but after a starved stretch restart it instead of bursting.
            self.next_due = Some(match self.next_due {
                Some(d) if now < d + iv => d + iv,
                _ => now + iv,
            });
        }
        Ok(())
    }

    fn send_control(&mut self, ws: &mut Ws, c: Control) -> Result<(), Error> {
        let text = match c {
            Control::Checkpoint { id, .. } => protocol::checkpoint(&id),
            Control::Trace { id, event_id, .. } => {
                let t = protocol::trace(&event_id, &id);
                self.traces.insert(id, Instant::now());
                t
            }
            Control::Clear { id, event_id, .. } => protocol::clear(&event_id, &id),
            Control::Finish { .. } => unreachable!("finish is handled by write_due"),
        };
        send(ws, Message::text(text), &mut self.out_pending)
    }
}

/// The server's close code and reason. tungstenite reports its own 1002 reply for a code
/// that may not be sent; the bytes on the wire say what the server sent.
fn server_close(ws: &Ws, reported: Option<(u16, String)>) -> (u16, String) {
    let Some(raw) = ws.get_ref().server_close() else {
        return reported.unwrap_or((1005, String::new()));
    };
    let Some(code) = raw.code else {
        return (1005, raw.reason);
    };
    if reported.is_some_and(|(c, _)| c == code) {
        return (code, raw.reason);
    }
    let note = "not a valid close code or frame on the wire; fwasr answered 1002";
    let reason = if raw.reason.is_empty() {
        format!("({note})")
    } else {
        format!("{} ({note})", raw.reason)
    };
    (code, reason)
}

fn send(ws: &mut Ws, msg: Message, pending: &mut bool) -> Result<(), Error> {
    match ws.write(msg) {
        Ok(()) => Ok(()),
        // The frame is buffered; it goes out when the socket is writable again.
        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
            *pending = true;
            Ok(())
        }
        Err(e) => Err(ws_error(e)),
    }
}

fn flush(ws: &mut Ws, pending: &mut bool) -> Result<(), Error> {
    match ws.flush() {
        Ok(()) => {
            *pending = false;
            Ok(())
        }
        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
            *pending = true;
            Ok(())
        }
        Err(e) => Err(ws_error(e)),
    }
}

fn ws_error(e: tungstenite::Error) -> Error {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(e) => Error::new(FWASR_ERR_IO, format!("connection lost: {e}")),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Error::new(FWASR_ERR_IO, "connection closed without a close frame")
        }
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Error::new(FWASR_ERR_IO, "connection closed")
        }
        other => Error::new(FWASR_ERR_PROTOCOL, format!("WebSocket error: {other}")),
    }
}

/// Errors a new connection may fix: the network and the server's transient states, not
/// credentials, certificates or configuration.
fn retryable(e: &Error) -> bool {
    match e.status {
        FWASR_ERR_IO
        | FWASR_ERR_CLOSED
        | FWASR_ERR_CONNECT
        | FWASR_ERR_CONNECT_TIMEOUT
        | FWASR_ERR_RESOLVE
        | FWASR_ERR_RESOURCE => true,
        FWASR_ERR_HANDSHAKE => e.code == 429 || e.code >= 500,
        FWASR_ERR_PROTOCOL => true,
        _ => false,
    }
}

/// Exponential backoff with jitter between half and all of the step, so many sessions that
/// lost one server do not come back at the same instant.
fn backoff(policy: &Reconnect, attempt: u32) -> Duration {
    let step = policy
        .initial_backoff
        .saturating_mul(1 << (attempt - 1).min(20))
        .min(policy.max_backoff);
    // The clock's nanoseconds differ between sessions and attempts; good enough for jitter.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    step.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
}
