//! The console's administration and patient pages end to end: a real `recall serve`, driven
//! in Debian's headless chromium by playwright-core (`tests/console/admin.mjs`). An
//! administrator creates and revokes an API key, creates, resets and disables console
//! users, places and releases a legal hold, reads the retention settings; a patient user
//! sees their own access report and its PDF and nothing else; every page at 1280×800 and
//! 768×1024, by keyboard, with axe-core. Then the log is checked: every change is there,
//! as the right actor, without a secret; `users.db` holds no TOTP secret or patient id.
//! Without chromium or the node packages the test skips, except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::console::{browser_tools, run_script, totp_of};
use common::server::{Server, create_key, json};
use common::{populated, recall, recall_ok};
use serde_json::Value;

const TENANT: &str = "st-marys";
const PASSWORD: &str = "synthetic-pass-0123";
const PATIENT: &str = "MRN-ADMIN-E2E-7";

/// `recall users create` of `role`: its standard output, or its standard error.
fn create_user(data: &Path, name: &str, role: &str) -> Result<String, String> {
    common::console::create_user(data, TENANT, name, role, PASSWORD, &[])
}

/// The tenant's events of resource type `kind`, read by an auditor with a justification.
fn records(server: &Server, auditor: &str, kind: &str) -> Vec<Value> {
    let page = json(server.get_justified(auditor, "/v1/events?limit=1000"));
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["type"] == kind)
        .cloned()
        .collect()
}

fn acts(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (s(&e["action"]), s(&e["actor"]["id"]))
        })
        .collect()
}

#[test]
fn administration_and_patient_pages_in_a_real_browser() {
    if !browser_tools(&[]) {
        eprintln!("skipped: chromium or the console test's node packages are missing");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 60, 23);
    // The CLI refuses a tenant without a log and a writer as a person; nothing is created.
    let bad = recall(
        &data,
        &[
            "users", "create", "x", "--tenant", "nowhere", "--role", "admin",
        ],
    );
    assert!(!bad.status.success());
    let writer_user = create_user(&data, "w", "writer").unwrap_err();
    assert!(writer_user.contains("role"), "{writer_user}");
    create_user(&data, "adm", "admin").unwrap();
    let aud = totp_of(&create_user(&data, "aud", "auditor").unwrap());
    let listed = recall_ok(&data, &["users", "list"]);
    assert!(
        !listed.contains("\nx\t") && !listed.contains("\nw\t"),
        "{listed}"
    );
    let auditor = create_key(&data, TENANT, "auditor");
    let writer = create_key(&data, TENANT, "writer");
    let server = Server::start(&data);
    for (i, who) in ["dr-synth-a", "dr-synth-b", "dr-synth-a"]
        .iter()
        .enumerate()
    {
        let e = serde_json::json!({
            "id": format!("admin-e2e-{i}"), "time": format!("2026-10-2{i}T10:00:00Z"),
            "actor": {"id": who, "role": "physician", "name": format!("Synthetic Doctor {who}")},
            "action": "read", "patient": {"id": PATIENT}, "purpose": "TREAT",
            "resource": {"type": "Observation", "id": format!("obs-{i}")},
        });
        let r = server.post(&writer, "/v1/events", "application/json", e.to_string());
        assert_eq!(r.status(), 201);
    }

    let env = [
        ("RECALL_URL", server.url.as_str()),
        ("PASSWORD", PASSWORD),
        ("AUD_TOTP", aud.as_str()),
        ("PATIENT", PATIENT),
    ];
    run_script("admin.mjs", &env, 13);

    // Every change is in the log, by the CLI's operator or the signed-in administrator.
    let users = records(&server, &auditor, "ConsoleUser");
    let by_admin = |action: &str| {
        acts(&users)
            .iter()
            .filter(|(a, who)| a == action && who == "user:adm")
            .count()
    };
    assert_eq!(by_admin("create"), 2, "pat and temp-auditor: {users:?}");
    assert_eq!(by_admin("reset_totp"), 1);
    assert_eq!(by_admin("disable"), 1);
    let cli = acts(&users)
        .iter()
        .filter(|(a, who)| a == "create" && who.starts_with("cli:"))
        .count();
    assert_eq!(cli, 2, "adm and aud were created by the CLI");
    let keys = acts(&records(&server, &auditor, "ApiKey"));
    assert!(
        keys.contains(&("create".into(), "user:adm".into())),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("revoke".into(), "user:adm".into())),
        "{keys:?}"
    );
    let holds = acts(&records(&server, &auditor, "LegalHold"));
    assert!(
        holds.contains(&("create".into(), "user:adm".into())),
        "{holds:?}"
    );
    assert!(
        holds.contains(&("delete".into(), "user:adm".into())),
        "{holds:?}"
    );
    let all = serde_json::to_string(&users).unwrap();
    assert!(!all.contains(PASSWORD) && !all.contains("secret=") && !all.contains("otpauth"));
    // The patient's report was recorded as a report by the patient user.
    let page = json(server.get_justified(&auditor, "/v1/events?actor=user:pat&limit=100"));
    let reports = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "report")
        .count();
    assert!(reports >= 2, "the page and its PDF: {reports}");
    server.stop();

    // users.db keeps no TOTP secret and no patient id in clear.
    let mut file = std::fs::read(data.join("users.db")).unwrap();
    file.extend(std::fs::read(data.join("users.db-wal")).unwrap_or_default());
    let secret = base32(
        aud.split("secret=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
    );
    assert_eq!(secret.len(), 20);
    for needle in [PATIENT.as_bytes(), &secret] {
        assert!(!file.windows(needle.len()).any(|w| w == needle));
    }
}

/// RFC 4648 base32 (no padding), as in an otpauth URI's secret.
fn base32(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut n, mut out) = (0u64, 0, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}
