//! The value rules of individual fields (lengths, characters, codes, times, addresses,
//! `detail` numbers and size), shared by both parse paths.

use std::net::IpAddr;

use jiff::Timestamp;

use crate::limits::{MAX_DETAIL_BYTES, MAX_ID_CHARS, MAX_REASON_CHARS, MAX_TEXT_CHARS};
use crate::raw::Str;
use crate::time::{TimeError, parse_rfc3339};
use crate::{Rule, ValidationError, jcs};

/// Counts characters and finds control characters in one pass.
fn scan(s: &str, allow_nl_tab: bool) -> (usize, bool) {
    if s.is_ascii() {
        let bad = s
            .bytes()
            .any(|b| (b < 0x20 || b == 0x7f) && !(allow_nl_tab && (b == b'\n' || b == b'\t')));
        return (s.len(), bad);
    }
    let mut n = 0;
    let mut bad = false;
    for c in s.chars() {
        n += 1;
        bad |= c.is_control() && !(allow_nl_tab && (c == '\n' || c == '\t'));
    }
    (n, bad)
}

fn checked_text(
    field: &str,
    s: Str<'_>,
    max: usize,
    allow_nl_tab: bool,
) -> Result<String, ValidationError> {
    let (n, bad) = scan(&s.0, allow_nl_tab);
    if n == 0 || n > max {
        return Err(ValidationError::new(
            field,
            Rule::Length,
            format!("must be 1 to {max} characters"),
        ));
    }
    if bad {
        let message = if allow_nl_tab {
            "must not contain control characters other than newline and tab"
        } else {
            "must not contain control characters"
        };
        return Err(ValidationError::new(field, Rule::ControlCharacter, message));
    }
    Ok(s.0.into_owned())
}

/// Identifiers: 1..=128 characters, no controls, no surrounding whitespace.
pub(crate) fn ident(field: &str, s: Str<'_>) -> Result<String, ValidationError> {
    let edges_ws = s.0.starts_with(char::is_whitespace) || s.0.ends_with(char::is_whitespace);
    let out = checked_text(field, s, MAX_ID_CHARS, false)?;
    if edges_ws {
        return Err(ValidationError::new(
            field,
            Rule::Whitespace,
            "must not start or end with whitespace",
        ));
    }
    Ok(out)
}

/// Short text: 1..=256 characters, no controls.
pub(crate) fn text(field: &str, s: Str<'_>) -> Result<String, ValidationError> {
    checked_text(field, s, MAX_TEXT_CHARS, false)
}

pub(crate) fn reason(s: Str<'_>) -> Result<String, ValidationError> {
    checked_text("reason", s, MAX_REASON_CHARS, true)
}

#[derive(Clone, Copy)]
pub(crate) enum Case {
    /// `[a-z]`
    Lower,
    /// `[A-Z]`
    Upper,
    /// `[A-Za-z]`
    Any,
}

/// Codes: a letter, then up to 63 of letters, digits, `_`, `.`, `-`, in one case.
pub(crate) fn code(field: &str, s: Str<'_>, case: Case) -> Result<String, ValidationError> {
    let letter = |c: u8| match case {
        Case::Lower => c.is_ascii_lowercase(),
        Case::Upper => c.is_ascii_uppercase(),
        Case::Any => c.is_ascii_alphabetic(),
    };
    let b = s.0.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && letter(b[0])
        && b[1..]
            .iter()
            .all(|&c| letter(c) || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        let pattern = match case {
            Case::Lower => "^[a-z][a-z0-9_.-]{0,63}$",
            Case::Upper => "^[A-Z][A-Z0-9_.-]{0,63}$",
            Case::Any => "^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
        };
        return Err(ValidationError::new(
            field,
            Rule::Format,
            format!("must match {pattern}"),
        ));
    }
    Ok(s.0.into_owned())
}

pub(crate) fn timestamp(field: &str, s: Str<'_>) -> Result<Timestamp, ValidationError> {
    parse_rfc3339(&s.0).map_err(|e| {
        let message = match e {
            TimeError::Syntax => {
                "must be an RFC 3339 date-time with an offset (Z or ±hh:mm) and at most 9 fraction digits"
            }
            TimeError::Range => "must lie between years 0000 and 9999 in UTC",
        };
        ValidationError::new(field, Rule::Format, message)
    })
}

pub(crate) fn ip(s: Str<'_>) -> Result<IpAddr, ValidationError> {
    s.0.parse().map_err(|_| {
        ValidationError::new("source.ip", Rule::Format, "must be an IPv4 or IPv6 address")
    })
}

/// Checks `detail` in place (its numbers normalised as the canonical form has them).
pub(crate) fn detail(
    map: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), ValidationError> {
    jcs::normalise_map(map).map_err(|segs| {
        let mut field = String::from("detail");
        jcs::push_path(&mut field, segs.iter().rev());
        ValidationError::new(
            field,
            Rule::InexactNumber,
            "numbers must lie within ±2^53 (9007199254740992) to be exact as IEEE-754 doubles",
        )
    })?;
    let mut size = jcs::Counter::default();
    jcs::write_object(&mut size, map);
    if size.0 > MAX_DETAIL_BYTES {
        return Err(ValidationError::new(
            "detail",
            Rule::TooLarge,
            format!("must be at most {MAX_DETAIL_BYTES} bytes in canonical form"),
        ));
    }
    Ok(())
}
