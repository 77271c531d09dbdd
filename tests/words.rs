//! Words as data, against fwasr-devserver's script (tests/data/words.script.json): each
//! word's text, times and probability as the script has them, on one connection and across
//! reconnects (times offset to the stream, no word twice); no times unless asked for; the
//! events of one message share its words.

mod common;

use std::time::Duration;

use common::*;
use fwasr::event::*;
use fwasr::{Config, Event, Session};
use serde_json::Value;

/// The script's words: (text, start, end, probability), in order.
fn script_words() -> Vec<(String, f64, f64, f64)> {
    let v: Value = serde_json::from_str(&script()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["words"].as_array().unwrap().clone())
        .map(|w| {
            (
                w["word"].as_str().unwrap().to_string(),
                w["start"].as_f64().unwrap(),
                w["end"].as_f64().unwrap(),
                w["probability"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn script() -> String {
    std::fs::read_to_string(root().join("tests/data/words.script.json")).unwrap()
}

/// Streams 5 s to a devserver with `faults`, finishes, returns the session and its events.
fn run(word_timestamps: bool, reconnect: bool, faults: &[&str]) -> (Session, Vec<Event>) {
    let d = DevServer::with_script(&script(), faults);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_word_timestamps(word_timestamps);
    if reconnect {
        c.set_reconnect(5, 20, 200).unwrap();
    }
    let s = Session::open(&c).unwrap();
    for piece in audio(5000).chunks(3200) {
        s.push_wait(piece, Some(Duration::from_secs(10))).unwrap();
    }
    s.finish(Some(Duration::from_secs(30))).unwrap();
    let events = drain(&s);
    (s, events)
}

/// The words of the final transcript, in order.
fn final_words(s: &Session) -> Vec<(String, f64, f64, f64, i32)> {
    s.segments()
        .iter()
        .flat_map(|g| g.words.iter().flat_map(|w| w.iter()))
        .map(|w| (w.text.to_string(), w.start_s, w.end_s, w.probability, w.is_final))
        .collect()
}

fn assert_words_are_the_scripts(s: &Session) {
    let got = final_words(s);
    let want = script_words();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, g.3, g.4), (&w.0, w.3, 1), "{got:?}");
        assert!(
            (g.1 - w.1).abs() < 1e-6 && (g.2 - w.2).abs() < 1e-6,
            "{g:?} against {w:?}"
        );
    }
}

#[test]
fn words_have_the_scripts_times_and_probabilities() {
    let (s, events) = run(true, false, &[]);
    assert_words_are_the_scripts(&s);
    // Segment times come too, from the words' span.
    let segs = s.segments();
    assert_eq!((segs[0].start_s, segs[0].end_s), (0.2, 1.4));
    // Every SEGMENT event carries its segment's words as they were then.
    let mut shared = 0;
    for (i, e) in events.iter().enumerate() {
        let Event::Segment { segment, json, .. } = e else {
            continue;
        };
        let words = segment.words.as_ref().expect("words on every scripted segment");
        let text: Vec<&str> = words.iter().map(|w| w.text).collect();
        assert_eq!(segment.text.trim(), text.join(" "));
        // Events made from one message share its one block of words.
        for later in &events[i + 1..] {
            if let Event::Segment {
                segment: other,
                json: other_json,
                ..
            } = later
            {
                if json.as_ref().unwrap().same(other_json.as_ref().unwrap()) {
                    assert!(words.same_block(other.words.as_ref().unwrap()));
                    shared += 1;
                }
            }
        }
    }
    assert!(shared >= 1, "the script makes one message carry two segments");
}

#[test]
fn across_reconnects_word_times_are_offset_and_no_word_comes_twice() {
    let (s, events) = run(true, true, &["--abort-after", "2.2"]);
    let reconnects = events
        .iter()
        .filter(|e| e.kind() == FWASR_EVENT_RECONNECTED)
        .count();
    assert!(reconnects >= 2, "{events:?}");
    assert_words_are_the_scripts(&s);
}

#[test]
fn without_word_timestamps_words_come_without_times() {
    let (s, _) = run(false, false, &[]);
    let got = final_words(&s);
    let want = script_words();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, g.3, g.4), (&w.0, w.3, 1));
        assert!(g.1.is_nan() && g.2.is_nan(), "{g:?}");
    }
    assert!(s.segments()[0].start_s.is_nan());
}
