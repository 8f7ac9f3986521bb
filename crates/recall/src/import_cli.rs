//! `recall import`: NDJSON native events into a tenant's log through the pipelined
//! importer (`import.rs`), with a reject file, progress and acknowledgements.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::datadir::DataDir;
use crate::import::{ImportOptions, import, rate};

/// `recall import` flags.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Tenant whose log receives the events.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Write invalid lines with their reasons to a reject file and go on.
    #[arg(long)]
    skip_invalid: bool,
    /// Reject file (with --skip-invalid); default: FILE.rejects.ndjson.
    #[arg(long)]
    reject_file: Option<PathBuf>,
    /// Print `ack <first_seq> <count>` after every durable batch.
    #[arg(long)]
    print_acks: bool,
    /// Events per batch (overrides import.batch_events).
    #[arg(long)]
    batch_events: Option<usize>,
    /// The NDJSON input.
    file: PathBuf,
}

/// Runs `recall import`; exit 1 when an invalid line stopped it.
pub fn run(data: &Path, args: ImportArgs) -> anyhow::Result<ExitCode> {
    recall_model::validate_tenant(&args.tenant)
        .map_err(|e| anyhow::anyhow!("--tenant: {}", e.message))?;
    let dir = DataDir::open(data, false)?;
    run_import(&dir, args)
}

fn open_reject_file(path: &PathBuf) -> anyhow::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the reject file {}", path.display()))
}

fn run_import(dir: &DataDir, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportArgs {
        tenant,
        skip_invalid,
        reject_file,
        print_acks,
        batch_events,
        file,
    } = args;
    let from_stdin = file.as_os_str() == "-";
    let mut input: Box<dyn BufRead + Send> = if from_stdin {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
    } else {
        let f = File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    let rejects: Option<Box<dyn Write + Send>> = if skip_invalid {
        let path = reject_file.unwrap_or_else(|| {
            let base = if from_stdin {
                PathBuf::from("stdin")
            } else {
                file.clone()
            };
            PathBuf::from(format!("{}.rejects.ndjson", base.display()))
        });
        Some(Box::new(std::io::BufWriter::new(open_reject_file(&path)?)))
    } else {
        None
    };
    let bar = progress_bar(if from_stdin {
        None
    } else {
        std::fs::metadata(&file).ok().map(|m| m.len())
    });
    let progress = bar.clone();
    let on_commit: Box<dyn FnMut(u64, u64)> = Box::new(move |first, n| {
        progress.inc(n);
        if print_acks {
            println!("ack {first} {n}");
            let _ = std::io::stdout().flush();
        }
    });
    let started = Instant::now();
    let opts = ImportOptions {
        tenant: tenant.clone(),
        batch_events: batch_events.unwrap_or(dir.config.import.batch_events),
        rejects,
        on_commit: Some(on_commit),
        workers: 0,
        retention: Some(dir.config.retention.policy()),
    };
    let summary = import(&dir.journal, &mut input, opts)?;
    bar.finish_and_clear();
    let note = dir.journal.checkpoint(&tenant)?;
    println!(
        "imported {} events into tenant {tenant} in {:.2} s ({:.0} events/s); log size {}{}",
        summary.imported,
        started.elapsed().as_secs_f64(),
        rate(summary.imported, started),
        summary.log_size,
        if summary.rejected > 0 {
            format!("; {} invalid lines skipped", summary.rejected)
        } else {
            String::new()
        }
    );
    print!("checkpoint:\n{note}");
    if let Some(invalid) = summary.stopped_at {
        eprintln!(
            "error: {invalid}; nothing of its batch was written (use --skip-invalid to go on past invalid lines)"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(_bytes: Option<u64>) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {pos} events ({per_sec}) {elapsed}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
