//! Reports, streamed in bounded memory: pass 1 over the index hits builds the summary
//! (one row per actor, or per patient), pass 2 streams the events themselves.
//!
//! Both passes see the same events: only seqs below the tenant's watermark at the start
//! count, and entries below a watermark never change.
//!
//! # CSV columns
//!
//! One table; the first column, `record`, is `summary` or `event`:
//!
//! | column | summary rows | event rows |
//! |---|---|---|
//! | `record` | `summary` | `event` |
//! | `actor_id` | the actor (patient-access) | the event's actor |
//! | `actor_role` | the actor's role (last seen) | the event's actor role |
//! | `actor_name` | the actor's name (last seen) | the event's actor name |
//! | `patient_id` | the patient (actor-activity) | the event's patient |
//! | `actions` | distinct actions, sorted, `;`-joined | |
//! | `purposes` | distinct purposes, sorted, `;`-joined | |
//! | `count` | events in the row | |
//! | `first`, `last` | earliest and latest event time | |
//! | `seq`, `time`, `action`, `resource_type`, `resource_id`, `outcome`, `purpose`, `reason`, `source_system`, `source_ip`, `received` | | the event's fields |
//! | `appended_by` | | the credential that appended the event (empty for format v1) |
//!
//! Times are RFC 3339 UTC; absent values are empty. Everything passes through the
//! caller's [`Lens`]: a withheld field is empty, a pseudonymised one holds its pseudonym.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use jiff::Timestamp;
use recall_model::Event;
use serde_json::{Map, Value, json};

use crate::db::{Db, Tenant};
use crate::disclose::{Field, Lens, Rule};
use crate::error::QueryError;
use crate::read::Hit;
use crate::search::{Compiled, Filter, Order, Walk};

/// Columns of a CSV report, in order (see the module documentation).
pub const CSV_COLUMNS: [&str; COLUMNS] = [
    "record",
    "actor_id",
    "actor_role",
    "actor_name",
    "patient_id",
    "actions",
    "purposes",
    "count",
    "first",
    "last",
    "seq",
    "time",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "purpose",
    "reason",
    "source_system",
    "source_ip",
    "received",
    "appended_by",
];

const COLUMNS: usize = 22;

/// Event-time range of a report: `from` inclusive, `to` exclusive, open when `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest event time included.
    pub from: Option<Timestamp>,
    /// First event time excluded.
    pub to: Option<Timestamp>,
}

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// One JSON object: report, tenant, subject, range, summary, events, count.
    Json,
    /// One CSV table of summary and event rows (columns above).
    Csv,
}

/// What a report held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportStats {
    /// Events written.
    pub events: u64,
    /// Summary rows: distinct actors (patient access) or patients (actor activity).
    pub actors: u64,
}

/// Which report, and whom it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// Every access to this patient's data.
    PatientAccess(&'a str),
    /// Everything this actor did.
    ActorActivity(&'a str),
}

impl Kind<'_> {
    /// `patient-access` or `actor-activity`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::PatientAccess(_) => "patient-access",
            Kind::ActorActivity(_) => "actor-activity",
        }
    }
}

/// One summary row.
#[derive(Default)]
pub(crate) struct Agg {
    pub(crate) role: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) actions: BTreeSet<String>,
    pub(crate) purposes: BTreeSet<String>,
    pub(crate) count: u64,
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
}

impl Agg {
    fn add(&mut self, e: &Event) {
        if e.actor.role.is_some() {
            self.role.clone_from(&e.actor.role);
        }
        if e.actor.name.is_some() {
            self.name.clone_from(&e.actor.name);
        }
        self.actions.insert(e.action.clone());
        if let Some(p) = &e.purpose {
            self.purposes.insert(p.clone());
        }
        self.count += 1;
        self.first = Some(self.first.map_or(e.time, |f| f.min(e.time)));
        self.last = Some(self.last.map_or(e.time, |l| l.max(e.time)));
    }
}

/// Summary rows keyed by actor id (patient access) or patient id (actor activity;
/// `None` for events without a patient, such as logins).
pub(crate) type Summary = BTreeMap<Option<String>, Agg>;

impl Db {
    /// Patient access report: who touched the patient's data in `range`.
    pub fn patient_access(
        &self,
        tenant: &str,
        patient: &str,
        range: TimeRange,
        format: ReportFormat,
        lens: &Lens,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        let kind = Kind::PatientAccess(patient);
        self.report_at(tenant, kind, range, format, lens, None, out)
    }

    /// Actor activity report: whose data the actor touched in `range`.
    pub fn actor_activity(
        &self,
        tenant: &str,
        actor: &str,
        range: TimeRange,
        format: ReportFormat,
        lens: &Lens,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        let kind = Kind::ActorActivity(actor);
        self.report_at(tenant, kind, range, format, lens, None, out)
    }

