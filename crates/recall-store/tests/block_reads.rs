//! Reading one body block by reference gives the same events as opening its batch.
#![allow(clippy::unwrap_used)]

mod common;

use common::event;
use jiff::Timestamp;
use std::sync::Arc;

use recall_crypto::{Kek, Keystore};
use recall_ledger::Signer;
use recall_store::{BlockRef, EmbeddedOptions, EmbeddedStore, Journal, split_block};

fn journal(dir: &std::path::Path) -> Journal {
    common::journal(dir, EmbeddedOptions::default())
}

#[test]
fn blocks_read_by_reference_match_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal(tmp.path());
    journal.open_tenant("t").unwrap();
    let mut first = 0;
    for round in 0..3u32 {
        // Two epochs in one batch, and enough bytes for several blocks each.
        let events: Vec<_> = (0..400).map(|i| event(i + round, 1 + (i % 2))).collect();
        let batch = journal
            .prepare(
                "t",
                &events,
                &vec!["key:k-test"; events.len()],
                first,
                Timestamp::now(),
            )
            .unwrap();
        let committed = journal.commit("t", &batch).unwrap();
        let refs = BlockRef::all(&batch, &committed.location);
        assert!(refs.len() > 2, "the test needs several blocks per batch");
        let mut read = Vec::new();
        for (r, block) in refs.iter().zip(&batch.blocks) {
            let plain = journal.read_block("t", r).unwrap().unwrap();
            let seqs = recall_store::block_seqs(block, &batch);
            for (seq, bytes) in seqs.zip(split_block(&plain).unwrap()) {
                read.push((seq, bytes.to_vec()));
            }
        }
        read.sort();
        assert_eq!(read, journal.open_batch("t", &batch).unwrap());
        first += events.len() as u64;
    }
}

#[test]
fn a_reference_outside_the_tenants_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal(tmp.path());
    journal.open_tenant("a").unwrap();
    journal.open_tenant("b").unwrap();
    // b has keys for the epoch too, so only the location check can refuse the read.
    journal
        .append("b", vec![event(2, 1)], "key:k-test", Timestamp::now())
        .unwrap();
    let batch = journal
        .prepare("a", &[event(1, 1)], &["key:k-test"], 0, Timestamp::now())
        .unwrap();
    let committed = journal.commit("a", &batch).unwrap();
    let r = &BlockRef::all(&batch, &committed.location)[0];
    assert!(journal.read_block("b", r).is_err());
}

#[test]
fn a_block_read_back_holds_its_bytes_and_no_more() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal(tmp.path());
    journal.open_tenant("t").unwrap();
    // One event: the shape of every self-audit record.
    let batch = journal
        .prepare("t", &[event(1, 1)], &["key:k-test"], 0, Timestamp::now())
        .unwrap();
    let committed = journal.commit("t", &batch).unwrap();
    let r = &BlockRef::all(&batch, &committed.location)[0];
    let plain = journal.read_block("t", r).unwrap().unwrap();
    assert_eq!(split_block(&plain).unwrap().len(), 1);
    // Readers cache the vector as it is: its allocation is what the cache holds.
    assert_eq!(plain.capacity(), plain.len(), "reserved beyond the block");
}

#[test]
fn the_latest_checkpoint_is_the_last_persisted_also_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let mut notes = Vec::new();
    {
        let journal = journal(tmp.path());
        journal.open_tenant("t").unwrap();
        assert_eq!(journal.latest_checkpoint("t").unwrap(), None);
        for i in 0..3 {
            journal
                .append("t", vec![event(i, 1)], "key:k-test", Timestamp::now())
                .unwrap();
            notes.push(journal.checkpoint("t").unwrap());
            assert_eq!(
                journal.latest_checkpoint("t").unwrap().as_ref(),
                notes.last()
            );
        }
        assert_eq!(journal.store().checkpoints("t").unwrap(), notes);
    }
    // Reopened over the same keystore and logs.
    let keystore = Keystore::open(&tmp.path().join("ks.db"), Kek::from_bytes([7; 32])).unwrap();
    let store =
        EmbeddedStore::open(&tmp.path().join("tenants"), EmbeddedOptions::default()).unwrap();
    let signer = Signer::new("test", &[1; 32]).unwrap();
    let journal = Journal::new(Arc::new(store), Arc::new(keystore), signer, vec![], "test");
    journal.open_tenant("t").unwrap();
    assert_eq!(
        journal.latest_checkpoint("t").unwrap().as_ref(),
        notes.last()
    );
    assert_eq!(journal.store().checkpoints("t").unwrap(), notes);
}
