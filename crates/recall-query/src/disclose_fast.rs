//! A lens applied to an event's canonical JSON without building a value tree: the
//! top-level members (and those of `actor`, `resource`, `patient`, `source`) are split
//! as borrowed raw slices, withheld members are left out, pseudonymised strings
//! replaced, and every other member copied byte for byte.
//!
//! Invariant: the output is byte-identical to the tree path's (`Lens::json_tree`: parse
//! into a `serde_json::Map`, redact, serialize). Copying a member verbatim equals
//! re-serializing it only when serde_json writes it back unchanged, so a kept member is
//! copied only if it is [`stable`] (strings, literals, integers serde_json prints the
//! same, objects with byte-sorted plain keys); for anything else — a float in `detail`
//! JCS writes differently, a key with escapes — [`rewrite`] answers `None` and the
//! caller takes the tree path. A property test holds the two paths equal.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::disclose::{Field, Lens, Rule};

/// An object's members in order, keys and values borrowed from the input.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl Members<'_> {
    /// Whether the keys are in byte order without repeats: the order a `Map` writes.
    fn sorted(&self) -> bool {
        self.0.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'de>(PhantomData<&'de ()>);
        impl<'de> Visitor<'de> for V<'de> {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(16);
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The members of `raw` if it is an object with plain (escape-free) keys in byte order.
fn members(raw: &str) -> Option<Members<'_>> {
    serde_json::from_str::<Members<'_>>(raw)
        .ok()
        .filter(Members::sorted)
}

/// The parents of nested governed fields.
const PARENTS: [&str; 4] = ["actor", "resource", "patient", "source"];

/// `canonical` as `lens` shows it, or `None` when only the tree path can say.
pub(crate) fn rewrite(lens: &Lens, canonical: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(canonical).ok()?;
    let top = members(text)?;
    let mut out = Vec::with_capacity(canonical.len());
    out.push(b'{');
    for (key, value) in top.0 {
        if PARENTS.contains(&key) && value.get().starts_with('{') {
            let inner = object(lens, Some(key), value.get())?;
            // The tree path drops a parent it emptied (only one it touched).
            if inner.len() > 2 || !touches(lens, key) {
                member(&mut out, key, &inner);
            }
            continue;
        }
        if let Some(v) = shown(lens, None, key, value)? {
            member(&mut out, key, v.as_bytes());
        }
    }
    out.push(b'}');
    Some(out)
}

/// Whether some rule under `parent` is not `show`.
fn touches(lens: &Lens, parent: &str) -> bool {
    Field::ALL
        .into_iter()
        .any(|f| f.parent() == Some(parent) && lens.rule(f) != Rule::Show)
}

/// A parent object's members through the lens, as `{…}`.
fn object(lens: &Lens, parent: Option<&str>, raw: &str) -> Option<Vec<u8>> {
    let inner = members(raw)?;
    let mut out = Vec::with_capacity(raw.len());
    out.push(b'{');
    for (key, value) in inner.0 {
        if let Some(v) = shown(lens, parent, key, value)? {
            member(&mut out, key, v.as_bytes());
        }
    }
    out.push(b'}');
    Some(out)
}

/// What the lens makes of one member: `Some(None)` left out, `Some(Some(v))` written as
/// `v`, `None` when it cannot be copied verbatim.
fn shown(lens: &Lens, parent: Option<&str>, key: &str, value: &RawValue) -> Option<Option<String>> {
    let rule = Field::at(parent, key).map_or(Rule::Show, |f| lens.rule(f));
    let raw = value.get();
    match rule {
        Rule::Withhold | Rule::Justified => Some(None),
        Rule::Pseudonym => match serde_json::from_str::<String>(raw) {
            Ok(s) => {
                let f = Field::at(parent, key)?;
                let p = lens.disclose(f, &s)?;
                Some(Some(serde_json::to_string(&p).ok()?))
            }
            Err(_) => stable(raw).then(|| Some(raw.to_string())),
        },
        Rule::Show => stable(raw).then(|| Some(raw.to_string())),
    }
}

fn member(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    if out.len() > 1 {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value);
}

/// Whether serde_json writes `raw` (valid JSON) back byte for byte after parsing it.
pub(crate) fn stable(raw: &str) -> bool {
    match raw.as_bytes().first() {
        Some(b'"') => string_stable(raw),
        Some(b't' | b'f' | b'n') => true,
        Some(b'{') => members(raw).is_some_and(|m| m.0.iter().all(|(_, v)| stable(v.get()))),
        Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(raw)
            .is_ok_and(|a| a.iter().all(|v| stable(v.get()))),
        // Up to 18 digits is an integer serde_json holds and prints as given.
        Some(b'0'..=b'9') if raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit()) => true,
        Some(_) => {
            serde_json::from_str::<serde_json::Number>(raw).is_ok_and(|n| n.to_string() == raw)
        }
        None => false,
    }
}

