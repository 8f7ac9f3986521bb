//! The key-encryption key and where it comes from.

use std::path::{Path, PathBuf};

use crate::{CryptoError, SecretBytes};

/// The key-encryption key: wraps every other key (AES-KWP, RFC 5649).
#[derive(Clone, Debug)]
pub struct Kek(pub(crate) SecretBytes);

/// Where the KEK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProvider {
    /// A file holding the KEK (base64 of 32 bytes, one line); created mode 0600 by
    /// [`create_kek_file`]. Loading refuses a file readable by group or others.
    File(PathBuf),
    /// An environment variable holding base64 of 32 bytes.
    Env(String),
}

impl KeyProvider {
    /// Loads the KEK.
    pub fn load(&self) -> Result<Kek, CryptoError> {
        todo!()
    }
}

/// Creates a new random KEK file with mode 0600; refuses to overwrite an existing file.
pub fn create_kek_file(_path: &Path) -> Result<(), CryptoError> {
    todo!()
}

impl Kek {
    /// A KEK from raw bytes (tests, and providers).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBytes(bytes))
    }
    /// Wraps a 32-byte secret with AES-KWP.
    pub fn wrap(&self, _secret: &SecretBytes) -> Result<Vec<u8>, CryptoError> {
        todo!()
    }
    /// Unwraps a secret wrapped by [`Kek::wrap`]; fails on a wrong KEK or damaged input.
    pub fn unwrap_secret(&self, _wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        todo!()
    }
}
