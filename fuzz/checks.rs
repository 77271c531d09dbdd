// The properties the fuzz targets check, shared with the regression test that replays the
// corpus in the normal test suite (tests/fuzz_corpus.rs).

use fwasr::protocol;
use fwasr::transcript::{Change, Transcript};

/// Bytes as server text messages (split at newlines) through the parser and the transcript
/// state: nothing panics, words read back whole, the segment order and the retraction rule
/// hold after every update.
pub fn server_messages(data: &[u8]) {
    let mut t = Transcript::new();
    for line in data.split(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let Ok(msg) = protocol::parse(&text, 2.5) else {
            continue;
        };
        let Some(update) = msg.segments else { continue };
        for words in update.iter().filter_map(|s| s.words.as_ref()) {
            assert_eq!(words.iter().count(), words.len());
            assert!(words.iter().all(|w| !w.text.contains('\0')));
        }
        let before: Vec<String> = t.segments().map(|s| s.id.clone()).collect();
        let changes = t.apply(&update);
        let after: Vec<String> = t.segments().map(|s| s.id.clone()).collect();
        // Every id of the update is present, and nothing orders after the update's last id.
        for s in &update {
            assert!(after.contains(&s.id), "{} missing after its update", s.id);
        }
        if let Some(last) = update
            .iter()
            .map(|s| after.iter().position(|a| *a == s.id).unwrap())
            .max()
        {
            assert_eq!(
                last + 1,
                after.len(),
                "a segment after the update's largest id survived"
            );
        }
        // Removals are of segments that existed; no id twice.
        for c in &changes {
            if let Change::Removed(s) = c {
                assert!(before.contains(&s.id));
            }
        }
        let mut unique = after.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), after.len(), "duplicate ids");
        // Numeric ids stay in numeric order.
        let numeric: Vec<&String> = after
            .iter()
            .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        for w in numeric.windows(2) {
            let (a, b) = (w[0].trim_start_matches('0'), w[1].trim_start_matches('0'));
            assert!((a.len(), a) <= (b.len(), b), "{} before {}", w[0], w[1]);
        }
        let _ = t.text();
    }
}

/// Bytes as NUL-separated config values (url, param name, param value, header name, header
/// value, API key): setters refuse or accept without panicking; an accepted URL with any
/// parameters still makes a request tungstenite takes; the key never shows in the display URL.
pub fn config_url(data: &[u8]) {
    let fields: Vec<String> = data
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
    let mut c = fwasr::Config::new();
    let url_ok = c.set_url(field(0)).is_ok();
    let _ = c.set_param(field(1), Some(field(2)));
    let _ = c.set_header(field(3), Some(field(4)));
    let _ = c.set_api_key(Some(field(5)));
    let _ = c.set_param("Authorization", Some("secret-from-fuzz"));
    let url = c.request_url();
    assert!(!c.display_url().contains("secret-from-fuzz"));
    if url_ok {
        assert!(fwasr::url::parse_endpoint(&url).is_ok(), "{url}");
        use tungstenite::client::IntoClientRequest;
        assert!(url.as_str().into_client_request().is_ok(), "{url}");
    }
}
