//! Memory soak (issue 15): a privacy officer's reading — 50,000 searches over distinct
//! patients and 1,000 patient-access reports, over HTTP on loopback — against a tenant
//! written in 20-event batches must keep the server's peak RSS (`VmHWM`) under its
//! configured budgets plus a fixed allowance (`recall::serve::memory_budget_mb`, the
//! formula of docs/design/service.md). Every search and report also appends its own
//! one-event audit record, so this is the write path of reading too.
//!
//! In the normal suite: about a minute on a 2-core machine (debug build), 45 s of it
//! the 51,000 requests (docs/design/service.md, "Memory").
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::recall_ok;
use common::server::{Server, create_key};
use serde_json::json;

const TENANT: &str = "soak-hospital";
/// The read cache under test (`server.cache_mb`).
const CACHE_MB: u64 = 64;
/// The documented bound on the server's memory (docs/design/service.md, "Memory"):
/// `server.cache_mb` + `[index]` budgets (defaults here) + the fixed allowance, all read
/// from the code.
fn budget_mb() -> u64 {
    recall::serve::memory_budget_mb(CACHE_MB as usize, &recall_query::IndexMemory::default())
}
const PATIENTS: u64 = 50_000;
/// Two events per patient, in different batches.
const EVENTS: u64 = 2 * PATIENTS;
const SEARCHES: u64 = 50_000;
const REPORTS: u64 = 1_000;
const CLIENTS: usize = 4;
/// Every `EVERY`th request is a report.
const EVERY: u64 = (SEARCHES + REPORTS) / REPORTS;

/// Synthetic events (fake `MRN-` patients, `u-` actors): event `i` is about patient
/// `i * 7919 mod PATIENTS`, so a patient's two events lie in far-apart batches.
fn events_ndjson() -> String {
    let base: jiff::Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
    let mut out = String::with_capacity(EVENTS as usize * 300);
    for i in 0..EVENTS {
        let time = base + jiff::SignedDuration::from_secs(i as i64 * 30);
        let e = json!({
            "id": format!("soak-{i}"),
            "time": time.to_string(),
            "actor": {"id": format!("u-{:04}", i % 700), "role": "nurse"},
            "action": "read",
            "resource": {"type": "Observation", "id": format!("obs-{i}")},
            "patient": {"id": patient(i * 7919 % PATIENTS)},
            "purpose": "TREAT",
            "source": {"ip": "10.1.0.7", "system": "ehr-prod", "device": format!("ws-{}", i % 90)},
        });
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out
}

fn patient(k: u64) -> String {
    format!("MRN-{k:06}")
}

/// `VmRSS` and `VmHWM` of a process, MiB.
fn rss_mb(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap()
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn reading_many_patients_keeps_rss_within_the_configured_budgets_and_a_fixed_allowance() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let input = tmp.path().join("events.ndjson");
    fs::write(&input, events_ndjson()).unwrap();
    recall_ok(
        &data,
        &[
            "import",
            "--tenant",
            TENANT,
            "--batch-events",
            "20",
            input.to_str().unwrap(),
        ],
    );
    fs::remove_file(&input).unwrap();
    let officer = create_key(&data, TENANT, "privacy_officer");
    let cache = CACHE_MB.to_string();
    let server = Server::start_with(&data, &[("RECALL_SERVER_CACHE_MB", &cache)]);
    let pid = server.child.id();
    let (start_rss, _) = rss_mb(pid);

    let next = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let hits = AtomicUsize::new(0);
    let peak_rss = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        // RSS now and then, with progress, for the record of a run.
        s.spawn(|| {
            let mut last = 0;
            while !done.load(Ordering::Acquire) {
                let (rss, _) = rss_mb(pid);
                peak_rss.fetch_max(rss, Ordering::AcqRel);
                let n = next.load(Ordering::Acquire);
                if n >= last + 5_000 {
                    eprintln!(
                        "{n:>6} requests, {:>4} s: RSS {rss} MiB",
                        started.elapsed().as_secs()
                    );
                    last = n;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                s.spawn(|| {
                    let http = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap();
                    loop {
                        let i = next.fetch_add(1, Ordering::AcqRel);
                        // Past the bound already: no need to read on.
                        if i >= SEARCHES + REPORTS || peak_rss.load(Ordering::Acquire) > budget_mb()
                        {
                            return;
                        }
                        // Request i is report i / EVERY (of patients searched earlier,
                        // whose own search records they include) or search i - i / EVERY.
                        let path = if i % EVERY == EVERY - 1 {
                            let p = patient(i / EVERY * 37 % PATIENTS);
                            format!("/v1/reports/patient-access?patient={p}")
                        } else {
                            let p = patient(i - i / EVERY);
                            format!("/v1/events?patient={p}&limit=10")
                        };
                        let r = http
                            .get(format!("{}{path}", server.url))
                            .bearer_auth(&officer)
                            .send()
                            .unwrap();
                        assert_eq!(r.status(), 200, "{path}");
                        let body = r.text().unwrap();
                        if body.contains("\"MRN-") {
                            hits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        done.store(true, Ordering::Release);
    });
    let (end_rss, hwm) = rss_mb(pid);
    let peak = hwm.max(peak_rss.load(Ordering::Acquire));
    let requests = next.load(Ordering::Acquire).min(SEARCHES + REPORTS);
    eprintln!(
        "{requests} requests in {} s; RSS at start {start_rss} MiB, at the end {end_rss} MiB, \
         peak {peak} MiB",
        started.elapsed().as_secs()
    );
    let budget = budget_mb();
    assert!(
        peak <= budget,
        "peak RSS {peak} MiB (after {requests} requests) is beyond the budget ({budget} MiB: \
         cache {CACHE_MB} MiB, the index's defaults and the fixed allowance)"
    );
    // Every search and report found its patient's events: the blocks were read.
    assert_eq!(hits.load(Ordering::Relaxed) as u64, SEARCHES + REPORTS);
    server.stop();
}
