//! `recall import`: NDJSON of native events into one tenant's log.
//!
//! Pipeline: the caller's thread reads batches of lines; worker threads parse and
//! validate them, learn their first seq from the batch before (a chain of channels, so
//! seqs follow input order even with `--skip-invalid`), and prepare them (canonical
//! form, commitments, compression, encryption); the caller's thread commits prepared
//! batches in order, one durable write each. A batch holding an invalid line is never
//! written unless invalid lines are skipped.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use recall_model::{Event, parse_client_event};
use recall_store::retention::Retention;
use recall_store::{Journal, SealedBatch};

/// How an import runs.
pub struct ImportOptions {
    /// Target tenant.
    pub tenant: String,
    /// Lines per batch.
    pub batch_events: usize,
    /// Skip invalid lines, writing them with their reasons here (instead of stopping).
    pub rejects: Option<Box<dyn Write + Send>>,
    /// Called after each durable batch with `(first_seq, count)`.
    pub on_commit: Option<Box<dyn FnMut(u64, u64)>>,
    /// Worker threads (0 = one per core).
    pub workers: usize,
    /// Events past this retention policy (the tenant's or their action's period) are
    /// refused: they would be shredded at once.
    pub retention: Option<Retention>,
}

/// What every line is held to.
#[derive(Clone, Copy)]
struct Rules<'a> {
    /// Skip invalid lines instead of stopping.
    skip: bool,
    /// The credential appending the events: `import:<operator>`.
    appended_by: &'a str,
    /// Retention periods events must be within.
    retention: Option<&'a Retention>,
}

/// An invalid line that stopped the import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct InvalidLine {
    /// 1-based line number in the input.
    pub line: u64,
    /// The validation error (names the field and rule, never the value).
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Events written.
    pub imported: u64,
    /// Lines skipped as invalid (with `rejects`).
    pub rejected: u64,
    /// Log size afterwards.
    pub log_size: u64,
    /// Set when an invalid line stopped the import (earlier batches are written).
    pub stopped_at: Option<InvalidLine>,
}

/// Input buffers handed back by workers once parsed: a fresh multi-MiB buffer per batch
/// costs page faults (seen in profiles).
type Pool = Mutex<Vec<Vec<u8>>>;

struct Job {
    number: u64,
    first_line: u64,
    text: Vec<u8>,
    lines: Vec<(usize, usize)>,
    base: Receiver<Option<u64>>,
    next_base: SyncSender<Option<u64>>,
}

enum Outcome {
    Prepared {
        batch: Option<SealedBatch>,
        rejects: Vec<(InvalidLine, String)>,
    },
    Invalid(InvalidLine),
    Failed(anyhow::Error),
}

