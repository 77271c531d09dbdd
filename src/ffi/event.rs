//! Events, segments and stats as C structs.

use std::ffi::{c_char, CString};

use crate::error::fwasr_status;
use crate::error::Error;
use crate::event::{fwasr_event_type, Event, Json};
use crate::ffi::{arg_ref, cstring, guard};
use crate::session::Stats;
use crate::transcript::Segment;
use crate::words::{fwasr_word, Words};

/// One event. Allocated by the library; fields are only ever appended at the end.
/// String fields are never NULL ("" when they do not apply), except `json`.
#[repr(C)]
pub struct fwasr_event {
    /// What happened.
    pub r#type: fwasr_event_type,
    /// SEGMENT, SEGMENT_REMOVED: the segment's id (numeric ids as decimal text).
    pub segment_id: *const c_char,
    /// SEGMENT: the segment's new text. SEGMENT_REMOVED: its last text.
    pub text: *const c_char,
    /// SEGMENT: 1 when every word is final, 0 when one is not, -1 unknown (no words).
    pub is_final: i32,
    /// SEGMENT: start and end in seconds of the stream's audio (offset across reconnects);
    /// NaN when unknown (the server sends times when asked: reconnect or word timestamps on).
    pub start_s: f64,
    pub end_s: f64,
    /// CHECKPOINT: the checkpoint id; TRACE: the trace id; CLEARED: the reset id.
    pub checkpoint_id: *const c_char,
    /// TRACE: round-trip time in milliseconds (NaN if the trace was not ours).
    pub rtt_ms: f64,
    /// OVERRUN: milliseconds of audio refused since the previous OVERRUN event.
    pub dropped_ms: f64,
    /// ERROR, CLOSED: the status (FWASR_OK for a CLOSED after a complete finish).
    pub status: fwasr_status,
    /// ERROR, CLOSED: HTTP status of a refused upgrade, close code of a close, the server's
    /// error code; 0 when none.
    pub code: i32,
    /// ERROR, CLOSED: what went wrong, in words (HTTP body, close reason included).
    pub message: *const c_char,
    /// The raw server message this event came from, or NULL. One copy per message, shared by
    /// all the events made from it.
    pub json: *const c_char,
    /// RECONNECTING, RECONNECTED: the connection attempt (1 for the first reconnect).
    pub attempt: i32,
    /// RECONNECTED: milliseconds of audio sent again on the new connection.
    pub replayed_ms: f64,
    /// RECONNECTING: milliseconds of backoff before the attempt (0 otherwise).
    pub backoff_ms: f64,
    /// SEGMENT: milliseconds from the moment the caller pushed the audio at the segment's end
    /// (end_s) to this event: fwasr's queue and pacing, the network both ways, and the
    /// server's wait for more audio and its work. Pushes are timed to within 1 ms (a burst of
    /// pushes, such as a file pushed at once, is timed once per millisecond). NaN when not
    /// known: without segment times (see fwasr_config_set_word_timestamps), for audio pushed
    /// more than 256 pushes (5 s of 20 ms pushes) before the transcript's last final segment,
    /// pushed while more than 64 pushes more than 1 ms apart waited for the network thread, or
    /// answered before the stamp that times it reached the network thread (a burst's last
    /// pushes are timed by the next push, or by fwasr_session_finish).
    pub latency_ms: f64,
}

/// An fwasr_event together with the strings it points into. `raw` comes first so a pointer to
/// it is a pointer to the whole.
#[repr(C)]
pub(crate) struct OwnedEvent {
    pub raw: fwasr_event,
    strings: [CString; 4],
    json: Option<Json>,
    /// SEGMENT, SEGMENT_REMOVED: the segment's words, shared with its message.
    words: Option<Words>,
}

/// The flat form of an event: each kind's values in their fields, the rest at their "does not
/// apply" values ("" and NaN, -1 for `is_final`, 0 otherwise).
struct Flat<'a> {
    segment_id: &'a str,
    text: &'a str,
    is_final: i32,
    start_s: f64,
    end_s: f64,
    checkpoint_id: &'a str,
    rtt_ms: f64,
    dropped_ms: f64,
    status: fwasr_status,
    code: i32,
    message: &'a str,
    attempt: i32,
    replayed_ms: f64,
    backoff_ms: f64,
    latency_ms: f64,
}

