//! Building a `serde_json::Value` that refuses duplicate object keys.
//!
//! serde_json keeps the last of two equal keys, but a canonical form must not depend on
//! which duplicate a parser keeps, so duplicates are refused. In tracked mode (the slow
//! path) the seed also knows where it is, so the refusal names the key's full path.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::jcs::{PathSeg, push_path};
use crate::{Rule, ValidationError};

/// Where a value sits, as a chain of parents on the stack.
pub(crate) enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    /// The dotted field name (`actor.id`, `detail.a[2].b`).
    pub(crate) fn field(&self) -> String {
        let mut segs = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Key(parent, k) => {
                    segs.push(PathSeg::Key((*k).to_owned()));
                    at = parent;
                }
                Path::Index(parent, i) => {
                    segs.push(PathSeg::Index(*i));
                    at = parent;
                }
            }
        }
        let mut field = String::new();
        push_path(&mut field, segs.iter().rev());
        // The root has no name; paths start with a key, so drop its leading dot.
        if field.starts_with('.') {
            field.remove(0);
        }
        field
    }
}

/// Collects the first precise error found while parsing.
#[derive(Default)]
pub(crate) struct Tracker {
    pub(crate) error: RefCell<Option<ValidationError>>,
}

/// Deserializes any JSON value, refusing duplicate keys.
#[derive(Clone, Copy)]
pub(crate) struct ValueSeed<'t, 'p> {
    pub(crate) track: Option<(&'t Tracker, &'p Path<'p>)>,
}

impl ValueSeed<'_, '_> {
    pub(crate) const UNTRACKED: Self = ValueSeed { track: None };
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let next = match self.track {
                None => seq.next_element_seed(self)?,
                Some((t, p)) => {
                    let here = Path::Index(p, items.len());
                    seq.next_element_seed(ValueSeed {
                        track: Some((t, &here)),
                    })?
                }
            };
            match next {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = match self.track {
                None => {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom("duplicate key"));
                    }
                    access.next_value_seed(self)?
                }
                Some((t, p)) => {
                    let here = Path::Key(p, &key);
                    if map.contains_key(&key) {
                        let mut slot = t.error.borrow_mut();
                        if slot.is_none() {
                            *slot = Some(ValidationError::new(
                                here.field(),
                                Rule::Duplicate,
                                "duplicate key",
                            ));
                        }
                        return Err(de::Error::custom("duplicate key"));
                    }
                    access.next_value_seed(ValueSeed {
                        track: Some((t, &here)),
                    })?
                }
            };
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}
