/*
 * fwasr: stream live audio to the Fireworks streaming transcription WebSocket from C.
 *
 * Conventions:
 *  - Fallible calls return fwasr_status (FWASR_OK == 0). Out-parameters are written only on
 *    success. fwasr_last_error() has the message of the last failed call on this thread.
 *  - Objects come in _new/_open and _free pairs; _free(NULL) does nothing.
 *  - Strings in are UTF-8, NUL-terminated, and copied. Strings out are static, owned by an
 *    object you free, or written to your buffer with snprintf semantics.
 *  - No call ever crashes on a NULL or invalid argument: it returns
 *    FWASR_ERR_INVALID_ARGUMENT (or NULL / 0) and sets fwasr_last_error().
 */

#ifndef FWASR_H
#define FWASR_H

/* Generated from the Rust sources by cbindgen (tools/header, cbindgen.toml). Do not edit. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version of this header; fwasr_version() gives the library's. */
#define FWASR_VERSION_MAJOR 0
#define FWASR_VERSION_MINOR 1
#define FWASR_VERSION_PATCH 0

/* Fireworks' streaming transcription endpoints, for fwasr_config_set_url. */
/* Production (v1), the default. */
#define FWASR_URL_PRODUCTION "wss://audio-streaming.api.fireworks.ai/v1/audio/transcriptions/streaming"
/* The regional us-virginia-1 host, the one first published. */
#define FWASR_URL_US_VIRGINIA "wss://audio-streaming.us-virginia-1.direct.fireworks.ai/v1/audio/transcriptions/streaming"
/* The v2 preview (a newer model; same protocol and path). */
#define FWASR_URL_V2_PREVIEW "wss://audio-streaming-v2.api.fireworks.ai/v1/audio/transcriptions/streaming"

// The result of every fallible fwasr call. `FWASR_OK` is 0; the numbers never change.
typedef enum fwasr_status {
  // Success.
  FWASR_OK = 0,
  // An argument was NULL, not UTF-8, or out of range; the message names it.
  FWASR_ERR_INVALID_ARGUMENT = 1,
  // The call is not allowed in the session's current state (e.g. push after finish).
  FWASR_ERR_STATE = 2,
  // The outgoing audio queue has no room for this push; nothing was taken.
  FWASR_ERR_BUFFER_FULL = 3,
  // A wait ran out of time (wait_ready, push_wait, finish, the final transcript).
  FWASR_ERR_TIMEOUT = 4,
  // The server's host name could not be resolved.
  FWASR_ERR_RESOLVE = 5,
  // The TCP connection was refused or the network is unreachable.
  FWASR_ERR_CONNECT = 6,
  // The connection (TCP, TLS and WebSocket upgrade) was not up within the connect timeout.
  FWASR_ERR_CONNECT_TIMEOUT = 7,
  // TLS failed: certificate not trusted, wrong host name, handshake error.
  FWASR_ERR_TLS = 8,
  // The server refused the WebSocket upgrade; `code` is the HTTP status, the message has the body.
  FWASR_ERR_HANDSHAKE = 9,
  // The server refused the API key (HTTP 401 or 403 at the upgrade).
  FWASR_ERR_AUTH = 10,
  // The server sent something that is not a known protocol message.
  FWASR_ERR_PROTOCOL = 11,
  // The server reported an error in a JSON message.
  FWASR_ERR_SERVER = 12,
  // The server closed the WebSocket before the session finished; `code` is the close code.
  FWASR_ERR_CLOSED = 13,
  // The connection broke (reset, closed without a close frame, read or write error).
  FWASR_ERR_IO = 14,
  // Another thread is pushing to this session at the same time.
  FWASR_ERR_BUSY = 15,
  // A bug in fwasr (a caught panic). The session is no longer usable.
  FWASR_ERR_INTERNAL = 16,
  // The system ran out of something the session needs: file descriptors, memory, threads.
  // Not a bug; closing other sessions or files, or raising the limit, lets a new one open.
  FWASR_ERR_RESOURCE = 17,
} fwasr_status;

