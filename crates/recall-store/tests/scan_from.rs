//! `scan_from` visits exactly the batches that reach `from_seq`, skips sealed segments
//! below it, and reports the same summary as a full scan.
#![allow(clippy::unwrap_used)]

use recall_store::{EmbeddedOptions, EmbeddedStore, SealedBatch, SealedBlock, Store};

const T: &str = "t";

#[test]
fn scan_from_visits_the_batches_that_reach_from_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        segment_bytes: 2048,
        ..Default::default()
    };
    let store = EmbeddedStore::open(tmp.path(), opts).unwrap();
    store.ensure_tenant(T).unwrap();
    let mut ends = Vec::new();
    let mut size = 0u64;
    for i in 0..60u64 {
        let n = 1 + i % 7;
        let batch = SealedBatch {
            first_seq: size,
            commitments: vec![[i as u8; 32]; n as usize],
            blocks: vec![SealedBlock {
                epoch: 202601,
                indices: None,
                sealed: vec![1; 64],
            }],
        };
        store.append(T, &batch).unwrap();
        size += n;
        ends.push((batch.first_seq, size));
    }
    let segments = std::fs::read_dir(tmp.path().join(T).join("log"))
        .unwrap()
        .count();
    assert!(segments > 3, "the test needs several sealed segments");
    let full = store.scan(T, &mut |_, _| Ok(())).unwrap();
    for from in [0, 1, 17, size / 2, size - 1, size, size + 5] {
        let mut seen = Vec::new();
        let summary = store
            .scan_from(T, from, &mut |b, _| {
                seen.push(b.first_seq);
                Ok(())
            })
            .unwrap();
        let want: Vec<u64> = ends
            .iter()
            .filter(|(_, end)| *end > from)
            .map(|(first, _)| *first)
            .collect();
        assert_eq!(seen, want, "from {from}");
        assert_eq!(summary, full);
    }
}
