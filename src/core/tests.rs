//! The core on a virtual clock against a scripted server in memory: reconnects, backoff,
//! deadlines, keep-alive and the close handshake, each in microseconds of real time. The
//! clock only moves to the next deadline the core or the server names, so a deadline in the
//! past that keeps the session awake shows up as a turn that changes nothing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::*;

const MS: Duration = Duration::from_millis(1);
const CHUNK: usize = 1600;
/// Bytes of 16 kHz mono s16le per second.
const SEC: usize = 32_000;

/// The caller's audio queue: what the test pushed and the core has not taken yet, and the
/// stamps of the pushes.
#[derive(Clone, Default)]
struct Queue {
    audio: Rc<RefCell<VecDeque<u8>>>,
    stamps: Rc<RefCell<VecDeque<Stamp>>>,
}

impl Audio for Queue {
    fn has_chunk(&mut self) -> bool {
        self.audio.borrow().len() >= CHUNK
    }
    fn take_chunk(&mut self) -> Option<Vec<u8>> {
        let mut q = self.audio.borrow_mut();
        (q.len() >= CHUNK).then(|| q.drain(..CHUNK).collect())
    }
    fn finish_input(&mut self) -> usize {
        0
    }
    fn take_rest(&mut self) -> Option<Vec<u8>> {
        let mut q = self.audio.borrow_mut();
        (!q.is_empty()).then(|| q.drain(..).collect())
    }
    fn take_stamp(&mut self) -> Option<Stamp> {
        self.stamps.borrow_mut().pop_front()
    }
}

/// Audio in which no two samples within minutes are alike, so a misplaced byte range shows.
fn audio(from: usize, bytes: usize) -> Vec<u8> {
    (from / 2..(from + bytes) / 2)
        .flat_map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 16).to_le_bytes()[..2].to_vec())
        .collect()
}

enum Dial {
    Up,
    Fail,
    /// Refused with a 429 and this Retry-After.
    Busy(Duration),
    /// Never completes.
    Hang,
}

/// What one connection brought to the server.
#[derive(Default)]
struct Received {
    resume_ms: Option<u64>,
    audio: Vec<u8>,
    /// Text messages, with how much audio had arrived before each.
    texts: Vec<(usize, Value)>,
}

enum Reply {
    Text(Value),
    Pong,
    /// The server's close frame; the connection stays up.
    Close,
    /// The connection is over (None: after a close handshake).
    Over(Option<Error>),
}

/// A server that keeps to a script.
struct Server {
    dials: VecDeque<Dial>,
    /// Per connection: drop it (no close frame) once this much audio has arrived on it.
    drop_after: VecDeque<Option<usize>>,
    drop_at_final: bool,
    /// A final segment per this much audio received, timed from its connection's start.
    segment_bytes: usize,
    answer_controls: bool,
    answer_final: bool,
    answer_pings: bool,
    /// Answers the client's close frame by ending the connection.
    answer_close: bool,
    /// Stops reading (the client's writes back up) from this time on.
    stall_at: Option<Instant>,
    latency: Duration,
    conns: Vec<Received>,
    /// Whether the current connection still reads (not dropped).
    reading: bool,
    replies: VecDeque<(Instant, Reply)>,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            dials: VecDeque::new(),
            drop_after: VecDeque::new(),
            drop_at_final: false,
            segment_bytes: usize::MAX,
            answer_controls: true,
            answer_final: true,
            answer_pings: true,
            answer_close: true,
            stall_at: None,
            latency: 20 * MS,
            conns: Vec::new(),
            reading: false,
            replies: VecDeque::new(),
        }
    }
}

impl Server {
    fn reply(&mut self, now: Instant, r: Reply) {
        self.replies.push_back((now + self.latency, r));
    }

    fn stalled(&self, now: Instant) -> bool {
        self.stall_at.is_some_and(|t| now >= t)
    }

