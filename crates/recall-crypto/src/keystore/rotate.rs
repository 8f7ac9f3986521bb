//! KEK rotation: every wrapped secret re-wrapped under a new KEK in one transaction.
//! Bodies, tiles and checkpoints are untouched: only the wrapping changes.

use rusqlite::{Transaction, TransactionBehavior, params};

use super::{Keystore, context, schema};
use crate::{CryptoError, Kek};

/// One wrapped secret: where it is and what it is bound to.
struct Wrapped {
    table: &'static str,
    column: &'static str,
    rowid: i64,
    context: Vec<u8>,
    bytes: Vec<u8>,
}

impl Keystore {
    /// Re-wraps every secret of the keystore (epoch data keys and commit secrets, tenant
    /// keys, checkpoint signing seeds, named secrets and the KEK check value) under `new`,
    /// in one transaction, then truncates the WAL so no page of the old wrapping stays in
    /// it. Afterwards only `new` opens the keystore; the old KEK is no longer needed.
    /// Returns the keystore under `new` and how many secrets were re-wrapped.
    pub fn rotate_kek(mut self, new: Kek) -> Result<(Keystore, usize), CryptoError> {
        let count = {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let secrets = wrapped_secrets(&tx)?;
            for w in &secrets {
                let secret = self
                    .kek
                    .unwrap_bound(&w.bytes, &w.context, "a secret to re-wrap")?;
                let again = new.wrap_bound(&secret, &w.context)?;
                let sql = format!("UPDATE {} SET {} = ?1 WHERE rowid = ?2", w.table, w.column);
                tx.execute(&sql, params![again, w.rowid])?;
            }
            tx.commit()?;
            schema::checkpoint_truncate(&conn)?;
            secrets.len()
        };
        self.kek = new;
        Ok((self, count))
    }
}

/// Every wrapped secret in the keystore, with the context it is bound to (see `context`).
fn wrapped_secrets(tx: &Transaction<'_>) -> Result<Vec<Wrapped>, CryptoError> {
    let mut out = Vec::new();
    let mut stmt =
        tx.prepare("SELECT rowid, tenant, epoch, data_key, commit_secret FROM epoch_keys")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    })?;
    for row in rows {
        let (rowid, tenant, epoch, data, commit) = row?;
        let epoch = u64::try_from(epoch).unwrap_or_default();
        for (column, kind, bytes) in [
            ("data_key", "epoch-data", data),
            ("commit_secret", "epoch-commit", commit),
        ] {
            out.push(Wrapped {
                table: "epoch_keys",
                column,
                rowid,
                context: context(kind, &tenant, epoch),
                bytes,
            });
        }
    }
    // (table, column, SQL giving rowid, kind, owner, n, wrapped)
    let simple: [(&str, &str, &str); 4] = [
        (
            "tenant_keys",
            "wrapped",
            "SELECT rowid, kind, tenant, 0, wrapped FROM tenant_keys",
        ),
        (
            "signing_keys",
            "seed",
            "SELECT rowid, 'signing-seed', name, id, seed FROM signing_keys",
        ),
        (
            "named_secrets",
            "wrapped",
            "SELECT rowid, 'named-secret', name, 0, wrapped FROM named_secrets",
        ),
        (
            "meta",
            "value",
            "SELECT rowid, 'kek-check', '', 0, value FROM meta WHERE name = 'kek_check_wrapped'",
        ),
    ];
    for (table, column, sql) in simple {
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?;
        for row in rows {
            let (rowid, kind, owner, n, bytes) = row?;
            out.push(Wrapped {
                table,
                column,
                rowid,
                context: context(&kind, &owner, u64::try_from(n).unwrap_or_default()),
                bytes,
            });
        }
    }
    Ok(out)
}
