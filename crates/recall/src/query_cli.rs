//! `recall search`, `recall report` and `recall reindex`, on the data directory directly.
//! Searches and reports are audited like the API's: an event naming the operating-system
//! user is appended to the tenant's log before the answer is printed.

use std::io::Write;

use anyhow::Context;
use jiff::Timestamp;
use recall_governance::access_review::pdf::Form;
use recall_governance::{Act, Direct, Recorder, UseKind, Via, operator};
use recall_query::{
    Db, Field, FilterParams, Lens, MAX_LIMIT, Policy, Reader, ReportFormat, SearchParams,
    TimeRange, check_subject,
};
use serde_json::{Map, Value, json};

/// Whose view of the events the CLI prints: the disclosure policy of a reading role, as
/// the API applies it (`[policy]` in recall.toml).
#[derive(Debug, Clone, clap::Args)]
pub struct ViewArgs {
    /// The role whose view to print: engineer, auditor, privacy_officer or patient.
    #[arg(long = "as", default_value = "auditor",
          value_parser = ["engineer", "auditor", "privacy_officer", "patient"])]
    pub view: String,
    /// Why the fields kept behind a justification are needed (recorded in the audit event).
    #[arg(long, value_parser = parse_justification)]
    pub justification: Option<String>,
}

impl Default for ViewArgs {
    fn default() -> Self {
        ViewArgs {
            view: "auditor".into(),
            justification: None,
        }
    }
}

fn parse_justification(s: &str) -> Result<String, String> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 || n > 500 || t.chars().any(char::is_control) {
        return Err("1 to 500 characters without control characters".into());
    }
    Ok(t.to_owned())
}

impl ViewArgs {
    pub(crate) fn lens(&self, db: &Db, tenant: &str, policy: &Policy) -> anyhow::Result<Lens> {
        let reader = Reader::parse(&self.view).context("--as: unknown role")?;
        db.lens(tenant, policy, reader, self.justification.is_some())
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// What the audit event records of the view.
    pub(crate) fn record(&self, query: &mut Map<String, Value>) {
        query.insert("as".into(), json!(self.view));
    }
}

/// Filters of `recall search` and `recall export` (the API's query parameters as flags).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Tenant to search.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// patient.id
    #[arg(long)]
    pub patient: Option<String>,
    /// actor.id
    #[arg(long)]
    pub actor: Option<String>,
    /// action
    #[arg(long)]
    pub action: Option<String>,
    /// outcome: success | failure | denied
    #[arg(long, value_parser = ["success", "failure", "denied"])]
    pub outcome: Option<String>,
    /// purpose (HL7 PurposeOfUse)
    #[arg(long)]
    pub purpose: Option<String>,
    /// source.system
    #[arg(long)]
    pub system: Option<String>,
    /// source.ip (an IPv4 or IPv6 address)
    #[arg(long, value_parser = parse_ip)]
    pub ip: Option<String>,
    /// Only break-glass events (purpose ETREAT).
    #[arg(long)]
    pub break_glass: bool,
    /// From this time (RFC 3339, inclusive).
    #[arg(long)]
    pub from: Option<Timestamp>,
    /// Until this time (RFC 3339, exclusive).
    #[arg(long)]
    pub to: Option<Timestamp>,
    /// resource.type
    #[arg(long)]
    pub resource_type: Option<String>,
    /// resource.id
    #[arg(long)]
    pub resource_id: Option<String>,
    /// FHIR crude action of the event's action: C | R | U | D | E
    #[arg(long, value_parser = recall_query::FHIR_ACTIONS)]
    pub fhir_action: Option<String>,
    /// FHIR AuditEvent type code: rest, or a DICOM event code (110114, 110101, ...)
    #[arg(long)]
    pub fhir_type: Option<String>,
}

/// `recall search` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SearchArgs {
    /// Filters.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Order by (time, seq): asc (oldest first) or desc (newest first).
    #[arg(long, value_parser = ["asc", "desc"], default_value = "asc")]
    pub order: String,
    /// At most this many events, at least 1 (all when absent).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Whose view.
    #[command(flatten)]
    pub view: ViewArgs,
}

