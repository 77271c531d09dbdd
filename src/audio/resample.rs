//! Rational-ratio resampling to 16 kHz with a Kaiser-windowed sinc, as a polyphase filter.
//!
//! Output sample j stands for input time j * M / L (L/M = 16000/rate, reduced): the filter's
//! delay is compensated, so output and input line up and n input samples give exactly
//! ceil(n * L / M) outputs once `flush` has pushed the last half filter length of zeros
//! through. Phases are tabulated exactly when L <= MAX_EXACT_PHASES; otherwise a finer table is
//! interpolated linearly. Designs are shared between sessions of the same input rate. Nothing
//! here allocates after `Resampler::new`.

use std::sync::{Arc, Mutex};

/// The service's rate.
pub(crate) const OUT_RATE: u64 = 16_000;
/// Stopband attenuation the filters are designed for, in dB.
const ATTENUATION_DB: f64 = 80.0;
/// Passband edge as a fraction of the lower of the two rates (7 kHz at 16 kHz).
const PASS: f64 = 0.4375;
const MAX_EXACT_PHASES: u64 = 1024;
const INTERPOLATED_PHASES: usize = 512;
/// Input samples kept beyond one filter length, so compaction (a memmove) is rare.
const HISTORY_SLACK: usize = 4096;

/// The filter for one input rate: per phase, K coefficients in window order, with the range
/// outside which they are zero.
pub struct Design {
    rate: u32,
    pub(crate) taps: usize,
    phases: usize,
    exact: bool,
    table: Vec<f32>,
    ranges: Vec<(usize, usize)>,
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        k += 1.0;
    }
    sum
}

impl Design {
    fn new(rate: u32) -> Design {
        let fs = rate as f64;
        let out = OUT_RATE as f64;
        let fmin = fs.min(out);
        let pass = PASS * fmin;
        // Downsampling: nothing above the output's Nyquist may survive (aliases). Upsampling:
        // images of the passband (at rate - f) must be gone; the band between is transition.
        let stop = if fs > out { 0.5 * fmin } else { fmin - pass };
        let cutoff = (pass + stop) / 2.0;
        let width = stop - pass;
        let beta = 0.1102 * (ATTENUATION_DB - 8.7);
        let mut taps =
            ((ATTENUATION_DB - 7.95) * fs / (2.285 * 2.0 * std::f64::consts::PI * width)).ceil() as usize;
        taps += taps % 2;
        let g = gcd(OUT_RATE, rate as u64);
        let l = OUT_RATE / g;
        let exact = l <= MAX_EXACT_PHASES;
        let phases = if exact { l as usize } else { INTERPOLATED_PHASES };
        let half = taps as f64 / 2.0;
        let i0b = bessel_i0(beta);
        // h(tau): tau in input samples from the output instant.
        let h = |tau: f64| {
            let z = tau / half;
            if z.abs() > 1.0 {
                return 0.0;
            }
            let x = 2.0 * cutoff / fs * tau;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            2.0 * cutoff / fs * sinc * bessel_i0(beta * (1.0 - z * z).sqrt()) / i0b
        };
        let mut table = Vec::with_capacity((phases + 1) * taps);
        let mut ranges = Vec::with_capacity(phases + 1);
        for q in 0..=phases {
            let frac = q as f64 / phases as f64;
            // Window position i holds input n0 - (K-1-i); its weight is g(K-1-i + frac).
            let coefs: Vec<f64> = (0..taps)
                .map(|i| h((taps - 1 - i) as f64 + frac - half))
                .collect();
            let sum: f64 = coefs.iter().sum();
            let start = table.len();
            table.extend(coefs.iter().map(|c| (c / sum) as f32));
            let row = &table[start..];
            let first = row.iter().position(|c| c.abs() > 1e-9).unwrap_or(0);
            let last = row.iter().rposition(|c| c.abs() > 1e-9).map_or(0, |p| p + 1);
            // Interpolated phases are blended in pairs, so they keep the full range.
            ranges.push(if exact {
                (first, last.max(first))
            } else {
                (0, taps)
            });
        }
        Design {
            rate,
            taps,
            phases,
            exact,
            table,
            ranges,
        }
    }

