//! Keeps docs/design/canonical-event.md true: its worked example's input, when parsed
//! and recorded as the document says, must canonicalise to exactly the bytes it shows.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use recall_model::{Recorded, canonical, parse_canonical, parse_event};

const DOC: &str = include_str!("../../../docs/design/canonical-event.md");

/// The worked example's input (synthetic values), exactly as the document shows it.
const INPUT: &str = r#"{
  "time": "2026-03-04T10:02:11.1230+05:00",
  "action": "read",
  "actor": {"type": "user", "id": "u-1234", "role": "nurse", "name": "Test Person \"A\""},
  "patient": {"id": "MRN-0000"},
  "resource": {"id": "obs-99", "type": "Observation"},
  "purpose": "ETREAT",
  "reason": "code blue\nbed 4",
  "source": {"system": "ehr-test", "ip": "2001:DB8:0:0:0:0:0:1", "device": null},
  "detail": {"zeta": 1.0, "alpha": [1E2, 0.5, -0, 1e-7, -1.25E+3], "\uff01": "fullwidth", "\ud83d\ude00": "astral", "note": "tab\there"},
  "id": "evt-0001"
}"#;

#[test]
fn worked_example_matches_the_design_doc() {
    let now = "2026-03-04T05:03:00Z".parse().unwrap();
    let event = parse_event(INPUT.as_bytes(), now).unwrap();
    let rec = Recorded {
        event,
        tenant: "example-tenant".into(),
        seq: 7,
        received: "2026-03-04T05:02:12.000500Z".parse().unwrap(),
        appended_by: Some("key:k-7f3a".into()),
    };
    let bytes = canonical(&rec);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        DOC.contains(&format!("```json\n{text}\n```")),
        "the doc's canonical bytes differ; they are now:\n{text}\n({} bytes)",
        bytes.len()
    );
    assert!(
        DOC.contains(INPUT),
        "the doc's example input differs from this test's"
    );
    assert!(
        DOC.contains(&format!("{} bytes", bytes.len())),
        "byte count: {}",
        bytes.len()
    );
    assert_eq!(canonical(&parse_canonical(&bytes).unwrap()), bytes);
}
