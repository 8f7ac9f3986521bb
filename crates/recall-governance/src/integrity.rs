//! Scheduled integrity verification: runs the one verification `recall verify` runs
//! (`recall_store::verify`) on a tenant's log, keeps each verdict in `integrity.db`, and
//! lets a person acknowledge failures (recorded in the tenant's log first).
//!
//! Invariants:
//! - A verdict is stored only after the verification finished; a run that could not
//!   finish (I/O, keys) is stored as `error`, which needs acknowledging like `failed`:
//!   making verification impossible must not silence it.
//! - A failure stays unacknowledged until someone acknowledges it, even if a later run
//!   passes; acknowledging covers every failure stored so far and is recorded in the
//!   tenant's log before the verdicts change.
//! - `integrity.db` holds no PHI: failure descriptions are verify's, which name files,
//!   offsets, seqs, tiles and checkpoints, never event contents.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use jiff::Timestamp;
use recall_store::Journal;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::sqlite::{OpenError, open_private};
use crate::workflows::Actor;
use crate::{Act, GovernanceError};

/// File name of the verdicts in the data directory.
pub const INTEGRITY_FILE: &str = "integrity.db";

/// Verdicts kept per tenant; older ones go, except failures not yet acknowledged.
pub const KEEP: i64 = 200;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    started TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'error')),
    tree_size INTEGER NOT NULL,
    checkpoints INTEGER NOT NULL,
    failure TEXT,
    first_bad_seq INTEGER,
    acknowledged_by TEXT,
    acknowledged_at TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS verdicts_by_tenant ON verdicts (tenant, id);
";

/// Why the verdicts could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// Creating or opening the file.
    #[error("integrity verdicts {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("integrity verdicts: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// How a verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything holds.
    Ok,
    /// The log was found altered, truncated or forked.
    Failed,
    /// Verification could not run to the end (I/O, keys).
    Error,
}

impl Outcome {
    /// `ok`, `failed` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "failed" => Outcome::Failed,
            _ => Outcome::Error,
        }
    }
}

/// Who acknowledged a failed verification, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    /// The credential (`key:<id>`, `jwt:<sub>`).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One verification of one tenant's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Its number in `integrity.db`.
    pub id: i64,
    /// The tenant.
    #[serde(skip)]
    pub tenant: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// How long it took.
    pub duration_ms: u64,
    /// How it ended.
    pub result: Outcome,
    /// Events of the log it covered.
    pub tree_size: u64,
    /// Signed checkpoints whose signature and root it checked.
    pub checkpoints: u64,
    /// Where and why it failed (verify's words: files, offsets, tiles, checkpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The first seq found bad, when the damage is tied to events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<u64>,
    /// Set once someone acknowledged it (failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
}

/// What `/metrics` reports of all tenants' verdicts (no tenant names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tenants whose latest verification did not pass.
    pub failing: u64,
    /// Tenants with a failure nobody acknowledged.
    pub unacknowledged: u64,
    /// The latest verification of each tenant that has one.
    pub latest: Vec<(String, Timestamp)>,
}

/// The verdicts store (`integrity.db`).
pub struct Verdicts {
    conn: Mutex<Connection>,
}

const COLUMNS: &str = "id, tenant, started, duration_ms, result, tree_size, checkpoints, \
                       failure, first_bad_seq, acknowledged_by, acknowledged_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Verdict> {
    let by: Option<String> = r.get(9)?;
    let at: Option<String> = r.get(10)?;
    Ok(Verdict {
        id: r.get(0)?,
        tenant: r.get(1)?,
        started: r.get(2)?,
        duration_ms: r.get::<_, i64>(3)? as u64,
        result: Outcome::parse(&r.get::<_, String>(4)?),
        tree_size: r.get::<_, i64>(5)? as u64,
        checkpoints: r.get::<_, i64>(6)? as u64,
        failure: r.get(7)?,
        first_bad_seq: r.get::<_, Option<i64>>(8)?.map(|s| s as u64),
        acknowledged: by.zip(at).map(|(by, at)| Acknowledgement { by, at }),
    })
}

