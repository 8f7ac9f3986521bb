//! The access review as JSON or CSV, through the caller's lens. Both forms are built in
//! memory (their size follows the actors and the roster, never the events) so that the
//! server can give the JSON form's SHA-256 before the body: the digest a sign-off names.
//!
//! # JSON
//! `report`, `tenant`, `from`, `to`, `roster` (`null`, or `{"members": n}`), `totals`,
//! `groups` (per role and department: `actors`), and, with a roster, `not_in_roster`,
//! `after_status` and `dormant` (`null` without one), then `credentials`. Object keys are
//! sorted and every list is in a fixed order, so the same review gives the same bytes.
//!
//! # CSV columns
//! One table; `section` is `actor`, `not_in_roster`, `after_status`, `dormant` or
//! `credential` (see [`CSV_COLUMNS`]); a credential row puts the credential in
//! `actor_id`, its uses in `events` and its last use in `last`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use recall_query::{Field, Lens};
use serde_json::{Value, json};

use super::{ActorRow, GRACE_HOURS, Review};
use crate::roster::{Member, Status};

/// Columns of the CSV form, in order.
pub const CSV_COLUMNS: [&str; COLUMNS] = [
    "section",
    "role",
    "department",
    "actor_id",
    "actor_name",
    "status",
    "status_date",
    "events",
    "patients",
    "break_glass",
    "denied",
    "failed",
    "first",
    "last",
    "events_after_status",
    "hours_to_last_access",
    "over_24h",
    "credential_kind",
    "revoked",
];

const COLUMNS: usize = 19;
pub(super) type Row = [String; COLUMNS];

fn ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_string()))
}

fn show(lens: &Lens, field: Field, v: Option<&str>) -> Value {
    v.and_then(|v| lens.disclose(field, v))
        .map_or(Value::Null, |v| json!(v))
}

/// A JSON value as a CSV cell.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn member<'a>(r: &'a Review, actor: &str) -> Option<&'a Member> {
    r.roster.as_ref()?.members.get(actor)
}

/// Hours from a member's status date to their last access, and whether over the grace.
fn lateness(m: &Member, row: &ActorRow) -> Option<(f64, bool)> {
    let (since, last) = (m.status_date?, row.last?);
    let secs = last.duration_since(since).as_secs();
    Some((secs as f64 / 3600.0, secs > GRACE_HOURS * 3600))
}

fn actor_json(r: &Review, lens: &Lens, id: &str, row: &ActorRow) -> Value {
    let m = member(r, id);
    let name = m.and_then(|m| m.name.as_deref()).or(row.name.as_deref());
    json!({
        "actor_id": show(lens, Field::ActorId, Some(id)),
        "actor_name": show(lens, Field::ActorName, name),
        "status": m.map(|m| m.status.as_str()),
        "status_date": ts(m.and_then(|m| m.status_date)),
        "events": row.events,
        "patients": row.patients,
        "break_glass": row.break_glass,
        "denied": row.denied,
        "failed": row.failed,
        "first": ts(row.first),
        "last": ts(row.last),
    })
}

type Groups<'a> = BTreeMap<(Option<&'a str>, Option<&'a str>), Vec<(&'a String, &'a ActorRow)>>;

/// Actors per (role, department): the roster's when it knows the actor, else the role
/// last seen on their events.
fn groups(r: &Review) -> Groups<'_> {
    let mut g: Groups<'_> = BTreeMap::new();
    for (id, row) in &r.actors {
        let m = member(r, id);
        let role = m.and_then(|m| m.role.as_deref()).or(row.role.as_deref());
        let dept = m.and_then(|m| m.department.as_deref());
        g.entry((role, dept)).or_default().push((id, row));
    }
    g
}

fn not_in_roster(r: &Review) -> Vec<&String> {
    match &r.roster {
        Some(w) => r
            .actors
            .keys()
            .filter(|id| !w.members.contains_key(*id))
            .collect(),
        None => Vec::new(),
    }
}

/// Members whose status ended their access, with accesses at or after its date.
fn after_status(r: &Review) -> Vec<(&Member, &ActorRow)> {
    r.actors
        .iter()
        .filter(|(_, row)| row.after_status > 0)
        .filter_map(|(id, row)| Some((member(r, id)?, row)))
        .filter(|(m, _)| m.status != Status::Active)
        .collect()
}

fn dormant(r: &Review) -> Vec<&Member> {
    r.roster.as_ref().map_or_else(Vec::new, |w| {
        w.members
            .values()
            .filter(|m| m.status == Status::Active && !r.actors.contains_key(&m.user_id))
            .collect()
    })
}

fn member_json(lens: &Lens, m: &Member) -> Value {
    json!({
        "user_id": show(lens, Field::ActorId, Some(&m.user_id)),
        "actor_name": show(lens, Field::ActorName, m.name.as_deref()),
        "role": show(lens, Field::ActorRole, m.role.as_deref()),
        "department": show(lens, Field::ActorRole, m.department.as_deref()),
    })
}

