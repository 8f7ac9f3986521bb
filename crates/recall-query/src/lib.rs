//! recall's query layer: indexes over the tenant logs, event reads by seq, search with
//! cursors, and reports.
//!
//! Job: keep fjall indexes (by patient, actor and event time; client id → seq; seq →
//! body block) derived from the log, and answer reads, searches and reports from them
//! by decrypting only the ~32 KiB blocks that hold hits.
//!
//! Invariants:
//! - The log is the source of truth; the index is derived and rebuildable (`reindex`).
//!   Each tenant has a watermark (events indexed) written in the same fjall batch as the
//!   entries it covers, so after a crash the index is consistent up to its watermark and
//!   catch-up resumes there. fjall is not fsynced per batch: catch-up on open repairs loss.
//! - Identifiers appear in index keys only as truncated keyed blind-index tokens, never in
//!   the clear. Tokens may collide, so every hit is checked against the decrypted event:
//!   results are exact.
//! - Search order is (event time, seq), complete and exact: late arrivals are indexed by
//!   their event time; a cursor resumes strictly after the last returned position and is
//!   refused for other filters or another order.
//! - The in-memory id filter of a generation, once ready, holds every id key of it: it
//!   may only answer "maybe" wrongly, never "absent".
//! - In-memory shortcuts to a block (the previous hit's run, the run cache) are guesses:
//!   an event reached through one is used only if it carries the seq asked for.
//! - Event contents leave only through a [`Lens`] (the field-level disclosure policy of
//!   the reader), events and echoed identifiers alike.
//! - Errors, logs and panics never carry PHI (identifiers, event contents).
//!
//! Layout of every key and value: docs/design/indexes.md.

#![forbid(unsafe_code)]

mod body_filter;
mod breakglass;
mod cache;
mod combos;
mod cube;
mod db;
mod disclose;
mod disclose_fast;
mod entries;
mod error;
mod export;
mod export_ocsf;
mod facet_lists;
mod facets;
mod generation;
mod idfilter;
mod impact;
mod index;
pub mod index_memory;
mod keys;
mod months;
mod params;
pub mod plain;
mod postings;
mod raw_json;
mod read;
mod report;
mod report_pdf;
mod reviews;
mod scan;
mod search;
mod summary;

pub use body_filter::FHIR_ACTIONS;
pub use breakglass::{BREAK_GLASS, DISPOSITIONS, REVIEW_ACTION, REVIEW_RESOURCE, review_of};
pub use db::Db;
pub use disclose::{Field, Given, Lens, PSN_PREFIX, Policy, PolicyError, Reader, Refused, Rule};
pub use error::QueryError;
pub use export::{Checked, Export, ExportFormat, ExportParams, ExportStats, cursor_after};
pub use export_ocsf::OCSF_VERSION;
pub use facets::{Facets, MAX_FACET_EVENTS};
pub use generation::IndexBuffers;
pub use impact::{Affected, Impact, IncidentScope};
pub use index_memory::IndexMemory;
pub use months::Subject;
pub use params::{DEFAULT_LIMIT, FilterParams, MAX_LIMIT, SearchParams, time_param};
pub use read::{Found, Hit, Lookup};
pub use report::{Kind as ReportKind, ReportFormat, ReportStats, TimeRange, check_subject};
pub use report_pdf::{Issued, PdfReport};
pub use reviews::{
    DEFAULT_DEADLINE_DAYS, DEFAULT_QUEUE_LIMIT, Deadlines, MAX_QUEUE_LIMIT, Review, ReviewItem,
    ReviewPage, ReviewParams, ReviewQuery, ReviewState,
};
pub use search::{Filter, Order, Page, Prepared, Query};
pub use summary::{SUMMARY_TOKEN, Summary, Token};
// Re-exported (hidden) only for the fuzz target in fuzz/: not part of the API.
#[doc(hidden)]
pub use search::{decode_cursor, encode_cursor};

#[cfg(test)]
mod tests {
    /// The server shares one `Db` between its ingest and query tasks.
    #[test]
    fn db_is_shareable_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<crate::Db>();
    }
}
