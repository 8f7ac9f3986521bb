//! A native event built field by field by one of recall's decoders (FHIR, ATNA), and
//! its validation by the same rules as a client's JSON event, without encoding the
//! draft to JSON and parsing it back.
//!
//! Invariants:
//! - [`validate_draft`] answers exactly what [`parse_client_event`](crate::parse_client_event)
//!   answers for the draft's JSON form ([`Draft::to_json`]): the same event, or the same
//!   error naming the same field. The size limit is measured on that JSON form
//!   (compact, as serde_json writes it) without writing it; every other rule is the
//!   shared `validate::build` and `provenance::refuse_reserved`.
//! - A draft names its fields as validation errors do (`actor.id`, `source.ip`), so a
//!   decoder can drop or replace the field an error names ([`Draft::drop_field`]).

use std::borrow::Cow;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::limits::MAX_EVENT_BYTES;
use crate::raw::{Obj, RawActor, RawEvent, RawPatient, RawResource, RawSource, Str};
use crate::slow::Shape;
use crate::{Event, Rule, ValidationError};

type Text<'a> = Option<Cow<'a, str>>;

/// An unvalidated event: what a decoder mapped, every field optional (as a JSON event
/// may leave any out); strings borrowed from the original where they can be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft<'a> {
    /// `id`.
    pub id: Text<'a>,
    /// `time`, RFC 3339.
    pub time: Text<'a>,
    /// `actor`.
    pub actor: Option<DraftActor<'a>>,
    /// `action`.
    pub action: Text<'a>,
    /// `resource`.
    pub resource: Option<DraftResource<'a>>,
    /// `patient.id` (a patient object always has its id here).
    pub patient: Text<'a>,
    /// `outcome`.
    pub outcome: Text<'a>,
    /// `purpose`.
    pub purpose: Text<'a>,
    /// `reason`.
    pub reason: Text<'a>,
    /// `source`.
    pub source: Option<DraftSource<'a>>,
    /// `detail`.
    pub detail: Option<Map<String, Value>>,
}

/// `actor` of a [`Draft`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftActor<'a> {
    /// `actor.id`.
    pub id: Text<'a>,
    /// `actor.role`.
    pub role: Text<'a>,
    /// `actor.name`.
    pub name: Text<'a>,
    /// `actor.type`.
    pub kind: Text<'a>,
}

/// `resource` of a [`Draft`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftResource<'a> {
    /// `resource.type`.
    pub kind: Text<'a>,
    /// `resource.id`.
    pub id: Text<'a>,
}

/// `source` of a [`Draft`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftSource<'a> {
    /// `source.ip`.
    pub ip: Text<'a>,
    /// `source.system`.
    pub system: Text<'a>,
    /// `source.device`.
    pub device: Text<'a>,
    /// `source.session`.
    pub session: Text<'a>,
}

/// Validates a draft as [`parse_client_event`](crate::parse_client_event) validates the
/// draft's JSON form. On success the draft's `detail` has moved into the event; on
/// failure the draft is as it was, except a `detail` the error names may have had its
/// numbers normalised.
pub fn validate_draft(draft: &mut Draft<'_>, now: Timestamp) -> Result<Event, ValidationError> {
    if draft.json_len() > MAX_EVENT_BYTES {
        return Err(ValidationError::new(
            "event",
            Rule::TooLarge,
            format!("must be at most {MAX_EVENT_BYTES} bytes"),
        ));
    }
    // `detail` is checked last by `build`, so checking it after `build` keeps the order.
    let mut event = crate::validate::build(draft.raw(), Shape::Event, Some(now))?.event;
    if let Some(d) = draft.detail.as_mut() {
        crate::fields::detail(d)?;
    }
    // The reserved names are not in `detail`; it moves only once nothing is refused.
    crate::provenance::refuse_reserved(&event)?;
    event.detail = draft.detail.take();
    Ok(event)
}

fn borrow<'b>(t: &'b Text<'_>) -> Option<Str<'b>> {
    t.as_deref().map(|s| Str(Cow::Borrowed(s)))
}

