//! `/v1/integrity`: the caller's tenant's signed checkpoints and the verdicts of its
//! scheduled verification (`GET`, admin, auditor and privacy_officer: no event contents,
//! so no self-audit record), a verification run now (`POST /v1/integrity/verify`, same
//! roles), and the acknowledgement of failures (`POST /v1/integrity/{tenant}/acknowledge`,
//! admin and privacy_officer), recorded in the tenant's log before the answer.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use recall_governance::Via;
use recall_governance::integrity::{self, Verdict};
use serde_json::{Value, json};

use crate::audit;
use crate::auth::{Principal, Role};
use crate::governance::as_caller;
use crate::integrity::{verdicts, verify_now};
use crate::problem::Problem;
use crate::routes::json_body;
use crate::state::{AppState, blocking, internal};

/// Roles that see the verdicts and may ask for a run.
pub const WATCHERS: &[Role] = &[Role::Admin, Role::Auditor, Role::PrivacyOfficer];

/// Roles that acknowledge a failure (an accountable act; auditors only read).
pub const ACKNOWLEDGERS: &[Role] = &[Role::Admin, Role::PrivacyOfficer];

/// Verdicts and checkpoints shown per tenant.
const HISTORY: usize = 20;

fn no_verdicts() -> Problem {
    Problem::not_found().detail("integrity verification needs a server with a data directory")
}

/// `GET /v1/integrity`: the tenant's checkpoints and verification verdicts.
pub async fn status(State(state): State<AppState>, who: Principal) -> Result<Response, Problem> {
    who.require(WATCHERS)?;
    let tenant = who.tenant.clone();
    let interval = state.cfg.verify_interval.as_secs_f64() / 3600.0;
    let body = blocking(move || tenant_status(&state, &tenant)).await?;
    Ok(json_body(json!({
        "verify_interval_hours": interval,
        "tenants": [body],
    })))
}

fn tenant_status(state: &AppState, tenant: &str) -> Result<Value, Problem> {
    let v = verdicts(state).map_err(internal)?.ok_or_else(no_verdicts)?;
    let recent = v.recent(tenant, HISTORY).map_err(internal)?;
    let open = v.unacknowledged(tenant).map_err(internal)?;
    let mut out = json!({
        "tenant": tenant,
        "last_verification": recent.first(),
        "verifications": recent,
        "unacknowledged_failures": open,
        "unacknowledged_failure": open > 0,
    });
    // A damaged checkpoint log is itself what verification reports: shown, not a 500.
    match integrity::checkpoints(state.db.journal(), tenant, HISTORY) {
        Ok((history, latest)) => {
            out["latest_checkpoint"] = json!(latest);
            out["checkpoints"] = json!(history);
        }
        Err(recall_governance::GovernanceError::Store(
            recall_store::StoreError::UnknownTenant(_),
        )) => {
            out["latest_checkpoint"] = Value::Null;
            out["checkpoints"] = json!([]);
        }
        Err(e) => out["checkpoints_error"] = json!(e.to_string()),
    }
    Ok(out)
}

/// `POST /v1/integrity/verify`: verifies the tenant's log now; the verdict.
pub async fn verify(State(state): State<AppState>, who: Principal) -> Result<Response, Problem> {
    who.require(WATCHERS)?;
    let tenant = who.tenant.clone();
    let done: Vec<Verdict> = blocking(move || {
        let known = state.db.journal().store().tenants().map_err(internal)?;
        if !known.contains(&tenant) {
            return Err(Problem::not_found().detail("this tenant has no log yet"));
        }
        if verdicts(&state).map_err(internal)?.is_none() {
            return Err(no_verdicts());
        }
        verify_now(&state, &[tenant]).map_err(internal)
    })
    .await?;
    Ok(json_body(json!({ "verification": done.first() })))
}

/// `POST /v1/integrity/{tenant}/acknowledge`: acknowledges the tenant's failures; 409
/// when there is none (nothing recorded).
pub async fn acknowledge(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    who.require(ACKNOWLEDGERS)?;
    who.require_tenant(&tenant)?;
    let via = Via::http("POST /v1/integrity/{tenant}/acknowledge", Some(peer.ip()));
    let done = as_caller(&state, &who, via, move |state, by| {
        let v = verdicts(state).map_err(internal)?.ok_or_else(no_verdicts)?;
        integrity::acknowledge(&v, by, &tenant).map_err(audit::problem)
    })
    .await?;
    match done {
        Some(n) => Ok(json_body(json!({ "acknowledged_failures": n }))),
        None => Err(Problem::new(StatusCode::CONFLICT, "Nothing to acknowledge")
            .detail("this tenant has no unacknowledged verification failure")),
    }
}
