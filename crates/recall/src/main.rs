//! The `recall` command line.
#![forbid(unsafe_code)]
fn main() {}
