//! The start and stop of recording in every tenant's log: `recall serve` records DICOM
//! 110134 (Audit Recording Started) when it starts and 110133 (Stopped) on a clean
//! shutdown (SIGTERM); after a `kill -9` the next start says the previous run ended
//! without its stop record. The log verifies throughout. All data is synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::server::Server;
use common::{officer_search, recall_ok};
use serde_json::{Value, json};

const TENANTS: [&str; 2] = ["rec-a", "rec-b"];

/// The server's own start and stop records in `tenant`'s log, oldest first.
fn recording_events(data: &Path, tenant: &str) -> Vec<Value> {
    officer_search(data, tenant, &["--actor", "recall:server"])
        .into_iter()
        .filter(|e| e["resource"]["type"] == "AuditLog")
        .collect()
}

fn dicom_type(e: &Value) -> &str {
    e["detail"]["dicom_type"].as_str().unwrap()
}

/// Checks the fields every start or stop record has.
fn check_shape(e: &Value) {
    assert_eq!(e["actor"]["id"], "recall:server", "{e}");
    assert_eq!(e["actor"]["type"], "system", "{e}");
    assert_eq!(e["source"]["system"], "recall", "{e}");
    assert_eq!(e["detail"]["dicom_event"], "110113", "{e}");
    match dicom_type(e) {
        "110134" => {
            assert_eq!(e["action"], "start", "{e}");
            assert_eq!(e["detail"]["endpoint"], "server start", "{e}");
        }
        "110133" => {
            assert_eq!(e["action"], "stop", "{e}");
            assert_eq!(e["detail"]["endpoint"], "server stop", "{e}");
        }
        other => panic!("unexpected dicom_type {other}: {e}"),
    }
}

fn import(root: &Path, data: &Path) {
    for (i, tenant) in TENANTS.iter().enumerate() {
        let e = json!({
            "id": format!("rec-{i}"),
            "time": jiff::Timestamp::now().to_string(),
            "actor": {"id": "u-rec"},
            "action": "read",
            "patient": {"id": format!("MRN-T02{i}")},
        });
        let input = root.join(format!("{tenant}.ndjson"));
        std::fs::write(&input, format!("{e}\n")).unwrap();
        recall_ok(
            data,
            &["import", "--tenant", tenant, input.to_str().unwrap()],
        );
    }
}

#[test]
fn starts_and_stops_are_recorded_and_a_kill_is_noticed_by_the_next_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    import(root.path(), &data);

    // A clean run: started, then stopped (SIGTERM).
    Server::start(&data).stop();
    assert!(
        !data.join("server.running").exists(),
        "a clean stop removes the marker"
    );
    for tenant in TENANTS {
        let events = recording_events(&data, tenant);
        let kinds: Vec<&str> = events.iter().map(dicom_type).collect();
        assert_eq!(kinds, ["110134", "110133"], "{tenant}: {events:?}");
        events.iter().for_each(check_shape);
        assert!(
            events[0]["detail"].get("previous_run").is_none(),
            "the first start follows no run: {}",
            events[0]
        );
    }
    recall_ok(&data, &["verify"]);

    // A run killed with SIGKILL records no stop; the next start says so.
    Server::start(&data).kill();
    assert!(
        data.join("server.running").exists(),
        "a killed run leaves its marker"
    );
    Server::start(&data).stop();
    for tenant in TENANTS {
        let events = recording_events(&data, tenant);
        let kinds: Vec<&str> = events.iter().map(dicom_type).collect();
        assert_eq!(
            kinds,
            ["110134", "110133", "110134", "110134", "110133"],
            "{tenant}: {events:?}"
        );
        events.iter().for_each(check_shape);
        let killed = &events[2];
        assert!(killed["detail"].get("previous_run").is_none(), "{killed}");
        let after = &events[3];
        assert_eq!(
            after["detail"]["previous_run"]["ended_without_stop"], true,
            "{after}"
        );
        assert!(
            after["detail"]["previous_run"]["started"].is_string(),
            "the marker said when the killed run started: {after}"
        );
    }
    recall_ok(&data, &["verify"]);
}
