//! The server's close frame as it was on the wire. tungstenite answers a close code that may
//! not be sent (999, 1005, 1006, 1015, 5000 ...) or a malformed close payload with its own 1002
//! "Protocol violation" and hands that back instead of what the server sent, so the caller
//! would see fwasr's reply as the server's reason. This watches the bytes the server sends
//! (after TLS) for close frames and keeps the last one's payload. It only reads frame headers
//! and skips payloads, so it costs a few comparisons per frame.

/// The longest control frame payload (RFC 6455 5.5); longer ones are not kept.
const CONTROL_MAX: usize = 125;

#[derive(Debug)]
enum Phase {
    /// The upgrade response, up to its blank line; `matched` bytes of "\r\n\r\n" seen.
    Http { matched: usize },
    /// A frame header: `have` bytes of it so far.
    Header { buf: [u8; 14], have: usize },
    /// A frame's payload: `left` bytes to skip, kept when `close`.
    Payload {
        left: u64,
        close: bool,
        mask: Option<[u8; 4]>,
    },
}

#[derive(Debug)]
pub struct CloseWatch {
    phase: Phase,
    partial: Vec<u8>,
    last: Option<Vec<u8>>,
    /// Why the server's bytes stopped being WebSocket frames; nothing is watched after that.
    invalid: Option<&'static str>,
}

impl Default for CloseWatch {
    fn default() -> Self {
        CloseWatch {
            phase: Phase::Http { matched: 0 },
            partial: Vec::new(),
            last: None,
            invalid: None,
        }
    }
}

/// A close frame as received: its code (None when the payload was empty or one byte) and
/// its reason, invalid UTF-8 replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawClose {
    pub code: Option<u16>,
    pub reason: String,
}

impl CloseWatch {
    /// Takes the next bytes the server sent.
    pub fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.invalid.is_none() {
            match &mut self.phase {
                Phase::Http { matched } => {
                    const END: &[u8] = b"\r\n\r\n";
                    let mut used = 0;
                    for &b in bytes {
                        used += 1;
                        *matched = if b == END[*matched] {
                            *matched + 1
                        } else {
                            usize::from(b == END[0])
                        };
                        if *matched == END.len() {
                            break;
                        }
                    }
                    if *matched == END.len() {
                        self.phase = Phase::Header {
                            buf: [0; 14],
                            have: 0,
                        };
                    }
                    bytes = &bytes[used..];
                }
                Phase::Header { buf, have } => {
                    buf[*have] = bytes[0];
                    *have += 1;
                    bytes = &bytes[1..];
                    if let Some(next) = header(&buf[..*have]) {
                        if let Some(why) = invalid(&buf[..*have]) {
                            self.invalid = Some(why);
                            return;
                        }
                        self.partial.clear();
                        self.phase = next;
                        self.finish_if_empty();
                    }
                }
                Phase::Payload { left, close, .. } => {
                    let n = bytes.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    if *close {
                        let room = CONTROL_MAX.saturating_sub(self.partial.len());
                        self.partial.extend_from_slice(&bytes[..n.min(room)]);
                    }
                    *left -= n as u64;
                    bytes = &bytes[n..];
                    self.finish_if_empty();
                }
            }
        }
    }

    /// Ends a payload that has no bytes left: keeps it if it was a close frame's.
    fn finish_if_empty(&mut self) {
        if let Phase::Payload { left: 0, close, mask } = &self.phase {
            if *close {
                let mut payload = std::mem::take(&mut self.partial);
                if let Some(m) = mask {
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= m[i % 4];
                    }
                }
                self.last = Some(payload);
            }
            self.phase = Phase::Header {
                buf: [0; 14],
                have: 0,
            };
        }
    }

    /// Why the server's bytes are not WebSocket frames, once a frame header showed it: a
    /// reader waiting for such a frame's payload could wait for ever.
    pub fn invalid(&self) -> Option<&'static str> {
        self.invalid
    }

    /// The last close frame the server sent, if any.
    pub fn last(&self) -> Option<RawClose> {
        let p = self.last.as_ref()?;
        Some(match p.as_slice() {
            [a, b, rest @ ..] => RawClose {
                code: Some(u16::from_be_bytes([*a, *b])),
                reason: String::from_utf8_lossy(rest).into_owned(),
            },
            _ => RawClose {
                code: None,
                reason: String::new(),
            },
        })
    }
}

