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
        self.insert_signing_key(name, true)
    }

    /// Starts a signing-key rotation: stores a new key under `name` that becomes the
    /// primary one while the keys active before it stay active too, so checkpoints carry
    /// both signatures until [`Keystore::finish_signing_rotation`].
    pub fn add_signing_key(&self, name: &str) -> Result<SigningKeyRecord, CryptoError> {
        self.insert_signing_key(name, false)
    }

    /// Ends a rotation: retires every active key but the newest; returns how many.
    pub fn finish_signing_rotation(&self) -> Result<usize, CryptoError> {
        let conn = self.conn();
        Ok(conn.execute(
            "UPDATE signing_keys SET retired = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             WHERE retired IS NULL AND id < (SELECT MAX(id) FROM signing_keys WHERE retired IS NULL)",
            [],
        )?)
    }

    /// Every active signing key, newest (the primary signer) first.
    pub fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, CryptoError> {
        let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(
                "SELECT id, name, seed, public_key FROM signing_keys \
                 WHERE retired IS NULL ORDER BY id DESC",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        rows.into_iter()
            .map(|(id, name, wrapped, public)| self.unwrap_signing(id, name, &wrapped, &public))
            .collect()
    }

    /// Names and public keys of the retired signing keys, oldest first: the keys old
    /// checkpoints were signed with.
    pub fn retired_signing_keys(&self) -> Result<Vec<(String, [u8; 32])>, CryptoError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, public_key FROM signing_keys WHERE retired IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, public) = row?;
            let key: [u8; 32] = public
                .try_into()
                .map_err(|_| CryptoError::SigningKeyMismatch { id: 0 })?;
            out.push((name, key));
        }
        Ok(out)
    }

    fn insert_signing_key(
        &self,
        name: &str,
        retire_others: bool,
    ) -> Result<SigningKeyRecord, CryptoError> {
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
        if retire_others {
            tx.execute(
                "UPDATE signing_keys SET retired = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                 WHERE retired IS NULL",
                [],
            )?;
        }
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
        self.unwrap_signing(id, name, &wrapped, &public).map(Some)
    }

    /// Unwraps a stored seed and checks it against its stored public key.
    fn unwrap_signing(
        &self,
        id: i64,
        name: String,
        wrapped: &[u8],
        public: &[u8],
    ) -> Result<SigningKeyRecord, CryptoError> {
        let ctx = context("signing-seed", &name, id as u64);
        let seed = self.kek.unwrap_bound(wrapped, &ctx, "signing key")?;
        let public_key = ed25519_public(&seed);
        if public != public_key.as_slice() {
            return Err(CryptoError::SigningKeyMismatch { id });
        }
        Ok(SigningKeyRecord {
            name,
            seed,
            public_key,
        })
    }
}
