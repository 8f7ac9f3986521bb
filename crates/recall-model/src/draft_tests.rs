//! Property tests: validating a draft answers what parsing its JSON form answers (the
//! same event, or the same error), over drafts built from the format's vocabulary and
//! values each rule refuses; and the field helpers act as on the JSON form.

use std::borrow::Cow;

use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::parse_client_event;

fn now() -> Timestamp {
    "2026-03-04T15:00:00Z".parse().unwrap()
}

/// Strings that pass or break the field rules (control characters, escapes, edges of
/// whitespace, reserved names, long values, bad times and addresses).
fn text() -> BoxedStrategy<Option<Cow<'static, str>>> {
    let words = proptest::sample::select(vec![
        "read",
        "u-1",
        "",
        " a",
        "ETREAT",
        "TREAT",
        "10.1.2.3",
        "::1",
        "not-an-ip",
        "Observation",
        "denied",
        "success",
        "odd",
        "2026-03-04T14:00:00Z",
        "2026-03-04T15:10:00Z",
        "2026-03-04",
        "recall",
        "key:abc",
        "a\"b\\c",
        "tab\there",
        "nl\nx",
        "nul\u{0}x",
        "del\u{7f}x",
        "é ü 日本",
    ]);
    prop_oneof![
        1 => Just(None),
        6 => words.prop_map(|w| Some(Cow::Borrowed(w))),
        1 => (1usize..3000).prop_map(|n| Some(Cow::Owned("x".repeat(n)))),
        1 => (1usize..14_000).prop_map(|n| Some(Cow::Owned("\u{1}".repeat(n)))),
    ]
    .boxed()
}

fn detail() -> BoxedStrategy<Option<Map<String, Value>>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Map::new())),
        1 => Just(json!({"a": 1, "b": [1.5, -0.0, "x\u{2}"], "c": {"d": null}}).as_object().cloned()),
        1 => Just(json!({"big": 9007199254740993u64}).as_object().cloned()),
        1 => (1usize..40_000).prop_map(|n| json!({"t": "y".repeat(n)}).as_object().cloned()),
    ]
    .boxed()
}

fn draft() -> impl Strategy<Value = Draft<'static>> {
    let actor = proptest::option::of((text(), text(), text(), text()).prop_map(
        |(id, role, name, kind)| DraftActor {
            id,
            role,
            name,
            kind,
        },
    ));
    let resource =
        proptest::option::of((text(), text()).prop_map(|(kind, id)| DraftResource { kind, id }));
    let source = proptest::option::of((text(), text(), text(), text()).prop_map(
        |(ip, system, device, session)| DraftSource {
            ip,
            system,
            device,
            session,
        },
    ));
    (
        (text(), text(), actor, text(), resource, text()),
        (text(), text(), text(), source, detail()),
    )
        .prop_map(
            |(
                (id, time, actor, action, resource, patient),
                (outcome, purpose, reason, source, detail),
            )| {
                Draft {
                    detail,
                    source,
                    reason,
                    purpose,
                    outcome,
                    patient,
                    resource,
                    action,
                    actor,
                    time,
                    id,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn draft_validates_as_its_json(mut d in draft()) {
        let json = serde_json::to_vec(&d.to_json()).unwrap();
        let by_json = parse_client_event(&json, now());
        prop_assert_eq!(d.json_len(), json.len());
        let before = d.clone();
        let direct = validate_draft(&mut d, now());
        // A refused draft keeps its fields (a decoder repairs it and tries again).
        if direct.is_err() && !direct.as_ref().is_err_and(|e| e.field.starts_with("detail")) {
            prop_assert_eq!(&d, &before);
        }
        prop_assert_eq!(direct, by_json);
    }

    #[test]
    fn drop_field_acts_as_on_json(d in draft(), field in proptest::sample::select(vec![
        "id", "time", "actor", "actor.id", "actor.role", "actor.type", "resource.type",
        "resource.id", "patient.id", "purpose", "reason", "source.ip", "source.system",
        "source.session", "detail", "detail.a[1]", "event",
    ])) {
        let mut json = d.to_json();
        let top = field.split('.').next().unwrap();
        match field.split_once('.') {
            Some((parent, key)) if top != "detail" => {
                if let Some(obj) = json.get_mut(parent).and_then(Value::as_object_mut) {
                    obj.remove(key);
                    if obj.is_empty() {
                        json.remove(parent);
                    }
                }
            }
            _ => {
                json.remove(top);
            }
        }
        let mut dropped = d.clone();
        dropped.drop_field(field);
        prop_assert_eq!(dropped.to_json(), json);
    }
}

#[test]
fn slots_and_get_name_fields_as_errors_do() {
    let mut d = Draft::default();
    for f in [
        "id",
        "time",
        "action",
        "outcome",
        "purpose",
        "reason",
        "patient.id",
        "actor.id",
        "actor.role",
        "actor.name",
        "actor.type",
        "resource.type",
        "resource.id",
        "source.ip",
        "source.system",
        "source.device",
        "source.session",
    ] {
        *d.slot(f).unwrap() = Some(Cow::Owned(format!("v-{f}")));
        assert_eq!(d.get(f), Some(format!("v-{f}").as_str()), "{f}");
    }
    assert!(d.slot("detail").is_none());
    assert!(d.slot("actor.x").is_none());
    let json = Value::Object(d.to_json());
    assert_eq!(json["actor"]["type"], "v-actor.type");
    assert_eq!(json["patient"]["id"], "v-patient.id");
}
