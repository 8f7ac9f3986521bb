//! The JSON tree the decoder reads an AuditEvent through: [`Node`], implemented by
//! `serde_json::Value` and by [`Borrowed`], a tree whose strings borrow from the body
//! (no copy unless a string holds escapes) and whose objects are member lists instead
//! of B-tree maps — a fraction of a `Value`'s allocations.
//!
//! Invariant: both read the same: a `Borrowed` parse fails exactly where a `Value` parse
//! does (the same parser, numbers checked as numbers), an object answers for a repeated
//! key with the last value (as a `Map` keeps it), and its keys come sorted and unique.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// What the decoder asks of a JSON value.
pub(crate) trait Node: Sized {
    /// The member `key` of an object.
    fn get(&self, key: &str) -> Option<&Self>;
    /// The item `i` of an array.
    fn item(&self, i: usize) -> Option<&Self>;
    /// The string, if it is one.
    fn text(&self) -> Option<&str>;
    /// The items, if it is an array.
    fn items(&self) -> Option<&[Self]>;
    /// Whether it is `true`.
    fn is_true(&self) -> bool;
    /// Whether it is an object.
    fn is_object(&self) -> bool;
    /// An object's keys, sorted and unique (none for anything else).
    fn keys(&self) -> Vec<&str>;
}

