//! Transcript state: the map id -> segment of the protocol, kept in id order.

use std::cmp::Ordering;

/// One segment as the caller sees it.
#[derive(Clone, Debug)]
pub struct Segment {
    pub id: String,
    pub text: String,
    /// 1 every word final, 0 some word not final, -1 unknown (no words).
    pub is_final: i32,
    /// Seconds from the start of the connection's audio; NaN when the server sent none.
    pub start_s: f64,
    pub end_s: f64,
}

impl PartialEq for Segment {
    fn eq(&self, o: &Segment) -> bool {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || a == b;
        self.id == o.id
            && self.text == o.text
            && self.is_final == o.is_final
            && same(self.start_s, o.start_s)
            && same(self.end_s, o.end_s)
    }
}

/// What one update did, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Added, or text/finality/times changed.
    Upserted(Segment),
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

#[derive(Default)]
pub struct Transcript {
    /// Sorted by key.
    segments: Vec<(Key, Segment)>,
    next_other: u64,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript::default()
    }

    fn key_of(&self, id: &str) -> Key {
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            let t = id.trim_start_matches('0');
            let digits = if t.is_empty() { "0" } else { t };
            return Key::Numeric {
                digits: digits.to_string(),
                id: id.to_string(),
            };
        }
        let known = self.segments.iter().find_map(|(k, s)| match k {
            Key::Other(n) if s.id == id => Some(*n),
            _ => None,
        });
        Key::Other(known.unwrap_or(self.next_other))
    }

    /// Applies one server update: each segment overwrites or adds its id; then every segment
    /// whose id orders after the largest id of the update is removed. An empty update changes
    /// nothing. Returns only what actually changed.
    pub fn apply(&mut self, update: &[Segment]) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut largest: Option<Key> = None;
        for seg in update {
            let key = self.key_of(&seg.id);
            if matches!(key, Key::Other(n) if n == self.next_other) {
                self.next_other += 1;
            }
            match self.segments.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => {
                    if self.segments[i].1 != *seg {
                        self.segments[i].1 = seg.clone();
                        changes.push(Change::Upserted(seg.clone()));
                    }
                }
                Err(i) => {
                    self.segments.insert(i, (key.clone(), seg.clone()));
                    changes.push(Change::Upserted(seg.clone()));
                }
            }
            if largest.as_ref().is_none_or(|l| key > *l) {
                largest = Some(key);
            }
        }
        if let Some(largest) = largest {
            let keep = self.segments.partition_point(|(k, _)| *k <= largest);
            changes.extend(self.segments.drain(keep..).map(|(_, s)| Change::Removed(s)));
        }
        changes
    }

    /// Removes every segment that is not final, in id order.
    pub fn remove_unfinished(&mut self) -> Vec<Segment> {
        let (keep, gone): (Vec<_>, Vec<_>) = self.segments.drain(..).partition(|(_, s)| s.is_final == 1);
        self.segments = keep;
        gone.into_iter().map(|(_, s)| s).collect()
    }

    /// The largest numeric id, if any.
    pub fn max_numeric_id(&self) -> Option<u128> {
        self.segments
            .iter()
            .filter_map(|(k, _)| match k {
                Key::Numeric { digits, .. } => digits.parse().ok(),
                Key::Other(_) => None,
            })
            .max()
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().map(|(_, s)| s)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, text: &str) -> Segment {
        Segment {
            id: id.into(),
            text: text.into(),
            is_final: -1,
            start_s: f64::NAN,
            end_s: f64::NAN,
        }
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
        assert_eq!(t.apply(&[seg("0", "a"), f.clone()]), vec![Change::Upserted(f)]);
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
}
