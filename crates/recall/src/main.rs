//! The `recall` binary: CLI verbs over the data directory.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use recall::{
    assessments_cli, datadir, demo, export_cli, holds_cli, import_cli, keys, proofs, query_cli,
    retention, review_cli, reviews_cli, serve, users_cli, verify_cli,
};

// mimalloc keeps freed memory for reuse instead of returning large blocks to the kernel
// and faulting them in again: glibc's malloc spent ~10% of import time in page faults.
#[cfg(feature = "mimalloc")]
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
    Import(import_cli::ImportArgs),
    /// Verify every log: bodies, tiles, checkpoints; exit 0 only if everything holds.
    Verify(verify_cli::VerifyArgs),
    /// Print the latest signed checkpoint (C2SP signed note) of a tenant's log.
    Checkpoint(proofs::CheckpointArgs),
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
    Search(query_cli::SearchArgs),
    /// Export events in log order after a cursor (native, ocsf or csv); audited like the API.
    Export(export_cli::ExportArgs),
    /// A patient-access or actor-activity report; audited like the API.
    Report(query_cli::ReportArgs),
    /// Drop and rebuild every index from the logs.
    Reindex,
    /// Legal holds: months holding events they cover are never shredded.
    #[command(subcommand)]
    Holds(holds_cli::HoldsCommand),
    /// Retention: destroy the keys of months past the retention period (crypto-shredding).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Review queues: break-glass accesses awaiting a privacy officer's review.
    #[command(subcommand)]
    Reviews(reviews_cli::ReviewsCommand),
    /// Print an inclusion proof (--seq) or a consistency proof (--from-size).
    Proof(proofs::ProofArgs),
    /// Rosters: the workforce (for the access review) and patients' states (breaches).
    #[command(subcommand)]
    Roster(review_cli::RosterCommand),
    /// Breach impact assessments: scope, affected patients, deadlines, the four factors.
    #[command(subcommand)]
    Assessments(assessments_cli::AssessmentsCommand),
    /// Console users: local sign-in with password and TOTP.
    #[command(subcommand)]
    Users(users_cli::UsersCommand),
    /// Manage API keys (for services calling the HTTP API).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
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

/// One `run` per verb, in the verb's own module.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data = &cli.data;
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Init => done(datadir::run_init(data)),
        Command::Import(args) => import_cli::run(data, args),
        Command::Verify(args) => verify_cli::run(data, args),
        Command::Checkpoint(args) => done(proofs::run_checkpoint(data, args)),
        Command::Serve { listen } => done(serve::run(data, listen)),
        Command::Demo { events, listen } => done(demo::run(data, events, listen)),
        Command::Search(args) => done(query_cli::run_search(data, &args)),
        Command::Export(args) => done(export_cli::run(data, args)),
        Command::Report(args) => done(query_cli::run_report(data, args)),
        Command::Reindex => done(query_cli::run_reindex(data)),
        Command::Proof(args) => done(proofs::run_proof(data, args)),
        Command::Keys(cmd) => done(keys::run(data, cmd)),
        Command::Users(cmd) => done(users_cli::run(data, cmd)),
        Command::Holds(cmd) => done(holds_cli::run_cli(data, cmd)),
        Command::Retention(cmd) => done(retention::run_cli(data, cmd)),
        Command::Reviews(cmd) => done(reviews_cli::run_cli(data, cmd)),
        Command::Roster(cmd) => done(review_cli::run_roster(data, cmd)),
        Command::Assessments(cmd) => done(assessments_cli::run_cli(data, cmd)),
    }
}