impl Node for Value {
    fn get(&self, key: &str) -> Option<&Self> {
        Value::get(self, key)
    }
    fn item(&self, i: usize) -> Option<&Self> {
        Value::get(self, i)
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn items(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }
    fn is_true(&self) -> bool {
        *self == Value::Bool(true)
    }
    fn is_object(&self) -> bool {
        Value::is_object(self)
    }
    fn keys(&self) -> Vec<&str> {
        self.as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// A JSON value borrowing its strings from the input.
#[derive(Debug)]
pub(crate) enum Borrowed<'a> {
    Null,
    Bool(bool),
    /// A number (its value is never read).
    Number,
    Str(Cow<'a, str>),
    Array(Vec<Borrowed<'a>>),
    Object(Vec<(Cow<'a, str>, Borrowed<'a>)>),
}

impl Node for Borrowed<'_> {
    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Borrowed::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn item(&self, i: usize) -> Option<&Self> {
        self.items()?.get(i)
    }
    fn text(&self) -> Option<&str> {
        match self {
            Borrowed::Str(s) => Some(s),
            _ => None,
        }
    }
    fn items(&self) -> Option<&[Self]> {
        match self {
            Borrowed::Array(a) => Some(a),
            _ => None,
        }
    }
    fn is_true(&self) -> bool {
        matches!(self, Borrowed::Bool(true))
    }
    fn is_object(&self) -> bool {
        matches!(self, Borrowed::Object(_))
    }
    fn keys(&self) -> Vec<&str> {
        let Borrowed::Object(m) = self else {
            return Vec::new();
        };
        let mut keys: Vec<&str> = m.iter().map(|(k, _)| &**k).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Tree)
    }
}

struct Tree;

impl<'de> Visitor<'de> for Tree {
    type Value = Borrowed<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Borrowed::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Borrowed::Bool(b))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Borrowed::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Borrowed::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Borrowed::Number)
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Borrowed::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Borrowed::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Borrowed::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Borrowed::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            out.push((k, map.next_value()?));
        }
        Ok(Borrowed::Object(out))
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_str(Tree)? {
            Borrowed::Str(s) => Ok(Key(s)),
            _ => Err(serde::de::Error::custom("a key is a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::FhirVersion;
    use crate::codes::*;
    use crate::decode::{decode, decode_value};

    fn noise() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-z1/é\\\\\"]{0,5}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Either a plausible value or noise.
    fn or_noise(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
        prop_oneof![4 => v, 1 => noise()]
    }

    fn code(
        systems: &'static [&'static str],
        codes: &'static [&'static str],
    ) -> impl Strategy<Value = Value> {
        (
            prop::sample::select(systems),
            prop::sample::select(codes),
            any::<bool>(),
        )
            .prop_map(|(s, c, d)| {
                if d {
                    json!({"system": s, "code": c, "display": c})
                } else {
                    json!({"system": s, "code": c})
                }
            })
    }

    fn id() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[a-z0-9-]{1,8}".prop_map(Value::from),
            Just(json!("a\"b")),
            Just(json!("")),
            Just(json!("x".repeat(300))),
            Just(json!(" a")),
            Just(json!("key:abc")),
            Just(json!("c\u{1}d")),
        ]
    }

    fn agent() -> impl Strategy<Value = Value> {
        (
            prop::option::of(or_noise(any::<bool>().prop_map(Value::from))),
            prop::option::of(or_noise(
                id().prop_map(|i| json!({"identifier": {"value": i}, "display": "D"})),
            )),
            prop::option::of(or_noise(
                prop::collection::vec(
                    code(
                        &[ACTOR_TYPE_SYSTEM, DICOM, "urn:x"],
                        &["human", "110150", "110152", "110153"],
                    ),
                    0..3,
                )
                .prop_map(|c| json!({"coding": c})),
            )),
            prop::option::of(or_noise(id().prop_map(|a| json!({"address": a})))),
            prop::option::of(or_noise(Just(json!([{"text": "nurse"}])))),
        )
            .prop_map(|(req, who, ty, net, role)| {
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("requestor", req),
                    ("who", who),
                    ("type", ty),
                    ("network", net),
                    ("role", role),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            })
    }

    fn entity() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                id().prop_map(
                    |i| json!({"reference": format!("Patient/{}", i.as_str().unwrap_or(""))})
                ),
                id().prop_map(|i| json!({"identifier": {"value": i}})),
                Just(json!({"reference": "Observation/o-1", "type": "Observation"})),
                noise(),
            ],
            prop::option::of(Just(json!({"code": "1"}))),
            prop::option::of(prop_oneof![
                Just(json!({"code": "1"})),
                Just(json!({"coding": [{"code": "1"}]}))
            ]),
        )
            .prop_map(|(what, ty, role)| {
                let mut e = json!({ "what": what });
                if let Some(t) = ty {
                    e["type"] = t;
                }
                if let Some(r) = role {
                    e["role"] = r;
                }
                e
            })
    }

    fn extension() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec![
                EXT_EVENT_ID,
                EXT_DEVICE,
                EXT_SESSION,
                EXT_DETAIL,
                EXT_APPENDED_BY,
                "urn:other",
            ]),
            prop_oneof![
                id(),
                Just(json!("{\"k\":1}")),
                Just(json!("[1]")),
                Just(json!("{\"n\":9007199254740993}")),
                Just(json!(format!("{{\"k\":\"{}\"}}", "y".repeat(20_000)))),
                Just(json!(format!("{{\"k\":\"{}\"}}", "\\u0001".repeat(12_000)))),
                noise()
            ],
        )
            .prop_map(|(url, v)| json!({"url": url, "valueString": v}))
    }

    /// An AuditEvent of either version's elements, some of them wrong or unknown.
    fn audit_event() -> impl Strategy<Value = Value> {
        let subtype = || {
            prop::collection::vec(
                code(
                    &[ACTION_SYSTEM, RESTFUL_INTERACTION, DICOM, "urn:x"],
                    &["read", "search-type", "110122", "110123", "export", "bogus"],
                ),
                0..3,
            )
        };
        let members = (
            (
                prop::option::of(or_noise(subtype().prop_map(Value::from))),
                prop::option::of(or_noise(subtype().prop_map(|c| json!({"coding": c})))),
                prop::option::of(or_noise(
                    prop::sample::select(vec!["C", "R", "U", "D", "E", "Z"]).prop_map(Value::from),
                )),
                prop::option::of(or_noise(
                    prop::sample::select(vec!["2026-01-02T03:04:05Z", "2026-13-01", "x"])
                        .prop_map(Value::from),
                )),
                prop::option::of(or_noise(Just(
                    json!({"start": "2026-01-02T03:04:05+01:00"}),
                ))),
                prop::option::of(or_noise(
                    prop::sample::select(vec!["0", "4", "8", "12", "9"]).prop_map(Value::from),
                )),
            ),
            (
                prop::option::of(or_noise(Just(json!({"code": {"code": "4"}})))),
                prop::option::of(or_noise(
                    (
                        prop::sample::select(vec!["TREAT", "ETREAT", "HPAYMT", "bad code"]),
                        prop::option::of(prop::sample::select(vec!["why", "", "a\u{1}b"])),
                    )
                        .prop_map(|(c, t)| match t {
                            Some(t) => json!([{"coding": [{"code": c}], "text": t}]),
                            None => json!([{"coding": [{"code": c}]}]),
                        }),
                )),
                prop::option::of(or_noise(
                    prop::collection::vec(agent(), 0..4).prop_map(Value::from),
                )),
                prop::option::of(or_noise(
                    id().prop_map(|i| json!({"observer": {"identifier": {"value": i}}})),
                )),
                prop::option::of(or_noise(
                    prop::collection::vec(entity(), 0..4).prop_map(Value::from),
                )),
                prop::option::of(or_noise(
                    prop::collection::vec(extension(), 0..4).prop_map(Value::from),
                )),
            ),
            (
                prop::option::of(or_noise(id().prop_map(|i| json!({"reference": i})))),
                prop::option::of(noise()),
                prop::option::of(noise()),
                prop::option::of(or_noise(Just(json!("2026-01-02T03:04:05Z")))),
            ),
        );
        members.prop_map(
            |(
                (sub, code, action, recorded, period, outcome),
                (outcome5, purpose, agent, source, entity, ext),
                (patient, unknown, meta, occurred),
            )| {
                let mut m = serde_json::Map::new();
                m.insert("resourceType".into(), json!("AuditEvent"));
                let all = [
                    ("subtype", sub),
                    ("code", code),
                    ("action", action),
                    ("recorded", recorded),
                    ("period", period),
                    ("outcome", outcome.or(outcome5)),
                    ("purposeOfEvent", purpose.clone()),
                    ("authorization", purpose.filter(|_| false)),
                    ("agent", agent),
                    ("source", source),
                    ("entity", entity),
                    ("extension", ext),
                    ("patient", patient),
                    ("zzUnknown", unknown),
                    ("meta", meta),
                    ("occurredDateTime", occurred),
                ];
                for (k, v) in all {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            },
        )
    }

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn same(bytes: &[u8], hint: Option<FhirVersion>) -> Result<(), TestCaseError> {
        let fast = decode(bytes, hint, now());
        let slow = decode_value(bytes, hint, now());
        prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// The borrowed tree decodes every AuditEvent exactly as a `Value` tree does:
        /// the same events, origins and problems, the same errors.
        #[test]
        fn borrowed_decodes_as_value(ae in audit_event(), hint in prop::option::of(prop_oneof![Just(FhirVersion::R4), Just(FhirVersion::R5)])) {
            same(&serde_json::to_vec(&ae).unwrap(), hint)?;
        }

        /// And refuses every body a `Value` tree refuses, at the same place.
        #[test]
        fn borrowed_refuses_as_value(bytes in prop::collection::vec(prop::sample::select(b"{}[]\":,0123e.-tfnul AuditEvent\\x".to_vec()), 0..40)) {
            same(&bytes, None)?;
        }
    }

    #[test]
    fn repeated_keys_and_escapes_read_as_a_value_reads_them() {
        for body in [
            r#"{"resourceType":"AuditEvent","action":"C","action":"R","recorded":"2026-01-02T03:04:05Z"}"#,
            r#"{"resourceType":"AuditEvent","resourceType":"Patient"}"#,
            r#"{"resourceType":"Patient","resourceType":"AuditEvent","zz":1,"aa":2,"zz":3}"#,
            r#"{"resourceType":"Audit\u0045vent","agent":[{"requestor":true,"who":{"identifier":{"value":"a\"\u00e9"}}}]}"#,
            r#"{"resourceType":"AuditEvent","n":1e400}"#,
            r#"{"resourceType":"AuditEvent","s":"\ud800"}"#,
            r#"[{"resourceType":"AuditEvent"}]"#,
        ] {
            same(body.as_bytes(), None).unwrap();
        }
    }
}
