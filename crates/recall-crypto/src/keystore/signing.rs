//! Checkpoint signing keys (Ed25519): random seeds wrapped under the KEK.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Keystore, SigningKeyRecord, context};
use crate::{CryptoError, SecretBytes, random_array};

fn check_key_name(name: &str) -> Result<(), CryptoError> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.contains(|c: char| c.is_whitespace() || c == '+');
    if bad {
        Err(CryptoError::InvalidKeyName {
            name: name.to_owned(),
        })
    } else {
        Ok(())
    }
}

fn ed25519_public(seed: &SecretBytes) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed.expose())
        .verifying_key()
        .to_bytes()
}

impl Keystore {
    /// Stores a new checkpoint signing key (random seed) under `name` and returns it.
    ///
    /// The new key becomes the active one: keys active before it are marked retired in
    /// the same transaction (they stay stored, for verifying old checkpoints).
    pub fn create_signing_key(&self, name: &str) -> Result<SigningKeyRecord, CryptoError> {
        check_key_name(name)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: i64 = tx.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM signing_keys",
            [],
            |r| r.get(0),
        )?;
        let seed = SecretBytes(random_array());
        let public_key = ed25519_public(&seed);
        let wrapped = self
            .kek
            .wrap_bound(&seed, &context("signing-seed", name, id as u64))?;
        tx.execute(
            "UPDATE signing_keys SET retired = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             WHERE retired IS NULL",
            [],
        )?;
        tx.execute(
            "INSERT INTO signing_keys (id, name, seed, public_key, created, retired) \
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NULL)",
            params![id, name, wrapped, public_key.as_slice()],
        )?;
        tx.commit()?;
        Ok(SigningKeyRecord {
            name: name.to_owned(),
            seed,
            public_key,
        })
    }

    /// The active checkpoint signing key, if one exists.
    pub fn signing_key(&self) -> Result<Option<SigningKeyRecord>, CryptoError> {
        let conn = self.conn();
        let row: Option<(i64, String, Vec<u8>, Vec<u8>)> = conn
            .query_row(
                "SELECT id, name, seed, public_key FROM signing_keys \
                 WHERE retired IS NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((id, name, wrapped, public)) = row else {
            return Ok(None);
        };
        let ctx = context("signing-seed", &name, id as u64);
        let seed = self.kek.unwrap_bound(&wrapped, &ctx, "signing key")?;
        let public_key = ed25519_public(&seed);
        if public.as_slice() != public_key.as_slice() {
            return Err(CryptoError::SigningKeyMismatch { id });
        }
        Ok(Some(SigningKeyRecord {
            name,
            seed,
            public_key,
        }))
    }
}
