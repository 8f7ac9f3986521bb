//! Salts, commitments and blind indexes against independently computed values.
//!
//! Two independent references: a textbook HMAC built here from sha2 (checked against
//! RFC 4231), and fixed vectors computed once with Python's `hmac`/`hashlib`:
//!
//! ```text
//! secret = bytes(range(32))
//! salt = hmac.new(secret, b"recall/salt/v1\0" + bytes([4]) + b"acme"
//!                 + struct.pack(">Q", 42), hashlib.sha256).digest()
//! hashlib.sha256(b"recall/commitment/v1\0" + salt
//!                + b'{"action":"R","seq":42,"tenant":"acme"}').hexdigest()
//! hmac.new(bytes([0x42] * 32), bytes([7]) + b"patient" + b"MRN-0012345",
//!          hashlib.sha256).hexdigest()
//! ```
//!
//! The fixed vectors also freeze the format: a change here breaks every existing log.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use recall_crypto::{
    BlindIndexer, COMMITMENT_DOMAIN, CommitSecret, IndexKey, SALT_DOMAIN, SaltDeriver, SecretBytes,
    blind_index, commitment, event_salt, random_array,
};
use sha2::{Digest, Sha256};

/// HMAC-SHA256 per RFC 2104, for keys up to one block (test reference only).
fn reference_hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    assert!(key.len() <= 64);
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |b: u8| block.map(|k| k ^ b);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[test]
fn reference_hmac_matches_rfc4231_case_2() {
    assert_eq!(
        hex::encode(reference_hmac(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

fn secret(bytes: [u8; 32]) -> CommitSecret {
    CommitSecret(SecretBytes::from_bytes(bytes))
}

fn counting() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

const EVENT: &[u8] = br#"{"action":"R","seq":42,"tenant":"acme"}"#;

#[test]
fn fixed_vectors() {
    let salt = event_salt(&secret(counting()), "acme", 42);
    assert_eq!(
        hex::encode(salt),
        "6725b665e1e2cc22c2a83457fa9fe43e818c7c1d409b1abfa8355e9abcf32e97"
    );
    assert_eq!(
        hex::encode(commitment(&salt, EVENT)),
        "3b8d240966101d0ffa0964570a1e20ac2518f24e6a2af9f6a3020cddcb929906"
    );
    assert_eq!(
        hex::encode(event_salt(&secret(counting()), "acme", u64::MAX)),
        "7e556fc45356baf418e016d4c49b6992ae1dfc99d4a7e7d5e32cc65bfb8f80eb"
    );
    let index = IndexKey(SecretBytes::from_bytes([0x42; 32]));
    assert_eq!(
        hex::encode(blind_index(&index, "patient", "MRN-0012345")),
        "38e9307185eb6442c365b97f9ca500bc2ae362bc888767f1b6a063633947941a"
    );
}

#[test]
fn matches_reference_construction_for_random_inputs() {
    for i in 0..200u64 {
        let bytes: [u8; 32] = random_array();
        let tenant = "t".repeat((i % 64) as usize + 1);
        let seq = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut msg = SALT_DOMAIN.to_vec();
        msg.push(tenant.len() as u8);
        msg.extend_from_slice(tenant.as_bytes());
        msg.extend_from_slice(&seq.to_be_bytes());
        let expected = reference_hmac(&bytes, &msg);
        let s = secret(bytes);
        assert_eq!(event_salt(&s, &tenant, seq), expected);
        assert_eq!(SaltDeriver::new(&s).salt(&tenant, seq), expected);

        let body = vec![i as u8; i as usize * 5];
        let want: [u8; 32] = Sha256::new()
            .chain_update(COMMITMENT_DOMAIN)
            .chain_update(expected)
            .chain_update(&body)
            .finalize()
            .into();
        assert_eq!(commitment(&expected, &body), want);

        let mut msg = vec![b"actor".len() as u8];
        msg.extend_from_slice(b"actor");
        msg.extend_from_slice(tenant.as_bytes());
        let key = IndexKey(SecretBytes::from_bytes(bytes));
        assert_eq!(
            blind_index(&key, "actor", &tenant),
            reference_hmac(&bytes, &msg)
        );
        assert_eq!(
            BlindIndexer::new(&key).token("actor", &tenant),
            reference_hmac(&bytes, &msg)
        );
    }
}

#[test]
fn salts_differ_per_seq_tenant_and_secret() {
    let s = secret(random_array());
    let d = SaltDeriver::new(&s);
    let mut seen = HashSet::new();
    for tenant in ["acme", "acm", "acmee", "beta", "a"] {
        for seq in 0..2_000 {
            assert!(seen.insert(d.salt(tenant, seq)), "{tenant}/{seq} repeated");
        }
    }
    let other = secret(random_array());
    assert_ne!(event_salt(&s, "acme", 1), event_salt(&other, "acme", 1));
}

#[test]
fn length_prefix_separates_field_from_value() {
    let key = IndexKey(SecretBytes::from_bytes(random_array()));
    // Without the prefix both would hash "patientX".
    assert_ne!(
        blind_index(&key, "patient", "X"),
        blind_index(&key, "patientX", "")
    );
    assert_ne!(
        blind_index(&key, "patient", "X"),
        blind_index(&key, "actor", "X")
    );
}

#[test]
fn commitment_binds_salt_and_event() {
    let salt = [1u8; 32];
    let c = commitment(&salt, EVENT);
    assert_ne!(c, commitment(&[2u8; 32], EVENT));
    assert_ne!(c, commitment(&salt, &EVENT[1..]));
}
