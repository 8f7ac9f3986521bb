//! Everything recall emits as FHIR validates with third-party validators: @medplum/core's
//! `validateResource` against the official R4 definitions (npm), and the fhir.resources
//! models for R4B and R5 (PyPI); and, when `RECALL_BALP_PROFILES` names a directory of
//! the IHE BALP 1.1.x StructureDefinitions, each R4 AuditEvent against the BALP profile
//! its action calls for (tests/fhir/balp.mjs; docs/design/fhir.md says which and why,
//! and why the profiles are not in the repository). The resources come from a real server: native events,
//! FHIR-fed events, recall's own records, seen by a privacy officer and through an
//! engineer's pseudonymising lens, and a batch-response Bundle. Validators are installed
//! by .ci/run from crates/recall/tests/fhir (lock file, pinned requirements); without
//! them the test skips, except under `CI=true`, where it fails. All data synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::recall_ok;
use common::server::{Server, create_key, json};
use serde_json::{Value, json};

const TENANT: &str = "st-marys";
const FHIR: &str = "application/fhir+json";

fn tools() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir");
    let node = dir.join("node_modules/@medplum/core").is_dir()
        && Command::new("node").arg("--version").output().is_ok();
    let py = Command::new("python3")
        .args(["-c", "import fhir.resources"])
        .output()
        .is_ok_and(|o| o.status.success());
    if node && py {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "the FHIR validators are required under CI (npm ci and pip install in crates/recall/tests/fhir)"
    );
    eprintln!("skipped: @medplum/core or fhir.resources is not installed");
    None
}

/// The BALP profiles directory, when a developer supplied one.
fn balp_profiles() -> Option<String> {
    let dir = std::env::var("RECALL_BALP_PROFILES").ok()?;
    assert!(
        Path::new(&dir).is_dir(),
        "RECALL_BALP_PROFILES={dir} is not a directory"
    );
    Some(dir)
}

/// Runs one validator over the resources; panics with its report when any is invalid,
/// else returns the report.
fn validate(dir: &Path, program: &str, args: &[&str], resources: &[Value]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(resources).unwrap()).unwrap();
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .arg(file.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} {args:?}: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{program} {args:?}: {}",
        report.lines().rev().take(2).collect::<Vec<_>>().join("; ")
    );
    assert!(
        report.contains(&format!("validated {}", resources.len())),
        "{report}"
    );
    report.into_owned()
}

