//! Native event (the JSON a `/v1` read returns, after the lens) → AuditEvent, and the
//! Bundles around them. A field the lens withheld is simply absent from the input and
//! from the AuditEvent; where FHIR requires an element recall cannot fill (a withheld
//! actor, an unknown observer) it writes a data-absent-reason instead.

use serde_json::{Map, Value, json};

use crate::FhirVersion;
use crate::balp::{self, Code, Roles};
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
    let own = s(&["detail", "dicom_event"]);
    // BALP 1.1 profiles R4 RESTful operations (type `rest`): their agents and roles.
    let balp = match version {
        FhirVersion::R4 if event_type(action, own) == "rest" => balp::roles(action),
        _ => None,
    };
    let ext = extensions(event, balp.is_none());
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
    ae.insert("agent".into(), Value::Array(agents(event, version, balp)));
    let observer = match s(&["source", "system"]) {
        Some(system) => json!({ "identifier": { "value": system } }),
        None => absent(),
    };
    ae.insert("source".into(), json!({ "observer": observer }));
    let entities = entities(event, version, balp);
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

/// The native fields FHIR has no element for, as recall's extensions (`source.device`
/// only when no BALP client agent carries it).
fn extensions(event: &Value, device: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut put = |url: &str, value: Option<&str>| {
        if let Some(v) = value {
            out.push(json!({ "url": url, "valueString": v }));
        }
    };
    put(EXT_EVENT_ID, str_at(event, &["id"]));
    if device {
        put(EXT_DEVICE, str_at(event, &["source", "device"]));
    }
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
    // A RESTful action is its interaction code alone: BALP allows one of them.
    if RESTFUL.contains(&action) {
        codes.push(json!({ "system": RESTFUL_INTERACTION, "code": action }));
    } else {
        codes.push(json!({ "system": ACTION_SYSTEM, "code": action }));
    }
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

fn coding((system, code): Code) -> Value {
    json!({ "system": system, "code": code })
}

/// The agents: the requesting user (the native actor), and where the request came from.
/// Under BALP (R4, RESTful) that is a client agent (`source.device`, `source.ip`) and a
/// server agent (`source.system`; its address is not recorded: data-absent); otherwise
/// the address is the user's.
fn agents(event: &Value, version: FhirVersion, balp: Option<Roles>) -> Vec<Value> {
    let s = |path: &[&str]| str_at(event, path);
    let mut user = user_agent(event, balp);
    let ip = s(&["source", "ip"]);
    if let Some(r) = balp {
        let client = device_agent(r.client, s(&["source", "device"]), ip);
        let server = device_agent(r.server, s(&["source", "system"]), None);
        return vec![user, client, server];
    }
    if let Some(ip) = ip {
        match version {
            FhirVersion::R4 => {
                user["network"] = json!({ "address": ip, "type": "2" });
            }
            FhirVersion::R5 => user["networkString"] = json!(ip),
        }
    }
    vec![user]
}

/// The native actor as the requesting agent (typed as BALP's user when it applies).
fn user_agent(event: &Value, balp: Option<Roles>) -> Value {
    let s = |path: &[&str]| str_at(event, path);
    let mut agent = Map::new();
    let mut types: Vec<Value> = balp.map(|r| coding(r.user)).into_iter().collect();
    if let Some(kind) = s(&["actor", "type"]) {
        types.push(json!({ "system": ACTOR_TYPE_SYSTEM, "code": kind }));
    }
    if !types.is_empty() {
        agent.insert("type".into(), json!({ "coding": types }));
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
    Value::Object(agent)
}

/// A BALP client or server agent: `id` as its identifier, `ip` as its address, each
/// data-absent when unknown (BALP requires both).
fn device_agent(kind: Code, id: Option<&str>, ip: Option<&str>) -> Value {
    let who = id.map_or_else(absent, |id| json!({ "identifier": { "value": id } }));
    let network = ip.map_or_else(absent, |ip| json!({ "address": ip, "type": "2" }));
    json!({ "type": { "coding": [coding(kind)] }, "who": who, "requestor": false, "network": network })
}

/// The patient (R4 only: R5 has `patient`), the resource touched (a Domain Resource
/// under BALP) and, for a BALP query, the query (`detail.query`).
fn entities(event: &Value, version: FhirVersion, balp: Option<Roles>) -> Vec<Value> {
    let mut out = Vec::new();
    if let (FhirVersion::R4, Some(id)) = (version, str_at(event, &["patient", "id"])) {
        out.push(json!({
            "what": { "type": "Patient", "identifier": { "value": id } },
            "type": coding((ENTITY_TYPE, "1")),
            "role": coding((ENTITY_ROLE, "1")),
        }));
    }
    let query = balp.is_some_and(|r| r.profile == "Query");
    if let Some(kind) = str_at(event, &["resource", "type"]) {
        let mut what = Map::new();
        what.insert("type".into(), json!(kind));
        if let Some(id) = str_at(event, &["resource", "id"]) {
            what.insert("identifier".into(), json!({ "value": id }));
        }
        let mut entity = Map::new();
        entity.insert("what".into(), Value::Object(what));
        if version == FhirVersion::R4 {
            // BALP slices a query's entities by type: type 2 is the query's own slice.
            let kind = if query {
                (RESOURCE_TYPES, kind)
            } else {
                (ENTITY_TYPE, "2")
            };
            entity.insert("type".into(), json!({ "system": kind.0, "code": kind.1 }));
        }
        if balp.is_some() {
            entity.insert("role".into(), coding((ENTITY_ROLE, balp::DOMAIN_RESOURCE)));
        }
        out.push(Value::Object(entity));
    }
    if let Some(q) = event
        .get("detail")
        .and_then(|d| d.get("query"))
        .filter(|_| query)
    {
        out.push(query_entity(q));
    }
    out
}

/// BALP's query entity: the query as recorded, base64 (a string as its text, any other
/// value as its canonical JSON).
fn query_entity(q: &Value) -> Value {
    use base64::Engine as _;
    let mut bytes = Vec::new();
    match q.as_str() {
        Some(text) => bytes.extend_from_slice(text.as_bytes()),
        None => recall_model::canonical_json_into(q, &mut bytes),
    }
    json!({
        "type": coding((ENTITY_TYPE, "2")),
        "role": coding((ENTITY_ROLE, QUERY_ROLE)),
        "query": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}
