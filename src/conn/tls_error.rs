//! Why a TLS handshake failed, in the same words on every platform. OpenSSL names the
//! certificate problem in its text; SChannel gives only a number ("OS Error -2146762487
//! (FormatMessageW() returned error 317)" when Windows has no text for it). Both become
//! "<what went wrong> (<the TLS stack's own words or code>)", so callers, logs and tests see
//! the same phrase for the same problem.

/// The common certificate and handshake problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    Untrusted,
    NameMismatch,
    Expired,
    Revoked,
    RevocationUnknown,
    Unsupported,
}

impl Problem {
    fn phrase(self) -> &'static str {
        match self {
            Problem::Untrusted => {
                "certificate not trusted: it does not chain to a trusted root \
                 (a private CA goes in fwasr_config_set_tls_ca_file)"
            }
            Problem::NameMismatch => "certificate name does not match the host",
            Problem::Expired => "certificate expired or not yet valid",
            Problem::Revoked => "certificate revoked",
            Problem::RevocationUnknown => "certificate revocation status unknown",
            Problem::Unsupported => "no TLS version or cipher in common with the server",
        }
    }
}

/// SChannel and CryptoAPI status codes (HRESULTs) by problem, with their names.
const WINDOWS: &[(u32, &str, Problem)] = &[
    (0x800B_0109, "CERT_E_UNTRUSTEDROOT", Problem::Untrusted),
    (0x800B_010A, "CERT_E_CHAINING", Problem::Untrusted),
    (0x8009_0325, "SEC_E_UNTRUSTED_ROOT", Problem::Untrusted),
    (0x8009_0327, "SEC_E_CERT_UNKNOWN", Problem::Untrusted),
    (0x8009_6004, "TRUST_E_CERT_SIGNATURE", Problem::Untrusted),
    (0x800B_010F, "CERT_E_CN_NO_MATCH", Problem::NameMismatch),
    (0x8009_0322, "SEC_E_WRONG_PRINCIPAL", Problem::NameMismatch),
    (0x800B_0101, "CERT_E_EXPIRED", Problem::Expired),
    (0x8009_0328, "SEC_E_CERT_EXPIRED", Problem::Expired),
    (0x800B_010C, "CERT_E_REVOKED", Problem::Revoked),
    (0x8009_2010, "CRYPT_E_REVOKED", Problem::Revoked),
    (
        0x800B_010E,
        "CERT_E_REVOCATION_FAILURE",
        Problem::RevocationUnknown,
    ),
    (
        0x8009_2012,
        "CRYPT_E_NO_REVOCATION_CHECK",
        Problem::RevocationUnknown,
    ),
    (
        0x8009_2013,
        "CRYPT_E_REVOCATION_OFFLINE",
        Problem::RevocationUnknown,
    ),
    (0x8009_0302, "SEC_E_UNSUPPORTED_FUNCTION", Problem::Unsupported),
    (0x8009_0331, "SEC_E_ALGORITHM_MISMATCH", Problem::Unsupported),
];

/// OpenSSL's verify and handshake texts by problem (lower case).
const OPENSSL: &[(&str, Problem)] = &[
    ("self-signed certificate", Problem::Untrusted),
    ("self signed certificate", Problem::Untrusted),
    ("unable to get local issuer certificate", Problem::Untrusted),
    ("unable to get issuer certificate", Problem::Untrusted),
    ("unable to verify the first certificate", Problem::Untrusted),
    ("certificate signature failure", Problem::Untrusted),
    ("hostname mismatch", Problem::NameMismatch),
    ("ip address mismatch", Problem::NameMismatch),
    ("certificate has expired", Problem::Expired),
    ("certificate is not yet valid", Problem::Expired),
    ("certificate revoked", Problem::Revoked),
    ("unable to get certificate crl", Problem::RevocationUnknown),
    ("crl has expired", Problem::RevocationUnknown),
    ("unsupported protocol", Problem::Unsupported),
    ("no protocols available", Problem::Unsupported),
    ("no shared cipher", Problem::Unsupported),
    ("alert protocol version", Problem::Unsupported),
];