fn get(s: &Server, key: &str, path: &str, version: &str) -> Value {
    let r = s
        .http
        .get(format!("{}{path}", s.url))
        .bearer_auth(key)
        .header("accept", format!("{FHIR}; fhirVersion={version}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().unwrap()
}

#[test]
fn what_recall_emits_as_fhir_validates() {
    let Some(dir) = tools() else { return };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, TENANT, "writer");
    let officer = create_key(&data, TENANT, "privacy_officer");
    let engineer = create_key(&data, TENANT, "engineer");
    let server = Server::start(&data);

    let now = jiff::Timestamp::now().to_string();
    let natives = [
        json!({"id": "evt-1", "time": now, "actor": {"id": "u-1", "role": "nurse", "name": "Test Person", "type": "user"},
            "action": "read", "resource": {"type": "Observation", "id": "obs-1"}, "patient": {"id": "MRN-SYNTH-1"},
            "outcome": "denied", "purpose": "ETREAT", "reason": "code blue",
            "source": {"ip": "2001:db8::1", "system": "ehr-synth", "device": "ws-1", "session": "s-1"},
            "detail": {"query": {"name": "x"}}}),
        json!({"time": now, "actor": {"id": "u-2"}, "action": "login"}),
        json!({"time": now, "actor": {"id": "u-3"}, "action": "print", "resource": {"type": "report.pdf"}, "outcome": "failure"}),
    ];
    // One successful event of each action BALP profiles, with and without a patient,
    // device or address (each becomes the BALP profile of its action).
    let restful = [
        "read",
        "vread",
        "create",
        "update",
        "patch",
        "delete",
        "search-type",
        "search",
    ];
    let balp = restful.iter().enumerate().map(|(i, action)| {
        let mut e = json!({"time": now, "actor": {"id": format!("u-b{i}"), "role": "clerk", "type": "user"},
            "action": action, "resource": {"type": "Observation", "id": format!("obs-b{i}")},
            "purpose": "TREAT", "source": {"system": "ehr-synth"}});
        if action.starts_with("search") {
            e["detail"] = json!({"query": format!("Observation?code=synth-{i}&_count=10")});
        }
        if i % 2 == 0 {
            e["patient"] = json!({"id": format!("MRN-SYNTH-B{i}")});
            e["source"]["ip"] = json!("192.0.2.7");
            e["source"]["device"] = json!("ws-7");
        }
        e
    });
    let natives: Vec<Value> = natives.into_iter().chain(balp).collect();
    let body: String = natives.iter().map(|e| format!("{e}\n")).collect();
    let r = server.post(&writer, "/v1/events", "application/x-ndjson", body);
    assert_eq!(r.status(), 201);
    // A batch Bundle with one good and one bad entry: its batch-response is validated too.
    // (Read back as sent by the officer: it is the sender's, so it is a valid one.)
    let fed = json!({"resourceType": "AuditEvent", "action": "R", "recorded": now,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "source": {"observer": {"display": "ehr-synth"}},
        "agent": [{"who": {"identifier": {"value": "u-4"}}, "requestor": true}],
        "entity": [{"what": {"reference": "Patient/MRN-SYNTH-2"}}]});
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": fed, "request": {"method": "POST", "url": "AuditEvent"}},
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "AuditEvent"}}]});
    let r = server.post(&writer, "/fhir", FHIR, bundle.to_string());
    assert_eq!(r.status(), 200);
    let response = json(r);
    assert_eq!(response["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(
        response["entry"][1]["response"]["status"],
        "400 Bad Request"
    );

    // Every event of the log so far (recall's own records of key creation first), as
    // each reader sees it; the reads add recall's records of the reads.
    let next = json(server.post(
        &writer,
        "/v1/events",
        "application/json",
        json!({"time": now, "actor": {"id": "u-5"}, "action": "read"}).to_string(),
    ))["receipts"][0]["seq"]
        .as_u64()
        .unwrap();
    let (mut r4, mut r5) = (vec![response], Vec::new());
    for seq in 0..=next {
        let path = format!("/fhir/AuditEvent/{seq}");
        for key in [&officer, &engineer] {
            r4.push(get(&server, key, &path, "4.0"));
            r5.push(get(&server, key, &path, "5.0"));
        }
    }
    // The records of those reads, recall's own 110101 events.
    for seq in next + 1..next + 5 {
        r4.push(get(
            &server,
            &officer,
            &format!("/fhir/AuditEvent/{seq}"),
            "4.0",
        ));
    }
    assert!(
        r4.iter().any(|r| r["type"]["code"] == "110101"),
        "recall's own records included"
    );
    // The export's FHIR formats: one resource per line for every event, for each reader.
    for key in [&officer, &engineer] {
        for (format, out) in [("fhir-r4", &mut r4), ("fhir-r5", &mut r5)] {
            let body = server.get(key, &format!("/v1/export?format={format}"));
            assert_eq!(body.status(), 200, "{format}");
            let lines: Vec<Value> = body
                .text()
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert!(lines.len() as u64 > next, "{format}: every event exported");
            assert!(lines.iter().all(|r| r["resourceType"] == "AuditEvent"));
            out.extend(lines);
        }
    }
    r4.push(json(server.get("", "/fhir/metadata")));
    validate(&dir, "node", &["validate.mjs"], &r4);
    if let Some(profiles) = balp_profiles() {
        let report = validate(&dir, "node", &["balp.mjs", profiles.as_str()], &r4);
        // The officer's views of the two searches (with and without a patient) are BALP
        // queries; the engineer's lens withholds their query (counted apart, not checked).
        for profile in ["\"Query\":", "\"PatientQuery\":", "\"no-query\":"] {
            assert!(report.contains(profile), "{profile} in {report}");
        }
    } else {
        eprintln!("BALP profiles not checked: RECALL_BALP_PROFILES is not set");
    }
    validate(&dir, "python3", &["validate.py", "R4B"], &r4);
    validate(&dir, "python3", &["validate.py", "R5"], &r5);
    server.stop();
}
