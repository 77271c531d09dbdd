//! The audio front end: any supported input format, rate and channel count in, 16 kHz mono
//! s16le out. Runs on the session's network thread, on the raw input push copied into the
//! queue (push itself only copies); allocation-free after construction.

pub mod g711;
pub mod levels;
pub mod resample;

use crate::error::Error;
use resample::{Resampler, Timing, OUT_RATE};

/// Sample formats `push` accepts.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fwasr_format {
    /// Signed 16-bit little-endian PCM (the service's own format).
    FWASR_FORMAT_S16LE = 0,
    /// 32-bit float in the host's byte order, nominally -1.0 to 1.0 (values outside are clipped).
    FWASR_FORMAT_F32 = 1,
    /// ITU-T G.711 mu-law, one byte per sample, 8,000 Hz.
    FWASR_FORMAT_MULAW = 2,
    /// ITU-T G.711 A-law, one byte per sample, 8,000 Hz.
    FWASR_FORMAT_ALAW = 3,
}

pub use fwasr_format::*;
pub type Format = fwasr_format;

crate::c_enum::c_enum!(
    fwasr_format,
    "FWASR_FORMAT_",
    [
        FWASR_FORMAT_S16LE,
        FWASR_FORMAT_F32,
        FWASR_FORMAT_MULAW,
        FWASR_FORMAT_ALAW,
    ]
);

impl fwasr_format {
    pub fn sample_bytes(self) -> usize {
        match self {
            FWASR_FORMAT_S16LE => 2,
            FWASR_FORMAT_F32 => 4,
            FWASR_FORMAT_MULAW | FWASR_FORMAT_ALAW => 1,
        }
    }
}

pub(crate) const RATE_MIN: u32 = 8_000;
pub(crate) const RATE_MAX: u32 = 192_000;
pub(crate) const CHANNELS_MAX: u8 = 8;

/// What the caller pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputFormat {
    pub format: Format,
    pub rate: u32,
    pub channels: u8,
    /// Take this channel alone instead of averaging all of them.
    pub channel: Option<u8>,
}

impl Default for InputFormat {
    fn default() -> Self {
        InputFormat {
            format: FWASR_FORMAT_S16LE,
            rate: OUT_RATE as u32,
            channels: 1,
            channel: None,
        }
    }
}

impl InputFormat {
    /// Checks a combination; `channel` is kept from `self` and must still fit.
    pub fn with(&self, format: Format, rate: u32, channels: u32) -> Result<InputFormat, Error> {
        if !(RATE_MIN..=RATE_MAX).contains(&rate) {
            return Err(Error::invalid(format!(
                "sample_rate must be {RATE_MIN} to {RATE_MAX} Hz, got {rate}"
            )));
        }
        if !(1..=CHANNELS_MAX as u32).contains(&channels) {
            return Err(Error::invalid(format!(
                "channels must be 1 to {CHANNELS_MAX}, got {channels}"
            )));
        }
        if matches!(format, FWASR_FORMAT_MULAW | FWASR_FORMAT_ALAW) && rate != 8000 {
            return Err(Error::invalid(format!(
                "G.711 ({}) is defined at 8000 Hz, got {rate} Hz",
                format.short_c_name().to_str().unwrap_or("")
            )));
        }
        let next = InputFormat {
            format,
            rate,
            channels: channels as u8,
            channel: self.channel,
        };
        next.check_channel()?;
        Ok(next)
    }

    /// Selects one channel (`Some`) or the average of all (`None`).
    pub fn with_channel(&self, channel: Option<u32>) -> Result<InputFormat, Error> {
        let next = InputFormat {
            channel: channel.map(|c| c.min(255) as u8),
            ..*self
        };
        next.check_channel()?;
        Ok(next)
    }

    fn check_channel(&self) -> Result<(), Error> {
        match self.channel {
            Some(c) if c >= self.channels => Err(Error::invalid(format!(
                "channel {c} does not exist in {} channel input (channels count from 0)",
                self.channels
            ))),
            _ => Ok(()),
        }
    }

