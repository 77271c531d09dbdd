//! Protocol messages: what the server sends, parsed defensively, and what the client sends.
//!
//! A server message is read in one pass straight into the few fields fwasr uses (strings
//! borrowed from the message where they need no unescaping); unknown fields are skipped
//! without being built. Types are checked after the pass, so a field of the wrong type gives
//! the same error, or the same lenient default, wherever it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::transcript::Segment;
use crate::words::{WordBlock, WordIn};

/// Everything a server text message can carry. Unknown fields are ignored.
#[derive(Debug, Default, PartialEq)]
pub struct ServerMessage {
    pub segments: Option<Vec<Segment>>,
    pub checkpoint_id: Option<String>,
    pub trace_id: Option<String>,
    pub reset_id: Option<String>,
    /// The server's error text, and its numeric code when it gave one.
    pub error: Option<(String, i32)>,
}

/// Parses one server text message. Segment and word times are moved `offset_s` later (the
/// connection's audio starts that far into the stream). Anything that is not a JSON object
/// carrying at least one known part is a protocol error, described in the returned message.
pub fn parse(text: &str, offset_s: f64) -> Result<ServerMessage, String> {
    let raw: Raw =
        serde_json::from_str(text).map_err(|e| format!("server sent a message that is not JSON ({e})"))?;
    let Raw::Object(obj) = raw else {
        return Err("server sent JSON that is not an object".into());
    };
    let mut msg = ServerMessage::default();
    if let Some(segs) = obj.segments {
        msg.segments = Some(segments(segs, offset_s)?);
    }
    msg.checkpoint_id = id_field(&obj.checkpoint_id, "checkpoint_id")?;
    match &obj.object {
        Loose::Str(o) if o == "stt.output.trace" => {
            msg.trace_id = Some(id_field(&obj.trace_id, "trace_id")?.ok_or("trace answer without trace_id")?)
        }
        Loose::Str(o) if o == "stt.state.cleared" => {
            msg.reset_id =
                Some(id_field(&obj.reset_id, "reset_id")?.ok_or("cleared answer without reset_id")?)
        }
        _ => {}
    }
    if let Some(err) = &obj.error {
        msg.error = Some(parse_error(err));
    }
    if msg == ServerMessage::default() {
        return Err("server sent a JSON object of an unknown shape".into());
    }
    Ok(msg)
}

fn id_field(v: &Loose, name: &str) -> Result<Option<String>, String> {
    match v {
        Loose::Absent | Loose::Null => Ok(None),
        v => id_string(v)
            .map(Some)
            .ok_or_else(|| format!("{name} is neither a string nor a number")),
    }
}

/// Ids come as strings or numbers; numbers are written without a fraction when they have none.
fn id_string(v: &Loose) -> Option<String> {
    match v {
        Loose::Str(s) => Some(s.to_string()),
        Loose::U64(u) => Some(u.to_string()),
        Loose::I64(i) => Some(i.to_string()),
        Loose::F64(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{f:.0}")),
        Loose::F64(f) => Some(serde_json::Number::from_f64(*f)?.to_string()),
        _ => None,
    }
}

fn segments(v: Segments, offset_s: f64) -> Result<Vec<Segment>, String> {
    let Segments::List(list) = v else {
        return Err("\"segments\" is not a list".into());
    };
    // Every word of the message in one block, then each segment takes its range of it.
    let block = WordBlock::build(list.iter().flat_map(word_list).map(|w| WordIn {
        text: match &w.word {
            Loose::Str(t) => t,
            _ => "",
        },
        start_s: w.start.number() + offset_s,
        end_s: w.end.number() + offset_s,
        probability: w.probability.number(),
        is_final: match w.is_final {
            Loose::Bool(b) => i32::from(b),
            _ => -1,
        },
    }));
    let mut first_word = 0;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let RawSegment::Object {
                id,
                text,
                start,
                end,
                words,
            } = s
            else {
                return Err(format!("segment {i} is not an object"));
            };
            let id = id_string(id).ok_or(format!("segment {i} has no string or number id"))?;
            let text = match text {
                Loose::Str(t) => t.to_string(),
                Loose::Absent | Loose::Null => String::new(),
                _ => return Err(format!("segment {id} has a text that is not a string")),
            };
            let count = word_list(s).len();
            let block_words = block.as_ref().and_then(|b| b.slice(first_word, count));
            first_word += count;
            Ok(Segment {
                is_final: finality(words.as_deref()),
                start_s: start.number() + offset_s,
                end_s: end.number() + offset_s,
                id,
                text,
                words: block_words,
            })
        })
        .collect()
}

