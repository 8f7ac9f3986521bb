//! From a DICOM PS3.15 A.5 `AuditMessage` (or its RFC 3881 ancestor) to native events.
//!
//! EventIdentification gives time, action and outcome; the ActiveParticipant with
//! `UserIsRequestor="true"` the actor and its NetworkAccessPointID the address;
//! AuditSourceIdentification the system; each ParticipantObjectIdentification of type 1
//! (person) and role 1 (patient) one event of its own, so a message naming three
//! patients is three events (one patient per event, as BALP). The codes that have no
//! native field are kept under `detail.atna`. Every event is checked by the same
//! validation as HTTP ingest (recall-model's rules on a [`Draft`] built from the
//! message's strings, without a JSON round trip); a message that does not map is the
//! caller's to keep as unparsed, and the reason it gives is a fixed phrase (or a
//! validation error's field and rule), never message content.
//!
//! What a mapped message said that recall did not take (an element it does not know,
//! a participant other than the requestor, an object it does not keep) or left out so
//! that a default stands in (the time, the action) is a problem: an XPath, never a
//! value. With problems, the event is partially understood, as on the FHIR path.

use jiff::Timestamp;
use recall_model::{Draft, DraftActor, DraftResource, DraftSource, validate_draft};
use serde_json::{Map, Value, json};

use crate::xml::Element;

/// What a message's mapping needs beyond the XML.
pub struct Meta {
    /// When the message arrived (for the future-skew check, as on HTTP).
    pub received: Timestamp,
    /// Syslog header fields, kept under `detail.syslog`.
    pub syslog: Value,
    /// The header's timestamp, used when EventDateTime is absent.
    pub fallback_time: Option<Timestamp>,
}

/// The children of `AuditMessage` the mapping reads.
const KNOWN: [&str; 4] = [
    "EventIdentification",
    "ActiveParticipant",
    "AuditSourceIdentification",
    "ParticipantObjectIdentification",
];

/// A mapped message: its events (one per patient) and the problems (XPaths) of what the
/// mapping did not take.
pub struct Mapped {
    /// The events.
    pub events: Vec<recall_model::Event>,
    /// Parts not understood, or left out and defaulted.
    pub problems: Vec<String>,
}

/// Maps an `AuditMessage` to events (one per patient), or says why it cannot.
pub fn map(root: &Element, meta: &Meta) -> Result<Mapped, String> {
    let (drafts, problems) = drafts(root, meta)?;
    let events = drafts
        .into_iter()
        .map(|mut d| {
            validate_draft(&mut d, meta.received).map_err(|e| format!("{}: {}", e.field, e.message))
        })
        .collect::<Result<_, _>>()?;
    Ok(Mapped { events, problems })
}

/// The unvalidated events of a message (one per patient) and its problems.
fn drafts<'r>(root: &'r Element, meta: &Meta) -> Result<(Vec<Draft<'r>>, Vec<String>), String> {
    if root.name != "AuditMessage" {
        return Err("the root element is not AuditMessage".into());
    }
    let ev = root
        .child("EventIdentification")
        .ok_or("EventIdentification is missing")?;
    let mut problems = unknown_children(root);
    let time = event_time(ev, meta, &mut problems)?.to_string();
    let action = action(ev, &mut problems)?;
    let outcome = outcome(ev)?;
    let requestor = requestor(root, &mut problems)?;
    let (patients, resource) = objects(root, &mut problems);
    let base = Draft {
        time: Some(time.into()),
        action: Some(action.into()),
        outcome: Some(outcome.into()),
        purpose: ev.child("PurposeOfUse").and_then(code).map(Into::into),
        actor: Some(actor(requestor)?),
        source: source(root, requestor),
        resource,
        detail: Some(detail(root, ev, meta)),
        ..Draft::default()
    };
    // One event per patient (the mapped one and copies of it), or the one.
    let mut drafts = vec![base];
    if patients.len() > 1 {
        drafts.resize(patients.len(), drafts[0].clone());
    }
    for (d, p) in drafts.iter_mut().zip(patients) {
        d.patient = Some(p.into());
    }
    Ok((drafts, problems))
}