    fn receive(&mut self, frame: Frame, now: Instant) {
        if !self.reading {
            return;
        }
        let n = self.conns.len();
        let conn = self.conns.last_mut().expect("a connection is up");
        match frame {
            Frame::Binary(b) => {
                let before = conn.audio.len() / self.segment_bytes;
                conn.audio.extend_from_slice(&b);
                let after = conn.audio.len() / self.segment_bytes;
                let seg_s = self.segment_bytes as f64 / SEC as f64;
                for k in before..after {
                    let s = json!({"segments": [{
                        "id": k, "text": format!("c{n}s{k}"),
                        "start": k as f64 * seg_s, "end": (k + 1) as f64 * seg_s,
                        "words": [{"word": "w", "is_final": true}]}]});
                    self.reply(now, Reply::Text(s));
                }
                let limit = self.drop_after.front().copied().flatten();
                if limit.is_some_and(|l| self.conns.last().unwrap().audio.len() >= l) {
                    self.drop(now);
                }
            }
            Frame::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                conn.texts.push((conn.audio.len(), v.clone()));
                let answer = if v["checkpoint_id"] == "final" {
                    if self.drop_at_final {
                        return self.drop(now);
                    }
                    self.answer_final.then(|| json!({"checkpoint_id": "final"}))
                } else if !self.answer_controls {
                    None
                } else if v["object"] == "stt.input.trace" {
                    Some(json!({"object": "stt.output.trace", "trace_id": v["trace_id"]}))
                } else if v["object"] == "stt.state.clear" {
                    Some(json!({"object": "stt.state.cleared", "reset_id": v["reset_id"]}))
                } else {
                    Some(json!({"checkpoint_id": v["checkpoint_id"]}))
                };
                if let Some(a) = answer {
                    self.reply(now, Reply::Text(a));
                }
            }
            Frame::Ping => {
                if self.answer_pings {
                    self.reply(now, Reply::Pong);
                }
            }
        }
    }

    /// Ends the connection abruptly (a reset).
    fn drop(&mut self, now: Instant) {
        self.reading = false;
        self.reply(
            now,
            Reply::Over(Some(Error::new(FWASR_ERR_IO, "connection lost: reset by peer"))),
        );
    }
}

struct Sim {
    core: Core<Queue>,
    queue: Queue,
    server: Server,
    t0: Instant,
    now: Instant,
    pushed: Vec<u8>,
    /// What the core handed out for the recording.
    recorded: Vec<u8>,
    events: Vec<(Duration, Event)>,
    /// When each dial was asked for, with its attempt and resume point.
    dials: Vec<(Duration, u32, Option<u64>)>,
    closes: Vec<(Duration, u16)>,
    outcome: Option<(Duration, Outcome)>,
    /// Bytes written on the current connection.
    written: u64,
    turns: usize,
}

fn settings() -> Settings {
    Settings {
        chunk_ms: 50,
        chunk_bytes: CHUNK,
        pacing: 1.0,
        connect_timeout: Duration::from_secs(5),
        finish_timeout: Duration::from_secs(10),
        keepalive: None,
        idle_silence: None,
        reconnect: Some(Reconnect {
            max_attempts: 5,
            initial_backoff: 100 * MS,
            max_backoff: 1000 * MS,
        }),
        replay_bytes: 10 * SEC,
        log: None,
        record: true,
        seed: 1,
    }
}

impl Sim {
    fn new(settings: Settings, server: Server) -> Sim {
        let queue = Queue::default();
        let t0 = Instant::now();
        let transcript = Arc::new(Mutex::new(Transcript::new()));
        Sim {
            core: Core::new(settings, queue.clone(), transcript, t0),
            queue,
            server,
            t0,
            now: t0,
            pushed: Vec::new(),
            recorded: Vec::new(),
            events: Vec::new(),
            dials: Vec::new(),
            closes: Vec::new(),
            outcome: None,
            written: 0,
            turns: 0,
        }
    }

    fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn push_seconds(&mut self, seconds: f64) {
        let bytes = (seconds * SEC as f64) as usize;
        let a = audio(self.pushed.len(), bytes);
        self.pushed.extend_from_slice(&a);
        self.queue.audio.borrow_mut().extend(a);
        self.queue.stamps.borrow_mut().push_back(Stamp {
            samples: self.pushed.len() as u64 / 2,
            at: self.now,
            after_gap: false,
            burst: None,
        });
    }

    fn finish(&mut self, timeout: Duration) {
        self.core.control(Control::Finish {
            end: self.pushed.len() as u64,
            by: self.now + timeout,
        });
    }

    /// Runs until `until` (from the start) or the end of the session. Panics when a turn
    /// leaves the session due again at the same instant a hundred times in a row.
    fn run(&mut self, until: Duration) {
        let end = self.t0 + until;
        let mut idle_turns = 0;
        loop {
            self.turn();
            if self.outcome.is_some() {
                return;
            }
            let next = [self.core.poll_timeout(), self.server.replies.front().map(|r| r.0)]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    if t <= self.now {
                        idle_turns += 1;
                        assert!(idle_turns < 100, "due again and again at {:?}", self.at());
                    } else {
                        idle_turns = 0;
                        self.now = t;
                    }
                }
                _ => {
                    self.now = end;
                    self.turn();
                    return;
                }
            }
        }
    }

    fn turn(&mut self) {
        self.turns += 1;
        let now = self.now;
        while self.server.replies.front().is_some_and(|r| r.0 <= now) {
            match self.server.replies.pop_front().unwrap().1 {
                Reply::Text(v) => self.core.received_text(&v.to_string(), now),
                Reply::Pong => self.core.received_pong(),
                Reply::Close => self.core.received_close(
                    Error::with_code(
                        FWASR_ERR_CLOSED,
                        1000,
                        "server closed the connection with code 1000: ",
                    ),
                    now,
                ),
                Reply::Over(e) => self.core.connection_over(e, now),
            }
        }
        self.core.handle_timeout(now);
        loop {
            let mut acted = false;
            while let Some(a) = self.core.poll_action() {
                acted = true;
                self.perform(a);
            }
            if self.core.is_open() {
                self.transmit();
                let stalled = self.server.stalled(now);
                self.core.wrote(self.written, stalled, now);
                self.transmit();
            }
            if !acted && self.core.actions.is_empty() {
                break;
            }
        }
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Event(ev) => self.events.push((self.at(), ev)),
                Output::Record(audio) => self.recorded.extend_from_slice(&audio),
                Output::Log(..) => {}
            }
        }
        if let Some(o) = self.core.outcome() {
            self.outcome = Some((self.at(), o));
        }
    }

    /// Writes what the core has due; a stalled server takes nothing.
    fn transmit(&mut self) {
        let stalled = self.server.stalled(self.now);
        while let Some(f) = self.core.poll_transmit(self.now, stalled) {
            if !stalled {
                self.written += match &f {
                    Frame::Binary(b) => b.len() as u64,
                    Frame::Text(t) => t.len() as u64,
                    Frame::Ping => 2,
                };
                self.server.receive(f, self.now);
            }
        }
    }

    fn perform(&mut self, a: Action) {
        let now = self.now;
        match a {
            Action::Dial { attempt, resume_ms } => {
                self.dials.push((self.at(), attempt, resume_ms));
                match self.server.dials.pop_front().unwrap_or(Dial::Up) {
                    Dial::Up => {
                        self.server.conns.push(Received {
                            resume_ms,
                            ..Received::default()
                        });
                        self.server.reading = true;
                        self.written = 0;
                        self.core.connected(now);
                    }
                    Dial::Fail => self
                        .core
                        .dial_failed(Error::new(FWASR_ERR_CONNECT, "connection refused"), now),
                    Dial::Busy(wait) => {
                        let mut e = Error::with_code(FWASR_ERR_HANDSHAKE, 429, "too many requests");
                        e.retry_after = Some(wait);
                        self.core.dial_failed(e, now);
                    }
                    Dial::Hang => {}
                }
            }
            Action::AbandonDial => self.core.dial_failed(
                Error::new(FWASR_ERR_CONNECT_TIMEOUT, "TCP connect not done in time"),
                now,
            ),
            Action::Close { code, .. } => {
                self.closes.push((self.at(), code));
                if self.server.answer_close && self.server.reading {
                    self.server.reply(now, Reply::Over(None));
                }
            }
            Action::Release => {
                self.server.reading = false;
                self.server.drop_after.pop_front();
                // What the server had on its way to this connection is lost with it.
                self.server.replies.clear();
            }
        }
    }

    fn outcome(&self) -> &(Duration, Outcome) {
        self.outcome.as_ref().expect("the session ended")
    }

    fn failed_with(&self) -> &Error {
        match &self.outcome().1 {
            Outcome::Failed(e) => e,
            other => panic!("ended with {other:?}"),
        }
    }

    /// The RECONNECTING events: when, the attempt, its backoff (ms).
    fn reconnecting(&self) -> Vec<(Duration, u32, f64)> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Reconnecting {
                    attempt, backoff_ms, ..
                } => Some((*at, *attempt, *backoff_ms)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| pred(e)).count()
    }
}

