//! Breach assessments end to end over the real server: a crafted history, an assessment
//! opened with a scope whose answer a brute-force count of the same events gives, its
//! factors and decision changed, its history, the patient list for the privacy officer
//! only, bad input refused naming the field with nothing changed, every change and every
//! read in the log — and the CLI reading and changing the same assessment afterwards.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::recall_ok;
use common::server::{Server, create_key, json};
use reqwest::Method;
use serde_json::{Value, json};

const T: &str = "ward-e";
const NDJSON: &str = "application/x-ndjson";

/// 40 events: actors u-1..u-4, patients MRN-E00..MRN-E12, two systems, two addresses,
/// some denied, some outside the window (March 2026).
fn history() -> Vec<Value> {
    (0..40)
        .map(|i| {
            let day = if i % 10 == 9 { 20 } else { 2 + i % 7 };
            json!({
                "id": format!("e-{i}"),
                "time": format!("2026-{:02}-{day:02}T10:{:02}:00Z", if i % 10 == 9 { 4 } else { 3 }, i),
                "actor": {"id": format!("u-{}", 1 + i % 4), "role": "nurse"},
                "action": if i % 3 == 0 { "read" } else { "print" },
                "outcome": if i % 5 == 4 { "denied" } else { "success" },
                "patient": {"id": format!("MRN-E{:02}", i % 13)},
                "resource": {"type": if i % 2 == 0 { "Observation" } else { "Condition" }},
                "source": {"system": if i % 4 < 2 { "ehr-e" } else { "lab-e" },
                           "ip": if i % 3 == 0 { "10.9.0.1" } else { "10.9.0.2" }},
            })
        })
        .collect()
}

/// Brute force: patients and events of actor u-1 or u-3 in system ehr-e in March.
fn oracle(events: &[Value]) -> (u64, BTreeSet<String>) {
    let mut n = 0;
    let mut patients = BTreeSet::new();
    for e in events {
        let actor = e["actor"]["id"].as_str().unwrap();
        let march = e["time"].as_str().unwrap().starts_with("2026-03");
        if march && ["u-1", "u-3"].contains(&actor) && e["source"]["system"] == "ehr-e" {
            n += 1;
            patients.insert(e["patient"]["id"].as_str().unwrap().to_string());
        }
    }
    (n, patients)
}

