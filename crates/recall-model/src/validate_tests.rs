//! Unit tests for parsing and validation: one or more cases per rule.

use super::*;
use crate::limits::*;
use crate::slow;
use serde_json::{Value, json};

fn now() -> Timestamp {
    "2026-03-04T15:00:00Z".parse().unwrap()
}

fn base() -> Value {
    json!({"time": "2026-03-04T14:00:00Z", "actor": {"id": "u-1"}, "action": "read"})
}

/// `base()` with `path` (dotted) set to `value`; `Value::Null` still sets a null.
fn with(path: &str, value: Value) -> Vec<u8> {
    let mut v = base();
    let mut at = &mut v;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        let obj = at.as_object_mut().unwrap();
        at = obj.entry(*p).or_insert_with(|| json!({}));
    }
    at.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_owned(), value);
    serde_json::to_vec(&v).unwrap()
}

fn without(key: &str) -> Vec<u8> {
    let mut v = base();
    v.as_object_mut().unwrap().remove(key);
    serde_json::to_vec(&v).unwrap()
}

#[track_caller]
fn rejects(input: &[u8], field: &str, rule: Rule) -> ValidationError {
    let err = parse_event(input, now()).expect_err("should be refused");
    assert_eq!((err.field.as_str(), err.rule), (field, rule), "{err}");
    assert_eq!(err.to_string(), format!("{}: {}", err.field, err.message));
    // The slow path alone must reach the same verdict as the fast path + fallback.
    let slow =
        slow::parse(input, Shape::Event).and_then(|raw| build(raw, Shape::Event, Some(now())));
    assert_eq!(slow.err().as_ref(), Some(&err));
    err
}

#[track_caller]
fn accepts(input: &[u8]) -> Event {
    let ev = parse_event(input, now()).unwrap_or_else(|e| panic!("refused: {e}"));
    let slow =
        slow::parse(input, Shape::Event).and_then(|raw| build(raw, Shape::Event, Some(now())));
    assert_eq!(slow.map(|p| p.event).as_ref(), Ok(&ev));
    ev
}

#[test]
fn product_brief_example_parses() {
    let input = br#"{
      "id": "evt-7f3a",
      "time": "2026-03-04T15:02:11.123Z",
      "tenant": "st-marys",
      "actor": {"id": "u-1234", "role": "nurse", "name": "Test Person", "type": "user"},
      "action": "read",
      "resource": {"type": "Observation", "id": "obs-99"},
      "patient": {"id": "MRN-5678"},
      "outcome": "success",
      "purpose": "TREAT",
      "reason": "code blue",
      "source": {"ip": "10.1.2.3", "system": "ehr-prod", "device": "ws-12", "session": "sess-1"},
      "detail": {"query": "name:test*"}
    }"#;
    let ev = parse_event(input, "2026-03-04T15:05:00Z".parse().unwrap()).unwrap();
    assert_eq!(ev.id.as_deref(), Some("evt-7f3a"));
    assert_eq!(
        ev.time,
        "2026-03-04T15:02:11.123Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(ev.tenant.as_deref(), Some("st-marys"));
    assert_eq!(ev.actor.kind.as_deref(), Some("user"));
    assert_eq!(ev.resource.as_ref().unwrap().kind, "Observation");
    assert_eq!(ev.patient.as_ref().unwrap().id, "MRN-5678");
    assert_eq!(
        ev.source.as_ref().unwrap().ip,
        Some("10.1.2.3".parse().unwrap())
    );
    assert_eq!(ev.detail.as_ref().unwrap()["query"], json!("name:test*"));
}

#[test]
fn minimal_event_and_defaults() {
    let ev = accepts(&serde_json::to_vec(&base()).unwrap());
    assert_eq!(ev.outcome, Outcome::Success);
    assert_eq!(
        (ev.id, ev.resource, ev.source, ev.detail),
        (None, None, None, None)
    );
}