// What an event reports.
typedef enum fwasr_event_type {
  // The WebSocket is open; audio flows. Always the first event of a session that connects.
  FWASR_EVENT_CONNECTED = 0,
  // A segment was added or its text, finality or times changed.
  FWASR_EVENT_SEGMENT = 1,
  // The server re-segmented the tail: this segment no longer exists.
  FWASR_EVENT_SEGMENT_REMOVED = 2,
  // The server echoed a checkpoint (`checkpoint_id`), including the final one.
  FWASR_EVENT_CHECKPOINT = 3,
  // The server answered a trace (`checkpoint_id` holds the trace id, `rtt_ms` the round trip).
  FWASR_EVENT_TRACE = 4,
  // The server forgot the session's context (`checkpoint_id` holds the reset id).
  FWASR_EVENT_CLEARED = 5,
  // A push found the audio queue full: an overrun began. One per overrun, which ends when the
  // queue has drained to half. `dropped_ms` is the audio refused since the previous one.
  FWASR_EVENT_OVERRUN = 6,
  // Something went wrong that did not end the session by itself (`status`, `code`, `message`).
  FWASR_EVENT_ERROR = 7,
  // The session ended. Always the last event, exactly once. `status` is `FWASR_OK` when the
  // whole transcript is in; otherwise the error that ended the session.
  FWASR_EVENT_CLOSED = 8,
  // The connection broke (`status`, `code`, `message` say how) and the session will try
  // again: `attempt` is the attempt about to be made, after `backoff_ms` milliseconds (at
  // least what a refusal's `Retry-After` asked for, up to 120 s).
  FWASR_EVENT_RECONNECTING = 9,
  // A new connection is up. Its audio starts `start_s` seconds into the stream;
  // `replayed_ms` of audio the old connection had not confirmed is sent again, `dropped_ms`
  // could not be (it was older than the replay buffer).
  FWASR_EVENT_RECONNECTED = 10,
} fwasr_event_type;

// Severity of a log line; a log callback receives lines at or above its level.
typedef enum fwasr_log_level {
  FWASR_LOG_ERROR = 1,
  FWASR_LOG_WARN = 2,
  FWASR_LOG_INFO = 3,
  FWASR_LOG_DEBUG = 4,
} fwasr_log_level;

// Where a session is in its life.
typedef enum fwasr_state {
  // The connection is being made; pushed audio is queued.
  FWASR_STATE_CONNECTING = 0,
  // Connected; audio flows.
  FWASR_STATE_OPEN = 1,
  // `finish` was called; the last audio and the final checkpoint are on their way.
  FWASR_STATE_FINISHING = 2,
  // Ended as asked: finished with the whole transcript in, or freed.
  FWASR_STATE_CLOSED = 3,
  // Ended by an error; `fwasr_session_finish` or the CLOSED event tells which.
  FWASR_STATE_FAILED = 4,
} fwasr_state;

// Sample formats `push` accepts.
typedef enum fwasr_format {
  // Signed 16-bit little-endian PCM (the service's own format).
  FWASR_FORMAT_S16LE = 0,
  // 32-bit float in the host's byte order, nominally -1.0 to 1.0 (values outside are clipped).
  FWASR_FORMAT_F32 = 1,
  // ITU-T G.711 mu-law, one byte per sample, 8,000 Hz.
  FWASR_FORMAT_MULAW = 2,
  // ITU-T G.711 A-law, one byte per sample, 8,000 Hz.
  FWASR_FORMAT_ALAW = 3,
} fwasr_format;

// A session configuration. Opaque: a handle (a number, not an address; never dereference
// it), like a session's. Create with fwasr_config_new, free with fwasr_config_free.
typedef struct fwasr_config fwasr_config;

// An owned snapshot of a session's segments, in id order. Free with fwasr_segments_free.
typedef struct fwasr_segments fwasr_segments;

// A streaming session. Opaque: a handle (a number, not an address; never dereference it).
// Open with fwasr_session_open, free with fwasr_session_free.
typedef struct fwasr_session fwasr_session;

// One event. Allocated by the library; fields are only ever appended at the end.
// String fields are never NULL ("" when they do not apply), except `json`.
typedef struct fwasr_event {
  // What happened.
  enum fwasr_event_type type;
  // SEGMENT, SEGMENT_REMOVED: the segment's id (numeric ids as decimal text).
  const char *segment_id;
  // SEGMENT: the segment's new text. SEGMENT_REMOVED: its last text.
  const char *text;
  // SEGMENT: 1 when every word is final, 0 when one is not, -1 unknown (no words).
  int32_t is_final;
  // SEGMENT: start and end in seconds of the stream's audio (offset across reconnects);
  // NaN when unknown (the server sends times when asked: reconnect or word timestamps on).
  double start_s;
  double end_s;
  // CHECKPOINT: the checkpoint id; TRACE: the trace id; CLEARED: the reset id.
  const char *checkpoint_id;
  // TRACE: round-trip time in milliseconds (NaN if the trace was not ours).
  double rtt_ms;
  // OVERRUN: milliseconds of audio refused since the previous OVERRUN event.
  double dropped_ms;
  // ERROR, CLOSED: the status (FWASR_OK for a CLOSED after a complete finish).
  enum fwasr_status status;
  // ERROR, CLOSED: HTTP status of a refused upgrade, close code of a close, the server's
  // error code; 0 when none.
  int32_t code;
  // ERROR, CLOSED: what went wrong, in words (HTTP body, close reason included).
  const char *message;
  // The raw server message this event came from, or NULL. One copy per message, shared by
  // all the events made from it.
  const char *json;
  // RECONNECTING, RECONNECTED: the connection attempt (1 for the first reconnect).
  int32_t attempt;
  // RECONNECTED: milliseconds of audio sent again on the new connection.
  double replayed_ms;
  // RECONNECTING: milliseconds of backoff before the attempt (0 otherwise).
  double backoff_ms;
  // SEGMENT: milliseconds from the moment the caller pushed the audio at the segment's end
  // (end_s) to this event: fwasr's queue and pacing, the network both ways, and the
  // server's wait for more audio and its work. Pushes are timed to within 1 ms (a burst of
  // pushes, such as a file pushed at once, is timed once per millisecond). NaN when not
  // known: without segment times (see fwasr_config_set_word_timestamps), for audio pushed
  // more than 256 pushes (5 s of 20 ms pushes) before the transcript's last final segment,
  // pushed while more than 64 pushes more than 1 ms apart waited for the network thread, or
  // answered before the stamp that times it reached the network thread (a burst's last
  // pushes are timed by the next push, or by fwasr_session_finish).
  double latency_ms;
} fwasr_event;

