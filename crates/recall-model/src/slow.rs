//! The slow path: runs only when the fast serde path refused the input, to say exactly
//! which field broke which structural rule (invalid JSON, duplicate key, unknown field,
//! wrong type). It rebuilds a [`RawEvent`] so that the value rules are the same code
//! on both paths.

use std::borrow::Cow;

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use crate::raw::{
    Detail, Obj, RawActor, RawEvent, RawOrigin, RawPatient, RawResource, RawSource, Str,
};
use crate::value::{Path, Tracker, ValueSeed};
use crate::{Rule, ValidationError};

/// Which top-level shape is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An incoming event: `seq`, `received`, `appended_by` and `origin` are unknown fields.
    Event,
    /// The stored form: `seq`, `received`, `appended_by` and `origin` are allowed.
    Recorded,
}

/// Parses `input` into a [`RawEvent`], or names the structural rule it breaks.
pub(crate) fn parse(input: &[u8], shape: Shape) -> Result<RawEvent<'static>, ValidationError> {
    let value = parse_value(input)?;
    let Value::Object(mut top) = value else {
        return Err(ValidationError::new(
            "event",
            Rule::WrongType,
            "must be a JSON object",
        ));
    };
    let mut raw = RawEvent {
        id: string(&mut top, "id")?,
        time: string(&mut top, "time")?,
        tenant: string(&mut top, "tenant")?,
        actor: object(&mut top, "actor")?
            .map(|mut o| {
                let actor = RawActor {
                    id: string(&mut o, "actor.id")?,
                    role: string(&mut o, "actor.role")?,
                    name: string(&mut o, "actor.name")?,
                    kind: string(&mut o, "actor.type")?,
                };
                no_more(o, "actor.").map(|()| Obj(actor))
            })
            .transpose()?,
        action: string(&mut top, "action")?,
        resource: object(&mut top, "resource")?
            .map(|mut o| {
                let resource = RawResource {
                    kind: string(&mut o, "resource.type")?,
                    id: string(&mut o, "resource.id")?,
                };
                no_more(o, "resource.").map(|()| Obj(resource))
            })
            .transpose()?,
        patient: object(&mut top, "patient")?
            .map(|mut o| {
                let patient = RawPatient {
                    id: string(&mut o, "patient.id")?,
                };
                no_more(o, "patient.").map(|()| Obj(patient))
            })
            .transpose()?,
        outcome: string(&mut top, "outcome")?,
        purpose: string(&mut top, "purpose")?,
        reason: string(&mut top, "reason")?,
        source: object(&mut top, "source")?
            .map(|mut o| {
                let source = RawSource {
                    ip: string(&mut o, "source.ip")?,
                    system: string(&mut o, "source.system")?,
                    device: string(&mut o, "source.device")?,
                    session: string(&mut o, "source.session")?,
                };
                no_more(o, "source.").map(|()| Obj(source))
            })
            .transpose()?,
        detail: object(&mut top, "detail")?.map(Detail),
        seq: None,
        received: None,
        appended_by: None,
        origin: None,
    };
    if shape == Shape::Recorded {
        raw.seq = match top.remove("seq") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Some(n.as_u64()),
            Some(_) => {
                return Err(wrong_type("seq", "must be a non-negative integer"));
            }
        };
        raw.received = match top.contains_key("received") {
            false => None,
            true => Some(string(&mut top, "received")?),
        };
        raw.appended_by = match top.contains_key("appended_by") {
            false => None,
            true => Some(string(&mut top, "appended_by")?),
        };
        raw.origin = match top.contains_key("origin") {
            false => None,
            true => Some(object(&mut top, "origin")?.map(origin).transpose()?),
        };
    }
    no_more(top, "")?;
    Ok(raw)
}

/// The stored `origin` object, its structure checked member by member.
fn origin(mut o: Map<String, Value>) -> Result<Obj<RawOrigin<'static>>, ValidationError> {
    let problems = match o.remove("problems") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(Str(Cow::Owned(s))),
                    _ => Err(wrong_type("origin.problems", "must hold strings")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(wrong_type("origin.problems", "must be an array")),
    };
    let raw = RawOrigin {
        base64: string(&mut o, "origin.base64")?,
        format: string(&mut o, "origin.format")?,
        problems,
        text: string(&mut o, "origin.text")?,
        understood: string(&mut o, "origin.understood")?,
    };
    no_more(o, "origin.").map(|()| Obj(raw))
}

/// Parses JSON with duplicate keys refused, naming the duplicate's path.
fn parse_value(input: &[u8]) -> Result<Value, ValidationError> {
    let tracker = Tracker::default();
    let mut de = serde_json::Deserializer::from_slice(input);
    let seed = ValueSeed {
        track: Some((&tracker, &Path::Root)),
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    if let Some(err) = tracker.error.into_inner() {
        // A duplicate inside a top-level array is better reported as "not an object".
        let first = input.iter().find(|b| !b" \t\r\n".contains(b));
        if first != Some(&b'{') {
            return Err(not_an_object());
        }
        return Err(err);
    }
    result.map_err(|e| {
        use serde_json::error::Category;
        // Syntax and EOF messages are fixed texts plus a position: they never quote the
        // input. Anything else (not expected here) gets a generic message.
        let message = match e.classify() {
            Category::Syntax | Category::Eof => format!("invalid JSON: {e}"),
            _ => format!("invalid JSON at line {} column {}", e.line(), e.column()),
        };
        ValidationError::new("event", Rule::InvalidJson, message)
    })
}

fn not_an_object() -> ValidationError {
    ValidationError::new("event", Rule::WrongType, "must be a JSON object")
}

fn wrong_type(field: &str, message: &'static str) -> ValidationError {
    ValidationError::new(field, Rule::WrongType, message)
}

/// The last segment of a dotted field name: its key in the enclosing object.
fn key_of(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// Takes an optional string field out of `obj`; `null` is absent.
fn string(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<Str<'static>>, ValidationError> {
    match obj.remove(key_of(field)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Str(Cow::Owned(s)))),
        Some(_) => Err(wrong_type(field, "must be a string")),
    }
}

/// Takes an optional object field out of `obj`; `null` is absent.
fn object(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, ValidationError> {
    match obj.remove(key_of(field)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(wrong_type(field, "must be an object")),
    }
}

/// Refuses whatever keys are left once the known ones were taken.
fn no_more(rest: Map<String, Value>, prefix: &str) -> Result<(), ValidationError> {
    match rest.keys().next() {
        None => Ok(()),
        Some(key) => {
            let mut field = prefix.to_owned();
            crate::jcs::push_key(&mut field, key);
            Err(ValidationError::new(
                field,
                Rule::UnknownField,
                "unknown field",
            ))
        }
    }
}
