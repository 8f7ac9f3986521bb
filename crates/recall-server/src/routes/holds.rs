//! `/v1/holds`: legal holds of the caller's tenant (admin and privacy_officer). Placing
//! and releasing a hold is appended to the tenant's log before the answer.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use recall_query::Subject;
use serde::Deserialize;
use serde_json::json;

use recall_governance::workflows::{self, NewHold};
use recall_governance::{GovernanceError, Hold, Holds, Scope, Via};

use crate::audit;
use crate::auth::{Principal, Role};
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::{json_body, time_param};
use crate::state::{AppState, internal};

/// Roles that manage holds.
pub const HOLDERS: &[Role] = &[Role::Admin, Role::PrivacyOfficer];

/// Body of `POST /v1/holds`: exactly one of `patient`, `actor`, or `from` with `to`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
    patient: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    matter: String,
}

/// Runs `f` on the holds table as the caller (see `governance::as_caller`); 404 when the
/// server has none.
async fn with_holds<T: Send + 'static>(
    state: &AppState,
    who: &Principal,
    via: Via,
    f: impl FnOnce(&Holds, &workflows::Actor<'_>) -> Result<T, GovernanceError> + Send + 'static,
) -> Result<T, Problem> {
    as_caller(state, who, via, move |state, by| {
        let holds = state
            .holds
            .as_ref()
            .ok_or_else(|| Problem::not_found().detail("holds are not enabled"))?;
        f(holds, by).map_err(audit::problem)
    })
    .await
}

fn subject<'a>(value: &'a str, field: &'static str) -> Result<&'a str, Problem> {
    if value.is_empty() || value.chars().count() > 128 {
        return Err(Problem::bad_request("must be 1 to 128 characters").field(field));
    }
    Ok(value)
}

/// `POST /v1/holds`: places a hold; 201 with its public facts.
pub async fn create_hold(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<axum::Json<CreateHold>, JsonRejection>,
) -> Result<Response, Problem> {
    who.require(HOLDERS)?;
    let axum::Json(req) = body.map_err(Problem::from)?;
    let token = |s: Subject, v: &str| state.db.subject_token(&who.tenant, s, v).map_err(internal);
    let scope = match (&req.patient, &req.actor, &req.from, &req.to) {
        (Some(p), None, None, None) => {
            Scope::Patient(token(Subject::Patient, subject(p, "patient")?)?)
        }
        (None, Some(a), None, None) => Scope::Actor(token(Subject::Actor, subject(a, "actor")?)?),
        (None, None, Some(_), Some(_)) => {
            let from = time_param("from", req.from.as_deref())?.unwrap_or(Timestamp::MIN);
            let to = time_param("to", req.to.as_deref())?.unwrap_or(Timestamp::MAX);
            Scope::Time { from, to }
        }
        _ => {
            return Err(Problem::bad_request(
                "a hold names exactly one of: patient, actor, or from and to",
            )
            .field("body"));
        }
    };
    let tenant = who.tenant.clone();
    let via = Via::http("POST /v1/holds", Some(peer.ip()));
    let hold = with_holds(&state, &who, via, move |h, by| {
        let new = NewHold {
            tenant: &tenant,
            scope,
            matter: &req.matter,
            patient: req.patient.as_deref(),
            actor: req.actor.as_deref(),
        };
        workflows::place_hold(h, by, new)
    })
    .await?;
    Ok((StatusCode::CREATED, json_body(hold.json())).into_response())
}

/// `GET /v1/holds`: the tenant's holds, active and released, oldest first.
pub async fn list_holds(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Response, Problem> {
    who.require(HOLDERS)?;
    let tenant = who.tenant.clone();
    let via = Via::http("GET /v1/holds", None);
    let holds = with_holds(&state, &who, via, move |h, _| Ok(h.list(&tenant)?)).await?;
    Ok(json_body(
        json!({ "holds": holds.iter().map(Hold::json).collect::<Vec<_>>() }),
    ))
}

/// `DELETE /v1/holds/{id}`: releases a hold; its months may be shredded by the next
/// retention run once past retention. Releasing it again answers the same, records
/// nothing.
pub async fn release_hold(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    who.require(HOLDERS)?;
    let tenant = who.tenant.clone();
    let via = Via::http("DELETE /v1/holds/{id}", Some(peer.ip()));
    let (hold, _) = with_holds(&state, &who, via, move |h, by| {
        workflows::release_hold(h, by, &tenant, &id)
    })
    .await?
    .ok_or_else(|| Problem::not_found().detail("this tenant has no hold with that id"))?;
    Ok(json_body(hold.json()))
}
