//! `GET /v1/export`: a tenant's events in log order after a cursor, streamed in native
//! NDJSON, OCSF or CSV (recall-query's `export.rs`, which `recall export` and the
//! forwarder call too). The caller's role, lens and justification apply as on every
//! read; one self-audit event naming the filters and the range (`after`, `until`) is
//! appended before the stream starts.
//!
//! The answer's `Recall-Export-Cursor` header is the cursor to resume from once the whole
//! body has arrived; a consumer cut off midway resumes from the last record's `seq`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use recall_query::{Export, ExportParams, Lens};

use crate::audit::{self, Use};
use crate::auth::Principal;
use crate::problem::Problem;
use crate::routes::query_problem;
use crate::routes::reading::reading;
use crate::routes::reports::streamed;
use crate::state::AppState;

/// The header naming the cursor after a complete export.
pub const CURSOR_HEADER: &str = "recall-export-cursor";

/// Streams the matching events after `after`.
pub async fn export(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    if who.role.reader().is_none() {
        reading(&state, &who, &headers, None)?;
    }
    let Query(p) = params.map_err(Problem::from)?;
    let asked = |lens: &Lens, until: u64| Use {
        kind: recall_governance::UseKind::Export,
        endpoint: "GET /v1/export",
        patient: p.recorded_patient(lens),
        query: p.recorded(lens, until),
        client: Some(peer.ip()),
        justification: None,
    };
    let read = match reading(&state, &who, &headers, p.filter.patient.as_deref()) {
        Ok(read) => read,
        Err(no) => return Err(audit::refused(&state, &who, asked(&Lens::full(), 0), no).await),
    };
    let checked = match p.checked(&read.lens) {
        Ok(c) => c,
        Err(e) => {
            let no = query_problem(e);
            return Err(audit::refused(&state, &who, asked(&read.lens, 0), no).await);
        }
    };
    let horizon = state.await_indexed(&who.tenant).await?;
    audit::record(
        &state,
        &who,
        Use {
            justification: read.justification.as_deref(),
            ..asked(&read.lens, horizon)
        },
    )
    .await?;
    let cursor = recall_query::cursor_after(checked.after, horizon);
    let (db, tenant, lens) = (state.db.clone(), who.tenant.clone(), read.lens);
    let format = checked.format;
    let mut response = streamed(format.content_type(), move |out| {
        let x = Export {
            tenant: &tenant,
            filter: &checked.filter,
            after: checked.after,
            horizon,
            format,
            lens: &lens,
        };
        db.export(&x, out, &mut |_| {}).map(|_| ())
    });
    if let Some(c) = cursor {
        response
            .headers_mut()
            .insert(CURSOR_HEADER, HeaderValue::from(c));
    }
    Ok(response)
}
