//! The server's own SQLite files (`auth.db`, `holds.db`): created mode 0600, WAL,
//! `synchronous=FULL` (a change is durable when the call returns), a busy timeout for
//! other processes (`recall keys`, `recall holds`) writing the same file.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// Why a file could not be opened.
pub(crate) enum OpenError {
    /// Creating or opening the file.
    Io(std::io::Error),
    /// SQLite refused it.
    Sqlite(rusqlite::Error),
}

/// Opens (creating, mode 0600) the SQLite file at `path` and applies `schema`.
pub(crate) fn open_private(path: &Path, schema: &str) -> Result<Connection, OpenError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(OpenError::Io)?;
    let setup = || -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(schema)?;
        Ok(conn)
    };
    setup().map_err(OpenError::Sqlite)
}