/// A segment's words; none when it has no list of them.
fn word_list<'s, 'a>(segment: &'s RawSegment<'a>) -> &'s [RawWord<'a>] {
    match segment {
        RawSegment::Object { words: Some(w), .. } => w,
        _ => &[],
    }
}

/// 1 when every word is final, 0 when one is not (a word without the flag is not final),
/// -1 without words.
fn finality(words: Option<&[RawWord]>) -> i32 {
    match words {
        Some(w) if !w.is_empty() => i32::from(w.iter().all(|w| matches!(w.is_final, Loose::Bool(true)))),
        _ => -1,
    }
}

fn parse_error(v: &Value) -> (String, i32) {
    let code = |v: Option<&Value>| {
        v.and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(0)
    };
    match v {
        Value::String(s) => (s.clone(), 0),
        Value::Object(o) => match o.get("message").and_then(Value::as_str) {
            Some(m) => (m.to_string(), code(o.get("code"))),
            None => (v.to_string(), code(o.get("code"))),
        },
        other => (other.to_string(), 0),
    }
}

/// A JSON value read only as far as a field needs: scalars kept, lists and objects skipped.
#[derive(Debug, Default)]
enum Loose<'a> {
    /// The field was not there.
    #[default]
    Absent,
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// A list or an object.
    Other,
}

impl Loose<'_> {
    /// The number, NaN for anything else.
    fn number(&self) -> f64 {
        match *self {
            Loose::U64(u) => u as f64,
            Loose::I64(i) => i as f64,
            Loose::F64(f) => f,
            _ => f64::NAN,
        }
    }
}

/// The message: its known fields, or that it is not an object.
enum Raw<'a> {
    Object(RawMessage<'a>),
    NotObject,
}

#[derive(Default)]
struct RawMessage<'a> {
    segments: Option<Segments<'a>>,
    checkpoint_id: Loose<'a>,
    object: Loose<'a>,
    trace_id: Loose<'a>,
    reset_id: Loose<'a>,
    /// Rare and of any shape: kept whole.
    error: Option<Value>,
}

enum Segments<'a> {
    List(Vec<RawSegment<'a>>),
    NotList,
}

enum RawSegment<'a> {
    Object {
        id: Loose<'a>,
        text: Loose<'a>,
        start: Loose<'a>,
        end: Loose<'a>,
        /// None unless `words` is a list.
        words: Option<Vec<RawWord<'a>>>,
    },
    NotObject,
}

/// A word; every field at its default when the word is not an object.
#[derive(Default)]
struct RawWord<'a> {
    word: Loose<'a>,
    start: Loose<'a>,
    end: Loose<'a>,
    probability: Loose<'a>,
    is_final: Loose<'a>,
}

/// Visits any JSON value: `scalar` builds the result from a scalar, `map` from an object,
/// `seq` from a list. Anything a visitor does not take is skipped.
trait AnyVisitor<'de>: Sized {
    type Value;
    fn scalar(self, v: Loose<'de>) -> Self::Value;
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.scalar(Loose::Other))
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.scalar(Loose::Other))
    }
}

/// Adapts an `AnyVisitor` to serde's `Visitor`.
struct Any<V>(V);

