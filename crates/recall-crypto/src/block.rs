//! AES-256-GCM sealing of body blocks.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::{CryptoError, DataKey, random_array};

/// Nonce length (96-bit random nonce, stored in front of the ciphertext).
pub const NONCE_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

fn gcm_key(key: &DataKey) -> Result<LessSafeKey, aws_lc_rs::error::Unspecified> {
    Ok(LessSafeKey::new(UnboundKey::new(
        &AES_256_GCM,
        key.0.expose(),
    )?))
}

/// Encrypts `plaintext` under `key` with a fresh random nonce; returns
/// `nonce ‖ ciphertext ‖ tag`. `aad` must bind where the block belongs.
pub fn seal_block(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // Random, never derived from the block's position: a block rewritten after a crash
    // may hold different events at the same position (see docs/design/keystore.md).
    let nonce: [u8; NONCE_LEN] = random_array();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = gcm_key(key)
        .and_then(|k| {
            k.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
        })
        .map_err(|_| CryptoError::Seal)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypts a block sealed by [`seal_block`]; fails if any byte or the AAD differs.
pub fn open_block(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::BlockTruncated { len: sealed.len() });
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::BlockOpen)?;
    let mut buf = body.to_vec();
    let len = gcm_key(key)
        .and_then(|k| {
            k.open_in_place(nonce, Aad::from(aad), &mut buf)
                .map(|p| p.len())
        })
        .map_err(|_| CryptoError::BlockOpen)?;
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretBytes;

    fn key() -> DataKey {
        DataKey(SecretBytes::from_bytes(random_array()))
    }

    #[test]
    fn round_trip_and_layout() {
        let k = key();
        for len in [0usize, 1, 15, 16, 17, 1000, 256 * 1024] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let sealed = seal_block(&k, b"aad", &plain).unwrap();
            assert_eq!(sealed.len(), NONCE_LEN + len + TAG_LEN);
            if len >= 32 {
                assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + 32], &plain[..32]);
            }
            assert_eq!(open_block(&k, b"aad", &sealed).unwrap(), plain);
        }
    }

    #[test]
    fn short_input_is_truncated_error() {
        let k = key();
        for len in 0..NONCE_LEN + TAG_LEN {
            assert!(matches!(
                open_block(&k, b"", &vec![0u8; len]),
                Err(CryptoError::BlockTruncated { .. })
            ));
        }
    }
}