// Receives events. `event` and its strings are valid only during the call. Runs on the
// session's network thread (while streaming, a shared one with fwasr_config_set_shared_io), in
// event order; it must return quickly, must not block, and must not unwind (no C++
// exceptions). It may call any fwasr function on any session, with these rules, so that a
// callback never waits for the thread it runs on:
// - Calls that would wait for a network thread do not wait: fwasr_session_finish starts
//   finishing and returns FWASR_ERR_STATE unless its timeout is 0 (the CLOSED event tells
//   how it ends); fwasr_session_push_wait returns FWASR_ERR_STATE when the queue is full;
//   fwasr_session_wait_ready returns FWASR_ERR_STATE while still connecting;
//   fwasr_session_next_event does not wait.
// - fwasr_session_free of any session never deadlocks: its own session's free returns at
//   once (no further callback runs after this one); another session's free waits for that
//   session's running callback, unless that callback is itself freeing, directly or through
//   other callbacks, the session this callback belongs to; then it returns without waiting
//   (the other callback is still running and returns by itself). It never waits for the
//   other session's thread to end.
typedef void (*fwasr_event_fn)(void *userdata, const struct fwasr_event *event);

// Receives log lines (never containing the API key). Same thread rules as fwasr_event_fn.
typedef void (*fwasr_log_fn)(void *userdata, enum fwasr_log_level level, const char *message);

// One word of a segment. Fields are only ever appended; reach words through
// fwasr_event_word and fwasr_segment_word, never by indexing an array of them.
typedef struct fwasr_word {
  // The word as the server wrote it (it may begin with a space). Never NULL; valid as long
  // as the event or snapshot it came from.
  const char *text;
  // Start and end in seconds of the stream's audio (on the same clock as segment times,
  // offset across reconnects); NaN when the server sent none (see
  // fwasr_config_set_word_timestamps).
  double start_s;
  double end_s;
  // The server's confidence in the word, from 0 to 1; NaN when it sent none.
  double probability;
  // 1 final, 0 not final (the server may still change it), -1 unknown.
  int32_t is_final;
} fwasr_word;

// One segment of a snapshot. Its strings are never NULL and live as long as the snapshot.
typedef struct fwasr_segment {
  const char *id;
  const char *text;
  // 1 final, 0 not final, -1 unknown (no words).
  int32_t is_final;
  // Seconds of the stream's audio; NaN when unknown.
  double start_s;
  double end_s;
} fwasr_segment;

// Counters of a session. Written by fwasr_session_stats, which takes sizeof(fwasr_stats) so
// fields can be appended in later versions without breaking older callers.
typedef struct fwasr_stats {
  // Audio accepted by push, in milliseconds (what it becomes at 16 kHz; the resampler's
  // tail is added at finish).
  double audio_ms_pushed;
  // Audio written to the socket.
  double audio_ms_sent;
  // Audio lost: refused because the queue was full (FWASR_ERR_BUFFER_FULL), or too old to
  // be replayed after a reconnect.
  double audio_ms_dropped;
  // Audio accepted but not yet sent.
  double audio_ms_queued;
  // Audio bytes written to the socket (payload only).
  uint64_t bytes_sent;
  // Binary frames written.
  uint64_t chunks_sent;
  // Messages received from the server.
  uint64_t messages_received;
  // Round-trip time of the last answered trace in milliseconds; NaN before the first.
  double last_rtt_ms;
  // Idle silence sent (fwasr_config_set_idle_silence_ms), not counted in audio_ms_sent.
  double audio_ms_silence;
  // Connections made after the first.
  uint64_t reconnects;
  // Audio sent again after reconnects (counted once in audio_ms_sent).
  double audio_ms_replayed;
  // RMS level of about the last 100 ms of audio sent, in dBFS relative to full scale (a
  // full-scale square wave is 0 dBFS, a full-scale sine −3.01 dBFS); −inf for digital
  // silence, NaN before any audio was sent. Measured on the 16 kHz mono audio as the
  // network thread takes it from the queue (no cost to push); with pacing or a backed-up
  // connection it trails what was pushed by the queue's delay (audio_ms_queued).
  double level_rms_dbfs;
  // Peak level of the same 100 ms, in dBFS (a full-scale sample is 0 dBFS).
  double level_peak_dbfs;
  // Peak level of all audio sent so far, in dBFS.
  double peak_dbfs;
  // Samples sent at full scale (±32767 or −32768 after conversion): input that clipped.
  uint64_t clipped_samples;
  // Milliseconds of audio sent in 10 ms blocks whose RMS was below −60 dBFS (a muted
  // microphone, a one-way call).
  double audio_ms_below_silence;
  // Latency of the segments as they became final (latency_ms of the SEGMENT event that
  // first had them final): median, 95th percentile (each within 1 %) and maximum over the
  // session, in milliseconds; NaN before the first. last_rtt_ms is the round trip of the
  // network and server alone (fwasr_session_trace).
  double final_latency_p50_ms;
  double final_latency_p95_ms;
  double final_latency_max_ms;
  // Audio sent that the recording (fwasr_config_set_record_path) left out: the disk was
  // behind by more than its queue (fwasr_config_set_record_path), or failed. 0 without a recording.
  double audio_ms_not_recorded;
} fwasr_stats;







