//! The cost of one `push` of a 20 ms frame, per input format: median, p99 and max, including
//! the eventfd wake-up each time a 50 ms chunk completes. Run with
//! `cargo bench --bench push_cost` (it builds and starts fwasr-devserver on loopback).
//!
//! Pushes come in bursts of 2 s of audio; between bursts (not measured) the queue drains to
//! the server, so the ring has wrapped and its pages are resident, as in a long-running call.

use std::f64::consts::PI;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fwasr::audio::*;
use fwasr::{Config, Session};

const BURSTS: usize = 30;
const FRAMES_PER_BURST: usize = 100;

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
    let root = env!("CARGO_MANIFEST_DIR");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "fwasr-devserver"])
        .current_dir(root)
        .status()
        .expect("run cargo");
    assert!(built.success());
    let mut server = Command::new(format!("{root}/target/release/fwasr-devserver"))
        .args(["--port", "0", "--quiet"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start fwasr-devserver");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening ")
        .expect("listening line")
        .to_string();

    println!("| input (20 ms frames) | median | p99 | max |");
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
        let s = Session::open(&c).unwrap();
        s.wait_ready(Some(Duration::from_secs(10))).unwrap();
        let frames: Vec<Vec<u8>> = (0..50).map(|i| frame(format, rate, channels, i)).collect();
        let mut times = Vec::with_capacity(BURSTS * FRAMES_PER_BURST);
        for burst in 0..BURSTS + 5 {
            for i in 0..FRAMES_PER_BURST {
                let f = &frames[i % frames.len()];
                let t = Instant::now();
                s.push(f).expect("push");
                let d = t.elapsed();
                // The first bursts fill the ring once (page faults); they are not counted.
                if burst >= 5 {
                    times.push(d);
                }
            }
            while s.stats().bytes_queued > 2 * 1600 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {name} | {:.2} us | {:.2} us | {:.2} us |",
            us(times[times.len() / 2]),
            us(times[times.len() * 99 / 100]),
            us(*times.last().unwrap())
        );
        drop(s);
    }
    let _ = server.kill();
    let _ = server.wait();

    // Where the conversion went: the network thread's cost per 20 ms of audio, through the
    // queue as the network thread runs it.
    println!();
    println!("| conversion on the network thread, per 20 ms of input | median |");
    println!("|---|---|");
    for (name, format, rate, channels) in cases.into_iter().skip(1) {
        let input = InputFormat::default().with(format, rate, channels).unwrap();
        let frames: Vec<Vec<u8>> = (0..50).map(|i| frame(format, rate, channels, i)).collect();
        // 20 ms chunks, so each take converts exactly the frame just written.
        let (mut producer, mut consumer) = fwasr::chunker::audio_queue(input, 1 << 20, 640);
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
