//! `recall-bench`: generate the synthetic hospital workload, or run recall against the
//! PostgreSQL peer on it and report ratios against the goals (docs/benchmarks.md).
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use recall_bench::compliance::{self, ComplianceOptions, TenantOptions};
use recall_bench::console::{self, ConsoleOptions};
use recall_bench::generator::{self, Config};
use recall_bench::interop::{self, InteropOptions};
use recall_bench::memory::{self, MemoryOptions};
use recall_bench::run::{self, RunOptions};
use recall_bench::serve::{self, ServeOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Benchmark harness for recall: synthetic hospital workload, PostgreSQL peer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write N native events (NDJSON) of the hospital shape.
    Generate {
        /// Number of events.
        #[arg(long)]
        events: u64,
        /// Seed; the same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file, or `-` for standard output.
        #[arg(long, default_value = "-")]
        out: String,
        /// Also write the same events as CSV rows for the peer's `audit_log` table.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Tenant written in the CSV `tenant` column.
        #[arg(long, default_value = "bench")]
        tenant: String,
        /// Print a summary of the workload's shape to standard error.
        #[arg(long)]
        stats: bool,
    },
    /// Measure recall (import, size, verify) and the PostgreSQL peer (COPY, size) on the same data.
    Run(RunArgs),
    /// Service measurements against the peer: HTTP batch ingest, single-event latency at a
    /// fixed rate, patient queries (typical, heavy), bytes per event with indexes.
    ServeBench(ServeArgs),
    /// The compliance workflows on one large tenant: access review, breach assessment,
    /// break-glass queue, patient PDF (docs/benchmarks.md "Compliance workflows").
    Compliance(ComplianceArgs),
    /// The console in headless chromium on one large tenant: the search page's first page
    /// and filter clicks, server time, page complete, page weight (docs/benchmarks.md
    /// "Console").
    Console(ConsoleArgs),
    /// Standard faces against native ones: FHIR Bundle and ATNA TLS ingest against
    /// native NDJSON ingest, and `GET /v1/export` throughput (docs/benchmarks.md).
    Interop(InteropArgs),
    /// The server's resident memory under rounds of patient searches and reports on one
    /// large tenant, against its budget (docs/design/service.md "Memory").
    Memory(MemoryArgs),
}

#[derive(clap::Args)]
struct InteropArgs {
    // `--events`: the events of each ingest phase (native, FHIR, ATNA); 0 runs the export
    // phase alone.
    #[command(flatten)]
    c: Common,
    /// Events in the log the export phase reads.
    #[arg(long, default_value_t = 1_000_000)]
    export_events: u64,
    /// Concurrent HTTP clients, and ATNA TLS connections.
    #[arg(long, default_value_t = 4)]
    clients: usize,
}

#[derive(clap::Args)]
struct ConsoleArgs {
    #[command(flatten)]
    t: TenantArgs,
    /// Clicks per filter kind (patient, actor, action, system).
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// Directory where `npm ci` installed playwright-core (default: crates/recall/tests/console).
    #[arg(long)]
    node_dir: Option<PathBuf>,
}

