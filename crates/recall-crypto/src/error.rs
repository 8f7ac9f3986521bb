//! Errors of the crypto layer.

/// What went wrong with keys or encryption. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// TODO(helper): variants (KEK missing/unreadable/wrong length, wrong KEK, unwrap
    /// failed, block failed to open, keystore SQLite error, …).
    #[error("placeholder")]
    Placeholder,
}
