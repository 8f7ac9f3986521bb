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
//! | `patient_id` | the patient (actor-activity) | the event's patient |
//! | `actions` | distinct actions, sorted, `;`-joined | |
//! | `purposes` | distinct purposes, sorted, `;`-joined | |
//! | `count` | events in the row | |
//! | `first`, `last` | earliest and latest event time | |
//! | `seq`, `time`, `action`, `resource_type`, `resource_id`, `outcome`, `purpose`, `reason`, `source_system`, `source_ip`, `received` | | the event's fields |
//!
//! Times are RFC 3339 UTC; absent values are empty.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use jiff::Timestamp;
use recall_model::Event;
use serde_json::json;

use crate::db::{Db, Tenant};
use crate::error::QueryError;
use crate::read::Hit;
use crate::search::{Compiled, Filter, Order, Walk};

/// Columns of a CSV report, in order (see the module documentation).
pub const CSV_COLUMNS: [&str; 20] = [
    "record",
    "actor_id",
    "actor_role",
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
];

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
#[derive(Clone, Copy)]
enum Kind<'a> {
    PatientAccess(&'a str),
    ActorActivity(&'a str),
}

impl Kind<'_> {
    fn name(&self) -> &'static str {
        match self {
            Kind::PatientAccess(_) => "patient-access",
            Kind::ActorActivity(_) => "actor-activity",
        }
    }
}

/// One summary row.
#[derive(Default)]
struct Agg {
    role: Option<String>,
    actions: BTreeSet<String>,
    purposes: BTreeSet<String>,
    count: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Agg {
    fn add(&mut self, e: &Event) {
        if e.actor.role.is_some() {
            self.role.clone_from(&e.actor.role);
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
type Summary = BTreeMap<Option<String>, Agg>;

impl Db {
    /// Patient access report: who touched the patient's data in `range`.
    pub fn patient_access(
        &self,
        tenant: &str,
        patient: &str,
        range: TimeRange,
        format: ReportFormat,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        self.report(tenant, Kind::PatientAccess(patient), range, format, out)
    }

    /// Actor activity report: whose data the actor touched in `range`.
    pub fn actor_activity(
        &self,
        tenant: &str,
        actor: &str,
        range: TimeRange,
        format: ReportFormat,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        self.report(tenant, Kind::ActorActivity(actor), range, format, out)
    }

    fn report(
        &self,
        tenant: &str,
        kind: Kind<'_>,
        range: TimeRange,
        format: ReportFormat,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        let mut filter = Filter {
            from: range.from,
            to: range.to,
            ..Filter::default()
        };
        match kind {
            Kind::PatientAccess(p) => filter.patient = Some(p.to_string()),
            Kind::ActorActivity(a) => filter.actor = Some(a.to_string()),
        }
        let filter = Compiled::new(&filter)?;
        let hits = Hits {
            db: self,
            tenant,
            t: self.tenant(tenant)?,
            filter,
        };
        let horizon = self.indexed(tenant)?;
        let mut summary = Summary::new();
        hits.each(horizon, &mut |f| {
            let event = f.event()?;
            let key = match kind {
                Kind::PatientAccess(_) => Some(event.actor.id.clone()),
                Kind::ActorActivity(_) => event.patient.as_ref().map(|p| p.id.clone()),
            };
            summary.entry(key).or_default().add(&event);
            Ok(())
        })?;
        let mut out = std::io::BufWriter::new(out);
        let events = match format {
            ReportFormat::Json => {
                write_json(&mut out, &hits, horizon, kind, tenant, range, &summary)?
            }
            ReportFormat::Csv => write_csv(&mut out, &hits, horizon, kind, &summary)?,
        };
        out.flush()?;
        Ok(ReportStats {
            events,
            actors: summary.len() as u64,
        })
    }
}

/// The report's hits, walked once per pass.
struct Hits<'a> {
    db: &'a Db,
    tenant: &'a str,
    t: Option<Tenant>,
    filter: Compiled,
}

impl Hits<'_> {
    /// Visits every readable hit below seq `horizon`, oldest first.
    fn each(
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

fn write_json(
    out: &mut dyn Write,
    hits: &Hits<'_>,
    horizon: u64,
    kind: Kind<'_>,
    tenant: &str,
    range: TimeRange,
    summary: &Summary,
) -> Result<u64, QueryError> {
    let (subject_key, subject) = match kind {
        Kind::PatientAccess(p) => ("patient", p),
        Kind::ActorActivity(a) => ("actor", a),
    };
    write!(out, "{{\"report\":\"{}\",\"tenant\":", kind.name())?;
    serde_json::to_writer(&mut *out, tenant).map_err(std::io::Error::from)?;
    write!(out, ",\"{subject_key}\":")?;
    serde_json::to_writer(&mut *out, subject).map_err(std::io::Error::from)?;
    let head = json!({"from": ts(range.from), "to": ts(range.to)});
    write!(out, ",\"from\":{},\"to\":{}", head["from"], head["to"])?;
    out.write_all(b",\"summary\":[")?;
    for (i, (key, agg)) in summary.iter().enumerate() {
        let row = match kind {
            Kind::PatientAccess(_) => json!({
                "actor_id": key, "actor_role": agg.role,
                "actions": joined(&agg.actions), "purposes": joined(&agg.purposes),
                "count": agg.count, "first": ts(agg.first), "last": ts(agg.last),
            }),
            Kind::ActorActivity(_) => json!({
                "patient_id": key, "actions": joined(&agg.actions),
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
        out.write_all(&f.canonical)?;
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
) -> Result<u64, QueryError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    for (key, agg) in summary {
        let mut row: [String; 20] = Default::default();
        row[0] = "summary".into();
        let key = key.clone().unwrap_or_default();
        match kind {
            Kind::PatientAccess(_) => {
                row[1] = key;
                row[2] = agg.role.clone().unwrap_or_default();
            }
            Kind::ActorActivity(_) => row[3] = key,
        }
        row[4] = joined(&agg.actions).join(";");
        row[5] = joined(&agg.purposes).join(";");
        row[6] = agg.count.to_string();
        row[7] = ts(agg.first).unwrap_or_default();
        row[8] = ts(agg.last).unwrap_or_default();
        w.write_record(&row)?;
    }
    let mut count = 0u64;
    hits.each(horizon, &mut |f| {
        w.write_record(event_row(&f, &f.event()?))?;
        count += 1;
        Ok(())
    })?;
    w.flush()?;
    Ok(count)
}

fn event_row(f: &Hit, e: &Event) -> [String; 20] {
    let opt = |s: Option<&String>| s.cloned().unwrap_or_default();
    let source = e.source.as_ref();
    let mut row: [String; 20] = Default::default();
    row[0] = "event".into();
    row[1] = e.actor.id.clone();
    row[2] = opt(e.actor.role.as_ref());
    row[3] = opt(e.patient.as_ref().map(|p| &p.id));
    row[9] = f.seq.to_string();
    row[10] = e.time.to_string();
    row[11] = e.action.clone();
    row[12] = opt(e.resource.as_ref().map(|r| &r.kind));
    row[13] = opt(e.resource.as_ref().and_then(|r| r.id.as_ref()));
    row[14] = e.outcome.as_str().into();
    row[15] = opt(e.purpose.as_ref());
    row[16] = opt(e.reason.as_ref());
    row[17] = opt(source.and_then(|s| s.system.as_ref()));
    row[18] = source
        .and_then(|s| s.ip)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    row[19] = f.received.to_string();
    row
}
