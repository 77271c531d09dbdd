//! Property test: random sequences of server updates (string and number ids, retractions,
//! finality, garbage, server errors, an early close) replayed by fwasr-devserver through a
//! real session. After each run the session's segments equal an independent model of the
//! protocol's rules, the events are ordered CONNECTED first and CLOSED once and last, and
//! every SEGMENT / SEGMENT_REMOVED event matches a change of the model (a change of a word's
//! finality is a change).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use fwasr::error::*;
use fwasr::event::*;
use fwasr::{Config, Session};
use serde_json::{json, Value};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The model's ordering key: numeric ids by value, then the others by first appearance.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Num(u128, String),
    Other(u64),
}

/// id, text, finality, each word's finality
type Seg = (String, String, i32, Vec<bool>);

#[derive(Default)]
struct Model {
    map: BTreeMap<Key, Seg>,
    next_other: u64,
}

impl Model {
    fn key(&mut self, id: &str) -> Key {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            return Key::Num(id.parse().unwrap(), id.to_string());
        }
        if let Some(k) = self.map.iter().find(|(_, v)| v.0 == id).map(|(k, _)| k.clone()) {
            return k;
        }
        self.next_other += 1;
        Key::Other(self.next_other)
    }

    /// Applies an update: (added or changed, id) and (removed, id) in order.
    fn apply(&mut self, segs: &[Seg]) -> Vec<(bool, String)> {
        let mut changed = Vec::new();
        let mut largest: Option<Key> = None;
        for seg in segs {
            let k = self.key(&seg.0);
            if self.map.get(&k) != Some(seg) {
                changed.push((true, seg.0.clone()));
                self.map.insert(k.clone(), seg.clone());
            }
            if largest.as_ref().is_none_or(|l| k > *l) {
                largest = Some(k);
            }
        }
        if let Some(l) = largest {
            let gone: Vec<Key> = self.map.keys().filter(|k| **k > l).cloned().collect();
            for k in gone {
                changed.push((false, self.map.remove(&k).unwrap().0));
            }
        }
        changed
    }
}

fn random_run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut model = Model::default();
    let mut replay = Vec::new();
    let mut expected = Vec::new();
    let mut close_code = None;
    let steps = 3 + rng.below(12);
    for step in 0..steps {
        let at = step as f64 * 0.05;
        match rng.below(10) {
            0 => replay.push(json!({ "at": at, "text": "not json at all" })),
            1 => replay.push(json!({ "at": at, "json": { "error": { "message": "x", "code": 1 } } })),
            2 if rng.below(3) == 0 => {
                let code = [1001u16, 1011, 4000][rng.below(3) as usize];
                close_code = Some(code);
                replay.push(json!({ "at": at, "close": { "code": code, "reason": "random" } }));
                break;
            }
            _ => {
                let mut segs = Vec::new();
                let mut wire = Vec::new();
                for _ in 0..1 + rng.below(5) {
                    let id = match rng.below(8) {
                        0 => ["a", "b", "x"][rng.below(3) as usize].to_string(),
                        _ => rng.below(14).to_string(),
                    };
                    let text = format!("w{}", rng.below(4));
                    let words: Vec<bool> = (0..rng.below(3)).map(|_| rng.below(2) == 0).collect();
                    let fin = if words.is_empty() {
                        -1
                    } else {
                        i32::from(words.iter().all(|w| *w))
                    };
                    // Numeric ids go out as JSON numbers half of the time.
                    let wire_id = match id.parse::<u64>() {
                        Ok(v) if rng.below(2) == 0 => json!(v),
                        _ => json!(id),
                    };
                    let wire_words: Vec<Value> = words
                        .iter()
                        .map(|f| json!({ "word": "w", "is_final": f }))
                        .collect();
                    wire.push(json!({ "id": wire_id, "text": text, "words": wire_words }));
                    segs.push((id, text, fin, words));
                }
                expected.extend(model.apply(&segs));
                replay.push(json!({ "at": at, "json": { "segments": wire } }));
            }
        }
    }
    let d = DevServer::with_replay(&Value::Array(replay).to_string());
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    let s = Session::open(&c).unwrap();
    s.push(&audio(1000)).unwrap();
    let finished = s.finish(Some(Duration::from_secs(10)));
    let mut events = Vec::new();
    while let Some(e) = s.next_event(Some(Duration::from_secs(10))) {
        events.push(e);
    }
    assert_eq!(
        events.first().map(|e| e.kind()),
        Some(FWASR_EVENT_CONNECTED),
        "seed {seed}"
    );
    assert_eq!(
        events.iter().filter(|e| e.kind() == FWASR_EVENT_CLOSED).count(),
        1,
        "seed {seed}"
    );
    let closed = events.last().unwrap();
    assert_eq!(closed.kind(), FWASR_EVENT_CLOSED, "seed {seed}");
    match close_code {
        Some(code) => {
            assert_eq!(
                (closed.status(), closed.code()),
                (FWASR_ERR_CLOSED, i32::from(code)),
                "seed {seed}"
            );
            assert!(finished.is_err(), "seed {seed}");
        }
        None => {
            assert_eq!(closed.status(), FWASR_OK, "seed {seed}: {closed:?}");
            finished.unwrap();
        }
    }
    let got: Vec<(bool, String)> = events
        .iter()
        .filter_map(|e| match e.kind() {
            FWASR_EVENT_SEGMENT => Some((true, e.segment().unwrap().id.clone())),
            FWASR_EVENT_SEGMENT_REMOVED => Some((false, e.segment().unwrap().id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, expected, "seed {seed}: events against the model");
    let want: Vec<Seg> = model.map.values().cloned().collect();
    let have: Vec<Seg> = s
        .segments()
        .into_iter()
        .map(|g| {
            let words = g
                .words
                .iter()
                .flat_map(|w| w.iter())
                .map(|w| w.is_final == 1)
                .collect();
            (g.id, g.text, g.is_final, words)
        })
        .collect();
    assert_eq!(have, want, "seed {seed}: final segments against the model");
}

#[test]
fn random_update_sequences_keep_the_transcript_invariants() {
    for seed in 1..=40 {
        random_run(seed);
    }
}