#[test]
fn reconnects_at_several_points_cover_the_audio_exactly_and_place_segments_on_the_stream() {
    let server = Server {
        segment_bytes: SEC / 2,
        // Dropped 1.2 s into the first connection and 0.8 s into the second.
        drop_after: [Some(SEC * 6 / 5), Some(SEC * 4 / 5)].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(settings(), server);
    sim.push_seconds(4.0);
    sim.finish(Duration::from_secs(30));
    let started = Instant::now();
    sim.run(Duration::from_secs(60));
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(
        matches!(sim.outcome().1, Outcome::Finished),
        "{:?}",
        sim.outcome()
    );

    // Each connection starts at the end of the last final segment (0, 1.0 s, 1.5 s) and
    // carries exactly the stream's audio from there; together they cover all of it.
    let starts: Vec<Option<u64>> = sim.server.conns.iter().map(|c| c.resume_ms).collect();
    assert_eq!(starts, [None, Some(1000), Some(1500)]);
    let mut covered = 0;
    for c in &sim.server.conns {
        let start = c.resume_ms.unwrap_or(0) as usize * 32;
        assert!(start <= covered, "a gap before {start}");
        assert!(
            c.audio == sim.pushed[start..start + c.audio.len()],
            "audio misplaced"
        );
        covered = covered.max(start + c.audio.len());
    }
    assert_eq!(covered, sim.pushed.len());
    // The recording holds each byte of the stream once, audio sent again included.
    assert!(sim.recorded == sim.pushed, "the recording is not the stream");

    // Renumbered ids and offset times: eight half-second segments, in order, no overlap.
    let t = sim.core.transcript.lock();
    let got: Vec<(String, f64, f64)> = t.segments().map(|s| (s.id.clone(), s.start_s, s.end_s)).collect();
    let want: Vec<(String, f64, f64)> = (0..8)
        .map(|k| (k.to_string(), k as f64 * 0.5, (k + 1) as f64 * 0.5))
        .collect();
    assert_eq!(got, want);
    let texts: Vec<&str> = t.segments().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        ["c1s0", "c1s1", "c2s0", "c3s0", "c3s1", "c3s2", "c3s3", "c3s4"]
    );
    drop(t);
    let reconnected: Vec<(u32, f64, f64)> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Reconnected {
                attempt,
                start_s,
                replayed_ms,
                ..
            } => Some((*attempt, *start_s, *replayed_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(reconnected, [(1, 1.0, 200.0), (1, 1.5, 300.0)]);
    assert_eq!(sim.core.counters.reconnects, 2);
}

/// The backoffs of a session whose reconnects are all refused.
fn refused_reconnects(seed: u64) -> Sim {
    let mut s = settings();
    s.seed = seed;
    s.reconnect = Some(Reconnect {
        max_attempts: 4,
        initial_backoff: 100 * MS,
        max_backoff: 400 * MS,
    });
    let server = Server {
        dials: [Dial::Up, Dial::Fail, Dial::Fail, Dial::Fail, Dial::Fail].into(),
        drop_after: [Some(SEC / 10)].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(s, server);
    sim.push_seconds(1.0);
    sim.run(Duration::from_secs(60));
    sim
}

#[test]
fn backoff_follows_its_seed_and_the_budget_ends_the_session() {
    let sim = refused_reconnects(42);
    let tries = sim.reconnecting();
    assert_eq!(tries.iter().map(|t| t.1).collect::<Vec<_>>(), [1, 2, 3, 4]);
    for ((at, attempt, backoff_ms), step) in tries.iter().zip([100.0, 200.0, 400.0, 400.0]) {
        assert!(
            (step / 2.0..=step).contains(backoff_ms),
            "attempt {attempt}: {backoff_ms} ms"
        );
        // Each attempt is dialed exactly its backoff after the failure that announced it.
        let waited = (sim.dials[*attempt as usize].0 - *at).as_secs_f64() * 1000.0;
        assert!(
            (waited - backoff_ms).abs() < 0.001,
            "attempt {attempt}: {waited} ms"
        );
        assert_eq!(sim.dials[*attempt as usize].1, *attempt);
    }
    let e = sim.failed_with();
    assert_eq!(e.status, FWASR_ERR_CONNECT);
    assert!(
        e.message.contains("gave up after 4 reconnect attempts"),
        "{}",
        e.message
    );
    assert_eq!(sim.outcome().0, sim.dials[4].0, "given up at the last refusal");

    let backoffs = |sim: &Sim| -> Vec<f64> { sim.reconnecting().iter().map(|t| t.2).collect() };
    assert_eq!(backoffs(&sim), backoffs(&refused_reconnects(42)), "the same seed");
    assert_ne!(backoffs(&sim), backoffs(&refused_reconnects(43)), "another seed");
}

#[test]
fn the_finish_deadline_holds_across_reconnects() {
    let mut s = settings();
    s.pacing = 0.0;
    s.reconnect = Some(Reconnect {
        max_attempts: 100,
        initial_backoff: 400 * MS,
        max_backoff: 400 * MS,
    });
    let server = Server {
        drop_at_final: true,
        ..Server::default()
    };
    let mut sim = Sim::new(s, server);
    sim.push_seconds(1.0);
    sim.finish(Duration::from_secs(3));
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.failed_with().status, FWASR_ERR_TIMEOUT);
    assert_eq!(
        sim.outcome().0,
        Duration::from_secs(3),
        "at the deadline, not later"
    );
    // Every connection got the final checkpoint, after all of the audio.
    assert!(sim.server.conns.len() >= 5, "{}", sim.server.conns.len());
    for c in &sim.server.conns {
        assert_eq!(c.texts.len(), 1);
        assert_eq!(c.texts[0].1["checkpoint_id"], "final");
        assert_eq!(
            c.resume_ms.unwrap_or(0) as usize * 32 + c.texts[0].0,
            sim.pushed.len()
        );
    }
}

#[test]
fn a_dial_that_hangs_is_given_up_at_the_connect_timeout() {
    let server = Server {
        dials: [Dial::Hang].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(settings(), server);
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.failed_with().status, FWASR_ERR_CONNECT_TIMEOUT);
    assert_eq!(sim.outcome().0, Duration::from_secs(5));
}

#[test]
fn keepalive_finds_a_server_that_stopped_answering_pings() {
    let mut s = settings();
    s.keepalive = Some(Duration::from_secs(1));
    s.reconnect = None;
    let server = Server {
        answer_pings: false,
        ..Server::default()
    };
    let mut sim = Sim::new(s, server);
    sim.push_seconds(10.0);
    sim.run(Duration::from_secs(60));
    let e = sim.failed_with();
    assert_eq!(e.status, FWASR_ERR_IO);
    assert!(
        e.message.contains("did not answer a ping within 1000 ms"),
        "{}",
        e.message
    );
    // Pinged at 1 s, given up at 2 s.
    assert_eq!(sim.outcome().0, Duration::from_secs(2));
}

#[test]
fn keepalive_finds_a_server_that_stopped_reading() {
    let mut s = settings();
    s.keepalive = Some(Duration::from_secs(1));
    s.reconnect = None;
    let mut sim = Sim::new(s, Server::default());
    sim.server.stall_at = Some(sim.t0 + Duration::from_millis(500));
    sim.push_seconds(10.0);
    sim.run(Duration::from_secs(60));
    let e = sim.failed_with();
    assert!(
        e.message.contains("has not read anything for 1000 ms"),
        "{}",
        e.message
    );
    // The last chunk went at 0.45 s; nothing left from then on.
    assert_eq!(sim.outcome().0, Duration::from_millis(1450));
    // Audio waited in the queue meanwhile: nothing was taken while the socket was full.
    assert_eq!(sim.server.conns[0].audio.len(), SEC / 2);
}

#[test]
fn unanswered_controls_are_sent_again_once_at_their_place() {
    let server = Server {
        answer_controls: false,
        drop_after: [Some(SEC)].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(settings(), server);
    sim.push_seconds(0.5);
    sim.core.control(Control::Checkpoint {
        id: "c1".into(),
        at: sim.pushed.len() as u64,
    });
    sim.push_seconds(1.0);
    // The first connection ignores it and drops; the second answers.
    sim.run(Duration::from_millis(1010));
    assert_eq!(sim.server.conns.len(), 1);
    sim.server.answer_controls = true;
    sim.finish(Duration::from_secs(30));
    sim.run(Duration::from_secs(60));
    assert!(matches!(sim.outcome().1, Outcome::Finished));
    let c1 = |c: &Received| -> Vec<usize> {
        c.texts
            .iter()
            .filter(|(_, v)| v["checkpoint_id"] == "c1")
            .map(|(at, _)| *at)
            .collect()
    };
    assert_eq!(sim.server.conns.len(), 2);
    // Nothing was final: the second connection replays from 0, and c1 goes again after the
    // same 0.5 s of audio, once.
    assert_eq!(sim.server.conns[1].resume_ms, Some(0));
    assert_eq!(c1(&sim.server.conns[0]), [SEC / 2]);
    assert_eq!(c1(&sim.server.conns[1]), [SEC / 2]);
    let echoes = sim.count(|e| matches!(e, Event::Checkpoint { id, .. } if id == "c1"));
    assert_eq!(echoes, 1);
}

#[test]
fn finish_reports_closed_at_the_final_echo_and_the_close_handshake_ends_in_the_background() {
    for answer_close in [true, false] {
        let mut s = settings();
        s.pacing = 0.0;
        let server = Server {
            answer_close,
            ..Server::default()
        };
        let mut sim = Sim::new(s, server);
        sim.push_seconds(1.0);
        sim.finish(Duration::from_secs(10));
        sim.run(Duration::from_secs(60));
        // The final checkpoint went at 0 and came back 20 ms later: CLOSED then and there.
        let closed: Vec<Duration> = sim
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Closed { error: None }))
            .map(|(at, _)| *at)
            .collect();
        assert_eq!(closed, [20 * MS]);
        assert_eq!(sim.core.stage(), Stage::Closed);
        assert_eq!(sim.closes, [(20 * MS, 1000)]);
        assert!(matches!(sim.outcome().1, Outcome::Finished));
        // The handshake: answered 20 ms later, or given up after CLOSE_WAIT.
        let over = if answer_close {
            40 * MS
        } else {
            20 * MS + CLOSE_WAIT
        };
        assert_eq!(sim.outcome().0, over);
    }
}

#[test]
fn after_the_servers_close_queued_audio_sets_no_deadline() {
    let mut s = settings();
    s.reconnect = None;
    let mut sim = Sim::new(s, Server::default());
    sim.push_seconds(5.0);
    sim.run(Duration::from_secs(1));
    sim.server.reply(sim.now, Reply::Close);
    // Paced audio is still queued; `run` panics if the session is due again and again.
    let turns = sim.turns;
    sim.run(Duration::from_secs(60));
    let e = sim.failed_with();
    assert_eq!((e.status, e.code), (FWASR_ERR_CLOSED, 1000));
    // The server's close came at 1.02 s; the connection is given up CLOSE_WAIT later.
    assert_eq!(sim.outcome().0, 1020 * MS + CLOSE_WAIT);
    assert!(sim.turns - turns < 10, "{} turns", sim.turns - turns);
}

#[test]
fn a_free_while_finishing_ends_as_stopped_with_nothing_reported() {
    let mut s = settings();
    s.pacing = 0.0;
    let server = Server {
        answer_final: false,
        ..Server::default()
    };
    let mut sim = Sim::new(s, server);
    sim.push_seconds(1.0);
    sim.finish(Duration::from_secs(10));
    sim.run(Duration::from_secs(1));
    let events = sim.events.len();
    sim.core.stop();
    sim.turn();
    assert!(matches!(sim.outcome().1, Outcome::Stopped));
    assert_eq!(sim.closes, [(Duration::from_secs(1), 1001)]);
    assert_eq!(sim.events.len(), events, "nothing reported after the free");
    assert_ne!(sim.core.stage(), Stage::Closed);
}

#[test]
fn connections_without_progress_use_up_the_budget_and_progress_renews_it() {
    // Every connection is dropped 0.3 s in and nothing is ever final: the connects succeed,
    // but after max_attempts of them the session gives up.
    let mut s = settings();
    s.reconnect = Some(Reconnect {
        max_attempts: 3,
        initial_backoff: 10 * MS,
        max_backoff: 40 * MS,
    });
    let server = Server {
        drop_after: vec![Some(SEC * 3 / 10); 10].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(s.clone(), server);
    sim.push_seconds(5.0);
    sim.run(Duration::from_secs(60));
    let e = sim.failed_with();
    assert_eq!(e.status, FWASR_ERR_IO);
    assert!(e.message.contains("without progress"), "{}", e.message);
    assert_eq!(sim.server.conns.len(), 4, "the first connection and three more");

    // A final segment every 0.25 s: each connection settles new audio before it is dropped
    // 1 s in, so two attempts per stretch without progress carry it through every drop.
    s.reconnect = Some(Reconnect {
        max_attempts: 2,
        initial_backoff: 10 * MS,
        max_backoff: 20 * MS,
    });
    let server = Server {
        segment_bytes: SEC / 4,
        drop_after: vec![Some(SEC); 20].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(s, server);
    sim.push_seconds(5.0);
    sim.finish(Duration::from_secs(30));
    sim.run(Duration::from_secs(60));
    assert!(
        matches!(sim.outcome().1, Outcome::Finished),
        "{:?}",
        sim.outcome()
    );
    assert!(
        sim.server.conns.len() >= 5,
        "{} connections",
        sim.server.conns.len()
    );
    let t = sim.core.transcript.lock();
    let times: Vec<(f64, f64)> = t.segments().map(|s| (s.start_s, s.end_s)).collect();
    let want: Vec<(f64, f64)> = (0..20)
        .map(|k| (k as f64 * 0.25, (k + 1) as f64 * 0.25))
        .collect();
    assert_eq!(times, want);
}

#[test]
fn a_refusal_with_retry_after_is_not_tried_again_sooner() {
    let server = Server {
        dials: [
            Dial::Up,
            Dial::Busy(Duration::from_secs(3)),
            Dial::Busy(Duration::ZERO),
        ]
        .into(),
        drop_after: [Some(SEC / 10)].into(),
        ..Server::default()
    };
    let mut sim = Sim::new(settings(), server);
    sim.push_seconds(1.0);
    sim.run(Duration::from_secs(60));
    let tries = sim.reconnecting();
    assert_eq!(tries.iter().map(|t| t.1).collect::<Vec<_>>(), [1, 2, 3]);
    // After the refusal, the server's 3 s instead of attempt 2's 100-200 ms backoff, and the
    // dial exactly then; a Retry-After shorter than the backoff changes nothing.
    assert_eq!(tries[1].2, 3000.0);
    assert_eq!(sim.dials[2].0, tries[1].0 + Duration::from_secs(3));
    assert!((200.0..=400.0).contains(&tries[2].2), "{}", tries[2].2);
    assert_eq!(sim.dials.len(), 4);
    assert_eq!(sim.server.conns.len(), 2, "the last dial connected");
}

/// An unpaced session fed 20 ms frames at real time, `frames` of them, then finished.
fn live(server: Server, frames: u32) -> Sim {
    let mut sim = Sim::new(
        Settings {
            pacing: 0.0,
            ..settings()
        },
        server,
    );
    for i in 1..=frames {
        sim.push_seconds(0.02);
        sim.run(20 * MS * i);
    }
    sim.finish(Duration::from_secs(10));
    sim.run(Duration::from_secs(20));
    sim
}

/// Each SEGMENT event's segment end and latency.
fn segment_latencies(sim: &Sim) -> Vec<(f64, f64)> {
    sim.events
        .iter()
        .filter_map(|(_, e)| {
            e.segment()
                .filter(|_| e.kind() == FWASR_EVENT_SEGMENT)
                .map(|s| (s.end_s, e.latency_ms()))
        })
        .collect()
}

#[test]
fn latency_runs_from_the_push_of_a_segments_last_audio_to_its_event() {
    let server = Server {
        segment_bytes: SEC,
        latency: 70 * MS,
        ..Server::default()
    };
    // 5 s pushed in 20 ms frames at real time.
    let sim = live(server, 250);
    let latencies: Vec<f64> = segment_latencies(&sim).iter().map(|s| s.1).collect();
    assert_eq!(latencies.len(), 5, "{:?}", sim.events);
    // The server answers 70 ms after the audio that ends a segment arrives, and audio goes
    // out as soon as it completes a chunk.
    for l in &latencies {
        assert!((l - 70.0).abs() < 1e-6, "{latencies:?}");
    }
    let summary = sim.core.counters.latency;
    assert!((summary.p50_ms / 70.0 - 1.0).abs() < 0.01, "{summary:?}");
    assert!(summary.p95_ms <= 70.0 && summary.max_ms == 70.0, "{summary:?}");
}

#[test]
fn audio_sent_again_after_a_reconnect_counts_from_its_first_push() {
    let server = Server {
        segment_bytes: SEC,
        latency: 70 * MS,
        drop_after: [Some(SEC * 19 / 10), None].into(),
        ..Server::default()
    };
    let sim = live(server, 150);
    let segments = segment_latencies(&sim);
    // The connection drops at 1.9 s: the audio pushed at 2.0 s goes out only after the
    // backoff (100 ms or more), and its latency holds the outage.
    assert_eq!(segments.len(), 3, "{:?}", sim.events);
    assert!((segments[0].1 - 70.0).abs() < 1e-6, "{segments:?}");
    assert!(segments[1].1 > 100.0, "{segments:?}");
}
