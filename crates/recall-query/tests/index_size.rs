//! Bytes per event of the log and of the index on the hospital workload. A measurement,
//! not a check: run with `cargo nextest run -p recall-query --run-ignored only`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Instant;

use recall_query::Db;

const PARTS: [&str; 7] = [
    "meta", "time", "patient", "actor", "id", "blocks", "summary",
];

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

#[test]
#[ignore = "measurement"]
fn index_bytes_per_event() {
    let n: u64 = std::env::var("RECALL_EVENTS").map_or(100_000, |v| v.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let journal = common::journal_in(tmp.path());
    let events = common::generated(n, 42);
    let index = tmp.path().join("index");
    {
        let db = Db::open(journal.clone(), &index).unwrap();
        common::append(&db, "t", &events, 1000);
    }
    let log = dir_bytes(&tmp.path().join("tenants"));
    let idx_live = dir_bytes(&index);
    std::fs::remove_dir_all(&index).unwrap();
    let start = Instant::now();
    let db = Db::open(journal, &index).unwrap();
    let secs = start.elapsed().as_secs_f64();
    drop(db);
    // Flush memtables and compact, as a long-running index ends up.
    let generation = index.join("gen-1");
    let ks = fjall::Config::new(&generation).open().unwrap();
    for name in ks.list_partitions() {
        let p = ks.open_partition(&name, Default::default()).unwrap();
        p.rotate_memtable_and_wait().unwrap();
        p.major_compact().unwrap();
    }
    ks.persist(fjall::PersistMode::SyncAll).unwrap();
    drop(ks);
    // fjall preallocates its write-ahead journal (a fixed cost, not per event).
    let idx = dir_bytes(&index) - dir_bytes(&generation.join("journals"));
    let per = |b: u64| b as f64 / n as f64;
    println!(
        "events {n}: log {:.1} B/event, index dir {:.1} B/event after import (journal \
         included), {:.1} B/event in compacted segments; catch-up {:.0} events/s",
        per(log),
        per(idx_live),
        per(idx),
        n as f64 / secs
    );
    for name in PARTS {
        println!(
            "  {name}: {:.1} B/event",
            per(dir_bytes(&generation.join("partitions").join(name)))
        );
    }
}

/// CPU cost of indexing committed batches (the server's indexer thread), without the
/// log writes: `RECALL_EVENTS=1000000 cargo nextest run --release -p recall-query
/// --run-ignored only index_batch_speed --no-capture`.
#[test]
#[ignore = "measurement"]
fn index_batch_speed() {
    let n: u64 = std::env::var("RECALL_EVENTS").map_or(300_000, |v| v.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let journal = common::journal_in(tmp.path());
    let events = common::generated(n, 42);
    // Opened on the empty log: nothing to catch up, the batches below are indexed by hand.
    let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
    journal.open_tenant("t").unwrap();
    let mut committed = Vec::new();
    for chunk in events.chunks(1000) {
        let first = journal.store().size("t").unwrap();
        let sealed = journal
            .prepare(
                "t",
                chunk,
                &vec!["key:k-test"; chunk.len()],
                first,
                jiff::Timestamp::now(),
            )
            .unwrap();
        let at = journal.commit("t", &sealed).unwrap().location;
        committed.push((sealed, at, chunk));
    }
    let (start, cpu) = (Instant::now(), cpu_secs());
    for (sealed, at, chunk) in &committed {
        db.index_batch("t", sealed, at, chunk).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    println!(
        "indexed {n} events in {secs:.2} s: {:.2} us/event wall, {:.2} us/event CPU (all threads)",
        secs * 1e6 / n as f64,
        cpu * 1e6 / n as f64
    );
}

/// CPU seconds (user + system) of this process so far, in USER_HZ (100/s) ticks.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
