//! AES-256-GCM sealing of body blocks.

use crate::{CryptoError, DataKey};

/// Nonce length (96-bit random nonce, stored in front of the ciphertext).
pub const NONCE_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

/// Encrypts `plaintext` under `key` with a fresh random nonce; returns
/// `nonce ‖ ciphertext ‖ tag`. `aad` must bind where the block belongs.
pub fn seal_block(_key: &DataKey, _aad: &[u8], _plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    todo!()
}

/// Decrypts a block sealed by [`seal_block`]; fails if any byte or the AAD differs.
pub fn open_block(_key: &DataKey, _aad: &[u8], _sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    todo!()
}
