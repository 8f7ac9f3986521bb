//! recall-bench: the synthetic hospital workload and the harness that measures recall
//! against its PostgreSQL peer (PRODUCT.md §5). See docs/benchmarks.md.
#![forbid(unsafe_code)]

pub mod generator;
pub mod peer;
pub mod recall_cli;
pub mod report;
pub mod run;
pub mod serve;
