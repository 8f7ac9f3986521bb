//! Per-event salts, commitments and blind indexes.

use crate::{CommitSecret, IndexKey};

/// Domain separator of commitments.
pub const COMMITMENT_DOMAIN: &[u8] = b"recall/commitment/v1\0";
/// Domain separator of salt derivation.
pub const SALT_DOMAIN: &[u8] = b"recall/salt/v1\0";

/// `HMAC-SHA256(secret, SALT_DOMAIN ‖ u8(len(tenant)) ‖ tenant ‖ u64be(seq))`.
pub fn event_salt(_secret: &CommitSecret, _tenant: &str, _seq: u64) -> [u8; 32] {
    todo!()
}

/// `SHA-256(COMMITMENT_DOMAIN ‖ salt ‖ canonical_event)`: the log entry of an event.
pub fn commitment(_salt: &[u8; 32], _canonical_event: &[u8]) -> [u8; 32] {
    todo!()
}

/// `HMAC-SHA256(key, u8(len(field)) ‖ field ‖ value)`: a blind-index token.
pub fn blind_index(_key: &IndexKey, _field: &str, _value: &str) -> [u8; 32] {
    todo!()
}