#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// The static name of a status, e.g. "FWASR_ERR_TIMEOUT"; "FWASR_UNKNOWN_STATUS" for numbers
// that are not a status. Never NULL; any thread; never blocks.
const char *fwasr_status_str(int status);

// The message of the last failed fwasr call on the calling thread ("" if none failed yet).
// Owned by the library; valid until the next failing fwasr call on this thread. Never NULL.
const char *fwasr_last_error(void);

// The library's version, e.g. "0.1.0". Static; never NULL.
const char *fwasr_version(void);

// A new configuration with the defaults: the Fireworks endpoint, `response_format`
// `verbose_json`, 50 ms chunks, a 10,000 ms queue, no pacing, 10,000 ms connect and finish
// timeouts, TLS verification on, no callbacks (poll mode). NULL only if out of memory (or
// with a million configs not freed).
struct fwasr_config *fwasr_config_new(void);

// Frees a configuration. Sessions opened from it are not affected. NULL, or a config freed
// already, does nothing; the handle is dead from then on (a call with it fails with
// FWASR_ERR_INVALID_ARGUMENT).
void fwasr_config_free(struct fwasr_config *cfg);

// The WebSocket URL, `ws://` or `wss://` (TLS through the system's TLS library). Default:
// FWASR_URL_PRODUCTION; FWASR_URL_US_VIRGINIA (regional) and FWASR_URL_V2_PREVIEW (the v2
// preview model) name Fireworks' other hosts.
// The query parameters set below are appended to any query the URL has. A URL without a
// path gets "/". Refused (FWASR_ERR_INVALID_ARGUMENT): other schemes, user info
// (`user:password@`: never sent; use fwasr_config_set_api_key or fwasr_config_set_header), a
// `#fragment` (never sent to a server), spaces and non-ASCII characters. Error messages and
// log lines show the URL with user info and secret-looking parameter values (names
// containing auth, key, token, secret, pass, sig, credential or session) hidden.
enum fwasr_status fwasr_config_set_url(struct fwasr_config *cfg, const char *url);

// The API key, sent as the `Authorization` header. NULL (the default) means: read
// FIREWORKS_API_KEY from the environment when a session opens; with neither, no header is
// sent. The key never appears in a log line, event or error message.
enum fwasr_status fwasr_config_set_api_key(struct fwasr_config *cfg, const char *api_key);

// Query parameter `language` (e.g. "en"); NULL removes it (the server detects the language).
enum fwasr_status fwasr_config_set_language(struct fwasr_config *cfg, const char *language);

// Query parameter `prompt` (custom words, style); URL-encoded for you. NULL removes it.
enum fwasr_status fwasr_config_set_prompt(struct fwasr_config *cfg, const char *prompt);

// Query parameter `temperature`, 0.0 to 2.0 (the server's default is 0).
enum fwasr_status fwasr_config_set_temperature(struct fwasr_config *cfg, float temperature);

// Query parameter `response_format`; default "verbose_json". NULL removes it.
enum fwasr_status fwasr_config_set_response_format(struct fwasr_config *cfg, const char *format);

// Any query parameter (`timestamp_granularities`, `skip_vad`, `text_timeout_seconds`, ...),
// passed through URL-encoded. Setting a name again replaces its value; NULL value removes it.
enum fwasr_status fwasr_config_set_param(struct fwasr_config *cfg, const char *name, const char *value);

