//! From a DICOM PS3.15 A.5 `AuditMessage` (or its RFC 3881 ancestor) to native events.
//!
//! EventIdentification gives time, action and outcome; the ActiveParticipant with
//! `UserIsRequestor="true"` the actor and its NetworkAccessPointID the address;
//! AuditSourceIdentification the system; each ParticipantObjectIdentification of type 1
//! (person) and role 1 (patient) one event of its own, so a message naming three
//! patients is three events (one patient per event, as BALP). The codes that have no
//! native field are kept under `detail.atna`. Every event is checked by the same
//! validation as HTTP ingest; a message that does not map is the caller's to keep as
//! unparsed, and the reason it gives is a fixed phrase, never message content.
//!
//! What a mapped message said that recall did not take (an element it does not know,
//! a participant other than the requestor, an object it does not keep) or left out so
//! that a default stands in (the time, the action) is a problem: an XPath, never a
//! value. With problems, the event is partially understood, as on the FHIR path.

use jiff::Timestamp;
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
    if root.name != "AuditMessage" {
        return Err("the root element is not AuditMessage".into());
    }
    let ev = root
        .child("EventIdentification")
        .ok_or("EventIdentification is missing")?;
    let mut problems = unknown_children(root);
    let mut base = Map::new();
    base.insert(
        "time".into(),
        json!(event_time(ev, meta, &mut problems)?.to_string()),
    );
    base.insert("action".into(), json!(action(ev, &mut problems)?));
    base.insert("outcome".into(), json!(outcome(ev)?));
    if let Some(p) = ev.child("PurposeOfUse").and_then(code) {
        base.insert("purpose".into(), json!(p));
    }
    let requestor = requestor(root, &mut problems)?;
    base.insert("actor".into(), actor(requestor)?);
    let source = source(root, requestor);
    if !source.is_empty() {
        base.insert("source".into(), Value::Object(source));
    }
    let (patients, resource) = objects(root, &mut problems);
    if let Some(r) = resource {
        base.insert("resource".into(), r);
    }
    base.insert("detail".into(), detail(root, ev, meta));
    let one = |patient: Option<&str>| {
        let mut e = base.clone();
        if let Some(p) = patient {
            e.insert("patient".into(), json!({ "id": p }));
        }
        let bytes = serde_json::to_vec(&Value::Object(e)).map_err(|e| e.to_string())?;
        recall_model::parse_client_event(&bytes, meta.received)
            .map_err(|e| format!("{}: {}", e.field, e.message))
    };
    let events = match patients.is_empty() {
        true => vec![one(None)?],
        false => patients
            .into_iter()
            .map(|p| one(Some(p)))
            .collect::<Result<_, _>>()?,
    };
    Ok(Mapped { events, problems })
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

fn actor(p: &Element) -> Result<Value, String> {
    let id = p
        .attr("UserID")
        .filter(|s| !s.is_empty())
        .ok_or("the requestor has no UserID")?;
    let mut a = Map::new();
    a.insert("id".into(), json!(id));
    a.insert("type".into(), json!("user"));
    if let Some(n) = p.attr("UserName").filter(|s| !s.is_empty()) {
        a.insert("name".into(), json!(n));
    }
    if let Some(r) = p
        .child("RoleIDCode")
        .and_then(|r| words(r).or_else(|| code(r)))
    {
        a.insert("role".into(), json!(r));
    }
    Ok(Value::Object(a))
}

/// The requestor's network access point (an address, else a device name) and the
/// audit source.
fn source(root: &Element, requestor: &Element) -> Map<String, Value> {
    let mut s = Map::new();
    if let Some(nap) = requestor
        .attr("NetworkAccessPointID")
        .filter(|s| !s.is_empty())
    {
        if nap.parse::<std::net::IpAddr>().is_ok() {
            s.insert("ip".into(), json!(nap));
        } else {
            s.insert("device".into(), json!(nap));
        }
    }
    let system = root
        .child("AuditSourceIdentification")
        .and_then(|a| a.attr("AuditSourceID"));
    if let Some(sys) = system.filter(|s| !s.is_empty()) {
        s.insert("system".into(), json!(sys));
    }
    s
}

/// The patients (type 1, role 1) and the first other object, as the resource; an
/// object without an id, or another beyond the first, is a problem.
fn objects<'r>(root: &'r Element, problems: &mut Vec<String>) -> (Vec<&'r str>, Option<Value>) {
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
            resource = Some(json!({ "type": resource_type(o, kind), "id": id }));
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

fn detail(root: &Element, ev: &Element, meta: &Meta) -> Value {
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
    json!({ "atna": atna, "syslog": meta.syslog })
}
