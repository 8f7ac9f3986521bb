//! KEK rotation: every secret re-wrapped under the new KEK, the same secrets after it,
//! the old KEK useless afterwards, and no old wrapping left in the files.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use recall_crypto::{CryptoError, KEYSTORE_FILE, Kek, Keystore, random_array};
use rusqlite::Connection;

/// Every wrapped blob in the keystore, read with plain SQLite.
fn wrapped_blobs(path: &Path) -> Vec<Vec<u8>> {
    let conn = Connection::open(path).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT data_key FROM epoch_keys",
        "SELECT commit_secret FROM epoch_keys",
        "SELECT wrapped FROM tenant_keys",
        "SELECT seed FROM signing_keys",
        "SELECT wrapped FROM named_secrets",
        "SELECT value FROM meta WHERE name = 'kek_check_wrapped'",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

fn files(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(b) = std::fs::read(p) {
            all.extend(b);
        }
    }
    all
}

#[test]
fn rotation_rewraps_every_secret_and_the_old_kek_no_longer_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEYSTORE_FILE);
    let (old, new) = (random_array::<32>(), random_array::<32>());
    let ks = Keystore::create(&path, Kek::from_bytes(old)).unwrap();
    let e1 = ks.epoch_keys("acme", 202603).unwrap();
    let e2 = ks.epoch_keys("beta", 202511).unwrap();
    let ix = ks.index_key("acme").unwrap();
    let sk = ks.create_signing_key("log.example/acme").unwrap();
    let named = ks.named_secret("api-key-pepper").unwrap();
    let before = wrapped_blobs(&path);
    assert_eq!(before.len(), 2 * 2 + 1 + 1 + 1 + 1);

    let (ks, n) = ks.rotate_kek(Kek::from_bytes(new)).unwrap();
    assert_eq!(n, before.len());
    // The handle keeps working under the new KEK (it creates and reads keys).
    ks.epoch_keys("acme", 202604).unwrap();
    drop(ks);

    let err = Keystore::open(&path, Kek::from_bytes(old)).unwrap_err();
    assert!(matches!(err, CryptoError::WrongKek { .. }), "{err}");
    let ks = Keystore::open(&path, Kek::from_bytes(new)).unwrap();
    let again = ks.epoch_keys("acme", 202603).unwrap();
    assert_eq!(again.data.0.expose(), e1.data.0.expose());
    assert_eq!(again.commit.0.expose(), e1.commit.0.expose());
    let b = ks.existing_epoch_keys("beta", 202511).unwrap().unwrap();
    assert_eq!(b.data.0.expose(), e2.data.0.expose());
    assert_eq!(ks.index_key("acme").unwrap().0.expose(), ix.0.expose());
    assert_eq!(
        ks.signing_key().unwrap().unwrap().seed.expose(),
        sk.seed.expose()
    );
    assert_eq!(
        ks.named_secret("api-key-pepper").unwrap().expose(),
        named.expose()
    );
    drop(ks);

    // No byte string of the old wrapping is left in the database, its WAL or its index.
    let bytes = files(&path);
    for blob in &before {
        assert!(
            !bytes.windows(blob.len()).any(|w| w == blob.as_slice()),
            "an old wrapped secret is still in the keystore files"
        );
    }
}

#[test]
fn a_forgotten_epoch_stays_forgotten_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEYSTORE_FILE);
    let ks = Keystore::create(&path, Kek::from_bytes(random_array())).unwrap();
    ks.epoch_keys("acme", 202001).unwrap();
    ks.forget_epoch("acme", 202001).unwrap();
    let new = random_array::<32>();
    let (ks, _) = ks.rotate_kek(Kek::from_bytes(new)).unwrap();
    assert!(ks.existing_epoch_keys("acme", 202001).unwrap().is_none());
    assert!(matches!(
        ks.epoch_keys("acme", 202001).unwrap_err(),
        CryptoError::EpochForgotten { .. }
    ));
}