impl<'a> Flat<'a> {
    fn of(e: &'a Event) -> Flat<'a> {
        let mut f = Flat {
            segment_id: "",
            text: "",
            is_final: -1,
            start_s: f64::NAN,
            end_s: f64::NAN,
            checkpoint_id: e.id().unwrap_or(""),
            rtt_ms: f64::NAN,
            dropped_ms: 0.0,
            status: e.status(),
            code: e.error().map_or(0, |e| e.code),
            message: e.error().map_or("", |e| e.message.as_ref()),
            attempt: 0,
            replayed_ms: 0.0,
            backoff_ms: 0.0,
            latency_ms: e.latency_ms(),
        };
        if let Some(s) = e.segment() {
            f.segment_id = &s.id;
            f.text = &s.text;
            f.is_final = s.is_final;
            f.start_s = s.start_s;
            f.end_s = s.end_s;
        }
        match e {
            Event::Trace { rtt_ms, .. } => f.rtt_ms = *rtt_ms,
            Event::Overrun { dropped_ms } => f.dropped_ms = *dropped_ms,
            Event::Reconnecting {
                attempt, backoff_ms, ..
            } => {
                f.attempt = clamp_i32(*attempt);
                f.backoff_ms = *backoff_ms;
            }
            Event::Reconnected {
                attempt,
                start_s,
                replayed_ms,
                dropped_ms,
            } => {
                f.attempt = clamp_i32(*attempt);
                f.start_s = *start_s;
                f.replayed_ms = *replayed_ms;
                f.dropped_ms = *dropped_ms;
            }
            _ => {}
        }
        f
    }
}

fn clamp_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl OwnedEvent {
    pub fn new(e: &Event) -> OwnedEvent {
        let f = Flat::of(e);
        let strings = [
            cstring(f.segment_id),
            cstring(f.text),
            cstring(f.checkpoint_id),
            cstring(f.message),
        ];
        let json = e.json().cloned();
        OwnedEvent {
            raw: fwasr_event {
                r#type: e.kind(),
                segment_id: strings[0].as_ptr(),
                text: strings[1].as_ptr(),
                is_final: f.is_final,
                start_s: f.start_s,
                end_s: f.end_s,
                checkpoint_id: strings[2].as_ptr(),
                rtt_ms: f.rtt_ms,
                dropped_ms: f.dropped_ms,
                status: f.status,
                code: f.code,
                message: strings[3].as_ptr(),
                json: json.as_ref().map_or(std::ptr::null(), Json::as_c_ptr),
                attempt: f.attempt,
                replayed_ms: f.replayed_ms,
                backoff_ms: f.backoff_ms,
                latency_ms: f.latency_ms,
            },
            strings,
            json,
            words: e.segment().and_then(|s| s.words.clone()),
        }
    }
}

/// The words of an event the library handed out (events are OwnedEvents, whose first field
/// is the fwasr_event).
///
/// # Safety
/// `ev` is NULL or an event from the library that is still valid.
unsafe fn event_words<'a>(ev: *const fwasr_event) -> Option<&'a Words> {
    // SAFETY: per the caller's contract; OwnedEvent is repr(C) with the event first.
    unsafe { ev.cast::<OwnedEvent>().as_ref() }.and_then(|o| o.words.as_ref())
}

/// How many words there are: 0 for none.
fn word_count(words: Option<&Words>) -> usize {
    words.map_or(0, Words::len)
}

/// The i-th word as the C API hands it out, or NULL.
fn word_at(words: Option<&Words>, index: usize) -> *const fwasr_word {
    words
        .and_then(|w| w.raw(index))
        .map_or(std::ptr::null(), |w| w as *const fwasr_word)
}

/// Number of words of a SEGMENT or SEGMENT_REMOVED event (0 when the server sent none, for
/// other events and for NULL). `ev` must be an event as the library handed it out (from
/// fwasr_session_next_event or a callback), not a copy of one.
#[no_mangle]
pub unsafe extern "C" fn fwasr_event_word_count(ev: *const fwasr_event) -> usize {
    // SAFETY: NULL or an event from the library (the function's contract).
    guard(0, || word_count(unsafe { event_words(ev) }))
}

/// The i-th word of a SEGMENT or SEGMENT_REMOVED event, or NULL when out of range. Valid as
/// long as the event (until fwasr_event_free, or the callback returns).
#[no_mangle]
pub unsafe extern "C" fn fwasr_event_word(ev: *const fwasr_event, index: usize) -> *const fwasr_word {
    // SAFETY: NULL or an event from the library (the function's contract).
    guard(std::ptr::null(), || word_at(unsafe { event_words(ev) }, index))
}

/// Frees an event returned by fwasr_session_next_event. NULL does nothing. Any thread.
#[no_mangle]
pub unsafe extern "C" fn fwasr_event_free(event: *mut fwasr_event) {
    guard((), || {
        if !event.is_null() {
            // SAFETY: events handed out by next_event are Box<OwnedEvent> whose first field is
            // the fwasr_event (repr(C)), so the pointer is the Box's.
            drop(unsafe { Box::from_raw(event.cast::<OwnedEvent>()) });
        }
    })
}

/// The name of an event type, e.g. "SEGMENT". Static; never NULL.
#[no_mangle]
pub extern "C" fn fwasr_event_type_str(t: std::ffi::c_int) -> *const c_char {
    guard(c"UNKNOWN".as_ptr(), || {
        crate::event::EventType::from_i32(t)
            .map_or(c"UNKNOWN", crate::event::EventType::short_c_name)
            .as_ptr()
    })
}

/// One segment of a snapshot. Its strings are never NULL and live as long as the snapshot.
#[repr(C)]
pub struct fwasr_segment {
    pub id: *const c_char,
    pub text: *const c_char,
    /// 1 final, 0 not final, -1 unknown (no words).
    pub is_final: i32,
    /// Seconds of the stream's audio; NaN when unknown.
    pub start_s: f64,
    pub end_s: f64,
}

/// A snapshot's segment with its words. `raw` comes first so a pointer to it is a pointer to
/// the whole.
#[repr(C)]
pub(crate) struct SnapshotSegment {
    raw: fwasr_segment,
    words: Option<Words>,
}

/// An owned snapshot of a session's segments, in id order. Free with fwasr_segments_free.
pub struct fwasr_segments {
    items: Vec<SnapshotSegment>,
    _strings: Vec<CString>,
}

impl fwasr_segments {
    pub(crate) fn new(segments: &[Segment]) -> fwasr_segments {
        let mut strings = Vec::with_capacity(segments.len() * 2);
        let mut items = Vec::with_capacity(segments.len());
        for s in segments {
            let (id, text) = (cstring(&s.id), cstring(&s.text));
            items.push(SnapshotSegment {
                raw: fwasr_segment {
                    id: id.as_ptr(),
                    text: text.as_ptr(),
                    is_final: s.is_final,
                    start_s: s.start_s,
                    end_s: s.end_s,
                },
                words: s.words.clone(),
            });
            strings.push(id);
            strings.push(text);
        }
        fwasr_segments {
            items,
            _strings: strings,
        }
    }
}

/// Number of segments in a snapshot (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn fwasr_segments_len(segments: *const fwasr_segments) -> usize {
    // SAFETY: NULL or a snapshot from fwasr_session_segments.
    guard(0, || unsafe { segments.as_ref() }.map_or(0, |s| s.items.len()))
}

