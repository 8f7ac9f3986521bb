//! Server crash: a `recall serve` taking concurrent ingest from several clients is killed
//! with SIGKILL at a random-ish moment. After a restart every event whose receipt a client
//! received is readable at its seq with the same id and leaf hash, is found by a search on
//! its patient, is replayed (same seq, same leaf hash, `"replayed": true`) when posted
//! again, and `recall verify` passes on the data directory once the server stopped.
//!
//! 3 trials by default on one data directory (each trial crashes it again);
//! `RECALL_CRASH_TRIALS=N` runs a longer soak.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::recall_ok;
use common::server::{Server, create_key, json};
use serde_json::{Value, json};

const NDJSON: &str = "application/x-ndjson";
const TENANT: &str = "crash-ward";
const CLIENTS: u64 = 4;
const PATIENTS: u64 = 40;
/// Events per request when re-posting acknowledged events after the restart.
const REPOST_BATCH: usize = 500;

/// A small xorshift generator: deterministic batch sizes and kill times per trial.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// What a client learned from a receipt, and the event it sent.
#[derive(Debug, Clone)]
struct Ack {
    seq: u64,
    leaf_hash: String,
    patient: String,
    event: Value,
}

/// Every receipt the clients received, by client id.
type Acks = Arc<Mutex<HashMap<String, Ack>>>;

fn patient(k: u64) -> String {
    format!("CRASH-MRN-{k}")
}

/// A synthetic access event with a unique client id.
fn event(trial: u64, client: u64, n: u64, rng: &mut u64) -> Value {
    let i = next(rng);
    json!({
        "id": format!("crash-{trial}-{client}-{n}"),
        "time": format!("2026-03-04T{:02}:{:02}:{:02}Z", i % 24, i / 24 % 60, i / 1440 % 60),
        "actor": {"id": format!("u-{}", i % 7), "role": "nurse"},
        "action": if i.is_multiple_of(2) { "read" } else { "update" },
        "patient": {"id": patient(i / 97 % PATIENTS)},
        "resource": {"type": "Observation", "id": format!("obs-{client}-{n}")},
    })
}

fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// Why a client stopped posting.
#[derive(Debug, PartialEq, Eq)]
enum Stopped {
    /// A request failed at the transport level (the server is gone).
    Disconnected,
    /// The safety deadline passed without the server going away.
    Deadline,
}

/// Posts batches of 1–50 fresh events until the server goes away; records each receipt.
/// Returns why it stopped and how many requests it sent.
fn client(url: &str, key: &str, trial: u64, id: u64, acks: &Acks) -> (Stopped, u64) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ (trial << 8 | id).wrapping_mul(0x9E37_79B9);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut n, mut requests) = (0u64, 0u64);
    while Instant::now() < deadline {
        let size = 1 + next(&mut rng) % 50;
        let batch: Vec<Value> = (0..size)
            .map(|j| event(trial, id, n + j, &mut rng))
            .collect();
        n += size;
        requests += 1;
        let sent = http
            .post(format!("{url}/v1/events"))
            .header("content-type", NDJSON)
            .bearer_auth(key)
            .body(lines(&batch))
            .send();
        let Ok(r) = sent else {
            return (Stopped::Disconnected, requests);
        };
        let status = r.status();
        // A body cut off by the kill is no receipt.
        let Ok(text) = r.text() else {
            return (Stopped::Disconnected, requests);
        };
        match status.as_u16() {
            201 => {}
            503 => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            other => panic!("client {id}: POST answered {other}: {text}"),
        }
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        let receipts = body["receipts"].as_array().unwrap();
        assert_eq!(receipts.len(), batch.len(), "one receipt per event: {body}");
        let mut acks = acks.lock().unwrap();
        for (ev, r) in batch.into_iter().zip(receipts) {
            assert_eq!(r["tenant"], TENANT, "{r}");
            // `replayed` is present (true) only on replays; these ids are fresh.
            assert_ne!(r["replayed"], true, "a fresh id was replayed: {r}");
            let ack = Ack {
                seq: r["seq"].as_u64().unwrap(),
                leaf_hash: r["leaf_hash"].as_str().unwrap().to_string(),
                patient: ev["patient"]["id"].as_str().unwrap().to_string(),
                event: ev,
            };
            let id = ack.event["id"].as_str().unwrap().to_string();
            assert!(acks.insert(id, ack).is_none(), "an id acknowledged twice");
        }
    }
    (Stopped::Deadline, requests)
}

/// Every acknowledged event of `ids` reads back at its seq with the same id, patient and
/// leaf hash (four readers at once, as reads append audit events through group commit).
fn check_reads(server: &Server, key: &str, acks: &HashMap<String, Ack>, ids: &[String]) {
    let chunk = ids.len().div_ceil(4).max(1);
    std::thread::scope(|s| {
        for part in ids.chunks(chunk) {
            s.spawn(move || {
                for id in part {
                    let ack = &acks[id];
                    let r = server.get(key, &format!("/v1/events/{TENANT}/{}", ack.seq));
                    assert_eq!(
                        r.status(),
                        200,
                        "acknowledged {id} at seq {} is gone",
                        ack.seq
                    );
                    let body = json(r);
                    assert_eq!(body["event"]["id"], id.as_str(), "seq {}: {body}", ack.seq);
                    assert_eq!(body["event"]["seq"], ack.seq);
                    assert_eq!(body["event"]["patient"]["id"], ack.patient.as_str());
                    assert_eq!(body["leaf_hash"], ack.leaf_hash.as_str(), "{id}");
                }
            });
        }
    });
}

