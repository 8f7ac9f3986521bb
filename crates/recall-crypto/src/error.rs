//! Errors of the crypto layer.

use std::path::PathBuf;

/// What went wrong with keys or encryption.
///
/// Never carries key material or plaintext: variants name paths, variable names, tenants
/// and epochs (none of which are secret), never the bytes that failed to parse or open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The KEK file could not be opened, read, written or synced.
    #[error("key-encryption key file {path}: {source}")]
    KekFileIo {
        /// The KEK file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// [`create_kek_file`](crate::create_kek_file) found a file already at the path.
    #[error("key-encryption key file {path} already exists; refusing to overwrite it")]
    KekFileExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The KEK file is readable or writable by group or others.
    #[error(
        "key-encryption key file {path} has mode {mode:o}, which lets group or others access it; \
         run `chmod 600 {path}` (and check who may have read it)"
    )]
    KekFilePermissions {
        /// The KEK file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The KEK path is not a regular file.
    #[error("key-encryption key file {path} is not a regular file")]
    KekNotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The environment variable naming the KEK is not set.
    #[error("environment variable {var} holding the key-encryption key is not set")]
    KekEnvMissing {
        /// The variable's name.
        var: String,
    },
    /// The KEK is not standard base64 of exactly 32 bytes (the content is not echoed).
    #[error("key-encryption key from {origin} is not standard base64 of exactly 32 bytes")]
    KekMalformed {
        /// Where it came from (`file …` or `environment variable …`).
        origin: String,
    },
    /// The keystore was created under a different KEK.
    #[error(
        "wrong key-encryption key: the keystore {path} was created with a different KEK \
         (check the key provider configuration)"
    )]
    WrongKek {
        /// The keystore file.
        path: PathBuf,
    },
    /// AES-KWP wrapping failed (an internal error; not expected in practice).
    #[error("wrapping a key failed")]
    Wrap,
    /// A wrapped key failed its integrity check: a wrong KEK, a damaged keystore entry, or
    /// an entry moved to another row.
    #[error("unwrapping a {what} failed: wrong key-encryption key or damaged keystore entry")]
    Unwrap {
        /// Which kind of key (e.g. `data key`).
        what: &'static str,
    },
    /// Sealing a body block failed (an internal error, or a block over the GCM size limit).
    #[error("encrypting a body block failed")]
    Seal,
    /// A sealed block is shorter than a nonce plus a tag.
    #[error("sealed block is {len} bytes, shorter than nonce + tag")]
    BlockTruncated {
        /// Its length.
        len: usize,
    },
    /// A body block failed to authenticate: damaged, moved (AAD differs) or wrong key.
    #[error("body block failed to authenticate (damaged, moved, or under another key)")]
    BlockOpen,
    /// [`Keystore::create`](crate::Keystore::create) found a file already at the path.
    #[error("keystore {path} already exists; refusing to overwrite it")]
    KeystoreExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Creating or syncing the keystore file failed.
    #[error("keystore {path}: {source}")]
    KeystoreIo {
        /// The keystore file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not a recall keystore, or one with an unsupported schema.
    #[error("{path} is not a usable recall keystore: {reason}")]
    NotAKeystore {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An SQLite error in the keystore.
    #[error("keystore database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// An epoch number is not `yyyymm` with a month of 1 to 12.
    #[error("epoch {epoch} is not a yyyymm month")]
    InvalidEpoch {
        /// The rejected number.
        epoch: u32,
    },
    /// The epoch was forgotten (its keys destroyed); it never gets new keys.
    #[error("epoch {epoch} of tenant {tenant} was forgotten; its keys are destroyed")]
    EpochForgotten {
        /// The tenant.
        tenant: String,
        /// The epoch (`yyyymm`).
        epoch: u32,
    },
    /// A tenant name is empty or longer than 255 bytes.
    #[error("tenant name must be 1 to 255 bytes (got {len})")]
    InvalidTenant {
        /// Its length in bytes.
        len: usize,
    },
    /// A signing key name is empty or contains whitespace or `+` (C2SP signed-note rule).
    #[error("signing key name {name:?} must be non-empty without whitespace or '+'")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// A stored signing key's public key does not match its seed.
    #[error("signing key {id} is damaged: its public key does not match its seed")]
    SigningKeyMismatch {
        /// The key's row id.
        id: i64,
    },
    /// A WAL checkpoint could not copy every frame back (another reader held it open), so
    /// deleted key bytes may still be in the WAL file.
    #[error(
        "keystore WAL checkpoint incomplete ({busy} busy); forgotten keys may remain in the WAL"
    )]
    CheckpointIncomplete {
        /// SQLite's busy flag.
        busy: i64,
    },
}

impl CryptoError {
    /// Whether the keystore's disk is full (SQLite's `SQLITE_FULL`, or a full disk under
    /// the KEK file): it passes once space returns, like a full log.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            Self::KekFileIo { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_keystore_disk_is_storage_full_and_other_failures_are_not() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(CryptoError::Sqlite(full).is_storage_full());
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(!CryptoError::Sqlite(busy).is_storage_full());
        assert!(!CryptoError::InvalidEpoch { epoch: 0 }.is_storage_full());
    }
}
