//! `recall-bench memory`: the server's resident memory under a privacy officer's reading
//! of a large tenant (issue 15 #1, docs/design/service.md "Memory").
//!
//! Builds (or reuses, with `--keep`) a tenant of the hospital workload, serves it with a
//! chosen `server.cache_mb`, and sends rounds of requests from several clients: searches
//! of distinct patients (`GET /v1/events?patient=…&limit=10`), every 51st a
//! patient-access report as CSV. After each round it prints the server's RSS and peak
//! RSS (`VmHWM`) against the documented budget. Every request also appends its own audit
//! record, so each round grows the log and the index by as many events.

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::compliance::{Paths, TenantOptions, ensure_tenant, remove_tenant};
use crate::generator::{Config, Event, Generator};
use crate::recall_cli;
use crate::serve::{Server, client, new_key, recall};

/// Every `REPORT_EVERY`th request is a report (as in the suite's soak test).
const REPORT_EVERY: u64 = 51;

/// What to run.
pub struct MemoryOptions {
    /// The tenant.
    pub tenant: TenantOptions,
    /// `server.cache_mb` of the server under test.
    pub cache_mb: u64,
    /// Rounds of requests.
    pub rounds: usize,
    /// Requests per round.
    pub requests: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Run `recall reindex` before serving (measures the compactions of a fresh index).
    pub reindex: bool,
}

/// Resident memory of the server at one moment, MiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    /// `VmRSS`.
    pub rss_mb: u64,
    /// `VmHWM`: the peak so far.
    pub hwm_mb: u64,
}

/// One round of requests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Round {
    /// Requests sent in the round.
    pub requests: u64,
    /// Wall-clock seconds of the round.
    pub secs: f64,
    /// Answers other than 200.
    pub errors: u64,
    /// After the round.
    pub after: Rss,
    /// Highest RSS sampled during the round (every 100 ms).
    pub max_rss_mb: u64,
}

/// The figures of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryReport {
    /// Events of the tenant as built (each round adds its own audit records).
    pub events: u64,
    /// `server.cache_mb` of the server.
    pub cache_mb: u64,
    /// Whether the index was rebuilt before serving.
    pub reindexed: bool,
    /// Once the server answered.
    pub start: Rss,
    /// One per round.
    pub rounds: Vec<Round>,
}

/// Runs the memory benchmark; prints a line per round and returns the figures.
pub fn memory(opts: &MemoryOptions) -> Result<MemoryReport> {
    if opts.tenant.events == 0 || opts.requests == 0 || opts.clients == 0 {
        bail!("--events, --requests and --clients must be at least 1");
    }
    let bin = recall_cli::locate(opts.tenant.recall.as_deref())?;
    fs::create_dir_all(&opts.tenant.workdir)?;
    let p = Paths::new(&opts.tenant.workdir.canonicalize()?);
    let cfg = Config::hospital(opts.tenant.events, opts.tenant.seed);
    ensure_tenant(&bin, &p, cfg, false, false)?;
    let patients = patients(cfg);
    if opts.reindex {
        eprintln!("recall: reindex");
        recall(&bin, &p.data, &["reindex"])?;
    }
    let key = new_key(&bin, &p.data, &["--role", "privacy_officer"])?;
    let cache = opts.cache_mb.to_string();
    let (server, _) = Server::start_with(&bin, &p.data, &[("RECALL_SERVER_CACHE_MB", &cache)])?;
    let mut rep = MemoryReport {
        events: opts.tenant.events,
        cache_mb: opts.cache_mb,
        reindexed: opts.reindex,
        start: rss(server.pid())?,
        ..Default::default()
    };
    eprintln!(
        "start: RSS {} MiB (peak {})",
        rep.start.rss_mb, rep.start.hwm_mb
    );
    for r in 0..opts.rounds {
        let first = r as u64 * opts.requests;
        let round = round(&server, &key, &patients, first, opts)?;
        eprintln!(
            "round {}: {} requests in {:.0} s, {} errors; RSS {} MiB (max {} during it), peak {}",
            r + 1,
            round.requests,
            round.secs,
            round.errors,
            round.after.rss_mb,
            round.max_rss_mb,
            round.after.hwm_mb
        );
        rep.rounds.push(round);
    }
    server.stop()?;
    if let Some(path) = &opts.tenant.json {
        crate::report::write_json(path, &rep)?;
    }
    if !opts.tenant.keep {
        remove_tenant(&p);
    }
    Ok(rep)
}

/// The workload's distinct patients, in order of first appearance.
fn patients(cfg: Config) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut g = Generator::new(cfg);
    let mut ev = Event::default();
    while g.next_into(&mut ev) {
        if !ev.patient_id.is_empty() && seen.insert(ev.patient_id.clone()) {
            out.push(ev.patient_id.clone());
        }
    }
    out
}

/// Requests `first..first + requests` from `clients` threads; request `i` reads patient
/// `i × 104,729` (a prime) modulo their number, so consecutive requests read far-apart
/// patients.
fn round(
    server: &Server,
    key: &str,
    patients: &[String],
    first: u64,
    opts: &MemoryOptions,
) -> Result<Round> {
    let next = AtomicU64::new(first);
    let end = first + opts.requests;
    let (errors, max_rss) = (AtomicU64::new(0), AtomicU64::new(0));
    let pid = server.pid();
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let sampler = s.spawn(|| {
            while next.load(Ordering::Acquire) < end {
                if let Ok(r) = rss(pid) {
                    max_rss.fetch_max(r.rss_mb, Ordering::AcqRel);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let clients: Vec<_> = (0..opts.clients)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let http = client()?;
                    loop {
                        let i = next.fetch_add(1, Ordering::AcqRel);
                        if i >= end {
                            return Ok(());
                        }
                        let patient =
                            &patients[(i.wrapping_mul(104_729) % patients.len() as u64) as usize];
                        let req = if i.is_multiple_of(REPORT_EVERY) {
                            http.get(format!("{}/v1/reports/patient-access", server.url))
                                .query(&[("patient", patient.as_str()), ("format", "csv")])
                        } else {
                            http.get(format!("{}/v1/events", server.url))
                                .query(&[("patient", patient.as_str()), ("limit", "10")])
                        };
                        let answer = req.bearer_auth(key).send()?;
                        if !answer.status().is_success() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        answer.bytes()?;
                    }
                })
            })
            .collect();
        for c in clients {
            c.join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        }
        sampler
            .join()
            .map_err(|_| anyhow::anyhow!("the sampler panicked"))?;
        Ok(())
    })?;
    let after = rss(pid)?;
    Ok(Round {
        requests: opts.requests,
        secs: started.elapsed().as_secs_f64(),
        errors: errors.into_inner(),
        max_rss_mb: max_rss.into_inner().max(after.rss_mb),
        after,
    })
}

/// `VmRSS` and `VmHWM` of process `pid`, MiB.
pub fn rss(pid: u32) -> Result<Rss> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(kb / 1024)
    };
    Ok(Rss {
        rss_mb: field("VmRSS:")?,
        hwm_mb: field("VmHWM:")?,
    })
}
