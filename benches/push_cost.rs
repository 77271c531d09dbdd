//! The cost of one `push` of a 20 ms frame, per input format: median, p99 and max over
//! thousands of pushes, including the eventfd wake-up every time a 50 ms chunk completes.
//! Run with `cargo bench --bench push_cost`. The session connects to a local listener that
//! never answers, so pushes only queue (nothing is sent while measuring).

use std::f64::consts::PI;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use fwasr::audio::*;
use fwasr::{Config, Session};

const FRAMES: usize = 5000;

fn frame(format: Format, rate: u32, channels: u32, index: usize) -> Vec<u8> {
    let n = (rate / 50) as usize;
    let mut out = Vec::new();
    for i in 0..n {
        let t = (index * n + i) as f64 / rate as f64;
        let x = 0.3 * (2.0 * PI * 440.0 * t).sin();
        for _ in 0..channels {
            match format {
                FWASR_FORMAT_S16LE => out.extend(((x * 32767.0) as i16).to_le_bytes()),
                FWASR_FORMAT_F32 => out.extend((x as f32).to_ne_bytes()),
                FWASR_FORMAT_MULAW | FWASR_FORMAT_ALAW => out.push(((x + 1.0) * 127.0) as u8),
            }
        }
    }
    out
}

fn main() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/v1/audio/transcriptions/streaming", silent.local_addr().unwrap());
    println!("| input | median | p99 | max |");
    println!("|---|---|---|---|");
    let cases: [(&str, Format, u32, u32); 6] = [
        ("16 kHz mono s16le (native)", FWASR_FORMAT_S16LE, 16000, 1),
        ("8 kHz mu-law", FWASR_FORMAT_MULAW, 8000, 1),
        ("8 kHz A-law", FWASR_FORMAT_ALAW, 8000, 1),
        ("48 kHz stereo f32", FWASR_FORMAT_F32, 48000, 2),
        ("44.1 kHz stereo s16le", FWASR_FORMAT_S16LE, 44100, 2),
        ("16 kHz mono f32", FWASR_FORMAT_F32, 16000, 1),
    ];
    for (name, format, rate, channels) in cases {
        let mut c = Config::new();
        c.set_url(&url).unwrap();
        c.set_input_format(format, rate, channels).unwrap();
        c.set_buffer_ms(600_000).unwrap();
        c.set_connect_timeout_ms(600_000).unwrap();
        let s = Session::open(&c).unwrap();
        let frames: Vec<Vec<u8>> = (0..50).map(|i| frame(format, rate, channels, i)).collect();
        let mut times = Vec::with_capacity(FRAMES);
        for i in 0..FRAMES {
            let f = &frames[i % frames.len()];
            let t = Instant::now();
            s.push(f).expect("push");
            times.push(t.elapsed());
        }
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {name} | {:.2} us | {:.2} us | {:.2} us |",
            us(times[times.len() / 2]),
            us(times[times.len() * 99 / 100]),
            us(*times.last().unwrap())
        );
    }
}
