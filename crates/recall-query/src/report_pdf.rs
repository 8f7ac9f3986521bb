//! Reports as PDF documents a patient (or a reviewer) can be handed, in two steps so that
//! the digest can be recorded before the answer leaves:
//!
//! 1. [`Db::prepare_pdf`] reads the report at a tree size (the signed checkpoint's):
//!    the summary, the accesses per day, and the SHA-256 of the report's JSON form
//!    (exactly the bytes [`Db::report_at`] writes for the same subject, range, lens and
//!    tree size). The caller records that digest in the report's self-audit event.
//! 2. [`Db::write_pdf`] streams the document: header, chart, summary table, one row per
//!    event (page by page, through `recall-pdf`), and the evidence page (checkpoint, tree
//!    size, digest).
//!
//! Why the JSON bytes and not the PDF file: a file cannot contain its own digest, while
//! the JSON form can be fetched again by anyone with the same role (`tree_size=N`) and
//! hashed; the PDF shows the digest and the audit event holds it. Both steps read below
//! the same horizon, and entries below a horizon never change, so they agree.

use std::collections::BTreeMap;
use std::io::Write;

use jiff::Timestamp;
use jiff::civil::Date;
use recall_pdf::{BarChart, Column, Document, Evidence, Meta};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::disclose::{Field, Lens, Rule};
use crate::error::QueryError;
use crate::plain;
use crate::report::{Head, Kind, ReportStats, Summary, TimeRange, write_json};

/// A report read at a tree size, ready to be written as a PDF.
pub struct PdfReport {
    tenant: String,
    patient: bool,
    subject: String,
    range: TimeRange,
    horizon: u64,
    summary: Summary,
    days: BTreeMap<Date, u64>,
    sha256: [u8; 32],
    events: u64,
}

impl PdfReport {
    /// SHA-256 of the report's JSON form at [`PdfReport::tree_size`], hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// The tree size the report was read at.
    pub fn tree_size(&self) -> u64 {
        self.horizon
    }

    /// Events in the report.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn kind(&self) -> Kind<'_> {
        if self.patient {
            Kind::PatientAccess(&self.subject)
        } else {
            Kind::ActorActivity(&self.subject)
        }
    }
}

/// Who produced the document, when, and the signed checkpoint it was read at.
pub struct Issued<'a> {
    /// When the document was produced.
    pub at: Timestamp,
    /// Who asked for it (role and credential), as printed.
    pub by: &'a str,
    /// The signed checkpoint (C2SP signed note) whose tree size the report was read at.
    pub checkpoint: &'a str,
}

/// Writes a `Write` into a SHA-256.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Db {
    /// Step 1: reads the report on `kind` at tree size `at` and computes its digest.
    pub fn prepare_pdf(
        &self,
        tenant: &str,
        kind: Kind<'_>,
        range: TimeRange,
        lens: &Lens,
        at: u64,
    ) -> Result<PdfReport, QueryError> {
        let hits = self.hits(tenant, kind, range, lens)?;
        let horizon = self.horizon(tenant, Some(at))?;
        let mut days = BTreeMap::<Date, u64>::new();
        let summary = hits.summary(kind, horizon, &mut |e| {
            *days
                .entry(e.time.to_zoned(jiff::tz::TimeZone::UTC).date())
                .or_default() += 1;
        })?;
        let mut h = Hashing(Sha256::new());
        let head = Head {
            kind,
            tenant,
            range,
        };
        let mut buffered = std::io::BufWriter::new(&mut h);
        let events = write_json(&mut buffered, &hits, horizon, head, &summary, lens)?;
        buffered.flush()?;
        drop(buffered);
        let (patient, subject) = match kind {
            Kind::PatientAccess(p) => (true, p),
            Kind::ActorActivity(a) => (false, a),
        };
        Ok(PdfReport {
            tenant: tenant.to_string(),
            patient,
            subject: subject.to_string(),
            range,
            horizon,
            summary,
            days,
            sha256: h.0.finalize().into(),
            events,
        })
    }

    /// Step 2: streams the document to `out`, page by page.
    pub fn write_pdf(
        &self,
        report: &PdfReport,
        issued: &Issued<'_>,
        lens: &Lens,
        out: &mut dyn Write,
    ) -> Result<ReportStats, QueryError> {
        let kind = report.kind();
        let title = match kind {
            Kind::PatientAccess(_) => "Accesses to a health record",
            Kind::ActorActivity(_) => "Activity of a user of health records",
        };
        let meta = Meta {
            title,
            author: issued.by,
            subject: kind.name(),
            created: issued.at,
        };
        let mut doc = Document::new(std::io::BufWriter::new(out), &meta)?;
        doc.title(title)?;
        front(&mut doc, report, issued, lens)?;
        summary_table(&mut doc, report, lens)?;
        doc.heading(match kind {
            Kind::PatientAccess(_) => "Each access, oldest first",
            Kind::ActorActivity(_) => "Each action, oldest first",
        })?;
        let hits = self.hits(&report.tenant, kind, report.range, lens)?;
        let mut table = doc.table(&event_columns(kind))?;
        hits.each(report.horizon, &mut |f| {
            let e = lens.object(&f.canonical)?;
            let cells = event_cells(kind, &e);
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            Ok(table.row(&cells)?)
        })?;
        let rows = table.rows();
        table.end();
        if rows == 0 {
            doc.paragraph("No access was recorded in this period.")?;
        }
        let sha = report.sha256_hex();
        doc.evidence(&Evidence {
            checkpoint: issued.checkpoint,
            tree_size: report.horizon,
            sha256: &sha,
            covers: &covers(report),
        })?;
        doc.finish()?.flush()?;
        Ok(ReportStats {
            events: rows,
            actors: report.summary.len() as u64,
        })
    }
}

