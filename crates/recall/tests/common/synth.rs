//! Synthetic events for the HTTP end-to-end tests (fake `MRN-…` patients, `u-…` actors,
//! documentation-range addresses), ingest over `POST /v1/events`, a brute-force oracle of
//! `GET /v1/events`, and paging through it.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::recall_ok;
use super::server::{Server, create_key, json as body_json};

/// NDJSON media type.
pub const NDJSON: &str = "application/x-ndjson";
/// Source systems of the synthetic events.
pub const SYSTEMS: [&str; 4] = ["ehr-prod", "pacs", "lab-lis", "portal"];
/// Source addresses (one IPv6) of the synthetic events.
pub const IPS: [&str; 5] = [
    "10.1.0.7",
    "10.1.0.8",
    "10.2.3.4",
    "192.168.5.20",
    "fd00::17",
];
/// Purposes of use; ETREAT is break-glass.
pub const PURPOSES: [&str; 4] = ["TREAT", "HPAYMT", "HOPERAT", "ETREAT"];
/// Actions.
pub const ACTIONS: [&str; 6] = ["read", "update", "create", "print", "export", "disclose"];
const ROLES: [&str; 5] = ["nurse", "physician", "clerk", "radiologist", "billing"];

/// splitmix64: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `n` synthetic events with ids `syn-{tag}-{i}`: times rising through 2026 with ties,
/// ~3% late arrivals (earlier than events before them), a heavy-tailed patient mix.
pub fn events(n: usize, seed: u64, tag: &str) -> Vec<Value> {
    let mut rng = Rng(seed);
    let mut now: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    (0..n)
        .map(|i| {
            if !rng.chance(60) {
                now += SignedDuration::from_millis(rng.below(4 * 3_600_000) as i64);
            }
            let time = if rng.chance(30) {
                now - SignedDuration::from_secs(3_600 + rng.below(20 * 86_400) as i64)
            } else {
                now
            };
            let a = rng.below(25) as usize;
            let mut e = json!({
                "id": format!("syn-{tag}-{i}"),
                "time": time.to_string(),
                "actor": {"id": format!("u-{a:03}"), "role": ROLES[a % ROLES.len()]},
                "action": rng.pick(&ACTIONS),
                "resource": {"type": "Observation", "id": format!("obs-{i}")},
            });
            if !rng.chance(80) {
                // Squaring skews towards low numbers: a few patients have long stays.
                let r = rng.below(1000) as f64 / 1000.0;
                e["patient"] = json!({"id": format!("MRN-{:05}", (r * r * 90.0) as u32)});
            }
            match rng.below(100) {
                0..=3 => e["outcome"] = json!("failure"),
                4..=7 => e["outcome"] = json!("denied"),
                8..=50 => e["outcome"] = json!("success"),
                _ => {}
            }
            if !rng.chance(150) {
                let purpose = if rng.chance(40) {
                    "ETREAT"
                } else {
                    *rng.pick(&PURPOSES[..3])
                };
                e["purpose"] = json!(purpose);
                if purpose == "ETREAT" {
                    e["reason"] = json!("synthetic emergency");
                }
            }
            if !rng.chance(100) {
                let mut source = json!({});
                if !rng.chance(200) {
                    source["system"] = json!(rng.pick(&SYSTEMS));
                }
                if !rng.chance(200) {
                    source["ip"] = json!(rng.pick(&IPS));
                }
                e["source"] = source;
            }
            e
        })
        .collect()
}

/// An event as the oracle knows it: where it landed and what was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The tenant whose log holds it.
    pub tenant: String,
    /// Its seq there (from the receipt).
    pub seq: u64,
    /// Its `time`, parsed.
    pub time: Timestamp,
    /// The event as sent.
    pub event: Value,
}

impl Sent {
    /// A string field by JSON pointer (`/patient/id`).
    pub fn get(&self, pointer: &str) -> Option<&str> {
        self.event.pointer(pointer).and_then(Value::as_str)
    }

    /// `outcome`, defaulting to `success` as the server does.
    pub fn outcome(&self) -> &str {
        self.get("/outcome").unwrap_or("success")
    }
}

/// Posts `events` to the writer's tenant in batches of 1–250 (NDJSON, every fourth a JSON
/// array), checking each 201 and its receipts; returns what was sent with its seqs.
pub fn ingest(
    server: &Server,
    writer: &str,
    tenant: &str,
    events: &[Value],
    seed: u64,
) -> Vec<Sent> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(events.len());
    let mut rest = events;
    let mut batch_no = 0;
    while !rest.is_empty() {
        let n = (1 + rng.below(250) as usize).min(rest.len());
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        batch_no += 1;
        let r = if batch_no % 4 == 0 {
            let body = Value::Array(batch.to_vec()).to_string();
            server.post(writer, "/v1/events", "application/json", body)
        } else {
            server.post(writer, "/v1/events", NDJSON, ndjson(batch))
        };
        assert_eq!(r.status(), 201);
        let receipts = body_json(r)["receipts"].as_array().unwrap().clone();
        assert_eq!(receipts.len(), batch.len());
        for (e, r) in batch.iter().zip(receipts) {
            assert_eq!(r["tenant"], tenant);
            out.push(Sent {
                tenant: tenant.to_string(),
                seq: r["seq"].as_u64().unwrap(),
                time: e["time"].as_str().unwrap().parse().unwrap(),
                event: e.clone(),
            });
        }
    }
    out
}

