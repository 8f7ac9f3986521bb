//! `format=pdf` (or `Accept: application/pdf`) on both reports: the document is read at
//! the latest signed checkpoint covering the log, its digest (the SHA-256 of the same
//! report's JSON form at that tree size, `recall_query::PdfReport`) is written into the
//! request's self-audit event, and only then is the PDF streamed, page by page, through
//! the same bounded channel as the other formats. The checks before (role, lens,
//! subject) are the other formats' (`reports.rs`).

use axum::response::Response;
use jiff::Timestamp;
use recall_query::{Issued, Lens, TimeRange};
use serde_json::json;

use crate::audit::{self, Use};
use crate::auth::Principal;
use crate::problem::Problem;
use crate::routes::logs::{covering_checkpoint, no_checkpoint};
use crate::routes::query_problem;
use crate::routes::reports::{Kind, streamed};
use crate::state::{AppState, blocking};

/// A PDF report asked for and allowed.
pub(super) struct Ask<'a> {
    pub(super) kind: Kind,
    pub(super) subject: String,
    pub(super) range: TimeRange,
    pub(super) lens: Lens,
    /// The self-audit event's facts; the digest and tree size are added to its query.
    pub(super) asked: Use<'a>,
}

pub(super) async fn respond(
    state: &AppState,
    who: &Principal,
    mut ask: Ask<'_>,
) -> Result<Response, Problem> {
    let tenant = who.tenant.clone();
    let size = state.await_indexed(&tenant).await?;
    let Some((note, tree_size)) = covering_checkpoint(state, &tenant, size).await? else {
        return Err(no_checkpoint("no signed checkpoint covers the log yet"));
    };
    // The checkpoint may cover events acknowledged after `size`: wait for their indexing.
    state.await_indexed(&tenant).await?;
    let (db, lens, subject) = (state.db.clone(), ask.lens.clone(), ask.subject.clone());
    let (kind, range, t) = (ask.kind, ask.range, tenant.clone());
    let report = blocking(move || {
        db.prepare_pdf(&t, kind.on(&subject), range, &lens, tree_size)
            .map_err(query_problem)
    })
    .await?;
    ask.asked
        .query
        .insert("sha256".into(), json!(report.sha256_hex()));
    ask.asked
        .query
        .insert("tree_size".into(), json!(report.tree_size()));
    audit::record(state, who, ask.asked).await?;
    let by = format!("{} ({})", who.role, who.subject);
    let (db, lens) = (state.db.clone(), ask.lens);
    Ok(streamed("application/pdf", move |out| {
        let issued = Issued {
            at: Timestamp::now(),
            by: &by,
            checkpoint: &note,
        };
        db.write_pdf(&report, &issued, &lens, out).map(|_| ())
    }))
}
