//! Per-event salts, commitments and blind indexes.
//!
//! These run once or more per event (hundreds of thousands per second), so none of them
//! allocates. The free functions prepare the HMAC key on every call; [`SaltDeriver`] and
//! [`BlindIndexer`] prepare it once and are the faster choice for a batch.

use aws_lc_rs::hmac;
use sha2::{Digest, Sha256};

use crate::{CommitSecret, IndexKey};

/// Domain separator of commitments.
pub const COMMITMENT_DOMAIN: &[u8] = b"recall/commitment/v1\0";
/// Domain separator of salt derivation.
pub const SALT_DOMAIN: &[u8] = b"recall/salt/v1\0";

/// The one-byte length prefix of a tenant or field name.
///
/// Tenants are at most 63 bytes (recall-model) and field names are constants; a longer
/// name would make the encoding ambiguous, so it is a caller bug, not a runtime error.
fn len_u8(name: &str) -> [u8; 1] {
    [u8::try_from(name.len()).expect("tenant and field names are at most 255 bytes")]
}

fn tag32(tag: hmac::Tag) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Derives per-event salts for one (tenant, epoch) from a prepared HMAC key.
#[derive(Clone)]
pub struct SaltDeriver {
    key: hmac::Key,
}

impl SaltDeriver {
    /// Prepares the HMAC-SHA256 key of `secret`.
    pub fn new(secret: &CommitSecret) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.0.expose()),
        }
    }

    /// The same value as [`event_salt`] with this deriver's secret.
    ///
    /// # Panics
    /// If `tenant` is longer than 255 bytes.
    pub fn salt(&self, tenant: &str, seq: u64) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(SALT_DOMAIN);
        ctx.update(&len_u8(tenant));
        ctx.update(tenant.as_bytes());
        ctx.update(&seq.to_be_bytes());
        tag32(ctx.sign())
    }
}

impl std::fmt::Debug for SaltDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaltDeriver([redacted])")
    }
}

/// Computes blind-index tokens for one tenant from a prepared HMAC key.
#[derive(Clone)]
pub struct BlindIndexer {
    key: hmac::Key,
}

impl BlindIndexer {
    /// Prepares the HMAC-SHA256 key of `key`.
    pub fn new(key: &IndexKey) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key.0.expose()),
        }
    }

    /// The same value as [`blind_index`] with this indexer's key.
    ///
    /// # Panics
    /// If `field` is longer than 255 bytes.
    pub fn token(&self, field: &str, value: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&len_u8(field));
        ctx.update(field.as_bytes());
        ctx.update(value.as_bytes());
        tag32(ctx.sign())
    }
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexer([redacted])")
    }
}

/// `HMAC-SHA256(secret, SALT_DOMAIN ‖ u8(len(tenant)) ‖ tenant ‖ u64be(seq))`.
///
/// # Panics
/// If `tenant` is longer than 255 bytes.
pub fn event_salt(secret: &CommitSecret, tenant: &str, seq: u64) -> [u8; 32] {
    SaltDeriver::new(secret).salt(tenant, seq)
}

/// `SHA-256(COMMITMENT_DOMAIN ‖ salt ‖ canonical_event)`: the log entry of an event.
pub fn commitment(salt: &[u8; 32], canonical_event: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMITMENT_DOMAIN);
    h.update(salt);
    h.update(canonical_event);
    h.finalize().into()
}

/// `HMAC-SHA256(key, u8(len(field)) ‖ field ‖ value)`: a blind-index token.
///
/// # Panics
/// If `field` is longer than 255 bytes.
pub fn blind_index(key: &IndexKey, field: &str, value: &str) -> [u8; 32] {
    BlindIndexer::new(key).token(field, value)
}
