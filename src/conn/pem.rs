//! Certificates from a PEM file, as DER. native-tls reads DER on every platform but PEM not on
//! iOS (it panics there), so the PEM armour and base64 are taken off here.

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The DER bytes of each certificate in a PEM bundle, in order; an error names the first
/// certificate that is not valid base64.
pub fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let Some(end) = body.find(END) else {
            return Err(format!("certificate {} has no END line", out.len() + 1));
        };
        let der = base64(&body[..end])
            .ok_or_else(|| format!("certificate {} is not valid base64", out.len() + 1))?;
        out.push(der);
        rest = &body[end + END.len()..];
    }
    Ok(out)
}

/// Standard base64 (RFC 4648), white space ignored, padding optional.
fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace())
        .take_while(|c| *c != b'=')
        .map(value)
        .collect::<Option<_>>()?;
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..group.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64("").unwrap(), b"");
        assert_eq!(base64("Zg==").unwrap(), b"f");
        assert_eq!(base64("Zm8=").unwrap(), b"fo");
        assert_eq!(base64("Zm9v").unwrap(), b"foo");
        assert_eq!(base64("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64("Zm9vYg").unwrap(), b"foob");
        assert!(base64("Zm9v!").is_none());
        assert!(base64("Z").is_none());
    }

    #[test]
    fn a_bundle_gives_each_certificate() {
        let pem = format!("junk\n{BEGIN}\nZm9v\n{END}\n{BEGIN}\nYmFy\n{END}\n");
        assert_eq!(
            certificates(pem.as_bytes()).unwrap(),
            [b"foo".to_vec(), b"bar".to_vec()]
        );
        assert!(certificates(format!("{BEGIN}\nZm9v\n").as_bytes()).is_err());
        assert!(certificates(format!("{BEGIN}\n%%%\n{END}").as_bytes()).is_err());
    }

    #[test]
    fn the_test_certificate_decodes_to_der() {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/localhost.crt")).unwrap();
        let der = certificates(&pem).unwrap();
        assert_eq!(der.len(), 1);
        // DER: a SEQUENCE with a two-byte length.
        assert_eq!(&der[0][..2], &[0x30, 0x82]);
    }
}
