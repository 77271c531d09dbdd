//! What the server says: a scripted transcript revealed as the connection's audio clock passes
//! each word, a raw message replay for protocol tests, or, with neither, a plain count of the
//! audio received. It never invents speech.

use serde_json::{json, Value};

/// Seconds after a segment's end at which its words become final.
const FINAL_DELAY_S: f64 = 0.4;

#[derive(Clone, Debug)]
struct Word {
    word: String,
    start: f64,
    end: f64,
    probability: f64,
}

/// The times a client asked for (`timestamp_granularities`, e.g. "word,segment"): without
/// it, the service sends neither word nor segment times.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Times {
    pub word: bool,
    pub segment: bool,
}

impl Times {
    pub fn parse(granularities: Option<&str>) -> Times {
        let asked = |g: &str| granularities.is_some_and(|v| v.split(',').any(|x| x.trim() == g));
        Times {
            word: asked("word"),
            segment: asked("segment"),
        }
    }
}

/// A probability for a word the script gives none: fixed per word text, from 0.50 to 0.99,
/// so tests can compute it (FNV-1a of the text).
pub fn probability_of(word: &str) -> f64 {
    let h = word.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (50 + h % 50) as f64 / 100.0
}

#[derive(Clone, Debug)]
pub struct ScriptSegment {
    start: f64,
    end: f64,
    words: Vec<Word>,
}

/// One raw message of a replay: sent when the audio clock reaches `at` seconds, or at the
/// final checkpoint (before its echo) when `at` is "final".
#[derive(Clone, Debug)]
pub struct ReplayItem {
    at: Option<f64>,
    reply: Reply,
}

/// Something the server sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Text(String),
    /// A close frame with this code and reason.
    Close(u16, String),
}

#[derive(Clone, Debug)]
pub enum Source {
    Script(Vec<ScriptSegment>),
    Replay(Vec<ReplayItem>),
    Count,
}

impl Source {
    /// `[{"start": s, "end": s, "text": "...", "words": [{"word","start","end","probability"?}]?}, ...]`
    pub fn script(text: &str) -> Result<Source, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("script is not JSON: {e}"))?;
        let list = v.as_array().ok_or("script must be a JSON list of segments")?;
        let mut segs = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let num = |k: &str| {
                s.get(k)
                    .and_then(Value::as_f64)
                    .ok_or(format!("segment {i}: '{k}' must be a number"))
            };
            let (start, end) = (num("start")?, num("end")?);
            if end < start {
                return Err(format!("segment {i}: end before start"));
            }
            let words = match s.get("words").and_then(Value::as_array) {
                Some(ws) => ws
                    .iter()
                    .map(|w| {
                        let word = w
                            .get("word")
                            .and_then(Value::as_str)
                            .ok_or(format!("segment {i}: word without 'word'"))?;
                        Ok(Word {
                            probability: w
                                .get("probability")
                                .and_then(Value::as_f64)
                                .unwrap_or_else(|| probability_of(word)),
                            word: word.to_string(),
                            start: w
                                .get("start")
                                .and_then(Value::as_f64)
                                .ok_or(format!("segment {i}: word without start"))?,
                            end: w
                                .get("end")
                                .and_then(Value::as_f64)
                                .ok_or(format!("segment {i}: word without end"))?,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
                None => spread(
                    s.get("text")
                        .and_then(Value::as_str)
                        .ok_or(format!("segment {i}: no text"))?,
                    start,
                    end,
                ),
            };
            segs.push(ScriptSegment { start, end, words });
        }
        Ok(Source::Script(segs))
    }

    /// `[{"at": seconds | "final", "json": {...} | "text": "raw" | "close": {"code", "reason"}}]`
    pub fn replay(text: &str) -> Result<Source, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("replay is not JSON: {e}"))?;
        let list = v.as_array().ok_or("replay must be a JSON list")?;
        let mut items = Vec::new();
        for (i, it) in list.iter().enumerate() {
            let at = match it.get("at") {
                Some(Value::String(s)) if s == "final" => None,
                Some(v) => Some(
                    v.as_f64()
                        .ok_or(format!("item {i}: 'at' must be seconds or \"final\""))?,
                ),
                None => Some(0.0),
            };
            let reply = match (
                it.get("json"),
                it.get("text").and_then(Value::as_str),
                it.get("close"),
            ) {
                (Some(j), None, None) => Reply::Text(j.to_string()),
                (None, Some(t), None) => Reply::Text(t.to_string()),
                (None, None, Some(c)) => Reply::Close(
                    c.get("code")
                        .and_then(Value::as_u64)
                        .and_then(|c| u16::try_from(c).ok())
                        .ok_or(format!("item {i}: close needs a code"))?,
                    c.get("reason").and_then(Value::as_str).unwrap_or("").to_string(),
                ),
                _ => {
                    return Err(format!(
                        "item {i}: give exactly one of 'json', 'text' and 'close'"
                    ))
                }
            };
            items.push(ReplayItem { at, reply });
        }
        Ok(Source::Replay(items))
    }
}

