//! What a reconnect needs: the audio sent and not yet settled by a final segment (sent again
//! on the new connection), and the renumbering that places the new connection's segments
//! after the old ones on the stream's clock.

use std::collections::VecDeque;

use crate::config::BYTES_PER_MS;
use crate::transcript::{decimal_add, numeric, Segment};

/// 16 kHz mono s16le per second.
const BYTES_PER_S: f64 = BYTES_PER_MS as f64 * 1000.0;

/// The stream position (bytes) of the sample nearest to `seconds`: a server's 2.6 s is
/// sample 41,600, though 2.6 × 16,000 comes out a hair below it.
pub(crate) fn bytes_at(seconds: f64) -> u64 {
    (seconds * BYTES_PER_S / 2.0).round() as u64 * 2
}

/// Audio sent and not yet settled: bytes `start..start + log.len()` of the stream, at most
/// `capacity` of them. Audio before the end of the last final segment is never sent again,
/// so it is not kept.
#[derive(Default)]
pub(crate) struct ReplayLog {
    log: VecDeque<u8>,
    start: u64,
    capacity: usize,
}

impl ReplayLog {
    /// Keeps up to `capacity` bytes (0: reconnect is off, nothing is kept).
    pub fn new(capacity: usize) -> ReplayLog {
        ReplayLog {
            capacity,
            ..ReplayLog::default()
        }
    }

    /// `chunk` was sent from stream position `at`; everything before `settled` is final.
    pub fn record(&mut self, chunk: &[u8], at: u64, settled: u64) {
        if self.capacity == 0 {
            return;
        }
        self.log.extend(chunk);
        let end = at + chunk.len() as u64;
        let settled = settled.min(end).saturating_sub(self.start) as usize;
        let excess = self
            .log
            .len()
            .saturating_sub(self.capacity)
            .max(settled.min(self.log.len()));
        self.log.drain(..excess);
        self.start += excess as u64;
    }

    /// Where a new connection's audio starts: the end of the last final segment, but no
    /// earlier than the oldest audio kept and no later than what was sent.
    pub fn resume_point(&self, settled: u64, sent: u64) -> u64 {
        settled.clamp(self.start, sent)
    }

    /// Settled audio that is no longer kept: lost to a reconnect from `settled`.
    pub fn dropped(&self, settled: u64, sent: u64) -> u64 {
        self.start.saturating_sub(settled.min(sent))
    }

    /// The audio from `resume` on, in chunks of `chunk_bytes`.
    pub fn replay(&self, resume: u64, chunk_bytes: usize) -> VecDeque<Vec<u8>> {
        let from = resume.saturating_sub(self.start) as usize;
        let bytes: Vec<u8> = self.log.iter().skip(from).copied().collect();
        bytes.chunks(chunk_bytes).map(<[u8]>::to_vec).collect()
    }
}

/// How the current connection's segments map onto the stream: its audio starts `offset_s`
/// into the stream; its numeric ids are shifted past every id used before, its other ids
/// prefixed with the connection's number.
#[derive(Default)]
pub(crate) struct Renumber {
    offset_s: f64,
    id_base: String,
    generation: u64,
}

impl Renumber {
    /// A new connection whose audio starts at stream byte `resume`; `max_numeric_id` is the
    /// largest numeric id in the transcript (digits).
    pub fn next_connection(&mut self, resume: u64, max_numeric_id: Option<&str>) {
        self.offset_s = resume as f64 / BYTES_PER_S;
        self.id_base = max_numeric_id.map_or_else(|| "0".into(), |m| decimal_add(m, "1"));
        self.generation += 1;
    }

    pub fn offset_s(&self) -> f64 {
        self.offset_s
    }

    /// Gives segments of the current connection their ids on the stream (nothing to do on the
    /// first); their times were offset by `offset_s` as they were parsed.
    pub fn apply(&self, segments: &mut [Segment]) {
        if self.generation == 0 {
            return;
        }
        for s in segments {
            s.id = match numeric(&s.id) {
                Some(n) => decimal_add(&self.id_base, n),
                None => format!("{}:{}", self.generation, s.id),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_only_unsettled_audio_within_its_capacity() {
        let mut log = ReplayLog::new(1000);
        let chunk = |b: u8| vec![b; 400];
        log.record(&chunk(1), 0, 0);
        log.record(&chunk(2), 400, 0);
        log.record(&chunk(3), 800, 0);
        // 1200 bytes sent, capacity 1000: the oldest 200 went.
        assert_eq!(log.resume_point(0, 1200), 200);
        assert_eq!(log.dropped(0, 1200), 200);
        let replay = log.replay(200, 320);
        let flat: Vec<u8> = replay.iter().flatten().copied().collect();
        assert_eq!(flat.len(), 1000);
        assert_eq!(replay[0].len(), 320);
        assert_eq!((flat[0], flat[199], flat[200], flat[999]), (1, 1, 2, 3));
        // A final segment up to 700 settles what lies before it.
        log.record(&chunk(4), 1200, 700);
        assert_eq!(log.resume_point(700, 1600), 700);
        assert_eq!(log.dropped(700, 1600), 0);
        assert_eq!(log.replay(700, 10_000)[0].len(), 900);
    }

    #[test]
    fn server_times_fall_on_their_nearest_sample() {
        assert_eq!(bytes_at(2.6), 83_200);
        assert_eq!(bytes_at(1.4), 44_800);
        assert_eq!(bytes_at(0.000_03), 0);
        assert_eq!(bytes_at(0.000_04), 2);
    }

    #[test]
    fn without_reconnect_nothing_is_kept() {
        let mut log = ReplayLog::new(0);
        log.record(&[1; 640], 0, 0);
        assert!(log.replay(0, 320).is_empty());
    }

    #[test]
    fn later_connections_renumber_after_the_earlier_ones() {
        let seg = |id: &str| Segment {
            id: id.into(),
            text: String::new(),
            is_final: 1,
            start_s: 0.5,
            end_s: 1.0,
            words: None,
        };
        let mut r = Renumber::default();
        let mut first = vec![seg("0"), seg("x")];
        r.apply(&mut first);
        assert_eq!(first[0].id, "0", "the first connection is the stream");
        r.next_connection(bytes_at(2.0), Some("7"));
        let mut second = vec![seg("0"), seg("3"), seg("x")];
        r.apply(&mut second);
        let ids: Vec<&str> = second.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["8", "11", "1:x"]);
        assert_eq!(r.offset_s(), 2.0);
        r.next_connection(bytes_at(3.0), None);
        let mut third = vec![seg("x")];
        r.apply(&mut third);
        assert_eq!(third[0].id, "2:x");
        assert_eq!(r.offset_s(), 3.0);
    }
}
