//! `GET /v1/reports/access-review` (the periodic access review, JSON or CSV) and `POST
//! /v1/reports/access-review/signoff`. The review is computed by
//! `recall_governance::access_review`, as `recall report access-review` does; like every
//! report it passes the caller's lens and is recorded in the log before it leaves. Its
//! size follows the actors, not the events, so it is built whole and its SHA-256 is sent
//! in `Recall-Report-Sha256` (a sign-off names the JSON form's digest).

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use recall_governance::access_review::pdf::{self, Form};
use recall_governance::access_review::{self, Signoff};
use recall_governance::roster;
use recall_governance::{UseKind, Via};
use recall_query::{ReportFormat, TimeRange};
use serde::Deserialize;
use serde_json::{Map, json};

use crate::audit::{self, Use};
use crate::auth::{Principal, Role};
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::reading::reading;
use crate::routes::reports::{Wanted, format_of};
use crate::routes::roster::sealed;
use crate::routes::{json_body, query_problem, time_param};
use crate::state::{AppState, internal};

/// The header carrying the SHA-256 of the report's body.
pub const DIGEST_HEADER: &str = "recall-report-sha256";
/// Roles that sign an access review off.
pub const SIGNERS: &[Role] = &[Role::PrivacyOfficer, Role::Auditor];

const ENDPOINT: &str = "GET /v1/reports/access-review";

/// Query parameters of the access review.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    /// Period start (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Period end (RFC 3339, exclusive).
    pub to: Option<String>,
    /// `json`, `csv` or `pdf`.
    pub format: Option<String>,
}

/// `GET /v1/reports/access-review?from&to&format=json|csv`.
pub async fn access_review(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ReviewParams>, QueryRejection>,
) -> Result<Response, Problem> {
    if who.role.reader().is_none() {
        reading(&state, &who, &headers, None)?;
    }
    let Query(p) = params.map_err(Problem::from)?;
    let mut query = Map::new();
    query.insert("report".into(), json!("access-review"));
    for (k, v) in [("from", &p.from), ("to", &p.to), ("format", &p.format)] {
        if let Some(v) = v {
            query.insert(k.into(), json!(v));
        }
    }
    let asked = |justification| Use {
        kind: UseKind::Report,
        endpoint: ENDPOINT,
        patient: None,
        query: query.clone(),
        client: Some(peer.ip()),
        justification,
    };
    if who.role == Role::Patient {
        let no = Problem::forbidden()
            .detail("a patient credential runs only the patient access report of its patient");
        return Err(audit::refused(&state, &who, asked(None), no).await);
    }
    let range = TimeRange {
        from: time_param("from", p.from.as_deref())?,
        to: time_param("to", p.to.as_deref())?,
    };
    if range.from.is_none() {
        return Err(Problem::bad_request("from is required").field("from"));
    }
    if range.to.is_none() {
        return Err(Problem::bad_request("to is required").field("to"));
    }
    let wanted = format_of(p.format.as_deref(), &headers)?;
    let read = reading(&state, &who, &headers, None)?;
    state.await_indexed(&who.tenant).await?;
    audit::record(&state, &who, asked(read.justification.as_deref())).await?;
    // The review reads up to its own record, as the other reports do.
    state.await_indexed(&who.tenant).await?;
    let sealed = sealed(&state)?;
    let keys = match state.auth.api_keys() {
        Some(k) => k.list_tenant(&who.tenant).map_err(internal)?,
        None => Vec::new(),
    };
    let (db, tenant, lens) = (state.db.clone(), who.tenant.clone(), read.lens);
    let produced_by = format!("{} {}", who.role.as_str(), who.subject);
    let (body, digest) = tokio::task::spawn_blocking(move || -> Result<_, Problem> {
        let roster = roster::workforce(&db, &sealed, &tenant).map_err(internal)?;
        let review =
            access_review::compute(&db, &tenant, range, roster, &keys).map_err(query_problem)?;
        let form = match wanted {
            Wanted::Data(ReportFormat::Json) => Form::Json,
            Wanted::Data(ReportFormat::Csv) => Form::Csv,
            Wanted::Pdf => Form::Pdf,
        };
        let now = jiff::Timestamp::now();
        let (body, digest) =
            pdf::rendered(&review, &lens, form, &produced_by, now).map_err(internal)?;
        Ok((body, digest))
    })
    .await
    .map_err(internal)??;
    let content_type = match wanted {
        Wanted::Data(ReportFormat::Json) => "application/json",
        Wanted::Data(ReportFormat::Csv) => "text/csv; charset=utf-8",
        Wanted::Pdf => "application/pdf",
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&digest) {
        response.headers_mut().insert(DIGEST_HEADER, v);
    }
    Ok(response)
}

/// Body of `POST /v1/reports/access-review/signoff`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignoffBody {
    /// The reviewer as they name themselves.
    pub reviewer: String,
    /// Period start (RFC 3339).
    pub from: String,
    /// Period end (RFC 3339).
    pub to: String,
    /// SHA-256 of the JSON report reviewed.
    pub sha256: String,
}

/// `POST /v1/reports/access-review/signoff`: records who reviewed which period and the
/// SHA-256 of the JSON report they reviewed; 201 with what was recorded.
pub async fn signoff(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<axum::Json<SignoffBody>, JsonRejection>,
) -> Result<Response, Problem> {
    who.require(SIGNERS)?;
    let axum::Json(b) = body.map_err(Problem::from)?;
    let required = |name: &'static str, v: &str| {
        time_param(name, Some(v))?
            .ok_or_else(|| Problem::bad_request(format!("{name} is required")).field(name))
    };
    let s = Signoff {
        reviewer: b.reviewer,
        from: required("from", &b.from)?,
        to: required("to", &b.to)?,
        sha256: b.sha256,
    };
    s.check().map_err(audit::problem)?;
    let tenant = who.tenant.clone();
    let via = Via::http("POST /v1/reports/access-review/signoff", Some(peer.ip()));
    let recorded = s.clone();
    as_caller(&state, &who, via, move |_, by| {
        access_review::sign_off(by, &tenant, &recorded).map_err(audit::problem)
    })
    .await?;
    Ok((StatusCode::CREATED, json_body(json!(s))).into_response())
}
