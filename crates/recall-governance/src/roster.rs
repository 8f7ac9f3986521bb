//! Rosters: the workforce roster (who may touch PHI, and whether they still may) and the
//! patient roster (a patient's state of residence, for the breach path), parsed strictly
//! from CSV with a header or NDJSON, and kept sealed ([`crate::sealed`]).
//!
//! Invariants:
//! - An import is all or nothing: one bad row refuses the whole file, naming the row and
//!   the field, never the value (it can be a name).
//! - Patient ids are never stored: the patient roster keeps each id's index token (the
//!   keyed hash the index already holds, as legal holds do) and its state.
//! - Every import replaces the roster and is recorded in the tenant's log with counts
//!   only ([`import`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use recall_query::{Db, Subject};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::GovernanceError;
use crate::record::Act;
use crate::sealed::{Sealed, SealedError};
use crate::workflows::Actor;

/// Longest id, in characters (the event format's identifier limit).
const MAX_ID: usize = 128;
/// Longest name, role or department, in characters.
const MAX_TEXT: usize = 200;

/// Which roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The workforce: user id, name, role, department, status and dates.
    Workforce,
    /// Patients: patient id → state of residence.
    Patients,
}

impl Kind {
    /// `workforce` or `patients` (the sealed document's kind, and the CLI's `--kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Workforce => "workforce",
            Kind::Patients => "patients",
        }
    }

    /// Parses `workforce` or `patients`.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Workforce, Kind::Patients]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Workforce => &WORKFORCE_COLUMNS,
            Kind::Patients => &PATIENT_COLUMNS,
        }
    }
}

/// Workforce roster columns (CSV header names, NDJSON keys). `status_date` is the date a
/// `terminated` user was terminated or a `leave` user's leave began.
pub const WORKFORCE_COLUMNS: [&str; 7] = [
    "user_id",
    "name",
    "role",
    "department",
    "status",
    "hire_date",
    "status_date",
];
/// Patient roster columns.
pub const PATIENT_COLUMNS: [&str; 2] = ["patient_id", "state"];

/// US state, district and territory codes a patient may reside in.
const STATES: &str = "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS \
    MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI \
    AS MP";

/// A workforce member's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// May access PHI.
    Active,
    /// Terminated on `status_date`: no access from then on.
    Terminated,
    /// On leave since `status_date`.
    Leave,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Terminated => "terminated",
            Status::Leave => "leave",
        }
    }
}

/// One workforce member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The id events carry as `actor.id`.
    pub user_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Workforce role (e.g. `nurse`).
    pub role: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Status.
    pub status: Status,
    /// Hired (start of that day, UTC).
    pub hire_date: Option<Timestamp>,
    /// Terminated or on leave since (required for those statuses, absent when active).
    pub status_date: Option<Timestamp>,
}

/// The workforce roster, by user id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workforce {
    /// Members by user id.
    pub members: BTreeMap<String, Member>,
}

/// The patient roster as it was kept before keyed rows, one sealed document: hex index
/// token of each patient id → state code. Read only to move it to rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patients {
    /// State of residence by patient index token (hex).
    pub states: BTreeMap<String, String>,
}

/// A row the roster refuses: 1-based data row (the header is not counted) and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}, {field}: {message}")]
pub struct RowError {
    /// 1-based data row; 0 for the file as a whole.
    pub row: usize,
    /// The column at fault.
    pub field: String,
    /// Why (never the value).
    pub message: String,
}

fn bad(row: usize, field: &str, message: impl Into<String>) -> RowError {
    RowError {
        row,
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The rows of a roster file as column → value, after checking its shape. NDJSON when
/// the first non-blank character is `{`, CSV with a header otherwise.
fn rows(kind: Kind, input: &[u8]) -> Result<Vec<BTreeMap<String, String>>, RowError> {
    let text = std::str::from_utf8(input).map_err(|_| bad(0, "file", "is not UTF-8"))?;
    let known = kind.columns();
    let out = if text.trim_start().starts_with('{') {
        ndjson_rows(text, known)?
    } else {
        csv_rows(text, known)?
    };
    if out.is_empty() {
        return Err(bad(0, "file", "holds no rows"));
    }
    Ok(out)
}

fn ndjson_rows(text: &str, known: &[&str]) -> Result<Vec<BTreeMap<String, String>>, RowError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row = out.len() + 1;
        let obj: serde_json::Map<String, Value> =
            serde_json::from_str(line).map_err(|_| bad(row, "row", "is not a JSON object"))?;
        let mut m = BTreeMap::new();
        for (k, v) in obj {
            if !known.contains(&k.as_str()) {
                return Err(bad(row, &k, "is not a roster field"));
            }
            match v {
                Value::String(s) => {
                    m.insert(k, s);
                }
                Value::Null => {}
                _ => return Err(bad(row, &k, "must be a string")),
            }
        }
        out.push(m);
    }
    Ok(out)
}

