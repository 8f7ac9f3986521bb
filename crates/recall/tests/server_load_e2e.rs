//! Overload and metrics over real HTTP. With a tiny ingest queue and many concurrent
//! posters every answer is a 201 with receipts or a 429/503 with Retry-After, every event
//! with a receipt is searchable afterwards and none that was refused (and not resent) is.
//! `/metrics` reports ingest counts, latency histograms, batch sizes, queue depth and
//! store sizes, with route templates as labels and no identifiers anywhere.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use common::server::{Server, json, own_records_before};
use common::synth::{self, NDJSON, Q, Rng};
use serde_json::{Value, json};

const TENANT: &str = "county-hospital";

fn overload_event(thread: u64, round: u64, k: u64) -> Value {
    json!({
        "id": format!("ovl-{thread}-{round}-{k}"),
        "time": format!("2026-08-{:02}T10:{:02}:{:02}Z", 1 + thread, round % 60, k % 60),
        "actor": {"id": format!("u-{thread:03}")},
        "action": "read",
        "patient": {"id": format!("MRN-{:05}", round * 100 + k)},
    })
}

/// What the posters learned: receipts per event id, and ids refused for good.
#[derive(Default)]
struct Outcomes {
    accepted: HashMap<String, u64>,
    refused: Vec<String>,
    refusals: usize,
}

/// Posts one batch; on 429/503 checks Retry-After and, when `resend`, waits that long
/// and tries again. Returns the receipts' seqs, or `None` when refused and not resent.
fn post_batch(
    server: &Server,
    writer: &str,
    batch: &[Value],
    resend: bool,
    refusals: &mut usize,
) -> Option<Vec<u64>> {
    for _ in 0..200 {
        let r = server.post(writer, "/v1/events", NDJSON, synth::ndjson(batch));
        match r.status().as_u16() {
            201 => {
                let receipts = json(r)["receipts"].as_array().unwrap().clone();
                assert_eq!(receipts.len(), batch.len());
                return Some(
                    receipts
                        .iter()
                        .map(|r| r["seq"].as_u64().unwrap())
                        .collect(),
                );
            }
            429 | 503 => {
                *refusals += 1;
                let retry = r
                    .headers()
                    .get("retry-after")
                    .expect("Retry-After on 429/503");
                let secs: u64 = retry.to_str().unwrap().parse().unwrap();
                assert_eq!(r.headers()["content-type"], "application/problem+json");
                if !resend {
                    return None;
                }
                std::thread::sleep(Duration::from_secs(secs));
            }
            // 200 would mean the refused attempt had been appended after all.
            other => panic!("unexpected {other}: {}", r.text().unwrap()),
        }
    }
    panic!("never accepted");
}

#[test]
fn overload_answers_retry_after_and_every_receipt_is_searchable() {
    let (_tmp, data, keys) = synth::data_with_keys(&[(TENANT, "writer"), (TENANT, "auditor")]);
    let [writer, auditor] = keys.try_into().unwrap();
    let server = Server::start_with(
        &data,
        &[
            ("RECALL_SERVER_QUEUE_EVENTS", "40"),
            ("RECALL_SERVER_MAX_BATCH_EVENTS", "40"),
        ],
    );
    let outcomes = Mutex::new(Outcomes::default());
    std::thread::scope(|s| {
        for thread in 0..8u64 {
            let (server, writer, outcomes) = (&server, &writer, &outcomes);
            s.spawn(move || {
                let mut rng = Rng(thread);
                // Even threads resend what was refused, odd ones give up on it.
                let resend = thread % 2 == 0;
                for round in 0..25 {
                    // Two waiting batches of 21–40 events always overflow the queue of 40.
                    let n = 21 + rng.below(20);
                    let batch: Vec<Value> =
                        (0..n).map(|k| overload_event(thread, round, k)).collect();
                    let mut refusals = 0;
                    let seqs = post_batch(server, writer, &batch, resend, &mut refusals);
                    let mut o = outcomes.lock().unwrap();
                    o.refusals += refusals;
                    let ids = batch.iter().map(|e| e["id"].as_str().unwrap().to_string());
                    match seqs {
                        Some(seqs) => o.accepted.extend(ids.zip(seqs)),
                        None => o.refused.extend(ids),
                    }
                }
            });
        }
    });
    let o = outcomes.into_inner().unwrap();
    assert!(
        o.refusals > 0,
        "the queue of 40 never overflowed: the test proved nothing"
    );
    assert!(!o.accepted.is_empty());

    // Everything with a receipt is in the log at its seq, exactly once; nothing refused is.
    let before_audits = Q {
        to: Some("2026-11-01T00:00:00Z".parse().unwrap()),
        ..Q::default()
    };
    let found = synth::search_all(&server, &auditor, TENANT, &before_audits, false, 1000);
    let mut by_id: HashMap<String, u64> = HashMap::new();
    for e in &found {
        let id = e["id"].as_str().unwrap().to_string();
        assert!(
            by_id.insert(id, e["seq"].as_u64().unwrap()).is_none(),
            "appended twice"
        );
    }
    assert_eq!(by_id, o.accepted);
    for id in &o.refused {
        assert!(!by_id.contains_key(id), "{id} was refused but appended");
    }
    server.stop();
}

