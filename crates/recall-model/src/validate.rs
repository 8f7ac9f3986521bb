//! Parsing and validation of wire-format v1 events.

use jiff::Timestamp;

use crate::fields::{Case, code, detail, ident, ip, reason, text, timestamp};
use crate::limits::{MAX_EVENT_BYTES, MAX_FUTURE_SKEW_SECONDS};
use crate::origin::MAX_RECORDED_BYTES;
use crate::raw::{self, RawEvent};
use crate::slow::{self, Shape};
use crate::{Actor, Event, Outcome, Patient, Resource, Rule, Source, ValidationError};

/// Parses and validates one event from JSON bytes, with `now` as the server's clock.
pub fn parse_event(input: &[u8], now: Timestamp) -> Result<Event, ValidationError> {
    parse(input, Shape::Event, Some(now)).map(|p| p.event)
}

/// Parses an event a client sent (HTTP ingest, `recall import`): [`parse_event`], and it
/// may not claim recall's own names ([`crate::provenance`]).
pub fn parse_client_event(input: &[u8], now: Timestamp) -> Result<Event, ValidationError> {
    let event = parse_event(input, now)?;
    crate::provenance::refuse_reserved(&event)?;
    Ok(event)
}

/// Checks a tenant name: 1–63 chars of `[a-z0-9-]`, starting with a letter or digit.
pub fn validate_tenant(tenant: &str) -> Result<(), ValidationError> {
    let b = tenant.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err(ValidationError::new(
            "tenant",
            Rule::Length,
            "must be 1 to 63 characters",
        ));
    }
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !ok(&b[0]) || !b.iter().all(|c| ok(c) || *c == b'-') {
        return Err(ValidationError::new(
            "tenant",
            Rule::Format,
            "must be lower-case letters, digits and '-', starting with a letter or digit",
        ));
    }
    Ok(())
}

/// An event plus the stored form's server fields, when present.
pub(crate) struct Parsed {
    pub(crate) event: Event,
    pub(crate) seq: Option<u64>,
    pub(crate) received: Option<Timestamp>,
    pub(crate) appended_by: Option<String>,
}

/// Shared by [`parse_event`] (`now` given: future times refused) and
/// `parse_canonical` (no clock).
pub(crate) fn parse(
    input: &[u8],
    shape: Shape,
    now: Option<Timestamp>,
) -> Result<Parsed, ValidationError> {
    // A stored event may also hold its original record (an origin), hence its own limit.
    let max = match shape {
        Shape::Event => MAX_EVENT_BYTES,
        Shape::Recorded => MAX_RECORDED_BYTES,
    };
    if input.len() > max {
        return Err(ValidationError::new(
            "event",
            Rule::TooLarge,
            format!("must be at most {max} bytes"),
        ));
    }
    match raw::fast(input) {
        Some(raw) => build(raw, shape, now),
        None => build(slow::parse(input, shape)?, shape, now),
    }
}

fn required(field: &str) -> ValidationError {
    ValidationError::new(field, Rule::Required, "is required")
}

