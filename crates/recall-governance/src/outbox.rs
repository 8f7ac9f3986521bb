//! Records waiting for the log's writer: a process that changes governance state while
//! another holds the log (`recall keys create` while the server runs) leaves its record
//! here, and the log's holder appends it — the server within seconds, the CLI whenever it
//! next opens the data directory for writing. `outbox.db` (layout in
//! docs/design/governance.md) holds no secret and no patient identifier.
//!
//! A record keeps a random client id, so an entry appended but not yet deleted when the
//! drainer stopped is recognised and not appended twice.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;
use recall_model::{Event, Recorded};
use rusqlite::{Connection, params};

use crate::GovernanceError;
use crate::holds::HoldError;
use crate::recorder::Recorder;
use crate::sqlite::{OpenError, open_private};

/// The outbox's file name inside a data directory.
pub const OUTBOX_FILE: &str = "outbox.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pending (
    id     INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    event  BLOB NOT NULL
) STRICT;
";

/// The outbox of a data directory.
pub struct Outbox {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

impl Outbox {
    /// Opens (creating, mode 0600) the outbox at `path`.
    pub fn open(path: &Path) -> Result<Self, GovernanceError> {
        let conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(source) => GovernanceError::Holds(HoldError::Io {
                path: path.to_owned(),
                source,
            }),
            OpenError::Sqlite(e) => GovernanceError::Outbox(e),
        })?;
        Ok(Outbox {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many records wait.
    pub fn pending(&self) -> Result<u64, GovernanceError> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM pending", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Appends every waiting record through `recorder`, oldest first; returns how many.
    /// Each is deleted only once its append is durable.
    pub fn drain(&self, recorder: &dyn Recorder) -> Result<usize, GovernanceError> {
        let rows: Vec<(i64, String, Vec<u8>)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT id, tenant, event FROM pending ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, tenant, bytes) in &rows {
            let event = recall_model::parse_canonical(bytes)
                .map_err(|e| GovernanceError::Recording(format!("outbox entry {id}: {}", e.field)))?
                .event;
            recorder.record(tenant, event)?;
            self.conn()
                .execute("DELETE FROM pending WHERE id = ?1", params![id])?;
        }
        Ok(rows.len())
    }
}

impl Recorder for Outbox {
    /// Leaves `event` for the log's holder (durable when this returns).
    fn record(&self, tenant: &str, mut event: Event) -> Result<(), GovernanceError> {
        if event.id.is_none() {
            event.id = Some(format!(
                "recall-outbox-{}",
                hex::encode(recall_crypto::random_array::<12>())
            ));
        }
        let rec = Recorded {
            event,
            tenant: tenant.to_owned(),
            seq: 0,
            received: Timestamp::now(),
            // The holder of the log appends it, under its own name.
            appended_by: None,
        };
        let bytes = recall_model::canonical(&rec);
        self.conn().execute(
            "INSERT INTO pending (tenant, event) VALUES (?1, ?2)",
            params![tenant, bytes],
        )?;
        Ok(())
    }
}