    pub fn frame_bytes(&self) -> usize {
        self.format.sample_bytes() * self.channels as usize
    }

    /// How many 16 kHz samples a number of input frames yields.
    pub fn timing(&self) -> Timing {
        Timing::for_rate(self.rate)
    }

    /// Already what the service takes: pushed bytes go to the wire unchanged.
    pub fn is_native(&self) -> bool {
        self.format == FWASR_FORMAT_S16LE && self.rate == OUT_RATE as u32 && self.channels == 1
    }
}

/// Decoding of one sample of a format to [-1, 1].
trait Sample {
    const SIZE: usize;
    fn decode(b: &[u8]) -> f32;
}

struct S16;
struct F32;
struct MuLaw;
struct ALaw;

impl Sample for S16 {
    const SIZE: usize = 2;
    #[inline]
    fn decode(b: &[u8]) -> f32 {
        i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0
    }
}

impl Sample for F32 {
    const SIZE: usize = 4;
    #[inline]
    fn decode(b: &[u8]) -> f32 {
        let v = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        if v.is_nan() {
            0.0
        } else {
            v.clamp(-1.0, 1.0)
        }
    }
}

impl Sample for MuLaw {
    const SIZE: usize = 1;
    #[inline]
    fn decode(b: &[u8]) -> f32 {
        g711::ULAW[b[0] as usize] as f32 / 32768.0
    }
}

impl Sample for ALaw {
    const SIZE: usize = 1;
    #[inline]
    fn decode(b: &[u8]) -> f32 {
        g711::ALAW[b[0] as usize] as f32 / 32768.0
    }
}

/// Converts pushed bytes to 16 kHz mono samples: decode, down-mix (or pick a channel),
/// resample. A partial frame is kept for the next call.
pub struct Converter {
    input: InputFormat,
    carry: [u8; 32],
    carry_len: usize,
    resampler: Option<Resampler>,
}

/// Rounds half away from zero without `f32::round`, which is a library call on baseline
/// x86-64; `as` saturates, so out-of-range values clip.
#[inline]
fn to_i16(y: f32) -> i16 {
    let v = y * 32768.0;
    ((if v >= 0.0 { v + 0.5 } else { v - 0.5 }) as i32).clamp(-32768, 32767) as i16
}

impl Converter {
    pub fn new(input: InputFormat) -> Converter {
        let resampler = (input.rate != OUT_RATE as u32).then(|| Resampler::new(input.rate));
        Converter {
            input,
            carry: [0; 32],
            carry_len: 0,
            resampler,
        }
    }

    /// One frame to one mono sample in [-1, 1].
    #[inline]
    fn mono<S: Sample>(&self, frame: &[u8]) -> f32 {
        match self.input.channel {
            Some(c) => S::decode(&frame[c as usize * S::SIZE..]),
            None if self.input.channels == 1 => S::decode(frame),
            None => {
                let n = self.input.channels as usize;
                frame.chunks_exact(S::SIZE).map(S::decode).sum::<f32>() / n as f32
            }
        }
    }

    #[inline]
    fn frame<S: Sample>(&mut self, frame: &[u8], emit: &mut impl FnMut(i16)) {
        let x = self.mono::<S>(frame);
        match &mut self.resampler {
            Some(r) => r.push(x, &mut |y| emit(to_i16(y))),
            None => emit(to_i16(x)),
        }
    }

    /// Converts `data`, handing each 16 kHz sample to `emit`.
    pub fn convert(&mut self, data: &[u8], emit: &mut impl FnMut(i16)) {
        // One loop per format, so the decoding is not re-chosen for every sample.
        match self.input.format {
            FWASR_FORMAT_S16LE => self.convert_as::<S16>(data, emit),
            FWASR_FORMAT_F32 => self.convert_as::<F32>(data, emit),
            FWASR_FORMAT_MULAW => self.convert_as::<MuLaw>(data, emit),
            FWASR_FORMAT_ALAW => self.convert_as::<ALaw>(data, emit),
        }
    }