/// A fresh data directory (`recall init`) with a key per (tenant, role), in order.
pub fn data_with_keys(keys: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let keys = keys
        .iter()
        .map(|(tenant, role)| create_key(&data, tenant, role))
        .collect();
    (tmp, data, keys)
}

/// Events as NDJSON.
pub fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// A search of `GET /v1/events`: the query layer's own filter type, used only as the
/// container of the parameters; [`Oracle`] applies them independently.
pub use recall_query::Filter as Q;

/// The brute-force oracle of a search, and its query parameters.
pub trait Oracle {
    /// The query parameters.
    fn params(&self) -> Vec<(&'static str, String)>;
    /// Does the sent event satisfy every filter?
    fn matches(&self, s: &Sent) -> bool;
    /// The tenant's matching events in (time, seq) order, reversed for `desc`.
    fn oracle<'a>(&self, sent: &'a [Sent], tenant: &str, desc: bool) -> Vec<&'a Sent>;
}

impl Oracle for Q {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        for (k, v) in [
            ("patient", &self.patient),
            ("actor", &self.actor),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("purpose", &self.purpose),
            ("system", &self.system),
            ("ip", &self.ip),
        ] {
            if let Some(v) = v {
                p.push((k, v.clone()));
            }
        }
        if self.break_glass {
            p.push(("break_glass", "true".into()));
        }
        for (k, t) in [("from", self.from), ("to", self.to)] {
            if let Some(t) = t {
                p.push((k, t.to_string()));
            }
        }
        p
    }

    fn matches(&self, s: &Sent) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        eq(&self.patient, s.get("/patient/id"))
            && eq(&self.actor, s.get("/actor/id"))
            && eq(&self.action, s.get("/action"))
            && eq(&self.outcome, Some(s.outcome()))
            && eq(&self.purpose, s.get("/purpose"))
            && eq(&self.system, s.get("/source/system"))
            && eq(&self.ip, s.get("/source/ip"))
            && (!self.break_glass || s.get("/purpose") == Some("ETREAT"))
            && self.from.is_none_or(|t| s.time >= t)
            && self.to.is_none_or(|t| s.time < t)
    }

    fn oracle<'a>(&self, sent: &'a [Sent], tenant: &str, desc: bool) -> Vec<&'a Sent> {
        let mut hits: Vec<&Sent> = sent
            .iter()
            .filter(|s| s.tenant == tenant && self.matches(s))
            .collect();
        hits.sort_by_key(|s| (s.time, s.seq));
        if desc {
            hits.reverse();
        }
        hits
    }
}

/// Whether a returned event is one of recall's own audit records.
pub fn is_self_audit(e: &Value) -> bool {
    e["source"]["system"] == "recall"
}

/// `GET /v1/events` with query parameters and a bearer key.
pub fn search(server: &Server, key: &str, params: &[(&str, String)]) -> Response {
    server
        .http
        .get(format!("{}/v1/events", server.url))
        .query(params)
        .bearer_auth(key)
        .send()
        .unwrap()
}

/// Every page of a search with `limit`, following `next_cursor`, returning the synthetic
/// events (not recall's own audit records) in the order served. Each page is checked:
/// 200, at most `limit` events, a cursor only after a full page, every event in the
/// caller's tenant with a `seq` and a `received`.
///
/// The searches themselves append audit records timed "now", later than every synthetic
/// event: ascending, the first one seen ends the walk (nothing synthetic can follow, and
/// new records keep arriving behind the cursor); descending they come first and are
/// skipped.
pub fn search_all(
    server: &Server,
    key: &str,
    tenant: &str,
    q: &Q,
    desc: bool,
    limit: usize,
) -> Vec<Value> {
    let mut params = q.params();
    params.push(("limit", limit.to_string()));
    if desc {
        params.push(("order", "desc".into()));
    }
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let mut p = params.clone();
        if let Some(c) = cursor.take() {
            p.push(("cursor", c));
        }
        let r = search(server, key, &p);
        assert_eq!(r.status(), 200, "{p:?}");
        let page = body_json(r);
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= limit, "{p:?}");
        for e in events {
            assert_eq!(e["tenant"], tenant);
            assert!(e["seq"].is_u64() && e["received"].is_string(), "{e}");
            if is_self_audit(e) {
                if desc {
                    continue;
                }
                return out;
            }
            out.push(e.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(events.len(), limit, "a cursor only after a full page");
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
    panic!("paging did not end: {params:?}");
}

/// Checks served events against the oracle's: same seqs in the same order, same ids, and
/// (time, seq) strictly monotonic, so nothing is skipped or repeated.
pub fn assert_same(got: &[Value], want: &[&Sent], desc: bool, what: &str) {
    let seqs = |v: &[Value]| -> Vec<u64> { v.iter().map(|e| e["seq"].as_u64().unwrap()).collect() };
    let want_seqs: Vec<u64> = want.iter().map(|s| s.seq).collect();
    assert_eq!(seqs(got), want_seqs, "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["id"], w.event["id"], "{what}");
    }
    let keys: Vec<(Timestamp, u64)> = got
        .iter()
        .map(|e| {
            (
                e["time"].as_str().unwrap().parse().unwrap(),
                e["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    for pair in keys.windows(2) {
        let ordered = if desc {
            pair[0] > pair[1]
        } else {
            pair[0] < pair[1]
        };
        assert!(ordered, "{what}: order broken at {pair:?}");
    }
}