    /// A report read at tree size `at` (only events with seq below it), or at everything
    /// indexed when `None`. The same parameters, lens and `at` give the same bytes: this is
    /// what a PDF report's digest covers (`crate::report_pdf`).
    #[allow(clippy::too_many_arguments)]
    pub fn report_at(
        &self,
        tenant: &str,
        kind: Kind<'_>,
        range: TimeRange,
        format: ReportFormat,
        lens: &Lens,
        at: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        let hits = self.hits(tenant, kind, range, lens)?;
        let horizon = self.horizon(tenant, at)?;
        let summary = hits.summary(kind, horizon, &mut |_| {})?;
        let mut out = std::io::BufWriter::new(out);
        let events = match format {
            ReportFormat::Json => {
                let head = Head {
                    kind,
                    tenant,
                    range,
                };
                write_json(&mut out, &hits, horizon, head, &summary, lens)?
            }
            ReportFormat::Csv => write_csv(&mut out, &hits, horizon, kind, &summary, lens)?,
        };
        out.flush()?;
        Ok(ReportStats {
            events,
            actors: summary.len() as u64,
        })
    }

    /// The seq horizon of a report read at `at`: refused beyond what is indexed.
    pub(crate) fn horizon(&self, tenant: &str, at: Option<u64>) -> Result<u64, QueryError> {
        let indexed = self.indexed(tenant)?;
        match at {
            None => Ok(indexed),
            Some(n) if n <= indexed => Ok(n),
            Some(_) => Err(QueryError::BadFilter {
                field: "tree_size",
                message: "tree_size is beyond the log's indexed size".into(),
            }),
        }
    }

    /// The hits of a report on `kind` in `range`, as `lens` may filter them.
    pub(crate) fn hits<'a>(
        &'a self,
        tenant: &'a str,
        kind: Kind<'_>,
        range: TimeRange,
        lens: &Lens,
    ) -> Result<Hits<'a>, QueryError> {
        let mut filter = Filter {
            from: range.from,
            to: range.to,
            lens: Some(lens.clone()),
            ..Filter::default()
        };
        match kind {
            Kind::PatientAccess(p) => filter.patient = Some(p.to_string()),
            Kind::ActorActivity(a) => filter.actor = Some(a.to_string()),
        }
        Ok(Hits {
            db: self,
            tenant,
            t: self.tenant(tenant)?,
            filter: Compiled::new(&filter)?,
        })
    }
}

/// Refuses a report about `subject` (a patient for `Field::PatientId`, an actor for
/// `Field::ActorId`) exactly as a search filter on it is refused under `lens` — to be
/// called before the report is recorded or read. `Ok(true)`: the subject is a pseudonym.
pub fn check_subject(lens: &Lens, field: Field, subject: &str) -> Result<bool, QueryError> {
    let mut filter = Filter {
        lens: Some(lens.clone()),
        ..Filter::default()
    };
    match field {
        Field::ActorId => filter.actor = Some(subject.to_string()),
        _ => filter.patient = Some(subject.to_string()),
    }
    Ok(!crate::search::check_lens(&filter)?.is_empty())
}

/// The report's hits, walked once per pass.
pub(crate) struct Hits<'a> {
    db: &'a Db,
    tenant: &'a str,
    t: Option<Tenant>,
    filter: Compiled,
}

impl Hits<'_> {
    /// Pass 1: the summary rows; `also` sees each event (a PDF counts them per day).
    pub(crate) fn summary(
        &self,
        kind: Kind<'_>,
        horizon: u64,
        also: &mut dyn FnMut(&Event),
    ) -> Result<Summary, QueryError> {
        let mut summary = Summary::new();
        self.each(horizon, &mut |f| {
            let event = f.event()?;
            let key = match kind {
                Kind::PatientAccess(_) => Some(event.actor.id.clone()),
                Kind::ActorActivity(_) => event.patient.as_ref().map(|p| p.id.clone()),
            };
            summary.entry(key).or_default().add(&event);
            also(&event);
            Ok(())
        })?;
        Ok(summary)
    }

    /// Visits every readable hit below seq `horizon`, oldest first.
    pub(crate) fn each(
        &self,
        horizon: u64,
        visit: &mut dyn FnMut(Hit) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let Some(t) = &self.t else { return Ok(()) };
        let walk = Walk {
            tenant: self.tenant,
            t,
            filter: &self.filter,
            order: Order::Asc,
            after: None,
            horizon,
            want: usize::MAX,
        };
        self.db.walk(&walk, &mut |f| {
            visit(f)?;
            Ok(true)
        })
    }
}

fn ts(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_string())
}

fn joined(set: &BTreeSet<String>) -> Vec<&str> {
    set.iter().map(String::as_str).collect()
}

/// What the JSON report opens with.
pub(crate) struct Head<'a> {
    pub(crate) kind: Kind<'a>,
    pub(crate) tenant: &'a str,
    pub(crate) range: TimeRange,
}

