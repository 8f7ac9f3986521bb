//! RFC 8785 (JCS) canonical form of a recorded event.
//!
//! The fixed fields are written directly, in JCS key order (all keys are ASCII, so
//! byte order is UTF-16 order); only `detail` goes through the generic JCS writer.
//! docs/design/canonical-event.md specifies the bytes.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::jcs::{write_object, write_str, write_u64};
use crate::slow::Shape;
use crate::time::write_quoted;
use crate::validate::parse;
use crate::{Event, Recorded, Rule, ValidationError};

/// The canonical bytes of `rec`.
pub fn canonical(rec: &Recorded) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    canonical_into(rec, &mut out);
    out
}

/// Appends the canonical bytes of `rec` to `out`.
pub fn canonical_into(rec: &Recorded, out: &mut Vec<u8>) {
    let stamp = Stamp {
        tenant: &rec.tenant,
        seq: rec.seq,
        received: rec.received,
        appended_by: rec.appended_by.as_deref(),
    };
    canonical_parts_into(&rec.event, &stamp, out);
}

/// What the server adds to a client's event when it records it.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The tenant whose log holds the event.
    pub tenant: &'a str,
    /// Its position in that log.
    pub seq: u64,
    /// The server's clock when it was accepted.
    pub received: Timestamp,
    /// The credential that appended it (`None` writes format v1, for tests of old data).
    pub appended_by: Option<&'a str>,
}

/// Appends the canonical bytes of the recorded event made of these parts, without building
/// a [`Recorded`] (the importer's hot path: no move or clone of the event). The stamp's
/// tenant is written in place of `e.tenant`, as [`canonical_into`] does.
pub fn canonical_parts_into(e: &Event, stamp: &Stamp<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"action\":");
    write_str(out, &e.action);

    out.extend_from_slice(b",\"actor\":{\"id\":");
    write_str(out, &e.actor.id);
    member(out, "name", e.actor.name.as_deref());
    member(out, "role", e.actor.role.as_deref());
    member(out, "type", e.actor.kind.as_deref());
    out.push(b'}');
    member(out, "appended_by", stamp.appended_by);

    if let Some(detail) = &e.detail {
        out.extend_from_slice(b",\"detail\":");
        write_object(out, detail);
    }
    member(out, "id", e.id.as_deref());
    if let Some(o) = &e.origin {
        crate::origin::write(out, o);
    }
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(e.outcome.as_str().as_bytes());
    out.push(b'"');
    if let Some(p) = &e.patient {
        out.extend_from_slice(b",\"patient\":{\"id\":");
        write_str(out, &p.id);
        out.push(b'}');
    }
    member(out, "purpose", e.purpose.as_deref());
    member(out, "reason", e.reason.as_deref());
    out.extend_from_slice(b",\"received\":");
    write_quoted(out, stamp.received);
    if let Some(r) = &e.resource {
        out.extend_from_slice(b",\"resource\":{");
        if let Some(id) = &r.id {
            out.extend_from_slice(b"\"id\":");
            write_str(out, id);
            out.push(b',');
        }
        out.extend_from_slice(b"\"type\":");
        write_str(out, &r.kind);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"seq\":");
    write_u64(out, stamp.seq);
    if let Some(s) = &e.source {
        out.extend_from_slice(b",\"source\":{");
        let mut first = true;
        let mut open = |out: &mut Vec<u8>, key: &[u8]| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(key);
            out.extend_from_slice(b"\":");
        };
        if let Some(v) = &s.device {
            open(out, b"device");
            write_str(out, v);
        }
        if let Some(ip) = s.ip {
            open(out, b"ip");
            // IpAddr's Display is RFC 5952 for IPv6 and dotted quad for IPv4: no escapes.
            out.push(b'"');
            let _ = write!(VecWriter(out), "{ip}");
            out.push(b'"');
        }
        if let Some(v) = &s.session {
            open(out, b"session");
            write_str(out, v);
        }
        if let Some(v) = &s.system {
            open(out, b"system");
            write_str(out, v);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"tenant\":");
    write_str(out, stamp.tenant);
    out.extend_from_slice(b",\"time\":");
    write_quoted(out, e.time);
    out.push(b'}');
}

/// Writes `,"key":"value"` when the value is present.
#[inline]
fn member(out: &mut Vec<u8>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        write_str(out, v);
    }
}

