//! The audio front end end to end: every input format and rate reaches the devserver as exact
//! 16 kHz chunks, with exactly ceil(frames * 16000 / rate) samples (the resampler's tail is
//! flushed at finish).

mod common;

use std::f64::consts::PI;
use std::time::Duration;

use common::*;
use fwasr::audio::*;
use fwasr::{Config, Session};
use serde_json::Value;

const SEC: Option<Duration> = Some(Duration::from_secs(20));

/// `frames` frames of a 440 Hz tone (a different phase per channel) in `format`.
fn signal(format: Format, rate: u32, channels: u32, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..frames {
        for c in 0..channels {
            let x = 0.4 * (2.0 * PI * 440.0 * n as f64 / rate as f64 + c as f64).sin();
            match format {
                FWASR_FORMAT_S16LE => out.extend(((x * 32767.0) as i16).to_le_bytes()),
                FWASR_FORMAT_F32 => out.extend((x as f32).to_ne_bytes()),
                // Any code is a valid G.711 sample; the count is what matters here.
                FWASR_FORMAT_MULAW | FWASR_FORMAT_ALAW => out.push((n * 7 + c as usize) as u8),
            }
        }
    }
    out
}

struct Case {
    format: Format,
    rate: u32,
    channels: u32,
}

#[test]
fn every_format_and_rate_arrives_as_exact_16k_chunks() {
    let d = DevServer::start(&[]);
    let mut cases = Vec::new();
    for rate in [
        8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 192000, 12345,
    ] {
        for format in [FWASR_FORMAT_S16LE, FWASR_FORMAT_F32] {
            for channels in [1, 2] {
                cases.push(Case {
                    format,
                    rate,
                    channels,
                });
            }
        }
    }
    for format in [FWASR_FORMAT_MULAW, FWASR_FORMAT_ALAW] {
        for channels in [1, 2] {
            cases.push(Case {
                format,
                rate: 8000,
                channels,
            });
        }
    }
    cases.push(Case {
        format: FWASR_FORMAT_F32,
        rate: 44100,
        channels: 6,
    });
    let mut sessions = Vec::new();
    for case in &cases {
        let mut c = Config::new();
        c.set_url(&d.url).unwrap();
        c.set_input_format(case.format, case.rate, case.channels).unwrap();
        c.set_header(
            "X-Case",
            Some(&format!("{:?}/{}/{}", case.format, case.rate, case.channels)),
        )
        .unwrap();
        // 1.3 s plus an odd number of frames, in odd-sized pieces that split frames.
        let frames = case.rate as usize * 13 / 10 + 3;
        let data = signal(case.format, case.rate, case.channels, frames);
        let s = Session::open(&c).unwrap();
        for piece in data.chunks(1111) {
            s.push(piece).unwrap();
        }
        sessions.push((s, frames, case));
    }
    let mut want = std::collections::HashMap::new();
    for (s, frames, case) in &sessions {
        s.finish(SEC).unwrap();
        let samples = (*frames as u64 * 16000).div_ceil(case.rate as u64);
        want.insert(
            format!("{:?}/{}/{}", case.format, case.rate, case.channels),
            samples,
        );
        assert_eq!(s.stats().bytes_sent, samples * 2);
    }
    let reports: Vec<Value> = d.reports(cases.len());
    for r in reports {
        let case = r["headers"]["x-case"].as_str().unwrap().to_string();
        let samples = want[&case];
        assert_eq!(r["audio_bytes"].as_u64().unwrap(), samples * 2, "{case}");
        let sizes: Vec<u64> = r["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[0].as_u64().unwrap())
            .collect();
        let (last, full) = sizes.split_last().unwrap();
        assert!(full.iter().all(|&n| n == 1600), "{case}: {sizes:?}");
        assert!(*last > 0 && *last <= 1600, "{case}: {sizes:?}");
    }
}

#[test]
fn sixteen_khz_mono_s16le_is_sent_bit_exactly() {
    let d = DevServer::start(&[]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_input_format(FWASR_FORMAT_S16LE, 16000, 1).unwrap();
    let data = audio(1777);
    let s = Session::open(&c).unwrap();
    for piece in data.chunks(321) {
        s.push(piece).unwrap();
    }
    s.finish(SEC).unwrap();
    assert_eq!(d.reports(1)[0]["audio_sha256"], sha256_hex(&data));
}

#[test]
fn one_channel_of_a_stereo_call_can_be_taken() {
    let d = DevServer::start(&[]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_input_format(FWASR_FORMAT_S16LE, 16000, 2).unwrap();
    c.set_input_channel(Some(1)).unwrap();
    // Left is noise, right is the signal we want, unchanged at 16 kHz.
    let right = audio(300);
    let stereo: Vec<u8> = right.chunks(2).flat_map(|r| [0x55, 0x7f, r[0], r[1]]).collect();
    let s = Session::open(&c).unwrap();
    s.push(&stereo).unwrap();
    s.finish(SEC).unwrap();
    assert_eq!(d.reports(1)[0]["audio_sha256"], sha256_hex(&right));
}

#[test]
fn the_queue_holds_buffer_ms_of_the_input_format() {
    let d = DevServer::start(&[]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_input_format(FWASR_FORMAT_MULAW, 8000, 1).unwrap();
    c.set_buffer_ms(100).unwrap();
    c.set_pacing(1.0).unwrap();
    let s = Session::open(&c).unwrap();
    // 100 ms of 8 kHz mu-law is 800 bytes: a 900-byte push is refused whole.
    let e = s.push(&[0xff; 900]).unwrap_err();
    assert_eq!(e.status, fwasr::error::FWASR_ERR_BUFFER_FULL);
    assert_eq!(s.stats().bytes_pushed, 0);
    s.push(&[0xff; 400]).unwrap();
    s.finish(SEC).unwrap();
    assert_eq!(d.reports(1)[0]["audio_bytes"], 1600);
}

/// 1 s of a 1 kHz sine with its peak at `peak_dbfs`, 16 kHz mono s16le.
fn sine(peak_dbfs: f64) -> Vec<u8> {
    let amp = 32768.0 * 10f64.powf(peak_dbfs / 20.0);
    (0..16_000)
        .flat_map(|i| {
            let v = amp * (2.0 * PI * 1000.0 * f64::from(i) / 16000.0).sin();
            (v.round().clamp(-32768.0, 32767.0) as i16).to_le_bytes()
        })
        .collect()
}

/// Tones of known level through a real session: the stats' levels read them. dBFS is
/// relative to full scale, so a sine's RMS is 3.01 dB below its peak.
#[test]
fn levels_of_tones_of_known_dbfs() {
    let d = DevServer::start(&[]);
    let levels = |pcm: &[u8]| {
        let mut c = Config::new();
        c.set_url(&d.url).unwrap();
        let s = Session::open(&c).unwrap();
        s.push(pcm).unwrap();
        s.finish(Some(Duration::from_secs(10))).unwrap();
        s.stats().levels
    };
    for want in [-6.0, -30.0] {
        let l = levels(&sine(want));
        assert!((l.peak_dbfs - want).abs() < 0.01, "{l:?}");
        assert!((l.session_peak_dbfs - want).abs() < 0.01, "{l:?}");
        assert!((l.rms_dbfs - (want - 3.0103)).abs() < 0.01, "{l:?}");
        assert_eq!((l.clipped_samples, l.silence_ms), (0, 0.0));
    }
    let l = levels(&vec![0u8; 32_000]);
    assert_eq!((l.rms_dbfs, l.peak_dbfs), (f64::NEG_INFINITY, f64::NEG_INFINITY));
    assert_eq!(l.silence_ms, 1000.0);
    // A square wave at full scale: every sample clipped, 0 dBFS RMS and peak.
    let square: Vec<u8> = (0..16_000)
        .flat_map(|i| if i % 16 < 8 { 32767i16 } else { -32768 }.to_le_bytes())
        .collect();
    let l = levels(&square);
    assert_eq!(l.clipped_samples, 16_000);
    assert!(l.rms_dbfs > -0.001 && l.peak_dbfs == 0.0, "{l:?}");
}