/// Splits a text into words timed in proportion to their length.
fn spread(text: &str, start: f64, end: f64) -> Vec<Word> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let total: usize = words.iter().map(|w| w.len() + 1).sum();
    let mut t = start;
    words
        .iter()
        .map(|w| {
            let d = (end - start) * (w.len() + 1) as f64 / total.max(1) as f64;
            let word = Word {
                word: w.to_string(),
                start: t,
                end: t + d,
                probability: probability_of(w),
            };
            t += d;
            word
        })
        .collect()
}

/// The per-connection state of a source: what has been told so far.
pub struct Speaker {
    source: Source,
    times: Times,
    /// Script: (words revealed, final) per segment, as last sent.
    told: Vec<(usize, bool)>,
    /// Replay: next item to send.
    next: usize,
    /// Count: the half-second mark last reported.
    last_count: u64,
}

impl Speaker {
    /// `resume_s`: the connection continues a stream this far in (a client's reconnect), so
    /// a script starts there: only later words, ids from 0, times from the connection's start.
    /// `times`: the times the client asked for.
    pub fn new(source: Source, resume_s: f64, times: Times) -> Speaker {
        let source = match source {
            Source::Script(segs) if resume_s > 0.0 => Source::Script(
                segs.into_iter()
                    .filter_map(|s| {
                        let words: Vec<Word> = s
                            .words
                            .into_iter()
                            .filter(|w| w.start >= resume_s)
                            .map(|w| Word {
                                start: w.start - resume_s,
                                end: w.end - resume_s,
                                ..w
                            })
                            .collect();
                        let start = words.first()?.start.max(s.start - resume_s);
                        Some(ScriptSegment {
                            start,
                            end: s.end - resume_s,
                            words,
                        })
                    })
                    .collect(),
            ),
            other => other,
        };
        let n = match &source {
            Source::Script(s) => s.len(),
            _ => 0,
        };
        Speaker {
            source,
            times,
            told: vec![(0, false); n],
            next: 0,
            last_count: 0,
        }
    }

