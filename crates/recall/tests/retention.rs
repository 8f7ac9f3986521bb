//! Retention by crypto-shredding, end to end: events ingested while in their retention
//! period are shredded by `recall retention run` once the period (here shortened in the
//! configuration) has passed them: the run is recorded in the log first, reading a
//! shredded event answers 410 with when, `recall verify` passes and names the shredded
//! months, nothing of their plaintext is left in the data directory, and events older
//! than the period are refused at ingest. All data is synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::server::{Server, create_key, json};
use common::{recall, recall_ok};
use serde_json::{Value, json};

const T: &str = "st-marys";
const NDJSON: &str = "application/x-ndjson";

/// Synthetic events in three months: two that a 2-year period puts past retention
/// (2023-02, 2023-03) and one it keeps (the current month). The first is a break-glass
/// access (purpose ETREAT), open in the review queue until shredded.
fn events() -> Vec<Value> {
    let now = jiff::Timestamp::now().to_string();
    let mut out = Vec::new();
    for (i, time) in [
        "2023-02-10T10:00:00Z",
        "2023-02-11T10:00:00Z",
        "2023-03-05T09:00:00Z",
        now.as_str(),
    ]
    .iter()
    .enumerate()
    {
        out.push(json!({
            "id": format!("ret-{i}"),
            "time": time,
            "actor": {"id": format!("u-ret-{i}"), "role": "nurse", "name": format!("Shred Name {i}")},
            "action": "read",
            "patient": {"id": format!("MRN-SHRED-{i}")},
            "resource": {"type": "Observation", "id": format!("obs-ret-{i}")},
            "reason": format!("synthetic reason {i}"),
        }));
    }
    out[0]["purpose"] = json!("ETREAT");
    out
}

fn set_retention(data: &Path, years: u32) {
    let path = data.join("recall.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("default_years = 6", &format!("default_years = {years}"));
    assert!(text.contains(&format!("default_years = {years}")));
    std::fs::write(path, text).unwrap();
}

/// Every file of the data directory, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A data directory with writer and privacy-officer keys.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, String, String) {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, T, "writer");
    let officer = create_key(&data, T, "privacy_officer");
    (root, data, writer, officer)
}

/// Posts the test events; returns the seq of the first (the log already holds recall's
/// own records of the keys and of the server's start).
fn post_events(server: &Server, writer: &str) -> u64 {
    let body: String = events().iter().map(|e| format!("{e}\n")).collect();
    let r = server.post(writer, "/v1/events", NDJSON, body);
    assert_eq!(r.status(), 201);
    json(r)["receipts"][0]["seq"].as_u64().unwrap()
}

