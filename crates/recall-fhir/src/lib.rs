//! HL7 FHIR AuditEvent (R4 4.0.1 and R5 5.0.0, following IHE BALP) to and from recall's
//! native event. Pure: no I/O, no clock except the one the caller passes.
//!
//! Job:
//! - [`decode`]: one AuditEvent (as a sender posted it) becomes one native event per
//!   patient it names, each carrying the original resource byte for byte
//!   ([`recall_model::Origin`]) and how much of it was understood. Best effort, as BALP
//!   asks of an audit repository: only input that is not JSON or not an AuditEvent is
//!   refused ([`DecodeError`]); anything else that cannot be mapped is a *problem* (a
//!   field path, never a value) and the event is marked `partial`.
//! - [`to_audit_event`]: one native event, in the JSON form `/v1` reads return after the
//!   lens, becomes an AuditEvent of either version; [`searchset`] and [`batch_response`]
//!   wrap them in Bundles.
//!
//! Invariants:
//! - native → FHIR → native is exact for every valid native event: each native field has
//!   one place in the AuditEvent ([`codes`] names recall's own systems and extensions).
//! - Problems and errors never quote the input (it is PHI).
//! - The native fields of a decoded event pass the same validation as a client's native
//!   event (recall-model's rules, through [`recall_model::validate_draft`], without a
//!   JSON round trip): a value that would not is dropped and reported as a problem
//!   instead.

#![forbid(unsafe_code)]

pub mod balp;
mod bundle;
pub mod codes;
mod decode;
mod encode;
mod native;
mod tree;
mod version;

pub use bundle::{Bundle, BundleKind, split_bundle};
pub use decode::{DecodeError, Decoded, decode};
pub use encode::{batch_response, searchset, to_audit_event};
pub use version::FhirVersion;
