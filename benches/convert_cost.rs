//! The network thread's cost of converting 20 ms of input to 16 kHz mono s16le, per input
//! format, through the audio queue as the network thread runs it. Run with
//! `cargo bench --bench convert_cost`. (The cost of `push` itself is measured from C by
//! bench/run.sh.)

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use fwasr::audio::*;
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
    let cases: [(&str, Format, u32, u32); 5] = [
        ("8 kHz mu-law", FWASR_FORMAT_MULAW, 8000, 1),
        ("8 kHz A-law", FWASR_FORMAT_ALAW, 8000, 1),
        ("48 kHz stereo f32", FWASR_FORMAT_F32, 48000, 2),
        ("44.1 kHz stereo s16le", FWASR_FORMAT_S16LE, 44100, 2),
        ("16 kHz mono f32", FWASR_FORMAT_F32, 16000, 1),
    ];
    // Where the conversion went: the network thread's cost per 20 ms of audio, through the
    // queue as the network thread runs it.
    println!("| conversion on the network thread, per 20 ms of input | median |");
    println!("|---|---|");
    for (name, format, rate, channels) in cases {
        let input = InputFormat::default().with(format, rate, channels).unwrap();
        let frames: Vec<Vec<u8>> = (0..50).map(|i| frame(format, rate, channels, i)).collect();
        // 20 ms chunks, so each take converts exactly the frame just written.
        let (mut producer, mut consumer) = fwasr::chunker::audio_queue(input, 1 << 20, 640, false).unwrap();
        let mut times: Vec<Duration> = (0..3000)
            .map(|i| {
                producer.write(&frames[i % frames.len()]).unwrap();
                let t = Instant::now();
                let chunk = consumer.take_chunk();
                let d = t.elapsed();
                std::hint::black_box(chunk);
                d
            })
            .collect();
        times.sort();
        println!(
            "| {name} | {:.2} us |",
            times[times.len() / 2].as_secs_f64() * 1e6
        );
    }
}
