//! Who put an event in the log, and the names only recall may use.
//!
//! Every event appended by recall ≥ format v2 carries `appended_by`, the credential that
//! appended it, set by recall and never by the client (canonical-event.md §2). recall's
//! own records (uses of the log, key and hold changes, retention runs) are appended by
//! `recall:…`; client events by the caller's credential (`key:<id>`, `jwt:<sub>`) or by
//! the operator who imported them (`import:<os user>`). Clients may not claim recall's
//! names: not its `source.system` values, and not the actor namespaces under which recall
//! names credentials and itself — so a writer can neither forge a retention record nor
//! frame another credential in a patient's access report.

use crate::{Event, Rule, ValidationError};

/// `source.system` values under which recall writes its own records.
pub const RESERVED_SYSTEMS: [&str; 2] = ["recall", "recall-cli"];

/// Actor id prefixes recall uses for credentials (`key:`, `jwt:`), operators (`cli:`,
/// `import:`) and itself (`recall:`); a client event may not use them.
pub const RESERVED_ACTOR_PREFIXES: [&str; 5] = ["recall:", "key:", "jwt:", "cli:", "import:"];

/// `appended_by` of the records the server appends itself.
pub const APPENDED_BY_SERVER: &str = "recall:server";
/// `appended_by` of the records the CLI appends itself (it holds the data directory).
pub const APPENDED_BY_CLI: &str = "recall:cli";

/// Whether an event with this `appended_by` was appended by recall itself. A v1 event
/// (no `appended_by`) is not: callers that must accept v1 data decide on other evidence.
pub fn appended_by_recall(appended_by: Option<&str>) -> bool {
    appended_by.is_some_and(|a| a.starts_with("recall:"))
}

/// `appended_by` of events imported by the operating-system user `user`.
pub fn appended_by_import(user: &str) -> String {
    let mut by = format!("import:{user}");
    // An identifier is at most 128 characters; user names are far shorter in practice.
    if let Some((cut, _)) = by.char_indices().nth(crate::MAX_ID_CHARS) {
        by.truncate(cut);
    }
    by
}

/// `appended_by` of events received by the syslog listener `[sources.<source>]`.
pub fn appended_by_syslog(source: &str) -> String {
    format!("syslog:{source}")
}

/// Refuses a client event that claims one of recall's names, naming the field.
pub(crate) fn refuse_reserved(event: &Event) -> Result<(), ValidationError> {
    let system = event.source.as_ref().and_then(|s| s.system.as_deref());
    if system.is_some_and(|s| RESERVED_SYSTEMS.contains(&s)) {
        return Err(ValidationError::new(
            "source.system",
            Rule::NotAllowed,
            "is reserved for recall's own records",
        ));
    }
    if RESERVED_ACTOR_PREFIXES
        .iter()
        .any(|p| event.actor.id.starts_with(p))
    {
        return Err(ValidationError::new(
            "actor.id",
            Rule::NotAllowed,
            "may not start with recall:, key:, jwt:, cli: or import:, under which recall \
             names its credentials and itself",
        ));
    }
    Ok(())
}