/// What every measuring command takes: the workload, the binary, the JSON copy.
#[derive(clap::Args)]
struct Workload {
    /// Number of events.
    #[arg(long)]
    events: u64,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The `recall` binary (default: target/release/recall in the workspace).
    #[arg(long)]
    recall: Option<PathBuf>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct TenantArgs {
    #[command(flatten)]
    w: Workload,
    /// Work directory; a tenant kept there by `--keep` is measured again without rebuilding.
    #[arg(long)]
    workdir: PathBuf,
    /// Keep the tenant, rosters, inputs and the peer's cluster afterwards.
    #[arg(long)]
    keep: bool,
    /// Skip the PostgreSQL peer.
    #[arg(long)]
    skip_peer: bool,
}

impl From<TenantArgs> for TenantOptions {
    fn from(t: TenantArgs) -> Self {
        TenantOptions {
            events: t.w.events,
            seed: t.w.seed,
            recall: t.w.recall,
            workdir: t.workdir,
            keep: t.keep,
            json: t.w.json,
            skip_peer: t.skip_peer,
        }
    }
}

#[derive(clap::Args)]
struct MemoryArgs {
    #[command(flatten)]
    t: TenantArgs,
    /// `server.cache_mb` of the server under test.
    #[arg(long, default_value_t = 64)]
    cache_mb: u64,
    /// Rounds of requests; RSS is reported after each.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Requests per round.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Run `recall reindex` before serving.
    #[arg(long)]
    reindex: bool,
}

#[derive(clap::Args)]
struct ComplianceArgs {
    #[command(flatten)]
    t: TenantArgs,
    /// Measured requests per workflow and side (the PDF: a third as many).
    #[arg(long, default_value_t = 30)]
    repeats: usize,
}

#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    w: Workload,
    /// Directory for the inputs, recall's data dirs and the peer's cluster (default: a temp dir).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Keep the work directory afterwards.
    #[arg(long)]
    keep: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    c: Common,
    /// Events per NDJSON body of the ingest phase.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent clients of the ingest phase.
    #[arg(long, default_value_t = 4)]
    ingest_clients: usize,
    /// Single-event requests per second (open loop).
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Length of the single-event phase, seconds.
    #[arg(long, default_value_t = 10.0)]
    latency_secs: f64,
    /// Sender threads of the single-event phase.
    #[arg(long, default_value_t = 16)]
    latency_threads: usize,
    /// Measured queries per patient class and side.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Skip the PostgreSQL peer.
    #[arg(long)]
    skip_peer: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    c: Common,
    /// Skip the recall side.
    #[arg(long)]
    skip_recall: bool,
    /// Skip the PostgreSQL peer.
    #[arg(long)]
    skip_peer: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate {
            events,
            seed,
            out,
            csv,
            tenant,
            stats,
        } => generate(Config::hospital(events, seed), &out, csv, &tenant, stats),
        Command::Run(a) => {
            let opts = RunOptions {
                events: a.c.w.events,
                seed: a.c.w.seed,
                recall: a.c.w.recall,
                workdir: a.c.workdir,
                keep: a.c.keep,
                json: a.c.w.json,
                skip_recall: a.skip_recall,
                skip_peer: a.skip_peer,
            };
            run::run(&opts).map(|_| ())
        }
        Command::ServeBench(a) => serve::serve_bench(&ServeOptions {
            events: a.c.w.events,
            seed: a.c.w.seed,
            recall: a.c.w.recall,
            workdir: a.c.workdir,
            keep: a.c.keep,
            json: a.c.w.json,
            batch: a.batch,
            ingest_clients: a.ingest_clients,
            rate: a.rate,
            latency_secs: a.latency_secs,
            latency_threads: a.latency_threads,
            queries: a.queries,
            skip_peer: a.skip_peer,
        })
        .map(|_| ()),
        Command::Interop(a) => interop::interop(&InteropOptions {
            events: a.c.w.events,
            export_events: a.export_events,
            seed: a.c.w.seed,
            recall: a.c.w.recall,
            workdir: a.c.workdir,
            keep: a.c.keep,
            json: a.c.w.json,
            clients: a.clients,
        })
        .map(|_| ()),
        Command::Compliance(a) => compliance::compliance(&ComplianceOptions {
            tenant: a.t.into(),
            repeats: a.repeats,
        })
        .map(|_| ()),
        Command::Memory(a) => memory::memory(&MemoryOptions {
            tenant: a.t.into(),
            cache_mb: a.cache_mb,
            rounds: a.rounds,
            requests: a.requests,
            clients: a.clients,
            reindex: a.reindex,
        })
        .map(|_| ()),
        Command::Console(a) => console::console(&ConsoleOptions {
            tenant: a.t.into(),
            samples: a.samples,
            node_dir: a.node_dir,
        })
        .map(|_| ()),
    }
}

fn generate(cfg: Config, out: &str, csv: Option<PathBuf>, tenant: &str, stats: bool) -> Result<()> {
    let started = Instant::now();
    let mut json: Box<dyn Write> = if out == "-" {
        Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock()))
    } else {
        Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(out).with_context(|| format!("create {out}"))?,
        ))
    };
    let mut csv_file = match &csv {
        Some(p) => Some(BufWriter::with_capacity(
            1 << 20,
            File::create(p).with_context(|| format!("create {}", p.display()))?,
        )),
        None => None,
    };
    let written =
        match generator::write_workload(cfg, &mut json, csv_file.as_mut().map(|c| (c, tenant)))
            .and_then(|w| json.flush().map(|()| w))
        {
            Ok(w) => w,
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
        };
    if let Some(c) = csv_file.as_mut() {
        c.flush()?;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "generated {} events ({:.0} bytes/event NDJSON) in {:.2} s, {:.0} events/s",
        written.events,
        written.json_bytes as f64 / written.events.max(1) as f64,
        secs,
        written.events as f64 / secs
    );
    if stats {
        eprintln!("{}", generator::Shape::measure(cfg));
    }
    Ok(())
}