/// `fmt::Write` into a byte buffer (it cannot fail).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Reads canonical bytes back (used by verify and reads). Accepts any valid JSON of the
/// recorded shape; callers that need exactness re-canonicalise and compare.
///
/// The same field rules as [`parse_event`](crate::parse_event) apply, except that
/// `time` may lie in the future; `tenant`, `seq` and `received` are required, `origin`
/// is allowed. The returned event's `tenant` is `Some` of the recorded tenant. Inputs
/// over [`MAX_RECORDED_BYTES`](crate::MAX_RECORDED_BYTES) are refused; a valid event's
/// canonical form without an origin stays under half of
/// [`MAX_EVENT_BYTES`](crate::MAX_EVENT_BYTES) even at every field's maximum.
pub fn parse_canonical(bytes: &[u8]) -> Result<Recorded, ValidationError> {
    let parsed = parse(bytes, Shape::Recorded, None)?;
    let tenant = parsed
        .event
        .tenant
        .clone()
        .ok_or_else(|| ValidationError::new("tenant", Rule::Required, "is required"))?;
    let (Some(seq), Some(received)) = (parsed.seq, parsed.received) else {
        // parse() with Shape::Recorded refuses a missing seq or received.
        return Err(ValidationError::new(
            "event",
            Rule::Required,
            "seq and received are required",
        ));
    };
    Ok(Recorded {
        event: parsed.event,
        tenant,
        seq,
        received,
        appended_by: parsed.appended_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Epoch, Outcome, Patient, Resource, Source, parse_event};

    fn minimal() -> Recorded {
        Recorded {
            event: Event {
                id: None,
                time: "2026-03-04T15:02:11Z".parse().unwrap(),
                tenant: None,
                actor: Actor {
                    id: "u-1".into(),
                    role: None,
                    name: None,
                    kind: None,
                },
                action: "read".into(),
                resource: None,
                patient: None,
                outcome: Outcome::Success,
                purpose: None,
                reason: None,
                source: None,
                detail: None,
                origin: None,
            },
            tenant: "t-1".into(),
            seq: 0,
            received: "2026-03-04T15:02:12.5Z".parse().unwrap(),
            appended_by: None,
        }
    }

    #[test]
    fn minimal_event_bytes() {
        let bytes = canonical(&minimal());
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"action":"read","actor":{"id":"u-1"},"outcome":"success","received":"2026-03-04T15:02:12.5Z","seq":0,"tenant":"t-1","time":"2026-03-04T15:02:11Z"}"#
        );
    }

    #[test]
    fn v2_writes_the_appending_credential_after_actor() {
        let mut r = minimal();
        r.appended_by = Some("key:k-1".into());
        let bytes = canonical(&r);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"action":"read","actor":{"id":"u-1"},"appended_by":"key:k-1","outcome":"success","received":"2026-03-04T15:02:12.5Z","seq":0,"tenant":"t-1","time":"2026-03-04T15:02:11Z"}"#
        );
        let mut back = parse_canonical(&bytes).unwrap();
        back.event.tenant = None;
        assert_eq!(back, r);
    }

    #[test]
    fn a_client_event_may_not_say_who_appended_it() {
        let input = br#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1"},"action":"read","appended_by":"recall:server"}"#;
        let err = parse_event(input, "2026-03-05T00:00:00Z".parse().unwrap()).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.rule),
            ("appended_by", Rule::UnknownField)
        );
        // The same, on the slow path (a duplicate key elsewhere sends it there).
        let input = br#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1","id":"u-2"},"action":"read","appended_by":"x"}"#;
        assert!(parse_event(input, "2026-03-05T00:00:00Z".parse().unwrap()).is_err());
    }

    #[test]
    fn full_event_bytes_and_round_trip() {
        let mut r = minimal();
        r.event.tenant = Some("t-1".into());
        r.event.id = Some("evt-\"1\"".into());
        r.event.actor = Actor {
            id: "u-2".into(),
            role: Some("nurse".into()),
            name: Some("Synthetic Person é".into()),
            kind: Some("user".into()),
        };
        r.event.resource = Some(Resource {
            kind: "Observation".into(),
            id: Some("obs-9".into()),
        });
        r.event.patient = Some(Patient {
            id: "MRN-0001".into(),
        });
        r.event.outcome = Outcome::Denied;
        r.event.purpose = Some("ETREAT".into());
        r.event.reason = Some("line1\nline2\t".into());
        r.event.source = Some(Source {
            ip: Some("2001:db8::1".parse().unwrap()),
            system: Some("ehr-test".into()),
            device: Some("ws-1".into()),
            session: Some("s-1".into()),
        });
        r.event.detail =
            serde_json::json!({"b": [1, 2.5, -0.0, "x"], "a": {"\u{10000}": 1, "\u{e000}": 2}})
                .as_object()
                .cloned();
        r.seq = 42;
        let text = String::from_utf8(canonical(&r)).unwrap();
        assert_eq!(
            text,
            "{\"action\":\"read\",\"actor\":{\"id\":\"u-2\",\"name\":\"Synthetic Person é\",\"role\":\"nurse\",\"type\":\"user\"},\
             \"detail\":{\"a\":{\"\u{10000}\":1,\"\u{e000}\":2},\"b\":[1,2.5,0,\"x\"]},\"id\":\"evt-\\\"1\\\"\",\"outcome\":\"denied\",\
             \"patient\":{\"id\":\"MRN-0001\"},\"purpose\":\"ETREAT\",\"reason\":\"line1\\nline2\\t\",\
             \"received\":\"2026-03-04T15:02:12.5Z\",\"resource\":{\"id\":\"obs-9\",\"type\":\"Observation\"},\"seq\":42,\
             \"source\":{\"device\":\"ws-1\",\"ip\":\"2001:db8::1\",\"session\":\"s-1\",\"system\":\"ehr-test\"},\
             \"tenant\":\"t-1\",\"time\":\"2026-03-04T15:02:11Z\"}"
        );
        let back = parse_canonical(text.as_bytes()).unwrap();
        assert_eq!(canonical(&back), text.as_bytes());
        // -0.0 is normalised to 0 on the way in; otherwise the struct is the same.
        assert_eq!(
            back.event.detail.as_ref().unwrap()["b"][2],
            serde_json::json!(0)
        );
        assert_eq!(back.event.purpose, r.event.purpose);
        assert_eq!(back.event.source, r.event.source);
        assert_eq!(Epoch::of(back.event.time).to_string(), "2026-03");
    }

    #[test]
    fn resource_without_id_and_partial_source() {
        let mut r = minimal();
        r.event.resource = Some(Resource {
            kind: "Patient".into(),
            id: None,
        });
        r.event.source = Some(Source {
            ip: Some("10.1.2.3".parse().unwrap()),
            ..Source::default()
        });
        let text = String::from_utf8(canonical(&r)).unwrap();
        assert!(text.contains(r#""resource":{"type":"Patient"}"#), "{text}");
        assert!(text.contains(r#""source":{"ip":"10.1.2.3"}"#), "{text}");
        let mut back = parse_canonical(text.as_bytes()).unwrap();
        back.event.tenant = None;
        assert_eq!(back, r);
    }

    #[test]
    fn parts_and_recorded_agree() {
        let mut r = minimal();
        r.event.tenant = Some("other".into());
        let mut parts = Vec::new();
        r.appended_by = Some("jwt:someone".into());
        let stamp = Stamp {
            tenant: &r.tenant,
            seq: r.seq,
            received: r.received,
            appended_by: r.appended_by.as_deref(),
        };
        canonical_parts_into(&r.event, &stamp, &mut parts);
        assert_eq!(parts, canonical(&r));
    }

    #[test]
    fn record_tenant_wins_over_event_tenant() {
        let mut r = minimal();
        r.event.tenant = Some("other".into());
        let text = String::from_utf8(canonical(&r)).unwrap();
        assert!(text.contains(r#""tenant":"t-1""#));
        assert!(!text.contains("other"));
    }

    #[test]
    fn parse_canonical_requires_server_fields() {
        let ok = String::from_utf8(canonical(&minimal())).unwrap();
        for (field, broken) in [
            ("seq", ok.replace(",\"seq\":0", "")),
            ("seq", ok.replace(",\"seq\":0", ",\"seq\":null")),
            (
                "received",
                ok.replace(",\"received\":\"2026-03-04T15:02:12.5Z\"", ""),
            ),
            ("tenant", ok.replace(",\"tenant\":\"t-1\"", "")),
        ] {
            let err = parse_canonical(broken.as_bytes()).unwrap_err();
            assert_eq!(
                (err.field.as_str(), err.rule),
                (field, Rule::Required),
                "{broken}"
            );
        }
        let err = parse_canonical(ok.replace("\"seq\":0", "\"seq\":-1").as_bytes()).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("seq", Rule::WrongType));
        let err = parse_canonical(ok.replace("\"seq\":0", "\"seq\":1.5").as_bytes()).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("seq", Rule::WrongType));
        let err = parse_canonical(ok.replace("t-1", "T_1").as_bytes()).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), ("tenant", Rule::Format));
    }

    #[test]
    fn parse_canonical_accepts_future_times_but_event_does_not() {
        let mut r = minimal();
        r.event.time = "2999-01-01T00:00:00Z".parse().unwrap();
        let bytes = canonical(&r);
        assert!(parse_canonical(&bytes).is_ok());
        let now: Timestamp = "2026-03-04T15:00:00Z".parse().unwrap();
        let event = r#"{"time":"2999-01-01T00:00:00Z","actor":{"id":"u"},"action":"read"}"#;
        assert_eq!(
            parse_event(event.as_bytes(), now).unwrap_err().rule,
            Rule::InFuture
        );
    }
}
