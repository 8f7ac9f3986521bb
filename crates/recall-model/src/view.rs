//! A borrowed view of a stored event: the fields searches filter and order on, read from
//! its canonical bytes without building an [`Event`](crate::Event) — no allocation, no
//! `detail` tree. Stored bytes were validated when the event was accepted and are
//! authenticated when their block is decrypted, so the view only reads them.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;

use crate::event::{Outcome, Recorded};
use crate::flat;
use crate::time::parse_rfc3339;

/// The fields of a stored event that searches filter and order on. Text fields are UTF-8
/// bytes: searches only compare them, and a view kept as offsets into stored bytes (the
/// block cache's) is rebuilt without validating them again.
#[derive(Debug, Clone, PartialEq)]
pub struct View<'a> {
    /// Position in the tenant's log.
    pub seq: u64,
    /// The event's `time`.
    pub time: Timestamp,
    /// When the server accepted it.
    pub received: Timestamp,
    /// `actor.id`.
    pub actor: Cow<'a, [u8]>,
    /// `action`.
    pub action: Cow<'a, [u8]>,
    /// `patient.id`.
    pub patient: Option<Cow<'a, [u8]>>,
    /// `outcome` (absent means success).
    pub outcome: Outcome,
    /// `purpose`.
    pub purpose: Option<Cow<'a, [u8]>>,
    /// `source.system`.
    pub system: Option<Cow<'a, [u8]>>,
    /// `source.ip`.
    pub ip: Option<IpAddr>,
}

/// The view of a stored event's canonical bytes. `None` when the fast reader does not
/// take them (a string with escapes, say): [`parse_canonical`](crate::parse_canonical)
/// reads those, and [`View::of`] views the result.
pub fn view_canonical(bytes: &[u8]) -> Option<View<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let raw = flat::read_without_detail(text)?;
    let actor = raw.actor?.0;
    let source = raw.source.map(|s| s.0);
    let (system, ip) = match source {
        Some(s) => (
            s.system.map(|v| utf8(v.0)),
            match s.ip {
                Some(ip) => Some(ip.0.parse().ok()?),
                None => None,
            },
        ),
        None => (None, None),
    };
    Some(View {
        seq: raw.seq.flatten()?,
        time: parse_rfc3339(&raw.time?.0).ok()?,
        received: parse_rfc3339(&raw.received.flatten()?.0).ok()?,
        actor: utf8(actor.id?.0),
        action: utf8(raw.action?.0),
        patient: match raw.patient {
            Some(p) => Some(utf8(p.0.id?.0)),
            None => None,
        },
        outcome: match raw.outcome.as_ref().map(|s| &*s.0) {
            None | Some("success") => Outcome::Success,
            Some("failure") => Outcome::Failure,
            Some("denied") => Outcome::Denied,
            Some(_) => return None,
        },
        purpose: raw.purpose.map(|s| utf8(s.0)),
        system,
        ip,
    })
}

/// Text the view keeps as bytes.
fn utf8(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

fn borrowed(s: &str) -> Cow<'_, [u8]> {
    Cow::Borrowed(s.as_bytes())
}

impl<'a> View<'a> {
    /// The view of an event already parsed whole.
    pub fn of(r: &'a Recorded) -> View<'a> {
        let e = &r.event;
        let source = e.source.as_ref();
        View {
            seq: r.seq,
            time: e.time,
            received: r.received,
            actor: borrowed(&e.actor.id),
            action: borrowed(&e.action),
            patient: e.patient.as_ref().map(|p| borrowed(&p.id)),
            outcome: e.outcome,
            purpose: e.purpose.as_deref().map(borrowed),
            system: source.and_then(|s| s.system.as_deref()).map(borrowed),
            ip: source.and_then(|s| s.ip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{canonical, parse_canonical, parse_event};

    fn stored(json: &str, seq: u64) -> Vec<u8> {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let event = parse_event(json.as_bytes(), now).unwrap();
        canonical(&Recorded {
            event,
            tenant: "t".into(),
            seq,
            received: now,
            appended_by: Some("key:k".into()),
        })
    }

    #[test]
    fn the_view_agrees_with_the_whole_parse() {
        let events = [
            r#"{"time":"2025-12-01T10:00:00.5+01:00","actor":{"id":"u-1","role":"nurse"},"action":"read","patient":{"id":"MRN-000000001"},"purpose":"TREAT","source":{"ip":"10.0.0.7","system":"ehr"},"detail":{"query":{"a":[1,2,{"b":null}]}}}"#,
            r#"{"time":"2025-12-01T10:00:00Z","actor":{"id":"u-2"},"action":"login","outcome":"denied"}"#,
            r#"{"time":"2025-12-01T10:00:00Z","actor":{"id":"u-3"},"action":"read","outcome":"failure","source":{"ip":"::1"}}"#,
        ];
        for (i, json) in events.iter().enumerate() {
            let bytes = stored(json, 40 + i as u64);
            let whole = parse_canonical(&bytes).unwrap();
            assert_eq!(view_canonical(&bytes), Some(View::of(&whole)), "{json}");
        }
    }

    #[test]
    fn escapes_leave_it_to_the_whole_parse() {
        let bytes = stored(
            r#"{"time":"2025-12-01T10:00:00Z","actor":{"id":"u-1","name":"A \"B\""},"action":"read"}"#,
            1,
        );
        assert_eq!(view_canonical(&bytes), None);
        assert!(parse_canonical(&bytes).is_ok());
    }
}
