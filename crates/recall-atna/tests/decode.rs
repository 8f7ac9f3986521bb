//! Whole messages through `decode`: the DICOM and RFC 3881 fixtures map field by field,
//! one event per patient; what cannot be mapped is kept as one unparsed event.

#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use recall_atna::{Context, UNPARSED_ACTION, decode};
use recall_model::Understood;

const DICOM: &str = include_str!("fixtures/dicom.xml");
const RFC3881: &str = include_str!("fixtures/rfc3881.xml");

fn ctx() -> Context {
    Context {
        received: "2026-03-04T15:00:00Z".parse().unwrap(),
        peer: Some("127.0.0.9".parse().unwrap()),
    }
}

fn message(msgid: &str, body: &str) -> Vec<u8> {
    format!("<85>1 2026-03-04T14:02:12Z pacs.example pacs 77 {msgid} - {body}").into_bytes()
}

#[test]
fn dicom_audit_message_maps_one_event_per_patient() {
    let d = decode(&message("IHE+RFC-3881", DICOM), &ctx());
    assert_eq!(d.unparsed, None);
    assert_eq!(d.keys.audit_source.as_deref(), Some("pacs-prod"));
    assert_eq!(d.keys.hostname.as_deref(), Some("pacs.example"));
    let patients: Vec<_> = d
        .events
        .iter()
        .map(|e| e.patient.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(patients, ["MRN-0001", "MRN-0002"]);
    let e = &d.events[0];
    assert_eq!(
        e.time,
        "2026-03-04T14:02:11.123Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!((e.action.as_str(), e.outcome.as_str()), ("read", "success"));
    assert_eq!(e.actor.id, "u-4711");
    assert_eq!(e.actor.role.as_deref(), Some("physician"));
    assert_eq!(e.actor.name.as_deref(), Some("Dr Synthetic"));
    let source = e.source.as_ref().unwrap();
    assert_eq!(source.ip, Some("10.20.30.40".parse().unwrap()));
    assert_eq!(source.system.as_deref(), Some("pacs-prod"));
    assert_eq!(e.purpose.as_deref(), Some("TREAT"));
    let r = e.resource.as_ref().unwrap();
    assert_eq!(
        (r.kind.as_str(), r.id.as_deref()),
        ("StudyInstanceUID", Some("1.2.840.99999.1"))
    );
    let detail = e.detail.as_ref().unwrap();
    assert_eq!(detail["atna"]["event_id"]["code"], "110110");
    assert_eq!(detail["atna"]["format"], "dicom");
    assert_eq!(detail["syslog"]["msgid"], "IHE+RFC-3881");
    // Both events keep the whole message, byte for byte; the destination participant
    // has no native field, so the message is understood in part, as FHIR's other agents.
    let m = message("IHE+RFC-3881", DICOM);
    for e in &d.events {
        let o = e.origin.as_ref().unwrap();
        assert_eq!(
            (o.format.as_str(), o.understood),
            ("atna-dicom", Understood::Partial)
        );
        assert_eq!(o.problems, ["/AuditMessage/ActiveParticipant[2]"]);
        assert_eq!(o.body.as_bytes(), &m[..]);
    }
}

#[test]
fn what_a_message_leaves_out_or_adds_marks_it_partially_understood() {
    let full = decode(&message("ATNA", RFC3881), &ctx());
    let o = full.events[0].origin.as_ref().unwrap();
    assert_eq!((o.understood, o.problems.len()), (Understood::Full, 0));
    // No EventID, action or time (the header's stands in), a second object, an object
    // without an id, and an element recall does not read.
    let sparse = r#"<AuditMessage><EventIdentification EventOutcomeIndicator="0"/>
<ActiveParticipant UserID="u-1" UserIsRequestor="true"/>
<ParticipantObjectIdentification ParticipantObjectID="doc-1" ParticipantObjectTypeCode="2"/>
<ParticipantObjectIdentification ParticipantObjectID="doc-2" ParticipantObjectTypeCode="2"/>
<ParticipantObjectIdentification ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/>
<Extra/></AuditMessage>"#;
    let d = decode(&message("ATNA", sparse), &ctx());
    assert_eq!(d.unparsed, None);
    let [e] = &d.events[..] else {
        panic!("one event")
    };
    assert_eq!(e.action, "execute");
    assert_eq!(e.time, "2026-03-04T14:02:12Z".parse::<Timestamp>().unwrap());
    let o = e.origin.as_ref().unwrap();
    assert_eq!(o.understood, Understood::Partial);
    assert_eq!(
        o.problems,
        [
            "/AuditMessage/Extra",
            "/AuditMessage/EventIdentification/@EventDateTime",
            "/AuditMessage/EventIdentification/EventID",
            "/AuditMessage/EventIdentification/@EventActionCode",
            "/AuditMessage/ParticipantObjectIdentification[2]",
            "/AuditMessage/ParticipantObjectIdentification[3]",
        ]
    );
}

#[test]
fn rfc_3881_message_maps_with_its_own_attribute_names() {
    let d = decode(&message("ATNA", RFC3881), &ctx());
    assert_eq!(d.unparsed, None);
    let [e] = &d.events[..] else {
        panic!("one event")
    };
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("search", "failure")
    );
    assert_eq!(e.actor.id, "svc-ehr");
    let source = e.source.as_ref().unwrap();
    assert_eq!(
        (source.ip, source.device.as_deref()),
        (None, Some("ws-12.example"))
    );
    assert_eq!(e.patient.as_ref().unwrap().id, "MRN-0003");
    assert_eq!(e.detail.as_ref().unwrap()["atna"]["format"], "rfc3881");
}

#[test]
fn what_cannot_be_mapped_is_kept_unparsed() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE AuditMessage [<!ENTITY x SYSTEM "file:///etc/passwd">]><AuditMessage>&x;</AuditMessage>"#;
    let laughs = r#"<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><AuditMessage>&b;</AuditMessage>"#;
    let no_requestor = DICOM.replace("UserIsRequestor=\"true\"", "UserIsRequestor=\"false\"");
    let cases: [(Vec<u8>, &str); 6] = [
        (message("ATNA", xxe), "document type"),
        (message("ATNA", laughs), "document type"),
        (message("ATNA", &no_requestor), "UserIsRequestor"),
        (message("OTHER", DICOM), "MSGID"),
        (
            b"<13>Mar  4 15:02:11 host app: MRN-0001 read".to_vec(),
            "RFC 5424",
        ),
        (
            message("ATNA", "<AuditMessage><EventIdentification/>"),
            "well-formed",
        ),
    ];
    for (m, why) in cases {
        let d = decode(&m, &ctx());
        let reason = d.unparsed.expect("unparsed");
        assert!(reason.contains(why), "{reason}");
        // The reason never quotes the message (which may hold PHI).
        assert!(
            !reason.contains("MRN") && !reason.contains("passwd"),
            "{reason}"
        );
        let [e] = &d.events[..] else {
            panic!("one event")
        };
        assert_eq!(e.action, UNPARSED_ACTION);
        assert_eq!(e.detail.as_ref().unwrap()["unparsed"]["bytes"], m.len());
        let o = e.origin.as_ref().unwrap();
        assert_eq!(
            (o.format.as_str(), o.understood),
            ("syslog-unparsed", Understood::None)
        );
        assert_eq!(o.body.as_bytes(), &m[..]);
        assert_eq!(
            e.source.as_ref().unwrap().ip,
            Some("127.0.0.9".parse().unwrap())
        );
        assert!(!String::from_utf8_lossy(o.body.as_bytes()).contains("lollol"));
    }
}

#[test]
fn a_message_too_large_for_an_origin_is_cut_to_fit_the_detail() {
    let body = "\u{1}".repeat(recall_model::MAX_ORIGIN_BYTES);
    let d = decode(&message("ATNA", &body), &ctx());
    let e = &d.events[0];
    let mut canonical = Vec::new();
    recall_model::canonical_json_into(
        &serde_json::Value::Object(e.detail.clone().unwrap()),
        &mut canonical,
    );
    assert!(
        canonical.len() <= recall_model::MAX_DETAIL_BYTES,
        "{}",
        canonical.len()
    );
    assert_eq!(e.detail.as_ref().unwrap()["unparsed"]["truncated"], true);
    assert!(e.origin.is_none());
}