/// Posting the acknowledged events again appends nothing: each gets its original receipt.
fn check_replay(server: &Server, key: &str, acks: &HashMap<String, Ack>, ids: &[String]) {
    for part in ids.chunks(REPOST_BATCH) {
        let batch: Vec<Value> = part.iter().map(|id| acks[id].event.clone()).collect();
        let r = server.post(key, "/v1/events", NDJSON, lines(&batch));
        assert_eq!(r.status(), 200, "a pure replay appends nothing");
        let body = json(r);
        let receipts = body["receipts"].as_array().unwrap();
        assert_eq!(receipts.len(), part.len());
        for (id, r) in part.iter().zip(receipts) {
            let ack = &acks[id];
            assert_eq!(r["replayed"], true, "{id}: {r}");
            assert_eq!(r["seq"], ack.seq, "{id} replayed at another seq: {r}");
            assert_eq!(r["leaf_hash"], ack.leaf_hash.as_str(), "{id}: {r}");
        }
    }
}

/// A search on each of `patients` (all pages) finds every acknowledged event of theirs, at
/// its seq.
fn check_search(server: &Server, key: &str, acks: &HashMap<String, Ack>, patients: &[String]) {
    for p in patients {
        let mut found: HashMap<String, u64> = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/events?patient={p}&limit=1000");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = server.get(key, &path);
            assert_eq!(r.status(), 200);
            let page = json(r);
            for e in page["events"].as_array().unwrap() {
                assert_eq!(e["patient"]["id"], p.as_str(), "{e}");
                if let Some(id) = e["id"].as_str() {
                    let seq = e["seq"].as_u64().unwrap();
                    assert!(found.insert(id.to_string(), seq).is_none(), "{id} twice");
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut want = 0;
        for (id, ack) in acks.iter().filter(|(_, a)| &a.patient == p) {
            want += 1;
            assert_eq!(
                found.get(id),
                Some(&ack.seq),
                "search on {p} misses acknowledged {id} (seq {})",
                ack.seq
            );
        }
        assert!(found.len() >= want);
    }
}

fn trials() -> u64 {
    std::env::var("RECALL_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// One trial: clients post until the server is killed; returns the receipts they got.
fn crash_once(data: &Path, writer: &str, trial: u64, rng: &mut u64) -> HashMap<String, Ack> {
    let server = Server::start(data);
    let acks: Acks = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (url, key, acks) = (server.url.clone(), writer.to_string(), acks.clone());
            std::thread::spawn(move || client(&url, &key, trial, id, &acks))
        })
        .collect();
    let delay = Duration::from_millis(300 + next(rng) % 1200);
    std::thread::sleep(delay);
    server.kill(); // SIGKILL while the clients are posting
    for (id, c) in clients.into_iter().enumerate() {
        let (stopped, requests) = c.join().expect("a client panicked");
        assert_eq!(
            stopped,
            Stopped::Disconnected,
            "trial {trial}: client {id} was not posting when the server died"
        );
        assert!(requests > 0);
    }
    let acks = Arc::try_unwrap(acks).unwrap().into_inner().unwrap();
    eprintln!(
        "trial {trial}: killed after {delay:?}, {} events acknowledged",
        acks.len()
    );
    acks
}

#[test]
fn acknowledged_events_survive_a_sigkill_of_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, TENANT, "writer");
    let auditor = create_key(&data, TENANT, "auditor");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut all: HashMap<String, Ack> = HashMap::new();
    for trial in 0..trials() {
        let acks = crash_once(&data, &writer, trial, &mut rng);
        let mut ids: Vec<String> = acks.keys().cloned().collect();
        ids.sort_by_key(|id| acks[id].seq);
        all.extend(acks);
        // Receipts name distinct seqs, also across crashes.
        let seqs: BTreeSet<u64> = all.values().map(|a| a.seq).collect();
        assert_eq!(
            seqs.len(),
            all.len(),
            "trial {trial}: two receipts share a seq"
        );

        let started = Instant::now();
        let server = Server::start(&data);
        check_reads(&server, &auditor, &all, &ids);
        check_replay(&server, &writer, &all, &ids);
        let sample: Vec<String> = (0..5).map(|_| patient(next(&mut rng) % PATIENTS)).collect();
        check_search(&server, &auditor, &all, &sample);
        server.stop();
        recall_ok(&data, &["verify"]);
        eprintln!(
            "trial {trial}: checked {} events in {:?}",
            ids.len(),
            started.elapsed()
        );
    }
    assert!(
        !all.is_empty(),
        "no trial got far enough to acknowledge an event"
    );
}
