//! Native event (the JSON a `/v1` read returns, after the lens) → AuditEvent, and the
//! Bundles around them. A field the lens withheld is simply absent from the input and
//! from the AuditEvent; where FHIR requires an element recall cannot fill (a withheld
//! actor, an unknown observer) it writes a data-absent-reason instead.

use serde_json::{Map, Value, json};

use crate::FhirVersion;
use crate::codes::*;

/// The AuditEvent of one native event (lensed JSON form), in FHIR `version`.
pub fn to_audit_event(event: &Value, version: FhirVersion) -> Value {
    let s = |path: &[&str]| str_at(event, path);
    let action = s(&["action"]).unwrap_or("execute");
    let mut ae = Map::new();
    ae.insert("resourceType".into(), json!("AuditEvent"));
    if let Some(seq) = event.get("seq").and_then(Value::as_u64) {
        ae.insert("id".into(), json!(seq.to_string()));
    }
    let ext = extensions(event);
    if !ext.is_empty() {
        ae.insert("extension".into(), Value::Array(ext));
    }
    let (kind, codes) = classify(action, event);
    let time = s(&["time"]);
    let outcome = outcome_code(s(&["outcome"]).unwrap_or("success"));
    let purpose = purpose_of_use(event);
    match version {
        FhirVersion::R4 => {
            ae.insert("type".into(), kind);
            ae.insert("subtype".into(), Value::Array(codes));
            ae.insert("action".into(), json!(crude(action)));
            ae.insert("recorded".into(), json!(time));
            ae.insert("outcome".into(), json!(outcome));
            if let Some(p) = purpose {
                ae.insert("purposeOfEvent".into(), json!([p]));
            }
        }
        FhirVersion::R5 => {
            ae.insert("category".into(), json!([{ "coding": [kind] }]));
            ae.insert("code".into(), json!({ "coding": codes }));
            ae.insert("action".into(), json!(crude(action)));
            ae.insert("occurredDateTime".into(), json!(time));
            let recorded = s(&["received"]).or(time);
            ae.insert("recorded".into(), json!(recorded));
            let code = json!({ "system": OUTCOME_SYSTEM, "code": outcome });
            ae.insert("outcome".into(), json!({ "code": code }));
            if let Some(p) = purpose {
                ae.insert("authorization".into(), json!([p]));
            }
            if let Some(id) = s(&["patient", "id"]) {
                ae.insert("patient".into(), json!({ "identifier": { "value": id } }));
            }
        }
    }
    ae.insert("agent".into(), json!([agent(event, version)]));
    let observer = match s(&["source", "system"]) {
        Some(system) => json!({ "identifier": { "value": system } }),
        None => absent(),
    };
    ae.insert("source".into(), json!({ "observer": observer }));
    let entities = entities(event, version);
    if !entities.is_empty() {
        ae.insert("entity".into(), Value::Array(entities));
    }
    Value::Object(ae)
}

/// A searchset Bundle of `resources`, with a `self` link and, when more follow, `next`.
pub fn searchset(resources: Vec<Value>, self_url: &str, next_url: Option<&str>) -> Value {
    let mut links = vec![json!({ "relation": "self", "url": self_url })];
    if let Some(next) = next_url {
        links.push(json!({ "relation": "next", "url": next }));
    }
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({ "resource": r, "search": { "mode": "match" } }))
        .collect();
    json!({ "resourceType": "Bundle", "type": "searchset", "link": links, "entry": entry })
}

