//! Sealed documents: small per-tenant documents (the rosters; later, breach assessments)
//! kept encrypted at rest in `sealed.db` (layout in docs/design/governance.md).
//!
//! Each document is one row `(tenant, kind)`, replaced whole, sealed with AES-256-GCM
//! (recall-crypto's [`seal_block`]) under the tenant's *sealing key*: the keystore's named
//! secret `sealed:<tenant>`, wrapped under the KEK like every key and re-wrapped by a KEK
//! rotation. Retention never destroys it (it shreds month keys only), so a roster outlives
//! the months whose events it explains.
//!
//! Invariants:
//! - The file holds only ciphertext: no name, id or date of a document is readable in it.
//! - The AAD binds tenant and kind: a row copied to another tenant or kind fails to open.
//! - `secure_delete` is on, so a replaced document's pages are overwritten, not left free.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use recall_crypto::{DataKey, Keystore, open_block, seal_block};
use rusqlite::{Connection, OptionalExtension, params};

use crate::sqlite::{OpenError, open_private};

/// The sealed documents' file name inside a data directory.
pub const SEALED_FILE: &str = "sealed.db";

const SCHEMA: &str = "
PRAGMA secure_delete = ON;
CREATE TABLE IF NOT EXISTS sealed (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    sealed  BLOB NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (tenant, kind)
) STRICT;
CREATE TABLE IF NOT EXISTS sealed_rows (
    tenant TEXT NOT NULL,
    kind   TEXT NOT NULL,
    key    BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (tenant, kind, key)
) STRICT, WITHOUT ROWID;
";

/// Domain of the AAD, so a sealed document can never be taken for another sealed thing.
const AAD_DOMAIN: &[u8] = b"recall/sealed/v1\0";

/// What went wrong with sealed documents; never carries their contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealedError {
    /// The file could not be created or opened.
    #[error("sealed documents {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An SQLite error.
    #[error("sealed documents database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The keystore failed, or a document did not open (damaged or moved).
    #[error(transparent)]
    Crypto(#[from] recall_crypto::CryptoError),
}

/// The sealed documents of every tenant.
pub struct Sealed {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed")
    }
}

pub(crate) fn aad(tenant: &str, kind: &str) -> Vec<u8> {
    [AAD_DOMAIN, tenant.as_bytes(), b"\0", kind.as_bytes()].concat()
}

/// The tenant's sealing key, created on first use.
pub(crate) fn key(keystore: &Keystore, tenant: &str) -> Result<DataKey, SealedError> {
    Ok(DataKey(keystore.named_secret(&format!("sealed:{tenant}"))?))
}

impl Sealed {
    /// Opens (creating, mode 0600) the file at `path`.
    pub fn open(path: &Path) -> Result<Self, SealedError> {
        let conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(source) => SealedError::Io {
                path: path.to_owned(),
                source,
            },
            OpenError::Sqlite(e) => SealedError::Sqlite(e),
        })?;
        Ok(Sealed {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the tenant's document of `kind` with `plain`; durable when this returns.
    pub fn put(
        &self,
        keystore: &Keystore,
        tenant: &str,
        kind: &str,
        plain: &[u8],
    ) -> Result<(), SealedError> {
        let sealed = seal_block(&key(keystore, tenant)?, &aad(tenant, kind), plain)?;
        self.conn().execute(
            "INSERT INTO sealed (tenant, kind, sealed, updated) \
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ON CONFLICT (tenant, kind) DO UPDATE SET sealed = ?3, updated = excluded.updated",
            params![tenant, kind, sealed],
        )?;
        Ok(())
    }

    /// Removes the tenant's document of `kind`, if any.
    pub fn delete(&self, tenant: &str, kind: &str) -> Result<(), SealedError> {
        self.conn().execute(
            "DELETE FROM sealed WHERE tenant = ?1 AND kind = ?2",
            params![tenant, kind],
        )?;
        Ok(())
    }

    /// The tenant's document of `kind`, opened; `None` when there is none.
    pub fn get(
        &self,
        keystore: &Keystore,
        tenant: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>, SealedError> {
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT sealed FROM sealed WHERE tenant = ?1 AND kind = ?2",
                params![tenant, kind],
                |r| r.get(0),
            )
            .optional()?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        Ok(Some(open_block(
            &key(keystore, tenant)?,
            &aad(tenant, kind),
            &sealed,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recall_crypto::Kek;

    #[test]
    fn documents_round_trip_stay_unreadable_and_do_not_move() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::create(&dir.path().join("k.db"), Kek::from_bytes([3; 32])).unwrap();
        let path = dir.path().join(SEALED_FILE);
        let s = Sealed::open(&path).unwrap();
        assert!(s.get(&ks, "a", "roster").unwrap().is_none());
        s.put(&ks, "a", "roster", b"Synthetic Name One").unwrap();
        s.put(&ks, "a", "roster", b"Synthetic Name Two").unwrap();
        assert_eq!(
            s.get(&ks, "a", "roster").unwrap().unwrap(),
            b"Synthetic Name Two"
        );
        assert!(s.get(&ks, "b", "roster").unwrap().is_none());
        // A row moved to another tenant does not open.
        s.conn()
            .execute(
                "INSERT INTO sealed SELECT 'b', kind, sealed, updated FROM sealed",
                [],
            )
            .unwrap();
        assert!(s.get(&ks, "b", "roster").is_err());
        drop(s);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(9).any(|w| w == b"Synthetic"));
        }
    }
}
