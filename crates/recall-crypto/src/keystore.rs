//! The keystore: wrapped keys in SQLite with `secure_delete`.

use std::path::Path;

use crate::{CryptoError, EpochKeys, IndexKey, Kek, SecretBytes};

/// A checkpoint signing key as stored.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// Key name used in signed notes.
    pub name: String,
    /// The Ed25519 seed (unwrapped).
    pub seed: SecretBytes,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

/// Wrapped keys in a SQLite database (`keystore.db`).
pub struct Keystore {
    _conn: rusqlite::Connection,
    _kek: Kek,
}

impl Keystore {
    /// Creates a new keystore at `path` (refuses an existing file) under `kek`.
    pub fn create(_path: &Path, _kek: Kek) -> Result<Self, CryptoError> {
        todo!()
    }
    /// Opens an existing keystore; fails with a clear error when `kek` is not the one the
    /// keystore was created with.
    pub fn open(_path: &Path, _kek: Kek) -> Result<Self, CryptoError> {
        todo!()
    }
    /// The keys of `(tenant, epoch)`, created and persisted on first use.
    pub fn epoch_keys(&self, _tenant: &str, _epoch: u32) -> Result<EpochKeys, CryptoError> {
        todo!()
    }
    /// The keys of `(tenant, epoch)` if they exist (never creates).
    pub fn existing_epoch_keys(&self, _tenant: &str, _epoch: u32) -> Result<Option<EpochKeys>, CryptoError> {
        todo!()
    }
    /// The tenant's blind-index key, created on first use.
    pub fn index_key(&self, _tenant: &str) -> Result<IndexKey, CryptoError> {
        todo!()
    }
    /// Stores a new checkpoint signing key (random seed) under `name` and returns it.
    pub fn create_signing_key(&self, _name: &str) -> Result<SigningKeyRecord, CryptoError> {
        todo!()
    }
    /// The active checkpoint signing key, if one exists.
    pub fn signing_key(&self) -> Result<Option<SigningKeyRecord>, CryptoError> {
        todo!()
    }
}
