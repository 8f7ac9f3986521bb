//! Filters on what the fast event view does not hold: `resource.type`, `resource.id` and
//! the FHIR AuditEvent type (from `detail.dicom_event`), plus the FHIR crude action
//! (from `action`, which the view does hold).
//!
//! Invariants:
//! - The whole event is parsed only when one of the body filters is set: a search
//!   without them costs what it cost before.
//! - No index serves these fields: the events the other filters (and their indexes)
//!   select are tested one by one, so a search on them alone walks the log (bounded by
//!   the page size and the time range, like any unindexed filter).
//! - The lens rules of the fields apply as for every other filter (`search::governed`):
//!   a withheld resource cannot be filtered on, a pseudonymised one only by pseudonym.
//! - A cursor's fingerprint covers these filters; they are appended only when set, so
//!   the cursors of searches without them are unchanged.

use recall_model::parse_canonical;

use crate::disclose::Field;
use crate::error::QueryError;
use crate::search::{Compiled, Filter, put_value};

/// The FHIR crude action codes.
pub const FHIR_ACTIONS: [&str; 5] = ["C", "R", "U", "D", "E"];

/// Refuses a crude action that is not one of [`FHIR_ACTIONS`].
pub(crate) fn check(f: &Filter) -> Result<(), QueryError> {
    match f.fhir_action.as_deref() {
        Some(c) if !FHIR_ACTIONS.contains(&c) => Err(QueryError::BadFilter {
            field: "fhir_action",
            message: "fhir_action must be one of C, R, U, D, E".into(),
        }),
        _ => Ok(()),
    }
}

/// Whether an event's `action` has the crude action `want` (no filter: yes).
pub(crate) fn crude_holds(want: Option<&str>, action: &[u8]) -> bool {
    want.is_none_or(|w| {
        std::str::from_utf8(action).is_ok_and(|a| recall_fhir::codes::crude(a) == w)
    })
}

/// Appends the body filters to a cursor fingerprint's representation, only when one is
/// set (a marker byte, then each value).
pub(crate) fn put_fingerprint(f: &Filter, repr: &mut Vec<u8>) {
    let values = [
        &f.resource_type,
        &f.resource_id,
        &f.fhir_action,
        &f.fhir_type,
    ];
    if values.iter().all(|v| v.is_none()) {
        return;
    }
    repr.push(0xfe);
    for v in values {
        put_value(repr, v.as_deref());
    }
}

impl Compiled {
    /// Whether the event (its canonical bytes) satisfies the body filters; true without
    /// parsing when none is set.
    pub(crate) fn body_matches(&self, canonical: Option<&[u8]>) -> bool {
        let f = &self.f;
        if f.resource_type.is_none() && f.resource_id.is_none() && f.fhir_type.is_none() {
            return true;
        }
        let Some(Ok(r)) = canonical.map(parse_canonical) else {
            return false;
        };
        let e = &r.event;
        let resource = e.resource.as_ref();
        let kind = resource.map(|r| r.kind.as_bytes());
        let id = resource.and_then(|r| r.id.as_deref()).map(str::as_bytes);
        let own = e
            .detail
            .as_ref()
            .and_then(|d| d.get("dicom_event"))
            .and_then(|v| v.as_str());
        self.holds(Field::ResourceType, &f.resource_type, kind)
            && self.holds(Field::ResourceId, &f.resource_id, id)
            && f.fhir_type
                .as_deref()
                .is_none_or(|t| recall_fhir::codes::event_type(&e.action, own) == t)
    }
}