fn csv_rows(text: &str, known: &[&str]) -> Result<Vec<BTreeMap<String, String>>, RowError> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|_| bad(0, "header", "is not a CSV header"))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    for (i, h) in header.iter().enumerate() {
        if !known.contains(&h.as_str()) {
            return Err(bad(
                0,
                "header",
                format!("column {} is not a roster field", i + 1),
            ));
        }
        if header[..i].contains(h) {
            return Err(bad(0, h, "appears twice in the header"));
        }
    }
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let row = i + 1;
        let rec = rec.map_err(|_| bad(row, "row", "does not have the header's columns"))?;
        let m = header
            .iter()
            .zip(rec.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(h, v)| (h.clone(), v.to_owned()))
            .collect();
        out.push(m);
    }
    Ok(out)
}

/// A text field: `max` characters, no control characters; `None` when absent or empty.
fn text(
    m: &BTreeMap<String, String>,
    row: usize,
    field: &str,
    max: usize,
) -> Result<Option<String>, RowError> {
    let Some(v) = m.get(field).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(bad(
            row,
            field,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(Some(v.clone()))
}

fn required(
    m: &BTreeMap<String, String>,
    row: usize,
    field: &str,
    max: usize,
) -> Result<String, RowError> {
    text(m, row, field, max)?.ok_or_else(|| bad(row, field, "is required"))
}

/// `YYYY-MM-DD` (the start of that day, UTC) or an RFC 3339 time.
fn date(
    m: &BTreeMap<String, String>,
    row: usize,
    field: &str,
) -> Result<Option<Timestamp>, RowError> {
    let Some(v) = m.get(field).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(d) = v.parse::<Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| Some(z.timestamp()))
            .map_err(|_| bad(row, field, "is out of range"));
    }
    v.parse::<Timestamp>().map(Some).map_err(|_| {
        bad(
            row,
            field,
            "must be a date (YYYY-MM-DD) or an RFC 3339 time",
        )
    })
}

fn member(m: &BTreeMap<String, String>, row: usize) -> Result<Member, RowError> {
    let status = match m.get("status").map(String::as_str) {
        Some("active") => Status::Active,
        Some("terminated") => Status::Terminated,
        Some("leave") => Status::Leave,
        None => return Err(bad(row, "status", "is required")),
        Some(_) => return Err(bad(row, "status", "must be active, terminated or leave")),
    };
    let status_date = date(m, row, "status_date")?;
    match (status, status_date) {
        (Status::Active, Some(_)) => {
            return Err(bad(row, "status_date", "must be empty for an active user"));
        }
        (Status::Terminated | Status::Leave, None) => {
            return Err(bad(
                row,
                "status_date",
                "is required for terminated or leave",
            ));
        }
        _ => {}
    }
    let hire_date = date(m, row, "hire_date")?;
    if let (Some(h), Some(s)) = (hire_date, status_date)
        && s < h
    {
        return Err(bad(row, "status_date", "is before hire_date"));
    }
    Ok(Member {
        user_id: required(m, row, "user_id", MAX_ID)?,
        name: text(m, row, "name", MAX_TEXT)?,
        role: text(m, row, "role", MAX_TEXT)?,
        department: text(m, row, "department", MAX_TEXT)?,
        status,
        hire_date,
        status_date,
    })
}

/// Parses a workforce roster; refuses duplicate user ids.
pub fn parse_workforce(input: &[u8]) -> Result<Workforce, RowError> {
    let mut w = Workforce::default();
    for (i, m) in rows(Kind::Workforce, input)?.iter().enumerate() {
        let member = member(m, i + 1)?;
        if w.members.contains_key(&member.user_id) {
            return Err(bad(i + 1, "user_id", "appears in an earlier row"));
        }
        w.members.insert(member.user_id.clone(), member);
    }
    Ok(w)
}