/// The subject as the reader sees it (a pseudonym asked for is that pseudonym).
fn shown_subject(lens: &Lens, field: Field, subject: &str) -> String {
    match lens.rule(field) {
        Rule::Pseudonym => subject.to_string(),
        _ => lens
            .disclose(field, subject)
            .map_or_else(|| "(withheld)".to_string(), |s| s.into_owned()),
    }
}

fn front<W: Write>(
    doc: &mut Document<W>,
    r: &PdfReport,
    issued: &Issued<'_>,
    lens: &Lens,
) -> Result<(), QueryError> {
    let (label, field) = match r.kind() {
        Kind::PatientAccess(_) => ("Patient", Field::PatientId),
        Kind::ActorActivity(_) => ("User", Field::ActorId),
    };
    let subject = shown_subject(lens, field, &r.subject);
    let from = r
        .range
        .from
        .map_or("the start of the log".to_string(), plain::when);
    let to = r
        .range
        .to
        .map_or("the time of reading".to_string(), plain::when);
    let period = format!("from {from} to {to} (UTC)");
    let produced = plain::when(issued.at) + " UTC";
    let read_at = format!(
        "the audit log's signed checkpoint of tree size {} (see the evidence page)",
        r.horizon
    );
    let counts = format!("{} in total", r.events);
    doc.key_values(&[
        (label, &subject),
        ("Period", &period),
        ("Produced", &produced),
        ("Produced by", issued.by),
        ("Read at", &read_at),
        ("Recorded accesses", &counts),
    ])?;
    doc.paragraph(
        "This document lists every access recall's tamper-evident audit log recorded in \
         the period, oldest first. Times are in UTC. Where the disclosure policy requires \
         it, names are replaced by pseudonyms (psn_...) or left out.",
    )?;
    let bars = buckets(&r.days);
    if !bars.1.is_empty() {
        doc.bar_chart(&BarChart {
            title: bars.0,
            bars: &bars.1,
        })?;
    }
    Ok(())
}

fn summary_table<W: Write>(
    doc: &mut Document<W>,
    r: &PdfReport,
    lens: &Lens,
) -> Result<(), QueryError> {
    if r.summary.is_empty() {
        return Ok(());
    }
    let shown = |f: Field, v: &Option<String>| {
        v.as_deref()
            .and_then(|v| lens.disclose(f, v))
            .map(|v| v.into_owned())
            .unwrap_or_default()
    };
    let patient = matches!(r.kind(), Kind::PatientAccess(_));
    doc.heading(if patient {
        "Who accessed the record"
    } else {
        "Whose records were touched"
    })?;
    let first = if patient { "Who" } else { "Patient" };
    let mut t = doc.table(&[
        Column::new(first, 0.3),
        Column::new(if patient { "Role" } else { "" }, 0.16),
        Column::new("Accesses", 0.1),
        Column::new("First", 0.22),
        Column::new("Last", 0.22),
    ])?;
    for (key, agg) in &r.summary {
        let (who, role) = if patient {
            let name = shown(Field::ActorName, &agg.name);
            let id = shown(Field::ActorId, key);
            let who = if name.is_empty() { id } else { name };
            (who, plain::role(&shown(Field::ActorRole, &agg.role)))
        } else {
            let p = shown(Field::PatientId, key);
            let p = if key.is_none() {
                "(no patient)".into()
            } else {
                p
            };
            (p, String::new())
        };
        let count = agg.count.to_string();
        let first = agg.first.map(plain::when).unwrap_or_default();
        let last = agg.last.map(plain::when).unwrap_or_default();
        t.row(&[&who, &role, &count, &first, &last])?;
    }
    Ok(())
}

