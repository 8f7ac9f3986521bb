//! The log audits itself: every search, event read and report appends an event naming the
//! caller (DICOM 110101 "Audit Log Used") before the answer is sent, durably; so does
//! every API key created or revoked over the API.

use std::net::IpAddr;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::auth::{KeyInfo, Principal};
use crate::ingest::IngestError;
use crate::problem::Problem;
use crate::state::AppState;

/// What was asked, for the audit event.
pub struct Use<'a> {
    /// `search` (searches and event reads) or `report`.
    pub action: &'a str,
    /// The endpoint, e.g. `GET /v1/events`.
    pub endpoint: &'a str,
    /// The patient asked about, if any.
    pub patient: Option<&'a str>,
    /// The query parameters (the patient among them is recorded in `patient`).
    pub query: Map<String, Value>,
    /// Caller's address.
    pub client: Option<IpAddr>,
    /// Why the caller needs what it asked for, when it said so (`Recall-Justification`).
    pub justification: Option<&'a str>,
}

/// Appends the audit event of a use of the log; errors become 503 so that no answer
/// leaves without its record.
pub async fn record(state: &AppState, who: &Principal, what: Use<'_>) -> Result<(), Problem> {
    let mut event = base(who, what.action, what.client);
    event["resource"] = json!({"type": "AuditEvent"});
    event["purpose"] = json!("HCOMPL");
    event["detail"] =
        json!({"dicom_event": "110101", "endpoint": what.endpoint, "query": what.query});
    if let Some(j) = what.justification {
        event["detail"]["justification"] = json!(j);
    }
    if let Some(p) = what.patient {
        event["patient"] = json!({ "id": p });
    }
    submit(state, who, event).await
}

/// A change to the tenant's credentials made over the API.
pub struct KeyChange<'a> {
    /// `create` or `revoke`.
    pub action: &'a str,
    /// The endpoint, e.g. `POST /v1/admin/keys`.
    pub endpoint: &'a str,
    /// The key created or revoked (its public facts).
    pub key: &'a KeyInfo,
    /// Caller's address.
    pub client: Option<IpAddr>,
}

/// Appends the audit event of an API key created or revoked (DICOM 110113 "Security
/// Alert", type 110136 "Security Roles Changed"): granting a role is granting access.
pub async fn record_key_change(
    state: &AppState,
    who: &Principal,
    what: KeyChange<'_>,
) -> Result<(), Problem> {
    let mut event = base(who, what.action, what.client);
    event["resource"] = json!({"type": "ApiKey", "id": what.key.id});
    event["purpose"] = json!("HSYSADMIN");
    let mut detail = json!({
        "dicom_event": "110113",
        "dicom_type": "110136",
        "endpoint": what.endpoint,
        "role": what.key.role,
    });
    if let Some(l) = &what.key.label {
        detail["label"] = json!(l);
    }
    event["detail"] = detail;
    submit(state, who, event).await
}

/// A legal hold placed or released over the API.
pub struct HoldChange<'a> {
    /// `create` (placed) or `delete` (released).
    pub action: &'a str,
    /// The endpoint, e.g. `POST /v1/holds`.
    pub endpoint: &'a str,
    /// The hold.
    pub hold: &'a crate::holds::Hold,
    /// The held patient (placing a patient hold): recorded as the event's patient, so
    /// the hold shows in that patient's access report.
    pub patient: Option<&'a str>,
    /// The held actor (placing an actor hold), recorded in `detail`.
    pub actor: Option<&'a str>,
    /// Caller's address.
    pub client: Option<IpAddr>,
}

/// Appends the audit event of a legal hold placed or released.
pub async fn record_hold_change(
    state: &AppState,
    who: &Principal,
    what: HoldChange<'_>,
) -> Result<(), Problem> {
    let mut event = base(who, what.action, what.client);
    event["resource"] = json!({"type": "LegalHold", "id": what.hold.id});
    // HIPAA counts legal services among health care operations.
    event["purpose"] = json!("HOPERAT");
    let mut hold = what.hold.json();
    if let Some(a) = what.actor {
        hold["actor"] = json!(a);
    }
    event["detail"] = json!({"endpoint": what.endpoint, "hold": hold});
    if let Some(p) = what.patient {
        event["patient"] = json!({ "id": p });
    }
    submit(state, who, event).await
}

/// The fields every self-audit event has.
fn base(who: &Principal, action: &str, client: Option<IpAddr>) -> Value {
    let mut source = Map::new();
    source.insert("system".into(), json!("recall"));
    if let Some(ip) = client {
        source.insert("ip".into(), json!(ip.to_string()));
    }
    json!({
        "time": Timestamp::now().to_string(),
        "actor": {"id": who.subject, "role": who.role.to_string(), "type": actor_type(&who.subject)},
        "action": action,
        "outcome": "success",
        "source": source,
    })
}

/// Validates and appends `event` to the caller's log, durably.
async fn submit(state: &AppState, who: &Principal, event: Value) -> Result<(), Problem> {
    let bytes = serde_json::to_vec(&event).unwrap_or_default();
    let event = recall_model::parse_event(&bytes, Timestamp::now()).map_err(|e| {
        tracing::error!(field = %e.field, "self-audit event invalid");
        Problem::internal()
    })?;
    match state.ingest.submit(&who.tenant, vec![event]).await {
        Ok(_) => Ok(()),
        Err(IngestError::Overloaded { retry_after }) => Err(Problem::unavailable(retry_after)
            .detail("the audit record of this request could not be queued")),
        Err(e) => Err(crate::state::internal(e)),
    }
}

fn actor_type(subject: &str) -> &'static str {
    if subject.starts_with("jwt:") {
        "user"
    } else {
        "service"
    }
}