    /// The shared design for this input rate.
    pub fn for_rate(rate: u32) -> Arc<Design> {
        static CACHE: Mutex<Vec<Arc<Design>>> = Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = cache.iter().find(|d| d.rate == rate) {
            return d.clone();
        }
        let d = Arc::new(Design::new(rate));
        cache.push(d.clone());
        d
    }

    /// The filter's delay that `flush` pushes through at the end, in milliseconds.
    pub fn delay_ms(&self) -> f64 {
        self.taps as f64 / 2.0 / self.rate as f64 * 1000.0
    }

    fn row(&self, q: usize) -> &[f32] {
        &self.table[q * self.taps..(q + 1) * self.taps]
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Eight independent accumulators so the compiler can use SIMD lanes (float addition is not
/// reassociated on its own).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b[..a.len()].as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// How many outputs a number of input samples yields, in closed form, so the pushing thread
/// can tell when a 16 kHz chunk completes without running the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    l: u64,
    m: u64,
    /// L * K/2: the filter's look-ahead, in units of 1/L input samples.
    lead: u64,
}

impl Timing {
    /// No resampling: one output per input.
    pub const IDENTITY: Timing = Timing { l: 1, m: 1, lead: 0 };

    pub fn for_rate(rate: u32) -> Timing {
        if rate as u64 == OUT_RATE {
            return Timing::IDENTITY;
        }
        let g = gcd(OUT_RATE, rate as u64);
        let l = OUT_RATE / g;
        Timing {
            l,
            m: rate as u64 / g,
            lead: l * (Design::for_rate(rate).taps as u64 / 2),
        }
    }

    /// Outputs ready after `n` inputs (output j needs input up to (j*M + lead) / L).
    pub fn available(&self, n: u64) -> u64 {
        (n * self.l).saturating_sub(self.lead).div_ceil(self.m)
    }

    /// Outputs in all for `n` inputs once the tail is flushed: ceil(n * L / M).
    pub fn total(&self, n: u64) -> u64 {
        (n * self.l).div_ceil(self.m)
    }
}

/// One stream's resampling state.
pub struct Resampler {
    design: Arc<Design>,
    l: u64,
    m: u64,
    /// Input samples: absolute index (counting the K leading zeros) `start` is at history[0].
    history: Vec<f32>,
    len: usize,
    start: u64,
    /// Input samples taken, real and (after flush) padding.
    fed: u64,
    real: u64,
    /// Next output index, and its position j*M + L*K/2 in units of 1/L input samples, kept
    /// as whole input samples `n0` plus `r`/L (no division per output).
    next: u64,
    n0: u64,
    r: u64,
    /// M as whole input samples plus a remainder in 1/L.
    step: (u64, u64),
}

impl Resampler {
    pub fn new(rate: u32) -> Resampler {
        let design = Design::for_rate(rate);
        let g = gcd(OUT_RATE, rate as u64);
        let (l, m) = (OUT_RATE / g, rate as u64 / g);
        let k = design.taps;
        // The first K samples are the zeros before the input starts.
        let history = vec![0f32; k + HISTORY_SLACK];
        let pos = l * (k as u64 / 2);
        Resampler {
            l,
            m,
            history,
            len: k,
            start: 0,
            fed: 0,
            real: 0,
            next: 0,
            n0: pos / l,
            r: pos % l,
            step: (m / l, m % l),
            design,
        }
    }

    /// Takes one input sample and hands every output it completes to `emit`.
    #[inline]
    pub fn push(&mut self, x: f32, emit: &mut impl FnMut(f32)) {
        self.real += 1;
        self.feed(x, u64::MAX, emit);
    }

    /// Pushes zeros until every output owed for the real input has been emitted.
    pub fn flush(&mut self, emit: &mut impl FnMut(f32)) {
        let total = (self.real * self.l).div_ceil(self.m);
        while self.next < total {
            self.feed(0.0, total, emit);
        }
    }

    fn feed(&mut self, x: f32, cap: u64, emit: &mut impl FnMut(f32)) {
        let k = self.design.taps;
        if self.len == self.history.len() {
            self.history.copy_within(self.len - k.., 0);
            self.start += (self.len - k) as u64;
            self.len = k;
        }
        self.history[self.len] = x;
        self.len += 1;
        self.fed += 1;
        // Output j needs inputs up to n0; it is ready once n0 < fed.
        while self.n0 < self.fed && self.next < cap {
            let (n0, r) = (self.n0, self.r);
            // The window x[n0-K+1 ..= n0] sits at absolute indices n0+1 .. n0+K+1.
            let at = (n0 + 1 - self.start) as usize;
            let window = &self.history[at..at + k];
            let d = &*self.design;
            let y = if d.exact {
                let q = r as usize;
                let (s, e) = d.ranges[q];
                dot(&d.row(q)[s..e], &window[s..e])
            } else {
                let scaled = r * d.phases as u64;
                let q = (scaled / self.l) as usize;
                let a = (scaled % self.l) as f32 / self.l as f32;
                let y0 = dot(d.row(q), window);
                let y1 = dot(d.row(q + 1), window);
                y0 + a * (y1 - y0)
            };
            emit(y);
            self.next += 1;
            self.n0 += self.step.0;
            self.r += self.step.1;
            if self.r >= self.l {
                self.r -= self.l;
                self.n0 += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn run(rate: u32, input: &[f32]) -> Vec<f64> {
        let mut r = Resampler::new(rate);
        let mut out = Vec::new();
        for &x in input {
            r.push(x, &mut |y| out.push(y as f64));
        }
        r.flush(&mut |y| out.push(y as f64));
        out
    }

    fn tone(rate: u32, f: f64, secs: f64, amp: f64) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize)
            .map(|n| (amp * (2.0 * PI * f * n as f64 / rate as f64).sin()) as f32)
            .collect()
    }

    /// Least-squares amplitude of a tone at f, and the RMS of what is left, over the middle
    /// of `y` (away from the start and end transients).
    fn fit(y: &[f64], f: f64) -> (f64, f64) {
        let (a, b) = (y.len() / 5, y.len() * 4 / 5);
        let w = 2.0 * PI * f / OUT_RATE as f64;
        let (mut ss, mut sc, mut cc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (j, v) in y.iter().enumerate().take(b).skip(a) {
            let (s, c) = ((w * j as f64).sin(), (w * j as f64).cos());
            ss += s * s;
            sc += s * c;
            cc += c * c;
            ys += v * s;
            yc += v * c;
        }
        let det = ss * cc - sc * sc;
        let (p, q) = ((ys * cc - yc * sc) / det, (yc * ss - ys * sc) / det);
        let mut res = 0.0;
        for (j, v) in y.iter().enumerate().take(b).skip(a) {
            let e = v - p * (w * j as f64).sin() - q * (w * j as f64).cos();
            res += e * e;
        }
        ((p * p + q * q).sqrt(), (res / (b - a) as f64).sqrt())
    }

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    #[test]
    fn output_count_is_input_duration_times_16k() {
        for rate in [
            8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000, 12345, 191_999,
        ] {
            for n in [0usize, 1, 7, 1000, 4410] {
                let out = run(rate, &vec![0.1; n]);
                assert_eq!(
                    out.len() as u64,
                    (n as u64 * OUT_RATE).div_ceil(rate as u64),
                    "{rate} Hz, {n} samples"
                );
            }
        }
    }

    #[test]
    fn timing_predicts_the_filter() {
        for rate in [8000, 11025, 44100, 48000, 192000, 12345] {
            let t = Timing::for_rate(rate);
            let mut r = Resampler::new(rate);
            let (mut n, mut got) = (0u64, 0u64);
            for step in [1u64, 5, 441, 1000, 3, 4000] {
                for _ in 0..step {
                    r.push(0.5, &mut |_| got += 1);
                }
                n += step;
                assert_eq!(got, t.available(n), "{rate} Hz after {n}");
            }
            r.flush(&mut |_| got += 1);
            assert_eq!(got, t.total(n), "{rate} Hz flushed");
        }
    }

    /// Passband gain within +-0.1 dB up to 7 kHz (3.5 kHz from 8 kHz), checked with tones.
    #[test]
    fn passband_is_flat() {
        for (rate, top) in [
            (48000u32, 7000.0),
            (44100, 7000.0),
            (8000, 3500.0),
            (22050, 7000.0),
            (96000, 7000.0),
        ] {
            let mut f = 100.0;
            while f <= top {
                let (amp, _) = fit(&run(rate, &tone(rate, f, 0.5, 0.5)), f);
                let gain = db(amp / 0.5);
                assert!(gain.abs() <= 0.1, "{rate} Hz input, {f} Hz tone: {gain:.3} dB");
                f += 350.0;
            }
        }
    }

    /// Tones above 8 kHz in the input must not come back as aliases: >= 70 dB down.
    #[test]
    fn aliases_are_attenuated() {
        for rate in [48000u32, 44100, 96000] {
            let mut f = 8100.0;
            while f < rate as f64 / 2.0 {
                let y = run(rate, &tone(rate, f, 0.3, 0.9));
                let rms = (y
                    .iter()
                    .skip(y.len() / 5)
                    .take(y.len() * 3 / 5)
                    .map(|v| v * v)
                    .sum::<f64>()
                    / (y.len() * 3 / 5) as f64)
                    .sqrt();
                let level = db(rms / (0.9 / 2f64.sqrt()));
                assert!(
                    level <= -70.0,
                    "{rate} Hz input, {f} Hz tone: alias at {level:.1} dB"
                );
                f += if f < 9000.0 { 150.0 } else { 1700.0 };
            }
        }
    }

    /// Upsampling from 8 kHz: the images of passband tones (at 8 kHz - f) are >= 70 dB down,
    /// and the tone is reconstructed with SNR >= 70 dB against the ideal band-limited one.
    #[test]
    fn upsampling_8k_rejects_images_and_keeps_snr() {
        for f in [300.0, 1000.0, 2222.0, 3000.0, 3500.0] {
            let (amp, residual) = fit(&run(8000, &tone(8000, f, 0.5, 0.5)), f);
            let snr = db(amp / 2f64.sqrt() / residual);
            assert!(snr >= 70.0, "{f} Hz: SNR {snr:.1} dB");
        }
    }

    #[test]
    fn downsampling_48k_keeps_snr() {
        for f in [440.0, 1000.0, 3333.0, 6000.0, 7000.0] {
            let (amp, residual) = fit(&run(48000, &tone(48000, f, 0.5, 0.5)), f);
            let snr = db(amp / 2f64.sqrt() / residual);
            assert!(snr >= 70.0, "{f} Hz: SNR {snr:.1} dB");
        }
    }

    /// A sweep through the passband keeps its level (no notch between the tested tones).
    #[test]
    fn sweep_keeps_level() {
        let rate = 44100u32;
        let secs = 1.0;
        let n = (rate as f64 * secs) as usize;
        let (f0, f1) = (100.0, 7000.0);
        let x: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                (0.5 * (2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * secs))).sin()) as f32
            })
            .collect();
        let y = run(rate, &x);
        let ideal: Vec<f64> = (0..y.len())
            .map(|j| {
                let t = j as f64 / OUT_RATE as f64;
                0.5 * (2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * secs))).sin()
            })
            .collect();
        let (a, b) = (y.len() / 20, y.len() * 19 / 20);
        let err: f64 = (a..b).map(|j| (y[j] - ideal[j]).powi(2)).sum::<f64>() / (b - a) as f64;
        let snr = db((0.5 / 2f64.sqrt()) / err.sqrt());
        assert!(snr >= 70.0, "sweep SNR {snr:.1} dB");
    }

    #[test]
    fn half_band_phase_is_one_tap() {
        let d = Design::for_rate(8000);
        assert!(d.exact);
        let (s, e) = d.ranges[0];
        assert_eq!(e - s, 1, "the on-sample phase of a 2x upsampler copies the input");
        assert!(d.delay_ms() < 5.0, "{}", d.delay_ms());
    }
}
