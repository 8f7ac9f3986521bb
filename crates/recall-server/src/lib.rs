//! recall's HTTP service: ingest, search, reports, transparency endpoints, authentication
//! and metrics.
//!
//! (Temporary: only the infrastructure modules are declared here so far.)

#![forbid(unsafe_code)]
// `Problem` (136 bytes) is the error of every handler and only travels the error path,
// where boxing it would cost an allocation and buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod config;
pub mod listen;
pub mod problem;
pub mod telemetry;

pub use auth::{Authenticator, Principal, Role};
pub use config::ServerConfig;
pub use problem::Problem;
