//! The keystore: creation, the KEK check, persistence across reopen, listing, threads.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use recall_crypto::{CryptoError, KEYSTORE_FILE, Kek, Keystore, random_array};

fn setup() -> (tempfile::TempDir, PathBuf, [u8; 32]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEYSTORE_FILE);
    (dir, path, random_array())
}

#[test]
fn create_then_open_with_the_same_kek() {
    let (_dir, path, kek) = setup();
    drop(Keystore::create(&path, Kek::from_bytes(kek)).unwrap());
    let ks = Keystore::open(&path, Kek::from_bytes(kek)).unwrap();
    assert_eq!(ks.path(), path);
    assert!(format!("{ks:?}").contains("Keystore"));
}

#[test]
fn wrong_kek_is_refused_at_open() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    ks.epoch_keys("acme", 202603).unwrap();
    drop(ks);
    let err = Keystore::open(&path, Kek::from_bytes(random_array())).unwrap_err();
    assert!(matches!(err, CryptoError::WrongKek { .. }), "{err}");
    assert!(
        err.to_string().contains("wrong key-encryption key"),
        "{err}"
    );
    // The right one still works afterwards.
    Keystore::open(&path, Kek::from_bytes(kek)).unwrap();
}

#[test]
fn create_refuses_an_existing_file() {
    let (dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    ks.epoch_keys("acme", 202603).unwrap();
    drop(ks);
    let err = Keystore::create(&path, Kek::from_bytes(kek)).unwrap_err();
    assert!(matches!(err, CryptoError::KeystoreExists { .. }), "{err}");
    // The refused create did not damage or remove the keystore.
    let ks = Keystore::open(&path, Kek::from_bytes(kek)).unwrap();
    assert_eq!(ks.epochs("acme").unwrap(), [202603]);
    // Any existing file counts, even an empty one.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert!(Keystore::create(&empty, Kek::from_bytes(kek)).is_err());
}

#[test]
fn open_refuses_missing_and_foreign_files() {
    let (dir, path, kek) = setup();
    let err = Keystore::open(&path, Kek::from_bytes(kek)).unwrap_err();
    assert!(matches!(err, CryptoError::KeystoreIo { .. }), "{err}");
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let err = Keystore::open(&junk, Kek::from_bytes(kek)).unwrap_err();
    assert!(matches!(err, CryptoError::NotAKeystore { .. }), "{err}");
}

#[test]
fn keystore_files_are_private() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    ks.epoch_keys("acme", 202603).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let mode = std::fs::metadata(&wal).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn keys_persist_across_reopen() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    let e1 = ks.epoch_keys("acme", 202603).unwrap();
    let e2 = ks.epoch_keys("acme", 202604).unwrap();
    let e3 = ks.epoch_keys("beta", 202603).unwrap();
    let ix = ks.index_key("acme").unwrap();
    let sk = ks.create_signing_key("log.example/acme").unwrap();
    // Same answer again from the same handle.
    assert_eq!(
        ks.epoch_keys("acme", 202603).unwrap().data.0.expose(),
        e1.data.0.expose()
    );
    drop(ks);

    let ks = Keystore::open(&path, Kek::from_bytes(kek)).unwrap();
    let again = ks.epoch_keys("acme", 202603).unwrap();
    assert_eq!(again.data.0.expose(), e1.data.0.expose());
    assert_eq!(again.commit.0.expose(), e1.commit.0.expose());
    let existing = ks.existing_epoch_keys("acme", 202604).unwrap().unwrap();
    assert_eq!(existing.data.0.expose(), e2.data.0.expose());
    assert_eq!(
        ks.epoch_keys("beta", 202603).unwrap().commit.0.expose(),
        e3.commit.0.expose()
    );
    assert_eq!(ks.index_key("acme").unwrap().0.expose(), ix.0.expose());
    let sk2 = ks.signing_key().unwrap().unwrap();
    assert_eq!(sk2.name, "log.example/acme");
    assert_eq!(sk2.seed.expose(), sk.seed.expose());
    assert_eq!(sk2.public_key, sk.public_key);
}

