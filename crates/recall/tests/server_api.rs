//! End to end over real HTTP on loopback: ingest, idempotent replay (also across a
//! restart), search that sees every acknowledged event, event reads with inclusion
//! proofs, refusals that change nothing, and the self-audit events.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::server::{Server, create_key, json, own_records_before};
use common::{data_verifier, open_checkpoint, recall_ok};
use serde_json::{Value, json};

const NDJSON: &str = "application/x-ndjson";

fn event(i: u32, patient: &str) -> Value {
    json!({
        "id": format!("e2e-{i}"),
        "time": format!("2026-03-04T15:{:02}:{:02}Z", i / 60 % 60, i % 60),
        "actor": {"id": format!("u-{}", i % 3), "role": "nurse"},
        "action": if i.is_multiple_of(2) { "read" } else { "update" },
        "patient": {"id": patient},
        "resource": {"type": "Observation", "id": format!("obs-{i}")},
    })
}

fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, "st-marys", "writer");
    let auditor = create_key(&data, "st-marys", "auditor");
    (tmp, data, writer, auditor)
}

#[test]
fn ingest_then_replay_gives_the_same_receipts_also_after_a_restart() {
    let (_tmp, data, writer, auditor) = setup();
    let server = Server::start(&data);
    let batch: Vec<Value> = (0..5).map(|i| event(i, "MRN-1")).collect();
    let r = server.post(&writer, "/v1/events", NDJSON, lines(&batch));
    assert_eq!(r.status(), 201);
    let first = json(r)["receipts"].clone();
    let seqs: Vec<u64> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    // The log already holds recall's own records (the keys created, recording started):
    // the batch follows them, in input order.
    let base = seqs[0];
    assert_eq!(
        seqs,
        (base..base + 5).collect::<Vec<_>>(),
        "receipts in input order"
    );
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tenant"] == "st-marys")
    );

    // Same events again, as a JSON array: nothing appended, original receipts.
    let r = server.post(
        &writer,
        "/v1/events",
        "application/json",
        Value::Array(batch.clone()).to_string(),
    );
    assert_eq!(r.status(), 200);
    let again = json(r)["receipts"].clone();
    for (a, b) in first
        .as_array()
        .unwrap()
        .iter()
        .zip(again.as_array().unwrap())
    {
        assert_eq!(a["seq"], b["seq"]);
        assert_eq!(a["leaf_hash"], b["leaf_hash"]);
        assert_eq!(b["replayed"], true);
    }
    // A duplicate inside one request gets the first one's receipt.
    let r = server.post(
        &writer,
        "/v1/events",
        NDJSON,
        lines(&[event(7, "MRN-2"), event(7, "MRN-2")]),
    );
    let dup = json(r)["receipts"].clone();
    assert_eq!(dup[0]["seq"], base + 5);
    assert_eq!(dup[1]["seq"], base + 5);
    server.stop();

    let server = Server::start(&data);
    let r = server.post(
        &writer,
        "/v1/events",
        "application/json",
        batch[2].to_string(),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["receipts"][0]["seq"], base + 2);
    let found = json(server.get(&auditor, "/v1/events?patient=MRN-1"));
    assert_eq!(found["events"].as_array().unwrap().len(), 5, "{found}");
    // Before the batch the log held only recall's own records.
    own_records_before(&server, &auditor, "st-marys", base);
}

#[test]
fn search_sees_every_acknowledged_event_and_is_audited() {
    let (_tmp, data, writer, auditor) = setup();
    let server = Server::start(&data);
    let batch: Vec<Value> = (0..50)
        .map(|i| {
            event(
                i,
                if i.is_multiple_of(5) {
                    "MRN-9"
                } else {
                    "MRN-8"
                },
            )
        })
        .collect();
    assert_eq!(
        server
            .post(&writer, "/v1/events", NDJSON, lines(&batch))
            .status(),
        201
    );
    let page = json(server.get(&auditor, "/v1/events?patient=MRN-9&limit=3"));
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e["patient"]["id"] == "MRN-9" && e["tenant"] == "st-marys")
    );
    assert!(
        events
            .iter()
            .all(|e| e["seq"].is_u64() && e["received"].is_string())
    );
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let rest = json(server.get(
        &auditor,
        &format!("/v1/events?patient=MRN-9&limit=100&cursor={cursor}"),
    ));
    assert!(rest["next_cursor"].is_null());
    // The 7 other accesses, and the audit event of the first search (it names MRN-9 too).
    let rest = rest["events"].as_array().unwrap().clone();
    assert_eq!(
        rest.iter().filter(|e| e["action"] != "search").count(),
        7,
        "{rest:?}"
    );
    assert_eq!(rest.iter().filter(|e| e["action"] == "search").count(), 1);

    // Each of those searches appended an audit event naming the caller and the patient.
    let audits =
        json(server.get_justified(&auditor, "/v1/events?action=search&order=desc&limit=10"));
    let audits = audits["events"].as_array().unwrap();
    assert!(audits.len() >= 2, "{audits:?}");
    let a = &audits[audits.len() - 1];
    assert!(a["actor"]["id"].as_str().unwrap().starts_with("key:"));
    assert_eq!(a["patient"]["id"], "MRN-9");
    assert_eq!(a["detail"]["endpoint"], "GET /v1/events");
    assert_eq!(a["purpose"], "HCOMPL");
}

