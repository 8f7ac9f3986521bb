//! A writer cannot speak in recall's name, over real HTTP: events claiming recall's actor
//! namespaces or its own `source.system` are refused naming the field and change nothing;
//! every stored event names the credential that appended it (`appended_by`, inside the
//! committed canonical bytes), shown in searches and reports as each role's lens allows.
//! All data synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use common::recall_ok;
use common::server::{Server, create_key, json, patient_key};
use serde_json::{Value, json};

const TENANT: &str = "st-marys";
const PATIENT: &str = "MRN-SYNTH-0042";

/// The key id of a key text `rk_<id>_<secret>`.
fn key_id(key: &str) -> &str {
    key.strip_prefix("rk_").unwrap().split('_').next().unwrap()
}

fn event(actor: &str, action: &str, system: &str) -> Value {
    json!({
        "time": jiff::Timestamp::now().to_string(),
        "actor": {"id": actor, "role": "nurse"},
        "action": action,
        "patient": {"id": PATIENT},
        "source": {"system": system},
    })
}

fn post(server: &Server, key: &str, body: &Value) -> reqwest::blocking::Response {
    server.post(key, "/v1/events", "application/json", body.to_string())
}

#[test]
fn writers_cannot_speak_in_recalls_name_and_every_event_names_its_appender() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, TENANT, "writer");
    let auditor = create_key(&data, TENANT, "auditor");
    let officer = create_key(&data, TENANT, "privacy_officer");
    let engineer = create_key(&data, TENANT, "engineer");
    let patient = patient_key(&data, TENANT, PATIENT);
    let server = Server::start(&data);

    // The red team's forgeries: a retention record in recall's name, an auditor framed
    // by its key id, recall's own system, and a server field sent by the client.
    let mut retention = event("recall:retention", "delete", "ehr-synth");
    retention["detail"] = json!({"retention": {"years": 1, "shredded_epochs": [202401]}});
    let framed = event(&format!("key:{}", key_id(&auditor)), "search", "ehr-synth");
    let mut appended = event("u-synth-1", "read", "ehr-synth");
    appended["appended_by"] = json!("recall:server");
    let cases = [
        (retention, "actor.id"),
        (framed, "actor.id"),
        (event("jwt:someone", "read", "ehr-synth"), "actor.id"),
        (event("cli:root", "read", "ehr-synth"), "actor.id"),
        (event("u-synth-1", "read", "recall"), "source.system"),
        (event("u-synth-1", "read", "recall-cli"), "source.system"),
        (appended, "appended_by"),
    ];
    for (body, field) in &cases {
        let r = post(&server, &writer, body);
        assert_eq!(r.status(), 400, "{body}");
        let problem = json(r);
        assert_eq!(problem["field"], *field, "{problem}");
    }

    // A batch with one forgery appends none of it.
    let batch = json!([event("u-synth-2", "read", "ehr-synth"), cases[0].0]);
    assert_eq!(post(&server, &writer, &batch).status(), 400);

    // An honest event: stored with the writer's key as its appender.
    let r = post(&server, &writer, &event("u-synth-3", "read", "ehr-synth"));
    assert_eq!(r.status(), 201);
    let seq = json(r)["receipts"][0]["seq"].as_u64().unwrap();
    let by_writer = format!("key:{}", key_id(&writer));

    // Nothing refused reached the log: the patient's events are the honest one only.
    let found = json(server.get(&officer, &format!("/v1/events?patient={PATIENT}")));
    let events = found["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{found}");
    assert_eq!(events[0]["seq"], seq);
    assert_eq!(events[0]["appended_by"], by_writer.as_str());

    // The record of that search was appended by recall itself.
    let read = json(server.get(&officer, &format!("/v1/events/{TENANT}/{}", seq + 1)));
    assert_eq!(read["event"]["action"], "search", "{read}");
    assert_eq!(read["event"]["appended_by"], "recall:server", "{read}");

    // Reports show the appender (JSON and CSV); the lens governs it like actor.id.
    let path = format!("/v1/reports/patient-access?patient={PATIENT}");
    // (The patient's report lists the searches about them too, appended by recall.)
    let report = json(server.get(&auditor, &path));
    let appenders: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["appended_by"].as_str().unwrap())
        .collect();
    assert_eq!(appenders[0], by_writer, "{report}");
    assert!(
        appenders[1..].iter().all(|a| *a == "recall:server"),
        "{report}"
    );
    assert!(appenders.len() > 1, "{report}");
    let csv = server
        .get(&auditor, &format!("{path}&format=csv"))
        .text()
        .unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let at = rows
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "appended_by")
        .expect("an appended_by column");
    let cells: Vec<String> = rows
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[0] == "event")
        .map(|r| r[at].to_string())
        .collect();
    assert_eq!(cells[0], by_writer);
    assert!(cells[1..].iter().all(|a| a == "recall:server"), "{cells:?}");

    let seen = json(server.get(&engineer, &format!("/v1/events/{TENANT}/{seq}")));
    let shown = seen["event"]["appended_by"].as_str().unwrap();
    assert!(shown.starts_with("psn_"), "{seen}");
    let mine = json(server.get(&patient, &path));
    let mine = mine["events"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(
        mine.iter().all(|e| e.get("appended_by").is_none()),
        "{mine:?}"
    );
    server.stop();

    // The CLI's own records and imports name their appenders too, and the log verifies.
    let line = event("u-synth-4", "read", "ehr-synth").to_string();
    let file = root.path().join("events.ndjson");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    recall_ok(
        &data,
        &["import", "--tenant", TENANT, file.to_str().unwrap()],
    );
    let officer_server = Server::start(&data);
    let found = json(officer_server.get(&officer, "/v1/events?actor=u-synth-4"));
    let by = found["events"][0]["appended_by"].as_str().unwrap();
    assert!(by.starts_with("import:"), "{found}");
    let cli = json(officer_server.get(&officer, "/v1/events?system=recall-cli&limit=100"));
    let cli = cli["events"].as_array().unwrap();
    assert!(cli.len() >= 5, "the five keys' records: {cli:?}");
    for e in cli {
        assert_eq!(e["appended_by"], "recall:cli", "{e}");
    }
    officer_server.stop();
    recall_ok(&data, &["verify"]);
}