/// The i-th segment, or NULL when out of range. Valid until fwasr_segments_free.
#[no_mangle]
pub unsafe extern "C" fn fwasr_segments_get(
    segments: *const fwasr_segments,
    index: usize,
) -> *const fwasr_segment {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or a snapshot from fwasr_session_segments.
        unsafe { segments.as_ref() }
            .and_then(|s| s.items.get(index))
            .map_or(std::ptr::null(), |s| &s.raw as *const fwasr_segment)
    })
}

/// The words of a snapshot's segment, behind a pointer from fwasr_segments_get.
///
/// # Safety
/// `seg` is NULL or from fwasr_segments_get of a snapshot not yet freed.
unsafe fn segment_words<'a>(seg: *const fwasr_segment) -> Option<&'a Words> {
    // SAFETY: per the caller's contract; SnapshotSegment is repr(C) with the segment first.
    unsafe { seg.cast::<SnapshotSegment>().as_ref() }.and_then(|s| s.words.as_ref())
}

/// Number of words of a snapshot's segment (0 when the server sent none, and for NULL). `seg`
/// must come from fwasr_segments_get, not be a copy.
#[no_mangle]
pub unsafe extern "C" fn fwasr_segment_word_count(seg: *const fwasr_segment) -> usize {
    // SAFETY: NULL or from fwasr_segments_get (the function's contract).
    guard(0, || word_count(unsafe { segment_words(seg) }))
}

/// The i-th word of a snapshot's segment, or NULL when out of range. Valid until
/// fwasr_segments_free.
#[no_mangle]
pub unsafe extern "C" fn fwasr_segment_word(seg: *const fwasr_segment, index: usize) -> *const fwasr_word {
    // SAFETY: NULL or from fwasr_segments_get (the function's contract).
    guard(std::ptr::null(), || word_at(unsafe { segment_words(seg) }, index))
}

/// Frees a snapshot. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn fwasr_segments_free(segments: *mut fwasr_segments) {
    guard((), || {
        if !segments.is_null() {
            // SAFETY: snapshots are handed out as Box<fwasr_segments>.
            drop(unsafe { Box::from_raw(segments) });
        }
    })
}