/// Parses a patient roster into (patient id, state) pairs; refuses duplicate ids.
pub fn parse_patients(input: &[u8]) -> Result<Vec<(String, String)>, RowError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, m) in rows(Kind::Patients, input)?.iter().enumerate() {
        let row = i + 1;
        let id = required(m, row, "patient_id", MAX_ID)?;
        let state = required(m, row, "state", 2)?;
        if state.len() != 2 || !STATES.split_whitespace().any(|s| s == state) {
            return Err(bad(
                row,
                "state",
                "must be a two-letter US state code (e.g. CA)",
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(bad(row, "patient_id", "appears in an earlier row"));
        }
        out.push((id, state));
    }
    Ok(out)
}

/// What an import held: rows, and per status (workforce) or per state (patients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// `workforce` or `patients`.
    pub kind: &'static str,
    /// Rows imported.
    pub rows: usize,
    /// Rows per status (workforce) or per state (patients).
    pub by: BTreeMap<String, usize>,
}

/// Imports a roster of `kind` for `tenant` from `input`: parses it all, replaces the
/// sealed roster, and records the import (counts only) in the tenant's log. A refused
/// file changes nothing; a failed record puts the previous roster back.
pub fn import(
    db: &Db,
    sealed: &Sealed,
    by: &Actor<'_>,
    tenant: &str,
    kind: Kind,
    input: &[u8],
) -> Result<Counts, GovernanceError> {
    let mut counts = Counts {
        kind: kind.as_str(),
        rows: 0,
        by: BTreeMap::new(),
    };
    let keystore = db.journal().keystore();
    match kind {
        Kind::Workforce => {
            let w = parse_workforce(input)?;
            for m in w.members.values() {
                *counts.by.entry(m.status.as_str().into()).or_default() += 1;
            }
            counts.rows = w.members.len();
            let plain = serde_json::to_vec(&w).unwrap_or_default();
            let previous = sealed.get(keystore, tenant, kind.as_str())?;
            sealed.put(keystore, tenant, kind.as_str(), &plain)?;
            if let Err(e) = by.record(tenant, Act::RosterImported(&counts)) {
                // A roster whose import is not on record must not stay in force.
                match previous {
                    Some(p) => sealed.put(keystore, tenant, kind.as_str(), &p)?,
                    None => sealed.delete(tenant, kind.as_str())?,
                }
                return Err(e);
            }
        }
        Kind::Patients => {
            let pairs = parse_patients(input)?;
            let indexer = recall_crypto::BlindIndexer::new(&keystore.index_key(tenant)?);
            let mut rows = Vec::with_capacity(pairs.len());
            for (id, state) in pairs {
                *counts.by.entry(state.clone()).or_default() += 1;
                let token = indexer.token(Subject::Patient.field(), &id);
                rows.push((token.to_vec(), state.into_bytes()));
            }
            counts.rows = rows.len();
            // Committed only once the import is on record.
            sealed.replace_rows(keystore, tenant, kind.as_str(), &rows, || {
                by.record(tenant, Act::RosterImported(&counts))
            })?;
        }
    }
    Ok(counts)
}

/// The tenant's workforce roster, if one was imported.
pub fn workforce(db: &Db, sealed: &Sealed, tenant: &str) -> Result<Option<Workforce>, SealedError> {
    let Some(plain) = sealed.get(db.journal().keystore(), tenant, Kind::Workforce.as_str())? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&plain).ok())
}

/// The state of residence of each of `patients` (same order), from the tenant's patient
/// roster: `None` where the roster does not know the patient, or there is none. Opens only
/// the rows asked for (a roster kept whole, as before, is first moved to rows, once).
pub fn patient_states(
    db: &Db,
    sealed: &Sealed,
    tenant: &str,
    patients: &[&str],
) -> Result<Vec<Option<String>>, GovernanceError> {
    let keystore = db.journal().keystore();
    let kind = Kind::Patients.as_str();
    move_document_to_rows(keystore, sealed, tenant)?;
    if !sealed.has_rows(tenant, kind)? {
        return Ok(vec![None; patients.len()]);
    }
    let indexer = recall_crypto::BlindIndexer::new(&keystore.index_key(tenant)?);
    let keys: Vec<Vec<u8>> = patients
        .iter()
        .map(|p| indexer.token(Subject::Patient.field(), p).to_vec())
        .collect();
    let found = sealed.get_rows(keystore, tenant, kind, &keys)?;
    Ok(found
        .into_iter()
        .map(|v| v.and_then(|b| String::from_utf8(b).ok()))
        .collect())
}

/// Moves a patient roster kept as one document (the layout before keyed rows) to rows.
/// Not an import: the same roster, stored differently, so nothing is recorded.
fn move_document_to_rows(
    keystore: &recall_crypto::Keystore,
    sealed: &Sealed,
    tenant: &str,
) -> Result<(), SealedError> {
    let kind = Kind::Patients.as_str();
    let Some(plain) = sealed.get(keystore, tenant, kind)? else {
        return Ok(());
    };
    // An unreadable roster knows no one, as before.
    let whole: Patients = serde_json::from_slice(&plain).unwrap_or_default();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = whole
        .states
        .into_iter()
        .filter_map(|(token, state)| Some((hex::decode(token).ok()?, state.into_bytes())))
        .collect();
    sealed.replace_rows(keystore, tenant, kind, &rows, || Ok::<_, SealedError>(()))
}

