//! A full disk, over real HTTP: the data directory lives on an 8 MiB tmpfs with a filler
//! file in it; ingest runs until the store refuses. Refusals are 507 problems with
//! `Retry-After`; `/readyz` says not ready while client writes fail; searches keep
//! answering; a refused request recorded nothing. Deleting the filler makes space
//! return: without a restart `/readyz` is ready again and ingest (including the refused
//! requests, sent again) succeeds; every acknowledged event is found and `recall verify`
//! passes. Needs root for `mount`: skipped otherwise, except under CI=true where it fails.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use recall_testkit::Tmpfs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::server::{Server, create_key};
use common::synth::is_self_audit;
use common::{poll, recall_ok};
use reqwest::blocking::Response;
use serde_json::json;

const NDJSON: &str = "application/x-ndjson";
const TENANT: &str = "full-ward";
/// Events per request; each request names one patient of its own.
const PER_REQUEST: usize = 200;
/// Bytes of the filler file deleted to make space return.
const FILLER: usize = 3 << 20;

fn patient(request: usize) -> String {
    format!("MRN-DF-{request:05}")
}

/// Request `r`'s events: ids `df-r-i`, one patient per request.
fn body(request: usize) -> String {
    let mut out = String::new();
    for i in 0..PER_REQUEST {
        let e = json!({
            "id": format!("df-{request}-{i}"),
            "time": "2026-03-04T15:02:11Z",
            "actor": {"id": format!("u-{}", i % 17), "role": "nurse"},
            "action": "read",
            "patient": {"id": patient(request)},
            "resource": {"type": "Observation", "id": format!("obs-{request}-{i}")},
            "purpose": "TREAT",
            "source": {"ip": "10.1.2.3", "system": "ehr-test"},
        });
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out
}

fn post(server: &Server, key: &str, request: usize) -> Response {
    server.post(key, "/v1/events", NDJSON, body(request))
}

/// Client events a search on the request's patient finds (one page holds them all; the
/// searches' own audit records name the patient too and are left out).
fn found(server: &Server, key: &str, request: usize) -> usize {
    let r = server.get(
        key,
        &format!("/v1/events?patient={}&limit=1000", patient(request)),
    );
    let status = r.status();
    let body = r.text().unwrap();
    assert_eq!(status, 200, "search for request {request}: {body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = body["events"].as_array().unwrap();
    events.iter().filter(|e| !is_self_audit(e)).count()
}

fn ready(server: &Server) -> u16 {
    server.get("", "/readyz").status().as_u16()
}

/// A refusal for lack of space: 507, a problem, `Retry-After`.
fn assert_refusal(r: Response, request: usize) {
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").cloned();
    let ct = r.headers().get("content-type").cloned();
    let text = r.text().unwrap();
    assert_eq!(status, 507, "request {request}: {text}");
    assert!(retry.is_some(), "request {request}: no Retry-After");
    assert_eq!(
        ct.unwrap().to_str().unwrap(),
        "application/problem+json",
        "request {request}"
    );
    let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(problem["status"], 507, "{problem}");
    assert!(!text.contains(&patient(request)), "the answer echoes input");
}

fn statfs_free(dir: &Path) -> String {
    let out = Command::new("df").arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_full_disk_refuses_cleanly_keeps_reads_and_recovers_without_restart() {
    let Some(fs) = Tmpfs::mount("8m") else { return };
    let data = fs.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, TENANT, "writer");
    let auditor = create_key(&data, TENANT, "auditor");
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![0x5a; FILLER]).unwrap();
    let server = Server::start(&data);

    // Fill the disk by ingest: the default segment size (64 MiB) on an 8 MiB disk.
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for request in 0..400 {
        let r = post(&server, &writer, request);
        if r.status().is_success() {
            acked.push(request);
            continue;
        }
        assert_refusal(r, request);
        refused.push(request);
        if refused.len() == 3 {
            break;
        }
    }
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged: {}",
        statfs_free(fs.path())
    );
    assert_eq!(
        refused.len(),
        3,
        "the disk never filled: {}",
        statfs_free(fs.path())
    );
    eprintln!(
        "{} requests of {PER_REQUEST} events acknowledged before the disk filled:\n{}",
        acked.len(),
        statfs_free(fs.path())
    );

    // While full: not ready, refusals go on, reads answer and see every acknowledged
    // event, and nothing of a refused request.
    assert_eq!(ready(&server), 503, "/readyz while the disk is full");
    assert_refusal(post(&server, &writer, refused[0]), refused[0]);
    for &request in acked.iter().rev().take(3) {
        assert_eq!(
            found(&server, &auditor, request),
            PER_REQUEST,
            "request {request}"
        );
    }
    for &request in &refused {
        assert_eq!(
            found(&server, &auditor, request),
            0,
            "refused request {request}"
        );
    }

    // Space returns: ready again and ingest works, without a restart.
    std::fs::remove_file(&filler).unwrap();
    poll(
        "/readyz after space returned",
        Duration::from_secs(30),
        || (ready(&server) == 200).then_some(()),
    );
    for &request in &refused {
        let r = post(&server, &writer, request);
        assert_eq!(
            r.status(),
            201,
            "request {request} sent again: {}",
            r.text().unwrap()
        );
        assert_eq!(
            found(&server, &auditor, request),
            PER_REQUEST,
            "request {request}"
        );
    }
    for &request in &acked {
        assert_eq!(
            found(&server, &auditor, request),
            PER_REQUEST,
            "request {request}"
        );
    }
    server.stop();
    recall_ok(&data, &["verify"]);
}
