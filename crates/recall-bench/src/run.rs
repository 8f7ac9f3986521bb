//! `recall-bench run`: one workload, both sides, one report.

use std::fs::{self, File};
use std::io::BufWriter;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::generator::{self, Config};
use crate::report::Report;
use crate::{peer, recall_cli};

/// The tenant recall imports into (also the CSV `tenant` column).
pub const TENANT: &str = "bench";

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Events in the workload.
    pub events: u64,
    /// Workload seed.
    pub seed: u64,
    /// The `recall` binary (default: located by [`recall_cli::locate`]).
    pub recall: Option<PathBuf>,
    /// Work directory (default: a fresh temp dir).
    pub workdir: Option<PathBuf>,
    /// Keep the work directory afterwards.
    pub keep: bool,
    /// Write the report as JSON here too.
    pub json: Option<PathBuf>,
    /// Do not run the recall side.
    pub skip_recall: bool,
    /// Do not run the peer.
    pub skip_peer: bool,
}

/// Flushes dirty pages system-wide so one phase's writeback does not bill the next.
pub fn sync_all() {
    let _ = Command::new("sync").status();
}

/// Makes `path` readable (and, for directories, traversable) by other users.
fn open_up(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Runs the benchmark; prints the table and returns the report. Fails if a side that was
/// asked for could not be measured (after printing what was).
pub fn run(opts: &RunOptions) -> Result<Report> {
    if opts.events == 0 {
        bail!("--events must be at least 1");
    }
    let (workdir, temp) = match &opts.workdir {
        Some(d) => {
            fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
            (d.canonicalize()?, None)
        }
        None => {
            let t = tempfile::Builder::new().prefix("recall-bench-").tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    if temp.is_some() {
        // The peer's server runs as `postgres` and must reach its cluster dir and the CSV.
        open_up(&workdir, 0o755)?;
    }
    let (ndjson, csv) = (workdir.join("events.ndjson"), workdir.join("events.csv"));
    let (recall_data, pg_root) = (workdir.join("recall-data"), workdir.join("pg"));
    for p in [&recall_data, &pg_root] {
        if p.exists() {
            bail!(
                "{} exists (from a kept run?): remove it or choose another --workdir",
                p.display()
            );
        }
    }

    eprintln!(
        "generating {} events (seed {}) in {}",
        opts.events,
        opts.seed,
        workdir.display()
    );
    let started = Instant::now();
    let cfg = Config::hospital(opts.events, opts.seed);
    let (mut j, mut c) = (
        BufWriter::new(File::create(&ndjson)?),
        BufWriter::new(File::create(&csv)?),
    );
    let written = generator::write_workload(cfg, &mut j, Some((&mut c, TENANT)))?;
    for w in [j, c] {
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    let generate_secs = started.elapsed().as_secs_f64();
    open_up(&csv, 0o644)?;

    let mut report = Report {
        events: written.events,
        seed: opts.seed,
        ndjson_bytes: written.json_bytes,
        csv_bytes: written.csv_bytes,
        generate_secs,
        recall: None,
        recall_error: None,
        peer: None,
        peer_error: None,
        derived: Default::default(),
        goals: Vec::new(),
        notes: vec![
            "the OS page cache was not dropped: inputs were just written and may be cached for both sides".into(),
            "dirty pages are flushed (sync) before each timed phase; generation time is excluded".into(),
        ],
    };

    if opts.skip_recall {
        report.recall_error = Some("skipped (--skip-recall)".into());
    } else {
        sync_all();
        eprintln!("recall: init, import, verify");
        let r = recall_cli::locate(opts.recall.as_deref())
            .and_then(|bin| recall_cli::measure(&bin, &recall_data, &ndjson, TENANT));
        match r {
            Ok(f) => report.recall = Some(f),
            Err(e) => report.recall_error = Some(format!("{e:#}")),
        }
    }
    if opts.skip_peer {
        report.peer_error = Some("skipped (--skip-peer)".into());
    } else {
        sync_all();
        eprintln!("peer: PostgreSQL cluster, COPY, CHECKPOINT, sizes");
        let r = match peer::locate_bindir() {
            Some(bindir) => peer::measure(&bindir, &pg_root, &csv, opts.keep),
            None => Err(anyhow::anyhow!(
                "PostgreSQL server binaries not found (initdb, pg_ctl)"
            )),
        };
        match r {
            Ok(f) => {
                if f.rows != written.events {
                    report.peer_error = Some(format!(
                        "peer holds {} rows, expected {}",
                        f.rows, written.events
                    ));
                }
                report.peer = Some(f);
            }
            Err(e) => report.peer_error = Some(format!("{e:#}")),
        }
    }

    report.finish();
    println!("{report}");
    if let Some(path) = &opts.json {
        crate::report::write_json(path, &report)?;
    }
    crate::report::finish_workdir(temp, &workdir, opts.keep, &[&recall_data, &ndjson, &csv]);
    let failed: Vec<&str> = [
        ("recall", &report.recall_error, opts.skip_recall),
        ("peer", &report.peer_error, opts.skip_peer),
    ]
    .into_iter()
    .filter(|(_, e, skipped)| e.is_some() && !skipped)
    .map(|(s, _, _)| s)
    .collect();
    if !failed.is_empty() {
        bail!("not measured: {}", failed.join(", "));
    }
    Ok(report)
}
