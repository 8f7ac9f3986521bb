//! The IHE BALP 1.1.x example AuditEvents map as BALP means them: each is taken (an audit
//! repository does not refuse a record), one event per patient entity, the RESTful
//! interaction as the action, the recorded time, the requestor's identifier and name as
//! the actor's, a query's query as `detail.query`.
//! The examples are not in the repository (docs/design/fhir.md says why): this runs when
//! `RECALL_BALP_PROFILES` names the package's folder, and says so when it does not.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use base64::Engine as _;
use recall_fhir::{FhirVersion, decode};
use recall_model::Understood;
use serde_json::Value;

const REST: &str = "http://hl7.org/fhir/restful-interaction";

fn examples() -> Option<Vec<(String, Value)>> {
    let Ok(dir) = std::env::var("RECALL_BALP_PROFILES") else {
        eprintln!("BALP examples not checked: RECALL_BALP_PROFILES is not set");
        return None;
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("AuditEvent-") && name.ends_with(".json") {
            let value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            out.push((name, value));
        }
    }
    assert!(!out.is_empty(), "no example AuditEvents in {dir}");
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

fn patients(ae: &Value) -> Vec<String> {
    let mut out: Vec<String> = ae["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["what"]["reference"].as_str()?.strip_prefix("Patient/"))
        .map(str::to_owned)
        .collect();
    out.dedup();
    out
}

fn requestor(ae: &Value) -> Option<&Value> {
    ae["agent"]
        .as_array()?
        .iter()
        .find(|a| a["requestor"] == true)
}

fn query(ae: &Value) -> Option<String> {
    let q = ae["entity"]
        .as_array()?
        .iter()
        .find(|e| e["role"]["code"] == "24")?["query"]
        .as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(q).unwrap();
    Some(String::from_utf8(bytes).unwrap())
}

#[test]
fn balp_examples_map_as_balp_means_them() {
    let Some(examples) = examples() else { return };
    let (mut full, mut queries) = (0, 0);
    let now = "2026-01-01T00:00:00Z".parse().unwrap();
    for (name, ae) in &examples {
        let bytes = serde_json::to_vec(ae).unwrap();
        let decoded = decode(&bytes, None, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded.version, FhirVersion::R4, "{name}");
        let want = patients(ae);
        assert_eq!(decoded.events.len(), want.len().max(1), "{name}");
        let recorded: jiff::Timestamp = ae["recorded"].as_str().unwrap().parse().unwrap();
        let rest = ae["subtype"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["system"] == REST)
            .and_then(|c| c["code"].as_str());
        for (i, event) in decoded.events.iter().enumerate() {
            let got = event.patient.as_ref().map(|p| p.id.as_str());
            assert_eq!(got, want.get(i).map(String::as_str), "{name}");
            if ae.get("period").is_none() {
                assert_eq!(event.time, recorded, "{name}");
            }
            if let Some(code) = rest {
                assert_eq!(event.action, code, "{name}");
            }
            let who = requestor(ae).map(|a| &a["who"]);
            if let Some(id) = who.and_then(|w| w["identifier"]["value"].as_str()) {
                assert_eq!(event.actor.id, id, "{name}");
            }
            if let Some(display) = who.and_then(|w| w["display"].as_str()) {
                assert_eq!(event.actor.name.as_deref(), Some(display), "{name}");
            }
            if let Some(q) = query(ae) {
                let detail = event.detail.as_ref().unwrap();
                assert_eq!(detail["query"], Value::String(q), "{name}");
            }
        }
        queries += usize::from(query(ae).is_some());
        let origin = decoded.events[0].origin.as_ref().unwrap();
        full += usize::from(origin.understood == Understood::Full);
        eprintln!("{name}: {:?} {:?}", origin.understood, origin.problems);
    }
    assert!(queries >= 1, "the examples include queries");
    eprintln!(
        "{} examples, {full} fully understood, {queries} queries",
        examples.len()
    );
}
