//! Secrets at rest in `users.db` (TOTP secrets, and a `patient` user's patient id): sealed with AES-256-GCM (recall-crypto's
//! [`seal_block`]) under the keystore's named secret [`TOTP_KEY`], wrapped under the KEK
//! like every key (so a KEK rotation re-wraps it and a copied `users.db` alone yields no
//! second factor and no patient id). Files written before sealing existed are migrated
//! when opened.
//!
//! Invariants:
//! - A row whose `totp_sealed` is 1 holds `nonce ‖ ciphertext ‖ tag`, never the secret.
//! - The AAD binds what is sealed and the user's name: a sealed value copied to another
//!   user or column fails to open.
//! - Migration runs in one transaction with `secure_delete` on, then checkpoints the WAL,
//!   so the plaintext pages are overwritten rather than left free.

use recall_crypto::{DataKey, Keystore, open_block, seal_block};
use rusqlite::{Connection, params};

use crate::users::UserError;

/// The keystore's named secret that seals TOTP secrets.
pub const TOTP_KEY: &str = "console-users:totp";

/// What a sealed value is (part of its AAD).
#[derive(Debug, Clone, Copy)]
pub(crate) enum What {
    /// A TOTP secret (`totp`).
    Totp,
    /// A `patient` user's patient id (`patient`).
    Patient,
}

impl What {
    fn domain(self) -> &'static [u8] {
        match self {
            What::Totp => b"recall/users/totp/v1\0",
            What::Patient => b"recall/users/patient/v1\0",
        }
    }
}

/// Columns added after the first release of `users.db`, with their definitions.
const ADDED: [(&str, &str); 3] = [
    ("totp_sealed", "INTEGER NOT NULL DEFAULT 0"),
    ("binding", "TEXT"),
    ("patient", "BLOB"),
];

fn aad(what: What, name: &str) -> Vec<u8> {
    [what.domain(), name.as_bytes()].concat()
}

/// The sealing key, created in the keystore on first use.
pub(crate) fn key(keystore: &Keystore) -> Result<DataKey, UserError> {
    Ok(DataKey(keystore.named_secret(TOTP_KEY)?))
}

/// Seals user `name`'s `what`.
pub(crate) fn seal(
    key: &DataKey,
    what: What,
    name: &str,
    plain: &[u8],
) -> Result<Vec<u8>, UserError> {
    Ok(seal_block(key, &aad(what, name), plain)?)
}

/// Opens user `name`'s sealed `what`.
pub(crate) fn open(
    key: &DataKey,
    what: What,
    name: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, UserError> {
    Ok(open_block(key, &aad(what, name), sealed)?)
}

/// Adds the columns an older file lacks, then seals every TOTP secret still in clear.
pub(crate) fn migrate(conn: &mut Connection, key: &DataKey) -> Result<usize, UserError> {
    let have: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('users')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let tx = conn.transaction()?;
    for (column, def) in ADDED {
        if !have.iter().any(|c| c == column) {
            tx.execute_batch(&format!("ALTER TABLE users ADD COLUMN {column} {def}"))?;
        }
    }
    let clear: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT name, totp FROM users WHERE totp IS NOT NULL AND totp_sealed = 0")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, secret) in &clear {
        tx.execute(
            "UPDATE users SET totp = ?2, totp_sealed = 1 WHERE name = ?1",
            params![name, seal(key, What::Totp, name, secret)?],
        )?;
    }
    tx.commit()?;
    if !clear.is_empty() {
        // Fold the WAL into the main file now, so no copy of a clear page lingers in it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(clear.len())
}