/// The XPath of the `i`-th (from 0) `name` child of the root.
fn at(name: &str, i: usize) -> String {
    format!("/AuditMessage/{name}[{}]", i + 1)
}

/// The root's children the mapping does not read, each a problem.
fn unknown_children(root: &Element) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in root
        .children
        .iter()
        .filter(|c| !KNOWN.contains(&c.name.as_str()))
    {
        let p = format!("/AuditMessage/{}", c.name);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A coded value's code: DICOM's `csd-code`, RFC 3881's `code`.
fn code(el: &Element) -> Option<&str> {
    el.attr("csd-code").or_else(|| el.attr("code"))
}

/// A coded value's words: DICOM's `originalText`, RFC 3881's `displayName`.
fn words(el: &Element) -> Option<&str> {
    el.attr("originalText").or_else(|| el.attr("displayName"))
}

fn coded(el: &Element) -> Value {
    json!({
        "code": code(el),
        "system": el.attr("codeSystemName"),
        "text": words(el),
    })
}

fn event_time(ev: &Element, meta: &Meta, problems: &mut Vec<String>) -> Result<Timestamp, String> {
    let raw = ev
        .attr("EventDateTime")
        .or_else(|| ev.child("EventDateTime").map(|c| c.text.trim()));
    match raw {
        Some(s) => date_time(s).ok_or_else(|| "EventDateTime is not an xs:dateTime".into()),
        None => {
            problems.push("/AuditMessage/EventIdentification/@EventDateTime".into());
            meta.fallback_time
                .ok_or_else(|| "EventDateTime is missing".into())
        }
    }
}

/// An xs:dateTime; one without an offset is read as UTC.
fn date_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let civil: jiff::civil::DateTime = s.parse().ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// EventActionCode, refined by the event's kind where the native vocabulary has a
/// closer word (a query is a search, an export an export, a login a login).
fn action(ev: &Element, problems: &mut Vec<String>) -> Result<&'static str, String> {
    let id = ev.child("EventID").and_then(code);
    if id.is_none() {
        problems.push("/AuditMessage/EventIdentification/EventID".into());
    }
    let types: Vec<&str> = ev.all("EventTypeCode").filter_map(code).collect();
    let by_kind = match id {
        Some("110112") => Some("search"),
        Some("110106") => Some("export"),
        Some("110114") if types.contains(&"110122") => Some("login"),
        Some("110114") if types.contains(&"110123") => Some("logout"),
        _ => None,
    };
    if let Some(a) = by_kind {
        return Ok(a);
    }
    match ev.attr("EventActionCode") {
        Some("C") => Ok("create"),
        Some("R") => Ok("read"),
        Some("U") => Ok("update"),
        Some("D") => Ok("delete"),
        Some("E") => Ok("execute"),
        None => {
            problems.push("/AuditMessage/EventIdentification/@EventActionCode".into());
            Ok("execute")
        }
        Some(_) => Err("EventActionCode is not one of C, R, U, D, E".into()),
    }
}

fn outcome(ev: &Element) -> Result<&'static str, String> {
    match ev.attr("EventOutcomeIndicator") {
        Some("0") | None => Ok("success"),
        Some("4" | "8" | "12") => Ok("failure"),
        Some(_) => Err("EventOutcomeIndicator is not one of 0, 4, 8, 12".into()),
    }
}

/// The requestor; the other participants are problems (no native field holds them).
fn requestor<'r>(root: &'r Element, problems: &mut Vec<String>) -> Result<&'r Element, String> {
    let parts: Vec<&Element> = root.all("ActiveParticipant").collect();
    let i = parts
        .iter()
        .position(|p| matches!(p.attr("UserIsRequestor"), Some("true" | "1")))
        .ok_or("no ActiveParticipant has UserIsRequestor=\"true\"")?;
    problems.extend(
        (0..parts.len())
            .filter(|k| *k != i)
            .map(|k| at("ActiveParticipant", k)),
    );
    Ok(parts[i])
}