impl Verdicts {
    /// Opens (creating, mode 0600) the verdicts at `path`.
    pub fn open(path: &Path) -> Result<Self, IntegrityError> {
        let conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(source) => IntegrityError::Io {
                path: path.to_owned(),
                source,
            },
            OpenError::Sqlite(e) => IntegrityError::Sqlite(e),
        })?;
        Ok(Verdicts {
            conn: Mutex::new(conn),
        })
    }

    // SQLite rolls back an unfinished statement; poisoning leaves nothing half-done.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a verdict (its `id` is assigned) and forgets the tenant's oldest beyond
    /// [`KEEP`], failures not yet acknowledged excepted.
    pub fn insert(&self, v: &mut Verdict) -> Result<(), IntegrityError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO verdicts (tenant, started, duration_ms, result, tree_size, checkpoints, \
             failure, first_bad_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                v.tenant,
                v.started,
                v.duration_ms as i64,
                v.result.as_str(),
                v.tree_size as i64,
                v.checkpoints as i64,
                v.failure,
                v.first_bad_seq.map(|s| s as i64),
            ],
        )?;
        v.id = conn.last_insert_rowid();
        conn.execute(
            "DELETE FROM verdicts WHERE tenant = ?1 AND id <= ?2 - ?3 \
             AND (result = 'ok' OR acknowledged_by IS NOT NULL)",
            params![v.tenant, v.id, KEEP],
        )?;
        Ok(())
    }

    /// The tenant's latest `n` verdicts, newest first.
    pub fn recent(&self, tenant: &str, n: usize) -> Result<Vec<Verdict>, IntegrityError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM verdicts WHERE tenant = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![tenant, n as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tenant's failures nobody acknowledged yet.
    pub fn unacknowledged(&self, tenant: &str) -> Result<u64, IntegrityError> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM verdicts WHERE tenant = ?1 AND result != 'ok' \
             AND acknowledged_by IS NULL",
            [tenant],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Marks every unacknowledged failure of the tenant as acknowledged; how many.
    fn acknowledge(&self, tenant: &str, ack: &Acknowledgement) -> Result<u64, IntegrityError> {
        let n = self.conn().execute(
            "UPDATE verdicts SET acknowledged_by = ?2, acknowledged_at = ?3 \
             WHERE tenant = ?1 AND result != 'ok' AND acknowledged_by IS NULL",
            params![tenant, ack.by, ack.at],
        )?;
        Ok(n as u64)
    }

    /// Every tenant's standing, for the gauges.
    pub fn summary(&self) -> Result<Summary, IntegrityError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT v.tenant, v.started, v.result, \
             (SELECT count(*) FROM verdicts u WHERE u.tenant = v.tenant AND u.result != 'ok' \
              AND u.acknowledged_by IS NULL) \
             FROM verdicts v WHERE v.id = (SELECT max(id) FROM verdicts w WHERE w.tenant = v.tenant)",
        )?;
        let mut out = Summary::default();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for r in rows {
            let (tenant, started, result, open) = r?;
            out.failing += u64::from(result != "ok");
            out.unacknowledged += u64::from(open > 0);
            if let Ok(t) = started.parse() {
                out.latest.push((tenant, t));
            }
        }
        Ok(out)
    }
}

/// Verifies `tenant`'s log with body checks on `workers` threads, as `recall verify
/// --tenant` does, and stores the verdict.
pub fn verify_tenant(
    journal: &Journal,
    verdicts: &Verdicts,
    tenant: &str,
    workers: usize,
) -> Result<Verdict, GovernanceError> {
    let started = Timestamp::now();
    let clock = Instant::now();
    let report = recall_store::verify::verify_with(journal, Some(tenant), None, workers);
    let mut v = Verdict {
        id: 0,
        tenant: tenant.to_string(),
        started: started.to_string(),
        duration_ms: clock.elapsed().as_millis() as u64,
        result: Outcome::Ok,
        tree_size: 0,
        checkpoints: 0,
        failure: None,
        first_bad_seq: None,
        acknowledged: None,
    };
    match report {
        Ok(report) => {
            if let Some(t) = report.tenants.first() {
                v.tree_size = t.events;
                v.checkpoints = t.checkpoints as u64;
            }
            if let Some(f) = report.failure {
                v.result = Outcome::Failed;
                v.failure = Some(format!("{}: {}", f.place, f.reason));
                v.first_bad_seq = f.seq;
            }
        }
        Err(e) => {
            v.result = Outcome::Error;
            v.failure = Some(format!("verification could not run: {e}"));
        }
    }
    verdicts.insert(&mut v)?;
    Ok(v)
}