    fn convert_as<S: Sample>(&mut self, mut data: &[u8], emit: &mut impl FnMut(i16)) {
        let fb = self.input.frame_bytes();
        if self.carry_len > 0 {
            let take = (fb - self.carry_len).min(data.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
            self.carry_len += take;
            data = &data[take..];
            if self.carry_len < fb {
                return;
            }
            let carry = self.carry;
            self.frame::<S>(&carry[..fb], emit);
            self.carry_len = 0;
        }
        let mut frames = data.chunks_exact(fb);
        for f in &mut frames {
            self.frame::<S>(f, emit);
        }
        let rest = frames.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }

    /// The end of the input: emits the resampler's tail. Returns the bytes of a partial frame
    /// that had to be discarded.
    pub fn flush(&mut self, emit: &mut impl FnMut(i16)) -> usize {
        if let Some(r) = &mut self.resampler {
            r.flush(&mut |y| emit(to_i16(y)));
        }
        std::mem::take(&mut self.carry_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_all(input: InputFormat, data: &[u8], piece: usize) -> Vec<i16> {
        let mut c = Converter::new(input);
        let mut out = Vec::new();
        let mut bytes = 0;
        for p in data.chunks(piece.max(1)) {
            c.convert(p, &mut |s| out.push(s));
            bytes += p.len();
            let frames = (bytes / input.frame_bytes()) as u64;
            assert_eq!(
                out.len() as u64,
                input.timing().available(frames),
                "timing must predict convert"
            );
        }
        c.flush(&mut |s| out.push(s));
        assert_eq!(
            out.len() as u64,
            input.timing().total((data.len() / input.frame_bytes()) as u64)
        );
        out
    }

    #[test]
    fn stereo_is_averaged_or_one_channel_taken() {
        let fmt = InputFormat::default().with(FWASR_FORMAT_S16LE, 16000, 2).unwrap();
        let data: Vec<u8> = [1000i16, 3000, -2000, 0, 7, 9]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(convert_all(fmt, &data, 3), [2000, -1000, 8]);
        let right = fmt.with_channel(Some(1)).unwrap();
        assert_eq!(convert_all(right, &data, 5), [3000, 0, 9]);
    }

    #[test]
    fn f32_is_clipped_and_nan_is_silence() {
        let fmt = InputFormat::default().with(FWASR_FORMAT_F32, 16000, 1).unwrap();
        let data: Vec<u8> = [0.5f32, 2.0, -3.0, f32::NAN, -1.0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(convert_all(fmt, &data, 7), [16384, 32767, -32768, 0, -32768]);
    }

    #[test]
    fn g711_at_8k_doubles_the_sample_count() {
        let fmt = InputFormat::default().with(FWASR_FORMAT_MULAW, 8000, 1).unwrap();
        let out = convert_all(fmt, &[0xffu8; 8000], 160);
        assert_eq!(out.len(), 16000);
        let alaw = InputFormat::default().with(FWASR_FORMAT_ALAW, 8000, 1).unwrap();
        assert_eq!(convert_all(alaw, &[0xd5u8; 799], 33).len(), 1598);
    }

    #[test]
    fn bad_combinations_are_refused() {
        let d = InputFormat::default();
        assert!(d.with(FWASR_FORMAT_S16LE, 7999, 1).is_err());
        assert!(d.with(FWASR_FORMAT_S16LE, 192_001, 1).is_err());
        assert!(d.with(FWASR_FORMAT_S16LE, 48000, 0).is_err());
        assert!(d.with(FWASR_FORMAT_S16LE, 48000, 9).is_err());
        assert!(d.with(FWASR_FORMAT_MULAW, 16000, 1).is_err());
        assert!(d.with_channel(Some(1)).is_err());
        let stereo = d
            .with(FWASR_FORMAT_F32, 48000, 2)
            .unwrap()
            .with_channel(Some(1))
            .unwrap();
        let e = stereo.with(FWASR_FORMAT_F32, 48000, 1).unwrap_err();
        assert!(e.message.contains("channel 1"), "{}", e.message);
        assert!(d.with(FWASR_FORMAT_F32, 44100, 8).is_ok());
    }
}
