//! The defect this guards against, end to end over the real server: the server's periodic
//! retention run used to ignore legal holds (it asked for expired epochs with
//! `&|_| false` for "held"), so a month a legal hold kept was shredded by the server
//! although `recall retention run` kept it. Here a patient hold is placed from the CLI on
//! a patient with events in March 2016, the retention period is shortened so that March
//! and April 2016 are past it, and `recall serve` runs retention on its own: the held
//! month must stay readable (the old code shredded it), the unheld one must be shredded,
//! and the log must still verify. All data is synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::server::{Server, create_key, json};
use common::{officer_search, poll, recall_ok, set_default_years};
use serde_json::{Value, json};

const T: &str = "ward-t";
/// Held: events in March 2016 only.
const P: &str = "MRN-T001";
/// Not held: one event in March 2016 (kept with its month), two in April 2016.
const Q: &str = "MRN-T002";

/// (id, time, patient), in import order, so seq = position.
const EVENTS: [(&str, &str, &str); 6] = [
    ("srh-0", "2016-03-02T08:00:00Z", P),
    ("srh-1", "2016-03-15T12:30:00Z", P),
    ("srh-2", "2016-03-28T17:45:00Z", P),
    ("srh-3", "2016-03-10T09:00:00Z", Q),
    ("srh-4", "2016-04-05T10:00:00Z", Q),
    ("srh-5", "2016-04-20T11:00:00Z", Q),
];
/// The seqs of the April events.
const APRIL: [u64; 2] = [4, 5];

fn ndjson() -> String {
    EVENTS
        .iter()
        .enumerate()
        .map(|(i, (id, time, patient))| {
            let e = json!({
                "id": id,
                "time": time,
                "actor": {"id": format!("u-srh-{}", i % 2), "role": "nurse"},
                "action": "read",
                "patient": {"id": patient},
                "resource": {"type": "Observation", "id": format!("obs-srh-{i}")},
            });
            format!("{e}\n")
        })
        .collect()
}

fn ids(events: &[Value]) -> Vec<&str> {
    let mut v: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    v.sort_unstable();
    v
}

fn search(server: &Server, key: &str, query: &str) -> Vec<Value> {
    let r = server.get(key, &format!("/v1/events?{query}&limit=1000"));
    assert_eq!(r.status(), 200);
    json(r)["events"].as_array().unwrap().clone()
}

#[test]
fn the_servers_own_retention_run_keeps_a_held_month() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    // 2016 is within a 20-year period, so import takes it.
    set_default_years(&data, 20);
    let input = root.path().join("events.ndjson");
    std::fs::write(&input, ndjson()).unwrap();
    recall_ok(&data, &["import", "--tenant", T, input.to_str().unwrap()]);
    let officer = create_key(&data, T, "privacy_officer");
    let made = recall_ok(
        &data,
        &[
            "holds",
            "create",
            "--tenant",
            T,
            "--patient",
            P,
            "--matter",
            "Case 42",
        ],
    );
    let hold: Value = serde_json::from_str(made.trim()).unwrap();
    let hold_id = hold["id"].as_str().unwrap().to_string();
    // Now March and April 2016 are past the period; only the hold keeps March.
    set_default_years(&data, 6);

    let server = Server::start_with(&data, &[("RECALL_SERVER_RETENTION_INTERVAL_SECS", "5")]);
    // The server's run records itself, then shreds: wait until April reads as shredded.
    for seq in APRIL {
        poll(
            "the server's retention run to shred April 2016",
            Duration::from_secs(180),
            || {
                let status = server
                    .get(&officer, &format!("/v1/events/{T}/{seq}"))
                    .status();
                (status == 410).then_some(())
            },
        );
    }

    // The run is on record as the server's, naming what it shredded and what the hold kept.
    let runs: Vec<Value> = search(&server, &officer, "action=delete")
        .into_iter()
        .filter(|e| e["resource"]["type"] == "AuditEvent")
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one run shredded, later ones found nothing: {runs:?}"
    );
    assert_eq!(runs[0]["actor"]["id"], "recall:retention");
    let record = &runs[0]["detail"]["retention"];
    assert_eq!(record["shredded_epochs"], json!([201604]), "{record}");
    assert_eq!(
        record["holds"],
        json!([{"id": hold_id, "months": [201603]}]),
        "{record}"
    );

    // A privacy officer still finds every March 2016 event of the held patient…
    let march = "from=2016-03-01T00:00:00Z&to=2016-04-01T00:00:00Z";
    let held = search(&server, &officer, &format!("patient={P}&{march}"));
    assert_eq!(ids(&held), vec!["srh-0", "srh-1", "srh-2"], "{held:?}");
    for (seq, (id, ..)) in EVENTS.iter().enumerate().take(4) {
        let r = server.get(&officer, &format!("/v1/events/{T}/{seq}"));
        assert_eq!(r.status(), 200, "{id} (March 2016, held) was shredded");
        assert_eq!(json(r)["event"]["id"], *id);
    }
    // …while April 2016, which nothing held, is gone (only Q's March event is left).
    let unheld = search(
        &server,
        &officer,
        &format!("patient={Q}&from=2016-01-01T00:00:00Z&to=2017-01-01T00:00:00Z"),
    );
    assert_eq!(ids(&unheld), vec!["srh-3"], "{unheld:?}");
    server.stop();

    recall_ok(&data, &["verify"]);
    // After the server stopped, the CLI sees the same.
    let after = officer_search(&data, T, &["--patient", P, "--to", "2016-04-01T00:00:00Z"]);
    assert_eq!(ids(&after), vec!["srh-0", "srh-1", "srh-2"]);
}
