//! The `admin` role's endpoints: the caller tenant's API keys (list, create, revoke) and
//! the server's non-secret settings. No event contents here, and nothing of another
//! tenant: a key id of another tenant is answered 404, like an unknown one.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use recall_governance::workflows::{self, NewKey};

use crate::audit;
use crate::auth::{ApiKeys, KeyInfo, Principal, Role};
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::json_body;
use crate::state::{AppState, internal};

/// Roles that may use these endpoints.
pub const ADMINS: &[Role] = &[Role::Admin];

/// Body of `POST /v1/admin/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    role: Role,
    label: Option<String>,
    /// The patient a `patient` key may read about (required for that role only). Stored
    /// as a keyed hash, never as the id.
    patient: Option<String>,
}

/// The public facts of a key as the API shows them (never the key or its MAC).
fn key_json(k: &KeyInfo) -> Value {
    json!({
        "id": k.id,
        "role": k.role,
        "label": k.label,
        "created": k.created.to_string(),
        "revoked": k.revoked.map(|t| t.to_string()),
    })
}

/// Runs `f` on the API key table as the caller (see `governance::as_caller`); 404 when
/// the server has none.
async fn with_keys<T: Send + 'static>(
    state: &AppState,
    who: &Principal,
    peer: Option<SocketAddr>,
    endpoint: &'static str,
    f: impl FnOnce(&ApiKeys, &workflows::Actor<'_>) -> Result<T, recall_governance::GovernanceError>
    + Send
    + 'static,
) -> Result<T, Problem> {
    let via = recall_governance::Via::http(endpoint, peer.map(|p| p.ip()));
    as_caller(state, who, via, move |state, by| {
        let keys = state
            .auth
            .api_keys()
            .ok_or_else(|| Problem::not_found().detail("API keys are not enabled"))?;
        f(keys, by).map_err(audit::problem)
    })
    .await
}

/// A `patient` credential's binding (the keyed hash of `patient` under the tenant's index
/// key), `None` for other roles; 400 naming `patient` when it is missing or misplaced.
/// API keys and console users are bound the same way.
pub fn patient_binding(
    state: &AppState,
    tenant: &str,
    role: Role,
    patient: Option<&str>,
) -> Result<Option<String>, Problem> {
    match (role, patient) {
        (Role::Patient, Some(p)) if !p.is_empty() && p.chars().count() <= 128 => {
            let key = state.db.journal().keystore().index_key(tenant);
            let key = key.map_err(internal)?;
            Ok(Some(recall_governance::patient_binding(
                &recall_crypto::BlindIndexer::new(&key),
                p,
            )))
        }
        (Role::Patient, _) => Err(Problem::bad_request(
            "a patient credential needs patient: the patient id (1 to 128 characters)",
        )
        .field("patient")),
        (_, Some(_)) => Err(Problem::bad_request(
            "only a patient credential is bound to a patient",
        )
        .field("patient")),
        (_, None) => Ok(None),
    }
}

/// `GET /v1/admin/keys`: the caller tenant's keys, oldest first.
pub async fn list_keys(State(state): State<AppState>, who: Principal) -> Result<Response, Problem> {
    who.require(ADMINS)?;
    let tenant = who.tenant.clone();
    let keys = with_keys(&state, &who, None, "GET /v1/admin/keys", move |k, _| {
        Ok(k.list_tenant(&tenant)?)
    })
    .await?;
    Ok(json_body(
        json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /v1/admin/keys`: a new key of the caller's tenant; the key text is in this answer
/// only.
pub async fn create_key(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<axum::Json<CreateKey>, JsonRejection>,
) -> Result<Response, Problem> {
    who.require(ADMINS)?;
    let axum::Json(req) = body.map_err(Problem::from)?;
    let binding = patient_binding(&state, &who.tenant, req.role, req.patient.as_deref())?;
    let tenant = who.tenant.clone();
    let st = state.clone();
    let (info, text) = with_keys(
        &state,
        &who,
        Some(peer),
        "POST /v1/admin/keys",
        move |k, by| {
            let new = NewKey {
                tenant: &tenant,
                role: req.role,
                label: req.label.as_deref(),
                patient_binding: binding.as_deref(),
                new_tenant: false,
            };
            let tenants = st.db.journal().store().tenants()?;
            workflows::create_key(k, by, &new, &tenants)
        },
    )
    .await?;
    let mut body = key_json(&info);
    body["key"] = json!(text);
    Ok((StatusCode::CREATED, json_body(body)).into_response())
}

/// `DELETE /v1/admin/keys/{id}`: revokes a key of the caller's tenant, effective from the
/// next request. Revoking a revoked key answers the same (with its first revocation time)
/// and records nothing.
pub async fn revoke_key(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    who.require(ADMINS)?;
    let tenant = who.tenant.clone();
    let endpoint = "DELETE /v1/admin/keys/{id}";
    let (info, _) = with_keys(&state, &who, Some(peer), endpoint, move |k, by| {
        workflows::revoke_key(k, by, &tenant, &id)
    })
    .await?
    .ok_or_else(|| Problem::not_found().detail("this tenant has no API key with that id"))?;
    Ok(json_body(key_json(&info)))
}

/// `GET /v1/admin/settings`: the server settings that are not secret (no key material,
/// no file paths, no environment variable names).
pub async fn settings(State(state): State<AppState>, who: Principal) -> Result<Response, Problem> {
    who.require(ADMINS)?;
    let c = &state.cfg;
    let jwt = c.jwt.as_ref().map(|j| {
        json!({
            "issuer": j.issuer,
            "audience": j.audience,
            "keys": if j.jwks_file.is_some() { "jwks" } else { "hs256" },
            "tenant_claim": j.tenant_claim,
            "role_claim": j.role_claim,
            "patient_claim": j.patient_claim,
            "leeway_secs": j.leeway_secs,
        })
    });
    Ok(json_body(json!({
        "listen": c.listen,
        "tls": c.tls(),
        "insecure_http": c.insecure_http,
        "max_body_bytes": c.max_body_bytes,
        "max_batch_events": c.max_batch_events,
        "queue_events": c.queue_events,
        "request_timeout_secs": c.request_timeout_secs,
        "idle_timeout_secs": c.idle_timeout_secs,
        // As configured: null is the descriptor budget's default.
        "max_connections": c.max_connections,
        "retention_interval_secs": c.retention_interval_secs,
        "public_transparency": c.public_transparency,
        "api_keys": state.auth.api_keys().is_some(),
        "jwt": jwt,
        "policy": policy_json(&c.policy),
    })))
}

/// The disclosure policy as `{field: {role: rule}}`.
pub fn policy_json(policy: &recall_query::Policy) -> Value {
    let mut out = serde_json::Map::new();
    for (field, row) in policy.table() {
        let rules: serde_json::Map<String, Value> = row
            .into_iter()
            .map(|(reader, rule)| (reader.as_str().to_string(), json!(rule.as_str())))
            .collect();
        out.insert(field, Value::Object(rules));
    }
    Value::Object(out)
}
