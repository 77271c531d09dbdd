//! The driver of one session on its network thread: it gives the session's core (`crate::core`,
//! no I/O, no clock) what happened, with the time, and carries out what the core asks for:
//! dialing (resolve, connect, TLS, upgrade) and the socket's reads and writes through mio,
//! the events and log lines to the caller (after each message, outside the core), and the
//! counters and state the caller's threads read. It never blocks, so one thread can carry
//! one session or a thousand.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::{Interest, Registry, Token};
use tungstenite::Message;

use super::link::{Incoming, Link, ReadBudget};
use super::recorder::{RecordState, Recorder};
use super::shared::*;
use super::sink::Sink;
use crate::audio::levels::Levels;
use crate::chunker::{AudioConsumer, Stamp};
use crate::config::{Config, BYTES_PER_MS};
use crate::conn::{Connector, Dial, Net};
use crate::core::{Action, Audio, Control, Core, Counters, Frame, Outcome, Output, Settings, Stage};
use crate::error::*;
use crate::event::*;

/// The session's audio queue, with the levels of what is taken from it measured on the way
/// (the converted 16 kHz mono s16 the core sends).
pub(crate) struct Metered {
    queue: AudioConsumer,
    levels: Levels,
    /// Samples measured since the levels were last published.
    fresh: bool,
}

impl Metered {
    fn measured(&mut self, chunk: Option<Vec<u8>>) -> Option<Vec<u8>> {
        if let Some(c) = &chunk {
            self.levels.feed(c);
            self.fresh = true;
        }
        chunk
    }
}

impl Audio for Metered {
    fn has_chunk(&mut self) -> bool {
        self.queue.has_chunk()
    }
    fn take_chunk(&mut self) -> Option<Vec<u8>> {
        let chunk = self.queue.take_chunk();
        self.measured(chunk)
    }
    fn finish_input(&mut self) -> usize {
        self.queue.finish_input()
    }
    fn take_rest(&mut self) -> Option<Vec<u8>> {
        let rest = self.queue.take_rest();
        self.measured(rest)
    }
    fn take_stamp(&mut self) -> Option<Stamp> {
        self.queue.take_stamp()
    }
}

/// What a step leaves the reactor to do.
pub(crate) struct Wait {
    /// Step again by then; None when only the socket or a notification can move it on.
    pub deadline: Option<Instant>,
    /// Step again at once: messages are still waiting to be read (the step yielded).
    pub again: bool,
}

/// The session's connection, as far as it got.
enum Socket {
    None,
    Dialing(Dial),
    Open(Link<Net>),
}

pub(crate) struct Driver {
    shared: Arc<Shared>,
    sink: Sink,
    connector: Connector,
    control: Receiver<Control>,
    core: Core<Metered>,
    socket: Socket,
    /// What the socket is registered for.
    interest: Interest,
    /// Refused audio already reported in an OVERRUN event.
    refused_reported: u64,
    /// What was last published to `shared`.
    published: Counters,
    /// The recording's queue, until CLOSED: dropping it completes the file.
    recorder: Option<Recorder>,
    /// The recording's state, for the writer's failure to be logged here (the log callback
    /// runs on the network thread only).
    record: Option<Arc<RecordState>>,
}

