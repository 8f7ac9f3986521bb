//! The index on a full disk: fjall poisons its keyspace after a failed write and refuses
//! every later write, even once space returns; `Db::recover` reopens it and catches up
//! from the log, without reopening the `Db`. The index lives on a 16 MiB tmpfs (root
//! only: skipped otherwise, except under CI=true where it fails); the log does not.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use recall_testkit::Tmpfs;
use std::io::Write;
use std::time::Duration;

use jiff::Timestamp;
use recall_query::Db;

const T: &str = "north";

/// Commits a batch to the log and indexes it, as the server's writer and indexer do.
fn commit_and_index(
    db: &Db,
    events: &[recall_model::Event],
) -> Result<(), recall_query::QueryError> {
    let journal = db.journal();
    let first = journal.store().size(T).unwrap();
    let by = vec!["key:k-test"; events.len()];
    let sealed = journal
        .prepare(T, events, &by, first, Timestamp::now())
        .unwrap();
    let committed = journal.commit(T, &sealed).unwrap();
    db.index_batch(T, &sealed, &committed.location, events)
}

#[test]
fn a_poisoned_index_recovers_once_space_returns() {
    let Some(fs) = Tmpfs::mount("16m") else {
        return;
    };
    let log = tempfile::tempdir().unwrap();
    let journal = common::journal_in(log.path());
    journal.open_tenant(T).unwrap();
    let db = Db::open(journal.clone(), &fs.path().join("index")).unwrap();
    let events = common::generated(6000, 3);
    let mut chunks = events.chunks(200);
    commit_and_index(&db, chunks.next().unwrap()).unwrap();
    // Fill the disk.
    let filler = fs.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0x5a; 64 << 10]).is_ok() {}
    drop(f);
    let mut failed = false;
    for chunk in chunks.by_ref() {
        if commit_and_index(&db, chunk).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the index never failed on a full disk");
    std::fs::remove_file(&filler).unwrap();
    // Space is back, yet the keyspace still refuses writes: a shared handle in an error
    // state that only a reopen clears.
    let next = chunks.next().unwrap();
    assert!(
        commit_and_index(&db, next).is_err(),
        "expected a poisoned keyspace"
    );
    db.recover(Duration::from_secs(5)).unwrap();
    let size = journal.store().size(T).unwrap();
    assert_eq!(db.indexed(T).unwrap(), size, "caught up from the log");
    commit_and_index(&db, chunks.next().unwrap()).unwrap();
    assert_eq!(db.indexed(T).unwrap(), journal.store().size(T).unwrap());
}
