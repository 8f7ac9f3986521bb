//! Starts a real throwaway PostgreSQL cluster and COPYs generated rows into the peer's table.
//! Without PostgreSQL binaries this fails under CI=true and is skipped otherwise.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use recall_bench::peer::{self, Cluster};
use recall_synth::{Config, write_workload};

fn bindir() -> Option<PathBuf> {
    let found = peer::locate_bindir();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL server binaries (initdb, pg_ctl) are required under CI"
        );
        eprintln!("skipping: PostgreSQL server binaries not found");
    }
    found
}

/// A temp dir the `postgres` user can traverse, with the workload's CSV in it.
fn workdir(events: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("recall-bench-test-")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let csv = dir.path().join("events.csv");
    let mut out = Vec::new();
    let mut rows = Vec::new();
    write_workload(
        Config::hospital(events, 7),
        &mut out,
        Some((&mut rows, "bench")),
    )
    .unwrap();
    fs::write(&csv, rows).unwrap();
    fs::set_permissions(&csv, fs::Permissions::from_mode(0o644)).unwrap();
    (dir, csv)
}

#[test]
fn copy_1000_rows_into_a_throwaway_cluster() {
    let Some(bindir) = bindir() else { return };
    let (dir, csv) = workdir(1_000);
    let root = dir.path().join("pg");
    let mut cluster = Cluster::start(&bindir, &root, false).unwrap();
    cluster.psql(peer::SCHEMA_SQL).unwrap();
    cluster.psql(&peer::copy_sql(&csv)).unwrap();
    assert_eq!(
        cluster.psql("SELECT count(*) FROM audit_log").unwrap(),
        "1000"
    );
    // Values survive the trip: the first event as PostgreSQL sees it.
    let first = recall_synth::Generator::new(Config::hospital(1_000, 7))
        .next()
        .unwrap();
    let row = cluster
        .psql(
            "SELECT actor_id, patient_id, host(source_ip), to_char(time AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), outcome, tenant FROM audit_log WHERE id = 'evt-7-0'",
        )
        .unwrap();
    let ip = first.source_ip.map(|b| b.to_string()).join(".");
    let want = [
        &first.actor_id,
        &first.patient_id,
        &ip,
        &first.time_rfc3339(),
        first.outcome.unwrap_or("success"),
        "bench",
    ];
    assert_eq!(row, want.join("|"));
    // The peer's three indexes (docs/benchmarks.md "Goals") exist.
    let indexes = cluster
        .psql("SELECT count(*) FROM pg_indexes WHERE tablename = 'audit_log'")
        .unwrap();
    assert_eq!(indexes, "3");
    let detail = cluster
        .psql("SELECT count(*) FROM audit_log WHERE detail ? 'query'")
        .unwrap();
    assert!(detail.parse::<u64>().unwrap() > 0);
    cluster.stop().unwrap();
    drop(cluster);
    assert!(!root.exists(), "the cluster is deleted");
}

#[test]
fn measure_reports_rows_and_sizes() {
    let Some(bindir) = bindir() else { return };
    let (dir, csv) = workdir(2_000);
    let f = peer::measure(&bindir, &dir.path().join("pg"), &csv, false).unwrap();
    assert_eq!(f.rows, 2_000);
    assert!(f.copy_secs > 0.0);
    assert!(f.table_bytes > 0 && f.index_bytes > 0 && f.wal_bytes > 0);
    assert!(f.total_bytes >= f.table_bytes + f.index_bytes);
}
