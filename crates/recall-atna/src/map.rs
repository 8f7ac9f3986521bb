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

/// Maps an `AuditMessage` to events (one per patient), or says why it cannot.
pub fn map(root: &Element, meta: &Meta) -> Result<Vec<recall_model::Event>, String> {
    if root.name != "AuditMessage" {
        return Err("the root element is not AuditMessage".into());
    }
    let ev = root
        .child("EventIdentification")
        .ok_or("EventIdentification is missing")?;
    let mut base = Map::new();
    base.insert("time".into(), json!(event_time(ev, meta)?.to_string()));
    base.insert("action".into(), json!(action(ev)?));
    base.insert("outcome".into(), json!(outcome(ev)?));
    if let Some(p) = ev.child("PurposeOfUse").and_then(code) {
        base.insert("purpose".into(), json!(p));
    }
    let requestor = requestor(root)?;
    base.insert("actor".into(), actor(requestor)?);
    let source = source(root, requestor);
    if !source.is_empty() {
        base.insert("source".into(), Value::Object(source));
    }
    let (patients, resource) = objects(root);
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
    if patients.is_empty() {
        return Ok(vec![one(None)?]);
    }
    patients.into_iter().map(|p| one(Some(p))).collect()
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

fn event_time(ev: &Element, meta: &Meta) -> Result<Timestamp, String> {
    let raw = ev
        .attr("EventDateTime")
        .or_else(|| ev.child("EventDateTime").map(|c| c.text.trim()));
    match raw {
        Some(s) => date_time(s).ok_or_else(|| "EventDateTime is not an xs:dateTime".into()),
        None => meta
            .fallback_time
            .ok_or_else(|| "EventDateTime is missing".into()),
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
fn action(ev: &Element) -> Result<&'static str, String> {
    let id = ev.child("EventID").and_then(code);
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
        Some("E") | None => Ok("execute"),
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

fn requestor(root: &Element) -> Result<&Element, String> {
    let mut parts = root.all("ActiveParticipant");
    parts
        .find(|p| matches!(p.attr("UserIsRequestor"), Some("true" | "1")))
        .ok_or_else(|| "no ActiveParticipant has UserIsRequestor=\"true\"".into())
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

/// The patients (type 1, role 1) and the first other object, as the resource.
fn objects(root: &Element) -> (Vec<&str>, Option<Value>) {
    let mut patients = Vec::new();
    let mut resource = None;
    for o in root.all("ParticipantObjectIdentification") {
        let Some(id) = o.attr("ParticipantObjectID").filter(|s| !s.is_empty()) else {
            continue;
        };
        let kind = o.attr("ParticipantObjectTypeCode");
        if kind == Some("1") && o.attr("ParticipantObjectTypeCodeRole") == Some("1") {
            if !patients.contains(&id) {
                patients.push(id);
            }
        } else if resource.is_none() {
            resource = Some(json!({ "type": resource_type(o, kind), "id": id }));
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
