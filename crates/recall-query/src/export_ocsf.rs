//! One native event (already through the reader's lens) as an OCSF event, schema
//! version [`OCSF_VERSION`]. The mapping is docs/design/export.md's table: sign-ins and
//! sign-outs are Authentication (3002), every other action API Activity (6003); the
//! patient and the resource are `resources`, each classified as personal data (ePHI).
//!
//! Invariant: the output holds nothing the lensed input does not (a withheld field is
//! absent here too); what OCSF has no place for goes under `unmapped`.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::export::{at, text};

/// The OCSF schema version emitted (the newest a third-party validator carries).
pub const OCSF_VERSION: &str = "1.7.0";

/// OCSF's `data_classification` for what recall holds: category Personal (1, "PII,
/// ePHI"), confidentiality Confidential (2), labelled ePHI.
fn classification() -> Value {
    json!([{"category_id": 1, "confidentiality_id": 2, "policy": {"name": "ePHI"}}])
}

/// Category, class, activity id and the activity's OCSF caption of a native action.
fn class_of(action: &str) -> (u32, u32, u32, &'static str) {
    match action {
        "login" => (3, 3002, 1, "Logon"),
        "logout" => (3, 3002, 2, "Logoff"),
        "create" => (6, 6003, 1, "Create"),
        "read" | "search" | "export" | "print" | "disclose" | "report" => (6, 6003, 2, "Read"),
        "update" => (6, 6003, 3, "Update"),
        "delete" => (6, 6003, 4, "Delete"),
        _ => (6, 6003, 99, "Other"),
    }
}

/// Milliseconds since the epoch (OCSF `timestamp_t`) of an RFC 3339 text.
fn millis(t: Option<String>) -> Option<i64> {
    t?.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// The OCSF form of `e`.
pub(crate) fn event(e: &Map<String, Value>) -> Value {
    let action = text(e.get("action")).unwrap_or_default();
    let (category, class, activity, caption) = class_of(&action);
    let outcome = text(e.get("outcome")).unwrap_or_default();
    let mut out = Map::new();
    out.insert("category_uid".into(), json!(category));
    out.insert("class_uid".into(), json!(class));
    out.insert("activity_id".into(), json!(activity));
    out.insert("activity_name".into(), json!(caption));
    out.insert("type_uid".into(), json!(class * 100 + activity));
    out.insert("severity_id".into(), json!(1));
    out.insert(
        "time".into(),
        json!(millis(text(e.get("time"))).unwrap_or(0)),
    );
    let (status, status_id) = match outcome.as_str() {
        "success" => ("Success", 1),
        _ => ("Failure", 2),
    };
    out.insert("status_id".into(), json!(status_id));
    out.insert("status".into(), json!(status));
    if outcome == "denied" {
        out.insert("status_detail".into(), json!("denied"));
    }
    out.insert("metadata".into(), metadata(e));
    let user = user(e);
    if class == 3002 {
        out.insert("user".into(), user);
    } else {
        out.insert("actor".into(), json!({ "user": user }));
        let mut api = Map::new();
        api.insert("operation".into(), json!(action));
        if let Some(system) = at(e, "source", "system") {
            api.insert("service".into(), json!({ "name": system }));
        }
        out.insert("api".into(), Value::Object(api));
        out.insert("resources".into(), resources(e));
    }
    out.insert("src_endpoint".into(), endpoint(e));
    let unmapped = unmapped(e);
    if !unmapped.is_empty() {
        out.insert("unmapped".into(), Value::Object(unmapped));
    }
    Value::Object(out)
}

fn metadata(e: &Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), json!(OCSF_VERSION));
    m.insert(
        "product".into(),
        json!({"name": "recall", "vendor_name": "recall", "version": env!("CARGO_PKG_VERSION")}),
    );
    m.insert("profiles".into(), json!(["data_classification"]));
    m.insert("labels".into(), json!(["ePHI"]));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("sequence", e.get("seq").cloned());
    put("uid", text(e.get("seq")).map(Value::from));
    put("tenant_uid", text(e.get("tenant")).map(Value::from));
    put("original_event_uid", text(e.get("id")).map(Value::from));
    put(
        "logged_time",
        millis(text(e.get("received"))).map(Value::from),
    );
    Value::Object(m)
}

