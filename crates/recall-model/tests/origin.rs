//! The original record kept with a decoded event (`origin`): inside the canonical bytes,
//! a fixed point, RFC 8785 output, refused from clients, large originals fit, and absent
//! origins leave the bytes of native events unchanged. All values are synthetic.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use recall_model::{
    MAX_EVENT_BYTES, MAX_ORIGIN_BYTES, Origin, OriginBody, Recorded, Rule, Understood, canonical,
    parse_canonical, parse_client_event, parse_event, view_canonical,
};

const NATIVE: &[u8] = br#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1"},"action":"read","patient":{"id":"MRN-1"}}"#;

fn now() -> jiff::Timestamp {
    "2026-03-05T00:00:00Z".parse().unwrap()
}

fn recorded(origin: Option<Origin>) -> Recorded {
    let mut event = parse_event(NATIVE, now()).unwrap();
    event.origin = origin;
    Recorded {
        event,
        tenant: "t-1".into(),
        seq: 3,
        received: "2026-03-04T15:02:12Z".parse().unwrap(),
        appended_by: Some("key:k-1".into()),
    }
}

fn fhir(text: &str) -> Origin {
    let problems = vec!["entity[1].what".to_string(), "agent[0].type".to_string()];
    Origin::new("fhir-r4", Understood::Partial, problems, text.as_bytes()).unwrap()
}

#[test]
fn origin_is_committed_in_jcs_order_and_reads_back() {
    let original = "{\"resourceType\":\"AuditEvent\",\n \"note\":\"tab\\there \u{e9}\"}";
    let rec = recorded(Some(fhir(original)));
    let bytes = canonical(&rec);
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(
        text.contains(
            r#""origin":{"format":"fhir-r4","problems":["entity[1].what","agent[0].type"],"text":"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#","understood":"partial"},"outcome":"success""#),
        "{text}"
    );
    // Any RFC 8785 implementation writes the same bytes for this value.
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(serde_json_canonicalizer::to_vec(&value).unwrap(), bytes);
    let mut back = parse_canonical(&bytes).unwrap();
    assert_eq!(canonical(&back), bytes, "a fixed point");
    back.event.tenant = None;
    assert_eq!(back, rec);
    match &back.event.origin.as_ref().unwrap().body {
        OriginBody::Text(t) => assert_eq!(&**t, original, "byte for byte"),
        OriginBody::Bytes(_) => panic!("UTF-8 is kept as text"),
    }
    // Searches' view steps over the origin and sees the same fields.
    let view = view_canonical(&bytes).expect("the fast view takes an origin");
    assert_eq!(&*view.actor, b"u-1");
    assert_eq!(view.seq, 3);
}

#[test]
fn bytes_that_are_not_utf8_are_kept_as_base64() {
    let raw = b"<85>1 \xff\xfe not utf-8";
    let o = Origin::new("syslog-unparsed", Understood::None, vec![], raw).unwrap();
    let bytes = canonical(&recorded(Some(o)));
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains(r#""origin":{"base64":""#), "{text}");
    let back = parse_canonical(&bytes).unwrap();
    assert_eq!(back.event.origin.unwrap().body.as_bytes(), raw);
    // UTF-8 written as base64 is not canonical, and is refused.
    let forged = text.replace(
        &text[text.find("\"base64\":\"").unwrap()..text.find("\",\"format\"").unwrap()],
        "\"base64\":\"YWJj",
    );
    let err = parse_canonical(forged.as_bytes()).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule),
        ("origin.base64", Rule::NotAllowed)
    );
}

#[test]
fn an_original_far_over_the_native_limit_fits() {
    // 200 KiB of text with quotes and newlines (escaped in the canonical form).
    let chunk = "{\"display\":\"line\"}\n";
    let big: String = chunk.repeat(200 * 1024 / chunk.len());
    assert!(big.len() > 3 * MAX_EVENT_BYTES && big.len() <= MAX_ORIGIN_BYTES);
    let bytes = canonical(&recorded(Some(fhir(&big))));
    let back = parse_canonical(&bytes).unwrap();
    assert_eq!(back.event.origin.unwrap().body.as_bytes(), big.as_bytes());
}

#[test]
fn a_client_may_not_send_an_origin() {
    let with = br#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1"},"action":"read","origin":{"format":"fhir-r4","text":"{}","understood":"full"}}"#;
    let err = parse_client_event(with, now()).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule),
        ("origin", Rule::UnknownField)
    );
    // On the slow path too (a duplicate key elsewhere sends it there).
    let slow = br#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1","id":"u-2"},"action":"read","origin":{}}"#;
    assert!(parse_event(slow, now()).is_err());
}

#[test]
fn stored_origins_are_checked_field_by_field() {
    let ok = String::from_utf8(canonical(&recorded(Some(fhir("{}"))))).unwrap();
    for (broken, field, rule) in [
        (
            ok.replace("\"partial\"", "\"most\""),
            "origin.understood",
            Rule::NotAllowed,
        ),
        (
            ok.replace("\"fhir-r4\"", "\"FHIR\""),
            "origin.format",
            Rule::Format,
        ),
        (
            ok.replace(",\"text\":\"{}\"", ""),
            "origin.text",
            Rule::Required,
        ),
        (
            ok.replace("\"problems\":[", "\"problems\":[1,"),
            "origin.problems",
            Rule::WrongType,
        ),
        (
            ok.replace("\"understood\"", "\"value\""),
            "origin.value",
            Rule::UnknownField,
        ),
    ] {
        let err = parse_canonical(broken.as_bytes()).unwrap_err();
        assert_eq!((err.field.as_str(), err.rule), (field, rule), "{broken}");
    }
}

#[test]
fn native_events_are_unchanged() {
    let bytes = canonical(&recorded(None));
    assert!(!std::str::from_utf8(&bytes).unwrap().contains("origin"));
    assert_eq!(parse_canonical(&bytes).unwrap().event.origin, None);
}
