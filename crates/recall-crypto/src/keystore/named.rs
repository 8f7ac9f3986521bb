//! Named secrets: random 32-byte secrets for other parts of recall (e.g. the API-key
//! pepper), created on first use and stored wrapped under the KEK like every other key.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Keystore, context};
use crate::{CryptoError, SecretBytes, random_array};

const KIND: &str = "named-secret";

fn check_name(name: &str) -> Result<(), CryptoError> {
    let bad = name.is_empty() || name.len() > 255 || name.contains(char::is_whitespace);
    if bad {
        Err(CryptoError::InvalidKeyName {
            name: name.to_owned(),
        })
    } else {
        Ok(())
    }
}

impl Keystore {
    /// The secret called `name`, created (32 random bytes) and persisted on first use.
    ///
    /// Stored in `named_secrets`, wrapped with AES-KWP under the KEK and bound to its
    /// name: a wrapped secret copied to another name fails to unwrap. Names are 1 to 255
    /// bytes without whitespace.
    pub fn named_secret(&self, name: &str) -> Result<SecretBytes, CryptoError> {
        check_name(name)?;
        let ctx = context(KIND, name, 0);
        let mut conn = self.conn();
        // IMMEDIATE: two processes asking at once must end up with the same secret.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let wrapped: Option<Vec<u8>> = tx
            .query_row(
                "SELECT wrapped FROM named_secrets WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        match wrapped {
            Some(w) => self.kek.unwrap_bound(&w, &ctx, "named secret"),
            None => {
                let secret = SecretBytes(random_array());
                tx.execute(
                    "INSERT INTO named_secrets (name, wrapped, created) \
                     VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    params![name, self.kek.wrap_bound(&secret, &ctx)?],
                )?;
                tx.commit()?; // synchronous=FULL: durable once this returns
                Ok(secret)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kek;

    fn kek() -> Kek {
        Kek::from_bytes([9u8; 32])
    }

    #[test]
    fn created_once_then_read_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let ks = Keystore::create(&path, kek()).unwrap();
        let a = ks.named_secret("api-key-pepper").unwrap();
        assert_eq!(
            ks.named_secret("api-key-pepper").unwrap().expose(),
            a.expose()
        );
        let b = ks.named_secret("other").unwrap();
        assert_ne!(a.expose(), b.expose());
        drop(ks);
        let ks = Keystore::open(&path, kek()).unwrap();
        assert_eq!(
            ks.named_secret("api-key-pepper").unwrap().expose(),
            a.expose()
        );
        // The file holds only the wrapped form.
        drop(ks);
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(32).any(|w| w == a.expose()));
    }

    #[test]
    fn bad_names_and_moved_rows_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let ks = Keystore::create(&path, kek()).unwrap();
        for bad in ["", "a b", &"x".repeat(256)] {
            assert!(matches!(
                ks.named_secret(bad),
                Err(CryptoError::InvalidKeyName { .. })
            ));
        }
        ks.named_secret("one").unwrap();
        ks.conn()
            .execute(
                "INSERT INTO named_secrets (name, wrapped, created) \
                 SELECT 'two', wrapped, created FROM named_secrets WHERE name = 'one'",
                [],
            )
            .unwrap();
        assert!(matches!(
            ks.named_secret("two"),
            Err(CryptoError::Unwrap { .. })
        ));
    }

    #[test]
    fn a_keystore_without_the_table_gains_it_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let ks = Keystore::create(&path, kek()).unwrap();
        ks.conn().execute("DROP TABLE named_secrets", []).unwrap();
        drop(ks);
        let ks = Keystore::open(&path, kek()).unwrap();
        ks.named_secret("api-key-pepper").unwrap();
    }
}
