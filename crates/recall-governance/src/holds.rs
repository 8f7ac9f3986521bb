//! Legal holds (docs/design/retention.md; `holds.db` layout in docs/design/governance.md): a hold names a patient, an actor or an event
//! time range of one tenant; every month holding events it covers keeps its keys while
//! the hold is active. Kept in `holds.db` (SQLite, mode 0600, WAL, `synchronous=FULL`).
//!
//! A patient or actor is stored only as its index token (the keyed hash the index already
//! holds), never as the identifier: `holds.db` carries no PHI. The months a patient or
//! actor hold covers are read from the index when a retention run asks, so events that
//! arrive after the hold was made are covered too.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use recall_model::Epoch;
use recall_query::{Db, QueryError, Subject};
use rusqlite::{Connection, OptionalExtension, params};

use crate::sqlite::{OpenError, open_private};

/// The holds database's file name inside a data directory.
pub const HOLDS_FILE: &str = "holds.db";
/// Longest matter name, in characters.
pub const MAX_MATTER_CHARS: usize = 100;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS holds (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('patient', 'actor', 'time')),
    token       TEXT,
    time_from   TEXT,
    time_to     TEXT,
    matter      TEXT NOT NULL,
    created     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    released    TEXT,
    released_by TEXT
) STRICT;
";

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every event of the patient with this index token.
    Patient([u8; 32]),
    /// Every event of the actor with this index token.
    Actor([u8; 32]),
    /// Every event whose time is in `[from, to)`.
    Time {
        /// Inclusive.
        from: Timestamp,
        /// Exclusive.
        to: Timestamp,
    },
}

impl Scope {
    /// `patient`, `actor` or `time`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Patient(_) => "patient",
            Scope::Actor(_) => "actor",
            Scope::Time { .. } => "time",
        }
    }
}

/// One hold as stored (no identifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Random id (16 hex digits).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// What it covers.
    pub scope: Scope,
    /// The legal matter it is for (a case name or number; no PHI).
    pub matter: String,
    /// When and by whom it was made.
    pub created: Timestamp,
    /// See `created`.
    pub created_by: String,
    /// When and by whom it was released, if it was.
    pub released: Option<(Timestamp, String)>,
}

impl Hold {
    /// Its public facts as JSON (never a token).
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "kind": self.scope.kind(),
            "matter": self.matter,
            "created": self.created.to_string(),
            "created_by": self.created_by,
            "released": self.released.as_ref().map(|(t, _)| t.to_string()),
            "released_by": self.released.as_ref().map(|(_, by)| by.clone()),
        });
        if let Scope::Time { from, to } = &self.scope {
            v["from"] = serde_json::json!(from.to_string());
            v["to"] = serde_json::json!(to.to_string());
        }
        v
    }
}

/// What went wrong with holds; never carries an identifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HoldError {
    /// The database could not be created or opened.
    #[error("holds database {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An SQLite error.
    #[error("holds database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row is damaged.
    #[error("hold {0} is damaged in the database")]
    Damaged(String),
    /// A request that cannot be a hold; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The index could not say which months a subject's events fall in.
    #[error("index: {0}")]
    Query(#[from] QueryError),
}

/// The holds of every tenant.
pub struct Holds {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Holds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Holds")
    }
}

/// Checks a matter name: 1 to 100 characters, no control characters.
pub fn check_matter(matter: &str) -> Result<(), HoldError> {
    let n = matter.chars().count();
    if n == 0 || n > MAX_MATTER_CHARS || matter.chars().any(char::is_control) {
        return Err(HoldError::Invalid {
            field: "matter",
            message: format!(
                "must be 1 to {MAX_MATTER_CHARS} characters without control characters"
            ),
        });
    }
    Ok(())
}

impl Holds {
    /// Opens (creating, mode 0600) the holds database at `path`.
    pub fn open(path: &Path) -> Result<Self, HoldError> {
        let conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(source) => HoldError::Io {
                path: path.to_owned(),
                source,
            },
            OpenError::Sqlite(e) => HoldError::Sqlite(e),
        })?;
        Ok(Holds {
            conn: Mutex::new(conn),
        })
    }

    // SQLite rolls back an unfinished statement; poisoning leaves nothing half-done.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Places a hold; durable when this returns.
    pub fn create(
        &self,
        tenant: &str,
        scope: Scope,
        matter: &str,
        by: &str,
    ) -> Result<Hold, HoldError> {
        check_matter(matter)?;
        if let Scope::Time { from, to } = &scope
            && from >= to
        {
            return Err(HoldError::Invalid {
                field: "to",
                message: "must be later than from".into(),
            });
        }
        let hold = Hold {
            id: hex::encode(recall_crypto::random_array::<8>()),
            tenant: tenant.to_owned(),
            scope,
            matter: matter.to_owned(),
            created: Timestamp::now(),
            created_by: by.to_owned(),
            released: None,
        };
        let (token, from, to) = match &hold.scope {
            Scope::Patient(t) | Scope::Actor(t) => (Some(hex::encode(t)), None, None),
            Scope::Time { from, to } => (None, Some(from.to_string()), Some(to.to_string())),
        };
        self.conn().execute(
            "INSERT INTO holds (id, tenant, kind, token, time_from, time_to, matter, created, \
             created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                hold.id,
                tenant,
                hold.scope.kind(),
                token,
                from,
                to,
                matter,
                hold.created.to_string(),
                by
            ],
        )?;
        Ok(hold)
    }

    /// The tenant's holds, active and released, oldest first.
    pub fn list(&self, tenant: &str) -> Result<Vec<Hold>, HoldError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, tenant, kind, token, time_from, time_to, matter, created, created_by, \
             released, released_by FROM holds WHERE tenant = ?1 ORDER BY created, id",
        )?;
        let rows = stmt.query_map([tenant], row)?;
        rows.map(|r| r.map_err(HoldError::from).and_then(decode))
            .collect()
    }

    /// Releases a hold of `tenant`; `None` if it has none with that id. The flag says
    /// whether this call released it (false: it was released before).
    pub fn release(
        &self,
        tenant: &str,
        id: &str,
        by: &str,
    ) -> Result<Option<(Hold, bool)>, HoldError> {
        let changed = self.conn().execute(
            "UPDATE holds SET released = ?3, released_by = ?4 \
             WHERE id = ?1 AND tenant = ?2 AND released IS NULL",
            params![id, tenant, Timestamp::now().to_string(), by],
        )?;
        let conn = self.conn();
        let found = conn
            .query_row(
                "SELECT id, tenant, kind, token, time_from, time_to, matter, created, \
                 created_by, released, released_by FROM holds WHERE id = ?1 AND tenant = ?2",
                params![id, tenant],
                row,
            )
            .optional()?;
        found
            .map(|r| decode(r).map(|h| (h, changed > 0)))
            .transpose()
    }

    /// The tenant's active holds.
    pub fn active(&self, tenant: &str) -> Result<Vec<Hold>, HoldError> {
        let mut holds = self.list(tenant)?;
        holds.retain(|h| h.released.is_none());
        Ok(holds)
    }

    /// Every month of `tenant` an active hold covers.
    pub fn held_months(&self, db: &Db, tenant: &str) -> Result<BTreeSet<u32>, HoldError> {
        let mut months = BTreeSet::new();
        for hold in self.active(tenant)? {
            months.extend(hold.months(db)?);
        }
        Ok(months)
    }
}

