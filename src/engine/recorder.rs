//! A copy of the audio sent, as a WAV file (fwasr_config_set_record_path): 16 kHz mono s16,
//! each stream byte once (audio sent again after a reconnect is not written twice), idle
//! silence included, since the server received it. A thread of its own writes it, fed through
//! a bounded queue, so a slow or failing disk never holds up a network thread: what does not
//! fit, or cannot be written, is counted (fwasr_stats.audio_ms_not_recorded) and logged as a
//! warning; the stream goes on. The header's sizes are written when the session's audio ends.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, FWASR_ERR_IO};

/// Chunks waiting for the disk, at most: 12.8 s of audio in 50 ms chunks (400 KB), room for
/// a burst of unpaced audio while the writer thread waits for a core.
const QUEUED_CHUNKS: usize = 256;
const HEADER_BYTES: u32 = 44;

/// What the session, its network thread and the writer share.
#[derive(Default)]
pub(crate) struct RecordState {
    /// Audio bytes sent but not in the file (queue full, or the disk refused them).
    pub not_recorded: AtomicU64,
    /// The writer's failure, for the network thread to log (it owns the log callback).
    error: Mutex<Option<String>>,
    has_error: AtomicBool,
    /// The file is complete (or given up on).
    done: Mutex<bool>,
    done_cv: Condvar,
}

impl RecordState {
    /// Waits until the file is complete, up to `deadline`; whether it is.
    pub fn wait_done(&self, deadline: Option<Instant>) -> bool {
        let mut done = self.done.lock();
        while !*done {
            match deadline {
                Some(d) => {
                    if self.done_cv.wait_until(&mut done, d).timed_out() {
                        return *done;
                    }
                }
                None => self.done_cv.wait(&mut done),
            }
        }
        true
    }

    fn failed(&self, why: String) {
        let mut e = self.error.lock();
        if e.is_none() {
            *e = Some(why);
            self.has_error.store(true, Ordering::Release);
        }
    }

    /// The writer's failure, once.
    pub fn take_error(&self) -> Option<String> {
        // A load first: this is asked on every step of the network thread.
        if !self.has_error.load(Ordering::Relaxed) || !self.has_error.swap(false, Ordering::Acquire) {
            return None;
        }
        self.error.lock().take()
    }
}

/// The network thread's end: offers each chunk as it is first sent.
pub(crate) struct Recorder {
    queue: Sender<Vec<u8>>,
    pub state: Arc<RecordState>,
    /// Chunks are being refused (the disk is behind); logged once per stretch.
    behind: bool,
}

impl Recorder {
    /// Creates the file (its header with empty sizes) and starts its writer thread.
    pub fn start(path: &str) -> Result<Recorder, Error> {
        let io = |e: std::io::Error| Error::new(FWASR_ERR_IO, format!("cannot record to {path}: {e}"));
        let mut file = BufWriter::with_capacity(64 << 10, File::create(path).map_err(io)?);
        file.write_all(&header(0)).map_err(io)?;
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(QUEUED_CHUNKS);
        let state = Arc::new(RecordState::default());
        let writer_state = state.clone();
        let shown = path.to_string();
        std::thread::Builder::new()
            .name("fwasr-record".into())
            .spawn(move || write_all(file, rx, &writer_state, &shown))
            .map_err(|e| {
                Error::new(
                    crate::error::FWASR_ERR_RESOURCE,
                    format!("cannot start the recording thread: {e}"),
                )
            })?;
        Ok(Recorder {
            queue: tx,
            state,
            behind: false,
        })
    }

    /// Hands a chunk to the writer without waiting; a warning to log when it could not (once
    /// per stretch of refusals).
    pub fn offer(&mut self, chunk: Vec<u8>) -> Option<&'static str> {
        let n = chunk.len() as u64;
        match self.queue.try_send(chunk) {
            Ok(()) => {
                self.behind = false;
                None
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.state.not_recorded.fetch_add(n, Ordering::Relaxed);
                (!std::mem::replace(&mut self.behind, true))
                    .then_some("the recording falls behind the disk: audio is left out of it")
            }
        }
    }
}

/// The writer thread: everything that comes, then the header's sizes once the queue closes.
fn write_all(
    mut file: BufWriter<File>,
    chunks: crossbeam_channel::Receiver<Vec<u8>>,
    state: &RecordState,
    path: &str,
) {
    let mut data = 0u64;
    let mut broken = false;
    for chunk in chunks {
        if broken {
            state
                .not_recorded
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            continue;
        }
        match file.write_all(&chunk) {
            Ok(()) => data += chunk.len() as u64,
            Err(e) => {
                // A partly written chunk leaves the file's audio shifted: stop writing.
                broken = true;
                state.failed(format!(
                    "recording to {path} failed, nothing more is written: {e}"
                ));
                // Counted once the failure is there for the network thread to log: a caller
                // who sees the count before finishing can count on the warning.
                state
                    .not_recorded
                    .fetch_add(chunk.len() as u64, Ordering::Release);
            }
        }
    }
    let finished = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&header(data)))
        .and_then(|()| file.flush());
    if let Err(e) = finished {
        // The network thread may have let go by now, so the count says it: none of the audio
        // is in a usable file.
        state.not_recorded.fetch_add(data, Ordering::Relaxed);
        state.failed(format!("recording to {path}: cannot complete the header: {e}"));
    }
    *state.done.lock() = true;
    state.done_cv.notify_all();
}

/// A canonical 44-byte WAV header for `data` bytes of 16 kHz mono s16 (sizes saturate at
/// 4 GiB, 37 hours).
fn header(data: u64) -> [u8; HEADER_BYTES as usize] {
    let data = u32::try_from(data).unwrap_or(u32::MAX - HEADER_BYTES);
    let mut h = [0u8; HEADER_BYTES as usize];
    let mut at = 0;
    let mut put = |b: &[u8]| {
        h[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(b"RIFF");
    put(&(data + HEADER_BYTES - 8).to_le_bytes());
    put(b"WAVEfmt ");
    put(&16u32.to_le_bytes());
    put(&1u16.to_le_bytes()); // PCM
    put(&1u16.to_le_bytes()); // mono
    put(&16_000u32.to_le_bytes());
    put(&32_000u32.to_le_bytes()); // bytes per second
    put(&2u16.to_le_bytes()); // bytes per frame
    put(&16u16.to_le_bytes()); // bits per sample
    put(b"data");
    put(&data.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_describes_16_khz_mono_s16() {
        let h = header(32_000);
        assert_eq!(&h[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 32_036);
        assert_eq!(&h[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 16_000);
        assert_eq!(u16::from_le_bytes(h[34..36].try_into().unwrap()), 16);
        assert_eq!(&h[36..40], b"data");
        assert_eq!(u32::from_le_bytes(h[40..44].try_into().unwrap()), 32_000);
        assert_eq!(
            u32::from_le_bytes(header(u64::MAX)[40..44].try_into().unwrap()),
            u32::MAX - 44
        );
    }
}
