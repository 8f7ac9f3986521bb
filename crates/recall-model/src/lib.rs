//! recall's native audit event, wire format v1 (docs/design/canonical-event.md §0).
//!
//! Job: turn untrusted bytes into a validated, normalised [`Event`], and turn a
//! [`Recorded`] event (an event plus the server-assigned `tenant`, `seq`, `received`
//! and `appended_by`) into its RFC 8785 (JCS) canonical bytes — the exact bytes that the
//! ledger commits to — and back.
//!
//! Invariants:
//! - Every rejection is a [`ValidationError`] naming the field (a dotted path such as
//!   `actor.id` or `detail`) and the rule; error messages never echo field values,
//!   because values may be PHI.
//! - `canonical(parse_canonical(canonical(r))) == canonical(r)`: the canonical form is a
//!   fixed point, and it does not depend on the key order or whitespace of the input.
//! - A client event never carries `appended_by` or `origin` nor claims recall's own names
//!   ([`provenance`]): recall's records are told apart by what recall alone writes.
//!   `origin` is the original record (FHIR, ATNA) that one of recall's decoders mapped
//!   the event from ([`Origin`]), committed and encrypted with it.
//! - No I/O happens here.
//!
//! Parsing has two paths. The fast one deserialises straight into borrowed raw structs
//! (serde derive, unknown fields and duplicates refused) and then applies the value
//! rules (`fields`). Only when serde refuses the input does the slow path re-read it as
//! a JSON value, to name the exact field and structural rule (invalid JSON, duplicate
//! key, unknown field, wrong type); it then applies the same value rules, so both paths
//! accept exactly the same inputs. The canonical form is specified byte for byte in
//! docs/design/canonical-event.md.
//!
//! recall's decoders (FHIR, ATNA) build a [`Draft`] field by field instead of JSON, and
//! [`validate_draft`] applies the same rules to it (`validate::build`, the reserved
//! names) with the size limit measured on the draft's JSON form, without writing it.
//!
//! Stored events can also be *viewed* ([`view_canonical`]): the fields searches filter
//! on, borrowed from the canonical bytes without building an [`Event`]; bytes the view
//! does not take (escapes) are left to [`parse_canonical`].

#![forbid(unsafe_code)]

mod canonical;
mod draft;
mod event;
mod fields;
mod flat;
mod jcs;
mod limits;
mod origin;
pub mod provenance;
mod raw;
mod slow;
mod time;
mod validate;
mod value;
mod view;

pub use canonical::{Stamp, canonical, canonical_into, canonical_parts_into, parse_canonical};
pub use draft::{Draft, DraftActor, DraftResource, DraftSource, validate_draft};
pub use event::{Actor, Epoch, Event, Outcome, Patient, Recorded, Resource, Source};
pub use jcs::canonical_json_into;
pub use limits::{
    MAX_DETAIL_BYTES, MAX_EVENT_BYTES, MAX_FUTURE_SKEW_SECONDS, MAX_ID_CHARS, MAX_REASON_CHARS,
    MAX_TEXT_CHARS, Rule, ValidationError,
};
pub use origin::{
    MAX_ORIGIN_BYTES, MAX_ORIGIN_PROBLEMS, MAX_RECORDED_BYTES, MORE_PROBLEMS, Origin, OriginBody,
    Understood,
};
pub use provenance::{
    APPENDED_BY_CLI, APPENDED_BY_SERVER, RESERVED_ACTOR_PREFIXES, RESERVED_SYSTEMS,
    appended_by_import, appended_by_recall, appended_by_syslog,
};
pub use validate::{parse_client_event, parse_event, validate_tenant};
pub use view::{View, view_canonical};
