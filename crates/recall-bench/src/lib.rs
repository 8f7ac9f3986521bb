//! recall-bench: the synthetic hospital workload and the harness that measures recall
//! against its PostgreSQL peer (goals and results: docs/benchmarks.md).
#![forbid(unsafe_code)]

/// The synthetic workload (its own crate, shared with the demo and the tests).
pub use recall_synth as generator;
pub mod atna;
pub mod compliance;
pub mod console;
pub mod interop;
pub mod memory;
pub mod peer;
pub mod recall_cli;
pub mod report;
pub mod run;
pub mod serve;
