//! The unvalidated shape of an event, as serde reads it (the fast path) or as the slow
//! path rebuilds it from a `Value`. Validation turns it into an [`Event`](crate::Event).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::value::ValueSeed;

/// A string borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Accepts a JSON object only. A derived struct would also take a JSON array
/// (positional fields), which the wire format does not allow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Obj<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The `detail` object, with duplicate keys refused at any depth.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detail(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for Detail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match ValueSeed::UNTRACKED.deserialize(d)? {
            Value::Object(map) => Ok(Detail(map)),
            _ => Err(de::Error::custom("detail must be an object")),
        }
    }
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`), for
/// the server fields that an incoming event must not carry at all.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Every field of the wire format (plus the stored form's `seq`, `received`,
/// `appended_by` and `origin`), all
/// optional so that "required" is reported by validation, not as a serde error.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) time: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) tenant: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) actor: Option<Obj<RawActor<'a>>>,
    #[serde(borrow)]
    pub(crate) action: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) resource: Option<Obj<RawResource<'a>>>,
    #[serde(borrow)]
    pub(crate) patient: Option<Obj<RawPatient<'a>>>,
    #[serde(borrow)]
    pub(crate) outcome: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) purpose: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) reason: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) source: Option<Obj<RawSource<'a>>>,
    pub(crate) detail: Option<Detail>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) seq: Option<Option<u64>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) received: Option<Option<Str<'a>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) appended_by: Option<Option<Str<'a>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) origin: Option<Option<Obj<RawOrigin<'a>>>>,
}

/// `origin` (stored events only: set by recall's decoders).
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrigin<'a> {
    #[serde(borrow)]
    pub(crate) base64: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) format: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) problems: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub(crate) text: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) understood: Option<Str<'a>>,
}

/// `actor`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawActor<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) role: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) name: Option<Str<'a>>,
    #[serde(borrow, rename = "type")]
    pub(crate) kind: Option<Str<'a>>,
}

/// `resource`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResource<'a> {
    #[serde(borrow, rename = "type")]
    pub(crate) kind: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) id: Option<Str<'a>>,
}

/// `patient`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPatient<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<Str<'a>>,
}

/// `source`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource<'a> {
    #[serde(borrow)]
    pub(crate) ip: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) system: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) device: Option<Str<'a>>,
    #[serde(borrow)]
    pub(crate) session: Option<Str<'a>>,
}

/// Reads the whole input as one event object (the fast path). `None` sends the input
/// to the slow path, which says what is wrong with it.
pub(crate) fn fast(input: &[u8]) -> Option<RawEvent<'_>> {
    // One UTF-8 check of the whole input is cheaper than serde_json's check per string.
    let text = std::str::from_utf8(input).ok()?;
    crate::flat::read(text).or_else(|| serde(text))
}

/// The serde reading of the fast path (also the oracle of the flat reader's tests).
pub(crate) fn serde(text: &str) -> Option<RawEvent<'_>> {
    serde_json::from_str::<Obj<RawEvent<'_>>>(text)
        .ok()
        .map(|o| o.0)
}
