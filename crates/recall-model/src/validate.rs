//! Parsing and validation of wire-format v1 events.

use jiff::Timestamp;

use crate::Event;

/// Largest accepted encoded event (the input bytes of one event).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Largest accepted `detail`, measured on its canonical form.
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;
/// Largest accepted identifier, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// How far in the future an event's `time` may lie.
pub const MAX_FUTURE_SKEW_SECONDS: i64 = 300;

/// The rule an input broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// TODO(helper): variants.
    Placeholder,
}

/// A rejected event: which field, which rule. Never carries the field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the offending field (`actor.id`, `source.ip`, `detail`), or `event`
    /// for the whole input.
    pub field: String,
    /// The rule that was broken.
    pub rule: Rule,
    /// Human-readable statement of the rule (no input values).
    pub message: String,
}

/// Parses and validates one event from JSON bytes, with `now` as the server's clock.
pub fn parse_event(_input: &[u8], _now: Timestamp) -> Result<Event, ValidationError> {
    todo!()
}

/// Checks a tenant name: 1–63 chars of `[a-z0-9-]`, starting with a letter or digit.
pub fn validate_tenant(_tenant: &str) -> Result<(), ValidationError> {
    todo!()
}