/// Acknowledges the tenant's unacknowledged failures: recorded in its log first, then
/// marked. `None` when there was nothing to acknowledge (nothing recorded).
pub fn acknowledge(
    verdicts: &Verdicts,
    by: &Actor<'_>,
    tenant: &str,
) -> Result<Option<u64>, GovernanceError> {
    let open = verdicts.unacknowledged(tenant)?;
    if open == 0 {
        return Ok(None);
    }
    let latest = verdicts
        .recent(tenant, 1)?
        .into_iter()
        .next()
        .map_or(0, |v| v.id);
    by.record(
        tenant,
        Act::IntegrityAcknowledged {
            failures: open,
            latest_verdict: latest,
        },
    )?;
    let ack = Acknowledgement {
        by: by.who.id.clone(),
        at: Timestamp::now().to_string(),
    };
    Ok(Some(verdicts.acknowledge(tenant, &ack)?))
}

/// One signed checkpoint of the tenant's checkpoint log, as shown beside the verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointEntry {
    /// 1-based position in the checkpoint log.
    pub number: usize,
    /// Tree size it signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Root hash (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Why it does not verify (signature, origin), when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

/// The tenant's last `n` signed checkpoints (oldest first) and the latest note's text.
pub fn checkpoints(
    journal: &Journal,
    tenant: &str,
    n: usize,
) -> Result<(Vec<CheckpointEntry>, Option<String>), GovernanceError> {
    let notes = journal.store().checkpoints(tenant)?;
    let skip = notes.len().saturating_sub(n);
    let entries = notes
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, note)| {
            let mut e = CheckpointEntry {
                number: i + 1,
                size: None,
                root: None,
                invalid: None,
            };
            match journal.parse_checkpoint(note) {
                Ok(cp) if cp.origin == journal.origin(tenant) => {
                    e.size = Some(cp.size);
                    e.root = Some(hex::encode(cp.root));
                }
                Ok(_) => e.invalid = Some("origin is not this log's".into()),
                Err(err) => e.invalid = Some(err.to_string()),
            }
            e
        })
        .collect();
    Ok((entries, notes.last().cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(tenant: &str, result: Outcome) -> Verdict {
        Verdict {
            id: 0,
            tenant: tenant.into(),
            started: Timestamp::now().to_string(),
            duration_ms: 3,
            result,
            tree_size: 10,
            checkpoints: 2,
            failure: (result != Outcome::Ok).then(|| "tile tile/0/000: differs".into()),
            first_bad_seq: None,
            acknowledged: None,
        }
    }

    #[test]
    fn failures_stay_unacknowledged_through_passing_runs_restarts_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INTEGRITY_FILE);
        let v = Verdicts::open(&path).unwrap();
        v.insert(&mut verdict("a", Outcome::Failed)).unwrap();
        for _ in 0..KEEP + 5 {
            v.insert(&mut verdict("a", Outcome::Ok)).unwrap();
        }
        v.insert(&mut verdict("b", Outcome::Error)).unwrap();
        drop(v);
        let v = Verdicts::open(&path).unwrap();
        assert_eq!(v.unacknowledged("a").unwrap(), 1);
        assert_eq!(v.unacknowledged("b").unwrap(), 1);
        let s = v.summary().unwrap();
        assert_eq!((s.failing, s.unacknowledged, s.latest.len()), (1, 2, 2));
        // Old passing verdicts go; the unacknowledged failure is kept.
        let kept: i64 = v
            .conn()
            .query_row(
                "SELECT count(*) FROM verdicts WHERE tenant = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, KEEP + 1);
        let ack = Acknowledgement {
            by: "key:0123".into(),
            at: Timestamp::now().to_string(),
        };
        assert_eq!(v.acknowledge("a", &ack).unwrap(), 1);
        assert_eq!(v.unacknowledged("a").unwrap(), 0);
        assert_eq!(v.summary().unwrap().unacknowledged, 1);
        assert_eq!(v.recent("a", 1).unwrap()[0].result, Outcome::Ok);
    }
}