/// A string is written back unchanged unless it holds an escape serde_json writes
/// differently (it writes `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` and `\u00xx` for
/// other control characters, nothing else escaped).
fn string_stable(raw: &str) -> bool {
    // Without a backslash there is nothing to escape: a JSON string holds no raw
    // control character or quote.
    if !raw.contains('\\') {
        return true;
    }
    let Ok(s) = serde_json::from_str::<String>(raw) else {
        return false;
    };
    serde_json::to_string(&s).is_ok_and(|back| back == raw)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;
    use recall_crypto::{IndexKey, Pseudonymizer, SecretBytes};
    use serde_json::{Map, Value, json};

    use super::rewrite;
    use crate::disclose::{Field, Policy, Reader, Rule};

    /// Any JSON, floats, escapes and non-ASCII keys included (what `detail` may hold).
    pub(crate) fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e25f64..1e25).prop_map(Value::from),
            prop_oneof![Just(1e21), Just(1e-7), Just(0.1), Just(-0.0)].prop_map(Value::from),
            "[a-z\"\\\\\u{1}\u{7f}é😀 ]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-zé😀\u{ff5e}_]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn text() -> impl Strategy<Value = Value> {
        "[A-Za-z0-9 \"\\\\\u{1}é-]{1,12}".prop_map(Value::from)
    }

    /// An object of some of `keys`, each a short text.
    fn part(keys: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
        prop::option::of(
            prop::collection::btree_map(prop::sample::select(keys), text(), 0..keys.len() + 1)
                .prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
        )
    }

    /// Events shaped like stored ones; `detail` is plain text or any JSON.
    pub(crate) fn event() -> impl Strategy<Value = Value> {
        (
            (
                prop::option::of(text()),
                part(&["id", "name", "role", "type"]),
                part(&["type", "id"]),
                part(&["id"]),
                part(&["ip", "system", "device", "session"]),
            ),
            (
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(prop_oneof![
                    text().prop_map(|t| json!({ "note": t })),
                    any_json()
                ]),
                prop::option::of(text()),
                prop::option::of(text().prop_map(|t| json!({ "format": "fhir", "body": t }))),
                any::<u32>(),
            ),
        )
            .prop_map(
                |(
                    (id, actor, resource, patient, source),
                    (purpose, reason, detail, by, origin, seq),
                )| {
                    let mut m = Map::new();
                    let mut put = |k: &str, v: Option<Value>| {
                        if let Some(v) = v {
                            m.insert(k.to_string(), v);
                        }
                    };
                    put("id", id);
                    put("actor", actor);
                    put("resource", resource);
                    put("patient", patient);
                    put("source", source);
                    put("purpose", purpose);
                    put("reason", reason);
                    put("detail", detail);
                    put("appended_by", by);
                    put("origin", origin);
                    put("seq", Some(seq.into()));
                    put("action", Some("read".into()));
                    put("time", Some("2026-01-01T00:00:00Z".into()));
                    Value::Object(m)
                },
            )
    }

    /// A lens of random rules (pseudonyms only where the policy allows them).
    pub(crate) fn lens() -> impl Strategy<Value = crate::disclose::Lens> {
        (
            prop::collection::vec(prop::sample::select(Rule::ALL.to_vec()), Field::ALL.len()),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(rules, justified, keyed)| {
                let mut p = Policy::default();
                for (f, r) in Field::ALL.into_iter().zip(rules) {
                    // Refused for detail and origin: those keep the default.
                    let _ = p.set("engineer", &f.name(), r.as_str());
                }
                let key =
                    keyed.then(|| Pseudonymizer::new(&IndexKey(SecretBytes::from_bytes([7; 32]))));
                p.lens(Reader::Engineer, justified, key)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The fast path, whenever it answers, writes exactly what the tree path writes;
        /// and it answers for every event whose kept members are plain.
        #[test]
        fn fast_equals_tree(event in event(), lens in lens()) {
            let mut canonical = Vec::new();
            recall_model::canonical_json_into(&event, &mut canonical);
            let tree = lens.json_tree(&canonical).unwrap();
            let fast = rewrite(&lens, &canonical);
            if let Some(fast) = &fast {
                prop_assert_eq!(
                    String::from_utf8_lossy(fast),
                    String::from_utf8_lossy(&tree)
                );
            }
            let detail_kept = event.get("detail").is_some() && lens.rule(Field::Detail) == Rule::Show;
            let escapes = canonical.contains(&b'\\');
            if !detail_kept && !escapes {
                prop_assert!(fast.is_some(), "plain event took the tree path");
            }
            // `json` hands out the stored bytes when nothing applies, else the tree's.
            match lens.json(&canonical).unwrap() {
                Cow::Borrowed(b) => prop_assert_eq!(b, &canonical[..]),
                Cow::Owned(o) => prop_assert_eq!(o, tree),
            }
        }
    }

    #[test]
    fn the_default_lenses_take_the_fast_path() {
        let event = br#"{"action":"read","actor":{"id":"u-1","name":"Synthetic Name"},"detail":{"k":1.5e30},"patient":{"id":"MRN-1"},"seq":3,"source":{"ip":"10.0.0.1"},"tenant":"t","time":"2026-01-01T00:00:00Z"}"#;
        let key = Pseudonymizer::new(&IndexKey(SecretBytes::from_bytes([9; 32])));
        for reader in [Reader::Auditor, Reader::Engineer, Reader::Patient] {
            let lens = Policy::default().lens(reader, false, Some(key.clone()));
            let fast = rewrite(&lens, event).expect("fast path");
            assert_eq!(fast, lens.json_tree(event).unwrap(), "{reader}");
        }
    }
}