    /// Messages to send now that `clock` seconds of audio have arrived.
    pub fn on_audio(&mut self, clock: f64) -> Vec<Reply> {
        match &self.source {
            Source::Script(_) => self
                .script_update(clock, false)
                .into_iter()
                .map(Reply::Text)
                .collect(),
            Source::Replay(items) => {
                let mut out = Vec::new();
                while let Some(it) = items.get(self.next) {
                    match it.at {
                        Some(at) if at <= clock => out.push(it.reply.clone()),
                        _ => break,
                    }
                    self.next += 1;
                }
                out
            }
            Source::Count => {
                let mark = (clock * 2.0).floor() as u64;
                if mark > self.last_count {
                    self.last_count = mark;
                    vec![Reply::Text(count_message(clock, false))]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Messages to send before echoing the final checkpoint.
    pub fn on_final(&mut self, clock: f64) -> Vec<Reply> {
        match &self.source {
            Source::Script(_) => self
                .script_update(clock, true)
                .into_iter()
                .map(Reply::Text)
                .collect(),
            Source::Replay(items) => {
                let rest: Vec<Reply> = items[self.next.min(items.len())..]
                    .iter()
                    .filter(|it| it.at.is_none() || it.at.is_some_and(|a| a <= clock))
                    .map(|it| it.reply.clone())
                    .collect();
                self.next = items.len();
                rest
            }
            Source::Count => vec![Reply::Text(count_message(clock, true))],
        }
    }

    /// The update for every segment from the first changed one to the last one with words,
    /// so that the client's retraction rule keeps what it should.
    fn script_update(&mut self, clock: f64, flush: bool) -> Option<String> {
        let Source::Script(segs) = &self.source else {
            return None;
        };
        let now: Vec<(usize, bool)> = segs
            .iter()
            .map(|s| {
                let shown = s
                    .words
                    .iter()
                    .filter(|w| if flush { w.start < clock } else { w.end <= clock })
                    .count();
                let fin = shown > 0 && (flush || clock >= s.end + FINAL_DELAY_S);
                (shown, fin)
            })
            .collect();
        let first = (0..segs.len()).find(|&i| now[i] != self.told[i])?;
        let last = (0..segs.len()).rev().find(|&i| now[i].0 > 0)?;
        self.told = now.clone();
        let segments: Vec<Value> = (first..=last)
            .filter(|&i| now[i].0 > 0)
            .map(|i| {
                let (shown, fin) = now[i];
                let words = &segs[i].words[..shown];
                let text: Vec<&str> = words.iter().map(|w| w.word.as_str()).collect();
                let mut segment = json!({
                    "id": i.to_string(),
                    "seek": 0,
                    "text": format!(" {}", text.join(" ")),
                    "words": words.iter().map(|w| {
                        let mut word = json!({
                            "word": w.word,
                            "probability": w.probability,
                            "is_final": fin,
                        });
                        if self.times.word {
                            word["start"] = json!(round(w.start));
                            word["end"] = json!(round(w.end));
                        }
                        word
                    }).collect::<Vec<_>>(),
                });
                if self.times.segment {
                    segment["start"] = json!(round(segs[i].start));
                    segment["end"] = json!(round(words.last().map_or(segs[i].end, |w| w.end)));
                }
                segment
            })
            .collect();
        if segments.is_empty() {
            return None;
        }
        Some(json!({ "task": "transcribe", "language": "en", "segments": segments }).to_string())
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn count_message(clock: f64, fin: bool) -> String {
    let text = format!("{clock:.2} s of audio received");
    json!({
        "segments": [{
            "id": "0",
            "text": text,
            "words": [{ "word": text, "is_final": fin }],
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Reply) -> &str {
        match r {
            Reply::Text(t) => t,
            Reply::Close(..) => panic!("expected text"),
        }
    }

    #[test]
    fn words_are_revealed_then_finalized() {
        let src =
            Source::script(r#"[{"start":0.0,"end":1.0,"text":"aa bb"},{"start":1.5,"end":2.0,"text":"cc"}]"#)
                .unwrap();
        let mut sp = Speaker::new(src, 0.0, Times::default());
        assert!(sp.on_audio(0.2).is_empty());
        let m: Value = serde_json::from_str(text(&sp.on_audio(0.6)[0])).unwrap();
        assert_eq!(m["segments"][0]["text"], " aa");
        assert_eq!(m["segments"][0]["words"][0]["is_final"], false);
        let m: Value = serde_json::from_str(text(&sp.on_audio(1.45)[0])).unwrap();
        assert_eq!(m["segments"][0]["text"], " aa bb");
        assert_eq!(m["segments"][0]["words"][1]["is_final"], true);
        let m: Value = serde_json::from_str(text(&sp.on_final(1.6)[0])).unwrap();
        assert_eq!(m["segments"][0]["id"], "1");
        assert_eq!(m["segments"][0]["text"], " cc");
        assert_eq!(m["segments"][0]["words"][0]["is_final"], true);
    }

    #[test]
    fn times_only_when_asked_for() {
        let script = r#"[{"start":0.0,"end":1.0,"words":[{"word":"aa","start":0.1,"end":0.4,"probability":0.25},{"word":"bb","start":0.5,"end":0.9}]}]"#;
        let update = |times: Times| -> Value {
            let mut sp = Speaker::new(Source::script(script).unwrap(), 0.0, times);
            serde_json::from_str(text(&sp.on_final(1.0)[0])).unwrap()
        };
        let none = update(Times::parse(None));
        assert!(none["segments"][0].get("start").is_none());
        assert!(none["segments"][0]["words"][0].get("start").is_none());
        assert_eq!(none["segments"][0]["words"][0]["probability"], 0.25);
        assert_eq!(
            none["segments"][0]["words"][1]["probability"],
            probability_of("bb")
        );
        let seg = update(Times::parse(Some("segment")));
        assert_eq!(seg["segments"][0]["start"], 0.0);
        assert!(seg["segments"][0]["words"][0].get("start").is_none());
        let both = update(Times::parse(Some("word,segment")));
        assert_eq!(both["segments"][0]["end"], 0.9);
        assert_eq!(both["segments"][0]["words"][1]["start"], 0.5);
        assert_eq!(both["segments"][0]["words"][1]["end"], 0.9);
        assert!((0.5..1.0).contains(&probability_of("x")));
    }

    #[test]
    fn a_resumed_connection_starts_the_script_where_it_resumes() {
        let src =
            Source::script(r#"[{"start":0.0,"end":1.0,"text":"aa bb"},{"start":1.5,"end":2.0,"text":"cc"}]"#)
                .unwrap();
        let mut sp = Speaker::new(src, 1.2, Times::default());
        let m: Value = serde_json::from_str(text(&sp.on_final(0.8)[0])).unwrap();
        assert_eq!(m["segments"][0]["id"], "0");
        assert_eq!(m["segments"][0]["text"], " cc");
        assert_eq!(m["segments"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn count_never_invents_speech() {
        let mut sp = Speaker::new(Source::Count, 0.0, Times::default());
        assert!(sp.on_audio(0.45).is_empty());
        assert!(text(&sp.on_audio(0.5)[0]).contains("0.50 s of audio received"));
        assert!(text(&sp.on_final(0.6)[0]).contains("0.60 s of audio received"));
    }

    #[test]
    fn replay_sends_at_its_times_and_at_final() {
        let src = Source::replay(r#"[{"at":0.1,"text":"x"},{"at":"final","json":{"a":1}},{"at":0.5,"close":{"code":1011,"reason":"r"}}]"#).unwrap();
        let mut sp = Speaker::new(src, 0.0, Times::default());
        assert_eq!(sp.on_audio(0.2), vec![Reply::Text("x".into())]);
        assert!(sp.on_audio(0.6).is_empty());
        assert_eq!(
            sp.on_final(0.6),
            vec![Reply::Text("{\"a\":1}".into()), Reply::Close(1011, "r".into())]
        );
    }
}