/// The states of residence a breach assessment counts (its `PatientStates`), read from
/// the tenant's patient roster in `sealed.db` at the time of asking.
pub struct RosterStates {
    db: std::sync::Arc<Db>,
    path: std::path::PathBuf,
}

impl RosterStates {
    /// The patient roster in the sealed documents at `path` (`sealed::SEALED_FILE`).
    pub fn new(db: std::sync::Arc<Db>, path: std::path::PathBuf) -> Self {
        Self { db, path }
    }
}

impl crate::assessment::PatientStates for RosterStates {
    fn states(
        &self,
        tenant: &str,
        patients: &[String],
    ) -> Result<Vec<Option<String>>, GovernanceError> {
        let sealed = Sealed::open(&self.path)?;
        let ids: Vec<&str> = patients.iter().map(String::as_str).collect();
        patient_states(&self.db, &sealed, tenant, &ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(input: &str) -> (usize, String) {
        let e = parse_workforce(input.as_bytes()).unwrap_err();
        (e.row, e.field)
    }

    const HEAD: &str = "user_id,name,role,department,status,hire_date,status_date\n";

    #[test]
    fn csv_and_ndjson_give_the_same_roster() {
        let csv = format!("{HEAD}u1,A B,nurse,ICU,active,2020-01-01,\nu2,,,,leave,,2024-02-01\n");
        let nd = "{\"user_id\":\"u1\",\"name\":\"A B\",\"role\":\"nurse\",\"department\":\"ICU\",\"status\":\"active\",\"hire_date\":\"2020-01-01\"}\n\n{\"user_id\":\"u2\",\"status\":\"leave\",\"status_date\":\"2024-02-01T00:00:00Z\",\"name\":null}\n";
        let a = parse_workforce(csv.as_bytes()).unwrap();
        assert_eq!(a, parse_workforce(nd.as_bytes()).unwrap());
        assert_eq!(a.members["u2"].status, Status::Leave);
        assert_eq!(
            a.members["u2"].status_date,
            Some("2024-02-01T00:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn bad_rows_are_named_by_row_and_field() {
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,gone,,\n")),
            (1, "status".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,active,,\n,,,,active,,\n")),
            (2, "user_id".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,active,,\nu1,,,,active,,\n")),
            (2, "user_id".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,terminated,,\n")),
            (1, "status_date".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,active,,2024-01-01\n")),
            (1, "status_date".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,leave,2024-02-01,2024-01-01\n")),
            (1, "status_date".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,active,2024-02-30,\n")),
            (1, "hire_date".into())
        );
        assert_eq!(
            refused(&format!("{HEAD}u1,,,,active,,,extra\n")),
            (1, "row".into())
        );
        assert_eq!(refused("user_id,salary\nu1,3\n"), (0, "header".into()));
        assert_eq!(refused(HEAD), (0, "file".into()));
        assert_eq!(
            refused("{\"user_id\":\"u1\",\"status\":\"active\",\"ssn\":\"x\"}\n"),
            (1, "ssn".into())
        );
        assert_eq!(
            refused("{\"user_id\":1,\"status\":\"active\"}\n"),
            (1, "user_id".into())
        );
        let e =
            parse_workforce(format!("{HEAD}u1,Secret Name,,,bogus,,\n").as_bytes()).unwrap_err();
        assert!(!e.to_string().contains("Secret") && !e.to_string().contains("bogus"));
    }

    #[test]
    fn patient_rows_need_a_known_state_and_unique_ids() {
        let ok = parse_patients(b"patient_id,state\np1,CA\np2,PR\n").unwrap();
        assert_eq!(ok, [("p1".into(), "CA".into()), ("p2".into(), "PR".into())]);
        for (input, row, field) in [
            ("patient_id,state\np1,ZZ\n", 1, "state"),
            ("patient_id,state\np1,ca\n", 1, "state"),
            ("patient_id,state\np1,CA\np1,NY\n", 2, "patient_id"),
            ("patient_id,state\np1,\n", 1, "state"),
        ] {
            let e = parse_patients(input.as_bytes()).unwrap_err();
            assert_eq!((e.row, e.field.as_str()), (row, field), "{input}");
        }
    }
}