fn actor(p: &Element) -> Result<DraftActor<'_>, String> {
    let id = p
        .attr("UserID")
        .filter(|s| !s.is_empty())
        .ok_or("the requestor has no UserID")?;
    Ok(DraftActor {
        id: Some(id.into()),
        kind: Some("user".into()),
        name: p.attr("UserName").filter(|s| !s.is_empty()).map(Into::into),
        role: p
            .child("RoleIDCode")
            .and_then(|r| words(r).or_else(|| code(r)))
            .map(Into::into),
    })
}

/// The requestor's network access point (an address, else a device name) and the
/// audit source; none when neither is given.
fn source<'r>(root: &'r Element, requestor: &'r Element) -> Option<DraftSource<'r>> {
    let mut s = DraftSource::default();
    if let Some(nap) = requestor
        .attr("NetworkAccessPointID")
        .filter(|s| !s.is_empty())
    {
        if nap.parse::<std::net::IpAddr>().is_ok() {
            s.ip = Some(nap.into());
        } else {
            s.device = Some(nap.into());
        }
    }
    let system = root
        .child("AuditSourceIdentification")
        .and_then(|a| a.attr("AuditSourceID"));
    s.system = system.filter(|s| !s.is_empty()).map(Into::into);
    (s != DraftSource::default()).then_some(s)
}

/// The patients (type 1, role 1) and the first other object, as the resource; an
/// object without an id, or another beyond the first, is a problem.
fn objects<'r>(
    root: &'r Element,
    problems: &mut Vec<String>,
) -> (Vec<&'r str>, Option<DraftResource<'r>>) {
    let mut patients = Vec::new();
    let mut resource = None;
    for (i, o) in root.all("ParticipantObjectIdentification").enumerate() {
        let Some(id) = o.attr("ParticipantObjectID").filter(|s| !s.is_empty()) else {
            problems.push(at("ParticipantObjectIdentification", i));
            continue;
        };
        let kind = o.attr("ParticipantObjectTypeCode");
        if kind == Some("1") && o.attr("ParticipantObjectTypeCodeRole") == Some("1") {
            if !patients.contains(&id) {
                patients.push(id);
            }
        } else if resource.is_none() {
            resource = Some(DraftResource {
                kind: Some(resource_type(o, kind).into()),
                id: Some(id.into()),
            });
        } else {
            problems.push(at("ParticipantObjectIdentification", i));
        }
    }
    (patients, resource)
}

/// A resource type from the object's ID type (its words without spaces), else from its
/// type code.
fn resource_type(o: &Element, kind: Option<&str>) -> String {
    let words: String = o
        .child("ParticipantObjectIDTypeCode")
        .and_then(words)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(64)
        .collect();
    if words.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return words;
    }
    match kind {
        Some("1") => "Person",
        Some("2") => "SystemObject",
        Some("3") => "Organization",
        _ => "Other",
    }
    .into()
}

/// Whether the message uses DICOM's attribute names (`csd-code`) rather than RFC 3881's.
pub fn is_dicom(root: &Element) -> bool {
    root.child("EventIdentification")
        .and_then(|ev| ev.child("EventID"))
        .is_some_and(|id| id.attr("csd-code").is_some())
}

fn detail(root: &Element, ev: &Element, meta: &Meta) -> Map<String, Value> {
    let format = if is_dicom(root) { "dicom" } else { "rfc3881" };
    let mut atna = Map::new();
    atna.insert("format".into(), json!(format));
    if let Some(id) = ev.child("EventID") {
        atna.insert("event_id".into(), coded(id));
    }
    let types: Vec<Value> = ev.all("EventTypeCode").map(coded).collect();
    if !types.is_empty() {
        atna.insert("event_type".into(), Value::Array(types));
    }
    if let Some(site) = root
        .child("AuditSourceIdentification")
        .and_then(|a| a.attr("AuditEnterpriseSiteID"))
    {
        atna.insert("site".into(), json!(site));
    }
    let mut detail = Map::new();
    detail.insert("atna".into(), Value::Object(atna));
    detail.insert("syslog".into(), meta.syslog.clone());
    detail
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
