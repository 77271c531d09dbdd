//! Generates include/fwasr.h from the crate's ffi module and the types it exposes, with the
//! settings in cbindgen.toml: `cargo run -p fwasr-header` writes it, `--check` compares it
//! with the committed one (the test suite does, so a stale header fails CI). Builds never
//! write into the source tree; this is the one place the header is made.

use std::path::PathBuf;
use std::process::ExitCode;

use fwasr::config::{FWASR_URL_PRODUCTION, FWASR_URL_US_VIRGINIA, FWASR_URL_V2_PREVIEW};

fn generate(root: &PathBuf) -> Result<String, String> {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .map_err(|e| format!("cannot read cbindgen.toml: {e}"))?;
    let mut parts = fwasr::VERSION.split('.');
    let mut part = || parts.next().unwrap_or("0");
    let (major, minor, patch) = (part(), part(), part());
    let defines = format!(
        "\n/* The version of this header; fwasr_version() gives the library's. */\n\
         #define FWASR_VERSION_MAJOR {major}\n#define FWASR_VERSION_MINOR {minor}\n#define FWASR_VERSION_PATCH {patch}\n\
         \n/* Fireworks' streaming transcription endpoints, for fwasr_config_set_url. */\n\
         /* Production (v1), the default. */\n#define FWASR_URL_PRODUCTION \"{FWASR_URL_PRODUCTION}\"\n\
         /* The regional us-virginia-1 host, the one first published. */\n#define FWASR_URL_US_VIRGINIA \"{FWASR_URL_US_VIRGINIA}\"\n\
         /* The v2 preview (a newer model; same protocol and path). */\n#define FWASR_URL_V2_PREVIEW \"{FWASR_URL_V2_PREVIEW}\""
    );
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .with_after_include(defines)
        .generate()
        .map_err(|e| format!("cannot generate the header: {e}"))?
        .write(&mut out);
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let path = root.join("include/fwasr.h");
    let check = std::env::args().any(|a| a == "--check");
    let header = match generate(&root) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("fwasr-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != header {
            eprintln!("include/fwasr.h is stale: run `cargo run -p fwasr-header` and commit it");
            return ExitCode::FAILURE;
        }
        println!("header check: include/fwasr.h matches the sources");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&path, header) {
        eprintln!("fwasr-header: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}
