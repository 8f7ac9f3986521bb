//! The embedded engine under injected write and sync failures, torn tails and damage.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::sync::Arc;

use recall_ledger::{Hash, leaf_hash, root_of_leaves};
use recall_store::{
    EmbeddedOptions, EmbeddedStore, FaultPlan, SealedBatch, SealedBlock, Store, StoreError,
};

const T: &str = "tenant-a";

fn batch(first_seq: u64, n: u64) -> SealedBatch {
    let commitments: Vec<Hash> = (first_seq..first_seq + n).map(commitment).collect();
    SealedBatch {
        first_seq,
        commitments,
        blocks: vec![SealedBlock {
            epoch: 202601,
            indices: None,
            sealed: vec![(first_seq % 251) as u8; 300],
        }],
    }
}

fn commitment(seq: u64) -> Hash {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&seq.to_le_bytes());
    h[31] = 0xA5;
    h
}

fn expected_root(size: u64) -> Hash {
    let leaves: Vec<Hash> = (0..size).map(|s| leaf_hash(&commitment(s))).collect();
    root_of_leaves(&leaves)
}

fn open(dir: &Path, segment_bytes: u64, faults: Option<FaultPlan>) -> EmbeddedStore {
    let opts = EmbeddedOptions {
        segment_bytes,
        read_only: false,
        faults: faults.map(Arc::new),
    };
    EmbeddedStore::open(dir, opts).unwrap()
}

fn append_n(store: &EmbeddedStore, batches: u64, per: u64) {
    store.ensure_tenant(T).unwrap();
    for _ in 0..batches {
        let size = store.size(T).unwrap();
        store.append(T, &batch(size, per)).unwrap();
    }
}

fn segment_path(dir: &Path, n: u64) -> std::path::PathBuf {
    dir.join(T).join("log").join(format!("{n:016}.seg"))
}

#[test]
fn a_torn_write_is_not_acknowledged_and_is_undone_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 64 << 20, Some(FaultPlan::fail_write(3, true)));
        append_n(&store, 2, 10);
        let err = store.append(T, &batch(20, 10)).unwrap_err();
        assert!(matches!(err, StoreError::Injected(_)), "{err}");
        // The torn bytes were cut before the error returned: the next append goes on.
        assert_eq!(store.size(T).unwrap(), 20);
        store.append(T, &batch(20, 10)).unwrap();
        assert_eq!(store.root(T).unwrap(), expected_root(30));
    }
    let store = open(tmp.path(), 64 << 20, None);
    assert_eq!(store.size(T).unwrap(), 30);
    assert_eq!(store.root(T).unwrap(), expected_root(30));
}

#[test]
fn a_batch_whose_sync_failed_is_not_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 64 << 20, Some(FaultPlan::fail_sync(2)));
        append_n(&store, 1, 7);
        assert!(store.append(T, &batch(7, 7)).is_err());
    }
    // The whole frame reached the file before the sync failed; the append was answered
    // as failed, so it was cut and recovery does not bring it back.
    let store = open(tmp.path(), 64 << 20, None);
    assert_eq!(store.size(T).unwrap(), 7);
    assert_eq!(store.root(T).unwrap(), expected_root(7));
}

#[test]
fn sealing_spreads_the_log_over_segments_and_reopen_restores_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 4096, None);
        append_n(&store, 40, 9);
        assert_eq!(store.root(T).unwrap(), expected_root(360));
    }
    assert!(
        segment_path(tmp.path(), 3).exists(),
        "expected several segments"
    );
    let store = open(tmp.path(), 4096, None);
    assert_eq!(store.size(T).unwrap(), 360);
    assert_eq!(store.root(T).unwrap(), expected_root(360));
    let mut seen = 0;
    store
        .scan(T, &mut |b, _| {
            assert_eq!(b.first_seq, seen);
            seen += b.commitments.len() as u64;
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, 360);
}

#[test]
fn lost_tiles_are_rebuilt_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 4096, None);
        append_n(&store, 80, 9);
    }
    std::fs::remove_dir_all(tmp.path().join(T).join("tiles")).unwrap();
    let store = open(tmp.path(), 4096, None);
    assert_eq!(store.root(T).unwrap(), expected_root(720));
    assert_eq!(store.stored_hashes(T, 0).unwrap(), 720);
    assert_eq!(store.stored_hashes(T, 8).unwrap(), 2);
    let level8 = store.read_hashes(T, 8, 0, 2).unwrap();
    let leaves: Vec<Hash> = (0..256).map(|s| leaf_hash(&commitment(s))).collect();
    assert_eq!(level8[0], root_of_leaves(&leaves));
}

