//! Transcript state: the map id -> segment of the protocol, kept in id order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::words::Words;

/// One segment as the caller sees it.
#[derive(Clone, Debug)]
pub struct Segment {
    pub id: String,
    pub text: String,
    /// 1 every word final, 0 some word not final, -1 unknown (no words).
    pub is_final: i32,
    /// Seconds from the start of the stream's audio; NaN when the server sent none.
    pub start_s: f64,
    pub end_s: f64,
    /// The words with their times, when the server sent words; shared with the message's
    /// other segments.
    pub words: Option<Words>,
}

impl Segment {
    /// A segment with no words and no times, as tests build them.
    #[cfg(test)]
    pub(crate) fn untimed(id: &str, text: &str) -> Segment {
        Segment {
            id: id.into(),
            text: text.into(),
            is_final: -1,
            start_s: f64::NAN,
            end_s: f64::NAN,
            words: None,
        }
    }
}

impl PartialEq for Segment {
    fn eq(&self, o: &Segment) -> bool {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || a == b;
        self.id == o.id
            && self.text == o.text
            && self.is_final == o.is_final
            && same(self.start_s, o.start_s)
            && same(self.end_s, o.end_s)
            && self.words == o.words
    }
}

/// What one update did, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Added, or text/finality/times/words changed; `became_final` when it is final now and
    /// was not before (or is new and final).
    Upserted { segment: Segment, became_final: bool },
    /// Removed by retraction; carries the removed segment.
    Removed(Segment),
}

/// Ordering key: numeric ids by value ("10" after "9"), all others after them in first-seen
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Numeric { digits: String, id: String },
    Other(u64),
}

