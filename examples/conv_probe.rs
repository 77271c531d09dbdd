use fwasr::audio::*;
use std::time::Instant;
fn main() {
    let which: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(9);
    for (i, (f, rate, ch)) in [(FWASR_FORMAT_MULAW, 8000u32, 1u32), (FWASR_FORMAT_F32, 48000, 2), (FWASR_FORMAT_F32, 16000, 1)].into_iter().enumerate() {
        if which != 9 && which != i { continue; }
        let fmt = InputFormat::default().with(f, rate, ch).unwrap();
        let mut c = Converter::new(fmt);
        let frame = vec![0x40u8; (rate / 50 * ch) as usize * f.sample_bytes()];
        let mut sink = 0i64;
        let t = Instant::now();
        for _ in 0..20000 { c.convert(&frame, &mut |s| sink += s as i64); }
        println!("{f:?} {rate} x{ch}: {:.2} us per 20 ms frame ({sink})", t.elapsed().as_secs_f64() * 1e6 / 20000.0);
    }
}
