//! The audio front end: any supported input format, rate and channel count in, 16 kHz mono
//! s16le out. Runs on the pushing thread; allocation-free after construction.

pub mod g711;
pub mod resample;