impl<'a> Draft<'a> {
    /// The draft as the raw event the JSON parser would have read (no `detail`).
    fn raw(&self) -> RawEvent<'_> {
        RawEvent {
            id: borrow(&self.id),
            time: borrow(&self.time),
            actor: self.actor.as_ref().map(|a| {
                Obj(RawActor {
                    id: borrow(&a.id),
                    role: borrow(&a.role),
                    name: borrow(&a.name),
                    kind: borrow(&a.kind),
                })
            }),
            action: borrow(&self.action),
            resource: self.resource.as_ref().map(|r| {
                Obj(RawResource {
                    kind: borrow(&r.kind),
                    id: borrow(&r.id),
                })
            }),
            patient: self.patient.as_ref().map(|p| {
                Obj(RawPatient {
                    id: Some(Str(Cow::Borrowed(p))),
                })
            }),
            outcome: borrow(&self.outcome),
            purpose: borrow(&self.purpose),
            reason: borrow(&self.reason),
            source: self.source.as_ref().map(|s| {
                Obj(RawSource {
                    ip: borrow(&s.ip),
                    system: borrow(&s.system),
                    device: borrow(&s.device),
                    session: borrow(&s.session),
                })
            }),
            ..RawEvent::default()
        }
    }

    /// The members of the draft's JSON form, by name.
    fn members(&self) -> [(&'static str, Member<'_>); 10] {
        [
            ("id", Member::of(&self.id)),
            ("time", Member::of(&self.time)),
            (
                "actor",
                self.actor.as_ref().map_or(Member::None, |a| {
                    Member::Object(vec![
                        ("id", a.id.as_deref()),
                        ("role", a.role.as_deref()),
                        ("name", a.name.as_deref()),
                        ("type", a.kind.as_deref()),
                    ])
                }),
            ),
            ("action", Member::of(&self.action)),
            (
                "resource",
                self.resource.as_ref().map_or(Member::None, |r| {
                    Member::Object(vec![("type", r.kind.as_deref()), ("id", r.id.as_deref())])
                }),
            ),
            (
                "patient",
                self.patient
                    .as_deref()
                    .map_or(Member::None, |p| Member::Object(vec![("id", Some(p))])),
            ),
            ("outcome", Member::of(&self.outcome)),
            ("purpose", Member::of(&self.purpose)),
            ("reason", Member::of(&self.reason)),
            (
                "source",
                self.source.as_ref().map_or(Member::None, |s| {
                    Member::Object(vec![
                        ("ip", s.ip.as_deref()),
                        ("system", s.system.as_deref()),
                        ("device", s.device.as_deref()),
                        ("session", s.session.as_deref()),
                    ])
                }),
            ),
        ]
    }

    /// The length of the draft's JSON form, written compactly as serde_json writes it.
    fn json_len(&self) -> usize {
        let detail = self.detail.as_ref().map(|d| {
            let mut count = ByteCount(0);
            // Writing a Map to a counter cannot fail.
            let _ = serde_json::to_writer(&mut count, d);
            json_str_len("detail") + 1 + count.0
        });
        let members = self.members();
        let lens = members
            .iter()
            .filter_map(|(k, m)| m.json_len().map(|n| json_str_len(k) + 1 + n));
        object_len(lens.chain(detail))
    }

    /// The draft's JSON form: the event a client would have posted.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, m) in self.members() {
            match m {
                Member::None => {}
                Member::Text(s) => {
                    out.insert(k.into(), Value::String(s.into()));
                }
                Member::Object(fields) => {
                    let obj = fields
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.to_string(), Value::String(v?.into()))))
                        .collect();
                    out.insert(k.into(), Value::Object(obj));
                }
            }
        }
        if let Some(d) = &self.detail {
            out.insert("detail".into(), Value::Object(d.clone()));
        }
        out
    }

    /// The string field named as a validation error names it (`action`, `actor.id`),
    /// its parent object made when absent; `None` for a name that is not a string field.
    pub fn slot(&mut self, field: &str) -> Option<&mut Text<'a>> {
        let (parent, key) = field.split_once('.').unwrap_or(("", field));
        Some(match (parent, key) {
            ("", "id") => &mut self.id,
            ("", "time") => &mut self.time,
            ("", "action") => &mut self.action,
            ("", "outcome") => &mut self.outcome,
            ("", "purpose") => &mut self.purpose,
            ("", "reason") => &mut self.reason,
            ("patient", "id") => &mut self.patient,
            ("actor", k) => {
                let a = self.actor.get_or_insert_with(Default::default);
                match k {
                    "id" => &mut a.id,
                    "role" => &mut a.role,
                    "name" => &mut a.name,
                    "type" => &mut a.kind,
                    _ => return None,
                }
            }
            ("resource", k) => {
                let r = self.resource.get_or_insert_with(Default::default);
                match k {
                    "type" => &mut r.kind,
                    "id" => &mut r.id,
                    _ => return None,
                }
            }
            ("source", k) => {
                let s = self.source.get_or_insert_with(Default::default);
                match k {
                    "ip" => &mut s.ip,
                    "system" => &mut s.system,
                    "device" => &mut s.device,
                    "session" => &mut s.session,
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// The string field named `field`, if set.
    pub fn get(&self, field: &str) -> Option<&str> {
        let (parent, key) = field.split_once('.').unwrap_or(("", field));
        let t = match (parent, key) {
            ("", "id") => &self.id,
            ("", "time") => &self.time,
            ("", "action") => &self.action,
            ("", "outcome") => &self.outcome,
            ("", "purpose") => &self.purpose,
            ("", "reason") => &self.reason,
            ("patient", "id") => &self.patient,
            ("actor", "id") => &self.actor.as_ref()?.id,
            ("actor", "role") => &self.actor.as_ref()?.role,
            ("actor", "name") => &self.actor.as_ref()?.name,
            ("actor", "type") => &self.actor.as_ref()?.kind,
            ("resource", "type") => &self.resource.as_ref()?.kind,
            ("resource", "id") => &self.resource.as_ref()?.id,
            ("source", "ip") => &self.source.as_ref()?.ip,
            ("source", "system") => &self.source.as_ref()?.system,
            ("source", "device") => &self.source.as_ref()?.device,
            ("source", "session") => &self.source.as_ref()?.session,
            _ => return None,
        };
        t.as_deref()
    }

    /// Drops the field an error names: a member of `actor`, `resource` or `source` (the
    /// object too when nothing is left in it), else the whole top-level member (so
    /// `detail.a.b` drops `detail`, `patient.id` the patient).
    pub fn drop_field(&mut self, field: &str) {
        let top = field.split('.').next().unwrap_or(field);
        let nested = matches!(top, "actor" | "resource" | "source") && field.contains('.');
        if !nested {
            match top {
                "id" => self.id = None,
                "time" => self.time = None,
                "actor" => self.actor = None,
                "action" => self.action = None,
                "resource" => self.resource = None,
                "patient" => self.patient = None,
                "outcome" => self.outcome = None,
                "purpose" => self.purpose = None,
                "reason" => self.reason = None,
                "source" => self.source = None,
                "detail" => self.detail = None,
                _ => {}
            }
            return;
        }
        let present = match top {
            "actor" => self.actor.is_some(),
            "resource" => self.resource.is_some(),
            _ => self.source.is_some(),
        };
        if !present {
            return;
        }
        let key = field[top.len() + 1..].split('.').next().unwrap_or_default();
        if let Some(slot) = self.slot(&format!("{top}.{key}")) {
            *slot = None;
        }
        let empty = match top {
            "actor" => self.actor == Some(DraftActor::default()),
            "resource" => self.resource == Some(DraftResource::default()),
            _ => self.source == Some(DraftSource::default()),
        };
        if empty {
            self.drop_field(top);
        }
    }
}

/// One member's value in the JSON form.
enum Member<'s> {
    None,
    Text(&'s str),
    /// String members of a nested object, absent ones `None`.
    Object(Vec<(&'static str, Option<&'s str>)>),
}

impl<'s> Member<'s> {
    fn of(t: &'s Text<'_>) -> Self {
        t.as_deref().map_or(Self::None, Self::Text)
    }

    fn json_len(&self) -> Option<usize> {
        match self {
            Self::None => None,
            Self::Text(s) => Some(json_str_len(s)),
            Self::Object(fields) => {
                Some(object_len(fields.iter().filter_map(|(k, v)| {
                    Some(json_str_len(k) + 1 + json_str_len((*v)?))
                })))
            }
        }
    }
}

/// `{` members separated by commas `}`.
fn object_len(members: impl IntoIterator<Item = usize>) -> usize {
    let (n, sum) = members
        .into_iter()
        .fold((0usize, 0), |(n, sum), len| (n + 1, sum + len));
    2 + sum + n.saturating_sub(1)
}

/// A string's length as serde_json writes it: quotes, two-byte escapes for `"`, `\` and
/// `\b \t \n \f \r`, `\u00XX` for other control characters, every other byte as is.
fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x09 | 0x0a | 0x0c | 0x0d => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "draft_tests.rs"]
mod tests;
