//! Export: a tenant's events in log (seq) order, after a resume cursor, through the
//! caller's lens, written in one of several formats — what `GET /v1/export`, `recall
//! export` and the forwarder all call.
//!
//! Invariants:
//! - The cursor is the seq of the last event a consumer has: `after = S` exports every
//!   matching event with seq > S and below the horizon taken once at the start, in seq
//!   order. Every record carries its seq, so a consumer that stops anywhere resumes from
//!   the last record it kept and skips nothing (it may see an event twice).
//! - Memory is bounded: one event (and the block it sits in) at a time, never the result.
//!   Blocks read from the log are not put in the read cache (a walk of the whole log
//!   would evict the readers' hot blocks and pay for fresh memory).
//! - Events of months whose keys retention destroyed cannot be read: they are passed
//!   over and counted (`ExportStats::unreadable`), never shown.
//! - Every record leaves through the [`Lens`]; formats other than native are computed
//!   from the lensed native JSON, so no format can show more than the native one.

use std::io::Write;

use recall_fhir::FhirVersion;
use serde_json::{Map, Value};

use crate::db::Db;
use crate::disclose::Lens;
use crate::error::QueryError;
use crate::raw_json::Edit;
use crate::read::{Read, SeqReader};
use crate::search::{Compiled, Filter};

/// An export's output format. Adding a format is one arm here and one in [`Sink::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// recall's native JSON (canonical form plus tenant, seq, received), one per line.
    Native,
    /// OCSF events (see `export_ocsf.rs` and docs/design/export.md), one per line.
    Ocsf,
    /// The reports' CSV columns, event rows only (`record` = `event`).
    Csv,
    /// FHIR R4 AuditEvent resources (IHE BALP), one per line (`recall-fhir`).
    FhirR4,
    /// FHIR R5 AuditEvent resources, one per line.
    FhirR5,
}

impl ExportFormat {
    /// Every format's name, as `format=` takes it.
    pub const NAMES: [&'static str; 5] = ["native", "ocsf", "csv", "fhir-r4", "fhir-r5"];

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<ExportFormat> {
        match name {
            "native" | "ndjson" => Some(ExportFormat::Native),
            "ocsf" => Some(ExportFormat::Ocsf),
            "csv" => Some(ExportFormat::Csv),
            "fhir-r4" => Some(ExportFormat::FhirR4),
            "fhir-r5" => Some(ExportFormat::FhirR5),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Native => "native",
            ExportFormat::Ocsf => "ocsf",
            ExportFormat::Csv => "csv",
            ExportFormat::FhirR4 => "fhir-r4",
            ExportFormat::FhirR5 => "fhir-r5",
        }
    }

    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Native | ExportFormat::Ocsf => "application/x-ndjson",
            ExportFormat::FhirR4 | ExportFormat::FhirR5 => "application/fhir+ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Export<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Which events (checked against the lens, like a search's).
    pub filter: &'a Filter,
    /// The cursor: only seqs after it (all when `None`).
    pub after: Option<u64>,
    /// Only seqs below it: the log's indexed size when the export starts.
    pub horizon: u64,
    /// The format.
    pub format: ExportFormat,
    /// How events are shown.
    pub lens: &'a Lens,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Records written.
    pub events: u64,
    /// Seq of the last record written.
    pub last: Option<u64>,
    /// Events passed over because their month's keys are destroyed.
    pub unreadable: u64,
}

/// Seqs walked between two calls of the progress callback.
const PROGRESS_EVERY: u64 = 4096;

impl Db {
    /// Writes the matching events of `x` to `out`; `progress` is called now and then with
    /// the seq reached (for a progress bar, or a forwarder's lag).
    pub fn export(
        &self,
        x: &Export<'_>,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ExportStats, QueryError> {
        let filter = Compiled::new(x.filter)?;
        let mut sink = Sink::new(x.format, x.lens, out)?;
        let mut stats = ExportStats::default();
        let Some(t) = self.tenant(x.tenant)? else {
            sink.finish()?;
            return Ok(stats);
        };
        let parts = self.parts();
        let mut reader = SeqReader::scanning(self, x.tenant, &t, &parts);
        // Without filters no event's view is needed: its seq is read from its bytes.
        let all = x.filter.selects_all();
        let start = x.after.map_or(0, |s| s.saturating_add(1));
        for seq in start..x.horizon {
            if seq % PROGRESS_EVERY == 0 {
                progress(seq);
            }
            let found = if all {
                reader.bytes(seq, |block, k| sink.put(block.event(k)))?
            } else {
                reader.with(seq, |block, k, view| {
                    let hit = filter.matches(view) && filter.body_matches(block.event(k));
                    if hit {
                        sink.put(block.event(k))
                    } else {
                        Ok(false)
                    }
                })?
            };
            match found {
                Read::Found(put) => {
                    if put? {
                        stats.events += 1;
                        stats.last = Some(seq);
                    }
                }
                Read::Unreadable(_) | Read::NotCached(..) => stats.unreadable += 1,
                Read::NotFound => {
                    return Err(QueryError::Corrupt(format!("event {seq} is not indexed")));
                }
            }
        }
        progress(x.horizon);
        sink.finish()?;
        Ok(stats)
    }
}

/// Where records go, per format, through the lens.
struct Sink<'w> {
    lens: &'w Lens,
    to: To<'w>,
}

