//! The flat reader agrees with serde wherever it answers.

use proptest::prelude::*;

use crate::flat::read;
use crate::raw::serde;

const KEYS: &[&str] = &[
    "id", "time", "tenant", "actor", "action", "resource", "patient", "outcome", "purpose",
    "reason", "source", "detail", "type", "role", "name", "ip", "system", "device", "session",
    "seq", "received", "x", "",
];
const VALUES: &[&str] = &[
    "\"2026-03-04T14:00:00Z\"",
    "\"read\"",
    "\"u-1\"",
    "\"\"",
    "\"é ü 漢\"",
    "\"a\\\"b\"",
    "\"\\u0041\"",
    "null",
    "nul",
    "1",
    "true",
    "[]",
    "{}",
    "0",
    "01",
    "-1",
    "1.5",
    "1e3",
    "18446744073709551615",
    "18446744073709551616",
    "\"}{]\"",
    "{\"a\":[1,{\"b\":\"\\\\\"}],\"c\":\"\\\"}\"}",
    "{\"a\":}",
    "{\"a\":1]",
];
const WS: &[&str] = &["", " ", "\n", "\t ", "\r\n"];

fn ws() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(WS)
}

fn value(depth: u32) -> BoxedStrategy<String> {
    let leaf = proptest::sample::select(VALUES).prop_map(str::to_owned);
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![3 => leaf, 2 => object(depth - 1)].boxed()
}

fn object(depth: u32) -> BoxedStrategy<String> {
    proptest::collection::vec(
        (
            ws(),
            proptest::sample::select(KEYS),
            ws(),
            value(depth),
            ws(),
        ),
        0..7,
    )
    .prop_map(|members| {
        let inner: Vec<String> = members
            .iter()
            .map(|(a, k, b, v, c)| format!("{a}\"{k}\"{b}:{v}{c}"))
            .collect();
        format!("{{{}}}", inner.join(","))
    })
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn where_the_flat_reader_answers_serde_agrees(text in object(2), pre in ws(), post in ws()) {
        let text = format!("{pre}{text}{post}");
        if let Some(flat) = read(&text) {
            prop_assert_eq!(Some(flat), serde(&text), "{}", text);
        }
    }
}

#[test]
fn reads_the_common_shape() {
    let text = r#"{"id":"evt-1","time":"2026-03-04T15:02:11.123Z","tenant":"st-marys",
        "actor":{"id":"u-1234","role":"nurse","name":"Ann Example","type":"user"},
        "action":"read","resource":{"type":"Observation","id":"obs-99"},
        "patient":{"id":"MRN-5678"},"outcome":"success","purpose":"TREAT","reason":null,
        "source":{"ip":"10.1.2.3","system":"ehr-prod","device":"ws-12","session":"s-1"}}"#;
    let flat = read(text).expect("common shape");
    assert_eq!(Some(flat), serde(text));
}

#[test]
fn reads_the_stored_form() {
    let text = r#"{"action":"print","actor":{"id":"u-1","role":"nurse"},"detail":{"copies":1,"note":"a \"}\" {","nested":{"x":[1,2,{"y":null}]}},"id":"evt-1","outcome":"success","patient":{"id":"MRN-5678"},"received":"2026-03-04T15:02:12Z","seq":42,"tenant":"t","time":"2026-03-04T15:02:11.123Z"}"#;
    let flat = read(text).expect("stored form");
    assert_eq!(flat.seq, Some(Some(42)));
    assert!(flat.detail.is_some());
    assert_eq!(Some(flat), serde(text));
}

#[test]
fn leaves_everything_else_to_serde() {
    for text in [
        r#"{"action":"r\u0065ad"}"#,
        r#"{"action":"read","action":"read"}"#,
        r#"{"detail":[]}"#,
        r#"{"detail":"x"}"#,
        r#"{"detail":{"a":}}"#,
        r#"{"seq":01}"#,
        r#"{"seq":-1}"#,
        r#"{"seq":1.5}"#,
        r#"{"seq":1e3}"#,
        r#"{"seq":18446744073709551616}"#,
        r#"{"x":"y"}"#,
        r#"{"action":"read"} x"#,
        r#"{"action":"read",}"#,
        r#"{"actor":{"id":"u","id":"v"}}"#,
        "{\"action\":\"re\u{1}ad\"}",
        r#"["read"]"#,
        r#"{"action":1}"#,
    ] {
        assert_eq!(read(text), None, "{text}");
    }
}
