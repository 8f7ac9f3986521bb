//! Secret key types (zeroized on drop, redacted in Debug).

/// 32 secret bytes, zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct SecretBytes(pub(crate) [u8; 32]);

impl SecretBytes {
    /// Wraps raw bytes (the caller's copy should be zeroized by the caller).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    /// The raw bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// AES-256-GCM key for one tenant's body blocks of one epoch.
#[derive(Clone, Debug)]
pub struct DataKey(pub SecretBytes);
/// Secret from which one tenant's per-event salts of one epoch are derived.
#[derive(Clone, Debug)]
pub struct CommitSecret(pub SecretBytes);
/// HMAC key for one tenant's blind indexes.
#[derive(Clone, Debug)]
pub struct IndexKey(pub SecretBytes);

/// The two secrets of one (tenant, epoch).
#[derive(Clone, Debug)]
pub struct EpochKeys {
    /// Encrypts body blocks.
    pub data: DataKey,
    /// Derives salts for commitments.
    pub commit: CommitSecret,
}

/// `N` bytes from the system CSPRNG (aws-lc-rs).
///
/// # Panics
/// If the CSPRNG fails, which aws-lc treats as unrecoverable: continuing without
/// randomness would mean repeated nonces and guessable keys.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).expect("system CSPRNG failed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_arrays_differ() {
        let a: [u8; 32] = random_array();
        let b: [u8; 32] = random_array();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn debug_is_redacted() {
        let bytes = [0xABu8; 32];
        let keys = EpochKeys {
            data: DataKey(SecretBytes::from_bytes(bytes)),
            commit: CommitSecret(SecretBytes::from_bytes(bytes)),
        };
        let index = IndexKey(SecretBytes::from_bytes(bytes));
        for text in [
            format!("{keys:?}"),
            format!("{keys:#?}"),
            format!("{index:?}"),
        ] {
            assert!(text.contains("[redacted]"), "{text}");
            assert!(!text.to_lowercase().contains("ab, "), "{text}");
            assert!(!text.contains("171"), "{text}");
            assert!(!text.to_lowercase().contains("abab"), "{text}");
        }
    }
}
