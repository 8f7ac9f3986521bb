//! The `recall` binary: CLI verbs over the data directory.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use recall::datadir::{self, DataDir};
use recall::import::{ImportOptions, import, rate};
use recall::keys::{self, KeysCommand};
use recall::proofs;

// mimalloc keeps freed memory for reuse instead of returning large blocks to the kernel
// and faulting them in again: glibc's malloc spent ~10% of import time in page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// recall: a tamper-evident audit trail for protected health information.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Data directory.
    #[arg(
        long,
        global = true,
        env = "RECALL_DATA",
        default_value = "./recall-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: key-encryption key, keystore, checkpoint key, config.
    Init,
    /// Import NDJSON native events (FILE or - for standard input); durable on exit 0.
    Import {
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
    },
    /// Verify every log: bodies, tiles, checkpoints; exit 0 only if everything holds.
    Verify {
        /// Also prove that the log extends this checkpoint saved earlier (a signed note).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print the latest signed checkpoint (C2SP signed note) of a tenant's log.
    Checkpoint {
        /// The tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Serve the HTTP API (ingest, search, reports, transparency) until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (overrides server.listen; default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Load a synthetic hospital into an empty data directory and serve it on localhost.
    Demo {
        /// Synthetic events to load on the first run.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Address to listen on.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Search a tenant's events (NDJSON on standard output); audited like the API.
    Search(recall::query_cli::SearchArgs),
    /// A patient-access or actor-activity report; audited like the API.
    Report {
        /// Which report.
        kind: recall::query_cli::ReportKind,
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
        from: Option<jiff::Timestamp>,
        /// Until this time (RFC 3339, exclusive).
        #[arg(long)]
        to: Option<jiff::Timestamp>,
        /// Output format.
        #[arg(long, value_parser = ["json", "csv"], default_value = "json")]
        format: String,
        /// Whose view.
        #[command(flatten)]
        view: recall::query_cli::ViewArgs,
    },
    /// Drop and rebuild every index from the logs.
    Reindex,
    /// Legal holds: months holding events they cover are never shredded.
    #[command(subcommand)]
    Holds(recall::holds_cli::HoldsCommand),
    /// Retention: destroy the keys of months past the retention period (crypto-shredding).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Print an inclusion proof (--seq) or a consistency proof (--from-size).
    Proof {
        /// The tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Prove that this event is in the log.
        #[arg(
            long,
            conflicts_with = "from_size",
            required_unless_present = "from_size"
        )]
        seq: Option<u64>,
        /// Prove that the log extends its state at this size.
        #[arg(long)]
        from_size: Option<u64>,
    },
    /// Manage API keys (for services calling the HTTP API).
    #[command(subcommand)]
    Keys(KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init => {
            let made = datadir::init(&cli.data)?;
            println!("initialised {}", cli.data.display());
            println!("log origin: {}", made.origin);
            println!(
                "checkpoint verifier key (publish it; also in {}):",
                datadir::VKEY
            );
            println!("{}", made.vkey);
            println!(
                "keep {} safe: without it the data cannot be read",
                cli.data.join("kek.key").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            tenant,
            skip_invalid,
            reject_file,
            print_acks,
            batch_events,
            file,
        } => {
            recall_model::validate_tenant(&tenant)
                .map_err(|e| anyhow::anyhow!("--tenant: {}", e.message))?;
            let dir = DataDir::open(&cli.data, false)?;
            run_import(
                &dir,
                tenant,
                skip_invalid,
                reject_file,
                print_acks,
                batch_events,
                file,
            )
        }
        Command::Verify { checkpoint, tenant } => {
            let dir = DataDir::open(&cli.data, true)?;
            run_verify(&dir, checkpoint, tenant)
        }
        Command::Checkpoint { tenant } => {
            let dir = DataDir::open(&cli.data, false)?;
            print!("{}", dir.journal.checkpoint(&tenant)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => {
            let dir = DataDir::open(&cli.data, false)?;
            let db = recall::serve::open_db(&dir)?;
            recall::serve::serve(dir, db, listen, |addr| {
                eprintln!("recall listening on {addr}");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { events, listen } => {
            recall::demo::run(&cli.data, events, listen)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Search(args) => {
            let dir = DataDir::open(&cli.data, false)?;
            let db = recall::serve::open_db(&dir)?;
            let policy = dir.config.disclosure()?;
            let n = recall::query_cli::search(&db, &policy, &args, &mut std::io::stdout().lock())?;
            eprintln!("{n} events");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            kind,
            tenant,
            patient,
            actor,
            from,
            to,
            format,
            view,
        } => {
            let dir = DataDir::open(&cli.data, false)?;
            let db = recall::serve::open_db(&dir)?;
            let subject = match kind {
                recall::query_cli::ReportKind::PatientAccess => patient,
                recall::query_cli::ReportKind::ActorActivity => actor,
            }
            .context("give --patient or --actor")?;
            let request = recall::query_cli::ReportRequest {
                tenant: &tenant,
                kind,
                subject: &subject,
                range: recall_query::TimeRange { from, to },
                csv: format == "csv",
                view: &view,
            };
            recall::query_cli::report(
                &db,
                &dir.config.disclosure()?,
                &request,
                &mut std::io::BufWriter::new(std::io::stdout().lock()),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reindex => {
            let dir = DataDir::open(&cli.data, false)?;
            let started = Instant::now();
            let db = recall_query::Db::open(dir.journal.clone(), &dir.path.join(datadir::INDEX))?;
            let n = db.reindex()?;
            drop(db);
            drop(dir);
            let act = recall_governance::Act::Reindexed { events: n };
            recall::operator_cli::record_everywhere(&cli.data, "recall reindex", &act)?;
            eprintln!(
                "reindexed {n} events in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Proof {
            tenant,
            seq,
            from_size,
        } => {
            let dir = DataDir::open(&cli.data, false)?;
            let text = match (seq, from_size) {
                (Some(seq), _) => proofs::inclusion(&dir.journal, &tenant, seq)?,
                (None, Some(old)) => proofs::consistency(&dir.journal, &tenant, old)?,
                (None, None) => anyhow::bail!("give --seq or --from-size"),
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(cmd) => {
            keys::run(&cli.data, cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Holds(cmd) => {
            let dir = DataDir::open(&cli.data, false)?;
            let db = recall::serve::open_db(&dir)?;
            recall::holds_cli::run(&dir.path, &db, cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention(RetentionCommand::Run { tenant, dry_run }) => {
            let dir = DataDir::open(&cli.data, false)?;
            let db = recall::serve::open_db(&dir)?;
            let policy = dir.config.retention.policy();
            let now = jiff::Timestamp::now();
            let runs =
                recall::retention::run(&dir.path, &db, &policy, tenant.as_deref(), dry_run, now)?;
            for r in runs {
                let verb = if dry_run { "would shred" } else { "shredded" };
                let what = if r.epochs.is_empty() {
                    "nothing past retention".to_string()
                } else {
                    let list: Vec<String> = r.epochs.iter().map(u32::to_string).collect();
                    format!("{verb} epochs {}", list.join(", "))
                };
                println!(
                    "tenant {}: retention {} years (events before {}): {what}",
                    r.tenant, r.years, r.cutoff
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The `retention` verbs.
#[derive(Debug, clap::Subcommand)]
enum RetentionCommand {
    /// Record, then destroy, the keys of every month past its tenant's retention period
    /// (the server does this daily). Needs the data directory to itself.
    Run {
        /// Only this tenant (all when absent).
        #[arg(long)]
        tenant: Option<String>,
        /// Print what would be shredded; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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

fn run_import(
    dir: &DataDir,
    tenant: String,
    skip_invalid: bool,
    reject_file: Option<PathBuf>,
    print_acks: bool,
    batch_events: Option<usize>,
    file: PathBuf,
) -> anyhow::Result<ExitCode> {
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

fn run_verify(
    dir: &DataDir,
    checkpoint: Option<PathBuf>,
    tenant: Option<String>,
) -> anyhow::Result<ExitCode> {
    let saved = match &checkpoint {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let started = Instant::now();
    let report = recall_store::verify::verify(&dir.journal, tenant.as_deref(), saved.as_deref())?;
    let events: u64 = report.tenants.iter().map(|t| t.events).sum();
    for t in &report.tenants {
        let mut line = format!(
            "tenant {}: {} events, {} checkpoints checked",
            t.tenant, t.events, t.checkpoints
        );
        if t.saved_checkpoint_checked {
            line.push_str(", extends the saved checkpoint");
        }
        if let Some(at) = &t.torn_tail {
            line.push_str(&format!(
                ", unacknowledged torn tail at {at} (cut on next open)"
            ));
        }
        if t.tiles_behind > 0 {
            line.push_str(&format!(
                ", tiles of the last {} events not yet written (rebuilt on next open)",
                t.tiles_behind
            ));
        }
        println!("{line}");
        for r in &t.shredded {
            let (month, years) = recall_store::retention::split_key_epoch(r.epoch);
            let class = if years > 0 {
                format!(" (actions kept {years} years)")
            } else {
                String::new()
            };
            println!(
                "  epoch {month}{class}: {} events (seq {}..={}) shredded by policy at {}; leaves checked, bodies gone by design",
                r.events, r.first_seq, r.last_seq, r.at
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    match report.failure {
        None => {
            println!(
                "OK: verified {events} events in {} tenants in {secs:.2} s ({:.0} events/s)",
                report.tenants.len(),
                rate(events, started)
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(f) => {
            println!("FAILED: {f}");
            Ok(ExitCode::from(1))
        }
    }
}
