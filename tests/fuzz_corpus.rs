//! Replays the fuzz corpus and every crash the fuzzers found (fuzz/corpus, fuzz/artifacts)
//! through the same checks the fuzz targets run, so what fuzzing found stays fixed.

#[allow(dead_code)]
#[path = "../fuzz/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            check(&std::fs::read(entry.path()).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn server_messages_corpus() {
    assert!(replay("server_messages", checks::server_messages) > 0);
}

#[test]
fn config_url_corpus() {
    assert!(replay("config_url", checks::config_url) > 0);
}
