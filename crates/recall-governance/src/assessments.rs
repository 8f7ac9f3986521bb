//! Breach impact assessments kept where PHI belongs — in the tenant's encrypted log — and
//! found again through `assessments.db`, which holds no PHI and no free text: per
//! assessment only its tenant, random id, latest version and two timestamps.
//!
//! Every change (opening included) is one event of recall's own in the tenant's log,
//! carrying the assessment's whole state (`detail.assessment`) under the event id
//! `recall-assessment-<keyed token of id and version>` ([`event_id`]); reading a version
//! is one point lookup of that id in the index and one event read. The server and the CLI call the functions
//! here, so neither front end has a workflow of its own.
//!
//! Invariants:
//! - A change is recorded in the log before `assessments.db` counts it; if counting it
//!   fails, the next change finds the recorded version by its event id and resumes
//!   after it (the database follows the log, never the reverse).
//! - Changes to assessments are serialised (one lock), so versions never fork.
//! - Figures are computed at opening over the log as it then was (`figures.horizon`);
//!   the patient list is computed again at that horizon, so it matches the count.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use recall_query::{Affected, Db, Lookup};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::GovernanceError;
use crate::assessment::{
    Assessment, Figures, Invalid, OpenRequest, PatientStates, UNKNOWN_STATE, UpdateRequest,
    deadlines,
};
use crate::record::Act;
use crate::sqlite::{OpenError, open_private};
use crate::workflows::Actor;

/// The assessments index's file name inside a data directory.
pub const ASSESSMENTS_FILE: &str = "assessments.db";
/// Largest encoded state: it travels in one event's `detail` (16 KiB at most).
const MAX_STATE_BYTES: usize = 15 * 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS assessments (
    tenant   TEXT NOT NULL,
    id       TEXT NOT NULL,
    version  INTEGER NOT NULL,
    opened   TEXT NOT NULL,
    updated  TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;
";

/// What went wrong with an assessment; never carries an identifier or its text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssessmentError {
    /// The request cannot be applied; names the field.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The database could not be created or opened.
    #[error("assessments database {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An SQLite error.
    #[error("assessments database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A recorded version cannot be read back (not in the log, shredded, or malformed).
    #[error("assessment {id} version {version} cannot be read from the log: {why}")]
    Unreadable {
        /// The assessment.
        id: String,
        /// The version.
        version: u32,
        /// Why.
        why: &'static str,
    },
}

/// One recorded version of an assessment: its state and the event that carries it.
#[derive(Debug, Clone)]
pub struct Version {
    /// The state after this change.
    pub state: Assessment,
    /// The event's seq in the tenant's log.
    pub seq: u64,
    /// The fields this change set (`opened` for the first).
    pub changed: Vec<String>,
}

/// The event id of version `version` of assessment `id` in `tenant`'s log: keyed with the
/// tenant's index key, so no writer can send an event under it first (ingest would then
/// take recall's record for a replay, and a read would find the writer's event).
pub fn event_id(db: &Db, tenant: &str, id: &str, version: u32) -> Result<String, GovernanceError> {
    let key = db.journal().keystore().index_key(tenant)?;
    let token =
        recall_crypto::BlindIndexer::new(&key).token("assessment", &format!("{id}/{version}"));
    Ok(format!("recall-assessment-{}", hex::encode(&token[..16])))
}

/// The index of assessments of every tenant, and the lock that serialises changes.
pub struct Assessments {
    conn: Mutex<Connection>,
    changing: Mutex<()>,
}

impl std::fmt::Debug for Assessments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Assessments")
    }
}