enum To<'w> {
    /// Native lines, written through the lens's edit into a reused line buffer.
    Native(Edit<'w>, Vec<u8>, &'w mut dyn Write),
    Lines(ExportFormat, &'w mut dyn Write),
    Csv(Box<csv::Writer<&'w mut dyn Write>>),
}

impl<'w> Sink<'w> {
    fn new(
        format: ExportFormat,
        lens: &'w Lens,
        out: &'w mut dyn Write,
    ) -> Result<Sink<'w>, QueryError> {
        let to = match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(crate::report::CSV_COLUMNS)?;
                To::Csv(Box::new(w))
            }
            ExportFormat::Native => To::Native(Edit::of(lens), Vec::new(), out),
            f => To::Lines(f, out),
        };
        Ok(Sink { lens, to })
    }

    /// Writes one stored event (`None`: not in its block, corrupt); `Ok(true)` once written.
    fn put(&mut self, canonical: Option<&[u8]>) -> Result<bool, QueryError> {
        let canonical =
            canonical.ok_or_else(|| QueryError::Corrupt("an event left its block".into()))?;
        let lens = self.lens;
        match &mut self.to {
            To::Native(edit, line, out) => {
                line.clear();
                edit.write(canonical, line)?;
                line.push(b'\n');
                out.write_all(line)?;
            }
            To::Lines(format, out) => {
                let event = lens.object(canonical)?;
                let event = match format {
                    ExportFormat::FhirR4 => fhir(event, FhirVersion::R4),
                    ExportFormat::FhirR5 => fhir(event, FhirVersion::R5),
                    _ => crate::export_ocsf::event(&event),
                };
                serde_json::to_writer(&mut **out, &event)
                    .map_err(|e| QueryError::Output(e.into()))?;
                out.write_all(b"\n")?;
            }
            To::Csv(w) => w.write_record(crate::report::event_row(&lens.object(canonical)?))?,
        }
        Ok(true)
    }

    fn finish(self) -> Result<(), QueryError> {
        match self.to {
            To::Native(_, _, out) | To::Lines(_, out) => out.flush()?,
            To::Csv(mut w) => w.flush()?,
        }
        Ok(())
    }
}

/// One lensed event as a FHIR AuditEvent: the same mapping `/fhir` answers with.
fn fhir(event: Map<String, Value>, version: FhirVersion) -> Value {
    recall_fhir::to_audit_event(&Value::Object(event), version)
}

/// Text of a JSON value for a flat format (strings as they are, numbers in decimal).
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `e[parent][key]` as text.
pub(crate) fn at(e: &Map<String, Value>, parent: &str, key: &str) -> Option<String> {
    text(e.get(parent).and_then(|o| o.get(key)))
}

/// An export's parameters as text, unchecked (the API's query string, `recall export`'s
/// flags): the search filters, the cursor and the format.
#[derive(Debug, Clone, Default)]
pub struct ExportParams {
    /// Which events: the filters of a search.
    pub filter: crate::FilterParams,
    /// The cursor: the seq of the last event already had (decimal).
    pub after: Option<String>,
    /// `native` (default), `ocsf`, `csv`, `fhir-r4` or `fhir-r5`.
    pub format: Option<String>,
}

impl<'de> serde::Deserialize<'de> for ExportParams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::params::from_pairs(d, |p: &mut ExportParams, name, value| match name {
            "after" => crate::params::once(&mut p.after, value),
            "format" => crate::params::once(&mut p.format, value),
            _ => p.filter.set(name, value),
        })
    }
}

/// An export checked: the filter, the cursor and the format.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Which events.
    pub filter: Filter,
    /// Seqs after this one.
    pub after: Option<u64>,
    /// The format.
    pub format: ExportFormat,
}

impl ExportParams {
    /// The checked export as `lens`'s reader may ask it (the search's rules for the
    /// filters); errors name the parameter.
    pub fn checked(&self, lens: &Lens) -> Result<Checked, QueryError> {
        let filter = self.filter.filter(lens)?;
        let after = match self.after.as_deref() {
            None => None,
            Some(s) => Some(s.parse::<u64>().map_err(|_| QueryError::BadFilter {
                field: "after",
                message: "after must be the seq of an exported event (a decimal integer)".into(),
            })?),
        };
        let format = match self.format.as_deref() {
            None => ExportFormat::Native,
            Some(f) => ExportFormat::parse(f).ok_or_else(|| QueryError::BadFilter {
                field: "format",
                message: format!("format must be one of {}", ExportFormat::NAMES.join(", ")),
            })?,
        };
        Ok(Checked {
            filter,
            after,
            format,
        })
    }

    /// The patient the export's own audit event names (see
    /// [`crate::FilterParams::recorded_patient`]).
    pub fn recorded_patient(&self, lens: &Lens) -> Option<&str> {
        self.filter.recorded_patient(lens)
    }

    /// The parameters as the export's audit event records them, with the range's end
    /// (`until`: the export covers seqs after `after` and below `until`).
    pub fn recorded(&self, lens: &Lens, until: u64) -> Map<String, Value> {
        let mut m = self.filter.recorded(lens);
        if let Some(a) = &self.after {
            m.insert("after".into(), Value::from(a.as_str()));
        }
        let format = self.format.as_deref().unwrap_or("native");
        m.insert("format".into(), Value::from(format));
        m.insert("until".into(), Value::from(until));
        m
    }
}

/// The cursor after a complete export: the last seq it covered, or `after` when the
/// log held nothing newer.
pub fn cursor_after(after: Option<u64>, horizon: u64) -> Option<u64> {
    horizon.checked_sub(1).max(after)
}
