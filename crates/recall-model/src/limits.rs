//! The limits of wire format v1 and the error every parser of it returns: a leaf module,
//! imported by the readers (`flat`, `raw`, `slow`), the field checks and the callers.

use std::fmt;

/// Largest accepted encoded event (the input bytes of one event).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Largest accepted `detail`, measured on its canonical form.
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;
/// Largest accepted identifier, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// How far in the future an event's `time` may lie.
pub const MAX_FUTURE_SKEW_SECONDS: i64 = 300;
/// Largest accepted short text field (`actor.role`, `actor.name`, `source.system`,
/// `source.device`), in characters.
pub const MAX_TEXT_CHARS: usize = 256;
/// Largest accepted `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 2048;

/// The rule an input broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The input, or its `detail`, is larger than allowed.
    TooLarge,
    /// The input is not well-formed JSON (the message gives line and column).
    InvalidJson,
    /// The field has the wrong JSON type (e.g. a number where a string belongs).
    WrongType,
    /// The object has a field the format does not define.
    UnknownField,
    /// The same key appears twice in one object.
    Duplicate,
    /// A required field is absent or `null`.
    Required,
    /// The text is empty or has too many characters.
    Length,
    /// The text contains a control character it may not contain.
    ControlCharacter,
    /// An identifier starts or ends with whitespace.
    Whitespace,
    /// The text does not have the required syntax (time, code, address, tenant name).
    Format,
    /// The value is not one of the allowed values.
    NotAllowed,
    /// `time` lies further in the future than the allowed clock skew.
    InFuture,
    /// A `detail` number is not exactly representable as an IEEE-754 double.
    InexactNumber,
}

impl Rule {
    /// A stable, kebab-case name for the rule (e.g. for problem-details responses).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too-large",
            Self::InvalidJson => "invalid-json",
            Self::WrongType => "wrong-type",
            Self::UnknownField => "unknown-field",
            Self::Duplicate => "duplicate",
            Self::Required => "required",
            Self::Length => "length",
            Self::ControlCharacter => "control-character",
            Self::Whitespace => "whitespace",
            Self::Format => "format",
            Self::NotAllowed => "not-allowed",
            Self::InFuture => "in-future",
            Self::InexactNumber => "inexact-number",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

impl ValidationError {
    /// A new error; `message` must state the rule without quoting the input.
    pub fn new(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}