// An extra HTTP header on the upgrade request (e.g. User-Agent). Setting a name again
// replaces it; NULL value removes it. Refused: Authorization (use fwasr_config_set_api_key),
// the headers of the WebSocket handshake (Host, Connection, Upgrade, Sec-WebSocket-*), and
// body framing headers an upgrade has no use for (Content-Length, Transfer-Encoding, TE,
// Trailer, Expect).
enum fwasr_status fwasr_config_set_header(struct fwasr_config *cfg, const char *name, const char *value);

// What fwasr_session_push takes: `format` (FWASR_FORMAT_S16LE, _F32, _MULAW, _ALAW),
// `sample_rate` 8,000 to 192,000 Hz (G.711: 8,000 only), `channels` 1 to 8 (interleaved;
// averaged into one unless fwasr_config_set_input_channel picks one). fwasr resamples to
// 16 kHz with an anti-aliasing filter whose delay is flushed at finish, so the last word is
// not cut. Default: S16LE, 16,000 Hz, 1 channel, sent unchanged (bit-exact).
enum fwasr_status fwasr_config_set_input_format(struct fwasr_config *cfg, int32_t format, uint32_t sample_rate, uint32_t channels);

// Multi-channel input: take only channel `channel` (counted from 0, e.g. one side of a
// stereo call recording) instead of the average of all channels. -1 (the default) averages.
enum fwasr_status fwasr_config_set_input_channel(struct fwasr_config *cfg, int32_t channel);

// Chunk length, 50 to 400 ms (default 50). Audio leaves in binary frames of exactly this
// length; only the last one of a session may be shorter.
enum fwasr_status fwasr_config_set_chunk_ms(struct fwasr_config *cfg, uint32_t ms);

// Capacity of the outgoing audio queue in ms of the input format, 50 to 600,000 (default
// 10,000). A push that does not fit is refused whole with FWASR_ERR_BUFFER_FULL. The queue is
// reserved address space: only the pages holding queued audio become resident, so a large
// capacity costs memory only while a backlog lasts.
enum fwasr_status fwasr_config_set_buffer_ms(struct fwasr_config *cfg, uint32_t ms);

// Pacing of chunks: 0 (default) sends each chunk as soon as it is complete (live sources);
// 1.0 sends at real time (files); 2.0 at twice real time; 0.1 to 100.
enum fwasr_status fwasr_config_set_pacing(struct fwasr_config *cfg, double factor);

// Time allowed for name resolution, TCP, TLS and the WebSocket upgrade together
// (default 10,000 ms). Exceeding it fails the session with FWASR_ERR_CONNECT_TIMEOUT. Every
// address the name resolves to is tried within it, IPv6 and IPv4 taking turns, the next
// 250 ms after the previous (at once when one fails); the first to connect is used, and an
// error names every address tried and how it went.
enum fwasr_status fwasr_config_set_connect_timeout_ms(struct fwasr_config *cfg, uint32_t ms);

// How long finishing may take beyond sending the queued audio at its pace: from
// fwasr_session_finish to the server's final checkpoint echo (default 10,000 ms), whatever the
// server does (a server that stops reading, one that floods messages, reconnects and their
// backoff included). Exceeding it ends the session with FWASR_ERR_TIMEOUT.
enum fwasr_status fwasr_config_set_finish_timeout_ms(struct fwasr_config *cfg, uint32_t ms);

// Keep-alive: a WebSocket ping every `ms` while the session is open (default 15,000; 0 = off;
// else 50 or more). When neither a pong nor a message comes back from the server for a whole
// interval after a ping, the server is taken as gone and the session ends with FWASR_ERR_IO
// (the server's own pings do not count: a server that never reads can send them). So does
// a server that takes none of the bytes waiting to be sent for a whole interval ("has not
// read anything").
enum fwasr_status fwasr_config_set_keepalive_ms(struct fwasr_config *cfg, uint32_t ms);

// Sends one chunk of silence after `ms` without audio while open, for servers that close idle
// streams (default 0 = off, since silence is billed audio; else 50 or more). Counted in
// fwasr_stats.audio_ms_silence, not in audio_ms_sent.
enum fwasr_status fwasr_config_set_idle_silence_ms(struct fwasr_config *cfg, uint32_t ms);