/// `--ip`: the address as given, once it parses (the index holds it as written).
fn parse_ip(s: &str) -> Result<String, String> {
    s.parse::<std::net::IpAddr>()
        .map(|_| s.to_owned())
        .map_err(|_| "not an IPv4 or IPv6 address".to_owned())
}

/// Refuses an invalid tenant name, or a tenant without a log: searching or reporting on
/// it would create a log (for the audit event) that could never be removed.
pub fn check_tenant(db: &Db, tenant: &str) -> anyhow::Result<()> {
    recall_model::validate_tenant(tenant)
        .map_err(|e| anyhow::anyhow!("--tenant: {}", e.message))?;
    let known = db.journal().store().tenants()?;
    if !known.iter().any(|t| t == tenant) {
        anyhow::bail!("--tenant: this data directory has no tenant {tenant}");
    }
    Ok(())
}

impl FilterArgs {
    /// The flags as the API's filter parameters: one builder checks both.
    pub(crate) fn params(&self) -> FilterParams {
        FilterParams {
            patient: self.patient.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            purpose: self.purpose.clone(),
            system: self.system.clone(),
            ip: self.ip.clone(),
            break_glass: self.break_glass.then_some(true),
            from: self.from.map(|t| t.to_string()),
            to: self.to.map(|t| t.to_string()),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            fhir_action: self.fhir_action.clone(),
            fhir_type: self.fhir_type.clone(),
        }
    }
}

/// Prints matching events as NDJSON (native format plus tenant, seq, received), every
/// page; returns how many. Like the API, the answer is the log as it was before this
/// search's own audit event.
pub fn search(
    db: &Db,
    policy: &Policy,
    args: &SearchArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let tenant = &args.filters.tenant;
    check_tenant(db, tenant)?;
    let lens = args.view.lens(db, tenant, policy)?;
    if args.view.view == "patient" && args.filters.patient.is_none() {
        anyhow::bail!("--as patient: give --patient");
    }
    let horizon = db.journal().store().size(tenant)?;
    let params = SearchParams {
        filter: args.filters.params(),
        order: Some(args.order.clone()),
        ..SearchParams::default()
    };
    let mut query = params.query(&lens).map_err(|e| anyhow::anyhow!("{e}"))?;
    query.limit = MAX_LIMIT;
    let mut recorded = params.recorded(&lens);
    args.view.record(&mut recorded);
    audit(
        db,
        tenant,
        UseKind::Search,
        "recall search",
        params.recorded_patient(&lens),
        recorded,
        args.view.justification.as_deref(),
    )?;
    let mut printed = 0;
    loop {
        if let Some(max) = args.limit {
            query.limit = (max - printed).clamp(1, MAX_LIMIT as u64) as usize;
        }
        let page = db
            .search(tenant, &query)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for f in page.events.iter().filter(|f| f.seq < horizon) {
            out.write_all(
                &lens
                    .json(&f.canonical)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )?;
            out.write_all(b"\n")?;
            printed += 1;
        }
        match page.next_cursor {
            Some(c) if args.limit.is_none_or(|m| printed < m) => query.cursor = Some(c),
            _ => break,
        }
    }
    out.flush()?;
    Ok(printed)
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportKind {
    /// Every access to one patient's data.
    PatientAccess,
    /// Everything one actor did.
    ActorActivity,
}

/// The reports `recall report` prints: one about a subject ([`ReportKind`]) or the
/// periodic access review (`review_cli`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportName {
    /// Every access to one patient's data.
    PatientAccess,
    /// Everything one actor did.
    ActorActivity,
    /// Everyone who touched PHI in a period, against the workforce roster.
    AccessReview,
}

/// What `recall report access-review` does besides printing the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewStep {
    /// Record a sign-off (`--reviewer`, `--sha256`, `--from`, `--to`).
    Signoff,
}

/// What `recall report` is asked for.
pub struct ReportRequest<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Which report.
    pub kind: ReportKind,
    /// Its patient or actor.
    pub subject: &'a str,
    /// Event-time range.
    pub range: TimeRange,
    /// `json`, `csv` or `pdf`.
    pub format: &'a str,
    /// Read a JSON or CSV report at this tree size (re-checking a PDF's digest).
    pub tree_size: Option<u64>,
    /// Whose view.
    pub view: &'a ViewArgs,
}

