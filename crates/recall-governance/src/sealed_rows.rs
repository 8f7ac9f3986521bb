//! Keyed sealed rows: a sealed document too large to open whole for each question kept
//! as one sealed row per key, so a lookup opens only the rows it asks for. The patient
//! roster is one: 2,000,000 patients are ~150 MB as one document, and opening it took
//! ~1.4 s of CPU for every breach assessment (docs/benchmarks.md, 10M events).
//!
//! Invariants:
//! - The documents' sealing key ([`crate::sealed`]); each value has its own random nonce,
//!   and the AAD binds tenant, kind and key: a value moved to another key, kind or tenant
//!   fails to open.
//! - Keys are stored as given: callers pass keys that reveal nothing (the patient roster's
//!   are index tokens, the keyed hashes the index already holds).
//! - A replacement is one SQLite transaction, also removing a whole document of the same
//!   tenant and kind (the earlier layout), committed only if the caller's `then` succeeds.

use recall_crypto::{Keystore, open_block, seal_block};
use rusqlite::{OptionalExtension, params};

use crate::sealed::{Sealed, SealedError, aad, key};

fn row_aad(tenant: &str, kind: &str, key: &[u8]) -> Vec<u8> {
    [aad(tenant, kind).as_slice(), b"\0", key].concat()
}

impl Sealed {
    /// Replaces every row of the tenant's `kind` with `rows` (key, plaintext value), and
    /// commits only if `then` succeeds (e.g. the import's record in the log).
    pub fn replace_rows<E: From<SealedError>>(
        &self,
        keystore: &Keystore,
        tenant: &str,
        kind: &str,
        rows: &[(Vec<u8>, Vec<u8>)],
        then: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let k = key(keystore, tenant)?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(SealedError::from)?;
        {
            let del = "DELETE FROM sealed_rows WHERE tenant = ?1 AND kind = ?2";
            tx.execute(del, params![tenant, kind])
                .map_err(SealedError::from)?;
            let old = "DELETE FROM sealed WHERE tenant = ?1 AND kind = ?2";
            tx.execute(old, params![tenant, kind])
                .map_err(SealedError::from)?;
            let mut put = tx
                .prepare(
                    "INSERT INTO sealed_rows (tenant, kind, key, sealed) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(SealedError::from)?;
            for (row_key, value) in rows {
                let sealed = seal_block(&k, &row_aad(tenant, kind, row_key), value)
                    .map_err(SealedError::from)?;
                put.execute(params![tenant, kind, row_key, sealed])
                    .map_err(SealedError::from)?;
            }
        }
        then()?;
        tx.commit().map_err(SealedError::from)?;
        Ok(())
    }

    /// Whether the tenant has any row of `kind`.
    pub fn has_rows(&self, tenant: &str, kind: &str) -> Result<bool, SealedError> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM sealed_rows WHERE tenant = ?1 AND kind = ?2 LIMIT 1",
                params![tenant, kind],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// The opened value of each of `keys` (same order), `None` where there is no row.
    pub fn get_rows(
        &self,
        keystore: &Keystore,
        tenant: &str,
        kind: &str,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, SealedError> {
        let k = key(keystore, tenant)?;
        let conn = self.conn();
        let mut get = conn.prepare_cached(
            "SELECT sealed FROM sealed_rows WHERE tenant = ?1 AND kind = ?2 AND key = ?3",
        )?;
        let mut out = Vec::with_capacity(keys.len());
        for row_key in keys {
            let sealed: Option<Vec<u8>> = get
                .query_row(params![tenant, kind, row_key], |r| r.get(0))
                .optional()?;
            out.push(match sealed {
                Some(s) => Some(open_block(&k, &row_aad(tenant, kind, row_key), &s)?),
                None => None,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recall_crypto::Kek;

    fn rows(pairs: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn rows_replace_whole_open_only_in_place_and_roll_back_with_their_caller() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::create(&dir.path().join("k.db"), Kek::from_bytes([3; 32])).unwrap();
        let s = Sealed::open(&dir.path().join(crate::sealed::SEALED_FILE)).unwrap();
        assert!(!s.has_rows("a", "p").unwrap());
        s.put(&ks, "a", "p", b"older whole document").unwrap();
        let first = rows(&[(b"k1", b"Synthetic-1"), (b"k2", b"Synthetic-2")]);
        s.replace_rows(&ks, "a", "p", &first, || Ok::<_, SealedError>(()))
            .unwrap();
        assert!(s.has_rows("a", "p").unwrap());
        assert!(s.get(&ks, "a", "p").unwrap().is_none(), "the document went");
        let keys = [b"k2".to_vec(), b"k9".to_vec(), b"k1".to_vec()];
        let got = s.get_rows(&ks, "a", "p", &keys).unwrap();
        assert_eq!(
            got,
            [
                Some(b"Synthetic-2".to_vec()),
                None,
                Some(b"Synthetic-1".to_vec())
            ]
        );
        // A failed caller leaves the rows as they were.
        let second = rows(&[(b"k3", b"Synthetic-3")]);
        let failed = s.replace_rows(&ks, "a", "p", &second, || {
            Err(SealedError::Sqlite(rusqlite::Error::InvalidQuery))
        });
        assert!(failed.is_err());
        assert_eq!(s.get_rows(&ks, "a", "p", &keys).unwrap(), got);
        s.replace_rows(&ks, "a", "p", &second, || Ok::<_, SealedError>(()))
            .unwrap();
        assert_eq!(
            s.get_rows(&ks, "a", "p", &keys).unwrap(),
            [None, None, None],
            "replaced whole"
        );
        // A value moved to another key or tenant does not open.
        s.conn()
            .execute("UPDATE sealed_rows SET key = X'6B31'", [])
            .unwrap();
        assert!(s.get_rows(&ks, "a", "p", &[b"k1".to_vec()]).is_err());
        s.conn()
            .execute("UPDATE sealed_rows SET tenant = 'b', key = X'6B33'", [])
            .unwrap();
        assert!(s.get_rows(&ks, "b", "p", &[b"k3".to_vec()]).is_err());
        drop(s);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(9).any(|w| w == b"Synthetic"));
        }
    }
}
