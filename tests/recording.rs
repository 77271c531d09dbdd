//! The recording (fwasr_config_set_record_path) against what fwasr-devserver received and
//! saved: byte for byte on one connection, each stream byte once across reconnects; a disk
//! that fails or stalls costs a count and a warning, never the stream.

mod common;

use std::time::Duration;

use common::*;
use fwasr::{Config, Session};

/// Streams the sample (as fast as it goes) with a recording to `path` and the config as
/// `configure` leaves it; runs `before_finish`, finishes.
fn stream(
    d: &DevServer,
    path: &str,
    configure: impl FnOnce(&mut Config),
    before_finish: impl FnOnce(&Session),
) -> Session {
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_record_path(Some(path)).unwrap();
    configure(&mut c);
    let s = Session::open(&c).unwrap();
    for piece in sample_pcm().chunks(3200) {
        s.push_wait(piece, Some(Duration::from_secs(10))).unwrap();
    }
    before_finish(&s);
    s.finish(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(s.transcript(), sample_texts().join(" "));
    s
}

/// The audio of a 16 kHz mono s16 WAV with a canonical 44-byte header, checked.
fn wav_audio(path: &std::path::Path) -> Vec<u8> {
    let wav = std::fs::read(path).unwrap();
    let u32_at = |i: usize| u32::from_le_bytes(wav[i..i + 4].try_into().unwrap());
    let u16_at = |i: usize| u16::from_le_bytes(wav[i..i + 2].try_into().unwrap());
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32_at(4) as usize, wav.len() - 8);
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!((u32_at(16), u16_at(20), u16_at(22)), (16, 1, 1), "PCM mono");
    assert_eq!(
        (u32_at(24), u32_at(28), u16_at(32), u16_at(34)),
        (16_000, 32_000, 2, 16)
    );
    assert_eq!(&wav[36..40], b"data");
    assert_eq!(u32_at(40) as usize, wav.len() - 44);
    wav[44..].to_vec()
}

#[test]
fn the_recording_is_the_audio_the_server_received() {
    let saved = Scratch::new();
    let d = DevServer::with_script(&sample_script(), &["--save-audio", saved.0.to_str().unwrap()]);
    let path = d.scratch.0.join("copy.wav");
    let s = stream(&d, path.to_str().unwrap(), |_| {}, |_| {});
    // finish returned: the file is complete.
    let recorded = wav_audio(&path);
    d.reports(1);
    let received = std::fs::read(saved.0.join("connection-0.raw")).unwrap();
    assert!(
        recorded == received,
        "{} bytes recorded, {} received",
        recorded.len(),
        received.len()
    );
    assert!(recorded == sample_pcm());
    assert_eq!(s.stats().bytes_not_recorded, 0);
}

#[test]
fn across_reconnects_each_second_of_the_stream_is_recorded_once() {
    let d = DevServer::with_script(&sample_script(), &["--abort-after", "4.0"]);
    let path = d.scratch.0.join("copy.wav");
    let s = stream(
        &d,
        path.to_str().unwrap(),
        |c| c.set_reconnect(5, 20, 200).unwrap(),
        |_| {},
    );
    assert!(s.stats().reconnects >= 2, "{:?}", s.stats().reconnects);
    assert!(s.stats().bytes_replayed > 0);
    assert!(
        wav_audio(&path) == sample_pcm(),
        "the recording is not the stream"
    );
}

#[test]
fn a_file_that_cannot_be_made_fails_the_open() {
    let d = DevServer::start(&[]);
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    let missing = d.scratch.0.join("no-such-dir").join("copy.wav");
    c.set_record_path(Some(missing.to_str().unwrap())).unwrap();
    let e = Session::open(&c).err().expect("open fails");
    assert_eq!(e.status, fwasr::error::FWASR_ERR_IO);
    assert!(e.message.contains("cannot record to"), "{}", e.message);
    assert_eq!(
        c.set_record_path(Some("")).unwrap_err().status,
        fwasr::error::FWASR_ERR_INVALID_ARGUMENT
    );
}

#[cfg(unix)]
#[test]
fn a_failing_disk_is_a_warning_and_a_count_not_an_error() {
    use fwasr::event::LogLevel;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let d = DevServer::with_script(&sample_script(), &[]);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = lines.clone();
    // Every write to /dev/full fails with "no space left on device" (the first once 64 KiB,
    // 2 s of audio, are buffered).
    let s = stream(
        &d,
        "/dev/full",
        |c| {
            c.set_log_handler(
                Some(Arc::new(move |_, line: &str| {
                    log.lock().unwrap().push(line.to_string())
                })),
                LogLevel::FWASR_LOG_WARN,
            )
        },
        // The disk fails while the session runs: the warning must reach the log before
        // finish returns, however late the network thread gets to it.
        |s| {
            let waited = Instant::now();
            while s.stats().bytes_not_recorded == 0 {
                assert!(
                    waited.elapsed() < Duration::from_secs(60),
                    "the disk never failed"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        },
    );
    assert!(s.stats().bytes_not_recorded > 0);
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("recording to /dev/full failed")),
        "{lines:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_stalled_disk_does_not_hold_up_the_stream() {
    use std::io::Read;
    let d = DevServer::start(&[]);
    let fifo = d.scratch.0.join("stalled");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // A reader that opens the pipe and reads nothing until the stream is over: the pipe
    // fills, then the recording's queue, then audio is left out.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(path).unwrap();
        go_rx.recv().unwrap();
        let mut all = Vec::new();
        f.read_to_end(&mut all).unwrap();
        all.len()
    });
    let mut c = Config::new();
    c.set_url(&d.url).unwrap();
    c.set_record_path(Some(fifo.to_str().unwrap())).unwrap();
    let s = Session::open(&c).unwrap();
    for piece in audio(20_000).chunks(3200) {
        s.push_wait(piece, Some(Duration::from_secs(10))).unwrap();
    }
    // The stream ends whole although its recording is stuck: finish waits for the file only
    // until its deadline.
    s.finish(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(s.transcript(), "20.00 s of audio received");
    // Of 20 s, what did not fit while the reader slept: beyond the queue's 12.8 s, the
    // writer's 64 KB buffer and the pipe's 64 KB (2 s each), about 3 s.
    let lost_ms = s.stats().bytes_not_recorded / 32;
    assert!(lost_ms >= 2000, "{lost_ms} ms left out");
    go_tx.send(()).unwrap();
    drop(s);
    let read = reader.join().unwrap();
    assert!(read as u64 >= 44 + 2 * 32_000, "{read} bytes");
}
