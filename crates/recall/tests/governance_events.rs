//! Every operator action of the CLI leaves its record in the tenant's log, with the
//! operator taken from the process's uid (`cli:<user>`; `USER` and `LOGNAME` are removed
//! from the environment, so they cannot be where it came from): API keys created and
//! revoked (appended directly without a server; left in the outbox and appended by a
//! running server), KEK and signing-key rotations, a reindex, a hold placed and released,
//! and a retention run. Each record's action, resource type, `detail.endpoint` and DICOM
//! codes are checked, and the log verifies afterwards. All data is synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::server::{Server, json};
use common::{
    both, officer_search, poll, recall_ok, recall_without_user, recall_without_user_ok,
    set_default_years, uid_name,
};
use serde_json::{Value, json};

const T: &str = "gov-t";
/// A patient with recent events (held, then released).
const HELD: &str = "MRN-T010";
/// A patient whose only events are in May 2016 (shredded by the run).
const OLD: &str = "MRN-T011";

fn import_events(root: &Path, data: &Path) {
    let now = jiff::Timestamp::now().to_string();
    let rows = [
        ("gov-0", "2016-05-03T10:00:00Z", OLD),
        ("gov-1", "2016-05-20T10:00:00Z", OLD),
        ("gov-2", now.as_str(), HELD),
        ("gov-3", now.as_str(), HELD),
    ];
    let body: String = rows
        .iter()
        .map(|(id, time, patient)| {
            let e = json!({
                "id": id, "time": time, "action": "read",
                "actor": {"id": "u-gov", "role": "nurse"},
                "patient": {"id": patient},
                "resource": {"type": "Observation", "id": format!("obs-{id}")},
            });
            format!("{e}\n")
        })
        .collect();
    let input = root.join("events.ndjson");
    std::fs::write(&input, body).unwrap();
    recall_ok(data, &["import", "--tenant", T, input.to_str().unwrap()]);
}

/// `recall keys create` as the uid's user: (key text, key id, stderr).
fn create_key(data: &Path, role: &str) -> (String, String, String) {
    let out = recall_without_user(data, &["keys", "create", "--tenant", T, "--role", role]);
    assert!(out.status.success(), "{}", both(&out));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let err = String::from_utf8(out.stderr).unwrap();
    let id = err
        .split_whitespace()
        .skip_while(|w| *w != "key")
        .nth(1)
        .unwrap_or_else(|| panic!("no key id in {err:?}"))
        .to_string();
    (key, id, err)
}

