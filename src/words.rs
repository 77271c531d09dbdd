//! Words with their times. The words of one server message are kept in one allocation, as the
//! C structs the C API hands out, with their texts after them: the segments and events made
//! from the message share it, so a word costs no copy per event and no allocation of its own.

use std::ffi::{c_char, CStr};
use std::fmt;
use std::mem::{align_of, size_of, MaybeUninit};
use std::sync::Arc;

/// One word of a segment. Fields are only ever appended; reach words through
/// fwasr_event_word and fwasr_segment_word, never by indexing an array of them.
#[repr(C)]
pub struct fwasr_word {
    /// The word as the server wrote it (it may begin with a space). Never NULL; valid as long
    /// as the event or snapshot it came from.
    pub text: *const c_char,
    /// Start and end in seconds of the stream's audio (on the same clock as segment times,
    /// offset across reconnects); NaN when the server sent none (see
    /// fwasr_config_set_word_timestamps).
    pub start_s: f64,
    pub end_s: f64,
    /// The server's confidence in the word, from 0 to 1; NaN when it sent none.
    pub probability: f64,
    /// 1 final, 0 not final (the server may still change it), -1 unknown.
    pub is_final: i32,
}

// The structs sit at the start of a buffer of u64s.
const _: () = assert!(align_of::<fwasr_word>() <= align_of::<u64>());

/// A word as read from a server message, before it is stored.
#[derive(Clone, Copy, Debug)]
pub struct WordIn<'a> {
    pub text: &'a str,
    pub start_s: f64,
    pub end_s: f64,
    pub probability: f64,
    pub is_final: i32,
}

/// A word as Rust code sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Word<'a> {
    pub text: &'a str,
    pub start_s: f64,
    pub end_s: f64,
    pub probability: f64,
    pub is_final: i32,
}

/// The words of one message: `count` fwasr_word structs, then their NUL-terminated texts
/// (NUL characters of the words dropped). Written once before it is shared, never after; the
/// text pointers point into the same allocation, which never moves.
#[derive(Clone)]
pub(crate) struct WordBlock {
    buf: Arc<[MaybeUninit<u64>]>,
    count: usize,
}

impl WordBlock {
    /// Stores the words `words` yields (it is walked twice: to size the block, then to fill
    /// it), or None when there are none.
    pub fn build<'a>(words: impl Iterator<Item = WordIn<'a>> + Clone) -> Option<WordBlock> {
        let (count, text_bytes) = words
            .clone()
            .fold((0usize, 0usize), |(n, b), w| (n + 1, b + w.text.len() + 1));
        if count == 0 {
            return None;
        }
        let structs = count * size_of::<fwasr_word>();
        let mut buf = Arc::<[u64]>::new_uninit_slice((structs + text_bytes).div_ceil(8));
        let base = Arc::get_mut(&mut buf)
            .expect("not shared yet")
            .as_mut_ptr()
            .cast::<u8>();
        let mut text_at = structs;
        for (i, w) in words.take(count).enumerate() {
            // SAFETY: the buffer holds `count` structs (aligned: a u64 buffer, checked above)
            // followed by `text_bytes` bytes, and the walk yields what the sizing walk did;
            // each text and its NUL fit in the bytes counted for it.
            unsafe {
                let text = base.add(text_at);
                let mut n = 0;
                for &b in w.text.as_bytes().iter().filter(|&&b| b != 0) {
                    *text.add(n) = b;
                    n += 1;
                }
                *text.add(n) = 0;
                text_at += w.text.len() + 1;
                base.cast::<fwasr_word>().add(i).write(fwasr_word {
                    text: text.cast::<c_char>(),
                    start_s: w.start_s,
                    end_s: w.end_s,
                    probability: w.probability,
                    is_final: w.is_final,
                });
            }
        }
        Some(WordBlock { buf, count })
    }

    /// Words `first..first + count` of the block, or None when there are none.
    pub fn slice(&self, first: usize, count: usize) -> Option<Words> {
        assert!(
            first + count <= self.count,
            "words {first}+{count} of {}",
            self.count
        );
        (count > 0).then(|| Words {
            buf: self.buf.clone(),
            first: first as u32,
            count: count as u32,
        })
    }
}

/// The words of one segment: a range of its message's block, shared by reference.
#[derive(Clone)]
pub struct Words {
    buf: Arc<[MaybeUninit<u64>]>,
    first: u32,
    count: u32,
}

impl Words {
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The i-th word as the C API hands it out, valid while these words live.
    pub fn raw(&self, i: usize) -> Option<&fwasr_word> {
        (i < self.len()).then(|| {
            // SAFETY: the block was filled with at least first + count structs before it was
            // shared and is never written again.
            unsafe {
                &*self
                    .buf
                    .as_ptr()
                    .cast::<fwasr_word>()
                    .add(self.first as usize + i)
            }
        })
    }

    pub fn get(&self, i: usize) -> Option<Word<'_>> {
        self.raw(i).map(|w| Word {
            // SAFETY: texts are NUL-terminated UTF-8 (a str with its NULs dropped) inside the
            // block, which lives as long as the borrow of self.
            text: unsafe { CStr::from_ptr(w.text) }.to_str().unwrap_or(""),
            start_s: w.start_s,
            end_s: w.end_s,
            probability: w.probability,
            is_final: w.is_final,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = Word<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Whether both share one stored block (no copy was made).
    pub fn same_block(&self, other: &Words) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
}

impl PartialEq for Words {
    fn eq(&self, o: &Words) -> bool {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || a == b;
        self.len() == o.len()
            && self.iter().zip(o.iter()).all(|(a, b)| {
                a.text == b.text
                    && same(a.start_s, b.start_s)
                    && same(a.end_s, b.end_s)
                    && same(a.probability, b.probability)
                    && a.is_final == b.is_final
            })
    }
}

impl fmt::Debug for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str, start_s: f64) -> WordIn<'_> {
        WordIn {
            text,
            start_s,
            end_s: start_s + 0.5,
            probability: 0.75,
            is_final: 1,
        }
    }

    #[test]
    fn one_block_holds_every_word_and_its_text() {
        let input = [w(" hello", 0.0), w("", 1.0), w("wo\0rld", 2.0), w("ünï", 3.0)];
        let block = WordBlock::build(input.iter().copied()).unwrap();
        let first = block.slice(0, 1).unwrap();
        let rest = block.slice(1, 3).unwrap();
        assert!(first.same_block(&rest));
        assert_eq!(first.get(0).unwrap().text, " hello");
        let texts: Vec<&str> = rest.iter().map(|w| w.text).collect();
        assert_eq!(texts, ["", "world", "ünï"]);
        assert_eq!(rest.get(2).unwrap().start_s, 3.0);
        assert_eq!(rest.get(3), None);
        assert!(rest.raw(3).is_none());
        assert_eq!(rest.raw(0).unwrap().probability, 0.75);
        assert!(block.slice(4, 0).is_none());
        assert!(WordBlock::build(std::iter::empty()).is_none());
    }

    #[test]
    fn words_compare_by_content() {
        let a = WordBlock::build([w("a", 0.0), w("b", f64::NAN)].into_iter()).unwrap();
        let b = WordBlock::build([w("a", 0.0), w("b", f64::NAN)].into_iter()).unwrap();
        let c = WordBlock::build([w("a", 0.0), w("c", f64::NAN)].into_iter()).unwrap();
        assert_eq!(a.slice(0, 2), b.slice(0, 2));
        assert_ne!(a.slice(0, 2), c.slice(0, 2));
        assert_ne!(a.slice(0, 2), a.slice(0, 1));
    }
}
