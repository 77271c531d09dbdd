//! Fault modes, chosen by flags, for testing clients against a misbehaving server. Times are
//! seconds of the connection's audio clock, so a test says "after 0.5 s of audio" and gets it
//! whatever the machine's speed.

use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Refuse the upgrade with this HTTP status and body, from connection `refuse_from` on.
    pub refuse: Option<(u16, String)>,
    pub refuse_from: usize,
    /// The refusal's `Retry-After` header, as given (seconds or an HTTP date).
    pub retry_after: Option<String>,
    pub handshake_delay: Option<Duration>,
    /// Close with (code, reason) after this much audio.
    pub close_after: Option<(f64, u16, String)>,
    /// After that close handshake, keep the TCP connection open until the client drops it.
    pub hold_open: bool,
    /// After answering the final checkpoint, answer nothing more (not the client's close
    /// frame either) and keep the TCP connection open until the client drops it.
    pub mute_after_final: bool,
    /// Right after the upgrade, send bytes that are not a WebSocket frame (a text frame's
    /// header with the reserved bits set, announcing 4 KiB), then nothing, holding the
    /// connection open.
    pub not_a_frame: bool,
    /// Drop the TCP connection, no close frame, after this much audio.
    pub abort_after: Option<f64>,
    pub garbage_after: Option<f64>,
    pub error_after: Option<f64>,
    /// Stop reading from the socket after this much audio (the client's sends back up).
    pub stall_after: Option<f64>,
    pub reply_delay: Option<Duration>,
    /// Send one message of 8 MiB after the first audio.
    pub huge_message: bool,
    /// Send a ping frame after every N audio messages.
    pub ping_every: Option<u32>,
    /// Split every message into continuation frames of this many bytes.
    pub fragment: Option<usize>,
    /// Drop the TCP connection (both directions) this long after the upgrade, whatever the
    /// connection is doing.
    pub abort_after_ms: Option<Duration>,
    /// Stop reading and send transcript messages without pause, after this much audio.
    pub flood_after: Option<f64>,
    /// Stop reading and send ping frames without pause, after this much audio.
    pub ping_flood_after: Option<f64>,
}

pub const USAGE: &str = "fault modes (T: seconds of audio received on the connection):
  --refuse STATUS[:BODY]      refuse the upgrade with this HTTP status (401, 403, 429, 500, 503...)
  --refuse-from N             ... only from the server's Nth connection on (counting from 0)
  --retry-after VALUE         ... with this Retry-After header (seconds or an HTTP date)
  --handshake-delay MS        wait before answering the upgrade
  --close-after T:CODE[:REASON]  close with this code and reason
  --hold-open                 ... then keep the TCP connection open until the client drops it
  --mute-after-final          answer the final checkpoint, then nothing (not even a close frame)
  --not-a-frame               after the upgrade send bytes that are not a frame, then hold on
  --abort-after T             drop the TCP connection without a close frame
  --garbage-after T           send a text message that is not JSON
  --error-after T             send {\"error\": {...}}
  --stall-after T             stop reading from the socket
  --reply-delay MS            delay every reply
  --huge-message              send one 8 MiB transcript message after the first audio
  --ping-every N              send a ping frame after every N audio messages
  --fragment BYTES            split messages into continuation frames of BYTES
  --abort-after-ms MS         drop every connection MS milliseconds after its upgrade
  --flood-after T             stop reading; send transcript messages as fast as the client takes them
  --ping-flood-after T        stop reading; send ping frames as fast as the client takes them";

impl Faults {
    /// Takes one fault flag and its value; false if `flag` is not a fault flag.
    pub fn parse(
        &mut self,
        flag: &str,
        value: &mut dyn FnMut() -> Result<String, String>,
    ) -> Result<bool, String> {
        let secs = |v: String| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag} needs seconds, got {v}"))
        };
        let ms = |v: String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{flag} needs milliseconds, got {v}"))
        };
        match flag {
            "--refuse" => {
                let v = value()?;
                let (status, body) = v.split_once(':').unwrap_or((&v, ""));
                let status: u16 = status
                    .parse()
                    .map_err(|_| format!("--refuse needs an HTTP status, got {status}"))?;
                let body = if body.is_empty() {
                    format!(r#"{{"error":{{"message":"refused by fault mode","code":{status}}}}}"#)
                } else {
                    body.to_string()
                };
                self.refuse = Some((status, body));
            }
            "--refuse-from" => {
                let v = value()?;
                self.refuse_from = v
                    .parse()
                    .map_err(|_| format!("--refuse-from needs a count, got {v}"))?;
            }
            "--retry-after" => self.retry_after = Some(value()?),
            "--handshake-delay" => self.handshake_delay = Some(ms(value()?)?),
            "--close-after" => {
                let v = value()?;
                let mut parts = v.splitn(3, ':');
                let t = secs(parts.next().unwrap_or_default().to_string())?;
                let code = parts
                    .next()
                    .and_then(|c| c.parse().ok())
                    .ok_or("--close-after needs T:CODE[:REASON]")?;
                self.close_after = Some((t, code, parts.next().unwrap_or("").to_string()));
            }
            "--hold-open" => self.hold_open = true,
            "--mute-after-final" => self.mute_after_final = true,
            "--not-a-frame" => self.not_a_frame = true,
            "--abort-after" => self.abort_after = Some(secs(value()?)?),
            "--garbage-after" => self.garbage_after = Some(secs(value()?)?),
            "--error-after" => self.error_after = Some(secs(value()?)?),
            "--stall-after" => self.stall_after = Some(secs(value()?)?),
            "--reply-delay" => self.reply_delay = Some(ms(value()?)?),
            "--huge-message" => self.huge_message = true,
            "--abort-after-ms" => self.abort_after_ms = Some(ms(value()?)?),
            "--flood-after" => self.flood_after = Some(secs(value()?)?),
            "--ping-flood-after" => self.ping_flood_after = Some(secs(value()?)?),
            "--ping-every" => {
                let v = value()?;
                self.ping_every = Some(
                    v.parse()
                        .map_err(|_| format!("--ping-every needs a count, got {v}"))?,
                );
            }
            "--fragment" => {
                let v = value()?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--fragment needs a byte count, got {v}"))?;
                self.fragment = Some(n.max(1));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// One-shot triggers of a connection.
#[derive(Default)]
pub struct Fired {
    pub garbage: bool,
    pub error: bool,
    pub huge: bool,
}