/// The OS error code at the end of an io::Error's text: "... (os error -2146762487)".
fn os_error(text: &str) -> Option<u32> {
    let rest = &text[text.rfind("(os error ")? + "(os error ".len()..];
    let n: i64 = rest[..rest.find(')')?].parse().ok()?;
    // HRESULTs arrive as negative i32.
    Some(n as i32 as u32)
}

/// "<problem> (<detail>)" for a handshake error's text; the text alone when it is none of the
/// common problems.
/// Whether a handshake failed because the connection went (EOF, reset, broken pipe) rather
/// than over certificates or protocol: an I/O error anywhere in the chain, or OpenSSL's words
/// for an early EOF (it reports that without an I/O error).
pub fn lost_connection(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(e) = at {
        if e.is::<std::io::Error>() {
            return true;
        }
        let text = e.to_string().to_ascii_lowercase();
        if ["unexpected eof", "connection reset", "broken pipe"]
            .iter()
            .any(|w| text.contains(w))
        {
            return true;
        }
        at = e.source();
    }
    false
}

pub fn describe(text: &str) -> String {
    if let Some(code) = os_error(text) {
        if let Some((_, name, p)) = WINDOWS.iter().find(|(c, _, _)| *c == code) {
            return format!("{} ({name}, 0x{code:08X})", p.phrase());
        }
        // Windows' own text, where it has one, without "FormatMessageW() returned error".
        if text.contains("FormatMessageW()") {
            return format!("TLS error 0x{code:08X}");
        }
    }
    let lower = text.to_ascii_lowercase();
    match OPENSSL.iter().find(|(needle, _)| lower.contains(needle)) {
        Some((_, p)) => format!("{} ({text})", p.phrase()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schannel_codes_are_named() {
        let untrusted =
            describe("OS Error -2146762487 (FormatMessageW() returned error 317) (os error -2146762487)");
        assert!(untrusted.starts_with("certificate not trusted"), "{untrusted}");
        assert!(
            untrusted.contains("CERT_E_UNTRUSTEDROOT, 0x800B0109"),
            "{untrusted}"
        );
        assert!(!untrusted.contains("FormatMessageW"));
        let name =
            describe("OS Error -2146762481 (FormatMessageW() returned error 317) (os error -2146762481)");
        assert!(name.starts_with("certificate name does not match the host (CERT_E_CN_NO_MATCH"));
        let expired = describe("The certificate has expired. (os error -2146762495)");
        assert!(expired.starts_with("certificate expired or not yet valid (CERT_E_EXPIRED"));
        let unknown = describe("(os error -2146762482)");
        assert!(unknown.starts_with("certificate revocation status unknown (CERT_E_REVOCATION_FAILURE"));
        assert_eq!(
            describe("x (FormatMessageW() returned error 317) (os error -2146893000)"),
            "TLS error 0x80090338"
        );
    }

    #[test]
    fn openssl_texts_are_named() {
        let self_signed = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate \
                           verify failed:ssl/statem/statem_clnt.c:1889: (self-signed certificate)";
        assert_eq!(
            describe(self_signed),
            format!("{} ({self_signed})", Problem::Untrusted.phrase())
        );
        for (text, p) in [
            (
                "certificate verify failed (unable to get local issuer certificate)",
                Problem::Untrusted,
            ),
            (
                "certificate verify failed (Hostname mismatch)",
                Problem::NameMismatch,
            ),
            (
                "certificate verify failed (certificate has expired)",
                Problem::Expired,
            ),
            (
                "certificate verify failed (certificate revoked)",
                Problem::Revoked,
            ),
            (
                "sslv3 alert handshake failure: no shared cipher",
                Problem::Unsupported,
            ),
        ] {
            assert!(describe(text).starts_with(p.phrase()), "{text}");
        }
        assert_eq!(describe("connection reset"), "connection reset");
    }
}