impl<'de, V: AnyVisitor<'de>> Visitor<'de> for Any<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::Bool(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::U64(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::I64(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::F64(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::Str(Cow::Owned(v))))
    }
    fn visit_unit<E>(self) -> Result<V::Value, E> {
        Ok(self.0.scalar(Loose::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.seq(seq)
    }
}

/// Implements `Deserialize` through an `AnyVisitor` that `Default` makes.
macro_rules! deserialize_any {
    ($t:ident, $v:ident) => {
        impl<'de> Deserialize<'de> for $t<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Any($v))
            }
        }
    };
}

struct LooseV;
impl<'de> AnyVisitor<'de> for LooseV {
    type Value = Loose<'de>;
    fn scalar(self, v: Loose<'de>) -> Loose<'de> {
        v
    }
}
deserialize_any!(Loose, LooseV);

/// Object keys as they are compared: borrowed when they need no unescaping.
struct Key<'a>(Cow<'a, str>);
impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyV;
        impl<'de> Visitor<'de> for KeyV {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyV)
    }
}

/// The message's fields. A key given twice counts with its last value, as when an object is
/// read whole; so do a segment's and a word's.
struct RawV;
impl<'de> AnyVisitor<'de> for RawV {
    type Value = Raw<'de>;
    fn scalar(self, _: Loose<'de>) -> Raw<'de> {
        Raw::NotObject
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        let mut m = RawMessage::default();
        while let Some(Key(k)) = map.next_key()? {
            match &*k {
                "segments" => m.segments = Some(map.next_value()?),
                "checkpoint_id" => m.checkpoint_id = map.next_value()?,
                "object" => m.object = map.next_value()?,
                "trace_id" => m.trace_id = map.next_value()?,
                "reset_id" => m.reset_id = map.next_value()?,
                "error" => m.error = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Raw::Object(m))
    }
}
deserialize_any!(Raw, RawV);

struct SegmentsV;
impl<'de> AnyVisitor<'de> for SegmentsV {
    type Value = Segments<'de>;
    fn scalar(self, _: Loose<'de>) -> Segments<'de> {
        Segments::NotList
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Segments<'de>, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(s) = seq.next_element()? {
            list.push(s);
        }
        Ok(Segments::List(list))
    }
}
deserialize_any!(Segments, SegmentsV);

struct SegmentV;
impl<'de> AnyVisitor<'de> for SegmentV {
    type Value = RawSegment<'de>;
    fn scalar(self, _: Loose<'de>) -> RawSegment<'de> {
        RawSegment::NotObject
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSegment<'de>, A::Error> {
        let (mut id, mut text, mut start, mut end, mut words) = Default::default();
        while let Some(Key(k)) = map.next_key()? {
            match &*k {
                "id" => id = map.next_value()?,
                "text" => text = map.next_value()?,
                "start" => start = map.next_value()?,
                "end" => end = map.next_value()?,
                "words" => words = map.next_value::<Words>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RawSegment::Object {
            id,
            text,
            start,
            end,
            words,
        })
    }
}
deserialize_any!(RawSegment, SegmentV);

/// A segment's `words`: the list, or None when it is not a list.
struct Words<'a>(Option<Vec<RawWord<'a>>>);

struct WordsV;
impl<'de> AnyVisitor<'de> for WordsV {
    type Value = Words<'de>;
    fn scalar(self, _: Loose<'de>) -> Words<'de> {
        Words(None)
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Words<'de>, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(w) = seq.next_element()? {
            list.push(w);
        }
        Ok(Words(Some(list)))
    }
}
deserialize_any!(Words, WordsV);

struct WordV;
impl<'de> AnyVisitor<'de> for WordV {
    type Value = RawWord<'de>;
    fn scalar(self, _: Loose<'de>) -> RawWord<'de> {
        RawWord::default()
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawWord<'de>, A::Error> {
        let mut w = RawWord::default();
        while let Some(Key(k)) = map.next_key()? {
            match &*k {
                "word" => w.word = map.next_value()?,
                "start" => w.start = map.next_value()?,
                "end" => w.end = map.next_value()?,
                "probability" => w.probability = map.next_value()?,
                "is_final" => w.is_final = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(w)
    }
}
deserialize_any!(RawWord, WordV);

pub fn checkpoint(id: &str) -> String {
    json!({ "checkpoint_id": id }).to_string()
}

pub fn trace(event_id: &str, id: &str) -> String {
    json!({ "event_id": event_id, "object": "stt.input.trace", "trace_id": id }).to_string()
}

pub fn clear(event_id: &str, id: &str) -> String {
    json!({ "event_id": event_id, "object": "stt.state.clear", "reset_id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::Word;

    fn parse_at0(text: &str) -> Result<ServerMessage, String> {
        parse(text, 0.0)
    }

    #[test]
    fn segments_with_string_and_number_ids() {
        let m =
            parse_at0(r#"{"segments":[{"id":"0","text":"a"},{"id":10,"text":"b","extra":1}],"task":"x"}"#)
                .unwrap();
        let s = m.segments.unwrap();
        assert_eq!(s[0].id, "0");
        assert_eq!(s[1].id, "10");
        assert_eq!(s[1].is_final, -1);
        assert!(s[1].start_s.is_nan());
    }

    #[test]
    fn finality_and_times_from_words() {
        let m = parse_at0(
            r#"{"segments":[
                {"id":0,"text":"a b","start":0.5,"end":1.25,"words":[{"word":"a","is_final":true},{"word":"b","is_final":true}]},
                {"id":1,"text":"c d","words":[{"word":"c","is_final":true},{"word":"d","is_final":false}]},
                {"id":2,"text":"e","words":[{"word":"e"}]}]}"#,
        )
        .unwrap();
        let s = m.segments.unwrap();
        assert_eq!((s[0].is_final, s[0].start_s, s[0].end_s), (1, 0.5, 1.25));
        assert_eq!(s[1].is_final, 0);
        assert_eq!(s[2].is_final, 0);
    }

    #[test]
    fn words_with_times_probabilities_and_finality() {
        let m = parse(
            r#"{"segments":[
                {"id":0,"text":"a b","start":0.5,"end":1.25,"words":[
                    {"word":" a","start":0.5,"end":0.75,"probability":0.875,"is_final":true},
                    {"word":"b","start":0.75,"end":1.25,"is_final":false}]},
                {"id":1,"text":"no words"},
                {"id":2,"text":"c","words":[{"word":"c","probability":"high"},{"start":3}]}]}"#,
            10.0,
        )
        .unwrap();
        let s = m.segments.unwrap();
        assert_eq!((s[0].start_s, s[0].end_s), (10.5, 11.25));
        let a: Vec<Word> = s[0].words.as_ref().unwrap().iter().collect();
        assert_eq!(
            a[0],
            Word {
                text: " a",
                start_s: 10.5,
                end_s: 10.75,
                probability: 0.875,
                is_final: 1
            }
        );
        assert_eq!((a[1].text, a[1].end_s, a[1].is_final), ("b", 11.25, 0));
        assert!(a[1].probability.is_nan());
        assert!(s[1].words.is_none());
        let c = s[2].words.as_ref().unwrap();
        assert_eq!(c.len(), 2);
        let (c0, c1) = (c.get(0).unwrap(), c.get(1).unwrap());
        assert!(c0.start_s.is_nan() && c0.probability.is_nan());
        assert_eq!((c0.text, c0.is_final), ("c", -1));
        assert_eq!((c1.text, c1.start_s), ("", 13.0));
        // One block for the whole message.
        assert!(s[0].words.as_ref().unwrap().same_block(c));
    }

    #[test]
    fn control_answers_and_errors() {
        assert_eq!(
            parse_at0(r#"{"checkpoint_id":"final"}"#)
                .unwrap()
                .checkpoint_id
                .as_deref(),
            Some("final")
        );
        assert_eq!(
            parse_at0(r#"{"object":"stt.output.trace","trace_id":"t1"}"#)
                .unwrap()
                .trace_id
                .as_deref(),
            Some("t1")
        );
        assert_eq!(
            parse_at0(r#"{"object":"stt.state.cleared","reset_id":"r"}"#)
                .unwrap()
                .reset_id
                .as_deref(),
            Some("r")
        );
        assert_eq!(
            parse_at0(r#"{"error":"quota"}"#).unwrap().error,
            Some(("quota".into(), 0))
        );
        assert_eq!(
            parse_at0(r#"{"error":{"message":"bad audio","code":400}}"#)
                .unwrap()
                .error,
            Some(("bad audio".into(), 400))
        );
    }

    #[test]
    fn escapes_repeated_keys_and_odd_shapes() {
        let m = parse_at0(
            r#"{"segments":[{"id":"x","text":"first"}],
                "segments":[{"id":12.0,"text":"caf\u00e9 \"quoted\"","t\u0065xt":"last","words":[
                    7,{"word":"a","word":"b","is_final":true,"start":"1"}]},
                    {"id":-3,"text":null,"words":{"word":"c"},"start":1e20}],
                "error":null,"unknown":{"deep":[[{"a":1}]]}}"#,
        )
        .unwrap();
        let s = m.segments.unwrap();
        assert_eq!(
            (s[0].id.as_str(), s[0].text.as_str(), s[0].is_final),
            ("12", "last", 0)
        );
        let w: Vec<Word> = s[0].words.as_ref().unwrap().iter().collect();
        assert_eq!((w[0].text, w[0].is_final), ("", -1));
        assert!(w[0].start_s.is_nan() && w[1].start_s.is_nan());
        assert_eq!((w[1].text, w[1].is_final), ("b", 1));
        assert_eq!(
            (s[1].id.as_str(), s[1].text.as_str(), s[1].is_final),
            ("-3", "", -1)
        );
        assert!(s[1].words.is_none() && s[1].start_s == 1e20);
        assert_eq!(m.error, Some(("null".into(), 0)));
        assert_eq!(
            parse_at0(r#"{"checkpoint_id":1.5}"#)
                .unwrap()
                .checkpoint_id
                .as_deref(),
            Some("1.5")
        );
        assert_eq!(
            parse_at0(r#"{"checkpoint_id":"caf\u00e9 \"q\""}"#)
                .unwrap()
                .checkpoint_id
                .as_deref(),
            Some("café \"q\"")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // Skipped values are skipped without recursing; values kept stop at serde_json's depth limit.
        for field in ["unknown", "segments", "error", "checkpoint_id"] {
            let deep = format!("{{\"{field}\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
            assert!(parse_at0(&deep).is_err(), "{field}");
        }
        let deep_words = format!(
            r#"{{"segments":[{{"id":1,"words":[{}]}}]}}"#,
            "[".repeat(100_000) + &"]".repeat(100_000)
        );
        assert_eq!(parse_at0(&deep_words).unwrap().segments.unwrap()[0].is_final, 0);
    }

    #[test]
    fn bad_messages_are_errors() {
        for bad in [
            "not json",
            "[1,2]",
            r#"{"hello":1}"#,
            r#"{"segments":{}}"#,
            r#"{"segments":[{"text":"no id"}]}"#,
            r#"{"segments":[{"id":[1],"text":"x"}]}"#,
            r#"{"segments":[{"id":1,"text":5}]}"#,
            r#"{"object":"stt.output.trace"}"#,
        ] {
            assert!(parse_at0(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_messages() {
        assert_eq!(checkpoint("a\"b"), r#"{"checkpoint_id":"a\"b"}"#);
        let t: Value = serde_json::from_str(&trace("e1", "t")).unwrap();
        assert_eq!(t["object"], "stt.input.trace");
        assert_eq!(t["trace_id"], "t");
        let c: Value = serde_json::from_str(&clear("e2", "r")).unwrap();
        assert_eq!(c["object"], "stt.state.clear");
        assert_eq!(c["reset_id"], "r");
    }
}