fn send(s: &Server, m: Method, key: &str, path: &str, body: &Value) -> reqwest::blocking::Response {
    s.http
        .request(m, format!("{}{path}", s.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

fn problem_field(r: reqwest::blocking::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let p = json(r);
    (status, p["field"].as_str().unwrap_or_default().to_string())
}

#[test]
fn an_assessment_is_opened_changed_read_and_exported_with_every_step_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let officer = create_key(&data, T, "privacy_officer");
    let auditor = create_key(&data, T, "auditor");
    let writer = create_key(&data, T, "writer");
    let server = Server::start(&data);
    let events = history();
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    assert_eq!(
        server.post(&writer, "/v1/events", NDJSON, body).status(),
        201
    );
    let (n, patients) = oracle(&events);
    assert!(
        n >= 5 && patients.len() >= 3,
        "the scope must find something"
    );

    let open = json!({
        "description": "Badge shared between two nurses",
        "discovered": "2026-04-02",
        "scope": {"actors": ["u-1", "u-3"], "systems": ["ehr-e"],
                  "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
    });
    // Bad input: 400 naming the field; nothing is opened.
    let mut bad = open.clone();
    bad["scope"]["ips"] = json!(["10.9.0"]);
    let r = send(&server, Method::POST, &officer, "/v1/assessments", &bad);
    assert_eq!(problem_field(r), (400, "scope.ips".into()));
    let mut bad = open.clone();
    bad["discovered"] = json!("2026/04/02");
    let r = send(&server, Method::POST, &officer, "/v1/assessments", &bad);
    assert_eq!(problem_field(r), (400, "discovered".into()));
    let listed = json(server.get(&officer, "/v1/assessments"));
    assert_eq!(listed["assessments"], json!([]));
    // Only the privacy officer opens.
    let r = send(&server, Method::POST, &auditor, "/v1/assessments", &open);
    assert_eq!(r.status(), 403);

    let r = send(&server, Method::POST, &officer, "/v1/assessments", &open);
    assert_eq!(r.status(), 201);
    let a = json(r);
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["figures"]["events"], n);
    assert_eq!(a["figures"]["patients"], patients.len() as u64);
    assert_eq!(a["figures"]["by_state"], json!({"unknown": patients.len()}));
    assert_eq!(a["deadlines"]["individuals"], "2026-06-01");
    assert_eq!(a["deadlines"]["hhs_route"], "annual_log");
    assert_eq!(a["deadlines"]["hhs"], "2027-03-01");
    assert_eq!(a["deadlines"]["media_required"], "no");

    // With a patient roster, an assessment opened afterwards counts residents by state.
    let first = patients.iter().next().unwrap();
    let roster = format!("{}\n", json!({"patient_id": first, "state": "CA"}));
    let r = server
        .http
        .put(format!("{}/v1/roster/patients", server.url))
        .bearer_auth(&officer)
        .header("content-type", "application/x-ndjson")
        .body(roster)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(&server, Method::POST, &officer, "/v1/assessments", &open);
    assert_eq!(r.status(), 201);
    let by_state = json(r)["figures"]["by_state"].clone();
    let unknown = patients.len() as u64 - 1;
    let expected = if unknown == 0 {
        json!({"CA": 1})
    } else {
        json!({"CA": 1, "unknown": unknown})
    };
    assert_eq!(by_state, expected);

    let path = format!("/v1/assessments/{id}");
    let factors = json!({"factors": {"nature": "Names and diagnoses",
        "unauthorized_person": "A colleague without a treatment relationship"}});
    let r = send(&server, Method::PATCH, &officer, &path, &factors);
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["version"], 2);
    let bad = json!({"decision": {"breach": true}});
    assert_eq!(
        send(&server, Method::PATCH, &officer, &path, &bad).status(),
        400
    );
    let bad = json!({"factors": {"mitigation": ""}});
    let r = send(&server, Method::PATCH, &officer, &path, &bad);
    assert_eq!(problem_field(r), (400, "factors.mitigation".into()));
    let decide = json!({"decision": {"breach": false, "reason": "Low probability of compromise"}});
    assert_eq!(
        send(&server, Method::PATCH, &auditor, &path, &decide).status(),
        403
    );
    let r = send(&server, Method::PATCH, &officer, &path, &decide);
    assert_eq!(json(r)["version"], 3);
    let nobody = send(
        &server,
        Method::PATCH,
        &officer,
        "/v1/assessments/00",
        &decide,
    );
    assert_eq!(nobody.status(), 404);

    // Both readers see the history; the latest state keeps every factor.
    for key in [&officer, &auditor] {
        let shown = json(server.get(key, &path));
        let versions: Vec<u64> = shown["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        assert_eq!(versions, [1, 2, 3]);
        let latest = &shown["assessment"];
        assert_eq!(latest["decision"]["breach"], false);
        assert_eq!(latest["factors"]["nature"], "Names and diagnoses");
        assert_eq!(shown["history"][2]["changed"], json!(["decision"]));
    }

    // The patient list: the officer's, exactly the patients counted.
    let csv_path = format!("{path}/patients?format=csv");
    assert_eq!(server.get(&auditor, &csv_path).status(), 403);
    assert_eq!(
        server
            .get(&officer, &format!("{path}/patients?format=pdf"))
            .status(),
        400
    );
    let r = server.get(&officer, &csv_path);
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let listed: BTreeSet<String> = rows.records().map(|r| r.unwrap()[0].to_string()).collect();
    assert_eq!(listed, patients);
    assert!(text.starts_with("patient_id,state,accesses,first,last"));

    // The assessment as a PDF, checked by qpdf and poppler: the incident, the figures,
    // the factors, the decision and the history. A bad format names the field.
    let r = server.get(&officer, &format!("{path}?format=docx"));
    assert_eq!(problem_field(r), (400, "format".into()));
    let pdf_read = recall_testkit::pdf::pdf_tools();
    if pdf_read {
        let r = server.get(&officer, &format!("{path}?format=pdf"));
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        let file = tmp.path().join("assessment.pdf");
        std::fs::write(&file, r.bytes().unwrap()).unwrap();
        let text = recall_testkit::pdf::checked_text(&file);
        for expected in [
            "Breach impact assessment",
            "Badge shared between two nurses",
            "Names and diagnoses",
            "not a breach",
            "Low probability of compromise",
            "2027-03-01",
            "Distinct patients affected",
            "Notice to individuals due",
            "Notice to HHS",
            "in the annual log",
            "Media notice required",
        ] {
            assert!(
                text.contains(expected),
                "{expected} not in the PDF:\n{text}"
            );
        }
        // Deadlines in words, not the JSON's names and codes.
        for raw in ["hhs route", "hhs_route", "annual_log", "media required"] {
            assert!(!text.contains(raw), "{raw} in the PDF:\n{text}");
        }
    }

    // Every change and every read is in the log.
    let own = json(server.get(&officer, "/v1/events?system=recall&limit=1000"));
    let own = own["events"].as_array().unwrap();
    let changes: Vec<&str> = own
        .iter()
        .filter(|e| e["resource"]["type"] == "BreachAssessment")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Two opened (the second after the patient roster), the first changed twice.
    assert_eq!(changes, ["create", "create", "update", "update"]);
    let reads: Vec<&str> = own
        .iter()
        .filter(|e| e["detail"]["query"]["assessment"] == id)
        .map(|e| e["detail"]["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        reads,
        [
            &["GET /v1/assessments/{id}"; 2][..],
            &["GET /v1/assessments/{id}/patients"],
            if pdf_read {
                &["GET /v1/assessments/{id}"]
            } else {
                &[]
            },
        ]
        .concat()
    );
    server.stop();

    // The CLI reads and changes the same assessment, through the same code.
    let shown: Value = serde_json::from_str(&recall_ok(
        &data,
        &[
            "assessments",
            "show",
            "--tenant",
            T,
            &id,
            "--as",
            "privacy_officer",
        ],
    ))
    .unwrap();
    assert_eq!(shown["assessment"]["version"], 3);
    let out = recall_ok(
        &data,
        &[
            "assessments",
            "update",
            "--tenant",
            T,
            &id,
            "--mitigation",
            "Badge revoked",
        ],
    );
    let v4: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v4["version"].as_u64(), v4["factors"]["mitigation"].as_str()),
        (Some(4), Some("Badge revoked"))
    );
    let csv = recall_ok(
        &data,
        &[
            "assessments",
            "patients",
            "--tenant",
            T,
            &id,
            "--as",
            "privacy_officer",
        ],
    );
    assert_eq!(csv.lines().count(), patients.len() + 1);
    let refused = common::recall(&data, &["assessments", "patients", "--tenant", T, &id]);
    assert!(!refused.status.success());
    let opened = recall_ok(
        &data,
        &[
            "assessments",
            "open",
            "--tenant",
            T,
            "--description",
            "Lost laptop",
            "--discovered",
            "2026-04-03",
            "--from",
            "2026-03-01T00:00:00Z",
            "--to",
            "2026-04-01T00:00:00Z",
            "--ip",
            "10.9.0.1",
        ],
    );
    let cli: Value = serde_json::from_str(&opened).unwrap();
    let by_ip = events
        .iter()
        .filter(|e| {
            e["source"]["ip"] == "10.9.0.1" && e["time"].as_str().unwrap().starts_with("2026-03")
        })
        .count();
    assert_eq!(cli["figures"]["events"], by_ip as u64);
    let list = recall_ok(&data, &["assessments", "list", "--tenant", T]);
    // The two opened over HTTP and the one opened here.
    assert_eq!(list.lines().count(), 3);
}
