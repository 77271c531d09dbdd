//! fwasr: stream live audio to the Fireworks streaming transcription WebSocket and get the
//! transcript back as it evolves. The safe Rust core lives in the top-level modules; `ffi` is
//! the C API on top of it (see `include/fwasr.h`).

pub mod audio;
mod blockq;
mod c_enum;
pub mod chunker;
pub mod config;
mod conn;
mod core;
mod engine;
pub mod error;
pub mod event;
pub mod ffi;
pub mod protocol;
mod proxy;
pub mod session;
pub mod state;
pub mod transcript;
pub mod url;
pub mod words;

/// The library's version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use config::Config;
pub use error::{Error, Status};
pub use event::{Event, EventType, LogLevel};
pub use session::{Session, State, Stats};
pub use transcript::Segment;
