//! `/v1/assessments`: breach impact assessments of the caller's tenant. The privacy
//! officer opens and changes them (each change appended to the log before the answer,
//! by `recall_governance::assessments`) and alone reads the affected-patient list; the
//! auditor reads them through its lens. Every read is self-audited like a report.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use recall_governance::assessment::{OpenRequest, UpdateRequest};
use recall_governance::assessment_pdf;
use recall_governance::assessments;
use recall_governance::workflows::Actor;
use recall_governance::{Books, GovernanceError, UseKind, Via, patients_csv, shown};
use serde::Deserialize;
use serde_json::{Map, json};

use crate::audit::{self, Use};
use crate::auth::{Principal, Role};
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::json_body;
use crate::routes::reading::{Reading, reading};
use crate::state::{AppState, internal};

/// Roles that open and change assessments, and read the patient list.
pub const OFFICERS: &[Role] = &[Role::PrivacyOfficer];
/// Roles that read assessments.
pub const READERS: &[Role] = &[Role::PrivacyOfficer, Role::Auditor];

/// Runs `f` over the assessments as the caller, off the async workers; 404 when the
/// server has no data directory.
async fn with_books<T: Send + 'static>(
    state: &AppState,
    who: &Principal,
    (endpoint, peer): (&'static str, SocketAddr),
    f: impl FnOnce(&Books<'_>, &Actor<'_>, &str) -> Result<T, GovernanceError> + Send + 'static,
) -> Result<T, Problem> {
    state.await_indexed(&who.tenant).await?;
    let via = Via::http(endpoint, Some(peer.ip()));
    let tenant = who.tenant.clone();
    as_caller(state, who, via, move |state, by| {
        let store = state
            .assessments
            .as_ref()
            .ok_or_else(|| Problem::not_found().detail("assessments are not enabled"))?;
        let books = Books {
            db: &state.db,
            store,
            states: &*state.patient_states,
        };
        f(&books, by, &tenant).map_err(audit::problem)
    })
    .await
}

/// Checks the role, then records the read (before anything is answered).
async fn audited_read(
    state: &AppState,
    who: &Principal,
    headers: &HeaderMap,
    peer: SocketAddr,
    endpoint: &'static str,
    query: Map<String, serde_json::Value>,
) -> Result<Reading, Problem> {
    who.require(READERS)?;
    let read = reading(state, who, headers, None)?;
    let used = Use {
        kind: UseKind::Report,
        endpoint,
        patient: None,
        query,
        client: Some(peer.ip()),
        justification: read.justification.as_deref(),
    };
    audit::record(state, who, used).await?;
    Ok(read)
}

/// The checks of a change, in order: the role, the body, the caller's lens.
fn officer_change<B>(
    state: &AppState,
    who: &Principal,
    headers: &HeaderMap,
    body: Result<axum::Json<B>, JsonRejection>,
) -> Result<(B, recall_query::Lens), Problem> {
    who.require(OFFICERS)?;
    let axum::Json(req) = body.map_err(Problem::from)?;
    Ok((req, reading(state, who, headers, None)?.lens))
}

fn no_such() -> Problem {
    Problem::not_found().detail("this tenant has no assessment with that id")
}

/// `POST /v1/assessments`: opens one; 201 with its figures and deadlines.
pub async fn open(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::Json<OpenRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let (req, lens) = officer_change(&state, &who, &headers, body)?;
    let at = ("POST /v1/assessments", peer);
    let a = with_books(&state, &who, at, move |b, by, tenant| {
        assessments::open(b, by, tenant, &req)
    })
    .await?;
    Ok((StatusCode::CREATED, json_body(shown(&a, &lens))).into_response())
}

/// `PATCH /v1/assessments/{id}`: sets the fields given (factors, decision, description,
/// discovery date); each change is a new version in the log.
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<axum::Json<UpdateRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let (req, lens) = officer_change(&state, &who, &headers, body)?;
    let at = ("PATCH /v1/assessments/{id}", peer);
    let a = with_books(&state, &who, at, move |b, by, tenant| {
        assessments::update(b, by, tenant, &id, &req)
    })
    .await?
    .ok_or_else(no_such)?;
    Ok(json_body(shown(&a, &lens)))
}

/// `GET /v1/assessments`: the tenant's assessments at their latest versions.
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let endpoint = "GET /v1/assessments";
    let read = audited_read(&state, &who, &headers, peer, endpoint, Map::new()).await?;
    let all = with_books(&state, &who, (endpoint, peer), move |b, _, tenant| {
        assessments::list(b, tenant)
    })
    .await?;
    let shown: Vec<_> = all.iter().map(|a| shown(a, &read.lens)).collect();
    Ok(json_body(json!({ "assessments": shown })))
}

/// `GET /v1/assessments/{id}`: the latest state and every version before it.
pub async fn get_one(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<OneParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(p) = params.map_err(Problem::from)?;
    let pdf = match p.format.as_deref() {
        None | Some("json") => false,
        Some("pdf") => true,
        Some(_) => return Err(Problem::bad_request("format must be json or pdf").field("format")),
    };
    let endpoint = "GET /v1/assessments/{id}";
    let mut query = Map::from_iter([("assessment".to_string(), json!(id))]);
    if pdf {
        query.insert("format".into(), json!("pdf"));
    }
    let read = audited_read(&state, &who, &headers, peer, endpoint, query).await?;
    let versions = with_books(&state, &who, (endpoint, peer), move |b, _, tenant| {
        assessments::history(b, tenant, &id)
    })
    .await?
    .ok_or_else(no_such)?;
    let doc = assessment_pdf::shown_history(&versions, &read.lens);
    if !pdf {
        return Ok(json_body(doc));
    }
    let bytes = assessment_pdf::pdf(&doc, jiff::Timestamp::now()).map_err(internal)?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], bytes).into_response())
}

/// Query of one assessment: `format=json` (default) or `pdf`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneParams {
    format: Option<String>,
}

/// Query of the patient list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientsParams {
    format: Option<String>,
}

/// `GET /v1/assessments/{id}/patients?format=csv`: the affected patients, for the
/// notification mailing (privacy officer only).
pub async fn patients(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<PatientsParams>, QueryRejection>,
) -> Result<Response, Problem> {
    who.require(OFFICERS)?;
    let Query(p) = params.map_err(Problem::from)?;
    if !matches!(p.format.as_deref(), None | Some("csv")) {
        return Err(Problem::bad_request("format must be csv").field("format"));
    }
    let endpoint = "GET /v1/assessments/{id}/patients";
    let query = Map::from_iter([
        ("assessment".to_string(), json!(id)),
        ("export".to_string(), json!("patients")),
    ]);
    let read = audited_read(&state, &who, &headers, peer, endpoint, query).await?;
    let lens = read.lens;
    let csv = with_books(&state, &who, (endpoint, peer), move |b, _, tenant| {
        let Some(list) = assessments::patients(b, tenant, &id)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        patients_csv(&list, &lens, &mut out)
            .map_err(|e| GovernanceError::Query(recall_query::QueryError::Output(e)))?;
        Ok(Some(out))
    })
    .await?
    .ok_or_else(no_such)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
