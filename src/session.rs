//! A session: one stream, driven by the engine on a network thread. This is the safe Rust
//! API; `ffi` wraps it for C.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::audio::levels::LevelStats;
use crate::audio::Format;
use crate::chunker::{audio_queue, AudioProducer, Full};
use crate::config::{Config, BYTES_PER_MS};
use crate::conn::Connector;
use crate::core::Control;
pub use crate::core::LatencySummary;
use crate::engine::{
    on_network_thread, Driver, Place, Progress, Queued, RecordState, Recorder, Shared, Sink,
    CONTROLS_QUEUED_MAX, EVENT_QUEUE_BYTES,
};
use crate::error::*;
use crate::event::Event;
use crate::transcript::Segment;

pub use crate::state::*;

/// Counters of a session, read with `Session::stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub bytes_pushed: u64,
    pub bytes_sent: u64,
    pub bytes_dropped: u64,
    pub bytes_queued: u64,
    pub chunks_sent: u64,
    pub messages_received: u64,
    pub last_rtt_ms: f64,
    pub bytes_silence: u64,
    pub reconnects: u64,
    pub bytes_replayed: u64,
    /// Levels of the audio sent (src/audio/levels.rs).
    pub levels: LevelStats,
    /// Latency of the segments that became final.
    pub latency: LatencySummary,
    /// Audio sent that the recording left out.
    pub bytes_not_recorded: u64,
}

impl Stats {
    pub fn ms(bytes: u64) -> f64 {
        bytes as f64 / BYTES_PER_MS as f64
    }
}

/// One streaming transcription session.
pub struct Session {
    shared: Arc<Shared>,
    producer: Mutex<AudioProducer>,
    input_format: Format,
    control: Sender<Control>,
    events: Option<Receiver<Queued>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next_event_id: AtomicU64,
    capacity: usize,
    input_bytes_per_s: u64,
    pacing: f64,
    finish_timeout: Duration,
    /// The recording's state, when one is made.
    record: Option<Arc<RecordState>>,
}

/// The error of a call that would wait for a network thread from inside a callback, which
/// runs on one: the wait could never end.
fn in_callback(call: &str) -> Error {
    Error::new(
        FWASR_ERR_STATE,
        format!("{call}: a callback cannot wait (it runs on a network thread)"),
    )
}

/// How long `close` waits for the network thread before leaving it to end on its own.
const JOIN_BOUND: Duration = Duration::from_millis(1000);