/// Writes a report to `out`.
pub fn report(
    db: &Db,
    policy: &Policy,
    req: &ReportRequest<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ReportRequest {
        tenant,
        kind,
        subject,
        range,
        format,
        tree_size,
        view,
    } = *req;
    check_tenant(db, tenant)?;
    if view.view == "patient" && kind == ReportKind::ActorActivity {
        anyhow::bail!("--as patient: only the patient-access report");
    }
    let lens = view.lens(db, tenant, policy)?;
    let field = match kind {
        ReportKind::PatientAccess => Field::PatientId,
        ReportKind::ActorActivity => Field::ActorId,
    };
    let by_pseudonym = check_subject(&lens, field, subject).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pdf = format == "pdf";
    if pdf && tree_size.is_some() {
        anyhow::bail!("--tree-size applies to json and csv: a PDF is read at a new checkpoint");
    }
    let mut q = Map::new();
    if format != "json" {
        q.insert("format".into(), json!(format));
    }
    if let Some(t) = range.from {
        q.insert("from".into(), json!(t.to_string()));
    }
    if let Some(t) = range.to {
        q.insert("to".into(), json!(t.to_string()));
    }
    let patient = match kind {
        ReportKind::PatientAccess => {
            q.insert("report".into(), json!("patient-access"));
            if by_pseudonym {
                // A pseudonym is no patient id: kept with the parameters.
                q.insert("patient".into(), json!(subject));
                None
            } else {
                Some(subject)
            }
        }
        ReportKind::ActorActivity => {
            q.insert("report".into(), json!("actor-activity"));
            q.insert("actor".into(), json!(subject));
            None
        }
    };
    if let Some(n) = tree_size {
        q.insert("tree_size".into(), json!(n));
    }
    view.record(&mut q);
    let justification = view.justification.as_deref();
    let on = match kind {
        ReportKind::PatientAccess => recall_query::ReportKind::PatientAccess(subject),
        ReportKind::ActorActivity => recall_query::ReportKind::ActorActivity(subject),
    };
    let audited = |q| {
        let what = UseKind::Report;
        audit(db, tenant, what, "recall report", patient, q, justification)
    };
    if pdf {
        return report_pdf(db, &lens, (tenant, on, range), q, audited, out);
    }
    audited(q)?;
    let format = if format == "csv" {
        ReportFormat::Csv
    } else {
        ReportFormat::Json
    };
    db.report_at(tenant, on, range, format, &lens, tree_size, out)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    out.flush()?;
    Ok(())
}