#[test]
fn months_past_retention_are_recorded_then_shredded_and_the_log_still_verifies() {
    let (root, data, writer, officer) = setup();
    let server = Server::start(&data);
    let base = post_events(&server, &writer);
    assert_eq!(server.gauge_settled("recall_break_glass_open", 1.0), 1.0);
    server.stop();

    // Two years later (as far as the 2023 months are concerned): a shorter period.
    set_retention(&data, 2);
    let dry = recall_ok(&data, &["retention", "run", "--dry-run"]);
    assert!(dry.contains("would shred epochs 202302, 202303"), "{dry}");
    let run = recall_ok(&data, &["retention", "run"]);
    assert!(run.contains("shredded epochs 202302, 202303"), "{run}");
    let again = recall_ok(&data, &["retention", "run"]);
    assert!(again.contains("nothing past retention"), "{again}");

    // verify passes and names the shredded months; the kept event still checks.
    let verify = recall_ok(&data, &["verify"]);
    assert!(verify.contains("epoch 202302: 2 events"), "{verify}");
    assert!(verify.contains("epoch 202303: 1 events"), "{verify}");
    assert!(verify.contains("shredded by policy at"), "{verify}");

    // No byte of the shredded plaintext is left anywhere in the data directory.
    let bytes = all_bytes(&data);
    for i in 0..3 {
        for s in [
            format!("MRN-SHRED-{i}"),
            format!("Shred Name {i}"),
            format!("synthetic reason {i}"),
            format!("obs-ret-{i}"),
        ] {
            assert!(!contains(&bytes, &s), "{s} is still in the data directory");
        }
    }

    let server = Server::start(&data);
    // The run is on record, before the shredding, naming the months.
    let found = json(server.get(&officer, "/v1/events?action=delete"));
    let runs = found["events"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{found}");
    assert_eq!(
        runs[0]["detail"]["retention"]["shredded_epochs"],
        json!([202302, 202303])
    );
    assert_eq!(runs[0]["detail"]["retention"]["years"], 2);
    // A shredded event answers 410 with its seq and when; the kept one reads.
    let r = server.get(&officer, &format!("/v1/events/{T}/{base}"));
    assert_eq!(r.status(), 410);
    let p = json(r);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("event {base}"))
            && detail.contains("shredded by the retention policy at")
    );
    assert_eq!(
        server
            .get(&officer, &format!("/v1/events/{T}/{}", base + 3))
            .status(),
        200
    );
    // A shredded break-glass access leaves the queue and its gauges: it cannot be
    // reviewed any more.
    assert_eq!(server.gauge("recall_break_glass_open"), 0.0);
    assert_eq!(server.gauge("recall_break_glass_overdue"), 0.0);
    let queue = json(server.get(&officer, "/v1/reviews/break-glass?state=all"));
    assert_eq!(queue["items"], json!([]), "{queue}");
    // Searches find only what is still readable.
    let kept = json(server.get(&officer, "/v1/events?action=read"));
    assert_eq!(kept["events"].as_array().unwrap().len(), 1, "{kept}");

    // An event older than the period is refused at ingest, naming the field.
    let old = json!({"time": "2023-06-01T00:00:00Z", "actor": {"id": "u-x"}, "action": "read"});
    let r = server.post(&writer, "/v1/events", NDJSON, format!("{old}\n"));
    assert_eq!(r.status(), 400);
    let p = json(r);
    assert_eq!(p["field"], "time");
    assert_eq!(p["index"], 0);
    server.stop();

    // The import path refuses it as well.
    let input = root.path().join("old.ndjson");
    std::fs::write(&input, format!("{old}\n")).unwrap();
    let out = recall(&data, &["import", "--tenant", T, input.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention"));
}

fn events_of(server: &Server, key: &str, query: &str) -> Vec<Value> {
    json(server.get(key, &format!("/v1/events?{query}&limit=1000")))["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// Holds keep their months through retention runs until released; placing and releasing
/// are on record (API and CLI alike) and `holds.db` holds no identifier.
#[test]
fn held_months_survive_retention_until_their_hold_is_released() {
    let (_root, data, writer, officer) = setup();
    let server = Server::start(&data);
    let base = post_events(&server, &writer);
    // A patient hold over the API (the patient's event is in 2023-02).
    let r = server
        .http
        .post(format!("{}/v1/holds", server.url))
        .bearer_auth(&officer)
        .json(&json!({"patient": "MRN-SHRED-0", "matter": "Case A"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let patient_hold = json(r)["id"].as_str().unwrap().to_string();
    let bad = server
        .http
        .post(format!("{}/v1/holds", server.url))
        .bearer_auth(&officer)
        .json(&json!({"patient": "MRN-SHRED-0", "actor": "u-1", "matter": "Case A"}))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
    let listed = json(server.get(&officer, "/v1/holds"));
    assert_eq!(listed["holds"][0]["kind"], "patient");
    assert!(!listed.to_string().contains("MRN-SHRED"), "{listed}");
    server.stop();

    // An actor hold from the CLI (the actor's event is in 2023-03).
    let made = recall_ok(
        &data,
        &[
            "holds", "create", "--tenant", T, "--actor", "u-ret-2", "--matter", "Case B",
        ],
    );
    let actor_hold: Value = serde_json::from_str(made.trim()).unwrap();
    let actor_hold = actor_hold["id"].as_str().unwrap().to_string();

    set_retention(&data, 2);
    let run = recall_ok(&data, &["retention", "run"]);
    assert!(
        run.contains("nothing past retention"),
        "both months held: {run}"
    );
    recall_ok(&data, &["holds", "release", "--tenant", T, &actor_hold]);
    let run = recall_ok(&data, &["retention", "run"]);
    // 202303 is shredded; 202302 is not, and the run says which hold kept it.
    assert!(
        run.contains("shredded epochs 202303; kept by legal holds: 202302\n"),
        "{run}"
    );

    let server = Server::start(&data);
    assert_eq!(
        server
            .get(&officer, &format!("/v1/events/{T}/{base}"))
            .status(),
        200
    );
    let r = server
        .http
        .delete(format!("{}/v1/holds/{patient_hold}", server.url))
        .bearer_auth(&officer)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(json(r)["released"].is_string());
    // Every placement and release is on record, the patient hold naming its patient.
    let made = events_of(&server, &officer, "action=create");
    let made: Vec<&Value> = made
        .iter()
        .filter(|e| e["resource"]["type"] == "LegalHold")
        .collect();
    assert_eq!(made.len(), 2);
    assert!(made.iter().any(|e| e["patient"]["id"] == "MRN-SHRED-0"));
    let released = events_of(&server, &officer, "action=delete");
    let released = released
        .iter()
        .filter(|e| e["resource"]["type"] == "LegalHold")
        .count();
    assert_eq!(released, 2);
    server.stop();

    let run = recall_ok(&data, &["retention", "run"]);
    assert!(run.contains("shredded epochs 202302"), "{run}");
    recall_ok(&data, &["verify"]);
    let holds_db = all_bytes_of(&data.join("holds.db"));
    for s in ["MRN-SHRED", "u-ret-"] {
        assert!(!contains(&holds_db, s), "holds.db holds {s}");
    }
}

fn all_bytes_of(path: &Path) -> Vec<u8> {
    let mut out = std::fs::read(path).unwrap();
    if let Ok(w) = std::fs::read(format!("{}-wal", path.display())) {
        out.extend(w);
    }
    out
}

/// The server runs retention by itself (`server.retention_interval_secs`), recording each
/// run as `recall:retention` before shredding.
#[test]
fn the_server_runs_retention_on_its_own() {
    let (_root, data, writer, officer) = setup();
    let server = Server::start(&data);
    let base = post_events(&server, &writer);
    server.stop();
    set_retention(&data, 2);
    let server = Server::start_with(&data, &[("RECALL_SERVER_RETENTION_INTERVAL_SECS", "1")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server
        .get(&officer, &format!("/v1/events/{T}/{base}"))
        .status()
        != 410
    {
        assert!(std::time::Instant::now() < deadline, "no retention run");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let runs = events_of(&server, &officer, "action=delete");
    assert_eq!(
        runs.len(),
        1,
        "one run shredded; later runs found nothing: {runs:?}"
    );
    assert_eq!(runs[0]["actor"]["id"], "recall:retention");
    assert_eq!(
        runs[0]["detail"]["retention"]["shredded_epochs"],
        json!([202302, 202303])
    );
    assert_eq!(
        server
            .get(&officer, &format!("/v1/events/{T}/{}", base + 3))
            .status(),
        200
    );
    server.stop();
}

/// The honest path keeps verifying under verify's cross-check of tombstones against the
/// log: a CLI run while a time hold keeps one month, then, once it is released, the
/// server's own run shreds that month too; `recall verify` passes after each.
#[test]
fn real_runs_with_and_without_a_time_hold_verify() {
    let (_root, data, writer, officer) = setup();
    let server = Server::start(&data);
    post_events(&server, &writer);
    server.stop();
    let made = recall_ok(
        &data,
        &[
            "holds",
            "create",
            "--tenant",
            T,
            "--from",
            "2023-02-01T00:00:00Z",
            "--to",
            "2023-02-15T00:00:00Z",
            "--matter",
            "Case T",
        ],
    );
    let hold: Value = serde_json::from_str(made.trim()).unwrap();
    let hold = hold["id"].as_str().unwrap().to_string();
    set_retention(&data, 2);
    let run = recall_ok(&data, &["retention", "run"]);
    // 202303 is shredded; 202302 is not, and the run says which hold kept it.
    assert!(
        run.contains("shredded epochs 202303; kept by legal holds: 202302\n"),
        "{run}"
    );
    let verify = recall_ok(&data, &["verify"]);
    assert!(verify.contains("epoch 202303: 1 events"), "{verify}");

    recall_ok(&data, &["holds", "release", "--tenant", T, &hold]);
    let server = Server::start_with(&data, &[("RECALL_SERVER_RETENTION_INTERVAL_SECS", "1")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while events_of(&server, &officer, "action=delete")
        .iter()
        .filter(|e| e["resource"]["type"] == "AuditEvent")
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "no retention run");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.stop();
    let verify = recall_ok(&data, &["verify"]);
    assert!(verify.contains("epoch 202302: 2 events"), "{verify}");
    assert!(verify.contains("epoch 202303: 1 events"), "{verify}");
}