/// Counters of a session. Written by fwasr_session_stats, which takes sizeof(fwasr_stats) so
/// fields can be appended in later versions without breaking older callers.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct fwasr_stats {
    /// Audio accepted by push, in milliseconds (what it becomes at 16 kHz; the resampler's
    /// tail is added at finish).
    pub audio_ms_pushed: f64,
    /// Audio written to the socket.
    pub audio_ms_sent: f64,
    /// Audio lost: refused because the queue was full (FWASR_ERR_BUFFER_FULL), or too old to
    /// be replayed after a reconnect.
    pub audio_ms_dropped: f64,
    /// Audio accepted but not yet sent.
    pub audio_ms_queued: f64,
    /// Audio bytes written to the socket (payload only).
    pub bytes_sent: u64,
    /// Binary frames written.
    pub chunks_sent: u64,
    /// Messages received from the server.
    pub messages_received: u64,
    /// Round-trip time of the last answered trace in milliseconds; NaN before the first.
    pub last_rtt_ms: f64,
    /// Idle silence sent (fwasr_config_set_idle_silence_ms), not counted in audio_ms_sent.
    pub audio_ms_silence: f64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Audio sent again after reconnects (counted once in audio_ms_sent).
    pub audio_ms_replayed: f64,
    /// RMS level of about the last 100 ms of audio sent, in dBFS relative to full scale (a
    /// full-scale square wave is 0 dBFS, a full-scale sine −3.01 dBFS); −inf for digital
    /// silence, NaN before any audio was sent. Measured on the 16 kHz mono audio as the
    /// network thread takes it from the queue (no cost to push); with pacing or a backed-up
    /// connection it trails what was pushed by the queue's delay (audio_ms_queued).
    pub level_rms_dbfs: f64,
    /// Peak level of the same 100 ms, in dBFS (a full-scale sample is 0 dBFS).
    pub level_peak_dbfs: f64,
    /// Peak level of all audio sent so far, in dBFS.
    pub peak_dbfs: f64,
    /// Samples sent at full scale (±32767 or −32768 after conversion): input that clipped.
    pub clipped_samples: u64,
    /// Milliseconds of audio sent in 10 ms blocks whose RMS was below −60 dBFS (a muted
    /// microphone, a one-way call).
    pub audio_ms_below_silence: f64,
    /// Latency of the segments as they became final (latency_ms of the SEGMENT event that
    /// first had them final): median, 95th percentile (each within 1 %) and maximum over the
    /// session, in milliseconds; NaN before the first. last_rtt_ms is the round trip of the
    /// network and server alone (fwasr_session_trace).
    pub final_latency_p50_ms: f64,
    pub final_latency_p95_ms: f64,
    pub final_latency_max_ms: f64,
    /// Audio sent that the recording (fwasr_config_set_record_path) left out: the disk was
    /// behind by more than its queue (fwasr_config_set_record_path), or failed. 0 without a recording.
    pub audio_ms_not_recorded: f64,
}

impl From<Stats> for fwasr_stats {
    fn from(s: Stats) -> fwasr_stats {
        fwasr_stats {
            audio_ms_pushed: Stats::ms(s.bytes_pushed),
            audio_ms_sent: Stats::ms(s.bytes_sent),
            audio_ms_dropped: Stats::ms(s.bytes_dropped),
            audio_ms_queued: Stats::ms(s.bytes_queued),
            bytes_sent: s.bytes_sent,
            chunks_sent: s.chunks_sent,
            messages_received: s.messages_received,
            last_rtt_ms: s.last_rtt_ms,
            audio_ms_silence: Stats::ms(s.bytes_silence),
            reconnects: s.reconnects,
            audio_ms_replayed: Stats::ms(s.bytes_replayed),
            level_rms_dbfs: s.levels.rms_dbfs,
            level_peak_dbfs: s.levels.peak_dbfs,
            peak_dbfs: s.levels.session_peak_dbfs,
            clipped_samples: s.levels.clipped_samples,
            audio_ms_below_silence: s.levels.silence_ms,
            final_latency_p50_ms: s.latency.p50_ms,
            final_latency_p95_ms: s.latency.p95_ms,
            final_latency_max_ms: s.latency.max_ms,
            audio_ms_not_recorded: Stats::ms(s.bytes_not_recorded),
        }
    }
}

/// Copies `stats` into the caller's struct of `size` bytes (as much as fits).
pub(crate) unsafe fn write_stats(stats: Stats, out: *mut fwasr_stats, size: usize) -> Result<(), Error> {
    // SAFETY: out is checked for NULL; the caller promises `size` writable bytes.
    unsafe { arg_ref(out as *const fwasr_stats, "out") }?;
    let value = fwasr_stats::from(stats);
    let n = size.min(std::mem::size_of::<fwasr_stats>());
    // SAFETY: n bytes are readable from value and writable at out.
    unsafe {
        std::ptr::copy_nonoverlapping((&value as *const fwasr_stats).cast::<u8>(), out.cast::<u8>(), n)
    };
    Ok(())
}