/// Imports NDJSON from `input` into `journal`.
pub fn import(
    journal: &Journal,
    input: &mut (dyn BufRead + Send),
    mut opts: ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let tenant = opts.tenant.clone();
    journal.open_tenant(&tenant)?;
    let start_size = journal.store().size(&tenant)?;
    let workers = if opts.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.workers
    };
    // Taken out of `opts`, which the commit loop borrows mutably.
    let retention = opts.retention.take();
    let appended_by = recall_model::appended_by_import(&recall_governance::operator::name());
    let rules = Rules {
        skip: opts.rejects.is_some(),
        appended_by: &appended_by,
        retention: retention.as_ref(),
    };
    let stop = AtomicBool::new(false);
    let pool: Pool = Mutex::new(Vec::new());
    let mut summary = ImportSummary {
        imported: 0,
        rejected: 0,
        log_size: start_size,
        stopped_at: None,
    };
    std::thread::scope(|s| -> anyhow::Result<()> {
        let (job_tx, job_rx) = sync_channel::<Job>(workers);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (out_tx, out_rx) = sync_channel::<(u64, Outcome)>(workers * 2);
        for _ in 0..workers {
            let (rx, tx, tenant, stop, pool) = (
                job_rx.clone(),
                out_tx.clone(),
                tenant.as_str(),
                &stop,
                &pool,
            );
            s.spawn(move || {
                while let Some(job) = rx.lock().ok().and_then(|r| r.recv().ok()) {
                    let number = job.number;
                    let outcome = run_job(journal, tenant, job, rules, stop, pool);
                    if tx.send((number, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(out_tx);
        let (reader_stop, reader_pool) = (&stop, &pool);
        let batch_events = opts.batch_events;
        let reader = s.spawn(move || {
            read_jobs(
                input,
                batch_events,
                start_size,
                job_tx,
                reader_stop,
                reader_pool,
            )
        });
        let committed = commit_in_order(journal, &tenant, out_rx, &mut opts, &mut summary, &stop);
        stop.store(true, Ordering::SeqCst);
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("input reader panicked"))?;
        committed?;
        read
    })?;
    summary.log_size = journal.store().size(&tenant)?;
    Ok(summary)
}

fn read_jobs(
    input: &mut (dyn BufRead + Send),
    batch_events: usize,
    start_size: u64,
    jobs: SyncSender<Job>,
    stop: &AtomicBool,
    pool: &Pool,
) -> anyhow::Result<()> {
    let (first_tx, mut base_rx) = sync_channel(1);
    first_tx.send(Some(start_size)).ok();
    let mut line_no = 0u64;
    for number in 0.. {
        let mut text = pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        text.clear();
        let mut lines = Vec::with_capacity(batch_events);
        let first_line = line_no + 1;
        while lines.len() < batch_events {
            let start = text.len();
            if input
                .read_until(b'\n', &mut text)
                .context("reading the input")?
                == 0
            {
                break;
            }
            line_no += 1;
            lines.push((start, text.len()));
        }
        if lines.is_empty() || stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (next_tx, next_rx) = sync_channel(1);
        let job = Job {
            number,
            first_line,
            text,
            lines,
            base: base_rx,
            next_base: next_tx,
        };
        if jobs.send(job).is_err() {
            return Ok(());
        }
        base_rx = next_rx;
    }
    Ok(())
}

fn run_job(
    journal: &Journal,
    tenant: &str,
    job: Job,
    rules: Rules<'_>,
    stop: &AtomicBool,
    pool: &Pool,
) -> Outcome {
    let Job {
        number: _,
        first_line,
        text,
        lines,
        base,
        next_base,
    } = job;
    let outcome = parse_and_prepare(
        journal,
        tenant,
        first_line,
        &text,
        &lines,
        (base, next_base),
        rules,
        stop,
    );
    if let Ok(mut p) = pool.lock() {
        p.push(text);
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
fn parse_and_prepare(
    journal: &Journal,
    tenant: &str,
    first_line: u64,
    text: &[u8],
    lines: &[(usize, usize)],
    (base, next_base): (Receiver<Option<u64>>, SyncSender<Option<u64>>),
    rules: Rules<'_>,
    stop: &AtomicBool,
) -> Outcome {
    let now = Timestamp::now();
    let mut events: Vec<Event> = Vec::with_capacity(lines.len());
    let mut rejects = Vec::new();
    for (k, &(a, b)) in lines.iter().enumerate() {
        let line = trim_line(&text[a..b]);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = first_line + k as u64;
        match parse_client_event(line, now)
            .map_err(|e| e.to_string())
            .and_then(|e| check_tenant(e, tenant))
            .and_then(|e| check_retention(e, tenant, rules.retention, now))
        {
            Ok(e) => events.push(e),
            Err(reason) => {
                let invalid = InvalidLine {
                    line: line_no,
                    reason,
                };
                if !rules.skip {
                    let _ = base.recv();
                    let _ = next_base.send(None);
                    return Outcome::Invalid(invalid);
                }
                rejects.push((invalid, String::from_utf8_lossy(line).into_owned()));
            }
        }
    }
    let Ok(Some(base)) = base.recv() else {
        let _ = next_base.send(None);
        return Outcome::Prepared {
            batch: None,
            rejects,
        };
    };
    let _ = next_base.send(Some(base + events.len() as u64));
    if events.is_empty() || stop.load(Ordering::SeqCst) {
        return Outcome::Prepared {
            batch: None,
            rejects,
        };
    }
    let by = vec![rules.appended_by; events.len()];
    match journal.prepare(tenant, &events, &by, base, now) {
        Ok(batch) => Outcome::Prepared {
            batch: Some(batch),
            rejects,
        },
        Err(e) => Outcome::Failed(e.into()),
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn check_tenant(event: Event, tenant: &str) -> Result<Event, String> {
    match &event.tenant {
        Some(t) if t != tenant => Err("tenant: differs from the tenant being imported into".into()),
        _ => Ok(event),
    }
}

fn check_retention(
    event: Event,
    tenant: &str,
    retention: Option<&Retention>,
    now: Timestamp,
) -> Result<Event, String> {
    match retention {
        Some(r) if event.time < r.cutoff_for(tenant, &event.action, now) => Err(
            "time: older than the retention period of the tenant or action (it would be shredded at once)"
                .into(),
        ),
        _ => Ok(event),
    }
}

fn commit_in_order(
    journal: &Journal,
    tenant: &str,
    results: Receiver<(u64, Outcome)>,
    opts: &mut ImportOptions,
    summary: &mut ImportSummary,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut pending = BTreeMap::new();
    let mut want = 0u64;
    for (number, outcome) in results {
        pending.insert(number, outcome);
        while let Some(outcome) = pending.remove(&want) {
            want += 1;
            match outcome {
                Outcome::Prepared { batch, rejects } => {
                    if let Some(batch) = batch {
                        journal.commit(tenant, &batch)?;
                        let n = batch.commitments.len() as u64;
                        summary.imported += n;
                        if let Some(cb) = opts.on_commit.as_mut() {
                            cb(batch.first_seq, n);
                        }
                        journal.checkpoint_if_due(tenant, Duration::from_secs(1))?;
                    }
                    write_rejects(opts, summary, &rejects)?;
                }
                Outcome::Invalid(invalid) => {
                    stop.store(true, Ordering::SeqCst);
                    summary.stopped_at = Some(invalid);
                    return Ok(());
                }
                Outcome::Failed(e) => {
                    stop.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

fn write_rejects(
    opts: &mut ImportOptions,
    summary: &mut ImportSummary,
    rejects: &[(InvalidLine, String)],
) -> anyhow::Result<()> {
    if let Some(out) = opts.rejects.as_mut() {
        for (r, text) in rejects {
            // The reject file is the operator's own input back (it may hold PHI): it is
            // created 0600 and never logged.
            let line = serde_json::json!({"line": r.line, "error": r.reason, "input": text});
            writeln!(out, "{line}").context("writing the reject file")?;
        }
    }
    summary.rejected += rejects.len() as u64;
    Ok(())
}

/// Elapsed-time helper for the summary line.
pub fn rate(count: u64, since: Instant) -> f64 {
    count as f64 / since.elapsed().as_secs_f64().max(1e-9)
}
