//! The console end to end: a real `recall serve` on a fresh data directory with synthetic
//! data and two console users, driven in Debian's headless chromium by playwright-core
//! (`tests/console/console.mjs`): sign-in with password and TOTP, search, click-to-filter,
//! paging, the proof checked in the browser (and a tampered signature shown as failed),
//! CSV export, a break-glass review, CSRF refusal, idle expiry, logout, the engineer's
//! pseudonyms, axe-core on every page. Screenshots go to `<target>/console-artefacts/`.
//! Without chromium or the node packages the test skips, except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::console::{browser_tools, run_script, totp_of};
use common::server::{Server, create_key, json};
use common::{populated, recall_ok};

const TENANT: &str = "st-marys";
const PASSWORD: &str = "synthetic-pass-0123";
const IDLE_SECS: u64 = 6;

/// A console user of `role`; its TOTP URI.
fn create_user(data: &Path, name: &str, role: &str) -> String {
    let out = common::console::create_user(data, TENANT, name, role, PASSWORD, &[]);
    totp_of(&out.unwrap())
}

#[test]
fn the_console_in_a_real_browser() {
    if !browser_tools(&[]) {
        eprintln!("skipped: chromium or the console test's node packages are missing");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 400, 17);
    let cfg = data.join("recall.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("\n[console]\nidle_timeout_secs = {IDLE_SECS}\n"));
    std::fs::write(&cfg, text).unwrap();
    let po = create_user(&data, "po", "privacy_officer");
    let eng = create_user(&data, "eng", "engineer");
    let listed = recall_ok(&data, &["users", "list"]);
    assert!(listed.contains("po\tst-marys\tprivacy_officer\ttrue\tfalse"));
    let auditor = create_key(&data, TENANT, "auditor");
    let writer = create_key(&data, TENANT, "writer");
    let server = Server::start(&data);
    // One break-glass access to review (the synthetic hospital breaks the glass rarely).
    let glass = serde_json::json!({
        "id": "console-e2e-glass-1", "time": "2026-10-30T03:00:00Z",
        "actor": {"id": "u-er-1", "role": "physician"}, "action": "read",
        "patient": {"id": "MRN-E2E-1"}, "purpose": "ETREAT",
        "reason": "synthetic emergency", "resource": {"type": "Observation", "id": "obs-1"},
    });
    let r = server.post(&writer, "/v1/events", "application/json", glass.to_string());
    assert_eq!(r.status(), 201);

    let idle = IDLE_SECS.to_string();
    let env = [
        ("RECALL_URL", server.url.as_str()),
        ("PASSWORD", PASSWORD),
        ("PO_TOTP", po.as_str()),
        ("ENG_TOTP", eng.as_str()),
        ("IDLE_SECS", idle.as_str()),
    ];
    run_script("console.mjs", &env, 14);

    // Sign-ins, the refused one, and sign-outs are in the log, without secrets.
    let page = json(server.get_justified(&auditor, "/v1/events?actor=user:po&limit=1000"));
    let sessions: Vec<&serde_json::Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["type"] == "ConsoleSession")
        .collect();
    let count = |action: &str, outcome: &str| {
        sessions
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(count("login", "success"), 2);
    assert_eq!(count("login", "failure"), 1);
    assert_eq!(count("logout", "success"), 1);
    let all = serde_json::to_string(&sessions).unwrap();
    assert!(!all.contains(PASSWORD) && !all.contains("secret="));
    // Every search page the console showed was recorded like an API search: one record
    // for its events and facet counts together, none for the counts alone.
    let searches = |endpoint: &str| {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "search" && e["detail"]["endpoint"] == endpoint)
            .count()
    };
    let pages = searches("GET /v1/events with facets");
    assert!(pages >= 8, "{pages} console searches recorded");
    assert_eq!(searches("GET /v1/events/facets"), 0);
    server.stop();
}
