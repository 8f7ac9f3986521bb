//! Property tests: the fast path (serde derive + fallback) and the slow path alone
//! reach the same verdict, on inputs built from the format's own vocabulary.

use jiff::Timestamp;
use proptest::prelude::*;

use super::{Shape, build, parse_event};
use crate::{Event, ValidationError, slow};

fn now() -> Timestamp {
    "2026-03-04T15:00:00Z".parse().unwrap()
}

const KEYS: &[&str] = &[
    "id", "time", "tenant", "actor", "action", "resource", "patient", "outcome", "purpose",
    "reason", "source", "detail", "type", "role", "name", "ip", "system", "device", "session",
    "seq", "received", "x",
];
const STRINGS: &[&str] = &[
    "\"2026-03-04T14:00:00Z\"",
    "\"read\"",
    "\"u-1\"",
    "\"\"",
    "\"ETREAT\"",
    "\"10.1.2.3\"",
    "\"Observation\"",
    "\"denied\"",
    "\"t-1\"",
    "\" a\"",
    "\"\\u0000\"",
    "\"r\\u0065ad\"",
];

/// JSON-ish text built from the format's own vocabulary, so that most inputs get
/// deep into validation; duplicates and wrong types arise naturally.
fn node(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        proptest::sample::select(STRINGS).prop_map(str::to_owned),
        Just("null".to_owned()),
        Just("1".to_owned()),
        Just("9007199254740993".to_owned()),
        Just("true".to_owned()),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        2 => proptest::collection::vec((proptest::sample::select(KEYS), node(depth - 1)), 0..6)
            .prop_map(|members| {
                let inner: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", inner.join(","))
            }),
        1 => proptest::collection::vec(node(depth - 1), 0..3).prop_map(|items| format!("[{}]", items.join(","))),
    ]
    .boxed()
}

fn both(
    input: &[u8],
) -> (
    Result<Event, ValidationError>,
    Result<Event, ValidationError>,
) {
    let fast = parse_event(input, now());
    let slow = slow::parse(input, Shape::Event)
        .and_then(|raw| build(raw, Shape::Event, Some(now())))
        .map(|p| p.event);
    (fast, slow)
}

proptest! {
    #[test]
    fn on_vocabulary_inputs(text in node(3), cut in any::<proptest::sample::Index>(), do_cut: bool) {
        let (fast, slow) = both(text.as_bytes());
        prop_assert_eq!(fast, slow, "{}", text);
        if do_cut && !text.is_empty() {
            let cut = &text.as_bytes()[..cut.index(text.len())];
            let (fast, slow) = both(cut);
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn on_mostly_valid_events(
        members in proptest::collection::vec((proptest::sample::select(KEYS), node(2)), 0..8),
    ) {
        let mut text = String::from(r#"{"time":"2026-03-04T14:00:00Z","actor":{"id":"u-1"},"action":"read""#);
        for (k, v) in members {
            text.push_str(&format!(",\"{k}\":{v}"));
        }
        text.push('}');
        let (fast, slow) = both(text.as_bytes());
        prop_assert_eq!(fast, slow, "{}", text);
    }
}