// Automatic reconnection (default off; the examples turn it on). When an established
// connection drops, closes unexpectedly or stops answering pings, the session raises
// RECONNECTING, waits (exponential backoff from `initial_backoff_ms` to `max_backoff_ms`,
// with jitter), connects again (a 401/403, TLS or configuration error is not retried),
// raises RECONNECTED and sends again the audio after
// the end of the last final segment; segments not yet final are removed first (the server
// transcribes that audio again). New segments get ids after the old ones and times offset to
// the stream. Audio pushed meanwhile is queued within buffer_ms. Asks the server for segment
// times (`timestamp_granularities=segment`) unless that parameter is set. The first
// connection is not retried: fwasr_session_wait_ready reports its failure.
// A checkpoint, trace or clear that went out on the dropped connection and was not answered
// there is sent again on the new one where its audio position comes in the audio sent again
// (first, if that is before the resume point), so its event still comes, once; a trace's
// rtt_ms then counts from the second sending. The 256 most recent unanswered ones are kept.
// Budget: `max_attempts` connection attempts in a row without progress, where progress is a
// connection that confirmed new final audio (the transcript moved forward for good). A
// connection that only connects, or only streams audio nobody confirms, does not renew the
// budget, so a server that accepts and drops every connection ends the session after
// `max_attempts` attempts with the last connection's error ("gave up after N reconnect
// attempts without progress"). The backoff keeps growing over such a stretch. After
// fwasr_session_finish, the finish timeout bounds everything, reconnects included.
enum fwasr_status fwasr_config_set_reconnect(struct fwasr_config *cfg, uint32_t max_attempts, uint32_t initial_backoff_ms, uint32_t max_backoff_ms);

// The HTTP proxy to reach the server through: `http://[user:pass@]host[:port]` (port 1080
// when left out; credentials percent-encoded, sent as Basic auth and hidden in every message
// and log line). The connection is a CONNECT tunnel (for ws:// and wss:// alike); TLS runs
// through it to the real host, verified against that host's name. NULL (the default) reads
// the environment as libcurl does: `https_proxy` or `HTTPS_PROXY` for wss://, `http_proxy`
// for ws://, else `all_proxy` / `ALL_PROXY`; `no_proxy` / `NO_PROXY` lists hosts to reach
// directly (`*`, names matching themselves and their subdomains, IP addresses, each with an
// optional `:port`). "" means no proxy, whatever the environment says. Only http:// proxies
// (no https:// or SOCKS proxies): anything else is FWASR_ERR_INVALID_ARGUMENT. A proxy that
// refuses the tunnel fails the connection with the proxy's HTTP status as `code` and a
// message naming the proxy: FWASR_ERR_AUTH for 407 or 401 (not retried), FWASR_ERR_CONNECT for
// others (retried by reconnect).
enum fwasr_status fwasr_config_set_proxy(struct fwasr_config *cfg, const char *proxy);

// Also trust the PEM certificate(s) in this file for wss:// (read now). NULL forgets them.
enum fwasr_status fwasr_config_set_tls_ca_file(struct fwasr_config *cfg, const char *path);

// Writes a copy of the audio the server receives to a WAV file at `path` (16 kHz mono
// 16-bit), for debugging and compliance; NULL (the default) makes none. The file is created
// by fwasr_session_open (which fails with FWASR_ERR_IO when it cannot be) and holds each
// second of the stream once: audio sent again after a reconnect is not written twice, idle
// silence is written (the server received it). A thread of the session writes it through a
// bounded queue (12.8 s of audio in 50 ms chunks), so a slow or failing disk never holds up the stream: audio
// left out is counted in fwasr_stats.audio_ms_not_recorded and logged as a warning. The
// header's sizes are written when the transcript is complete; fwasr_session_finish waits for
// that within its timeout. The warning comes from the session's network thread: a failure
// the count shows before fwasr_session_finish is called is logged before it returns; one met
// later (the file's last writes, once the transcript is complete) may be logged after it, or
// not at all once the session has ended. A session that fails or is freed still completes
// its file.
enum fwasr_status fwasr_config_set_record_path(struct fwasr_config *cfg, const char *path);

// Ask the server for the times of every word and segment (default false):
// `timestamp_granularities=word,segment`, unless that parameter is set with
// fwasr_config_set_param. Without it the server sends words (fwasr_event_word) without times
// (NaN), and segment times only when reconnect is on.
enum fwasr_status fwasr_config_set_word_timestamps(struct fwasr_config *cfg, bool on);

// Verify the server's certificate and host name (default true). false accepts any
// certificate: for local test servers only.
enum fwasr_status fwasr_config_set_tls_verify(struct fwasr_config *cfg, bool verify);

// Stream on network threads shared by every session opened with this set (one per core, at
// most 8), instead of on the session's own thread (false, the default). For hosts running
// hundreds of sessions: a shared thread's wake-up serves every session with work due, which
// costs much less CPU than a wake-up per session per chunk (BENCHMARKS.md). Such a session
// has no thread of its own: connecting, reconnecting and ending happen on the shared threads
// too (only a name lookup runs on a short-lived thread until the resolver answers).
// Callbacks of such sessions run on the shared threads: a callback that blocks holds up the
// other sessions of its thread, their audio included (a callback blocking 100 ms delayed the
// others' chunks by up to 105 ms; with a thread per session, 11 ms: BENCHMARKS.md). Keep such
// callbacks short, or take events with fwasr_session_next_event. Callbacks may call into fwasr as fwasr_event_fn says.
enum fwasr_status fwasr_config_set_shared_io(struct fwasr_config *cfg, bool shared);