impl Hold {
    /// The months this hold covers: those of a held patient's or actor's events (from the
    /// index, as far as it has caught up), or those a held time range overlaps.
    pub fn months(&self, db: &Db) -> Result<BTreeSet<u32>, HoldError> {
        Ok(match &self.scope {
            Scope::Patient(t) => db.months_of(&self.tenant, Subject::Patient, t)?,
            Scope::Actor(t) => db.months_of(&self.tenant, Subject::Actor, t)?,
            Scope::Time { from, to } => months_between(*from, *to).into_iter().collect(),
        })
    }
}

/// The months `[from, to)` overlaps.
fn months_between(from: Timestamp, to: Timestamp) -> Vec<u32> {
    let last = Epoch::of(to - jiff::SignedDuration::from_nanos(1)).0;
    let mut out = Vec::new();
    let mut m = Epoch::of(from).0;
    while m <= last {
        out.push(m);
        m = if m % 100 == 12 { m + 89 } else { m + 1 };
    }
    out
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn decode(r: Row) -> Result<Hold, HoldError> {
    let (id, tenant, kind, token, from, to, matter, created, created_by, released, released_by) = r;
    let damaged = || HoldError::Damaged(id.clone());
    let time = |s: &str| s.parse::<Timestamp>().map_err(|_| damaged());
    let token = || -> Result<[u8; 32], HoldError> {
        let bytes = hex::decode(token.as_deref().unwrap_or_default()).map_err(|_| damaged())?;
        bytes.try_into().map_err(|_| damaged())
    };
    let scope = match kind.as_str() {
        "patient" => Scope::Patient(token()?),
        "actor" => Scope::Actor(token()?),
        "time" => Scope::Time {
            from: time(from.as_deref().unwrap_or_default())?,
            to: time(to.as_deref().unwrap_or_default())?,
        },
        _ => return Err(damaged()),
    };
    let released = match (released, released_by) {
        (Some(t), Some(by)) => Some((time(&t)?, by)),
        (None, None) => None,
        _ => return Err(damaged()),
    };
    Ok(Hold {
        created: time(&created)?,
        id,
        tenant,
        scope,
        matter,
        created_by,
        released,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_time_range_covers_every_month_it_overlaps() {
        let m = months_between(at("2025-11-15T00:00:00Z"), at("2026-02-01T00:00:00Z"));
        assert_eq!(m, vec![202511, 202512, 202601]);
        let one = months_between(at("2026-03-01T00:00:00Z"), at("2026-03-01T00:00:01Z"));
        assert_eq!(one, vec![202603]);
    }

    #[test]
    fn holds_are_listed_per_tenant_released_once_and_never_hold_an_identifier() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HOLDS_FILE);
        let holds = Holds::open(&path).unwrap();
        let token = [7u8; 32];
        let h = holds
            .create("a", Scope::Patient(token), "Case 12-345", "key:1")
            .unwrap();
        holds
            .create(
                "b",
                Scope::Time {
                    from: at("2024-01-01T00:00:00Z"),
                    to: at("2024-02-01T00:00:00Z"),
                },
                "Case 9",
                "key:2",
            )
            .unwrap();
        assert!(matches!(
            holds.create("a", Scope::Actor(token), "", "k"),
            Err(HoldError::Invalid {
                field: "matter",
                ..
            })
        ));
        let list = holds.list("a").unwrap();
        assert_eq!(list, vec![h.clone()]);
        let (released, changed) = holds.release("a", &h.id, "key:3").unwrap().unwrap();
        assert!(changed && released.released.as_ref().unwrap().1 == "key:3");
        let (_, again) = holds.release("a", &h.id, "key:4").unwrap().unwrap();
        assert!(!again);
        assert!(holds.release("b", &h.id, "key:4").unwrap().is_none());
        drop(holds);
        // Reopened, the same.
        let holds = Holds::open(&path).unwrap();
        assert_eq!(holds.list("a").unwrap()[0].released, released.released);
        assert!(!h.json().to_string().contains(&hex::encode(token)));
    }
}
