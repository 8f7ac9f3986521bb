//! The PDF reports over real HTTP and through the CLI, checked by third-party readers
//! (qpdf's structural check, poppler's `pdftotext` and `pdfinfo`): the rows of the
//! synthetic history the oracle expects, names only as the reader's lens allows
//! (engineer: pseudonyms; patient credential: only its own patient), and the digest on
//! the evidence page equal to the one in the report's self-audit event and to the SHA-256
//! of the JSON report read again at the same tree size.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::server::{Server, json, patient_key};
use common::synth::{self, Sent};
use jiff::Timestamp;
use recall_testkit::pdf;
use serde_json::{Value, json};

const TENANT: &str = "st-pdf";

/// The PDF's text (`pdftotext`, after `qpdf --check` passed on it) with runs of white
/// space as one space (cells wrap); its title names a report.
fn checked_text(dir: &Path, name: &str, pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let path = dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    if let Ok(keep) = std::env::var("RECALL_PDF_KEEP") {
        std::fs::write(Path::new(&keep).join(name), pdf).unwrap();
    }
    let info = pdf::tool_output("pdfinfo", &path);
    let title = info.lines().find(|l| l.starts_with("Title:")).unwrap_or("");
    assert!(
        title.contains("Access") || title.contains("Activity"),
        "{info}"
    );
    let text = pdf::checked_text(&path);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 64-hex digest printed after "SHA-256" on the evidence page.
fn digest_in(text: &str) -> String {
    let after = &text[text.find("SHA-256").expect("an evidence page")..];
    after
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("a digest")
        .to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn get(
    server: &Server,
    key: &str,
    path: &str,
    accept: Option<&str>,
) -> reqwest::blocking::Response {
    let mut b = server
        .http
        .get(format!("{}{path}", server.url))
        .bearer_auth(key);
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    b.send().unwrap()
}

/// The newest report self-audit event.
fn last_report_audit(server: &Server, officer: &str) -> Value {
    let r = server.get_justified(officer, "/v1/events?action=report&order=desc&limit=1");
    json(r)["events"][0].clone()
}

/// Synthetic events, every actor with a synthetic name.
fn history() -> Vec<Value> {
    let mut events = synth::events(1_200, 91, "pdf");
    for e in &mut events {
        let id = e["actor"]["id"].as_str().unwrap().to_string();
        e["actor"]["name"] = json!(format!("Dr Synthetic {id}"));
    }
    events
}

#[test]
fn pdf_reports_hold_the_rows_the_lens_allows_and_a_checkable_digest() {
    if !pdf::pdf_tools() {
        return;
    }
    let (tmp, data, keys) = synth::data_with_keys(&[
        (TENANT, "writer"),
        (TENANT, "auditor"),
        (TENANT, "engineer"),
        (TENANT, "privacy_officer"),
    ]);
    let [writer, auditor, engineer, officer] = keys.try_into().unwrap();
    let patient = "MRN-00000";
    let patient_cred = patient_key(&data, TENANT, patient);
    let server = Server::start(&data);
    let sent = synth::ingest(&server, &writer, TENANT, &history(), 5);
    let mine: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.get("/patient/id") == Some(patient))
        .collect();
    assert!(
        mine.len() > 40,
        "the heavy tail gives MRN-00000 many events"
    );

    // Auditor: every row, actor names, and the digest that the audit event holds.
    let path = format!("/v1/reports/patient-access?patient={patient}&format=pdf");
    let r = get(&server, &auditor, &path, None);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().unwrap();
    let text = checked_text(tmp.path(), "auditor.pdf", &pdf);
    assert!(text.contains(&format!("{} in total", mine.len())), "{text}");
    for s in &mine {
        assert!(text.contains(&when(s.time)), "row at {} missing", s.time);
        assert!(text.contains(s.get("/actor/name").unwrap()));
    }
    assert!(text.contains("emergency (break-glass) treatment (ETREAT)"));
    let digest = digest_in(&text);
    let audit = last_report_audit(&server, &officer);
    assert_eq!(audit["patient"]["id"], patient);
    assert_eq!(audit["detail"]["query"]["sha256"], digest);
    let n = audit["detail"]["query"]["tree_size"].as_u64().unwrap();
    assert!(
        n > sent.last().unwrap().seq,
        "read at a checkpoint covering the history"
    );
    assert!(text.contains(&format!("Tree size {n}")), "{text}");
    // The checkpoint on the evidence page is the log's, at that size.
    let origin = common::origin_prefix(&data);
    assert!(text.contains(&origin), "checkpoint origin missing");
    // Re-check: the JSON report at that tree size hashes to the digest (same role).
    let again = get(
        &server,
        &auditor,
        &format!("/v1/reports/patient-access?patient={patient}&format=json&tree_size={n}"),
        None,
    );
    assert_eq!(again.status(), 200);
    assert_eq!(sha256_hex(&again.bytes().unwrap()), digest);

    // Accept: application/pdf gives the same kind of document.
    let r = get(
        &server,
        &auditor,
        &format!("/v1/reports/patient-access?patient={patient}"),
        Some("application/pdf"),
    );
    assert_eq!(r.headers()["content-type"], "application/pdf");
    checked_text(tmp.path(), "accept.pdf", &r.bytes().unwrap());

    // Engineer: pseudonyms only, no names, no clear patient id.
    let seen = json(server.get(&engineer, "/v1/events?limit=50"));
    let with_patient = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["patient"]["id"].is_string())
        .unwrap()
        .clone();
    let psn = with_patient["patient"]["id"].as_str().unwrap();
    assert!(psn.starts_with("psn_"));
    let actor_psn = with_patient["actor"]["id"].as_str().unwrap();
    for (name, path) in [
        (
            "eng-patient.pdf",
            format!("/v1/reports/patient-access?patient={psn}&format=pdf"),
        ),
        (
            "eng-actor.pdf",
            format!("/v1/reports/actor-activity?actor={actor_psn}&format=pdf"),
        ),
    ] {
        let r = get(&server, &engineer, &path, None);
        assert_eq!(r.status(), 200, "{path}");
        let text = checked_text(tmp.path(), name, &r.bytes().unwrap());
        assert!(text.contains("psn_"), "{name}");
        assert!(
            !text.contains("Dr Synthetic"),
            "{name} shows a name to an engineer"
        );
        assert!(
            !text.contains("MRN-"),
            "{name} shows a patient id to an engineer"
        );
        assert_eq!(
            last_report_audit(&server, &officer)["detail"]["query"]["sha256"],
            digest_in(&text)
        );
    }

    // Patient credential: its own record, names as the policy allows; nobody else's.
    let r = get(&server, &patient_cred, &path, None);
    assert_eq!(r.status(), 200);
    let text = checked_text(tmp.path(), "patient.pdf", &r.bytes().unwrap());
    assert!(text.contains(patient));
    assert!(text.contains(mine[0].get("/actor/name").unwrap()));
    for refused in [
        "/v1/reports/patient-access?patient=MRN-00001&format=pdf",
        "/v1/reports/actor-activity?actor=u-001&format=pdf",
    ] {
        assert_eq!(get(&server, &patient_cred, refused, None).status(), 403);
    }

    // Bad input: a problem naming the field.
    for (q, field) in [
        (format!("patient={patient}&format=xml"), "format"),
        (
            format!("patient={patient}&format=pdf&tree_size=3"),
            "tree_size",
        ),
        (
            format!("patient={patient}&format=json&tree_size=999999999"),
            "tree_size",
        ),
    ] {
        let r = get(
            &server,
            &auditor,
            &format!("/v1/reports/patient-access?{q}"),
            None,
        );
        assert_eq!(r.status(), 400, "{q}");
        assert_eq!(json(r)["field"], field, "{q}");
    }
    server.stop();

    // The CLI: the same document, its digest on standard error and re-checkable.
    let report = [
        "report",
        "patient-access",
        "--tenant",
        TENANT,
        "--patient",
        patient,
    ];
    let out = common::recall(&data, &[&report[..], &["--format", "pdf"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    let (sha, size) = err
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("sha256 ")?;
            let (sha, size) = rest.split_once(" at tree size ")?;
            Some((sha.to_string(), size.trim().to_string()))
        })
        .expect("the digest on stderr");
    let text = checked_text(tmp.path(), "cli.pdf", &out.stdout);
    assert_eq!(digest_in(&text), sha);
    let again = [&report[..], &["--tree-size", &size]].concat();
    let json_again = common::recall_ok(&data, &again);
    assert_eq!(sha256_hex(json_again.as_bytes()), sha);
}
