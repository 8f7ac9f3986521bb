//! `recall keys rotate-signing`: during the transition every new checkpoint carries the
//! old and the new key's signatures (either key alone verifies it); after `--finish` only
//! the new key signs; old checkpoints stay verifiable with the published old key, and
//! `recall verify` accepts the whole checkpoint log throughout.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{hospital_ndjson, populated, recall, recall_ok};
use recall_ledger::{Note, Verifier};

const TENANT: &str = "st-marys";

fn vkey(data: &Path) -> Verifier {
    let text = std::fs::read_to_string(data.join("checkpoint.vkey")).unwrap();
    Verifier::from_vkey(text.trim()).unwrap()
}

/// Appends events, so the next checkpoint is a new one.
fn grow(data: &Path, root: &Path, seed: u64) -> String {
    let input = root.join(format!("more-{seed}.ndjson"));
    std::fs::write(&input, hospital_ndjson(50, seed)).unwrap();
    recall_ok(
        data,
        &["import", "--tenant", TENANT, input.to_str().unwrap()],
    );
    recall_ok(data, &["checkpoint", "--tenant", TENANT])
}

fn signatures(note: &str) -> usize {
    Note::parse(note).unwrap().signatures.len()
}

#[test]
fn checkpoints_carry_both_signatures_during_a_rotation_and_old_ones_stay_verifiable() {
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 300, 3);
    let old = vkey(&data);
    let before = recall_ok(&data, &["checkpoint", "--tenant", TENANT]);
    assert_eq!(signatures(&before), 1);

    // A second start refuses while one is in progress; finishing needs one in progress.
    assert!(
        !recall(&data, &["keys", "rotate-signing", "--finish"])
            .status
            .success()
    );
    let printed = recall_ok(&data, &["keys", "rotate-signing"]);
    let new = vkey(&data);
    assert_eq!(printed.trim(), new.to_vkey());
    assert_ne!(new.public_key(), old.public_key());
    assert_eq!(new.name(), old.name());
    let previous = std::fs::read_to_string(data.join("checkpoint.vkey.previous")).unwrap();
    assert_eq!(previous.trim(), old.to_vkey());
    assert!(!recall(&data, &["keys", "rotate-signing"]).status.success());

    // Transition: both sign; either key alone verifies.
    let during = grow(&data, root.path(), 11);
    assert_eq!(signatures(&during), 2);
    Note::open(&during, std::slice::from_ref(&old)).unwrap();
    Note::open(&during, std::slice::from_ref(&new)).unwrap();
    recall_ok(&data, &["verify"]);

    // Finished: only the new key signs.
    recall_ok(&data, &["keys", "rotate-signing", "--finish"]);
    let after = grow(&data, root.path(), 12);
    assert_eq!(signatures(&after), 1);
    Note::open(&after, std::slice::from_ref(&new)).unwrap();
    assert!(Note::open(&after, std::slice::from_ref(&old)).is_err());
    // The old checkpoint still verifies with the published old key, and verify accepts the
    // whole checkpoint log (old-key, two-key and new-key checkpoints).
    Note::open(&before, std::slice::from_ref(&old)).unwrap();
    let out = recall_ok(&data, &["verify"]);
    assert!(!out.is_empty());
}
