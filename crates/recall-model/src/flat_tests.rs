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
fn leaves_everything_else_to_serde() {
    for text in [
        r#"{"action":"r\u0065ad"}"#,
        r#"{"action":"read","action":"read"}"#,
        r#"{"detail":{}}"#,
        r#"{"seq":1}"#,
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
