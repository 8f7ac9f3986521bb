//! Pseudonyms that the server can map back to an index token, never to the value.
//!
//! `pseudonym(domain, value) = AES-256(k_psn, HMAC(index_key, domain, value)[0..16])`
//! with `k_psn = HMAC(index_key, "pseudonym-key", "")`. The input is a blind-index token
//! (the same the index keys its lists by, for the `patient` and `actor` domains), so
//! decrypting a pseudonym gives the token's first 16 bytes: enough to walk the index,
//! while the value itself stays out of reach (the token is a keyed hash). One AES block
//! of a uniformly random input is a pseudorandom permutation; no mode, no IV.

use std::sync::Arc;

use aws_lc_rs::cipher::{AES_256, DecryptingKey, EncryptingKey, UnboundCipherKey};

use crate::{BlindIndexer, IndexKey};

/// Bytes of a pseudonym (one AES block).
pub const PSEUDONYM_LEN: usize = 16;

/// Computes and opens one tenant's pseudonyms.
#[derive(Clone)]
pub struct Pseudonymizer {
    indexer: BlindIndexer,
    keys: Arc<(EncryptingKey, DecryptingKey)>,
}

impl Pseudonymizer {
    /// The pseudonymizer of a tenant's blind-index key.
    ///
    /// # Panics
    /// Never for a 32-byte key (AES-256 accepts every such key).
    pub fn new(key: &IndexKey) -> Self {
        let indexer = BlindIndexer::new(key);
        let k = indexer.token("pseudonym-key", "");
        let enc = UnboundCipherKey::new(&AES_256, &k)
            .and_then(EncryptingKey::ecb)
            .expect("AES-256 takes any 32-byte key");
        let dec = UnboundCipherKey::new(&AES_256, &k)
            .and_then(DecryptingKey::ecb)
            .expect("AES-256 takes any 32-byte key");
        Pseudonymizer {
            indexer,
            keys: Arc::new((enc, dec)),
        }
    }

    /// The pseudonym of `value` in `domain` (`patient`, `actor`, or `pseudonym` for
    /// fields without an index).
    pub fn pseudonym(&self, domain: &str, value: &str) -> [u8; PSEUDONYM_LEN] {
        let token = self.indexer.token(domain, value);
        let mut block = [0u8; PSEUDONYM_LEN];
        block.copy_from_slice(&token[..PSEUDONYM_LEN]);
        // One block in ECB mode cannot fail.
        let _ = self.keys.0.encrypt(&mut block);
        block
    }

    /// The first 16 bytes of the blind-index token whose pseudonym `pseudonym` is (any
    /// 16 bytes open to some token; a made-up pseudonym names a list that matches nothing).
    pub fn token_prefix(&self, pseudonym: &[u8; PSEUDONYM_LEN]) -> [u8; PSEUDONYM_LEN] {
        let mut block = *pseudonym;
        let _ = self
            .keys
            .1
            .decrypt(&mut block, aws_lc_rs::cipher::DecryptionContext::None);
        block
    }
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretBytes;

    #[test]
    fn a_pseudonym_opens_to_its_index_token_and_differs_by_domain_and_key() {
        let key = IndexKey(SecretBytes::from_bytes([7; 32]));
        let p = Pseudonymizer::new(&key);
        let psn = p.pseudonym("patient", "MRN-1");
        let token = BlindIndexer::new(&key).token("patient", "MRN-1");
        assert_eq!(p.token_prefix(&psn), token[..16]);
        assert_ne!(psn[..], token[..16]);
        assert_ne!(psn, p.pseudonym("actor", "MRN-1"));
        let other = Pseudonymizer::new(&IndexKey(SecretBytes::from_bytes([8; 32])));
        assert_ne!(psn, other.pseudonym("patient", "MRN-1"));
    }
}
