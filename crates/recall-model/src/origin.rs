//! The original record an event was decoded from (a FHIR AuditEvent, an ATNA syslog
//! message), kept byte for byte next to the native fields recall understood.
//!
//! Invariants:
//! - Only recall's decoders set an origin: a client's native event that names one is
//!   refused (`origin` is an unknown field of wire format v1), like `appended_by`.
//! - The origin is inside the canonical bytes (member `origin`, canonical-event.md §10):
//!   committed by the Merkle tree, encrypted with the event, shredded with its epoch.
//! - Problems are field paths of the original (`entity[1].what`), never its values.
//! - The body is at most [`MAX_ORIGIN_BYTES`]; a stored event with an origin is at most
//!   [`MAX_RECORDED_BYTES`] of canonical JSON.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::fields::{Case, code, text};
use crate::jcs::write_str;
use crate::limits::{MAX_EVENT_BYTES, MAX_TEXT_CHARS};
use crate::raw::{RawOrigin, Str};
use crate::{Rule, ValidationError};

/// Largest original record kept with an event, in bytes.
pub const MAX_ORIGIN_BYTES: usize = 256 * 1024;
/// Most problems kept per origin; a decoder's further problems are dropped, and the last
/// kept one says so ([`MORE_PROBLEMS`]).
pub const MAX_ORIGIN_PROBLEMS: usize = 64;
/// The last problem of a list that was cut at [`MAX_ORIGIN_PROBLEMS`].
pub const MORE_PROBLEMS: &str = "(more problems not kept)";
/// Largest canonical form of a stored event: a maximal native event plus a maximal
/// origin written with the worst-case JSON escapes (`\u00xx`, six bytes per byte) and
/// its problems.
pub const MAX_RECORDED_BYTES: usize =
    MAX_EVENT_BYTES + 6 * MAX_ORIGIN_BYTES + MAX_ORIGIN_PROBLEMS * (6 * MAX_TEXT_CHARS + 3);

/// How much of the original recall understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Understood {
    /// Every part of the original was mapped.
    Full,
    /// The event was mapped, but some parts were not (listed in `problems`).
    Partial,
    /// Nothing could be mapped: the event only carries the original.
    None,
}

impl Understood {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Partial => "partial",
            Self::None => "none",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Full, Self::Partial, Self::None]
            .into_iter()
            .find(|u| u.as_str() == s)
    }
}

/// The original's bytes: text when they are UTF-8 (kept as a JSON string), else base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginBody {
    /// UTF-8 text, shared by the events decoded from one record.
    Text(Arc<str>),
    /// Bytes that are not UTF-8.
    Bytes(Arc<[u8]>),
}

impl OriginBody {
    /// The original bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Bytes(b) => b,
        }
    }
}

/// The original record of an event and how well recall understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The original's format: a lower-case code (`fhir-r4`, `fhir-r5`, `atna-dicom`,
    /// `atna-rfc3881`, `syslog-unparsed`).
    pub format: String,
    /// How much of it was understood.
    pub understood: Understood,
    /// Paths of the parts that were not understood (never values).
    pub problems: Vec<String>,
    /// The original, byte for byte.
    pub body: OriginBody,
}

impl Origin {
    /// The origin of a record a decoder mapped: understood in full when the decoder
    /// found no problem, partially otherwise. Every mapping decoder (FHIR, ATNA) marks
    /// its events through this one rule.
    pub fn mapped(
        format: &str,
        problems: Vec<String>,
        bytes: &[u8],
    ) -> Result<Self, ValidationError> {
        let understood = match problems.is_empty() {
            true => Understood::Full,
            false => Understood::Partial,
        };
        Self::new(format, understood, problems, bytes)
    }

    /// The origin of `bytes` in `format`. Refuses an invalid format code, bytes over
    /// [`MAX_ORIGIN_BYTES`], and problems that are not short texts; keeps at most
    /// [`MAX_ORIGIN_PROBLEMS`] problems.
    pub fn new(
        format: &str,
        understood: Understood,
        mut problems: Vec<String>,
        bytes: &[u8],
    ) -> Result<Self, ValidationError> {
        if bytes.len() > MAX_ORIGIN_BYTES {
            return Err(ValidationError::new(
                "origin",
                Rule::TooLarge,
                format!("must be at most {MAX_ORIGIN_BYTES} bytes"),
            ));
        }
        if problems.len() > MAX_ORIGIN_PROBLEMS {
            problems.truncate(MAX_ORIGIN_PROBLEMS - 1);
            problems.push(MORE_PROBLEMS.to_string());
        }
        let body = match std::str::from_utf8(bytes) {
            Ok(t) => OriginBody::Text(Arc::from(t)),
            Err(_) => OriginBody::Bytes(Arc::from(bytes)),
        };
        let format = code("origin.format", Str(format.into()), Case::Lower)?;
        let problems = problems
            .into_iter()
            .map(|p| text("origin.problems", Str(p.into())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            format,
            understood,
            problems,
            body,
        })
    }
}

