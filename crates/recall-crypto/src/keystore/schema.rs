//! The keystore's SQLite schema, connection settings and KEK check value
//! (docs/design/keystore.md describes every table and column).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::context;
use crate::{CryptoError, Kek, SecretBytes, random_array};

/// The schema version written to `meta` and required on open.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// STRICT tables: SQLite refuses a value of the wrong type instead of storing it.
const SCHEMA: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value ANY NOT NULL
) STRICT;
CREATE TABLE epoch_keys (
    tenant        TEXT NOT NULL,
    epoch         INTEGER NOT NULL,
    data_key      BLOB NOT NULL,
    commit_secret BLOB NOT NULL,
    created       TEXT NOT NULL,
    PRIMARY KEY (tenant, epoch)
) STRICT;
CREATE TABLE forgotten_epochs (
    tenant    TEXT NOT NULL,
    epoch     INTEGER NOT NULL,
    forgotten TEXT NOT NULL,
    PRIMARY KEY (tenant, epoch)
) STRICT;
CREATE TABLE tenant_keys (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (tenant, kind)
) STRICT;
CREATE TABLE signing_keys (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    seed       BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created    TEXT NOT NULL,
    retired    TEXT
) STRICT;
";

/// Tables added after version 1 without changing its layout: created on every open when
/// missing, so keystores made by earlier builds open unchanged otherwise.
pub(super) const ADDED_TABLES: &str = "
CREATE TABLE IF NOT EXISTS named_secrets (
    name    TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL,
    created TEXT NOT NULL
) STRICT;
";

/// `keystore.db` + `-wal` → `keystore.db-wal` (SQLite's naming).
pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    s.into()
}

fn not_a_keystore(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::NotAKeystore {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// SQLite's "file is not a database" as [`CryptoError::NotAKeystore`].
fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> CryptoError {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_a_keystore(path, "not an SQLite database"),
        _ => e.into(),
    }
}

/// Per-connection settings; run on every open, after [`check`].
pub(super) fn configure(conn: &Connection, path: &Path) -> Result<(), CryptoError> {
    // Overwrite deleted content with zeros, so a forgotten key is gone from the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql_error(path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(not_a_keystore(
            path,
            format!("journal mode stays {mode}, WAL needed"),
        ));
    }
    // FULL: a commit is fsynced before it returns, so a created key is never lost after
    // data was sealed under it.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Creates the tables of [`ADDED_TABLES`] that an older keystore lacks; run on open,
/// after [`check`] and [`configure`].
pub(super) fn add_missing_tables(conn: &Connection) -> Result<(), CryptoError> {
    conn.execute_batch(ADDED_TABLES)?;
    Ok(())
}

fn check_context() -> Vec<u8> {
    context("kek-check", "", 0)
}

/// Creates the tables and the KEK check value in one transaction.
pub(super) fn initialise(conn: &Connection, kek: &Kek) -> Result<(), CryptoError> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(ADDED_TABLES)?;
    let check = SecretBytes(random_array());
    let wrapped = kek.wrap_bound(&check, &check_context())?;
    let digest = Sha256::digest(check.expose());
    let mut put = tx.prepare("INSERT INTO meta (name, value) VALUES (?1, ?2)")?;
    put.execute(params!["schema_version", SCHEMA_VERSION])?;
    put.execute(params!["kek_check_wrapped", wrapped])?;
    put.execute(params!["kek_check_sha256", digest.as_slice()])?;
    drop(put);
    tx.execute(
        "INSERT INTO meta (name, value) \
         VALUES ('created', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        [],
    )?;
    tx.commit()?;
    Ok(())
}

/// Checks the schema version and that `kek` unwraps the check value.
pub(super) fn check(conn: &Connection, kek: &Kek, path: &Path) -> Result<(), CryptoError> {
    let has_meta: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )
        .map_err(sql_error(path))?;
    if !has_meta {
        return Err(not_a_keystore(path, "no meta table"));
    }
    let get = |name: &str| -> Result<Option<Value>, CryptoError> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    };
    match get("schema_version")? {
        Some(Value::Integer(SCHEMA_VERSION)) => {}
        Some(Value::Integer(v)) => {
            return Err(not_a_keystore(
                path,
                format!("schema version {v}; this build reads version {SCHEMA_VERSION}"),
            ));
        }
        _ => return Err(not_a_keystore(path, "no schema version")),
    }
    let (Some(Value::Blob(wrapped)), Some(Value::Blob(digest))) =
        (get("kek_check_wrapped")?, get("kek_check_sha256")?)
    else {
        return Err(not_a_keystore(path, "no key-encryption key check value"));
    };
    let wrong = || CryptoError::WrongKek {
        path: path.to_owned(),
    };
    let check = kek
        .unwrap_bound(&wrapped, &check_context(), "check value")
        .map_err(|_| wrong())?;
    if Sha256::digest(check.expose()).as_slice() != digest.as_slice() {
        return Err(wrong());
    }
    Ok(())
}

/// Whether `(tenant, epoch)` was forgotten.
pub(super) fn is_forgotten(
    conn: &Connection,
    tenant: &str,
    epoch: u32,
) -> Result<bool, CryptoError> {
    Ok(conn.query_row(
        "SELECT count(*) > 0 FROM forgotten_epochs WHERE tenant = ?1 AND epoch = ?2",
        params![tenant, epoch],
        |r| r.get(0),
    )?)
}

/// Copies every WAL frame into the database and truncates the WAL to zero bytes, so old
/// page images (holding deleted keys) leave the WAL file.
pub(super) fn checkpoint_truncate(conn: &Connection) -> Result<(), CryptoError> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        return Err(CryptoError::CheckpointIncomplete { busy });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let conn = Connection::open(&path).unwrap();
        configure(&conn, &path).unwrap();
        let get = |p: &str| -> String {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(get("secure_delete"), "Integer(1)");
        assert_eq!(get("journal_mode"), "Text(\"wal\")");
        assert_eq!(get("synchronous"), "Integer(2)"); // FULL
        assert_eq!(get("foreign_keys"), "Integer(1)");
    }

    #[test]
    fn check_refuses_non_keystores() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::from_bytes(random_array());
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).unwrap();
        configure(&conn, &path).unwrap();
        assert!(matches!(
            check(&conn, &kek, &path),
            Err(CryptoError::NotAKeystore { .. })
        ));
        initialise(&conn, &kek).unwrap();
        check(&conn, &kek, &path).unwrap();
        conn.execute(
            "UPDATE meta SET value = 2 WHERE name = 'schema_version'",
            [],
        )
        .unwrap();
        let err = check(&conn, &kek, &path).unwrap_err();
        assert!(err.to_string().contains("schema version 2"), "{err}");

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x55u8; 8192]).unwrap();
        let conn = Connection::open(&junk).unwrap();
        assert!(matches!(
            configure(&conn, &junk),
            Err(CryptoError::NotAKeystore { .. })
        ));
    }
}