// Callback mode: every event of sessions opened from this config goes to `callback` (see
// fwasr_event_fn), and fwasr_session_next_event returns NULL. NULL callback: poll mode.
enum fwasr_status fwasr_config_set_event_callback(struct fwasr_config *cfg, fwasr_event_fn callback, void *userdata);

// Send log lines at `level` or more severe (FWASR_LOG_ERROR=1 ... FWASR_LOG_DEBUG=4) to
// `callback`. The library logs nowhere else. NULL callback turns logging off.
enum fwasr_status fwasr_config_set_log_callback(struct fwasr_config *cfg, fwasr_log_fn callback, void *userdata, int32_t level);

// Number of words of a SEGMENT or SEGMENT_REMOVED event (0 when the server sent none, for
// other events and for NULL). `ev` must be an event as the library handed it out (from
// fwasr_session_next_event or a callback), not a copy of one.
size_t fwasr_event_word_count(const struct fwasr_event *ev);

// The i-th word of a SEGMENT or SEGMENT_REMOVED event, or NULL when out of range. Valid as
// long as the event (until fwasr_event_free, or the callback returns).
const struct fwasr_word *fwasr_event_word(const struct fwasr_event *ev, size_t index);

// Frees an event returned by fwasr_session_next_event. NULL does nothing. Any thread.
void fwasr_event_free(struct fwasr_event *event);

// The name of an event type, e.g. "SEGMENT". Static; never NULL.
const char *fwasr_event_type_str(int t);

// Number of segments in a snapshot (0 for NULL).
size_t fwasr_segments_len(const struct fwasr_segments *segments);

// The i-th segment, or NULL when out of range. Valid until fwasr_segments_free.
const struct fwasr_segment *fwasr_segments_get(const struct fwasr_segments *segments, size_t index);

// Number of words of a snapshot's segment (0 when the server sent none, and for NULL). `seg`
// must come from fwasr_segments_get, not be a copy.
size_t fwasr_segment_word_count(const struct fwasr_segment *seg);

// The i-th word of a snapshot's segment, or NULL when out of range. Valid until
// fwasr_segments_free.
const struct fwasr_word *fwasr_segment_word(const struct fwasr_segment *seg, size_t index);

// Frees a snapshot. NULL does nothing.
void fwasr_segments_free(struct fwasr_segments *segments);

// Checks `cfg` and starts a session: the connection is made on the session's own thread, so
// this returns at once. Audio pushed before the connection is up is queued, not lost. On
// success writes the new session to `*out` (free it with fwasr_session_free). Any thread.
enum fwasr_status fwasr_session_open(const struct fwasr_config *cfg, struct fwasr_session **out);

// Blocks until the session is connected (FWASR_OK), has failed (its error, e.g.
// FWASR_ERR_AUTH with the HTTP status in the CLOSED event), or `timeout_ms` passes
// (FWASR_ERR_TIMEOUT; -1 waits for ever). Optional: pushing does not need it. Inside a
// callback it does not wait (see fwasr_event_fn).
enum fwasr_status fwasr_session_wait_ready(const struct fwasr_session *s, int32_t timeout_ms);

// Queues `nbytes` of audio in the configured input format (16 kHz mono s16le by default; any
// length: a partial frame waits for the rest in the next push). The bytes are copied; the
// network thread converts them to 16 kHz mono s16le. Never blocks, never allocates (also on
// failure), makes no syscall except one wake-up of the network thread when a 16 kHz chunk
// completes (or when an overrun begins, so the OVERRUN event is raised). All or nothing: without room it takes nothing, returns FWASR_ERR_BUFFER_FULL,
// and the session raises one OVERRUN event per overrun. FWASR_ERR_STATE after finish or once
// the session has ended.
enum fwasr_status fwasr_session_push(const struct fwasr_session *s, const void *data, size_t nbytes);

// fwasr_session_push for `nsamples` native-endian 16-bit samples (frames x channels).
// FWASR_ERR_INVALID_ARGUMENT unless the input format is FWASR_FORMAT_S16LE.
enum fwasr_status fwasr_session_push_s16(const struct fwasr_session *s, const int16_t *samples, size_t nsamples);

// fwasr_session_push for `nsamples` floats (frames x channels), nominally -1.0 to 1.0.
// FWASR_ERR_INVALID_ARGUMENT unless the input format is FWASR_FORMAT_F32.
enum fwasr_status fwasr_session_push_f32(const struct fwasr_session *s, const float *samples, size_t nsamples);

// Like fwasr_session_push but waits up to `timeout_ms` (-1 for ever) for room instead of
// failing with FWASR_ERR_BUFFER_FULL; FWASR_ERR_TIMEOUT if none came. For streaming files
// with pacing. Raises no OVERRUN. Inside a callback it does not wait (see fwasr_event_fn).
enum fwasr_status fwasr_session_push_wait(const struct fwasr_session *s, const void *data, size_t nbytes, int32_t timeout_ms);

