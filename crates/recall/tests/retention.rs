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
/// (2023-02, 2023-03) and one it keeps (the current month).
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

#[test]
fn months_past_retention_are_recorded_then_shredded_and_the_log_still_verifies() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, T, "writer");
    let officer = create_key(&data, T, "privacy_officer");
    let server = Server::start(&data);
    let body: String = events().iter().map(|e| format!("{e}\n")).collect();
    assert_eq!(
        server.post(&writer, "/v1/events", NDJSON, body).status(),
        201
    );
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
    let r = server.get(&officer, &format!("/v1/events/{T}/0"));
    assert_eq!(r.status(), 410);
    let p = json(r);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("event 0") && detail.contains("shredded by the retention policy at"));
    assert_eq!(
        server.get(&officer, &format!("/v1/events/{T}/3")).status(),
        200
    );
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