fn event_columns(kind: Kind<'_>) -> [Column; 5] {
    let who = match kind {
        Kind::PatientAccess(_) => "Who",
        Kind::ActorActivity(_) => "Patient",
    };
    [
        Column::new("Date and time", 0.21),
        Column::new(who, 0.24),
        Column::new("What", 0.22),
        Column::new("Purpose", 0.19),
        Column::new("System", 0.14),
    ]
}

/// One event in plain words, from the event as the lens shows it.
fn event_cells(kind: Kind<'_>, e: &Map<String, Value>) -> [String; 5] {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let at = |o: &str, k: &str| s(e.get(o).and_then(|o| o.get(k)));
    let time = s(e.get("time"));
    let time = time.parse::<Timestamp>().map(plain::when).unwrap_or(time);
    let who = match kind {
        Kind::PatientAccess(_) => {
            let name = at("actor", "name");
            let who = if name.is_empty() {
                at("actor", "id")
            } else {
                name
            };
            match at("actor", "role") {
                r if r.is_empty() => who,
                r => format!("{who} ({})", plain::role(&r)),
            }
        }
        Kind::ActorActivity(_) => at("patient", "id"),
    };
    let mut what = plain::what(&s(e.get("action")), &at("resource", "type"));
    if let Some(o) = plain::outcome(&s(e.get("outcome"))) {
        what = format!("{what} ({o})");
    }
    let purpose = s(e.get("purpose"));
    let purpose = if purpose.is_empty() {
        "not stated".to_string()
    } else {
        plain::purpose(&purpose)
    };
    [time, who, what, purpose, at("source", "system")]
}

/// Accesses per day, month or year (whichever gives at most ~60 bars), gaps as zeros.
fn buckets(days: &BTreeMap<Date, u64>) -> (&'static str, Vec<(String, u64)>) {
    let (Some((&first, _)), Some((&last, _))) = (days.first_key_value(), days.last_key_value())
    else {
        return ("", Vec::new());
    };
    let span = (last - first).get_days();
    let (title, key): (&str, fn(Date) -> String) = if span <= 60 {
        ("Accesses per day", |d| d.strftime("%m-%d").to_string())
    } else if span <= 5 * 366 {
        ("Accesses per month", |d| d.strftime("%Y-%m").to_string())
    } else {
        ("Accesses per year", |d| d.year().to_string())
    };
    let mut bars: Vec<(String, u64)> = Vec::new();
    let mut d = first;
    loop {
        let k = key(d);
        let n = days.get(&d).copied().unwrap_or(0);
        match bars.last_mut() {
            Some(b) if b.0 == k => b.1 += n,
            _ => bars.push((k, n)),
        }
        match d.tomorrow() {
            Ok(next) if d < last => d = next,
            _ => break,
        }
    }
    (title, bars)
}

/// What the digest covers, in words for the evidence page.
fn covers(r: &PdfReport) -> String {
    format!(
        "This SHA-256 is the digest of the report's content: the exact bytes of its JSON \
         form (format=json) for the same {subject}, period and reader role, read at tree \
         size {n}. recall wrote it into this report's own audit event (detail.query.sha256) \
         before the document left. To re-check, ask for that JSON report again with \
         tree_size={n} (API) or --tree-size {n} (recall report) using a credential of the \
         same role, and compute its SHA-256. The signed checkpoint below commits to the \
         first {n} entries of the log; its signature can be checked with the log's public \
         key and its consistency with any later checkpoint proven.",
        subject = if r.patient { "patient" } else { "user" },
        n = r.horizon
    )
}