/// What the workflows read and write: the index, the assessments, the roster's states.
pub struct Books<'a> {
    /// The log's index.
    pub db: &'a Db,
    /// `assessments.db`.
    pub store: &'a Assessments,
    /// Patients' states of residence.
    pub states: &'a dyn PatientStates,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // SQLite rolls back an unfinished statement; poisoning leaves nothing half-done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Assessments {
    /// Opens (creating, mode 0600) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, AssessmentError> {
        let conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(source) => AssessmentError::Io {
                path: path.to_owned(),
                source,
            },
            OpenError::Sqlite(e) => AssessmentError::Sqlite(e),
        })?;
        Ok(Assessments {
            conn: Mutex::new(conn),
            changing: Mutex::new(()),
        })
    }

    fn version(&self, tenant: &str, id: &str) -> Result<Option<u32>, AssessmentError> {
        Ok(lock(&self.conn)
            .query_row(
                "SELECT version FROM assessments WHERE tenant = ?1 AND id = ?2",
                params![tenant, id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn count(&self, tenant: &str, id: &str, version: u32) -> Result<(), AssessmentError> {
        let now = Timestamp::now().to_string();
        lock(&self.conn).execute(
            "INSERT INTO assessments (tenant, id, version, opened, updated) \
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (tenant, id) \
             DO UPDATE SET version = excluded.version, updated = excluded.updated",
            params![tenant, id, version, now],
        )?;
        Ok(())
    }

    /// The tenant's assessment ids with their latest versions, oldest first.
    fn ids(&self, tenant: &str) -> Result<Vec<(String, u32)>, AssessmentError> {
        let conn = lock(&self.conn);
        let mut stmt = conn
            .prepare("SELECT id, version FROM assessments WHERE tenant = ?1 ORDER BY opened, id")?;
        let rows = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl From<AssessmentError> for GovernanceError {
    fn from(e: AssessmentError) -> Self {
        GovernanceError::Assessment(e)
    }
}

impl From<Invalid> for GovernanceError {
    fn from(e: Invalid) -> Self {
        GovernanceError::Assessment(AssessmentError::Invalid(e))
    }
}

/// Makes the index cover the whole log of `tenant` (so a change just recorded is found).
fn caught_up(db: &Db, tenant: &str) -> Result<u64, GovernanceError> {
    let size = match db.journal().store().size(tenant) {
        Ok(n) => n,
        Err(recall_store::StoreError::UnknownTenant(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    if size > 0 && db.indexed(tenant)? < size {
        db.get(tenant, size - 1)?;
    }
    Ok(size)
}

/// Records `a` as a change (`changed` names what changed), then counts it.
fn record(
    b: &Books<'_>,
    by: &Actor<'_>,
    tenant: &str,
    a: &Assessment,
    changed: &[&str],
) -> Result<(), GovernanceError> {
    if serde_json::to_vec(a).map_or(0, |v| v.len()) > MAX_STATE_BYTES {
        return Err(Invalid {
            field: "body",
            message: "the assessment's texts together are too long for one record".into(),
        }
        .into());
    }
    let event_id = event_id(b.db, tenant, &a.id, a.version)?;
    by.record(
        tenant,
        Act::AssessmentChanged {
            assessment: a,
            changed,
            event_id: &event_id,
        },
    )?;
    b.store.count(tenant, &a.id, a.version)?;
    caught_up(b.db, tenant)?;
    Ok(())
}

/// Opens an assessment: computes its figures from the log and records it.
pub fn open(
    b: &Books<'_>,
    by: &Actor<'_>,
    tenant: &str,
    req: &OpenRequest,
) -> Result<Assessment, GovernanceError> {
    let now = Timestamp::now();
    let (scope, discovered) = req.check(now)?;
    let horizon = caught_up(b.db, tenant)?;
    // Patients are gathered first and their states asked once: every ask opens and
    // parses the whole patient roster (2M rows take about a second), so asking per chunk
    // cost a roster parse per 1,024 patients. Memory: the distinct affected patients,
    // which the impact's own set holds anyway.
    let mut affected: Vec<String> = Vec::new();
    let impact = b.db.impact(tenant, &scope, horizon, &mut |p| {
        affected.push(p.to_string());
        Ok(())
    })?;
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for s in b.states.states(tenant, &affected)? {
        *by_state
            .entry(s.unwrap_or_else(|| UNKNOWN_STATE.into()))
            .or_default() += 1;
    }
    let figures = Figures {
        events: impact.events,
        patients: impact.patients,
        by_outcome: impact.by_outcome,
        by_action: impact.by_action,
        by_state,
        horizon,
    };
    let _changing = lock(&b.store.changing);
    let a = Assessment {
        id: hex::encode(recall_crypto::random_array::<8>()),
        version: 1,
        description: req.description.clone(),
        discovered: discovered.to_string(),
        scope: req.scope.clone(),
        deadlines: deadlines(discovered, figures.patients, &figures.by_state),
        figures,
        factors: Default::default(),
        decision: None,
        opened: now.to_string(),
        opened_by: by.who.id.clone(),
        updated: now.to_string(),
        updated_by: by.who.id.clone(),
    };
    record(b, by, tenant, &a, &["opened"])?;
    Ok(a)
}

/// Applies a change and records it; `None` when the tenant has no such assessment. A
/// change that changes nothing records nothing.
pub fn update(
    b: &Books<'_>,
    by: &Actor<'_>,
    tenant: &str,
    id: &str,
    req: &UpdateRequest,
) -> Result<Option<Assessment>, GovernanceError> {
    let now = Timestamp::now();
    req.check(now)?;
    let _changing = lock(&b.store.changing);
    let Some(latest) = latest(b, tenant, id)? else {
        return Ok(None);
    };
    let mut a = latest.state;
    let changed = req.apply(&mut a);
    if changed.is_empty() {
        return Ok(Some(a));
    }
    if changed.contains(&"discovered") {
        let date = crate::assessment::discovery_date(&a.discovered, now)?;
        a.deadlines = deadlines(date, a.figures.patients, &a.figures.by_state);
    }
    a.version += 1;
    a.updated = now.to_string();
    a.updated_by = by.who.id.clone();
    record(b, by, tenant, &a, &changed)?;
    Ok(Some(a))
}

/// The latest version; a version recorded but not counted (a failure between the two)
/// is found by its event id and counted now.
pub fn latest(b: &Books<'_>, tenant: &str, id: &str) -> Result<Option<Version>, GovernanceError> {
    let Some(mut v) = b.store.version(tenant, id)? else {
        return Ok(None);
    };
    caught_up(b.db, tenant)?;
    // A version recorded in the log but not yet counted (the count failed after the
    // record): counted now. Only recall's own record under the version's id counts.
    let mut last = load(b.db, tenant, id, v)?;
    while b
        .db
        .lookup_id(tenant, &event_id(b.db, tenant, id, v + 1)?)?
        .is_some()
    {
        match load(b.db, tenant, id, v + 1) {
            Ok(next) => last = next,
            Err(GovernanceError::Assessment(AssessmentError::Unreadable { .. })) => break,
            Err(e) => return Err(e),
        }
        v += 1;
        b.store.count(tenant, id, v)?;
    }
    Ok(Some(last))
}

/// Every version, oldest first; `None` when the tenant has no such assessment.
pub fn history(
    b: &Books<'_>,
    tenant: &str,
    id: &str,
) -> Result<Option<Vec<Version>>, GovernanceError> {
    let Some(last) = latest(b, tenant, id)? else {
        return Ok(None);
    };
    let mut out = (1..last.state.version)
        .map(|v| load(b.db, tenant, id, v))
        .collect::<Result<Vec<_>, _>>()?;
    out.push(last);
    Ok(Some(out))
}

/// The tenant's assessments at their latest versions, oldest first.
pub fn list(b: &Books<'_>, tenant: &str) -> Result<Vec<Assessment>, GovernanceError> {
    caught_up(b.db, tenant)?;
    let mut out = Vec::new();
    for (id, _) in b.store.ids(tenant)? {
        if let Some(v) = latest(b, tenant, &id)? {
            out.push(v.state);
        }
    }
    Ok(out)
}

/// The affected patients of an assessment (at its figures' horizon), with their states.
pub fn patients(
    b: &Books<'_>,
    tenant: &str,
    id: &str,
) -> Result<Option<Vec<Resident>>, GovernanceError> {
    let Some(v) = latest(b, tenant, id)? else {
        return Ok(None);
    };
    let scope = v.state.scope.compile()?;
    let list =
        b.db.affected_patients(tenant, &scope, v.state.figures.horizon)?;
    // One ask for all: each ask parses the whole patient roster.
    let ids: Vec<String> = list.iter().map(|a| a.patient.clone()).collect();
    let states = b.states.states(tenant, &ids)?;
    Ok(Some(list.into_iter().zip(states).collect()))
}

/// An affected patient and their state of residence, if the roster knows it.
pub type Resident = (Affected, Option<String>);

/// Reads version `v` back from the log.
fn load(db: &Db, tenant: &str, id: &str, v: u32) -> Result<Version, GovernanceError> {
    let bad = |why| AssessmentError::Unreadable {
        id: id.to_string(),
        version: v,
        why,
    };
    let seq = db
        .lookup_id(tenant, &event_id(db, tenant, id, v)?)?
        .ok_or_else(|| bad("its event is not in the log"))?;
    let found = match db.get(tenant, seq)? {
        Lookup::Found(f) => f,
        Lookup::Unreadable { .. } => return Err(bad("its month's keys were destroyed").into()),
        Lookup::NotFound => return Err(bad("its event is not in the log").into()),
    };
    // Only events recall appended itself (`appended_by` `recall:…`, set by recall inside
    // the committed bytes, never by a client) are versions.
    let canonical: Value = serde_json::from_slice(&found.canonical).unwrap_or_default();
    let by = canonical.get("appended_by").and_then(Value::as_str);
    if !recall_model::appended_by_recall(by) {
        return Err(bad("its event is not one of recall's own").into());
    }
    let detail = found.event.detail.unwrap_or_default();
    let state =
        serde_json::from_value::<Assessment>(detail.get("assessment").cloned().unwrap_or_default())
            .map_err(|_| bad("its record is malformed"))?;
    if state.id != id || state.version != v {
        return Err(bad("its record names another version").into());
    }
    let changed = match detail.get("changed") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Version {
        state,
        seq,
        changed,
    })
}

/// A version as JSON for the history.
pub fn version_json(v: &Version, state: Value) -> Value {
    json!({
        "version": v.state.version,
        "seq": v.seq,
        "at": v.state.updated,
        "by": v.state.updated_by,
        "changed": v.changed,
        "state": state,
    })
}