// Sends `{"checkpoint_id": id}` after the complete chunks pushed so far (a partial chunk
// follows it). The server's echo raises CHECKPOINT, once, also when the connection drops
// before the echo and reconnect is on (see fwasr_config_set_reconnect). "final" is reserved
// for finish. Checkpoint, trace and clear messages not yet sent are bounded: with 1,024 of
// them waiting (a server that stopped reading) each of these calls fails with
// FWASR_ERR_BUFFER_FULL until some have gone out.
enum fwasr_status fwasr_session_checkpoint(const struct fwasr_session *s, const char *id);

// Sends an `stt.input.trace` with this trace id; the answer raises TRACE with `rtt_ms`.
// FWASR_ERR_BUFFER_FULL as for fwasr_session_checkpoint.
enum fwasr_status fwasr_session_trace(const struct fwasr_session *s, const char *id);

// Sends an `stt.state.clear` with this reset id: the server forgets the context so far. The
// answer raises CLEARED. FWASR_ERR_BUFFER_FULL as for fwasr_session_checkpoint.
enum fwasr_status fwasr_session_clear(const struct fwasr_session *s, const char *id);

// No more audio: sends what is queued (the last chunk may be short, paced like the others),
// then the final checkpoint, waits for its echo (up to the config's finish timeout), and
// closes the WebSocket. This call blocks up to `timeout_ms` (-1 for ever) until the echo:
// FWASR_OK means the whole transcript is in: the session is CLOSED and has raised CLOSED at
// the echo, and the WebSocket's close handshake finishes in the background (within 2 s,
// reporting nothing); FWASR_ERR_TIMEOUT means still finishing (the CLOSED event will tell);
// another status is the error that ended the session.
// With `timeout_ms` 0 it only starts finishing and returns FWASR_OK. Calling it again waits
// again. Later pushes fail with FWASR_ERR_STATE. Inside a callback it starts finishing and
// does not wait (see fwasr_event_fn).
enum fwasr_status fwasr_session_finish(const struct fwasr_session *s, int32_t timeout_ms);

// Poll mode (no event callback set): the next event, or NULL when `timeout_ms` passes (0 =
// do not wait, for game loops; -1 = for ever) or the session has ended and every event was
// taken. The event is yours: free it with fwasr_event_free. In callback mode returns NULL at
// once. Events are kept until taken; a session delivers CLOSED last, exactly once. Inside a
// callback (e.g. a log callback) it does not wait. While 32 MiB of events (their strings and
// the server messages they came from) wait to be taken, the session reads nothing more from
// the server (its messages wait in the socket, nothing is lost, keep-alive pauses) until
// half of that is taken: take events as they come; a session whose app stops taking them
// stops too, and a finish then ends with FWASR_ERR_TIMEOUT.
struct fwasr_event *fwasr_session_next_event(const struct fwasr_session *s, int32_t timeout_ms);

// Writes the transcript so far into `buf` (snprintf semantics: at most `cap - 1` bytes and
// a NUL; `buf` may be NULL when `cap` is 0) and returns its full length in bytes. The
// transcript is the segment texts in id order, each trimmed, joined by one space.
// 0 with fwasr_last_error set when `s` is NULL.
size_t fwasr_session_transcript(const struct fwasr_session *s, char *buf, size_t cap);

// An owned snapshot of the segments in id order (see fwasr_segments_get); free it with
// fwasr_segments_free. NULL only when `s` is NULL.
struct fwasr_segments *fwasr_session_segments(const struct fwasr_session *s);

// Copies the session's counters into `out`. Pass `sizeof(fwasr_stats)` as `size`: later
// versions append fields and write only what your struct has room for.
enum fwasr_status fwasr_session_stats(const struct fwasr_session *s, struct fwasr_stats *out, size_t size);

// Where the session is: CONNECTING, OPEN, FINISHING, CLOSED or FAILED. FAILED for NULL.
enum fwasr_state fwasr_session_state(const struct fwasr_session *s);

// Stops the session if it is still running (no flush: use fwasr_session_finish first to get
// the whole transcript), joins its thread and frees it. Returns within about a second
// whatever the server does (a name lookup in progress is not waited for). No callback runs
// after it returns; called from inside the session's own callback, no further callback runs
// after that one returns. From inside another session's callback see fwasr_event_fn. Calls
// in progress on other threads (a push, a blocking next_event or finish) return promptly
// with FWASR_ERR_STATE or their result, and the memory is released when the last of them
// does. The handle is dead from then on: a call with it, even one racing the free, fails with
// FWASR_ERR_INVALID_ARGUMENT instead of touching freed memory (on 32-bit platforms, unless
// its slot was reused 4,096 times since). NULL, or a handle already freed, does nothing.
void fwasr_session_free(struct fwasr_session *s);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* FWASR_H */
