//! Forgetting an epoch: its wrapped keys leave every keystore file, and it never gets
//! new keys.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use recall_crypto::{CryptoError, KEYSTORE_FILE, Kek, Keystore, random_array};

fn wrapped_epoch_keys(path: &Path, tenant: &str, epoch: u32) -> (Vec<u8>, Vec<u8>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT data_key, commit_secret FROM epoch_keys WHERE tenant = ?1 AND epoch = ?2",
        rusqlite::params![tenant, epoch],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn keystore_files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", path.display())))
        .filter(|p| p.exists())
        .collect()
}

fn occurs(needle: &[u8], files: &[PathBuf]) -> bool {
    files.iter().any(|f| {
        std::fs::read(f)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    })
}

#[test]
fn forgotten_keys_leave_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEYSTORE_FILE);
    let kek = random_array();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    for epoch in [202601, 202602, 202603] {
        ks.epoch_keys("acme", epoch).unwrap();
        ks.epoch_keys("beta", epoch).unwrap();
    }
    let kept = ks.epoch_keys("acme", 202603).unwrap();
    let (data, commit) = wrapped_epoch_keys(&path, "acme", 202602);
    let (other_data, _) = wrapped_epoch_keys(&path, "acme", 202603);
    let files = keystore_files(&path);
    assert!(
        occurs(&data, &files) && occurs(&commit, &files),
        "test premise"
    );

    assert!(ks.forget_epoch("acme", 202602).unwrap());
    let files = keystore_files(&path);
    assert!(!occurs(&data, &files), "wrapped data key still on disk");
    assert!(
        !occurs(&commit, &files),
        "wrapped commit secret still on disk"
    );
    assert!(
        occurs(&other_data, &files),
        "another epoch's key went missing"
    );

    assert_eq!(ks.epochs("acme").unwrap(), [202601, 202603]);
    assert_eq!(ks.forgotten_epochs("acme").unwrap(), [202602]);
    assert!(ks.existing_epoch_keys("acme", 202602).unwrap().is_none());
    let err = ks.epoch_keys("acme", 202602).unwrap_err();
    assert!(matches!(err, CryptoError::EpochForgotten { .. }), "{err}");
    drop(ks);

    // Also after reopen; other epochs are intact.
    let ks = Keystore::open(&path, Kek::from_bytes(kek)).unwrap();
    assert!(ks.existing_epoch_keys("acme", 202602).unwrap().is_none());
    assert!(ks.epoch_keys("acme", 202602).is_err());
    assert_eq!(
        ks.epoch_keys("acme", 202603).unwrap().data.0.expose(),
        kept.data.0.expose()
    );
    assert_eq!(ks.epochs("beta").unwrap(), [202601, 202602, 202603]);
    // Forgetting twice, or an epoch that never had keys, is fine.
    assert!(!ks.forget_epoch("acme", 202602).unwrap());
    assert!(!ks.forget_epoch("acme", 202001).unwrap());
    assert!(ks.epoch_keys("acme", 202001).is_err());
}
