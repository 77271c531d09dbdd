//! ITU-T G.711 decoding (mu-law and A-law) to 16-bit linear PCM, as lookup tables built at
//! compile time.

/// mu-law: complement the code, then sign, 3-bit exponent, 4-bit mantissa with a bias of 0x84.
const fn ulaw(code: u8) -> i16 {
    let c = !code;
    let exponent = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if c & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// A-law: even bits inverted (xor 0x55), then sign (set = positive), exponent, mantissa.
const fn alaw(code: u8) -> i16 {
    let c = code ^ 0x55;
    let exponent = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if c & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

const fn table(mu: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if mu { ulaw(i as u8) } else { alaw(i as u8) };
        i += 1;
    }
    t
}

pub const ULAW: [i16; 256] = table(true);
pub const ALAW: [i16; 256] = table(false);

#[cfg(test)]
mod tests {
    use super::*;

    fn sox_table(name: &str) -> Vec<i16> {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .flat_map(|l| {
                l.split_whitespace()
                    .map(|v| v.parse::<i16>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn all_256_mulaw_codes_match_sox() {
        assert_eq!(ULAW.to_vec(), sox_table("g711_ulaw_sox.txt"));
    }

    #[test]
    fn all_256_alaw_codes_match_sox() {
        assert_eq!(ALAW.to_vec(), sox_table("g711_alaw_sox.txt"));
    }
}