#[test]
fn an_event_read_carries_a_proof_that_verifies_against_the_signed_checkpoint() {
    let (_tmp, data, writer, auditor) = setup();
    let server = Server::start(&data);
    let batch: Vec<Value> = (0..20).map(|i| event(i, "MRN-3")).collect();
    let receipts =
        json(server.post(&writer, "/v1/events", NDJSON, lines(&batch)))["receipts"].clone();
    // The 14th event of the batch, after the records recall had already made.
    let seq = receipts[13]["seq"].as_u64().unwrap();
    assert_eq!(seq, receipts[0]["seq"].as_u64().unwrap() + 13);
    let r = server.get(&auditor, &format!("/v1/events/st-marys/{seq}?proof=true"));
    assert_eq!(r.status(), 200);
    let body = json(r);
    assert_eq!(body["event"]["seq"], seq);
    assert_eq!(body["event"]["id"], "e2e-13");
    assert_eq!(body["leaf_hash"], receipts[13]["leaf_hash"]);
    let inc = &body["inclusion"];
    let cp = open_checkpoint(inc["checkpoint"].as_str().unwrap(), &data_verifier(&data));
    let hashes: Vec<[u8; 32]> = inc["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let leaf: [u8; 32] = B64
        .decode(body["leaf_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    recall_ledger::verify_inclusion(&leaf, seq, cp.size, &hashes, &cp.root).unwrap();
    assert_eq!(
        server.get(&auditor, "/v1/events/st-marys/999").status(),
        404
    );
}

#[test]
fn a_bad_event_in_a_batch_is_named_and_nothing_of_the_batch_is_appended() {
    let (_tmp, data, writer, auditor) = setup();
    let server = Server::start(&data);
    // The log's size: the seq a good event (another patient) lands at.
    let size = |id: &str| {
        let mut e = event(100, "MRN-40");
        e["id"] = json!(id);
        let r = server.post(&writer, "/v1/events", NDJSON, lines(&[e]));
        assert_eq!(r.status(), 201);
        json(r)["receipts"][0]["seq"].as_u64().unwrap()
    };
    let before = size("probe-before");
    let mut batch: Vec<Value> = (0..4).map(|i| event(i, "MRN-4")).collect();
    batch[2]["actor"]["id"] = json!("");
    let r = server.post(&writer, "/v1/events", NDJSON, lines(&batch));
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p = json(r);
    assert_eq!(p["field"], "actor.id");
    assert_eq!(p["index"], 2);
    assert!(
        !p.to_string().contains("MRN-4"),
        "no input values in errors: {p}"
    );
    let r = server.post(&writer, "/v1/events", "application/json", "{\"time\": ");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Only the second probe went in after the first: the log's size did not change.
    assert_eq!(size("probe-after"), before + 1, "nothing appended");
    let found = json(server.get(&auditor, "/v1/events?patient=MRN-4"));
    assert_eq!(found["events"].as_array().unwrap().len(), 0);
}

#[test]
fn roles_and_tenants_are_enforced() {
    let (_tmp, data, writer, auditor) = setup();
    let other = create_key(&data, "other-clinic", "auditor");
    let verifier = create_key(&data, "st-marys", "verifier");
    let server = Server::start(&data);
    let body = lines(&[event(1, "MRN-5")]);
    assert_eq!(
        server.post("", "/v1/events", NDJSON, body.clone()).status(),
        401
    );
    assert_eq!(
        server
            .post("rk_bogus_key", "/v1/events", NDJSON, body.clone())
            .status(),
        401
    );
    assert_eq!(
        server
            .post(&auditor, "/v1/events", NDJSON, body.clone())
            .status(),
        403
    );
    assert_eq!(
        server.post(&writer, "/v1/events", NDJSON, body).status(),
        201
    );
    assert_eq!(server.get(&writer, "/v1/events").status(), 403);
    assert_eq!(server.get(&verifier, "/v1/events").status(), 403);
    assert_eq!(server.get(&other, "/v1/events/st-marys/0").status(), 403);
    // The other tenant's searches only ever see its own (empty) log.
    let theirs = json(server.get(&other, "/v1/events?patient=MRN-5"));
    assert_eq!(theirs["events"].as_array().unwrap().len(), 0);
    // An event naming another tenant is refused.
    let mut e = event(2, "MRN-5");
    e["tenant"] = json!("other-clinic");
    assert_eq!(
        server
            .post(&writer, "/v1/events", NDJSON, lines(&[e]))
            .status(),
        403
    );
    // Transparency: verifier yes, another tenant no.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        server
            .get(&verifier, "/v1/logs/st-marys/checkpoint")
            .status(),
        200
    );
    assert_eq!(
        server.get(&other, "/v1/logs/st-marys/checkpoint").status(),
        403
    );
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let (_tmp, data, writer, _) = setup();
    let server = Server::start_with(&data, &[("RECALL_SERVER_MAX_BODY_BYTES", "4096")]);
    let batch: Vec<Value> = (0..100).map(|i| event(i, "MRN-6")).collect();
    let r = server.post(&writer, "/v1/events", NDJSON, lines(&batch));
    assert_eq!(r.status(), 413);
}

#[test]
fn openapi_and_swagger_ui_are_served() {
    let (_tmp, data, _, _) = setup();
    let server = Server::start(&data);
    let doc = json(server.get("", "/v1/openapi.json"));
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/events",
        "/v1/events/{tenant}/{seq}",
        "/v1/events/facets",
        "/v1/reports/patient-access",
        "/v1/logs/{tenant}/checkpoint",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    let ui = server.get("", "/docs/");
    assert_eq!(ui.status(), 200);
    assert!(
        ui.text().unwrap().contains("swagger"),
        "the vendored Swagger UI"
    );
}

#[test]
fn entry_bundles_and_tiles_let_an_outsider_recompute_the_leaves() {
    let (_tmp, data, writer, auditor) = setup();
    let verifier = create_key(&data, "st-marys", "verifier");
    let server = Server::start(&data);
    let batch: Vec<Value> = (0..300).map(|i| event(i, "MRN-7")).collect();
    let receipts =
        json(server.post(&writer, "/v1/events", NDJSON, lines(&batch)))["receipts"].clone();
    // Seqs below the first receipt hold recall's own records (keys created, recording
    // started), so the log's size is that many more than the batch.
    let base = receipts[0]["seq"].as_u64().unwrap() as usize;
    let size = base + batch.len();
    let tile = server
        .get(&verifier, "/v1/logs/st-marys/tile/0/000")
        .bytes()
        .unwrap();
    let bundle = server
        .get(&verifier, "/v1/logs/st-marys/tile/entries/000")
        .bytes()
        .unwrap();
    // The batch's last events fill a partial second tile.
    let partial = server.get(
        &verifier,
        &format!("/v1/logs/st-marys/tile/entries/001.p/{}", size - 256),
    );
    assert_eq!(partial.status(), 200);
    assert_eq!(
        server
            .get(&verifier, "/v1/logs/st-marys/tile/entries/002")
            .status(),
        404
    );
    let hashes = recall_ledger::parse_tile(&tile).unwrap();
    let entries = recall_ledger::parse_entry_bundle(&bundle).unwrap();
    assert_eq!((hashes.len(), entries.len()), (256, 256));
    // The leaves of recall's own records are the ones their event reads name (the reads
    // append their audit records after the batch).
    let own = own_records_before(&server, &auditor, "st-marys", base as u64);
    for (i, (h, e)) in hashes.iter().zip(&entries).enumerate() {
        assert_eq!(recall_ledger::leaf_hash(e), *h);
        let expected = match i.checked_sub(base) {
            None => &own[i]["leaf_hash"],
            Some(k) => &receipts[k]["leaf_hash"],
        };
        assert_eq!(B64.encode(h), expected.as_str().unwrap(), "leaf {i}");
    }
}
