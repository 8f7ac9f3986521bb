//! Sealed body blocks: any change to the block, its AAD or its key is detected.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use proptest::prelude::*;
use recall_crypto::{
    CryptoError, DataKey, NONCE_LEN, SecretBytes, TAG_LEN, open_block, random_array, seal_block,
};

fn key() -> DataKey {
    DataKey(SecretBytes::from_bytes(random_array()))
}

const AAD: &[u8] = b"tenant=acme epoch=202603 block=17";

#[test]
fn round_trip() {
    let k = key();
    let plain = b"compressed events would go here".repeat(100);
    let sealed = seal_block(&k, AAD, &plain).unwrap();
    assert_eq!(open_block(&k, AAD, &sealed).unwrap(), plain);
}

#[test]
fn every_single_flipped_byte_fails() {
    let k = key();
    let sealed = seal_block(&k, AAD, &[0x42; 300]).unwrap();
    // Nonce, ciphertext and tag: every position, several bit patterns.
    for i in 0..sealed.len() {
        for flip in [0x01, 0x80, 0xFF] {
            let mut bad = sealed.clone();
            bad[i] ^= flip;
            assert!(
                matches!(open_block(&k, AAD, &bad), Err(CryptoError::BlockOpen)),
                "flip {flip:#x} at {i} accepted"
            );
        }
    }
}

#[test]
fn truncation_and_extension_fail() {
    let k = key();
    let sealed = seal_block(&k, AAD, &[7; 64]).unwrap();
    for len in 0..sealed.len() {
        assert!(
            open_block(&k, AAD, &sealed[..len]).is_err(),
            "truncated to {len}"
        );
    }
    let mut longer = sealed;
    longer.push(0);
    assert!(open_block(&k, AAD, &longer).is_err());
    // An empty plaintext still carries a tag that must verify.
    let empty = seal_block(&k, AAD, &[]).unwrap();
    assert_eq!(empty.len(), NONCE_LEN + TAG_LEN);
    assert!(open_block(&k, AAD, &empty).unwrap().is_empty());
    assert!(open_block(&k, b"elsewhere", &empty).is_err());
}

#[test]
fn different_aad_fails() {
    let k = key();
    let sealed = seal_block(&k, AAD, b"body").unwrap();
    for aad in [
        &b""[..],
        b"tenant=acme epoch=202603 block=18",
        b"tenant=acme epoch=202604 block=17",
        b"tenant=acmf epoch=202603 block=17",
        b"tenant=acme epoch=202603 block=17\0",
    ] {
        assert!(matches!(
            open_block(&k, aad, &sealed),
            Err(CryptoError::BlockOpen)
        ));
    }
}

#[test]
fn wrong_key_fails() {
    let sealed = seal_block(&key(), AAD, b"body").unwrap();
    assert!(matches!(
        open_block(&key(), AAD, &sealed),
        Err(CryptoError::BlockOpen)
    ));
}

#[test]
fn nonces_differ_across_seals() {
    let k = key();
    let mut seen = HashSet::new();
    for _ in 0..20_000 {
        let sealed = seal_block(&k, AAD, b"same plaintext").unwrap();
        assert!(seen.insert(sealed[..NONCE_LEN].to_vec()), "nonce repeated");
    }
    // Same plaintext, different nonce: different ciphertext.
    let a = seal_block(&k, AAD, b"same plaintext").unwrap();
    let b = seal_block(&k, AAD, b"same plaintext").unwrap();
    assert_ne!(a[NONCE_LEN..], b[NONCE_LEN..]);
}

proptest! {
    #[test]
    fn random_blocks_round_trip_and_detect_a_flip(
        plain in proptest::collection::vec(any::<u8>(), 0..4096),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let k = key();
        let sealed = seal_block(&k, &aad, &plain).unwrap();
        prop_assert_eq!(&open_block(&k, &aad, &sealed).unwrap(), &plain);
        let mut bad = sealed.clone();
        bad[pos.index(sealed.len())] ^= 1 << bit;
        prop_assert!(open_block(&k, &aad, &bad).is_err());
    }
}
