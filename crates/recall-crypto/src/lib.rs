//! Keys and envelope encryption.
//!
//! Job: load the key-encryption key (KEK) from a [`KeyProvider`]; keep per-tenant,
//! per-epoch data keys and commitment secrets, per-tenant blind-index keys and the
//! checkpoint signing key wrapped (AES-KWP) under the KEK in the [`Keystore`] (SQLite,
//! `secure_delete`); seal and open body blocks (AES-256-GCM); derive per-event salts and
//! compute commitments. Byte layouts and the nonce/salt argument:
//! `docs/design/keystore.md`.
//!
//! Invariants:
//! - Key material lives in [`zeroize`]-on-drop types and is never formatted by `Debug`.
//! - A data key is only ever used with random 96-bit nonces, and per (tenant, epoch), so
//!   the number of blocks under one key stays far below the 2^32 random-nonce bound.
//! - Block AAD binds tenant, epoch and block id, so a block moved elsewhere fails to open.
//! - Every wrapped key is bound to its keystore row; a key moved to another row fails to
//!   unwrap.
//! - A forgotten (tenant, epoch) never gets new keys, and its wrapped keys leave the
//!   keystore files ([`Keystore::forget_epoch`]).
//! - No cryptographic primitive is implemented here: aws-lc-rs and sha2 do the work.

#![forbid(unsafe_code)]

mod block;
mod commit;
mod error;
mod kek;
mod keys;
mod keystore;
mod pseudonym;

pub use block::{NONCE_LEN, TAG_LEN, open_block, seal_block};
pub use commit::{
    BlindIndexer, COMMITMENT_DOMAIN, SALT_DOMAIN, SaltDeriver, blind_index, commitment, event_salt,
};
pub use error::CryptoError;
pub use kek::{Kek, KeyProvider, create_kek_file};
pub use keys::{CommitSecret, DataKey, EpochKeys, IndexKey, SecretBytes, random_array};
pub use keystore::{KEYSTORE_FILE, Keystore, SigningKeyRecord};
pub use pseudonym::{PSEUDONYM_LEN, Pseudonymizer};
