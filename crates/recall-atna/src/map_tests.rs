//! Property test: a message's events, validated as drafts, are what validating the
//! drafts' JSON form as a client's events gives (the former path, kept as the oracle),
//! over messages with accepted and refused values, several patients and problems.

use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::json;

use super::{Mapped, Meta, drafts, map};
use crate::xml;

fn meta() -> Meta {
    Meta {
        received: "2026-03-04T15:00:00Z".parse().unwrap(),
        syslog: json!({"pri": 86, "hostname": "h", "app_name": null}),
        fallback_time: Some("2026-03-04T14:00:00Z".parse::<Timestamp>().unwrap()),
    }
}

/// The former path: each draft encoded as JSON and parsed as a client's event.
fn by_json(root: &xml::Element, meta: &Meta) -> Result<Mapped, String> {
    let (drafts, problems) = drafts(root, meta)?;
    let events = drafts
        .iter()
        .map(|d| {
            let bytes = serde_json::to_vec(&d.to_json()).unwrap();
            recall_model::parse_client_event(&bytes, meta.received)
                .map_err(|e| format!("{}: {}", e.field, e.message))
        })
        .collect::<Result<_, _>>()?;
    Ok(Mapped { events, problems })
}

fn pick(values: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(values)
}

/// An attribute, or none when the value is `-`.
fn attr(name: &str, v: &str) -> String {
    match v {
        "-" => String::new(),
        "LONG" => format!(" {name}=\"{}\"", "x".repeat(300)),
        v => format!(" {name}=\"{v}\""),
    }
}

fn message() -> impl Strategy<Value = String> {
    let event = (
        pick(&["R", "C", "E", "X", "-"]),
        pick(&[
            "2026-03-04T13:00:00Z",
            "2026-03-04T13:00:00",
            "2026-03-04T16:00:00Z",
            "soon",
            "-",
        ]),
        pick(&["0", "4", "9", "-"]),
        pick(&["110110", "110112", "110114", "-"]),
        pick(&["TREAT", "ETREAT", "bad code", "-"]),
    );
    let participant = (
        pick(&["u-1", " a", "key:x", "LONG", "t&#9;b", "", "-"]),
        pick(&["true", "false", "1"]),
        pick(&["N", "LONG", "-"]),
        pick(&["10.0.0.1", "::1", "ws-1", "LONG", "-"]),
        pick(&["nurse", "LONG", "-"]),
    );
    let object = (
        pick(&["p-1", "p-2", " p", "", "LONG", "-"]),
        pick(&["1", "2", "-"]),
        pick(&["1", "3", "-"]),
        pick(&["Observation", "bad type!", "-"]),
    );
    (
        event,
        prop::collection::vec(participant, 0..3),
        pick(&["ehr-1", "recall", "LONG", "-"]),
        prop::collection::vec(object, 0..4),
        any::<bool>(),
    )
        .prop_map(
            |((act, time, out, id, pou), parts, source, objects, extra)| {
                let mut x = String::from("<AuditMessage><EventIdentification");
                x += &attr("EventActionCode", act);
                x += &attr("EventDateTime", time);
                x += &attr("EventOutcomeIndicator", out);
                x += ">";
                if id != "-" {
                    x += &format!(
                        "<EventID csd-code=\"{id}\" codeSystemName=\"DCM\" originalText=\"t\"/>"
                    );
                    x += "<EventTypeCode csd-code=\"110122\" codeSystemName=\"DCM\"/>";
                }
                if pou != "-" {
                    x += &format!("<PurposeOfUse csd-code=\"{pou}\"/>");
                }
                x += "</EventIdentification>";
                for (uid, req, name, nap, role) in parts {
                    x += "<ActiveParticipant";
                    x += &attr("UserID", uid);
                    x += &attr("UserIsRequestor", req);
                    x += &attr("UserName", name);
                    x += &attr("NetworkAccessPointID", nap);
                    x += ">";
                    if role != "-" {
                        x += &format!("<RoleIDCode{}/>", attr("originalText", role));
                    }
                    x += "</ActiveParticipant>";
                }
                x += &format!(
                    "<AuditSourceIdentification{}/>",
                    attr("AuditSourceID", source)
                );
                for (oid, ty, role, idtype) in objects {
                    x += "<ParticipantObjectIdentification";
                    x += &attr("ParticipantObjectID", oid);
                    x += &attr("ParticipantObjectTypeCode", ty);
                    x += &attr("ParticipantObjectTypeCodeRole", role);
                    x += ">";
                    if idtype != "-" {
                        x += &format!(
                            "<ParticipantObjectIDTypeCode{}/>",
                            attr("originalText", idtype)
                        );
                    }
                    x += "</ParticipantObjectIdentification>";
                }
                if extra {
                    x += "<Other/>";
                }
                x + "</AuditMessage>"
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn drafts_validate_as_their_json(msg in message()) {
        let root = xml::parse(msg.as_bytes()).unwrap();
        let m = meta();
        let direct = map(&root, &m).map(|m| (m.events, m.problems));
        let former = by_json(&root, &m).map(|m| (m.events, m.problems));
        prop_assert_eq!(direct, former);
    }
}

#[test]
fn several_patients_are_one_event_each_with_the_same_fields() {
    let msg = br#"<AuditMessage><EventIdentification EventActionCode="R" EventDateTime="2026-03-04T13:00:00Z"><EventID csd-code="110110"/></EventIdentification><ActiveParticipant UserID="u-1" UserIsRequestor="true"/><ParticipantObjectIdentification ParticipantObjectID="p-1" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/><ParticipantObjectIdentification ParticipantObjectID="p-2" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/></AuditMessage>"#;
    let root = xml::parse(msg).unwrap();
    let mapped = map(&root, &meta()).unwrap();
    let first = mapped.events[0].patient.clone().unwrap();
    assert_eq!((first.id.as_str(), mapped.events.len()), ("p-1", 2));
    let mut second = mapped.events[1].clone();
    second.patient = mapped.events[0].patient.clone();
    assert_eq!(second, mapped.events[0]);
}
