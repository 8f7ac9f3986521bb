//! The log audits itself: every search, event read and report appends an event naming the
//! caller (DICOM 110101 "Audit Log Used") before the answer is sent, durably.

use std::net::IpAddr;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::auth::Principal;
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
}

/// Appends the audit event of a use of the log; errors become 503 so that no answer
/// leaves without its record.
pub async fn record(state: &AppState, who: &Principal, what: Use<'_>) -> Result<(), Problem> {
    let event = build(who, &what).map_err(|e| {
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

fn build(
    who: &Principal,
    what: &Use<'_>,
) -> Result<recall_model::Event, recall_model::ValidationError> {
    let mut source = Map::new();
    source.insert("system".into(), json!("recall"));
    if let Some(ip) = what.client {
        source.insert("ip".into(), json!(ip.to_string()));
    }
    let mut event = json!({
        "time": Timestamp::now().to_string(),
        "actor": {"id": who.subject, "role": who.role.to_string(), "type": actor_type(&who.subject)},
        "action": what.action,
        "resource": {"type": "AuditEvent"},
        "outcome": "success",
        "purpose": "HCOMPL",
        "source": source,
        "detail": {"dicom_event": "110101", "endpoint": what.endpoint, "query": what.query},
    });
    if let Some(p) = what.patient {
        event["patient"] = json!({ "id": p });
    }
    let bytes = serde_json::to_vec(&event).unwrap_or_default();
    recall_model::parse_event(&bytes, Timestamp::now())
}

fn actor_type(subject: &str) -> &'static str {
    if subject.starts_with("jwt:") {
        "user"
    } else {
        "service"
    }
}