/// Waits until the running server has appended an event of `actor` with `action` on the
/// API key `id` (the record the CLI left in the outbox).
fn await_key_record(server: &Server, officer: &str, actor: &str, action: &str, id: &str) {
    let query = format!("/v1/events?actor={actor}&action={action}&limit=1000");
    poll(
        &format!("the server to append the outbox record ({action} {id})"),
        Duration::from_secs(120),
        || {
            let found = json(server.get(officer, &query));
            found["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["resource"]["type"] == "ApiKey" && e["resource"]["id"] == id)
                .then_some(())
        },
    );
}

/// What one command must have recorded.
struct Expect {
    endpoint: &'static str,
    count: usize,
    action: &'static str,
    resource: &'static str,
    /// `detail.dicom_event` and `detail.dicom_type`, where the act has them.
    dicom: Option<(&'static str, &'static str)>,
}

const fn expect(
    endpoint: &'static str,
    count: usize,
    action: &'static str,
    resource: &'static str,
    dicom: Option<(&'static str, &'static str)>,
) -> Expect {
    Expect {
        endpoint,
        count,
        action,
        resource,
        dicom,
    }
}

const SECURITY_ROLES: Option<(&str, &str)> = Some(("110113", "110136"));
const SECURITY_CONFIG: Option<(&str, &str)> = Some(("110113", "110129"));

const EXPECTED: [Expect; 9] = [
    // The auditor key and the officer key without a server, one more with it.
    expect("recall keys create", 3, "create", "ApiKey", SECURITY_ROLES),
    // One without a server, one with it.
    expect("recall keys revoke", 2, "revoke", "ApiKey", SECURITY_ROLES),
    expect(
        "recall keys rotate-kek",
        1,
        "update",
        "KeyEncryptionKey",
        SECURITY_CONFIG,
    ),
    expect(
        "recall keys rotate-signing",
        1,
        "update",
        "CheckpointSigningKey",
        SECURITY_CONFIG,
    ),
    expect(
        "recall keys rotate-signing --finish",
        1,
        "update",
        "CheckpointSigningKey",
        SECURITY_CONFIG,
    ),
    expect("recall reindex", 1, "update", "Index", None),
    expect("recall holds create", 1, "create", "LegalHold", None),
    expect("recall holds release", 1, "delete", "LegalHold", None),
    expect("recall retention run", 1, "delete", "AuditEvent", None),
];

#[test]
fn every_operator_action_is_recorded_as_the_uids_user() {
    let operator = format!("cli:{}", uid_name());
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    set_default_years(&data, 20);
    import_events(root.path(), &data);

    // Keys without a server: appended to the log directly.
    let (_, auditor_id, err) = create_key(&data, "auditor");
    assert!(!err.contains("running server"), "{err}");
    let revoked = recall_without_user_ok(&data, &["keys", "revoke", &auditor_id]);
    assert!(
        revoked.contains(&format!("revoked {auditor_id}")),
        "{revoked}"
    );
    assert!(!revoked.contains("running server"), "{revoked}");
    let (officer, _, _) = create_key(&data, "privacy_officer");

    // With a server holding the data directory: left in the outbox, appended by it.
    let server = Server::start(&data);
    let (_, served_id, err) = create_key(&data, "auditor");
    assert!(err.contains("running server records it"), "{err}");
    await_key_record(&server, &officer, &operator, "create", &served_id);
    let revoked = recall_without_user_ok(&data, &["keys", "revoke", &served_id]);
    assert!(revoked.contains("running server records it"), "{revoked}");
    await_key_record(&server, &officer, &operator, "revoke", &served_id);
    server.stop();

    // Acts that need the data directory to themselves.
    recall_without_user_ok(&data, &["keys", "rotate-kek"]);
    recall_without_user_ok(&data, &["keys", "rotate-signing"]);
    recall_without_user_ok(&data, &["keys", "rotate-signing", "--finish"]);
    recall_without_user_ok(&data, &["reindex"]);
    let made = recall_without_user_ok(
        &data,
        &[
            "holds",
            "create",
            "--tenant",
            T,
            "--patient",
            HELD,
            "--matter",
            "Case 7",
        ],
    );
    let hold: Value = serde_json::from_str(made.trim()).unwrap();
    let hold_id = hold["id"].as_str().unwrap();
    assert_eq!(hold["created_by"], operator.as_str());
    recall_without_user_ok(&data, &["holds", "release", "--tenant", T, hold_id]);
    set_default_years(&data, 6);
    let run = recall_without_user_ok(&data, &["retention", "run", "--tenant", T]);
    assert!(run.contains("shredded epochs 201605"), "{run}");

    let mine = officer_search(&data, T, &["--actor", &operator]);
    for want in &EXPECTED {
        let found: Vec<&Value> = mine
            .iter()
            .filter(|e| e["detail"]["endpoint"] == want.endpoint)
            .collect();
        assert_eq!(found.len(), want.count, "{}: {found:?}", want.endpoint);
        for e in found {
            let what = format!("{}: {e}", want.endpoint);
            assert_eq!(e["actor"]["id"], operator.as_str(), "{what}");
            assert_eq!(e["actor"]["type"], "user", "{what}");
            assert_eq!(e["source"]["system"], "recall-cli", "{what}");
            assert_eq!(e["action"], want.action, "{what}");
            assert_eq!(e["resource"]["type"], want.resource, "{what}");
            match want.dicom {
                Some((event, kind)) => {
                    assert_eq!(e["detail"]["dicom_event"], event, "{what}");
                    assert_eq!(e["detail"]["dicom_type"], kind, "{what}");
                }
                None => assert!(e["detail"].get("dicom_event").is_none(), "{what}"),
            }
        }
    }
    // The acts' own facts.
    let one = |endpoint: &str| {
        mine.iter()
            .find(|e| e["detail"]["endpoint"] == endpoint)
            .unwrap()
    };
    let revokes: Vec<&Value> = mine
        .iter()
        .filter(|e| e["detail"]["endpoint"] == "recall keys revoke")
        .collect();
    let revoked_ids: Vec<&Value> = revokes.iter().map(|e| &e["resource"]["id"]).collect();
    assert!(revoked_ids.contains(&&json!(auditor_id)), "{revokes:?}");
    assert!(revoked_ids.contains(&&json!(served_id)), "{revokes:?}");
    let kek = one("recall keys rotate-kek");
    assert_eq!(kek["outcome"], "success");
    assert_eq!(kek["detail"]["rotation"]["kek"]["failed"], false);
    let started = one("recall keys rotate-signing");
    assert_eq!(started["detail"]["rotation"]["signing"]["phase"], "started");
    let finished = one("recall keys rotate-signing --finish");
    assert_eq!(
        finished["detail"]["rotation"]["signing"]["phase"],
        "finished"
    );
    assert!(
        one("recall reindex")["detail"]["reindexed_events"]
            .as_u64()
            .unwrap()
            > 0
    );
    let placed = one("recall holds create");
    assert_eq!(placed["resource"]["id"], hold_id);
    assert_eq!(placed["patient"]["id"], HELD);
    assert_eq!(one("recall holds release")["resource"]["id"], hold_id);
    let retention = &one("recall retention run")["detail"]["retention"];
    assert_eq!(retention["shredded_epochs"], json!([201605]), "{retention}");

    recall_ok(&data, &["verify"]);
}
