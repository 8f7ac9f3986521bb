//! The log audits itself: every search, event read and report appends an event naming the
//! caller (DICOM 110101 "Audit Log Used") before the answer is sent, durably. The events
//! are built by `recall_governance::record`, the one place that shapes recall's own
//! records; key and hold changes go through `recall_governance::workflows`.

use std::net::IpAddr;

use jiff::Timestamp;
use recall_governance::{Act, GovernanceError, UseKind, Via, Who};
use serde_json::{Map, Value};

use axum::http::StatusCode;

use crate::auth::{Principal, Role};
use crate::ingest::IngestError;
use crate::problem::Problem;
use crate::state::{AppState, blocking};

/// What was asked, for the audit event.
pub struct Use<'a> {
    /// Searches and event reads, or reports.
    pub kind: UseKind,
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

/// The actor of a principal's acts.
pub fn who(p: &Principal) -> Who {
    let kind = if p.subject.starts_with("jwt:") || p.subject.starts_with("user:") {
        "user"
    } else {
        "service"
    };
    Who {
        id: p.subject.clone(),
        role: Some(p.role.to_string()),
        kind,
    }
}

/// Appends the audit event of a use of the log; errors become 503 so that no answer
/// leaves without its record.
pub async fn record(state: &AppState, caller: &Principal, what: Use<'_>) -> Result<(), Problem> {
    record_use(state, caller, what, false).await
}

/// The answer to a refused reading request: for a `patient` credential (403, or the 404
/// that hides another patient's event) the refusal is first recorded like a use of the
/// log, with outcome `denied` — a patient key probing other patients is what a privacy
/// officer looks for. The patient asked about is named only when the log already holds
/// events about them (so a probe adds no identifier the log did not hold; else
/// `detail.query.patient_in_log` is false). Other roles' refusals leave unrecorded, as
/// before. If the record fails, that failure is the answer.
pub async fn refused(
    state: &AppState,
    caller: &Principal,
    mut what: Use<'_>,
    refusal: Problem,
) -> Problem {
    if caller.role != Role::Patient
        || !matches!(
            refusal.status,
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        )
    {
        return refusal;
    }
    if let Some(p) = what.patient
        && !in_log(state, &caller.tenant, p).await
    {
        what.patient = None;
        what.query
            .insert("patient_in_log".into(), Value::Bool(false));
    }
    match record_use(state, caller, what, true).await {
        Ok(()) => refusal,
        Err(e) => e,
    }
}

/// Whether the tenant's log holds an event about `patient` (an exact, index-driven look).
async fn in_log(state: &AppState, tenant: &str, patient: &str) -> bool {
    // Events acknowledged a moment ago count too (the index catches up asynchronously);
    // if it cannot catch up in time, what is indexed decides.
    let _ = state.await_indexed(tenant).await;
    let (db, tenant, patient) = (state.db.clone(), tenant.to_string(), patient.to_string());
    blocking(move || {
        let query = recall_query::Query {
            filter: recall_query::Filter {
                patient: Some(patient),
                ..Default::default()
            },
            order: recall_query::Order::Asc,
            limit: 1,
            cursor: None,
        };
        Ok(db
            .search(&tenant, &query)
            .is_ok_and(|page| !page.events.is_empty()))
    })
    .await
    .unwrap_or(false)
}

async fn record_use(
    state: &AppState,
    caller: &Principal,
    what: Use<'_>,
    refused: bool,
) -> Result<(), Problem> {
    let act = Act::LogUsed {
        kind: what.kind,
        patient: what.patient,
        query: what.query,
        justification: what.justification,
        refused,
    };
    let via = Via::http(what.endpoint, what.client);
    record_act(state, &caller.tenant, &act, &who(caller), &via).await
}

/// Appends the record of one of recall's own acts to `tenant`'s log, durably; errors
/// become 503 so that nothing goes on without its record.
pub async fn record_act(
    state: &AppState,
    tenant: &str,
    act: &Act<'_>,
    who: &Who,
    via: &Via,
) -> Result<(), Problem> {
    let event = act.event(who, via, Timestamp::now()).map_err(|e| {
        tracing::error!(field = %e.field, "self-audit event invalid");
        Problem::internal()
    })?;
    match state.ingest.submit_record(tenant, vec![event]).await {
        Ok(_) => Ok(()),
        Err(IngestError::Overloaded { retry_after }) => Err(Problem::unavailable(retry_after)
            .detail("the audit record of this request could not be queued")),
        Err(IngestError::Storage(e)) if e.is_storage_full() => Err(Problem::unavailable(5)
            .detail("the audit record of this request could not be written: the disk is full")),
        Err(e) => Err(crate::state::internal(e)),
    }
}

/// A console user's refusal: 400 naming the field, 409 for a taken name, 404.
fn user_problem(e: recall_governance::users::UserError) -> Problem {
    use recall_governance::users::UserError;
    match e {
        UserError::Invalid { field, message } => Problem::bad_request(message).field(field),
        UserError::Exists => Problem::new(StatusCode::CONFLICT, "Conflict")
            .detail("a user of that name exists")
            .field("name"),
        UserError::Unknown => Problem::not_found().detail("this tenant has no user of that name"),
        other => crate::state::internal(other),
    }
}

/// A governance workflow's failure as an answer: its record could not be queued (503), the
/// request was invalid (400 naming the field), or an internal failure (500).
pub fn problem(e: GovernanceError) -> Problem {
    use recall_governance::{CredentialError, HoldError};
    match e {
        GovernanceError::Busy { retry_after } => Problem::unavailable(retry_after)
            .detail("the audit record of this change could not be queued"),
        GovernanceError::Credentials(CredentialError::InvalidLabel(why)) => {
            Problem::bad_request(format!("label {why}")).field("label")
        }
        GovernanceError::Credentials(CredentialError::UnknownTenant) => Problem::bad_request(
            "this credential's tenant has no log yet: its first key is made with `recall keys create --new-tenant`",
        )
        .field("tenant"),
        GovernanceError::Holds(HoldError::Invalid { field, message }) => {
            Problem::bad_request(message).field(field)
        }
        GovernanceError::Invalid { field, message } => Problem::bad_request(message).field(field),
        GovernanceError::Users(u) => user_problem(u),
        GovernanceError::Roster(row) => {
            let p = Problem::bad_request(row.to_string()).field(row.field);
            match row.row {
                0 => p,
                n => p.index(n - 1),
            }
        }
        GovernanceError::Assessment(recall_governance::AssessmentError::Invalid(i)) => {
            Problem::bad_request(i.message).field(i.field)
        }
        other => crate::state::internal(other),
    }
}
