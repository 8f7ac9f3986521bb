//! The embedded engine near a full disk: preallocation degrades to what a batch needs, a
//! refused batch leaves nothing behind, recall's own records may use the headroom client
//! batches leave, and
//! appends resume once space returns, without reopening. First with an injected limit
//! ([`FaultPlan::disk_full_at`]), then on a real 5 MiB tmpfs (root only: skipped
//! otherwise, except under CI=true where it fails).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use recall_testkit::Tmpfs;
use std::path::Path;
use std::sync::Arc;

use recall_ledger::{Hash, leaf_hash, root_of_leaves};
use recall_store::{
    EmbeddedOptions, EmbeddedStore, FaultPlan, Reserve, SealedBatch, SealedBlock, Store,
};

const T: &str = "tenant-a";
/// The default segment size: its 8 MiB preallocation steps are larger than the disks here.
const SEGMENT: u64 = 64 << 20;

fn batch(first_seq: u64, n: u64, body: usize) -> SealedBatch {
    SealedBatch {
        first_seq,
        commitments: (first_seq..first_seq + n).map(commitment).collect(),
        blocks: vec![SealedBlock {
            epoch: 202601,
            indices: None,
            sealed: vec![(first_seq % 251) as u8 | 1; body],
        }],
    }
}

fn commitment(seq: u64) -> Hash {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&seq.to_le_bytes());
    h[31] = 0x5A;
    h
}

fn expected_root(size: u64) -> Hash {
    let leaves: Vec<Hash> = (0..size).map(|s| leaf_hash(&commitment(s))).collect();
    root_of_leaves(&leaves)
}

fn open(dir: &Path, faults: Option<Arc<FaultPlan>>) -> EmbeddedStore {
    let opts = EmbeddedOptions {
        segment_bytes: SEGMENT,
        read_only: false,
        faults,
    };
    let store = EmbeddedStore::open(dir, opts).unwrap();
    store.ensure_tenant(T).unwrap();
    store
}

fn segment_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(T).join("log").join(format!("{:016}.seg", 1)))
        .unwrap()
        .len()
}

/// Appends client batches until one is refused; returns the log size then.
fn fill(store: &EmbeddedStore, per: u64, body: usize) -> u64 {
    for _ in 0..10_000 {
        let size = store.size(T).unwrap();
        match store.append(T, &batch(size, per, body)) {
            Ok(_) => {}
            Err(e) => {
                assert!(e.is_storage_full(), "expected a full disk: {e}");
                assert_eq!(store.size(T).unwrap(), size, "a refused batch counts");
                return size;
            }
        }
    }
    panic!("the disk never filled");
}

#[test]
fn preallocation_degrades_to_what_the_batch_needs() {
    let tmp = tempfile::tempdir().unwrap();
    // Far less than one 8 MiB step.
    let limit = (1 << 20) + (300 << 10);
    let faults = Arc::new(FaultPlan::disk_full_at(limit));
    let store = open(tmp.path(), Some(faults.clone()));
    store.append(T, &batch(0, 4, 2000)).unwrap();
    assert!(
        segment_len(tmp.path()) <= limit,
        "preallocated past the limit"
    );
    let acked = fill(&store, 4, 2000);
    assert!(acked > 4, "only {acked} events fit");
    assert!(segment_len(tmp.path()) <= limit);
    // The refusal poisoned nothing: the headroom takes recall's own records.
    let r = store
        .append_with(T, &batch(acked, 1, 500), Reserve::Use)
        .unwrap();
    assert_eq!(r.size, acked + 1);
    assert!(store.check_writable(T, 64 << 10).is_err());
    // Space returns: client batches are taken again, without reopening.
    faults.set_space(u64::MAX);
    store.check_writable(T, 64 << 10).unwrap();
    store.append(T, &batch(acked + 1, 4, 2000)).unwrap();
    assert_eq!(store.root(T).unwrap(), expected_root(acked + 5));
    drop(store);
    let store = open(tmp.path(), None);
    assert_eq!(store.size(T).unwrap(), acked + 5);
    assert_eq!(store.root(T).unwrap(), expected_root(acked + 5));
}

#[test]
fn a_refused_client_batch_leaves_headroom_for_own_records() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Arc::new(FaultPlan::disk_full_at(2 << 20));
    let store = open(tmp.path(), Some(faults));
    let acked = fill(&store, 8, 4000);
    // An eighth of the disk (256 KiB) is left for recall's own records (~1 KiB each).
    let mut own = 0;
    while store
        .append_with(T, &batch(acked + own, 1, 700), Reserve::Use)
        .is_ok()
    {
        own += 1;
        assert!(own < 10_000);
    }
    assert!(own > 200, "only {own} records fit in the headroom");
    drop(store);
    let store = open(tmp.path(), None);
    assert_eq!(store.size(T).unwrap(), acked + own);
    assert_eq!(store.root(T).unwrap(), expected_root(acked + own));
}

#[test]
fn on_a_real_full_disk_appends_and_checkpoints_resume_once_space_returns() {
    let Some(fs) = Tmpfs::mount("5m") else { return };
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![1u8; 2 << 20]).unwrap();
    let store = open(&fs.path().join("store"), None);
    let acked = fill(&store, 16, 4000);
    assert!(
        acked > 0,
        "nothing fit on a 5 MiB disk with 64 MiB segments"
    );
    // Use up the headroom and the rest of the disk with recall's own records and
    // checkpoint notes (each refused one cut back, not left torn).
    let mut own = 0;
    while store
        .append_with(T, &batch(acked + own, 1, 4000), Reserve::Use)
        .is_ok()
    {
        own += 1;
    }
    let note = "x".repeat(32 << 10);
    let mut notes = 0;
    loop {
        match store.append_checkpoint(T, &format!("{notes} {note}")) {
            Ok(()) => notes += 1,
            Err(e) => {
                assert!(e.is_storage_full(), "{e}");
                break;
            }
        }
        assert!(notes < 1000, "the disk never filled");
    }
    std::fs::remove_file(&filler).unwrap();
    store.check_writable(T, 64 << 10).unwrap();
    let size = acked + own;
    store.append(T, &batch(size, 16, 4000)).unwrap();
    store
        .append_checkpoint(T, &format!("{notes} {note}"))
        .unwrap();
    drop(store);
    let store = open(&fs.path().join("store"), None);
    assert_eq!(store.size(T).unwrap(), size + 16);
    assert_eq!(store.root(T).unwrap(), expected_root(size + 16));
    let read = store.checkpoints(T).unwrap();
    assert_eq!(read.len(), notes + 1);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, n)| n.starts_with(&format!("{i} ")))
    );
}