#[test]
fn all_secrets_are_distinct() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    let mut all = Vec::new();
    for (tenant, epoch) in [("acme", 202603), ("acme", 202604), ("beta", 202603)] {
        let k = ks.epoch_keys(tenant, epoch).unwrap();
        all.push(*k.data.0.expose());
        all.push(*k.commit.0.expose());
    }
    all.push(*ks.index_key("acme").unwrap().0.expose());
    all.push(*ks.index_key("beta").unwrap().0.expose());
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
}

#[test]
fn existing_epoch_keys_never_creates() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    assert!(ks.existing_epoch_keys("acme", 202603).unwrap().is_none());
    assert!(ks.epochs("acme").unwrap().is_empty());
    assert!(ks.tenants().unwrap().is_empty());
}

#[test]
fn listing_tenants_and_epochs() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    for (tenant, epoch) in [
        ("beta", 202605),
        ("acme", 202604),
        ("acme", 202512),
        ("acme", 202603),
    ] {
        ks.epoch_keys(tenant, epoch).unwrap();
    }
    ks.index_key("gamma").unwrap();
    assert_eq!(ks.tenants().unwrap(), ["acme", "beta", "gamma"]);
    assert_eq!(ks.epochs("acme").unwrap(), [202512, 202603, 202604]);
    assert_eq!(ks.epochs("beta").unwrap(), [202605]);
    assert!(ks.epochs("gamma").unwrap().is_empty());
}

#[test]
fn invalid_epochs_and_tenants_are_refused() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    for epoch in [0, 202600, 202613, 2026, 1_000_001] {
        let err = ks.epoch_keys("acme", epoch).unwrap_err();
        assert!(
            matches!(err, CryptoError::InvalidEpoch { .. }),
            "{epoch}: {err}"
        );
    }
    assert!(matches!(
        ks.epoch_keys("", 202603),
        Err(CryptoError::InvalidTenant { .. })
    ));
    let long = "t".repeat(256);
    assert!(matches!(
        ks.index_key(&long),
        Err(CryptoError::InvalidTenant { .. })
    ));
}

#[test]
fn signing_key_rotation() {
    let (_dir, path, kek) = setup();
    let ks = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    assert!(ks.signing_key().unwrap().is_none());
    for bad in ["", "has space", "a+b"] {
        assert!(matches!(
            ks.create_signing_key(bad),
            Err(CryptoError::InvalidKeyName { .. })
        ));
    }
    let first = ks.create_signing_key("log.example").unwrap();
    let second = ks.create_signing_key("log.example").unwrap();
    assert_ne!(first.seed.expose(), second.seed.expose());
    let active = ks.signing_key().unwrap().unwrap();
    assert_eq!(active.public_key, second.public_key);
    // The public key is the Ed25519 key of the seed.
    let derived = ed25519_dalek::SigningKey::from_bytes(active.seed.expose());
    assert_eq!(derived.verifying_key().to_bytes(), active.public_key);
}

#[test]
fn concurrent_first_use_yields_one_key() {
    let (_dir, path, kek) = setup();
    let ks = Arc::new(Keystore::create(&path, Kek::from_bytes(kek)).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let ks = Arc::clone(&ks);
            std::thread::spawn(move || {
                let epoch = 202601 + (i % 3);
                (
                    epoch,
                    *ks.epoch_keys("acme", epoch).unwrap().data.0.expose(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (epoch, key) in &results {
        assert_eq!(ks.epoch_keys("acme", *epoch).unwrap().data.0.expose(), key);
    }
    assert_eq!(ks.epochs("acme").unwrap(), [202601, 202602, 202603]);
}

#[test]
fn two_handles_on_one_file_agree() {
    let (_dir, path, kek) = setup();
    let a = Keystore::create(&path, Kek::from_bytes(kek)).unwrap();
    let b = Keystore::open(&path, Kek::from_bytes(kek)).unwrap();
    let from_b = b.epoch_keys("acme", 202603).unwrap();
    let from_a = a.epoch_keys("acme", 202603).unwrap();
    assert_eq!(from_a.data.0.expose(), from_b.data.0.expose());
}

#[test]
fn open_leaves_a_foreign_database_unchanged() {
    let (dir, _path, kek) = setup();
    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&other).unwrap();
    let err = Keystore::open(&other, Kek::from_bytes(kek)).unwrap_err();
    assert!(matches!(err, CryptoError::NotAKeystore { .. }), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(!PathBuf::from(format!("{}-wal", other.display())).exists());
}