/// The actor as an OCSF user: id, name, and `type_id` User (1) or System (3).
fn user(e: &Map<String, Value>) -> Value {
    let mut u = Map::new();
    if let Some(id) = at(e, "actor", "id") {
        u.insert("uid".into(), json!(id));
    }
    if let Some(name) = at(e, "actor", "name") {
        u.insert("name".into(), json!(name));
    }
    match at(e, "actor", "type").as_deref() {
        Some("user") => {
            u.insert("type_id".into(), json!(1));
        }
        Some("service" | "system" | "device") => {
            u.insert("type_id".into(), json!(3));
        }
        _ => {}
    }
    Value::Object(u)
}

/// The resource acted on and the patient it concerns, each classified as ePHI.
fn resources(e: &Map<String, Value>) -> Value {
    let mut list = Vec::new();
    let mut add = |kind: Option<String>, uid: Option<String>| {
        if kind.is_none() && uid.is_none() {
            return;
        }
        let mut r = Map::new();
        if let Some(k) = kind {
            r.insert("type".into(), json!(k));
        }
        if let Some(u) = uid {
            r.insert("uid".into(), json!(u));
        }
        r.insert("data_classifications".into(), classification());
        list.push(Value::Object(r));
    };
    add(at(e, "resource", "type"), at(e, "resource", "id"));
    if let Some(p) = at(e, "patient", "id") {
        add(Some("Patient".into()), Some(p));
    }
    Value::Array(list)
}

/// Where the request came from: its address, named by the source system.
fn endpoint(e: &Map<String, Value>) -> Value {
    let mut s = Map::new();
    if let Some(ip) = at(e, "source", "ip") {
        s.insert("ip".into(), json!(ip));
    }
    if let Some(system) = at(e, "source", "system") {
        s.insert("name".into(), json!(system));
    }
    Value::Object(s)
}

/// Native fields OCSF has no attribute for, under their native names.
fn unmapped(e: &Map<String, Value>) -> Map<String, Value> {
    let mut u = Map::new();
    for k in ["action", "purpose", "reason", "appended_by", "detail"] {
        if let Some(v) = e.get(k) {
            u.insert(k.into(), v.clone());
        }
    }
    if let Some(role) = at(e, "actor", "role") {
        u.insert("actor_role".into(), json!(role));
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(action: &str) -> Map<String, Value> {
        let v = json!({"action": action, "actor": {"id": "u-1", "type": "user", "role": "nurse"},
            "patient": {"id": "p-1"}, "outcome": "denied", "seq": 7, "tenant": "t",
            "time": "2026-01-02T03:04:05Z", "received": "2026-01-02T03:04:06Z",
            "resource": {"type": "Observation"}, "purpose": "TREAT"});
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn classes_follow_the_action() {
        let read = event(&native("read"));
        assert_eq!(
            (read["class_uid"].as_u64(), read["type_uid"].as_u64()),
            (Some(6003), Some(600302))
        );
        assert_eq!(read["resources"][1]["uid"], "p-1");
        assert_eq!(read["status_id"], 2);
        assert_eq!(read["metadata"]["sequence"], 7);
        assert_eq!(read["time"], 1_767_323_045_000_i64);
        let login = event(&native("login"));
        assert_eq!(login["type_uid"], 300_201);
        assert_eq!(login["user"]["uid"], "u-1");
        assert_eq!(event(&native("frobnicate"))["activity_id"], 99);
    }

    #[test]
    fn a_withheld_field_stays_absent() {
        let mut e = native("read");
        e.remove("patient");
        let out = event(&e).to_string();
        assert!(!out.contains("p-1"));
        assert!(!out.contains("\"Patient\""));
    }
}