#[test]
fn a_torn_tail_left_by_a_crash_is_cut_back() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 64 << 20, None);
        append_n(&store, 3, 5);
    }
    let seg = segment_path(tmp.path(), 1);
    // The file ends in preallocated zeros; the data ends at the last non-zero byte (or a
    // few bytes after it).
    let bytes = std::fs::read(&seg).unwrap();
    let data_end = bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    assert!(
        data_end < bytes.len() as u64,
        "the active segment is preallocated"
    );
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(data_end - 100).unwrap(); // tear the last batch
    let store = open(tmp.path(), 64 << 20, None);
    assert_eq!(store.size(T).unwrap(), 10);
    assert_eq!(store.root(T).unwrap(), expected_root(10));
    store.append(T, &batch(10, 5)).unwrap();
    drop(store);
    let store = open(tmp.path(), 64 << 20, None);
    assert_eq!(store.size(T).unwrap(), 15);
}

#[test]
fn damage_in_the_middle_is_an_error_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 64 << 20, None);
        append_n(&store, 4, 5);
    }
    let seg = segment_path(tmp.path(), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = 120; // inside the first batch's payload
    bytes[at] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();
    let opts = EmbeddedOptions::default();
    let store = EmbeddedStore::open(tmp.path(), opts).unwrap();
    match store.size(T) {
        Err(StoreError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, seg);
            assert!(offset <= at as u64, "offset {offset}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn a_missing_sealed_segment_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 4096, None);
        append_n(&store, 40, 9);
    }
    std::fs::remove_file(segment_path(tmp.path(), 2)).unwrap();
    let store = open(tmp.path(), 4096, None);
    let err = store.size(T).unwrap_err();
    assert!(err.to_string().contains("segment 2 is missing"), "{err}");
}

#[test]
fn a_second_writer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = open(tmp.path(), 4096, None);
    let second = EmbeddedStore::open(tmp.path(), EmbeddedOptions::default());
    assert!(matches!(second, Err(StoreError::Locked(_))));
}

#[test]
fn out_of_order_batches_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path(), 4096, None);
    append_n(&store, 1, 3);
    assert!(matches!(
        store.append(T, &batch(5, 3)),
        Err(StoreError::OutOfOrder { .. })
    ));
}

#[test]
fn a_segment_torn_while_being_created_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path(), 4096, None);
        append_n(&store, 40, 9);
    }
    // The crash hit while the next segment's header was being written.
    let mut next = 1;
    while segment_path(tmp.path(), next + 1).exists() {
        next += 1;
    }
    let extra = segment_path(tmp.path(), next + 1);
    std::fs::write(&extra, [7u8, 0, 0]).unwrap();
    // A next segment can only exist once the one before is sealed: here it is not, so
    // this is damage, not a crash, and it is reported.
    let store = open(tmp.path(), 4096, None);
    let err = store.size(T).unwrap_err();
    assert!(err.to_string().contains("not sealed"), "{err}");
    drop(store);
    std::fs::remove_file(&extra).unwrap();
    // A torn header on the only active segment: recreated, nothing lost.
    let seg = segment_path(tmp.path(), next);
    let bytes = std::fs::read(&seg).unwrap();
    let tmp2 = tempfile::tempdir().unwrap();
    let log = tmp2.path().join(T).join("log");
    std::fs::create_dir_all(&log).unwrap();
    std::fs::write(log.join(format!("{:016}.seg", 1)), &bytes[..5]).unwrap();
    let store = open(tmp2.path(), 4096, None);
    assert_eq!(store.size(T).unwrap(), 0);
    append_n(&store, 1, 3);
    assert_eq!(store.size(T).unwrap(), 3);
}

#[test]
fn a_crash_between_sealing_and_the_next_segment_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let sealed_size;
    {
        let store = open(tmp.path(), 4096, None);
        store.ensure_tenant(T).unwrap();
        let mut size = 0;
        loop {
            let before = size;
            size = store.append(T, &batch(size, 9)).unwrap().size;
            if segment_path(tmp.path(), 2).exists() {
                sealed_size = before;
                break;
            }
        }
    }
    // Segment 1 is sealed; the crash came before segment 2 existed.
    std::fs::remove_file(segment_path(tmp.path(), 2)).unwrap();
    let store = open(tmp.path(), 4096, None);
    assert_eq!(store.size(T).unwrap(), sealed_size);
    assert_eq!(store.root(T).unwrap(), expected_root(sealed_size));
    assert!(segment_path(tmp.path(), 2).exists());
    store.append(T, &batch(sealed_size, 9)).unwrap();
    assert_eq!(store.root(T).unwrap(), expected_root(sealed_size + 9));
}