/// The value of a sample with exactly these labels (`""` for none), if present.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
}

#[test]
fn metrics_report_ingest_latency_batches_queue_and_store_without_identifiers() {
    let tenants = ["metrics-north", "metrics-south"];
    let (_tmp, data, keys) = synth::data_with_keys(&[
        (tenants[0], "writer"),
        (tenants[1], "writer"),
        (tenants[0], "auditor"),
        (tenants[1], "auditor"),
    ]);
    let (writers, auditors) = keys.split_at(2);
    let server = Server::start(&data);
    let mut sent = Vec::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let events = synth::events(400, 60 + i as u64, tenant);
        sent.extend(synth::ingest(
            &server,
            &writers[i],
            tenant,
            &events,
            i as u64,
        ));
    }
    // Audited reads: searches, an event read, a report; and a path full of identifiers.
    let mut audited = 0;
    for s in sent.iter().step_by(50) {
        let key = &auditors[tenants.iter().position(|t| *t == s.tenant).unwrap()];
        let patient = s.get("/patient/id").unwrap_or("MRN-00002").to_string();
        assert_eq!(
            synth::search(&server, key, &[("patient", patient.clone())]).status(),
            200
        );
        assert_eq!(
            server
                .get(key, &format!("/v1/events/{}/{}", s.tenant, s.seq))
                .status(),
            200
        );
        let r = server.get(
            key,
            &format!("/v1/reports/patient-access?patient={patient}"),
        );
        assert_eq!(r.status(), 200);
        r.bytes().unwrap();
        audited += 3;
    }
    assert_eq!(
        server
            .get(&auditors[0], "/v1/nothing/MRN-00001/u-001")
            .status(),
        404
    );
    // Before the first batch each log held recall's own records: the keys the CLI created
    // (written to the log directly) and the server's start record (through its ingest).
    // Reading them is audited too.
    let (mut own, mut own_ingested) = (0, 0);
    for (tenant, key) in tenants.iter().zip(auditors) {
        let base = sent.iter().find(|s| s.tenant == *tenant).unwrap().seq;
        for r in own_records_before(&server, key, tenant, base) {
            own += 1;
            if r["event"]["source"]["system"] == "recall" {
                own_ingested += 1;
            }
            audited += 1;
        }
    }

    let r = server.get("", "/metrics");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().unwrap();
    let total = (sent.len() + audited + own_ingested) as f64;
    // Ingest counts include the self-audit events and the start records; store sizes are
    // whole-log, with the keys' records too.
    assert_eq!(
        sample(&text, "recall_ingest_events_total", ""),
        Some(total),
        "{text}"
    );
    assert_eq!(
        sample(&text, "recall_log_events", ""),
        Some((sent.len() + audited + own) as f64),
        "{text}"
    );
    assert_eq!(sample(&text, "recall_tenants", ""), Some(2.0));
    assert!(
        sample(&text, "recall_store_bytes", "").unwrap() > 0.0,
        "{text}"
    );
    assert_eq!(sample(&text, "recall_ingest_queue_events", ""), Some(0.0));
    // Batch sizes: one observation per POST and per audit record, in events.
    let posts = sample(&text, "recall_ingest_request_events_count", "").unwrap();
    assert!(posts >= 4.0, "{text}");
    assert_eq!(
        sample(&text, "recall_ingest_request_events_sum", ""),
        Some(sent.len() as f64)
    );
    assert!(sample(&text, "recall_ingest_group_events_sum", "").unwrap() >= total);
    assert!(sample(&text, "recall_commit_seconds_count", "").unwrap() >= 1.0);
    // Latency per route template and status.
    for (method, route, status) in [
        ("POST", "/v1/events", "201"),
        ("GET", "/v1/events", "200"),
        ("GET", "/v1/events/{tenant}/{seq}", "200"),
        ("GET", "/v1/reports/patient-access", "200"),
    ] {
        let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
        let count = sample(&text, "recall_http_request_seconds_count", &labels);
        assert!(count.is_some_and(|c| c >= 1.0), "{labels}:\n{text}");
        assert!(text.contains(&format!(
            "recall_http_request_seconds_bucket{{{labels},le=\"0.005\"}}"
        )));
    }

    // No identifiers: no patient, actor, tenant, key or client address in any line, and
    // labels only name methods, route templates, statuses and buckets.
    let mut forbidden: Vec<String> = vec![
        "MRN-".into(),
        "u-0".into(),
        "key:".into(),
        "127.0.0.1".into(),
    ];
    forbidden.extend(tenants.iter().map(|t| t.to_string()));
    forbidden.extend(synth::IPS.iter().map(|ip| ip.to_string()));
    for line in text.lines() {
        for f in &forbidden {
            assert!(!line.contains(f.as_str()), "{f} in metrics: {line}");
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some((_, labels)) = line.split_once('{') {
            let labels = labels.rsplit_once('}').unwrap().0;
            for pair in labels.split(',') {
                let (k, v) = pair.split_once('=').unwrap();
                assert!(
                    ["method", "route", "status", "le", "quantile"].contains(&k),
                    "{line}"
                );
                if k == "route" {
                    let v = v.trim_matches('"');
                    assert!(v == "unmatched" || v.starts_with('/'), "{line}");
                }
            }
        }
    }
    server.stop();
}
