//! Storage.
#![forbid(unsafe_code)]
