//! Property test: random appends, torn tails and reopens against a simple model (the
//! list of acknowledged commitments).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;

use proptest::prelude::*;
use recall_ledger::{Hash, leaf_hash, root_of_leaves};
use recall_store::{EmbeddedOptions, EmbeddedStore, SealedBatch, SealedBlock, Store};

const T: &str = "model";

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Reopen,
    /// Tear `n` bytes off the active segment, then reopen (a crash mid-write of a batch
    /// that was never acknowledged is simulated by appending garbage instead).
    CrashWithGarbage(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..40).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        1 => (1u8..200).prop_map(Op::CrashWithGarbage),
    ]
}

fn open(dir: &Path) -> EmbeddedStore {
    let store = EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            segment_bytes: 2048,
            ..Default::default()
        },
    )
    .unwrap();
    store.ensure_tenant(T).unwrap();
    store
}

fn active_segment(dir: &Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir.join(T).join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn store_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Some(open(tmp.path()));
        let mut model: Vec<Hash> = Vec::new();
        let mut counter = 0u64;
        for op in ops {
            match op {
                Op::Append(n) => {
                    let s = store.as_ref().unwrap();
                    let commitments: Vec<Hash> = (0..n).map(|_| { counter += 1; let mut h = [7u8; 32]; h[..8].copy_from_slice(&counter.to_le_bytes()); h }).collect();
                    let batch = SealedBatch { first_seq: model.len() as u64, commitments: commitments.clone(), blocks: vec![SealedBlock { epoch: 202601, indices: None, sealed: vec![1; 64] }] };
                    s.append(T, &batch).unwrap();
                    model.extend(commitments);
                }
                Op::Reopen => { drop(store.take()); store = Some(open(tmp.path())); }
                Op::CrashWithGarbage(n) => {
                    drop(store.take());
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new().append(true).open(active_segment(tmp.path())).unwrap();
                    // A torn frame: a plausible length then too few bytes.
                    f.write_all(&(1000u32).to_le_bytes()).unwrap();
                    f.write_all(&vec![0xEE; n as usize]).unwrap();
                    store = Some(open(tmp.path()));
                }
            }
            let s = store.as_ref().unwrap();
            prop_assert_eq!(s.size(T).unwrap(), model.len() as u64);
            let leaves: Vec<Hash> = model.iter().map(|c| leaf_hash(c)).collect();
            prop_assert_eq!(s.root(T).unwrap(), root_of_leaves(&leaves));
            prop_assert_eq!(s.head(T).unwrap(), (model.len() as u64, root_of_leaves(&leaves)));
        }
        drop(store);
        let s = open(tmp.path());
        let mut scanned = Vec::new();
        s.scan(T, &mut |b, _| { scanned.extend(b.commitments); Ok(()) }).unwrap();
        prop_assert_eq!(scanned, model);
    }
}