#[test]
fn null_is_absent_for_optional_fields() {
    for path in [
        "id",
        "tenant",
        "resource",
        "patient",
        "outcome",
        "purpose",
        "reason",
        "source",
        "detail",
        "actor.role",
        "actor.name",
        "actor.type",
        "source.ip",
        "source.session",
    ] {
        accepts(&with(path, Value::Null));
    }
    let ev = accepts(&with("resource", json!({"type": "Patient", "id": null})));
    assert_eq!(ev.resource.unwrap().id, None);
}

#[test]
fn required_fields() {
    rejects(&without("time"), "time", Rule::Required);
    rejects(&without("actor"), "actor", Rule::Required);
    rejects(&without("action"), "action", Rule::Required);
    rejects(&with("time", Value::Null), "time", Rule::Required);
    rejects(&with("actor", json!({})), "actor.id", Rule::Required);
    rejects(&with("actor.id", Value::Null), "actor.id", Rule::Required);
    rejects(
        &with("resource", json!({"id": "r"})),
        "resource.type",
        Rule::Required,
    );
    rejects(&with("patient", json!({})), "patient.id", Rule::Required);
    rejects(&with("purpose", json!("ETREAT")), "reason", Rule::Required);
    let mut v = base();
    v["purpose"] = json!("ETREAT");
    v["reason"] = json!("code blue");
    accepts(&serde_json::to_vec(&v).unwrap());
}

