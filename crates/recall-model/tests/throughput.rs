//! A rough throughput figure for parse_event + canonical_into, not a timed assertion.
//! Run: `cargo test --release -p recall-model --test throughput -- --ignored --nocapture`
//! (`THROUGHPUT_N` sets the events per round, default 500000).
//!
//! Besides wall time it reports the thread's on-CPU time (Linux schedstat), which is
//! the fairer figure on a machine shared with other work.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::time::Instant;

use jiff::Timestamp;
use recall_model::{Recorded, canonical_into, parse_event};

/// A typical event (~500 bytes), synthetic values.
const EVENT: &str = r#"{"id":"evt-7f3a-0001-4c2e-9b1d","time":"2026-03-04T15:02:11.123Z","tenant":"st-example","actor":{"id":"u-123456","role":"nurse","name":"Test Person Alpha","type":"user"},"action":"read","resource":{"type":"Observation","id":"obs-99-1234567"},"patient":{"id":"MRN-00005678"},"outcome":"success","purpose":"TREAT","source":{"ip":"10.1.2.3","system":"ehr-prod","device":"ws-12","session":"sess-0a1b2c3d4e5f"},"detail":{"query":"code=1234-5","count":12,"fhir":{"interaction":"search-type","version":"R4"}}}"#;

/// Nanoseconds this thread has spent on a CPU, if the kernel says.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `n` times; returns (wall µs/op, on-CPU µs/op), best of `rounds`.
fn measure(n: u64, rounds: usize, mut f: impl FnMut(u64)) -> (f64, f64) {
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        let (start, cpu_start) = (Instant::now(), cpu_ns());
        for i in 0..n {
            f(i);
        }
        wall = wall.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        if let (Some(a), Some(b)) = (cpu_start, cpu_ns()) {
            cpu = cpu.min((b - a) as f64 / 1e3 / n as f64);
        }
    }
    (wall, cpu)
}

#[test]
#[ignore = "measurement; run in release with --ignored --nocapture"]
fn parse_and_canonicalise_throughput() {
    let now: Timestamp = "2026-03-04T15:05:00Z".parse().unwrap();
    let n: u64 = std::env::var("THROUGHPUT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let mut out = Vec::with_capacity(1024);
    let mut sink = 0usize;
    let both = measure(n, 3, |seq| {
        let event = parse_event(EVENT.as_bytes(), now).unwrap();
        let rec = Recorded {
            event,
            tenant: "st-example".into(),
            seq,
            received: now,
            appended_by: Some("key:k-1".into()),
        };
        out.clear();
        canonical_into(&rec, &mut out);
        sink += out.len();
    });
    let parse = measure(n, 3, |_| {
        sink += parse_event(EVENT.as_bytes(), now).unwrap().action.len()
    });
    let rec = Recorded {
        event: parse_event(EVENT.as_bytes(), now).unwrap(),
        tenant: "st-example".into(),
        seq: 1,
        received: now,
        appended_by: Some("key:k-1".into()),
    };
    let canon = measure(n, 3, |_| {
        out.clear();
        canonical_into(&rec, &mut out);
        sink += out.len();
    });
    // Calibration: plain serde_json on the same bytes, on this machine, now.
    let value = measure(n, 3, |_| {
        let v: serde_json::Value = serde_json::from_slice(EVENT.as_bytes()).unwrap();
        sink += v.as_object().map_or(0, |o| o.len());
    });
    println!(
        "input {} bytes, canonical {} bytes [{}]",
        EVENT.len(),
        out.len(),
        sink % 7
    );
    for (what, (wall, cpu)) in [
        ("parse_event + canonical_into", both),
        ("parse_event alone", parse),
        ("canonical_into alone", canon),
        ("serde_json::Value alone (calibration)", value),
    ] {
        println!(
            "{what:40} wall {wall:5.2} µs/event ({:>7.0}/s)  on-CPU {cpu:5.2} µs/event ({:>7.0}/s)",
            1e6 / wall,
            1e6 / cpu
        );
    }
}