/// Writes `,"origin":{…}` (members in JCS order: base64, format, problems, text,
/// understood).
pub(crate) fn write(out: &mut Vec<u8>, o: &Origin) {
    out.extend_from_slice(b",\"origin\":{");
    if let OriginBody::Bytes(b) = &o.body {
        out.extend_from_slice(b"\"base64\":\"");
        out.extend_from_slice(STANDARD.encode(b).as_bytes());
        out.extend_from_slice(b"\",");
    }
    out.extend_from_slice(b"\"format\":");
    write_str(out, &o.format);
    if !o.problems.is_empty() {
        out.extend_from_slice(b",\"problems\":[");
        for (i, p) in o.problems.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, p);
        }
        out.push(b']');
    }
    if let OriginBody::Text(t) = &o.body {
        out.extend_from_slice(b",\"text\":");
        write_str(out, t);
    }
    out.extend_from_slice(b",\"understood\":\"");
    out.extend_from_slice(o.understood.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

/// Validates a stored origin.
pub(crate) fn build(raw: RawOrigin<'_>) -> Result<Origin, ValidationError> {
    let required = |f: &str| ValidationError::new(f, Rule::Required, "is required");
    let format = raw.format.ok_or_else(|| required("origin.format"))?;
    let understood = raw
        .understood
        .ok_or_else(|| required("origin.understood"))?;
    let understood = Understood::parse(&understood.0).ok_or_else(|| {
        ValidationError::new(
            "origin.understood",
            Rule::NotAllowed,
            "must be one of full, partial, none",
        )
    })?;
    let (bytes, was_base64): (Vec<u8>, bool) = match (raw.text, raw.base64) {
        (Some(t), None) => (t.0.into_owned().into_bytes(), false),
        (None, Some(b)) => (
            STANDARD.decode(b.0.as_bytes()).map_err(|_| {
                ValidationError::new("origin.base64", Rule::Format, "must be standard base64")
            })?,
            true,
        ),
        _ => {
            return Err(ValidationError::new(
                "origin.text",
                Rule::Required,
                "exactly one of text and base64 is required",
            ));
        }
    };
    // UTF-8 originals are always kept as text: one canonical form per original.
    if was_base64 && std::str::from_utf8(&bytes).is_ok() {
        return Err(ValidationError::new(
            "origin.base64",
            Rule::NotAllowed,
            "is only for originals that are not UTF-8",
        ));
    }
    let problems = raw.problems.unwrap_or_default();
    if problems.len() > MAX_ORIGIN_PROBLEMS {
        return Err(ValidationError::new(
            "origin.problems",
            Rule::TooLarge,
            format!("must hold at most {MAX_ORIGIN_PROBLEMS} problems"),
        ));
    }
    let problems = problems.into_iter().map(|p| p.0.into_owned()).collect();
    Origin::new(&format.0, understood, problems, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_cut_and_marked() {
        let many = (0..100).map(|i| format!("entity[{i}]")).collect();
        let o = Origin::new("fhir-r4", Understood::Partial, many, b"{}").unwrap();
        assert_eq!(o.problems.len(), MAX_ORIGIN_PROBLEMS);
        assert_eq!(o.problems.last().unwrap(), MORE_PROBLEMS);
    }

    #[test]
    fn non_utf8_is_kept_as_bytes_and_size_is_bounded() {
        let o = Origin::new("syslog-unparsed", Understood::None, vec![], b"\xff\x00a").unwrap();
        assert_eq!(o.body.as_bytes(), b"\xff\x00a");
        assert!(matches!(o.body, OriginBody::Bytes(_)));
        let big = vec![b'a'; MAX_ORIGIN_BYTES + 1];
        let err = Origin::new("fhir-r4", Understood::Full, vec![], &big).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("origin", Rule::TooLarge));
        let err = Origin::new("FHIR", Understood::Full, vec![], b"{}").unwrap_err();
        assert_eq!(err.field, "origin.format");
    }
}