#[test]
fn whole_input_rules() {
    let big = vec![b' '; MAX_EVENT_BYTES + 1];
    let err = parse_event(&big, now()).unwrap_err();
    assert_eq!((err.field.as_str(), err.rule), ("event", Rule::TooLarge));
    for input in [
        &b"[]"[..],
        b"\"x\"",
        b"12",
        b"null",
        b"[\"2026-03-04T14:00:00Z\"]",
        br#" [{"a":1,"a":2}]"#,
    ] {
        rejects(input, "event", Rule::WrongType);
    }
    for input in [
        &b""[..],
        b"{",
        b"{\"time\":}",
        b"{} x",
        b"\xef\xbb\xbf{}",
        b"{\"a\":\"\xff\"}",
    ] {
        rejects(input, "event", Rule::InvalidJson);
    }
    let err = rejects(b"{\n  \"time\": 2026-03-04\n}", "event", Rule::InvalidJson);
    assert!(err.message.contains("line 2 column"), "{}", err.message);
    assert!(!err.message.contains("2026"), "{}", err.message);
    // serde_json's nesting limit (128) bounds recursion everywhere downstream.
    let deep = format!(
        r#"{{"time":"2026-03-04T14:00:00Z","actor":{{"id":"u"}},"action":"read","detail":{{"a":{}{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    rejects(deep.as_bytes(), "event", Rule::InvalidJson);
}

#[test]
fn structural_rules_name_the_field() {
    rejects(&with("extra", json!(1)), "extra", Rule::UnknownField);
    rejects(
        &with("actor.email", json!("x")),
        "actor.email",
        Rule::UnknownField,
    );
    rejects(
        &with("source.port", json!(1)),
        "source.port",
        Rule::UnknownField,
    );
    rejects(&with("seq", json!(1)), "seq", Rule::UnknownField);
    rejects(&with("seq", Value::Null), "seq", Rule::UnknownField);
    rejects(
        &with("received", json!("2026-03-04T14:00:00Z")),
        "received",
        Rule::UnknownField,
    );
    rejects(&with("id", json!(5)), "id", Rule::WrongType);
    rejects(&with("action", json!(["read"])), "action", Rule::WrongType);
    rejects(&with("actor", json!("u-1")), "actor", Rule::WrongType);
    rejects(&with("actor", json!(["u-1"])), "actor", Rule::WrongType);
    rejects(&with("actor.id", json!(1)), "actor.id", Rule::WrongType);
    rejects(
        &with("source.ip", json!(true)),
        "source.ip",
        Rule::WrongType,
    );
    rejects(&with("detail", json!([1])), "detail", Rule::WrongType);
    rejects(&with("detail", json!("x")), "detail", Rule::WrongType);
    let dup =
        br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u"},"action":"read","action":"read"}"#;
    rejects(dup, "action", Rule::Duplicate);
    let dup = br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u","id":"v"},"action":"read"}"#;
    rejects(dup, "actor.id", Rule::Duplicate);
    let dup = br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u"},"action":"read","detail":{"a":[{"b":1,"b":2}]}}"#;
    rejects(dup, "detail.a[0].b", Rule::Duplicate);
}

#[test]
fn unknown_field_names_are_clipped_and_printable() {
    let key = format!("x\u{1}{}", "k".repeat(100));
    let want = format!("x?{}…", "k".repeat(62));
    rejects(&with(&key, json!(1)), &want, Rule::UnknownField);
    rejects(&with("", json!(1)), "\"\"", Rule::UnknownField);
    rejects(&with("actor.", json!(1)), "actor.\"\"", Rule::UnknownField);
    let dup = br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u"},"action":"read","":1,"":2}"#;
    rejects(dup, "\"\"", Rule::Duplicate);
}

#[test]
fn identifier_rules() {
    for field in [
        "id",
        "actor.id",
        "resource.id",
        "patient.id",
        "source.session",
    ] {
        let set = |v: &str| {
            let mut input = base();
            let (obj, key) = match field.split_once('.') {
                None => (&mut input, field),
                Some((o, k)) => {
                    if input.get(o).is_none() {
                        input[o] = json!({});
                    }
                    if o == "resource" {
                        input[o]["type"] = json!("Patient");
                    }
                    (&mut input[o], k)
                }
            };
            obj[key] = json!(v);
            serde_json::to_vec(&input).unwrap()
        };
        accepts(&set("a"));
        accepts(&set(&"é".repeat(MAX_ID_CHARS)));
        accepts(&set("a b"));
        rejects(&set(""), field, Rule::Length);
        rejects(&set(&"x".repeat(MAX_ID_CHARS + 1)), field, Rule::Length);
        rejects(&set("a\u{0}b"), field, Rule::ControlCharacter);
        rejects(&set("a\u{7f}"), field, Rule::ControlCharacter);
        rejects(&set("a\u{85}b"), field, Rule::ControlCharacter);
        rejects(&set(" a"), field, Rule::Whitespace);
        rejects(&set("a\u{a0}"), field, Rule::Whitespace);
    }
}

#[test]
fn text_rules() {
    for field in ["actor.role", "actor.name", "source.system", "source.device"] {
        accepts(&with(field, json!(" Synthetic Name ")));
        accepts(&with(field, json!("😀".repeat(MAX_TEXT_CHARS))));
        rejects(&with(field, json!("")), field, Rule::Length);
        rejects(
            &with(field, json!("x".repeat(MAX_TEXT_CHARS + 1))),
            field,
            Rule::Length,
        );
        rejects(&with(field, json!("a\nb")), field, Rule::ControlCharacter);
    }
    accepts(&with("reason", json!("line one\n\tline two")));
    accepts(&with("reason", json!("r".repeat(MAX_REASON_CHARS))));
    rejects(&with("reason", json!("")), "reason", Rule::Length);
    rejects(
        &with("reason", json!("r".repeat(MAX_REASON_CHARS + 1))),
        "reason",
        Rule::Length,
    );
    rejects(
        &with("reason", json!("a\r\nb")),
        "reason",
        Rule::ControlCharacter,
    );
    rejects(
        &with("reason", json!("a\u{1b}[31m")),
        "reason",
        Rule::ControlCharacter,
    );
}

#[test]
fn code_rules() {
    for ok in [
        "read",
        "r",
        "fhir.read",
        "x-1_2",
        &format!("a{}", "b".repeat(63)),
    ] {
        accepts(&with("action", json!(ok)));
        accepts(&with("actor.type", json!(ok)));
    }
    for bad in [
        "",
        "Read",
        "1read",
        "_read",
        "re ad",
        "réad",
        &format!("a{}", "b".repeat(64)),
    ] {
        rejects(&with("action", json!(bad)), "action", Rule::Format);
        rejects(&with("actor.type", json!(bad)), "actor.type", Rule::Format);
    }
    for ok in ["Observation", "observation", "DocumentReference", "x.Y-1"] {
        accepts(&with("resource.type", json!(ok)));
    }
    for bad in ["", "1Obs", "Obs ervation", "Obs/1"] {
        rejects(
            &with("resource.type", json!(bad)),
            "resource.type",
            Rule::Format,
        );
    }
    for ok in ["TREAT", "HPAYMT", "ETREAT.X-1"] {
        let mut v = base();
        v["purpose"] = json!(ok);
        v["reason"] = json!("r");
        accepts(&serde_json::to_vec(&v).unwrap());
    }
    for bad in ["", "treat", "Treat", "1TREAT"] {
        rejects(&with("purpose", json!(bad)), "purpose", Rule::Format);
    }
    for (text, want) in [
        ("success", Outcome::Success),
        ("failure", Outcome::Failure),
        ("denied", Outcome::Denied),
    ] {
        assert_eq!(accepts(&with("outcome", json!(text))).outcome, want);
    }
    for bad in ["", "Success", "ok", "error"] {
        rejects(&with("outcome", json!(bad)), "outcome", Rule::NotAllowed);
    }
}

#[test]
fn time_rules() {
    let t = accepts(&with("time", json!("2026-03-04T16:00:00.250+01:00"))).time;
    assert_eq!(t, "2026-03-04T15:00:00.25Z".parse::<Timestamp>().unwrap());
    accepts(&with("time", json!("1999-01-01T00:00:00Z")));
    accepts(&with("time", json!("2026-03-04T15:05:00Z")));
    rejects(
        &with("time", json!("2026-03-04T15:05:00.000000001Z")),
        "time",
        Rule::InFuture,
    );
    rejects(
        &with("time", json!("2026-03-04T15:00:00")),
        "time",
        Rule::Format,
    );
    rejects(
        &with("time", json!("2026-03-04 15:00:00Z")),
        "time",
        Rule::Format,
    );
    rejects(&with("time", json!("1741100400")), "time", Rule::Format);
    rejects(&with("time", json!(1741100400)), "time", Rule::WrongType);
    let err = rejects(
        &with("time", json!("2026-02-30T00:00:00Z")),
        "time",
        Rule::Format,
    );
    assert!(!err.message.contains("2026-02-30"));
}

#[test]
fn ip_and_tenant_rules() {
    let v6 = accepts(&with("source.ip", json!("2001:DB8:0:0::1")))
        .source
        .unwrap()
        .ip
        .unwrap();
    assert_eq!(v6.to_string(), "2001:db8::1");
    accepts(&with("source.ip", json!("::ffff:10.1.2.3")));
    for bad in [
        "",
        "10.1.2",
        "10.1.2.256",
        "010.1.2.3",
        "fe80::1%eth0",
        "host.example",
        " 10.1.2.3",
    ] {
        rejects(&with("source.ip", json!(bad)), "source.ip", Rule::Format);
    }
    for ok in ["a", "st-marys", "0abc", "a-", &"a".repeat(63)] {
        assert_eq!(validate_tenant(ok), Ok(()), "{ok}");
        accepts(&with("tenant", json!(ok)));
    }
    for bad in ["-a", "A", "st_marys", "st marys", "é"] {
        assert_eq!(
            validate_tenant(bad).unwrap_err().rule,
            Rule::Format,
            "{bad}"
        );
        rejects(&with("tenant", json!(bad)), "tenant", Rule::Format);
    }
    for bad in ["", &"a".repeat(64)] {
        rejects(&with("tenant", json!(bad)), "tenant", Rule::Length);
    }
}

#[test]
fn detail_rules() {
    let ev = accepts(&with(
        "detail",
        json!({"n": [1.0, -0.0, 2.5, 9007199254740992_u64, -9007199254740992_i64]}),
    ));
    assert_eq!(
        ev.detail.unwrap()["n"],
        json!([1, 0, 2.5, 9007199254740992_u64, -9007199254740992_i64])
    );
    rejects(
        &with("detail", json!({"a": {"b": 9007199254740993_u64}})),
        "detail.a.b",
        Rule::InexactNumber,
    );
    rejects(
        &with("detail", json!({"a": [0, -9007199254740993_i64]})),
        "detail.a[1]",
        Rule::InexactNumber,
    );
    rejects(
        &with("detail", json!({"x": 1e300})),
        "detail.x",
        Rule::InexactNumber,
    );
    let huge = br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u"},"action":"read","detail":{"big":123456789012345678901234567890}}"#;
    rejects(huge, "detail.big", Rule::InexactNumber);
    let overflow = br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u"},"action":"read","detail":{"big":1e400}}"#;
    rejects(overflow, "event", Rule::InvalidJson);
    // The size limit is on the canonical form: `{"s":"…"}` is 8 bytes plus the text.
    accepts(&with(
        "detail",
        json!({"s": "x".repeat(MAX_DETAIL_BYTES - 8)}),
    ));
    rejects(
        &with("detail", json!({"s": "x".repeat(MAX_DETAIL_BYTES - 7)})),
        "detail",
        Rule::TooLarge,
    );
    // Escapes count as written canonically (`\u0001` is six bytes).
    rejects(
        &with("detail", json!({"s": "\u{1}".repeat(MAX_DETAIL_BYTES / 6)})),
        "detail",
        Rule::TooLarge,
    );
}

#[test]
fn escaped_strings_are_decoded() {
    let input = br#"{"time":"2026-03-04T14:00:00\u005a","actor":{"id":"u\u002d1","name":"\ud83d\ude00"},"action":"r\u0065ad"}"#;
    let ev = accepts(input);
    assert_eq!((ev.actor.id.as_str(), ev.action.as_str()), ("u-1", "read"));
    assert_eq!(ev.actor.name.as_deref(), Some("😀"));
    rejects(
        br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"\ud800"},"action":"read"}"#,
        "event",
        Rule::InvalidJson,
    );
}