impl Ord for Key {
    fn cmp(&self, o: &Key) -> Ordering {
        match (self, o) {
            (Key::Numeric { digits: a, id: ia }, Key::Numeric { digits: b, id: ib }) => a
                .len()
                .cmp(&b.len())
                .then_with(|| a.cmp(b))
                .then_with(|| ia.cmp(ib)),
            (Key::Numeric { .. }, Key::Other(_)) => Ordering::Less,
            (Key::Other(_), Key::Numeric { .. }) => Ordering::Greater,
            (Key::Other(a), Key::Other(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Key) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The segments in id order. Every operation a server message triggers costs O(log n) per
/// segment whatever the ids look like, so a hostile server cannot make it quadratic (100k
/// string ids, or numeric ids in descending order).
#[derive(Default)]
pub struct Transcript {
    segments: BTreeMap<Key, Segment>,
    /// First-seen number of each non-numeric id present, so its key is found without a scan.
    /// Entries go with their segment, so ids a server retracts do not pile up.
    others: HashMap<String, u64>,
    next_other: u64,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript::default()
    }

    fn key_of(&mut self, id: &str) -> Key {
        if let Some(digits) = numeric(id) {
            return Key::Numeric {
                digits: digits.to_string(),
                id: id.to_string(),
            };
        }
        let n = *self.others.entry(id.to_string()).or_insert_with(|| {
            self.next_other += 1;
            self.next_other - 1
        });
        Key::Other(n)
    }

    fn forget(&mut self, key: &Key, s: &Segment) {
        if matches!(key, Key::Other(_)) {
            self.others.remove(&s.id);
        }
    }

    /// Applies one server update: each segment overwrites or adds its id; then every segment
    /// whose id orders after the largest id of the update is removed. An empty update changes
    /// nothing. Returns only what actually changed.
    pub fn apply(&mut self, update: &[Segment]) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut largest: Option<Key> = None;
        for seg in update {
            let key = self.key_of(&seg.id);
            match self.segments.get_mut(&key) {
                Some(old) if old == seg => {}
                Some(old) => {
                    let became_final = seg.is_final == 1 && old.is_final != 1;
                    *old = seg.clone();
                    changes.push(Change::Upserted {
                        segment: seg.clone(),
                        became_final,
                    });
                }
                None => {
                    self.segments.insert(key.clone(), seg.clone());
                    changes.push(Change::Upserted {
                        segment: seg.clone(),
                        became_final: seg.is_final == 1,
                    });
                }
            }
            if largest.as_ref().is_none_or(|l| key > *l) {
                largest = Some(key);
            }
        }
        if let Some(largest) = largest {
            let mut gone = self.segments.split_off(&largest);
            if let Some(kept) = gone.remove(&largest) {
                self.segments.insert(largest, kept);
            }
            for (k, s) in gone {
                self.forget(&k, &s);
                changes.push(Change::Removed(s));
            }
        }
        changes
    }

    /// Removes every segment that is not final, in id order.
    pub fn remove_unfinished(&mut self) -> Vec<Segment> {
        let all = std::mem::take(&mut self.segments);
        let mut gone = Vec::new();
        for (k, s) in all {
            if s.is_final == 1 {
                self.segments.insert(k, s);
            } else {
                self.forget(&k, &s);
                gone.push(s);
            }
        }
        gone
    }

    /// The largest numeric id, as decimal digits without leading zeros (ids are not bounded
    /// in length, so they are not parsed into an integer).
    pub fn max_numeric_id(&self) -> Option<&str> {
        self.segments
            .range(..Key::Other(0))
            .next_back()
            .and_then(|(k, _)| match k {
                Key::Numeric { digits, .. } => Some(digits.as_str()),
                Key::Other(_) => None,
            })
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values()
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Segment texts in id order, each trimmed, empty ones skipped, joined by one space.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in self.segments() {
            let t = s.text.trim();
            if t.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
        }
        out
    }
}

/// The digits of a numeric id without leading zeros ("0" for all zeros); None when the id is
/// not all ASCII digits.
pub(crate) fn numeric(id: &str) -> Option<&str> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = id.trim_start_matches('0');
    Some(if t.is_empty() { "0" } else { t })
}

/// The sum of two decimal numbers given as digits, of any length: ids are renumbered without
/// an integer type that could wrap.
pub(crate) fn decimal_add(a: &str, b: &str) -> String {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let digit = |d: &[u8]| d.len().checked_sub(i + 1).map_or(0, |j| d[j] - b'0');
        let sum = digit(a) + digit(b) + carry;
        out.push(b'0' + sum % 10);
        carry = sum / 10;
    }
    if carry > 0 {
        out.push(b'0' + carry);
    }
    out.reverse();
    let s = String::from_utf8(out).expect("ASCII digits");
    numeric(&s).unwrap_or("0").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, text: &str) -> Segment {
        Segment::untimed(id, text)
    }

    fn ids(t: &Transcript) -> Vec<String> {
        t.segments().map(|s| s.id.clone()).collect()
    }

    #[test]
    fn seed_example_upserts() {
        let mut t = Transcript::new();
        t.apply(&[
            seg("0", "This is the first sentence"),
            seg("1", "This is the second sentence"),
        ]);
        let ch = t.apply(&[
            seg("1", "This is the second sentence modified"),
            seg("2", "This is the third sentence"),
        ]);
        assert_eq!(ch.len(), 2);
        assert_eq!(
            t.text(),
            "This is the first sentence This is the second sentence modified This is the third sentence"
        );
    }

    #[test]
    fn numeric_order_and_retraction() {
        let mut t = Transcript::new();
        let update: Vec<Segment> = (0..=11).map(|i| seg(&i.to_string(), &format!("s{i}"))).collect();
        t.apply(&update);
        assert_eq!(ids(&t), (0..=11).map(|i| i.to_string()).collect::<Vec<_>>());
        let ch = t.apply(&[seg("9", "nine")]);
        assert_eq!(ids(&t), (0..=9).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(ch.len(), 3);
        assert!(matches!(&ch[1], Change::Removed(s) if s.id == "10"));
        assert!(matches!(&ch[2], Change::Removed(s) if s.id == "11"));
    }

    #[test]
    fn unchanged_segments_raise_nothing() {
        let mut t = Transcript::new();
        t.apply(&[seg("0", "a"), seg("1", "b")]);
        assert!(t.apply(&[seg("0", "a"), seg("1", "b")]).is_empty());
        let mut f = seg("1", "b");
        f.is_final = 1;
        let became = |segment: &Segment, became_final| Change::Upserted {
            segment: segment.clone(),
            became_final,
        };
        assert_eq!(t.apply(&[seg("0", "a"), f.clone()]), vec![became(&f, true)]);
        f.text = "b2".into();
        assert_eq!(t.apply(&[seg("0", "a"), f.clone()]), vec![became(&f, false)]);
        let mut g = seg("2", "c");
        g.is_final = 1;
        assert_eq!(t.apply(&[g.clone()]), vec![became(&g, true)]);
    }

    #[test]
    fn non_numeric_ids_follow_numeric_in_first_seen_order() {
        let mut t = Transcript::new();
        t.apply(&[seg("b", "x"), seg("a", "y"), seg("3", "z")]);
        assert_eq!(ids(&t), ["3", "b", "a"]);
        t.apply(&[seg("b", "x2")]);
        assert_eq!(ids(&t), ["3", "b"]);
    }

    #[test]
    fn empty_update_changes_nothing() {
        let mut t = Transcript::new();
        t.apply(&[seg("0", "a")]);
        assert!(t.apply(&[]).is_empty());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn string_ids_are_looked_up_without_a_scan() {
        // 100k distinct string ids in one update, then each updated again: linear work.
        let mut t = Transcript::new();
        let update: Vec<Segment> = (0..100_000).map(|i| seg(&format!("s{i}"), "x")).collect();
        let started = std::time::Instant::now();
        assert_eq!(t.apply(&update).len(), 100_000);
        let again: Vec<Segment> = (0..100_000).map(|i| seg(&format!("s{i}"), "y")).collect();
        assert_eq!(t.apply(&again).len(), 100_000);
        assert_eq!(t.len(), 100_000);
        // Quadratic lookups took tens of seconds here; a generous bound for a loaded machine.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // Retracted string ids leave nothing behind.
        t.apply(&[seg("0", "first")]);
        assert_eq!(t.len(), 1);
        assert!(t.others.is_empty());
    }

    #[test]
    fn descending_numeric_ids_keep_their_order() {
        let mut t = Transcript::new();
        let update: Vec<Segment> = (0..1000).rev().map(|i| seg(&i.to_string(), "x")).collect();
        t.apply(&update);
        assert_eq!(ids(&t), (0..1000).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn ids_of_any_length_renumber_without_wrapping() {
        assert_eq!(decimal_add("0", "0"), "0");
        assert_eq!(decimal_add("999", "1"), "1000");
        let max = u128::MAX.to_string();
        assert_eq!(decimal_add(&max, "1"), "340282366920938463463374607431768211456");
        assert_eq!(decimal_add("1", &"9".repeat(50)), format!("1{}", "0".repeat(50)));
        let mut t = Transcript::new();
        t.apply(&[seg(&max, "a"), seg("5", "b")]);
        assert_eq!(t.max_numeric_id(), Some(max.as_str()));
        assert_eq!(numeric("0007"), Some("7"));
        assert_eq!(numeric("000"), Some("0"));
        assert_eq!(numeric("7a"), None);
    }
}
