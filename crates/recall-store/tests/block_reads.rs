//! Reading one body block by reference gives the same events as opening its batch.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use jiff::Timestamp;
use recall_crypto::{Kek, Keystore};
use recall_ledger::Signer;
use recall_store::{BlockRef, EmbeddedOptions, EmbeddedStore, Journal, split_block};

fn event(i: u32, month: u32) -> recall_model::Event {
    let json = format!(
        r#"{{"time":"2026-{month:02}-03T10:00:{:02}Z","actor":{{"id":"u-{i}"}},"action":"read","patient":{{"id":"p-{}"}},"detail":{{"pad":"{}"}}}}"#,
        i % 60,
        i % 7,
        "x".repeat((i % 50) as usize * 20)
    );
    recall_model::parse_event(json.as_bytes(), Timestamp::now()).unwrap()
}

fn journal(dir: &std::path::Path) -> Journal {
    let keystore = Keystore::create(&dir.join("ks.db"), Kek::from_bytes([7; 32])).unwrap();
    let store = EmbeddedStore::open(&dir.join("tenants"), EmbeddedOptions::default()).unwrap();
    let signer = Signer::new("test", &[1; 32]).unwrap();
    Journal::new(Arc::new(store), Arc::new(keystore), signer, vec![], "test")
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
            .prepare("t", &events, first, Timestamp::now())
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
        .append("b", vec![event(2, 1)], Timestamp::now())
        .unwrap();
    let batch = journal
        .prepare("a", &[event(1, 1)], 0, Timestamp::now())
        .unwrap();
    let committed = journal.commit("a", &batch).unwrap();
    let r = &BlockRef::all(&batch, &committed.location)[0];
    assert!(journal.read_block("b", r).is_err());
}