pub(crate) fn write_json(
    out: &mut dyn Write,
    hits: &Hits<'_>,
    horizon: u64,
    head: Head<'_>,
    summary: &Summary,
    lens: &Lens,
) -> Result<u64, QueryError> {
    let (subject_key, field, subject) = match head.kind {
        Kind::PatientAccess(p) => ("patient", Field::PatientId, p),
        Kind::ActorActivity(a) => ("actor", Field::ActorId, a),
    };
    write!(out, "{{\"report\":\"{}\",\"tenant\":", head.kind.name())?;
    serde_json::to_writer(&mut *out, head.tenant).map_err(std::io::Error::from)?;
    write!(out, ",\"{subject_key}\":")?;
    // A subject asked by pseudonym is that pseudonym already (checked by the filter).
    let shown = match lens.rule(field) {
        Rule::Pseudonym => Some(std::borrow::Cow::Borrowed(subject)),
        _ => lens.disclose(field, subject),
    };
    serde_json::to_writer(&mut *out, &shown).map_err(std::io::Error::from)?;
    let range = json!({"from": ts(head.range.from), "to": ts(head.range.to)});
    write!(out, ",\"from\":{},\"to\":{}", range["from"], range["to"])?;
    out.write_all(b",\"summary\":[")?;
    for (i, (key, agg)) in summary.iter().enumerate() {
        let shown = |f: Field, v: &Option<String>| {
            v.as_deref()
                .and_then(|v| lens.disclose(f, v))
                .map(|v| v.into_owned())
        };
        let row = match head.kind {
            Kind::PatientAccess(_) => json!({
                "actor_id": shown(Field::ActorId, key),
                "actor_role": shown(Field::ActorRole, &agg.role),
                "actor_name": shown(Field::ActorName, &agg.name),
                "actions": joined(&agg.actions), "purposes": joined(&agg.purposes),
                "count": agg.count, "first": ts(agg.first), "last": ts(agg.last),
            }),
            Kind::ActorActivity(_) => json!({
                "patient_id": shown(Field::PatientId, key), "actions": joined(&agg.actions),
                "count": agg.count, "first": ts(agg.first), "last": ts(agg.last),
            }),
        };
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &row).map_err(std::io::Error::from)?;
    }
    out.write_all(b"],\"events\":[")?;
    let mut count = 0u64;
    hits.each(horizon, &mut |f| {
        if count > 0 {
            out.write_all(b",")?;
        }
        out.write_all(&lens.json(&f.canonical)?)?;
        count += 1;
        Ok(())
    })?;
    write!(out, "],\"count\":{count}}}")?;
    Ok(count)
}

fn write_csv(
    out: &mut dyn Write,
    hits: &Hits<'_>,
    horizon: u64,
    kind: Kind<'_>,
    summary: &Summary,
    lens: &Lens,
) -> Result<u64, QueryError> {
    let shown = |f: Field, v: &Option<String>| {
        v.as_deref()
            .and_then(|v| lens.disclose(f, v))
            .map(|v| v.into_owned())
            .unwrap_or_default()
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    for (key, agg) in summary {
        let mut row: [String; COLUMNS] = Default::default();
        row[0] = "summary".into();
        match kind {
            Kind::PatientAccess(_) => {
                row[1] = shown(Field::ActorId, key);
                row[2] = shown(Field::ActorRole, &agg.role);
                row[3] = shown(Field::ActorName, &agg.name);
            }
            Kind::ActorActivity(_) => row[4] = shown(Field::PatientId, key),
        }
        row[5] = joined(&agg.actions).join(";");
        row[6] = joined(&agg.purposes).join(";");
        row[7] = agg.count.to_string();
        row[8] = ts(agg.first).unwrap_or_default();
        row[9] = ts(agg.last).unwrap_or_default();
        w.write_record(&row)?;
    }
    let mut count = 0u64;
    hits.each(horizon, &mut |f| {
        w.write_record(event_row(&lens.object(&f.canonical)?))?;
        count += 1;
        Ok(())
    })?;
    w.flush()?;
    Ok(count)
}

/// A CSV event row from the event as the lens shows it (so CSV and JSON agree).
pub(crate) fn event_row(e: &Map<String, Value>) -> [String; COLUMNS] {
    let text = |v: Option<&Value>| crate::export::text(v).unwrap_or_default();
    let at = |parent: &str, key: &str| crate::export::at(e, parent, key).unwrap_or_default();
    let mut row: [String; COLUMNS] = Default::default();
    row[0] = "event".into();
    row[1] = at("actor", "id");
    row[2] = at("actor", "role");
    row[3] = at("actor", "name");
    row[4] = at("patient", "id");
    row[10] = text(e.get("seq"));
    row[11] = text(e.get("time"));
    row[12] = text(e.get("action"));
    row[13] = at("resource", "type");
    row[14] = at("resource", "id");
    row[15] = text(e.get("outcome"));
    row[16] = text(e.get("purpose"));
    row[17] = text(e.get("reason"));
    row[18] = at("source", "system");
    row[19] = at("source", "ip");
    row[20] = text(e.get("received"));
    row[21] = text(e.get("appended_by"));
    row
}