impl Session {
    /// Validates the configuration, starts the network thread and returns at once.
    pub fn open(cfg: &Config) -> Result<Session, Error> {
        let connector = Connector::new(cfg)?;
        let chunk_bytes = cfg.chunk_ms as usize * BYTES_PER_MS;
        // buffer_ms of the caller's input, whatever its format.
        let input = cfg.input;
        let capacity =
            (cfg.buffer_ms as u64 * input.rate as u64 * input.frame_bytes() as u64).div_ceil(1000) as usize;
        let (producer, consumer) = audio_queue(
            input,
            capacity.max(input.frame_bytes()),
            chunk_bytes,
            cfg.asks_for_times(),
        )
        .ok_or_else(|| Error::new(FWASR_ERR_RESOURCE, "cannot map memory for the audio queue"))?;
        let place = Place::new(cfg.shared_io)?;
        let shared = Arc::new(Shared::new(place.doorbell(), chunk_bytes, cfg.log.clone()));
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let (sink, events) = match &cfg.on_event {
            Some(f) => (Sink::Callback(f.clone()), None),
            None => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Sink::queue(tx), Some(rx))
            }
        };
        let recorder = cfg.record_path.as_deref().map(Recorder::start).transpose()?;
        let record = recorder.as_ref().map(|r| r.state.clone());
        let driver = Driver::new(
            shared.clone(),
            connector,
            consumer,
            control_rx,
            sink,
            recorder,
            cfg,
        );
        let thread = place.run(driver)?;
        Ok(Session {
            shared,
            producer: Mutex::new(producer),
            input_format: cfg.input.format,
            control: control_tx,
            events,
            thread: Mutex::new(thread),
            next_event_id: AtomicU64::new(1),
            capacity,
            input_bytes_per_s: input.rate as u64 * input.frame_bytes() as u64,
            pacing: cfg.pacing,
            finish_timeout: cfg.finish_timeout,
            record,
        })
    }

    /// Blocks until connected (Ok), failed (its error) or the timeout passes. Inside a
    /// callback it does not wait: FWASR_ERR_STATE while still connecting.
    pub fn wait_ready(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let life = &self.shared.life;
        if life.state() == FWASR_STATE_CONNECTING && timeout != Some(Duration::ZERO) && on_network_thread() {
            return Err(in_callback("fwasr_session_wait_ready"));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let ready = life.wait_until(deadline, |p| match p.state() {
            FWASR_STATE_CONNECTING => None,
            FWASR_STATE_OPEN | FWASR_STATE_FINISHING => Some(Ok(())),
            _ => p.ended_error().map(Err),
        });
        ready.unwrap_or_else(|| {
            Err(Error::new(
                FWASR_ERR_TIMEOUT,
                "still connecting when the wait ran out",
            ))
        })
    }

    /// Queues 16 kHz mono s16le bytes; all or nothing; never blocks.
    pub fn push(&self, data: &[u8]) -> Result<(), Error> {
        let mut producer = self.pusher()?;
        self.push_locked(&mut producer, data, true)
    }

    /// The pushing side, without waiting: a second concurrent pusher is refused, not blocked.
    fn pusher(&self) -> Result<parking_lot::MutexGuard<'_, AudioProducer>, Error> {
        self.producer
            .try_lock()
            .ok_or_else(|| Error::new(FWASR_ERR_BUSY, "another thread is pushing to this session"))
    }

    /// The error of a session that has ended, if it has.
    fn ended_error(&self) -> Result<(), Error> {
        self.shared.life.look(Progress::ended_error).map_or(Ok(()), Err)
    }

    /// The format `push` takes, so typed pushes can check they match.
    pub fn input_format(&self) -> Format {
        self.input_format
    }

    fn push_locked(
        &self,
        producer: &mut AudioProducer,
        data: &[u8],
        report_overrun: bool,
    ) -> Result<(), Error> {
        let sh = &self.shared;
        if sh.life.finish_requested.load(Ordering::Relaxed) {
            return Err(Error::new(FWASR_ERR_STATE, "push after finish"));
        }
        if sh.life.ended.load(Ordering::Acquire) {
            return Err(Error::new(FWASR_ERR_STATE, "push to a session that has ended"));
        }
        let before = producer.samples();
        match producer.write(data) {
            Ok(()) => {
                let after = producer.samples();
                sh.counts.pushed.store(after * 2, Ordering::Release);
                // The overrun ends once the queue has drained to half, so a queue hovering at
                // full (a stalled server) raises one OVERRUN, not one per push.
                if sh.flow.in_overrun.load(Ordering::Relaxed) && producer.room() * 2 >= self.capacity {
                    sh.flow.in_overrun.store(false, Ordering::Relaxed);
                }
                let chunk = sh.chunk_bytes as u64 / 2;
                if after / chunk > before / chunk {
                    sh.notify();
                }
                Ok(())
            }
            Err(Full) => {
                if report_overrun {
                    // Counted as what it would have been at 16 kHz mono s16le.
                    let equivalent =
                        data.len() as u64 * (BYTES_PER_MS as u64 * 1000) / self.input_bytes_per_s;
                    sh.counts.refused.fetch_add(equivalent, Ordering::Relaxed);
                    if !sh.flow.in_overrun.swap(true, Ordering::Relaxed) {
                        sh.flow.overrun_signal.store(true, Ordering::Release);
                        sh.notify();
                    }
                }
                Err(Error::new(
                    FWASR_ERR_BUFFER_FULL,
                    "the audio queue is full; nothing was taken",
                ))
            }
        }
    }

    /// Like `push`, but waits up to `timeout` (None = forever) for room. Inside a callback it
    /// does not wait: FWASR_ERR_STATE when there is no room.
    pub fn push_wait(&self, data: &[u8], timeout: Option<Duration>) -> Result<(), Error> {
        if data.len() > self.capacity {
            return Err(Error::new(
                FWASR_ERR_BUFFER_FULL,
                format!(
                    "{} bytes is more than the whole audio queue ({} bytes)",
                    data.len(),
                    self.capacity
                ),
            ));
        }
        let mut producer = self.pusher()?;
        match self.push_locked(&mut producer, data, false) {
            Err(e) if e.status == FWASR_ERR_BUFFER_FULL => {}
            other => return other,
        }
        if timeout != Some(Duration::ZERO) && on_network_thread() {
            return Err(in_callback("fwasr_session_push_wait with a full queue"));
        }
        // Tried again under the lock the network thread wakes waiters under after taking
        // audio, so no wake-up is lost between a failed push and the wait.
        let deadline = timeout.map(|t| Instant::now() + t);
        let pushed =
            self.shared
                .life
                .wait_until(deadline, |_| match self.push_locked(&mut producer, data, false) {
                    Err(e) if e.status == FWASR_ERR_BUFFER_FULL => None,
                    other => Some(other),
                });
        pushed.unwrap_or_else(|| {
            Err(Error::new(
                FWASR_ERR_TIMEOUT,
                format!("no room for {} bytes within the timeout", data.len()),
            ))
        })
    }

    fn control(&self, make: impl FnOnce(u64) -> Control) -> Result<(), Error> {
        if self.shared.life.finish_requested.load(Ordering::Acquire) {
            return Err(Error::new(FWASR_ERR_STATE, "the session is finishing"));
        }
        if matches!(self.shared.life.state(), FWASR_STATE_CLOSED | FWASR_STATE_FAILED) {
            return Err(Error::new(FWASR_ERR_STATE, "the session has ended"));
        }
        let queued = self.control.len() + self.shared.flow.controls_pending.load(Ordering::Acquire);
        if queued >= CONTROLS_QUEUED_MAX {
            return Err(Error::new(
                FWASR_ERR_BUFFER_FULL,
                format!("{queued} checkpoint, trace and clear messages wait to be sent; the server is not taking them"),
            ));
        }
        // Control messages follow the complete chunks pushed before the call; a partial chunk
        // stays queued so chunks keep their exact size.
        let pushed = self.shared.counts.pushed.load(Ordering::Acquire);
        let at = pushed - pushed % self.shared.chunk_bytes as u64;
        self.control
            .send(make(at))
            .map_err(|_| Error::new(FWASR_ERR_STATE, "the session has ended"))?;
        self.shared.notify();
        Ok(())
    }

    fn event_id(&self) -> String {
        format!("fwasr-{}", self.next_event_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends `{"checkpoint_id": id}` after the complete chunks pushed so far.
    pub fn checkpoint(&self, id: &str) -> Result<(), Error> {
        if id == "final" {
            return Err(Error::invalid(
                "checkpoint id 'final' is reserved for fwasr_session_finish",
            ));
        }
        self.control(|at| Control::Checkpoint {
            id: id.to_string(),
            at,
        })
    }

    /// Sends an `stt.input.trace`; the answer raises TRACE with the round-trip time.
    pub fn trace(&self, id: &str) -> Result<(), Error> {
        let event_id = self.event_id();
        self.control(|at| Control::Trace {
            id: id.to_string(),
            event_id,
            at,
        })
    }

    /// Sends an `stt.state.clear`; the answer raises CLEARED.
    pub fn clear(&self, id: &str) -> Result<(), Error> {
        let event_id = self.event_id();
        self.control(|at| Control::Clear {
            id: id.to_string(),
            event_id,
            at,
        })
    }

    /// No more audio. Sends what is queued and the final checkpoint, then waits up to
    /// `timeout` (None = forever, zero = not at all) for the session to end. Ok means the whole
    /// transcript is in (or, with a zero timeout, that finishing has started). Inside a
    /// callback it starts finishing but does not wait: FWASR_ERR_STATE unless the timeout is
    /// zero (the CLOSED event tells how it ends).
    pub fn finish(&self, timeout: Option<Duration>) -> Result<(), Error> {
        {
            let mut producer = self.producer.lock();
            if !self.shared.life.finish_requested.load(Ordering::Acquire) {
                self.ended_error()?;
                // The filter's tail goes out now, as if pushed now.
                producer.stamp_end(Instant::now());
                // The network thread converts the rest and flushes the resampler's tail.
                let end = producer.end_samples() * 2;
                self.shared.counts.pushed.store(end, Ordering::Release);
                // Paced audio still to send is not the server's delay; nothing else may hold
                // finish up beyond the timeout (a server that stopped reading, reconnects).
                let unsent = end.saturating_sub(self.shared.counts.sent.load(Ordering::Acquire));
                let paced = if self.pacing > 0.0 {
                    Duration::from_secs_f64(unsent as f64 / (BYTES_PER_MS as f64 * 1000.0) / self.pacing)
                } else {
                    Duration::ZERO
                };
                let by = Instant::now() + self.finish_timeout + paced;
                self.shared.life.finish_requested.store(true, Ordering::Release);
                let _ = self.control.send(Control::Finish { end, by });
                self.shared.notify();
            }
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(());
        }
        let life = &self.shared.life;
        let ended = |p: &Progress| match p.state() {
            FWASR_STATE_CLOSED => Some(Ok(())),
            _ => p.ended_error().map(Err),
        };
        if life.look(ended).is_none() && on_network_thread() {
            return Err(in_callback(
                "fwasr_session_finish (finishing has started; the CLOSED event tells how it ends)",
            ));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        life.wait_until(deadline, ended)
            .unwrap_or_else(|| Err(Error::new(FWASR_ERR_TIMEOUT, "the session is still finishing")))?;
        // The recording's header is written once its last audio is: wait for it within the
        // same deadline, but a slow disk is not the stream's failure.
        if let Some(record) = &self.record {
            if !on_network_thread() {
                record.wait_done(deadline);
            }
        }
        Ok(())
    }

    /// The next event (poll mode). None on timeout, when the session has ended and every
    /// event was taken, or at once when an event callback is set. Inside a callback it does
    /// not wait.
    pub fn next_event(&self, timeout: Option<Duration>) -> Option<Event> {
        let rx = self.events.as_ref()?;
        let timeout = if on_network_thread() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let queued = match timeout {
            Some(t) if t.is_zero() => rx.try_recv().ok(),
            Some(t) => rx.recv_timeout(t).ok(),
            None => rx.recv().ok(),
        }?;
        let left = self
            .shared
            .flow
            .queued_bytes
            .fetch_sub(queued.bytes, Ordering::AcqRel)
            - queued.bytes;
        if self.shared.flow.reading_paused.load(Ordering::Acquire)
            && left <= EVENT_QUEUE_BYTES / 2
            && self.shared.flow.reading_paused.swap(false, Ordering::AcqRel)
        {
            self.shared.notify();
        }
        Some(queued.event)
    }

    /// The transcript so far: segment texts in id order, joined by one space.
    pub fn transcript(&self) -> String {
        self.shared.transcript.lock().text()
    }

    /// A snapshot of the segments, in id order.
    pub fn segments(&self) -> Vec<Segment> {
        self.shared.transcript.lock().segments().cloned().collect()
    }

    /// Poll mode: whether reading from the server is held because the events not yet taken
    /// fill their bound (32 MiB). Reading goes on once `next_event` has taken half of them.
    pub fn reading_held(&self) -> bool {
        self.shared.flow.reading_paused.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> Stats {
        let sh = &self.shared;
        let pushed = sh.counts.pushed.load(Ordering::Acquire);
        let sent = sh.counts.sent.load(Ordering::Acquire);
        Stats {
            bytes_pushed: pushed,
            bytes_sent: sent,
            bytes_dropped: sh.counts.refused.load(Ordering::Relaxed)
                + sh.counts.dropped.load(Ordering::Relaxed),
            bytes_queued: pushed.saturating_sub(sent),
            chunks_sent: sh.counts.chunks_sent.load(Ordering::Relaxed),
            messages_received: sh.counts.messages.load(Ordering::Relaxed),
            last_rtt_ms: f64::from_bits(sh.counts.last_rtt_bits.load(Ordering::Relaxed)),
            bytes_silence: sh.counts.silence.load(Ordering::Relaxed),
            reconnects: sh.counts.reconnects.load(Ordering::Relaxed),
            bytes_replayed: sh.counts.replayed.load(Ordering::Relaxed),
            levels: sh.counts.levels.load(),
            latency: sh.counts.latency.load(),
            bytes_not_recorded: self
                .record
                .as_ref()
                // Acquire: a count that includes the disk's failure comes with the failure.
                .map_or(0, |r| r.not_recorded.load(Ordering::Acquire)),
        }
    }

    pub fn state(&self) -> State {
        self.shared.life.state()
    }

    /// Stops the session without flushing. No callback starts after this returns (or, when
    /// called from inside the session's own callback, after that callback returns). Waits for
    /// the network side to let go within about a second (a name lookup in progress is not
    /// waited for: it ends by itself).
    pub fn close(&self) {
        let sh = &self.shared;
        if !sh.gate.free() {
            return;
        }
        sh.life.stop.store(true, Ordering::Release);
        sh.notify();
        let handle = self.thread.lock().take();
        if sh.in_own_callback() {
            return;
        }
        sh.wait_for_callbacks();
        // A callback freeing another session: that session ends on its own network thread
        // (no callback of it runs any more); waiting for it here could be waiting for this
        // very thread.
        if on_network_thread() {
            return;
        }
        let done = sh
            .life
            .wait_until(Some(Instant::now() + JOIN_BOUND), |p| p.done.then_some(()));
        if done.is_some() {
            if let Some(h) = handle {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}