/// Why a whole frame header from the server is not valid (RFC 6455 5.2 and 5.5; fwasr
/// negotiates no extension), or None. (A masked frame is read whole: tungstenite refuses it
/// then, and a masked close frame still says why the server closed.)
fn invalid(h: &[u8]) -> Option<&'static str> {
    if h[0] & 0x70 != 0 {
        return Some("reserved bits set, and no extension was negotiated");
    }
    if h[0] & 0x08 != 0 && (h[0] & 0x80 == 0 || h[1] & 0x7f > 125) {
        return Some("a fragmented or over-long control frame");
    }
    None
}

/// The payload phase once `h` holds a whole frame header, else None.
fn header(h: &[u8]) -> Option<Phase> {
    if h.len() < 2 {
        return None;
    }
    let masked = h[1] & 0x80 != 0;
    let (len_bytes, len7) = match h[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let need = 2 + len_bytes + if masked { 4 } else { 0 };
    if h.len() < need {
        return None;
    }
    let left = len7.unwrap_or_else(|| {
        h[2..2 + len_bytes]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    });
    let mask = masked.then(|| {
        let m = &h[2 + len_bytes..need];
        [m[0], m[1], m[2], m[3]]
    });
    Some(Phase::Payload {
        left,
        close: h[0] & 0x0f == 0x8,
        mask,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n < 65536 => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    fn close(code: u16, reason: &str) -> Vec<u8> {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        frame(0x8, &p)
    }

    #[test]
    fn finds_the_close_after_the_upgrade_and_other_frames_in_any_split() {
        let mut wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        wire.extend(frame(0x1, br#"{"segments":[]}"#));
        wire.extend(frame(0x2, &[0x88; 70_000]));
        wire.extend(frame(0x9, b"ping"));
        wire.extend(close(5000, "going away, badly"));
        for split in [1, 2, 3, 7, 100, wire.len()] {
            let mut w = CloseWatch::default();
            for piece in wire.chunks(split) {
                w.observe(piece);
            }
            assert_eq!(
                w.last(),
                Some(RawClose {
                    code: Some(5000),
                    reason: "going away, badly".into()
                }),
                "split {split}"
            );
        }
    }

    #[test]
    fn odd_payloads() {
        let mut w = CloseWatch::default();
        w.observe(b"HTTP/1.1 101 OK\r\n\r\n");
        assert_eq!(w.last(), None);
        w.observe(&frame(0x8, &[]));
        assert_eq!(w.last().unwrap().code, None);
        w.observe(&frame(0x8, &[3]));
        assert_eq!(w.last().unwrap().code, None);
        let mut bad = 1000u16.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0xff, b'x']);
        w.observe(&frame(0x8, &bad));
        assert_eq!(w.last().unwrap().reason, "\u{fffd}x");
        // A masked frame (servers must not mask, but the payload is still readable).
        let mut masked = vec![0x88, 0x80 | 4, 1, 2, 3, 4];
        masked.extend(
            [0x03u8, 0xe8, b'o', b'k']
                .iter()
                .zip([1u8, 2, 3, 4])
                .map(|(a, m)| a ^ m),
        );
        w.observe(&masked);
        assert_eq!(
            w.last(),
            Some(RawClose {
                code: Some(1000),
                reason: "ok".into()
            })
        );
    }

    #[test]
    fn a_header_no_server_may_send_stops_the_watch() {
        for (h, why) in [
            (vec![0xf1, 0x7e, 0x10, 0x00], "reserved bits"),
            (vec![0x09, 0x00], "control frame"),
            (vec![0x89, 0x7e, 0x00, 0x80], "control frame"),
        ] {
            let mut w = CloseWatch::default();
            w.observe(b"HTTP/1.1 101 OK\r\n\r\n");
            w.observe(&frame(0x1, b"{}"));
            assert_eq!(w.invalid(), None);
            w.observe(&h);
            assert!(
                w.invalid().is_some_and(|w| w.contains(why)),
                "{h:?}: {:?}",
                w.invalid()
            );
            // Nothing after it is taken for a frame.
            w.observe(&close(1000, "late"));
            assert_eq!(w.last(), None);
        }
    }
}