/// A batch-response (or transaction-response) Bundle: one `response` per entry, each
/// `(status, location, outcome)`.
pub fn batch_response(
    kind: &str,
    responses: Vec<(String, Option<String>, Option<Value>)>,
) -> Value {
    let entry: Vec<Value> = responses
        .into_iter()
        .map(|(status, location, outcome)| {
            let mut r = Map::new();
            r.insert("status".into(), json!(status));
            if let Some(l) = location {
                r.insert("location".into(), json!(l));
            }
            if let Some(o) = outcome {
                r.insert("outcome".into(), o);
            }
            json!({ "response": r })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": format!("{kind}-response"), "entry": entry })
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// A Reference recall cannot fill: required by FHIR, unknown (or withheld) here.
fn absent() -> Value {
    json!({ "extension": [{ "url": DATA_ABSENT, "valueCode": "unknown" }] })
}

/// The native fields FHIR has no element for, as recall's extensions.
fn extensions(event: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut put = |url: &str, value: Option<&str>| {
        if let Some(v) = value {
            out.push(json!({ "url": url, "valueString": v }));
        }
    };
    put(EXT_EVENT_ID, str_at(event, &["id"]));
    put(EXT_DEVICE, str_at(event, &["source", "device"]));
    put(EXT_SESSION, str_at(event, &["source", "session"]));
    put(EXT_APPENDED_BY, str_at(event, &["appended_by"]));
    put(EXT_RECEIVED, str_at(event, &["received"]));
    put(EXT_UNDERSTOOD, str_at(event, &["origin", "understood"]));
    if let Some(detail) = event.get("detail").filter(|d| d.is_object()) {
        let mut text = Vec::new();
        recall_model::canonical_json_into(detail, &mut text);
        put(EXT_DETAIL, std::str::from_utf8(&text).ok());
    }
    out
}

/// The event type (R4 `type`, R5 `category`) and the precise codes (R4 `subtype`, R5
/// `code`): recall's own action code always, the RESTful or DICOM one when it exists.
/// recall's own records name their DICOM event (`detail.dicom_event`, e.g. 110101 Audit
/// Log Used) as BALP and ATNA do.
fn classify(action: &str, event: &Value) -> (Value, Vec<Value>) {
    let mut codes = Vec::new();
    let dicom = |code: &str| json!({ "system": DICOM, "code": code });
    let own = str_at(event, &["detail", "dicom_event"]);
    let kind = match event_type(action, own) {
        "rest" => {
            json!({ "system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation" })
        }
        "110114" if own.is_none() => {
            codes.push(dicom(if action == "login" {
                "110122"
            } else {
                "110123"
            }));
            json!({ "system": DICOM, "code": "110114", "display": "User Authentication" })
        }
        code => {
            if let Some(sub) = str_at(event, &["detail", "dicom_type"]) {
                codes.push(dicom(sub));
            }
            dicom(code)
        }
    };
    if RESTFUL.contains(&action) {
        codes.push(json!({ "system": RESTFUL_INTERACTION, "code": action }));
    }
    codes.push(json!({ "system": ACTION_SYSTEM, "code": action }));
    (kind, codes)
}

/// `purpose` as a PurposeOfUse concept, `reason` as its text.
fn purpose_of_use(event: &Value) -> Option<Value> {
    let purpose = str_at(event, &["purpose"]);
    let reason = str_at(event, &["reason"]);
    if purpose.is_none() && reason.is_none() {
        return None;
    }
    let mut cc = Map::new();
    if let Some(code) = purpose {
        cc.insert(
            "coding".into(),
            json!([{ "system": PURPOSE_SYSTEM, "code": code }]),
        );
    }
    if let Some(text) = reason {
        cc.insert("text".into(), json!(text));
    }
    Some(Value::Object(cc))
}

/// The requesting agent: the native actor, and where it came from.
fn agent(event: &Value, version: FhirVersion) -> Value {
    let s = |path: &[&str]| str_at(event, path);
    let mut agent = Map::new();
    if let Some(kind) = s(&["actor", "type"]) {
        let coding = json!([{ "system": ACTOR_TYPE_SYSTEM, "code": kind }]);
        agent.insert("type".into(), json!({ "coding": coding }));
    }
    if let Some(role) = s(&["actor", "role"]) {
        agent.insert("role".into(), json!([{ "text": role }]));
    }
    let mut who = Map::new();
    if let Some(id) = s(&["actor", "id"]) {
        who.insert("identifier".into(), json!({ "value": id }));
    }
    if let Some(name) = s(&["actor", "name"]) {
        who.insert("display".into(), json!(name));
    }
    let who = if who.is_empty() {
        absent()
    } else {
        Value::Object(who)
    };
    agent.insert("who".into(), who);
    agent.insert("requestor".into(), json!(true));
    if let Some(ip) = s(&["source", "ip"]) {
        match version {
            FhirVersion::R4 => {
                let network = json!({ "address": ip, "type": "2" });
                agent.insert("network".into(), network);
            }
            FhirVersion::R5 => {
                agent.insert("networkString".into(), json!(ip));
            }
        }
    }
    Value::Object(agent)
}

/// The patient (R4 only: R5 has `patient`) and the resource touched.
fn entities(event: &Value, version: FhirVersion) -> Vec<Value> {
    let mut out = Vec::new();
    let coding = |system: &str, code: &str| json!({ "system": system, "code": code });
    if let (FhirVersion::R4, Some(id)) = (version, str_at(event, &["patient", "id"])) {
        out.push(json!({
            "what": { "identifier": { "value": id } },
            "type": coding(ENTITY_TYPE, "1"),
            "role": coding(ENTITY_ROLE, "1"),
        }));
    }
    if let Some(kind) = str_at(event, &["resource", "type"]) {
        let mut what = Map::new();
        what.insert("type".into(), json!(kind));
        if let Some(id) = str_at(event, &["resource", "id"]) {
            what.insert("identifier".into(), json!({ "value": id }));
        }
        let mut entity = Map::new();
        entity.insert("what".into(), Value::Object(what));
        if version == FhirVersion::R4 {
            entity.insert("type".into(), coding(ENTITY_TYPE, "2"));
        }
        out.push(Value::Object(entity));
    }
    out
}
