//! A rough throughput figure for parse_event + canonical_into, not a timed assertion.
//! Run: `cargo test --release -p recall-model --test throughput -- --ignored --nocapture`

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::time::Instant;

use jiff::Timestamp;
use recall_model::{Recorded, canonical_into, parse_event};

/// A typical event (~500 bytes), synthetic values.
const EVENT: &str = r#"{"id":"evt-7f3a-0001-4c2e-9b1d","time":"2026-03-04T15:02:11.123Z","tenant":"st-example","actor":{"id":"u-123456","role":"nurse","name":"Test Person Alpha","type":"user"},"action":"read","resource":{"type":"Observation","id":"obs-99-1234567"},"patient":{"id":"MRN-00005678"},"outcome":"success","purpose":"TREAT","source":{"ip":"10.1.2.3","system":"ehr-prod","device":"ws-12","session":"sess-0a1b2c3d4e5f"},"detail":{"query":"code=1234-5","count":12,"fhir":{"interaction":"search-type","version":"R4"}}}"#;

#[test]
#[ignore = "measurement; run in release with --ignored --nocapture"]
fn parse_and_canonicalise_throughput() {
    let now: Timestamp = "2026-03-04T15:05:00Z".parse().unwrap();
    let received = now;
    let mut out = Vec::with_capacity(1024);
    let n: u64 = std::env::var("THROUGHPUT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut total = 0usize;
    // Warm up, then measure the best of three runs.
    let mut best = f64::MAX;
    for _ in 0..4 {
        let start = Instant::now();
        for seq in 0..n {
            let event = parse_event(EVENT.as_bytes(), now).unwrap();
            let rec = Recorded {
                event,
                tenant: "st-example".into(),
                seq,
                received,
            };
            out.clear();
            canonical_into(&rec, &mut out);
            total += out.len();
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let parse_only = {
        let start = Instant::now();
        for _ in 0..n {
            let event = parse_event(EVENT.as_bytes(), now).unwrap();
            total += event.action.len();
        }
        start.elapsed().as_secs_f64()
    };
    // Calibration: what plain serde_json takes for the same bytes on this machine now.
    let baseline = {
        let start = Instant::now();
        for _ in 0..n {
            let v: serde_json::Value = serde_json::from_slice(EVENT.as_bytes()).unwrap();
            total += v.as_object().map_or(0, |o| o.len());
        }
        start.elapsed().as_secs_f64()
    };
    println!(
        "input {} bytes, canonical {} bytes: parse+canonical {:.0} events/s ({:.2} µs/event); parse only {:.2} µs/event; serde_json::Value alone {:.2} µs/event [{}]",
        EVENT.len(),
        out.len(),
        n as f64 / best,
        best * 1e6 / n as f64,
        parse_only * 1e6 / n as f64,
        baseline * 1e6 / n as f64,
        total % 7
    );
}
