//! `recall export`: a tenant's events in log order after a cursor, in native NDJSON,
//! OCSF or CSV, streamed to standard output or a file — the same code as `GET /v1/export`
//! (recall-query's `Db::export`), audited the same way: one event naming the filters and
//! the range is appended before the first record is written. A progress bar on standard
//! error shows the seqs walked when it is a terminal.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use recall_governance::UseKind;
use recall_query::{Db, Export, ExportFormat, ExportParams, Policy};

use crate::query_cli::{FilterArgs, ViewArgs, audit, check_tenant};

/// `recall export` flags.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Filters.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Output format.
    #[arg(long, value_parser = ExportFormat::NAMES, default_value = "native")]
    pub format: String,
    /// Resume after this seq (the last `seq` already exported).
    #[arg(long)]
    pub after: Option<u64>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Whose view.
    #[command(flatten)]
    pub view: ViewArgs,
}

impl ExportArgs {
    /// The flags as the API's parameters: one builder checks both.
    fn params(&self) -> ExportParams {
        ExportParams {
            filter: self.filters.params(),
            after: self.after.map(|a| a.to_string()),
            format: Some(self.format.clone()),
        }
    }
}

/// Exports to `out`; returns the cursor to resume from (`None`: the log is empty).
pub fn export(
    db: &Db,
    policy: &Policy,
    args: &ExportArgs,
    out: &mut dyn Write,
) -> anyhow::Result<Option<u64>> {
    let tenant = &args.filters.tenant;
    check_tenant(db, tenant)?;
    if args.view.view == "patient" && args.filters.patient.is_none() {
        anyhow::bail!("--as patient: give --patient");
    }
    let lens = args.view.lens(db, tenant, policy)?;
    let params = args.params();
    let checked = params.checked(&lens).map_err(|e| anyhow::anyhow!("{e}"))?;
    let horizon = db.journal().store().size(tenant)?;
    let mut recorded = params.recorded(&lens, horizon);
    args.view.record(&mut recorded);
    let patient = params.recorded_patient(&lens);
    let justification = args.view.justification.as_deref();
    let command = "recall export";
    audit(
        db,
        tenant,
        UseKind::Export,
        command,
        patient,
        recorded,
        justification,
    )?;
    let bar = progress_bar(checked.after.map_or(0, |a| a + 1), horizon);
    let x = Export {
        tenant,
        filter: &checked.filter,
        after: checked.after,
        horizon,
        format: checked.format,
        lens: &lens,
    };
    let stats = db
        .export(&x, out, &mut |seq| bar.set_position(seq))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    if stats.unreadable > 0 {
        eprintln!(
            "{} events passed over: their month's keys are destroyed",
            stats.unreadable
        );
    }
    eprintln!("{} events", stats.events);
    Ok(recall_query::cursor_after(checked.after, horizon))
}

/// A bar over the seqs to walk; hidden when standard error is not a terminal.
fn progress_bar(from: u64, horizon: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(horizon);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seqs ({per_sec}) {elapsed}")
    {
        bar.set_style(style);
    }
    bar.set_position(from);
    bar
}

/// `recall export`: writes the export, then the cursor to resume from on standard error.
pub fn run(data: &Path, args: ExportArgs) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    let policy = dir.config.disclosure()?;
    let cursor = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            let cursor = export(&db, &policy, &args, &mut out)?;
            out.into_inner()?.sync_all()?;
            cursor
        }
        None => export(
            &db,
            &policy,
            &args,
            &mut BufWriter::new(std::io::stdout().lock()),
        )?,
    };
    if let Some(c) = cursor {
        eprintln!("cursor {c} (resume with --after {c})");
    }
    Ok(())
}
