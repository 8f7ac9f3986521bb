//! Scheduled integrity verification over a real server: a clean log verifies and its
//! verdict is served; a body byte altered on disk (checksum fixed, as an attacker who
//! knows the format would) is reported by the next scheduled run, counted in `/metrics`
//! and stays unacknowledged after the log is repaired and passes again, until a privacy
//! officer acknowledges it (an event in the log); verdicts survive a restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::frames::{tamper_plan, write_at};
use common::recall_ok;
use common::server::{Server, create_key, json};
use serde_json::{Value, json};

const TENANT: &str = "t";
/// Hours between scheduled runs (7.2 s): short waits, and few enough runs that the
/// failure is still among the 20 verdicts shown after the restart.
const INTERVAL_HOURS: &str = "0.002";

struct Keys {
    writer: String,
    auditor: String,
    admin: String,
    officer: String,
}

fn setup(root: &Path) -> (PathBuf, Keys) {
    let data = root.join("data");
    recall_ok(&data, &["init"]);
    let file = data.join("recall.toml");
    let toml = std::fs::read_to_string(&file).unwrap();
    let toml = toml.replace(
        "verify_interval_hours = 24",
        &format!("verify_interval_hours = {INTERVAL_HOURS}"),
    );
    std::fs::write(&file, toml).unwrap();
    let keys = Keys {
        writer: create_key(&data, TENANT, "writer"),
        auditor: create_key(&data, TENANT, "auditor"),
        admin: create_key(&data, TENANT, "admin"),
        officer: create_key(&data, TENANT, "privacy_officer"),
    };
    (data, keys)
}

/// Synthetic events (no PHI), one request.
fn ingest(s: &Server, key: &str, n: u32) {
    let body: String = (0..n)
        .map(|i| {
            let e = json!({
                "id": format!("evt-{i}"),
                "time": "2026-03-04T10:00:00Z",
                "actor": {"id": "u-1", "role": "nurse"},
                "action": "read",
                "patient": {"id": format!("MRN-{}", i % 7)},
                "resource": {"type": "Observation", "id": format!("obs-{i}")},
            });
            format!("{e}\n")
        })
        .collect();
    let r = s.post(key, "/v1/events", "application/x-ndjson", body);
    assert_eq!(r.status(), 201);
}

/// The tenant's part of `GET /v1/integrity`.
fn status(s: &Server, key: &str) -> Value {
    let r = s.get(key, "/v1/integrity");
    assert_eq!(r.status(), 200);
    let body = json(r);
    assert_eq!(body["tenants"].as_array().unwrap().len(), 1, "{body}");
    body["tenants"][0].clone()
}

/// Polls the status until `ok` holds of it (a scheduled run comes every 7.2 s).
fn await_status(s: &Server, key: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = status(s, key);
        if ok(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn result(st: &Value) -> &str {
    st["last_verification"]["result"].as_str().unwrap_or("")
}

#[test]
fn scheduled_verification_reports_tampering_until_acknowledged_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, k) = setup(tmp.path());
    let server = Server::start(&data);
    ingest(&server, &k.writer, 40);

    // A clean log: a scheduled verdict covering the events, and a checkpoint history.
    let clean = await_status(&server, &k.auditor, "a passing run over the events", |st| {
        result(st) == "ok" && st["last_verification"]["tree_size"].as_u64() >= Some(40)
    });
    assert_eq!(clean["unacknowledged_failure"], false, "{clean}");
    assert!(
        clean["latest_checkpoint"]
            .as_str()
            .unwrap()
            .contains("/t\n")
    );
    let history = clean["checkpoints"].as_array().unwrap();
    assert!(
        history
            .iter()
            .all(|c| c["invalid"].is_null() && c["root"].is_string())
    );
    assert_eq!(server.gauge("recall_integrity_tenants_failing"), 0.0);
    assert_eq!(
        server.gauge("recall_integrity_unacknowledged_failures"),
        0.0
    );
    assert!(server.gauge("recall_integrity_oldest_verification_age_seconds") < 60.0);

    // Nothing to acknowledge yet: 409, and nothing recorded.
    let ack = format!("/v1/integrity/{TENANT}/acknowledge");
    let r = server.post(&k.officer, &ack, "application/json", "");
    assert_eq!(r.status(), 409);

    // Tamper: the scheduled run (no request asks for it) reports the failure.
    let (seg, offset, original, tampered) = tamper_plan(&data, TENANT);
    write_at(&seg, offset, &tampered);
    let failed = await_status(&server, &k.auditor, "a failed run", |st| {
        result(st) == "failed"
    });
    let last = &failed["last_verification"];
    let why = last["failure"].as_str().unwrap();
    assert!(why.contains("does not open"), "{failed}");
    assert!(why.contains(&format!("at offset {offset}")), "{failed}");
    assert!(last["first_bad_seq"].is_u64(), "{failed}");
    assert!(!why.contains("MRN-"), "no PHI in the failure: {why}");
    assert_eq!(failed["unacknowledged_failure"], true);
    assert_eq!(server.gauge("recall_integrity_tenants_failing"), 1.0);
    assert_eq!(
        server.gauge("recall_integrity_unacknowledged_failures"),
        1.0
    );

    // Repaired: runs pass again, the failure stays unacknowledged.
    write_at(&seg, offset, &original);
    let r = server.post(&k.auditor, "/v1/integrity/verify", "application/json", "");
    assert_eq!(r.status(), 200);
    let now = json(r);
    assert_eq!(now["verification"]["result"], "ok", "{now}");
    let repaired = status(&server, &k.auditor);
    assert_eq!(repaired["unacknowledged_failure"], true, "{repaired}");
    assert_eq!(server.gauge("recall_integrity_tenants_failing"), 0.0);
    assert_eq!(
        server.gauge("recall_integrity_unacknowledged_failures"),
        1.0
    );

    // An auditor only reads; the officer acknowledges, as an event in the log.
    let r = server.post(&k.auditor, &ack, "application/json", "");
    assert_eq!(r.status(), 403);
    let r = server.post(&k.officer, &ack, "application/json", "");
    assert_eq!(r.status(), 200);
    let n = json(r)["acknowledged_failures"].as_u64().unwrap();
    assert!(n >= 1);
    let acked = status(&server, &k.admin);
    assert_eq!(acked["unacknowledged_failure"], false, "{acked}");
    assert_eq!(
        server.gauge("recall_integrity_unacknowledged_failures"),
        0.0
    );
    let record = acknowledgement_record(&server, &k.auditor);
    assert_eq!(record["detail"]["acknowledged_failures"], n, "{record}");
    assert!(record["actor"]["id"].as_str().unwrap().starts_with("key:"));

    // A restart keeps the verdicts, the failure and who acknowledged it.
    server.stop();
    let server = Server::start(&data);
    let after = status(&server, &k.auditor);
    let kept = after["verifications"].as_array().unwrap();
    let failure = kept.iter().find(|v| v["result"] == "failed").unwrap();
    assert_eq!(
        failure["acknowledged"]["by"], record["actor"]["id"],
        "{after}"
    );
    assert_eq!(after["unacknowledged_failure"], false);
    server.stop();
}

/// The acknowledgement event, found by a search as the auditor.
fn acknowledgement_record(s: &Server, key: &str) -> Value {
    let r = s.get_justified(key, "/v1/events?action=acknowledge");
    assert_eq!(r.status(), 200);
    let body = json(r);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    events[0].clone()
}
