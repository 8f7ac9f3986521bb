//! `/v1/reviews/break-glass`: the break-glass review queue of the caller's tenant. The
//! queue is the index's (recall-query `reviews.rs`), the review workflow governance's
//! (`recall_governance::reviews`); this module only checks roles, applies the lens and
//! records each read before its answer leaves.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use recall_governance::reviews::{ReviewError, ReviewRequest, review_break_glass};
use recall_governance::{GovernanceError, UseKind, Via};
use recall_query::ReviewParams;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::audit::{self, Use};
use crate::auth::{Principal, Role};
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::reading::reading;
use crate::routes::{json_body, query_problem};
use crate::state::{AppState, blocking, internal};

/// Roles that read the queue (through their lens).
pub const QUEUE_READERS: &[Role] = &[Role::Auditor, Role::PrivacyOfficer];
/// Roles that review.
pub const REVIEWERS: &[Role] = &[Role::PrivacyOfficer];

/// `GET /v1/reviews/break-glass`: one page of the queue, newest first.
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ReviewParams>, QueryRejection>,
) -> Result<Response, Problem> {
    who.require(QUEUE_READERS)?;
    let Query(params) = params.map_err(Problem::from)?;
    let read = reading(&state, &who, &headers, None)?;
    let query = params.query(&read.lens).map_err(query_problem)?;
    let horizon = state.await_indexed(&who.tenant).await?;
    audit::record(
        &state,
        &who,
        Use {
            kind: UseKind::Search,
            endpoint: "GET /v1/reviews/break-glass",
            patient: None,
            query: params.recorded(),
            client: Some(peer.ip()),
            justification: read.justification.as_deref(),
        },
    )
    .await?;
    let (db, tenant) = (state.db.clone(), who.tenant.clone());
    let page = blocking(move || {
        db.break_glass_page(&tenant, &query, horizon)
            .map_err(query_problem)
    })
    .await?;
    let (now, deadline) = (Timestamp::now(), state.cfg.reviews.for_tenant(&who.tenant));
    let items = page
        .items
        .iter()
        .map(|i| i.json(&read.lens, now, deadline))
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    Ok(json_body(
        json!({"items": items, "next_cursor": page.next_cursor}),
    ))
}

/// `GET /v1/reviews/break-glass/{seq}`: one item with every review of it, oldest first.
pub async fn item(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(seq): Path<u64>,
) -> Result<Response, Problem> {
    who.require(QUEUE_READERS)?;
    let read = reading(&state, &who, &headers, None)?;
    state.await_indexed(&who.tenant).await?;
    let (db, tenant) = (state.db.clone(), who.tenant.clone());
    let found = blocking(move || db.break_glass_item(&tenant, seq).map_err(query_problem))
        .await?
        .ok_or_else(|| {
            Problem::not_found()
                .detail("no break-glass access at this seq")
                .field("seq")
        })?;
    let (item, history) = found;
    let mut query = Map::new();
    query.insert("queue".into(), json!("break-glass"));
    query.insert("seq".into(), json!(seq));
    audit::record(
        &state,
        &who,
        Use {
            kind: UseKind::Search,
            endpoint: "GET /v1/reviews/break-glass/{seq}",
            patient: None,
            query,
            client: Some(peer.ip()),
            justification: read.justification.as_deref(),
        },
    )
    .await?;
    let (now, deadline) = (Timestamp::now(), state.cfg.reviews.for_tenant(&who.tenant));
    let mut out = item.json(&read.lens, now, deadline).map_err(internal)?;
    out["history"] = Value::Array(
        history
            .iter()
            .map(|r| r.json(&read.lens))
            .collect::<Result<_, _>>()
            .map_err(internal)?,
    );
    Ok(json_body(out))
}

/// Body of `POST /v1/reviews/break-glass/{seq}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    disposition: Option<String>,
    note: Option<String>,
}

/// `POST /v1/reviews/break-glass/{seq}`: records a review (201).
pub async fn review(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(seq): Path<u64>,
    body: Result<axum::Json<NewReview>, JsonRejection>,
) -> Result<Response, Problem> {
    who.require(REVIEWERS)?;
    let axum::Json(body) = body.map_err(Problem::from)?;
    let disposition = body
        .disposition
        .ok_or_else(|| Problem::bad_request("disposition is required").field("disposition"))?;
    let tenant = who.tenant.clone();
    let via = Via::http("POST /v1/reviews/break-glass/{seq}", Some(peer.ip()));
    let d = disposition.clone();
    let leaf = as_caller(&state, &who, via, move |state, by| {
        let req = ReviewRequest {
            tenant: &tenant,
            seq,
            disposition: &d,
            note: body.note.as_deref(),
        };
        review_break_glass(&state.db, by, &req).map_err(review_problem)
    })
    .await?;
    let out = json!({"seq": seq, "disposition": disposition, "leaf_hash": B64.encode(leaf)});
    Ok((StatusCode::CREATED, json_body(out)).into_response())
}

/// A refused review as its answer; other failures as governance's.
fn review_problem(e: GovernanceError) -> Problem {
    let GovernanceError::Review(r) = e else {
        return audit::problem(e);
    };
    let detail = r.to_string();
    match r {
        ReviewError::BadDisposition => Problem::bad_request(detail).field("disposition"),
        ReviewError::BadNote => Problem::bad_request(detail).field("note"),
        ReviewError::UnknownSeq => Problem::not_found().detail(detail).field("seq"),
        ReviewError::NotBreakGlass => {
            Problem::new(StatusCode::CONFLICT, "Not a break-glass access")
                .detail(detail)
                .field("seq")
        }
        ReviewError::Shredded => Problem::new(StatusCode::GONE, "Event shredded")
            .detail(detail)
            .field("seq"),
        ReviewError::OwnAccess => Problem::forbidden().detail(detail).field("seq"),
    }
}

/// Sets `recall_break_glass_open` and `recall_break_glass_overdue`: totals over the
/// tenants, each with its own deadline (no label: tenants and actors stay out of metrics).
pub async fn set_gauges(state: &AppState) {
    let state = state.clone();
    let counted = tokio::task::spawn_blocking(move || {
        let now = Timestamp::now();
        let (mut open, mut overdue) = (0u64, 0u64);
        for t in state.db.journal().store().tenants().ok()? {
            let deadline = state.cfg.reviews.for_tenant(&t);
            let (o, d) = state.db.break_glass_counts(&t, now, deadline).ok()?;
            open += o;
            overdue += d;
        }
        Some((open, overdue))
    })
    .await;
    if let Ok(Some((open, overdue))) = counted {
        metrics::gauge!("recall_break_glass_open").set(open as f64);
        metrics::gauge!("recall_break_glass_overdue").set(overdue as f64);
    }
}
