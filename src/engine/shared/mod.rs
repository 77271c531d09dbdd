//! What a session's caller threads and its network thread share, in small parts, each field
//! with one writer: the doorbell that wakes the network thread (wake), the session's life and
//! the one way to wait for it (life), the rules for running callbacks (gate), the counters
//! `stats` reads (counts), and the flow control between them (flow).

mod gate;
mod life;
mod wake;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use gate::{mark_network_thread, on_network_thread, Gate};
pub(crate) use life::{Life, Progress};
pub(crate) use wake::{Doorbell, Wake, NO_SLOT};

use crate::audio::levels::LevelStats;
use crate::config::LogHandler;
use crate::core::LatencySummary;
use crate::event::LogLevel;
use crate::transcript::Transcript;

/// Totals for `stats`. `pushed` and `refused` are written by the pushing thread, the rest by
/// the network thread (after each step, from its core's counters).
#[derive(Default)]
pub(crate) struct Counts {
    pub pushed: AtomicU64,
    /// Audio refused by a full queue (counted at 16 kHz mono s16le).
    pub refused: AtomicU64,
    pub sent: AtomicU64,
    pub chunks_sent: AtomicU64,
    /// Audio a reconnect could not send again (older than the replay buffer).
    pub dropped: AtomicU64,
    /// Bytes of idle silence sent (not pushed audio).
    pub silence: AtomicU64,
    pub reconnects: AtomicU64,
    pub replayed: AtomicU64,
    pub messages: AtomicU64,
    pub last_rtt_bits: AtomicU64,
    pub levels: LevelCells,
    pub latency: LatencyCells,
}

/// The final-segment latency summary, as of the network thread's last step.
pub(crate) struct LatencyCells([AtomicU64; 3]);

impl Default for LatencyCells {
    fn default() -> Self {
        let cells = LatencyCells(Default::default());
        cells.store(LatencySummary::default());
        cells
    }
}

impl LatencyCells {
    pub fn store(&self, l: LatencySummary) {
        for (cell, v) in self.0.iter().zip([l.p50_ms, l.p95_ms, l.max_ms]) {
            cell.store(v.to_bits(), Ordering::Relaxed);
        }
    }

    pub fn load(&self) -> LatencySummary {
        let [p50_ms, p95_ms, max_ms] = self
            .0
            .each_ref()
            .map(|c| f64::from_bits(c.load(Ordering::Relaxed)));
        LatencySummary {
            p50_ms,
            p95_ms,
            max_ms,
        }
    }
}

/// The levels of the audio sent, as of the network thread's last step.
pub(crate) struct LevelCells {
    rms: AtomicU64,
    peak: AtomicU64,
    session_peak: AtomicU64,
    clipped: AtomicU64,
    silence_ms: AtomicU64,
}

impl Default for LevelCells {
    fn default() -> Self {
        let cells = LevelCells {
            rms: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            session_peak: AtomicU64::new(0),
            clipped: AtomicU64::new(0),
            silence_ms: AtomicU64::new(0),
        };
        cells.store(LevelStats::default());
        cells
    }
}

impl LevelCells {
    pub fn store(&self, l: LevelStats) {
        let f = |cell: &AtomicU64, v: f64| cell.store(v.to_bits(), Ordering::Relaxed);
        f(&self.rms, l.rms_dbfs);
        f(&self.peak, l.peak_dbfs);
        f(&self.session_peak, l.session_peak_dbfs);
        self.clipped.store(l.clipped_samples, Ordering::Relaxed);
        f(&self.silence_ms, l.silence_ms);
    }

    pub fn load(&self) -> LevelStats {
        let f = |cell: &AtomicU64| f64::from_bits(cell.load(Ordering::Relaxed));
        LevelStats {
            rms_dbfs: f(&self.rms),
            peak_dbfs: f(&self.peak),
            session_peak_dbfs: f(&self.session_peak),
            clipped_samples: self.clipped.load(Ordering::Relaxed),
            silence_ms: f(&self.silence_ms),
        }
    }
}

/// Flow control between the caller's threads and the network thread.
#[derive(Default)]
pub(crate) struct Flow {
    /// Poll mode: the event queue is full and the network thread has stopped reading from
    /// the server; next_event wakes it once half the queue is taken.
    pub reading_paused: AtomicBool,
    /// Poll mode: bytes of events queued and not yet taken (see EVENT_QUEUE_BYTES).
    pub queued_bytes: AtomicUsize,
    /// Control messages the network thread holds unsent, as of its last look (see
    /// CONTROLS_QUEUED_MAX).
    pub controls_pending: AtomicUsize,
    /// An overrun began (set by push); the network thread raises the OVERRUN event.
    pub overrun_signal: AtomicBool,
    /// Push's own note that an overrun is going on, until the queue has drained to half.
    pub in_overrun: AtomicBool,
}

pub(crate) struct Shared {
    pub wake: Wake,
    pub life: Life,
    pub gate: Gate,
    pub counts: Counts,
    pub flow: Flow,
    pub transcript: Arc<Mutex<Transcript>>,
    pub chunk_bytes: usize,
}

/// Poll mode: the memory of untaken events (their strings and the server messages they came
/// from) at which a session stops reading from the server until next_event has taken half
/// (the server's messages then wait in the socket; nothing is lost). One message's events are
/// always queued whole, so the queue can pass this by one message's worth.
pub(crate) const EVENT_QUEUE_BYTES: usize = 32 << 20;

/// Checkpoint, trace and clear calls waiting to be sent, at most: past it they are refused
/// with FWASR_ERR_BUFFER_FULL, so a server that reads nothing cannot make them pile up.
pub(crate) const CONTROLS_QUEUED_MAX: usize = 1024;

impl Shared {
    pub fn new(doorbell: Arc<Doorbell>, chunk_bytes: usize, log: Option<(LogHandler, LogLevel)>) -> Shared {
        Shared {
            wake: Wake::new(doorbell),
            life: Life::new(),
            gate: Gate::new(log),
            counts: Counts {
                last_rtt_bits: AtomicU64::new(f64::NAN.to_bits()),
                ..Counts::default()
            },
            flow: Flow::default(),
            transcript: Arc::new(Mutex::new(Transcript::new())),
            chunk_bytes,
        }
    }

    pub fn notify(&self) {
        self.wake.notify();
    }

    /// A bug on the network thread while ending the session: it fails without more ado.
    pub fn fail_internal(&self) {
        self.life.fail(crate::error::Error::new(
            crate::error::FWASR_ERR_INTERNAL,
            "internal error: the session's network thread panicked",
        ));
        self.life.done();
    }
}
