//! What a request that reads events may see: the caller's role decides its reader and
//! lens (the field-level disclosure policy, `recall_query::Policy`), a `patient`
//! credential is held to its own patient, and a justification sent in
//! `Recall-Justification` unlocks `justified` fields and goes into the self-audit event.

use axum::http::HeaderMap;
use recall_query::Lens;

use crate::auth::Principal;
use crate::problem::Problem;
use crate::state::{AppState, internal};

/// Header carrying the reason a reader needs the fields the policy keeps behind one.
pub const JUSTIFICATION_HEADER: &str = "recall-justification";
/// Longest justification, in characters.
pub const MAX_JUSTIFICATION_CHARS: usize = 500;

/// The disclosure side of one reading request.
pub struct Reading {
    /// How events are shown to this caller.
    pub lens: Lens,
    /// The caller's justification, recorded in the request's self-audit event.
    pub justification: Option<String>,
}

/// 403 unless the caller's role reads events (and, for a patient, reads about `patient`);
/// 400 for a malformed justification. `patient` is the patient the request names.
pub fn reading(
    state: &AppState,
    who: &Principal,
    headers: &HeaderMap,
    patient: Option<&str>,
) -> Result<Reading, Problem> {
    let reader = who.role.reader().ok_or_else(|| {
        Problem::forbidden().detail(format!("the {} role may not read events", who.role))
    })?;
    let justification = justification(headers)?;
    who.require_patient(patient, || {
        state
            .db
            .journal()
            .keystore()
            .index_key(&who.tenant)
            .ok()
            .map(|k| recall_crypto::BlindIndexer::new(&k))
    })?;
    let lens = state
        .db
        .lens(
            &who.tenant,
            &state.cfg.policy,
            reader,
            justification.is_some(),
        )
        .map_err(internal)?;
    Ok(Reading {
        lens,
        justification,
    })
}

/// The justification header: 1 to 500 characters of UTF-8 without control characters.
fn justification(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get(JUSTIFICATION_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        Problem::bad_request(format!(
            "Recall-Justification must be 1 to {MAX_JUSTIFICATION_CHARS} characters of UTF-8 without control characters"
        ))
        .field(JUSTIFICATION_HEADER)
    };
    let text = std::str::from_utf8(v.as_bytes()).map_err(|_| bad())?.trim();
    let n = text.chars().count();
    if n == 0 || n > MAX_JUSTIFICATION_CHARS || text.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(Some(text.to_string()))
}