pub(crate) fn build(
    raw: RawEvent<'_>,
    shape: Shape,
    now: Option<Timestamp>,
) -> Result<Parsed, ValidationError> {
    // Structural rules first, in key order: the slow path reports them so.
    if shape == Shape::Event {
        if raw.received.is_some() {
            return Err(ValidationError::new(
                "received",
                Rule::UnknownField,
                "unknown field",
            ));
        }
        if raw.seq.is_some() {
            return Err(ValidationError::new(
                "seq",
                Rule::UnknownField,
                "unknown field",
            ));
        }
        if raw.appended_by.is_some() {
            return Err(ValidationError::new(
                "appended_by",
                Rule::UnknownField,
                "unknown field",
            ));
        }
        if raw.origin.is_some() {
            return Err(ValidationError::new(
                "origin",
                Rule::UnknownField,
                "unknown field",
            ));
        }
    }
    let id = raw.id.map(|s| ident("id", s)).transpose()?;
    let time = timestamp("time", raw.time.ok_or_else(|| required("time"))?)?;
    if let Some(now) = now {
        let skew = time.as_nanosecond() - now.as_nanosecond();
        if skew > i128::from(MAX_FUTURE_SKEW_SECONDS) * 1_000_000_000 {
            return Err(ValidationError::new(
                "time",
                Rule::InFuture,
                format!(
                    "must not be more than {MAX_FUTURE_SKEW_SECONDS} seconds ahead of the server's clock"
                ),
            ));
        }
    }
    let tenant = match raw.tenant {
        None => None,
        Some(t) => {
            validate_tenant(&t.0)?;
            Some(t.0.into_owned())
        }
    };
    let raw_actor = raw.actor.ok_or_else(|| required("actor"))?.0;
    let actor = Actor {
        id: ident(
            "actor.id",
            raw_actor.id.ok_or_else(|| required("actor.id"))?,
        )?,
        role: raw_actor.role.map(|s| text("actor.role", s)).transpose()?,
        name: raw_actor.name.map(|s| text("actor.name", s)).transpose()?,
        kind: raw_actor
            .kind
            .map(|s| code("actor.type", s, Case::Lower))
            .transpose()?,
    };
    let action = code(
        "action",
        raw.action.ok_or_else(|| required("action"))?,
        Case::Lower,
    )?;
    let resource = match raw.resource {
        None => None,
        Some(r) => {
            let kind = r.0.kind.ok_or_else(|| required("resource.type"))?;
            Some(Resource {
                kind: code("resource.type", kind, Case::Any)?,
                id: r.0.id.map(|s| ident("resource.id", s)).transpose()?,
            })
        }
    };
    let patient = match raw.patient {
        None => None,
        Some(p) => Some(Patient {
            id: ident("patient.id", p.0.id.ok_or_else(|| required("patient.id"))?)?,
        }),
    };
    let outcome = match raw.outcome.as_ref().map(|s| &*s.0) {
        None | Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        Some("denied") => Outcome::Denied,
        Some(_) => {
            return Err(ValidationError::new(
                "outcome",
                Rule::NotAllowed,
                "must be one of success, failure, denied",
            ));
        }
    };
    let purpose = raw
        .purpose
        .map(|s| code("purpose", s, Case::Upper))
        .transpose()?;
    let reason = raw.reason.map(reason).transpose()?;
    if purpose.as_deref() == Some("ETREAT") && reason.is_none() {
        return Err(ValidationError::new(
            "reason",
            Rule::Required,
            "is required when purpose is ETREAT (break-glass)",
        ));
    }
    let source = match raw.source {
        None => None,
        Some(s) => {
            let s = s.0;
            Some(Source {
                ip: s.ip.map(ip).transpose()?,
                system: s.system.map(|v| text("source.system", v)).transpose()?,
                device: s.device.map(|v| text("source.device", v)).transpose()?,
                session: s.session.map(|v| ident("source.session", v)).transpose()?,
            })
        }
    };
    let detail = match raw.detail {
        None => None,
        Some(mut d) => {
            detail(&mut d.0)?;
            Some(d.0)
        }
    };

    let origin = match (shape, raw.origin.flatten()) {
        (Shape::Recorded, Some(o)) => Some(crate::origin::build(o.0)?),
        _ => None,
    };
    let (seq, received, appended_by) = match shape {
        Shape::Event => (None, None, None),
        Shape::Recorded => {
            let seq = raw.seq.flatten().ok_or_else(|| required("seq"))?;
            let received = raw.received.flatten().ok_or_else(|| required("received"))?;
            // Absent in format v1 (events appended before recall recorded credentials).
            let by = raw.appended_by.flatten();
            let by = by.map(|s| ident("appended_by", s)).transpose()?;
            (Some(seq), Some(timestamp("received", received)?), by)
        }
    };
    Ok(Parsed {
        event: Event {
            id,
            time,
            tenant,
            actor,
            action,
            resource,
            patient,
            outcome,
            purpose,
            reason,
            source,
            detail,
            origin,
        },
        seq,
        received,
        appended_by,
    })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "validate_agree_tests.rs"]
mod agree_tests;