/// The PDF form: read at a checkpoint signed now, digest recorded in the audit event
/// before the document is written (the server's order, `routes/report_pdf.rs`).
fn report_pdf(
    db: &Db,
    lens: &Lens,
    (tenant, on, range): (&str, recall_query::ReportKind<'_>, TimeRange),
    mut q: Map<String, Value>,
    audited: impl FnOnce(Map<String, Value>) -> anyhow::Result<()>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let note = db.journal().checkpoint(tenant)?;
    let size = db.journal().parse_checkpoint(&note)?.size;
    let report = db
        .prepare_pdf(tenant, on, range, lens, size)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    q.insert("sha256".into(), json!(report.sha256_hex()));
    q.insert("tree_size".into(), json!(report.tree_size()));
    audited(q)?;
    let by = format!("{} (recall report)", operator::current().id);
    let issued = recall_query::Issued {
        at: Timestamp::now(),
        by: &by,
        checkpoint: &note,
    };
    db.write_pdf(&report, &issued, lens, out)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    out.flush()?;
    eprintln!(
        "sha256 {} at tree size {}",
        report.sha256_hex(),
        report.tree_size()
    );
    Ok(())
}

/// Appends (durably) and indexes the audit event of a CLI use of the log.
pub(crate) fn audit(
    db: &Db,
    tenant: &str,
    kind: UseKind,
    command: &str,
    patient: Option<&str>,
    query: Map<String, Value>,
    justification: Option<&str>,
) -> anyhow::Result<()> {
    let act = Act::LogUsed {
        kind,
        patient,
        query,
        justification,
        refused: false,
    };
    let event = act.event(&operator::current(), &Via::cli(command), Timestamp::now())?;
    Direct::new(db)
        .record(tenant, event)
        .context("recording the audit event")?;
    Ok(())
}

/// `recall report` flags.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Which report.
    kind: ReportName,
    /// `signoff` (access-review only): record a sign-off instead of printing the review.
    step: Option<ReviewStep>,
    /// Who reviewed (signoff).
    #[arg(long, required_if_eq("step", "signoff"))]
    reviewer: Option<String>,
    /// SHA-256 of the JSON review that was reviewed (signoff).
    #[arg(long, required_if_eq("step", "signoff"))]
    sha256: Option<String>,
    /// Tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The patient (patient-access).
    #[arg(long, required_if_eq("kind", "patient-access"))]
    patient: Option<String>,
    /// The actor (actor-activity).
    #[arg(long, required_if_eq("kind", "actor-activity"))]
    actor: Option<String>,
    /// From this time (RFC 3339, inclusive).
    #[arg(long)]
    from: Option<Timestamp>,
    /// Until this time (RFC 3339, exclusive).
    #[arg(long)]
    to: Option<Timestamp>,
    /// Output format (pdf: a document for the patient, with an evidence page).
    #[arg(long, value_parser = ["json", "csv", "pdf"], default_value = "json")]
    format: String,
    /// Read a json or csv report at this tree size: re-checks a PDF's digest.
    #[arg(long)]
    tree_size: Option<u64>,
    /// Whose view.
    #[command(flatten)]
    view: ViewArgs,
}

/// `recall search`: prints the matching events, then how many on standard error.
pub fn run_search(data: &std::path::Path, args: &SearchArgs) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    let policy = dir.config.disclosure()?;
    let n = search(&db, &policy, args, &mut std::io::stdout().lock())?;
    eprintln!("{n} events");
    Ok(())
}

/// `recall report`: writes the report to standard output.
pub fn run_report(data: &std::path::Path, args: ReportArgs) -> anyhow::Result<()> {
    if args.step.is_some() && args.kind != ReportName::AccessReview {
        anyhow::bail!("signoff: only for access-review");
    }
    let (kind, subject) = match args.kind {
        ReportName::PatientAccess => (ReportKind::PatientAccess, args.patient),
        ReportName::ActorActivity => (ReportKind::ActorActivity, args.actor),
        ReportName::AccessReview => {
            let review = crate::review_cli::ReviewArgs {
                signoff: args.step.map(|_| {
                    let (r, s) = (args.reviewer, args.sha256);
                    (r.unwrap_or_default(), s.unwrap_or_default())
                }),
                tenant: args.tenant,
                from: args.from,
                to: args.to,
                form: match args.format.as_str() {
                    "csv" => Form::Csv,
                    "pdf" => Form::Pdf,
                    _ => Form::Json,
                },
            };
            return crate::review_cli::run(data, review, &args.view);
        }
    };
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    let subject = subject.context("give --patient or --actor")?;
    let request = ReportRequest {
        tenant: &args.tenant,
        kind,
        subject: &subject,
        range: TimeRange {
            from: args.from,
            to: args.to,
        },
        format: &args.format,
        tree_size: args.tree_size,
        view: &args.view,
    };
    report(
        &db,
        &dir.config.disclosure()?,
        &request,
        &mut std::io::BufWriter::new(std::io::stdout().lock()),
    )
}

/// `recall reindex`: drops and rebuilds every index from the logs, and records it in
/// every tenant's log.
pub fn run_reindex(data: &std::path::Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let n = {
        let dir = crate::datadir::DataDir::open(data, false)?;
        let db = Db::open(dir.journal.clone(), &dir.path.join(crate::datadir::INDEX))?;
        db.reindex()?
    };
    let act = Act::Reindexed { events: n };
    crate::operator_cli::record_everywhere(data, "recall reindex", &act)?;
    eprintln!(
        "reindexed {n} events in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