impl Driver {
    pub fn new(
        shared: Arc<Shared>,
        connector: Connector,
        audio: AudioConsumer,
        control: Receiver<Control>,
        sink: Sink,
        recorder: Option<Recorder>,
        cfg: &Config,
    ) -> Driver {
        // Reconnect jitter differs between sessions and processes: std's per-process random
        // keys.
        let seed = RandomState::new().build_hasher().finish();
        let audio = Metered {
            queue: audio,
            levels: Levels::default(),
            fresh: false,
        };
        let core = Core::new(
            Settings::new(cfg, seed),
            audio,
            shared.transcript.clone(),
            Instant::now(),
        );
        Driver {
            shared,
            sink,
            connector,
            control,
            core,
            socket: Socket::None,
            interest: Interest::READABLE | Interest::WRITABLE,
            refused_reported: 0,
            published: Counters::default(),
            record: recorder.as_ref().map(|r| r.state.clone()),
            recorder,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// One step: whatever the session can do now without waiting. Err when it has ended.
    pub fn step(&mut self, registry: &Registry, token: Token, readable: bool) -> Result<Wait, Outcome> {
        let now = Instant::now();
        if self.shared.life.stop.load(Ordering::Acquire) {
            self.core.stop();
        } else {
            while let Ok(c) = self.control.try_recv() {
                self.core.control(c);
            }
            self.shared
                .flow
                .controls_pending
                .store(self.core.pending_controls(), Ordering::Release);
            self.report_overrun();
        }
        let paused = self.shared.flow.reading_paused.load(Ordering::Acquire);
        // Read only when the socket said so (or the last step left messages unread): an
        // empty read is a wasted system call per wake-up.
        if (readable || self.read_more()) && !paused {
            self.read(now);
        }
        self.core.handle_timeout(now);
        self.settle(registry, token, now);
        if self.core.is_open() {
            if self.shared.flow.reading_paused.load(Ordering::Acquire) {
                self.core.reading_held(now);
            }
            let before = self.core.audio().queue.queued_input();
            self.write(now);
            if self.core.audio().queue.queued_input() != before {
                self.shared.life.wake_waiters();
            }
            self.settle(registry, token, now);
        }
        self.publish();
        self.deliver();
        if let Some(outcome) = self.core.outcome() {
            return Err(outcome);
        }
        self.watch(registry, token)?;
        let again = self.read_more() && !self.shared.flow.reading_paused.load(Ordering::Acquire);
        // The connection being made may want a turn of its own (the next address's).
        let dial = match &self.socket {
            Socket::Dialing(dial) => dial.deadline(),
            _ => None,
        };
        Ok(Wait {
            deadline: [self.core.poll_timeout(), dial].into_iter().flatten().min(),
            again,
        })
    }

    fn read_more(&self) -> bool {
        matches!(&self.socket, Socket::Open(link) if link.read_more)
    }

    /// Carries out the core's actions and moves a connection being made on, until neither
    /// has anything more to do now.
    fn settle(&mut self, registry: &Registry, token: Token, now: Instant) {
        loop {
            while let Some(action) = self.core.poll_action() {
                self.perform(action, registry, now);
            }
            let Socket::Dialing(dial) = &mut self.socket else {
                return;
            };
            match dial.advance(registry, token) {
                Ok(Some(ws)) => {
                    self.socket = Socket::Open(Link::new(ws));
                    self.interest = Interest::READABLE | Interest::WRITABLE;
                    self.core.connected(now);
                    self.deliver();
                    // The upgrade may have brought a first message along.
                    self.read(now);
                }
                Ok(None) => return,
                Err(e) => {
                    if let Socket::Dialing(dial) = std::mem::replace(&mut self.socket, Socket::None) {
                        dial.cancel(registry);
                    }
                    self.core.dial_failed(e, now);
                }
            }
        }
    }

    fn perform(&mut self, action: Action, registry: &Registry, now: Instant) {
        match action {
            Action::Dial { attempt, resume_ms } => {
                if attempt == 0 {
                    self.shared.log(FWASR_LOG_INFO, || {
                        format!("connecting to {}", self.connector.display_url)
                    });
                }
                // Weak: a lookup may outlive the session.
                let shared = Arc::downgrade(&self.shared);
                let wake = Arc::new(move || {
                    if let Some(s) = shared.upgrade() {
                        s.notify();
                    }
                });
                match self.connector.dial(resume_ms, wake) {
                    Ok(dial) => self.socket = Socket::Dialing(dial),
                    Err(e) => self.core.dial_failed(e, now),
                }
            }
            Action::AbandonDial => {
                if let Socket::Dialing(dial) = std::mem::replace(&mut self.socket, Socket::None) {
                    let e = dial.timed_out(self.connector.timeout);
                    dial.cancel(registry);
                    self.core.dial_failed(e, now);
                }
            }
            Action::Close { code, reason } => {
                if let Socket::Open(link) = &mut self.socket {
                    link.goodbye(code, reason);
                }
            }
            Action::Release => self.release(registry),
        }
    }

    /// Lets go of the socket (the thread stops watching it).
    fn release(&mut self, registry: &Registry) {
        match std::mem::replace(&mut self.socket, Socket::None) {
            Socket::Open(mut link) => {
                let _ = registry.deregister(link.ws.get_mut().get_mut().tcp_mut());
            }
            Socket::Dialing(dial) => dial.cancel(registry),
            Socket::None => {}
        }
    }

    /// Reads what the server sent, within a step's budget, handing each message to the core
    /// and its events to the app at once; stops reading while the app has a full event
    /// queue.
    fn read(&mut self, now: Instant) {
        let sh = self.shared.clone();
        let mut budget = ReadBudget::default();
        while self.core.is_open() {
            let Socket::Open(link) = &mut self.socket else {
                return;
            };
            if self.sink.full(&sh) {
                // The server's messages wait in the socket (TCP holds the server back) until
                // next_event has taken half the queue and notifies this session.
                sh.flow.reading_paused.store(true, Ordering::Release);
                if self.sink.full(&sh) {
                    link.read_more = true;
                    return;
                }
                sh.flow.reading_paused.store(false, Ordering::Release);
            }
            match link.read(&mut budget) {
                Ok(Incoming::Text(t)) => self.core.received_text(t.as_str(), now),
                Ok(Incoming::Binary(n)) => self.core.received_binary(n),
                Ok(Incoming::Pong) => self.core.received_pong(),
                Ok(Incoming::Close) => {
                    let why = link.end_error(None);
                    self.core.received_close(why, now);
                }
                Ok(Incoming::Drained | Incoming::Yield) => return,
                Ok(Incoming::Closed) => {
                    let why = link.end_error(None);
                    self.core.connection_over(Some(why), now);
                }
                Err(e) => {
                    let why = link.end_error(Some(e));
                    self.core.connection_over(Some(why), now);
                }
            }
            self.deliver();
        }
    }

    /// Writes what the core has due, then lets it look at how the writing went (keep-alive)
    /// and writes what that made due.
    fn write(&mut self, now: Instant) {
        if let Err(e) = self.write_frames(now) {
            return self.write_failed(e, now);
        }
        let Socket::Open(link) = &self.socket else {
            return;
        };
        self.core.wrote(link.written(), link.out_pending, now);
        if let Err(e) = self.write_frames(now) {
            self.write_failed(e, now);
        }
    }

    fn write_frames(&mut self, now: Instant) -> Result<(), Error> {
        let Socket::Open(link) = &mut self.socket else {
            return Ok(());
        };
        loop {
            if link.out_pending {
                link.flush()?;
            }
            let Some(frame) = self.core.poll_transmit(now, link.out_pending) else {
                break;
            };
            match frame {
                Frame::Binary(b) => link.send_binary(&b)?,
                Frame::Text(t) => link.send(Message::text(t))?,
                Frame::Ping => link.send(Message::Ping(b"fwasr".to_vec().into()))?,
            }
        }
        link.flush()
    }

    fn write_failed(&mut self, e: Error, now: Instant) {
        // What the server sent before the connection broke is still worth reading.
        self.read(now);
        if let Socket::Open(link) = &self.socket {
            let why = link.end_error(Some(e));
            self.core.connection_over(Some(why), now);
        }
    }

    /// Watches the socket for what the connection waits for: writable only while bytes
    /// wait to go out.
    fn watch(&mut self, registry: &Registry, token: Token) -> Result<(), Outcome> {
        let Socket::Open(link) = &mut self.socket else {
            return Ok(());
        };
        let want = if link.out_pending {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if want == self.interest {
            return Ok(());
        }
        let tcp = link.ws.get_mut().get_mut().tcp_mut();
        if let Err(e) = registry.reregister(tcp, token, want) {
            let _ = registry.deregister(tcp);
            self.socket = Socket::None;
            return Err(Outcome::Failed(Error::os(
                FWASR_ERR_INTERNAL,
                "cannot watch the socket",
                &e,
            )));
        }
        self.interest = want;
        Ok(())
    }

    fn report_overrun(&mut self) {
        let sh = &self.shared;
        if sh.flow.overrun_signal.swap(false, Ordering::Acquire) {
            let refused = sh.counts.refused.load(Ordering::Relaxed);
            let ms = (refused - self.refused_reported) as f64 / BYTES_PER_MS as f64;
            self.refused_reported = refused;
            sh.log(FWASR_LOG_WARN, || {
                format!("audio queue overrun: {ms:.1} ms of audio refused")
            });
            self.sink.emit(sh, Event::Overrun { dropped_ms: ms });
        }
    }

    /// The core's counters, where `fwasr_session_stats` reads them.
    fn publish(&mut self) {
        let c = self.core.counters;
        let (sh, p) = (&self.shared, &mut self.published);
        if c.sent != p.sent {
            sh.counts.sent.store(c.sent, Ordering::Release);
        }
        sh.counts.chunks_sent.store(c.chunks_sent, Ordering::Relaxed);
        sh.counts.messages.store(c.messages, Ordering::Relaxed);
        if c != *p {
            sh.counts.dropped.store(c.dropped, Ordering::Relaxed);
            sh.counts.silence.store(c.silence, Ordering::Relaxed);
            sh.counts.reconnects.store(c.reconnects, Ordering::Relaxed);
            sh.counts.replayed.store(c.replayed, Ordering::Relaxed);
            sh.counts.latency.store(c.latency);
            if c.last_rtt_ms.is_finite() {
                sh.counts
                    .last_rtt_bits
                    .store(c.last_rtt_ms.to_bits(), Ordering::Relaxed);
            }
            *p = c;
        }
        sh.flow
            .controls_pending
            .store(self.core.pending_controls(), Ordering::Release);
        if std::mem::take(&mut self.core.audio_mut().fresh) {
            sh.counts.levels.store(self.core.audio().levels.stats());
        }
        if let Some(failure) = self.record.as_ref().and_then(|r| r.take_error()) {
            sh.log(FWASR_LOG_WARN, || failure);
        }
    }

    /// Hands the core's events and log lines to the app, in order. The state and counters
    /// the caller's threads read change before the event that reports them.
    fn deliver(&mut self) {
        let mut published = false;
        while let Some(out) = self.core.poll_output() {
            // An app that reads the stats on an event sees the counters as of that event.
            if !std::mem::replace(&mut published, true) {
                self.publish();
            }
            let sh = &self.shared;
            let ev = match out {
                Output::Log(level, msg) => {
                    sh.log(level, || msg);
                    continue;
                }
                Output::Record(audio) => {
                    if let Some(warning) = self.recorder.as_mut().and_then(|r| r.offer(audio)) {
                        sh.log(FWASR_LOG_WARN, || warning.into());
                    }
                    continue;
                }
                Output::Event(ev) => ev,
            };
            match ev {
                Event::Connected => {
                    sh.life.opened();
                    self.sink.emit(sh, ev);
                }
                Event::Closed { .. } => {
                    // The final echo came: the whole transcript is in, and all the audio.
                    self.recorder = None;
                    sh.life.closed();
                    self.sink.emit(sh, ev);
                    // Nothing more goes to the app: CLOSED is last. finish returns once the
                    // CLOSED event has been delivered, as at the end of a session.
                    self.sink = Sink::Closed;
                    sh.life.wake_waiters();
                }
                ev => self.sink.emit(sh, ev),
            }
        }
    }

    /// The session ended: reports how (unless CLOSED was reported at the final echo),
    /// releases its socket, and lets go of the session.
    pub fn end(mut self, registry: &Registry, outcome: Outcome) {
        self.release(registry);
        self.publish();
        self.deliver();
        let sh = self.shared.clone();
        match outcome {
            // CLOSED went out at the final echo: how the close handshake ended does not matter.
            _ if self.core.stage() == Stage::Closed => {}
            // Not CLOSED: a finish racing the free must not read "the whole transcript is in".
            // A freed session reports nothing: nobody is listening any more.
            Outcome::Stopped | Outcome::Finished => sh.life.fail(Error::new(
                FWASR_ERR_STATE,
                "the session was freed before it finished",
            )),
            Outcome::Failed(e) => {
                sh.life.fail(e.clone());
                sh.log(FWASR_LOG_ERROR, || format!("session failed: {e}"));
                self.sink.emit(&sh, Event::Closed { error: Some(e) });
            }
        }
        // Dropping the sink disconnects the event queue: next_event returns NULL once drained.
        self.sink = Sink::Closed;
        drop(self);
        sh.life.done();
    }
}