#[test]
fn messages_never_echo_values() {
    let secret = "MRN-SECRET-0042";
    let cases = [
        with("patient.id", json!(format!(" {secret}"))),
        with("time", json!(secret)),
        with("source.ip", json!(secret)),
        with("action", json!(secret)),
        with("outcome", json!(secret)),
        with("tenant", json!(secret)),
        with("id", json!(5)),
        format!(r#"{{"time": "{secret}""#).into_bytes(),
        format!(r#"{{"time": {secret}}}"#).into_bytes(),
    ];
    for input in cases {
        let err = parse_event(&input, now()).unwrap_err();
        assert!(!err.to_string().contains(secret), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
}

#[test]
fn server_fields_in_an_event_are_unknown() {
    let both = br#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u"},"action":"read","seq":1,"received":null}"#;
    rejects(both, "received", Rule::UnknownField);
}

#[test]
fn typical_event_takes_the_fast_path() {
    let input = br#"{"id":"evt-7f3a","time":"2026-03-04T15:02:11.123Z","tenant":"st-example","actor":{"id":"u-123456","role":"nurse","name":"Test Person Alpha","type":"user"},"action":"read","resource":{"type":"Observation","id":"obs-99"},"patient":{"id":"MRN-00005678"},"outcome":"success","purpose":"TREAT","source":{"ip":"10.1.2.3","system":"ehr-prod","device":"ws-12","session":"s-1"},"detail":{"query":"code=1234-5","count":12}}"#;
    let raw = raw::fast(input).expect("fast path");
    assert!(build(raw, Shape::Event, Some(now())).is_ok());
}
