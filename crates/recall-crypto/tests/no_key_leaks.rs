//! No `Debug` or `Display` output contains key bytes, in any usual encoding.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use recall_crypto::{
    BlindIndexer, CryptoError, KEYSTORE_FILE, Kek, Keystore, SaltDeriver, open_block, random_array,
    seal_block,
};

/// Fails if `text` shows `key` as hex, base64 or a Rust byte-array listing.
fn assert_hidden(text: &str, key: &[u8; 32]) {
    let decimal = format!("{:?}", &key[..4]);
    let decimal = decimal.trim_end_matches(']');
    for needle in [
        hex::encode(key),
        hex::encode_upper(key),
        STANDARD.encode(key),
    ] {
        assert!(!text.contains(&needle[..16]), "key bytes in {text}");
    }
    assert!(!text.contains(decimal), "key bytes in {text}");
}

#[test]
fn debug_never_shows_keys() {
    let dir = tempfile::tempdir().unwrap();
    let kek_bytes = random_array();
    let kek = Kek::from_bytes(kek_bytes);
    assert_hidden(&format!("{kek:?} {kek:#?}"), &kek_bytes);

    let ks = Keystore::create(&dir.path().join(KEYSTORE_FILE), kek).unwrap();
    assert_hidden(&format!("{ks:?}"), &kek_bytes);
    let keys = ks.epoch_keys("acme", 202603).unwrap();
    let shown = format!("{keys:?} {keys:#?}");
    assert!(shown.contains("[redacted]"));
    assert_hidden(&shown, keys.data.0.expose());
    assert_hidden(&shown, keys.commit.0.expose());

    let index = ks.index_key("acme").unwrap();
    assert_hidden(&format!("{index:?}"), index.0.expose());
    let signing = ks.create_signing_key("log.example").unwrap();
    let shown = format!("{signing:?} {signing:#?}");
    assert!(shown.contains("log.example"));
    assert_hidden(&shown, signing.seed.expose());

    let deriver = SaltDeriver::new(&keys.commit);
    assert_hidden(&format!("{deriver:?}"), keys.commit.0.expose());
    let indexer = BlindIndexer::new(&index);
    assert_hidden(&format!("{indexer:?}"), index.0.expose());
}

#[test]
fn errors_never_show_keys_or_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEYSTORE_FILE);
    let right = random_array();
    let wrong = random_array();
    drop(Keystore::create(&path, Kek::from_bytes(right)).unwrap());
    let err = Keystore::open(&path, Kek::from_bytes(wrong)).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert_hidden(&shown, &right);
    assert_hidden(&shown, &wrong);

    let ks = Keystore::open(&path, Kek::from_bytes(right)).unwrap();
    let keys = ks.epoch_keys("acme", 202603).unwrap();
    let sealed = seal_block(&keys.data, b"aad", b"PATIENT Jane Doe MRN-1234").unwrap();
    let err = open_block(&keys.data, b"other", &sealed).unwrap_err();
    assert!(matches!(err, CryptoError::BlockOpen));
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("PATIENT") && !shown.contains("MRN"),
        "{shown}"
    );
    assert_hidden(&shown, keys.data.0.expose());
}
