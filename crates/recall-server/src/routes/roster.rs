//! `PUT /v1/roster` and `PUT /v1/roster/patients` (admin, privacy_officer): replace the
//! tenant's workforce or patient roster with the body (CSV with a header, or NDJSON),
//! all or nothing; the import is recorded in the log (counts only) before the answer.
//! The parsing, sealing and record are `recall_governance::roster`'s, as for the CLI.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use recall_governance::Via;
use recall_governance::roster::{self, Kind};
use recall_governance::sealed::{SEALED_FILE, Sealed};
use serde_json::json;

use crate::audit;
use crate::auth::{Principal, Role};
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::json_body;
use crate::state::{AppState, internal};

/// Roles that import rosters.
pub const ROSTER_KEEPERS: &[Role] = &[Role::Admin, Role::PrivacyOfficer];

/// The server's sealed documents; 404 when it has no data directory.
pub fn sealed(state: &AppState) -> Result<Sealed, Problem> {
    let dir = state.cfg.data_dir.as_ref().ok_or_else(|| {
        Problem::not_found().detail("rosters need a server with a data directory")
    })?;
    Sealed::open(&dir.join(SEALED_FILE)).map_err(internal)
}

/// `PUT /v1/roster`: replaces the workforce roster.
pub async fn put_workforce(
    state: State<AppState>,
    who: Principal,
    peer: ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, Problem> {
    put(state, who, peer, body, Kind::Workforce).await
}

/// `PUT /v1/roster/patients`: replaces the patient roster.
pub async fn put_patients(
    state: State<AppState>,
    who: Principal,
    peer: ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, Problem> {
    put(state, who, peer, body, Kind::Patients).await
}

async fn put(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
    kind: Kind,
) -> Result<Response, Problem> {
    who.require(ROSTER_KEEPERS)?;
    let endpoint = match kind {
        Kind::Workforce => "PUT /v1/roster",
        Kind::Patients => "PUT /v1/roster/patients",
    };
    let sealed = sealed(&state)?;
    let tenant = who.tenant.clone();
    let via = Via::http(endpoint, Some(peer.ip()));
    let counts = as_caller(&state, &who, via, move |state, by| {
        roster::import(&state.db, &sealed, by, &tenant, kind, &body).map_err(audit::problem)
    })
    .await?;
    Ok(json_body(json!(counts)))
}
