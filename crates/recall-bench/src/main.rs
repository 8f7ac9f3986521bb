//! Benchmark harness.
#![forbid(unsafe_code)]
fn main() {}
