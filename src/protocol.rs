//! Protocol messages: what the server sends, parsed defensively, and what the client sends.

use serde_json::{json, Map, Value};

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
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("server sent a message that is not JSON ({e})"))?;
    let Value::Object(obj) = value else {
        return Err("server sent JSON that is not an object".into());
    };
    let mut msg = ServerMessage::default();
    if let Some(segs) = obj.get("segments") {
        msg.segments = Some(parse_segments(segs, offset_s)?);
    }
    msg.checkpoint_id = id_field(&obj, "checkpoint_id")?;
    match obj.get("object").and_then(Value::as_str) {
        Some("stt.output.trace") => {
            msg.trace_id = Some(id_field(&obj, "trace_id")?.ok_or("trace answer without trace_id")?)
        }
        Some("stt.state.cleared") => {
            msg.reset_id = Some(id_field(&obj, "reset_id")?.ok_or("cleared answer without reset_id")?)
        }
        _ => {}
    }
    if let Some(err) = obj.get("error") {
        msg.error = Some(parse_error(err));
    }
    if msg == ServerMessage::default() {
        return Err("server sent a JSON object of an unknown shape".into());
    }
    Ok(msg)
}

fn id_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id_string(v)
            .map(Some)
            .ok_or_else(|| format!("{name} is neither a string nor a number")),
    }
}

/// Ids come as strings or numbers; numbers are written without a fraction when they have none.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

fn parse_segments(v: &Value, offset_s: f64) -> Result<Vec<Segment>, String> {
    let list = v.as_array().ok_or("\"segments\" is not a list")?;
    // Every word of the message in one block, then each segment takes its range of it.
    let block = WordBlock::build(list.iter().flat_map(|s| word_list(s).iter()).map(|w| WordIn {
        text: w.get("word").and_then(Value::as_str).unwrap_or(""),
        start_s: number(w.get("start")) + offset_s,
        end_s: number(w.get("end")) + offset_s,
        probability: number(w.get("probability")),
        is_final: w.get("is_final").and_then(Value::as_bool).map_or(-1, i32::from),
    }));
    let mut first_word = 0;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let obj = s.as_object().ok_or(format!("segment {i} is not an object"))?;
            let id = obj
                .get("id")
                .and_then(id_string)
                .ok_or(format!("segment {i} has no string or number id"))?;
            let text = match obj.get("text") {
                Some(Value::String(t)) => t.clone(),
                None | Some(Value::Null) => String::new(),
                Some(_) => return Err(format!("segment {id} has a text that is not a string")),
            };
            let count = word_list(s).len();
            let words = block.as_ref().and_then(|b| b.slice(first_word, count));
            first_word += count;
            Ok(Segment {
                is_final: finality(obj.get("words")),
                start_s: number(obj.get("start")) + offset_s,
                end_s: number(obj.get("end")) + offset_s,
                id,
                text,
                words,
            })
        })
        .collect()
}

/// A segment's words; none when it has no list of them.
fn word_list(segment: &Value) -> &[Value] {
    segment
        .get("words")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// 1 when every word is final, 0 when one is not (a word without the flag is not final),
/// -1 without words.
fn finality(words: Option<&Value>) -> i32 {
    match words.and_then(Value::as_array) {
        Some(w) if !w.is_empty() => i32::from(
            w.iter()
                .all(|w| w.get("is_final").and_then(Value::as_bool) == Some(true)),
        ),
        _ => -1,
    }
}

fn number(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(f64::NAN)
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
