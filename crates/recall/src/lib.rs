//! The `recall` command line: the library half, shared by the binary and its tests.
//!
//! Job: turn CLI verbs into calls on the store and journal; own the data directory
//! layout and the configuration file. `anyhow` is used only in this crate.

#![forbid(unsafe_code)]

pub mod assessments_cli;
pub mod config;
pub mod datadir;
pub mod demo;
pub mod export_cli;
pub mod holds_cli;
pub mod import;
pub mod import_cli;
pub mod keys;
pub mod operator_cli;
pub mod proofs;
pub mod query_cli;
pub mod retention;
pub mod review_cli;
pub mod reviews_cli;
pub mod serve;
pub mod users_cli;
pub mod verify_cli;