fn after_json(lens: &Lens, m: &Member, row: &ActorRow) -> Value {
    let late = lateness(m, row);
    json!({
        "user_id": show(lens, Field::ActorId, Some(&m.user_id)),
        "status": m.status.as_str(),
        "status_date": ts(m.status_date),
        "events_after_status": row.after_status,
        "last_access": ts(row.last),
        "hours_to_last_access": late.map(|l| (l.0 * 100.0).round() / 100.0),
        "over_24h": late.map(|l| l.1),
    })
}

fn credential_kind(id: &str) -> &'static str {
    if id.starts_with("jwt:") {
        "jwt"
    } else {
        "api_key"
    }
}

fn credentials_json(r: &Review, lens: &Lens) -> Vec<Value> {
    r.credentials
        .iter()
        .map(|(id, c)| {
            json!({
                "credential": show(lens, Field::ActorId, Some(id)),
                "kind": credential_kind(id),
                "role": c.role,
                "uses": c.uses,
                "last_use": ts(c.last_use),
                "revoked": ts(c.revoked),
            })
        })
        .collect()
}

/// The JSON form (compact, deterministic).
pub fn json(r: &Review, lens: &Lens) -> Vec<u8> {
    let total = |f: fn(&ActorRow) -> u64| r.actors.values().map(f).sum::<u64>();
    let groups: Vec<Value> = groups(r)
        .into_iter()
        .map(|((role, dept), rows)| {
            let actors: Vec<Value> = rows
                .into_iter()
                .map(|(id, row)| actor_json(r, lens, id, row))
                .collect();
            json!({
                "role": show(lens, Field::ActorRole, role),
                "department": show(lens, Field::ActorRole, dept),
                "actors": actors,
            })
        })
        .collect();
    let with_roster = |v: Vec<Value>| r.roster.as_ref().map(|_| v);
    let not_in = not_in_roster(r)
        .into_iter()
        .map(|id| show(lens, Field::ActorId, Some(id)))
        .collect();
    let after = after_status(r)
        .into_iter()
        .map(|(m, row)| after_json(lens, m, row))
        .collect();
    let dormant = dormant(r)
        .into_iter()
        .map(|m| member_json(lens, m))
        .collect();
    // serde_json's map keeps keys sorted: the bytes are fixed by the contents.
    let v = json!({
        "report": "access-review",
        "tenant": r.tenant,
        "from": r.from.to_string(),
        "to": r.to.to_string(),
        "roster": r.roster.as_ref().map(|w| json!({"members": w.members.len()})),
        "totals": {
            "actors": r.actors.len(),
            "events": total(|a| a.events),
            "break_glass": total(|a| a.break_glass),
            "denied": total(|a| a.denied),
            "failed": total(|a| a.failed),
        },
        "groups": groups,
        "not_in_roster": with_roster(not_in),
        "after_status": with_roster(after),
        "dormant": with_roster(dormant),
        "credentials": credentials_json(r, lens),
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A CSV row of `section` with the cells of `v` named in `cols` (column name = key).
fn row_of(section: &str, v: &Value, cols: &[(usize, &str)]) -> Row {
    let mut row: Row = Default::default();
    row[0] = section.to_owned();
    for (i, key) in cols {
        row[*i] = cell(&v[*key]);
    }
    row
}

/// The CSV form: the JSON form's rows, one section after another.
pub fn csv(r: &Review, lens: &Lens) -> Vec<u8> {
    let rows = rows(r, lens);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        w.write_record(CSV_COLUMNS)?;
        for row in &rows {
            w.write_record(row)?;
        }
        w.flush()?;
        Ok(w.get_ref().clone())
    };
    write().unwrap_or_default()
}

/// The rows of the CSV form (and of the PDF's tables), through the lens.
pub(super) fn rows(r: &Review, lens: &Lens) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let actor_cols: Vec<(usize, &str)> = (3..14).map(|i| (i, CSV_COLUMNS[i])).collect();
    for ((role, dept), actors) in groups(r) {
        for (id, a) in actors {
            let mut row = row_of("actor", &actor_json(r, lens, id, a), &actor_cols);
            row[1] = cell(&show(lens, Field::ActorRole, role));
            row[2] = cell(&show(lens, Field::ActorRole, dept));
            rows.push(row);
        }
    }
    for id in not_in_roster(r) {
        let v = json!({"actor_id": show(lens, Field::ActorId, Some(id))});
        rows.push(row_of("not_in_roster", &v, &[(3, "actor_id")]));
    }
    for (m, a) in after_status(r) {
        let cols = [
            (3, "user_id"),
            (5, "status"),
            (6, "status_date"),
            (13, "last_access"),
            (14, "events_after_status"),
            (15, "hours_to_last_access"),
            (16, "over_24h"),
        ];
        rows.push(row_of("after_status", &after_json(lens, m, a), &cols));
    }
    for m in dormant(r) {
        let cols = [
            (1, "role"),
            (2, "department"),
            (3, "user_id"),
            (4, "actor_name"),
        ];
        let mut row = row_of("dormant", &member_json(lens, m), &cols);
        row[5] = "active".into();
        rows.push(row);
    }
    for v in credentials_json(r, lens) {
        let cols = [
            (1, "role"),
            (3, "credential"),
            (7, "uses"),
            (13, "last_use"),
            (17, "kind"),
            (18, "revoked"),
        ];
        rows.push(row_of("credential", &v, &cols));
    }
    rows
}
