//! The console end to end: a real `recall serve` on a fresh data directory with synthetic
//! data and two console users, driven in Debian's headless chromium by playwright-core
//! (`tests/console/console.mjs`): sign-in with password and TOTP, search, click-to-filter,
//! paging, the proof checked in the browser (and a tampered signature shown as failed),
//! CSV export, a break-glass review, CSRF refusal, idle expiry, logout, the engineer's
//! pseudonyms, axe-core on every page. Screenshots go to `<target>/console-artefacts/`.
//! Without chromium or the node packages the test skips, except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::server::{Server, create_key, json};
use common::{browser_tools, console_dir, populated, recall_ok};

const TENANT: &str = "st-marys";
const PASSWORD: &str = "synthetic-pass-0123";
const IDLE_SECS: u64 = 6;

/// `recall users create NAME …` with the password on standard input; the TOTP URI.
fn create_user(data: &Path, name: &str, role: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(common::recall_bin())
        .arg("--data")
        .arg(data)
        .args(["users", "create", name, "--tenant", TENANT, "--role", role])
        .env_remove("RECALL_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let uri = text
        .lines()
        .find_map(|l| l.strip_prefix("totp: "))
        .expect("a PHI role gets a TOTP secret");
    assert!(uri.starts_with("otpauth://totp/"));
    uri.to_owned()
}

fn artefacts() -> PathBuf {
    // target/<profile>/deps/console_e2e-… → target/console-artefacts
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("console-artefacts")
}

#[test]
fn the_console_in_a_real_browser() {
    if !browser_tools() {
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

    let out = Command::new("node")
        .arg(console_dir().join("console.mjs"))
        .current_dir(console_dir())
        .env("RECALL_URL", &server.url)
        .env("PASSWORD", PASSWORD)
        .env("PO_TOTP", &po)
        .env("ENG_TOTP", &eng)
        .env("IDLE_SECS", IDLE_SECS.to_string())
        .env("ARTEFACTS", artefacts())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("14 passed, 0 failed"), "{stdout}");

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
    // Every search page the console showed was recorded like an API search.
    let searches = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "search" && e["detail"]["endpoint"] == "GET /v1/events")
        .count();
    assert!(searches >= 8, "{searches} console searches recorded");
    server.stop();
}
