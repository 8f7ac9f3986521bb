//! The writer thread: takes every job waiting (group commit), deduplicates client ids,
//! prepares batches in parallel and commits them in order.
//!
//! A tenant whose commit failed is blocked: its client jobs are refused with that failure
//! without touching the disk, and the pipeline reports itself not writable, until a probe
//! (once per checkpoint interval) finds that a client batch would fit again. recall's own
//! records are still tried, first in each group, on the store's reserve of space.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use jiff::Timestamp;
use rayon::prelude::*;
use recall_ledger::Hash;
use recall_model::Event;
use recall_query::Db;
use recall_store::{Reserve, SealedBatch};

use super::indexer::{IndexJob, Progress};
use super::{Failure, IngestConfig, IngestError, Job, Receipt, failure};

/// Events per prepared batch when a group is split for parallel preparation (a job is
/// never split: one job, one frame, so a crash keeps all of it or none).
const CHUNK_EVENTS: usize = 2048;
/// Fresh events in a group from which preparation is spread over rayon's threads.
const PARALLEL_EVENTS: u64 = 256;
/// Space a blocked tenant's log must find ahead (beyond the reserve) to take client
/// batches again: a few typical batches.
const PROBE_BYTES: u64 = 256 << 10;

/// Where an event's receipt comes from.
#[derive(Clone, Copy)]
enum Slot {
    /// The `i`th fresh event of this group.
    New(usize),
    /// Already in the log at this seq, with this leaf hash.
    Old(u64, Hash),
}

/// Ids committed but perhaps not yet indexed, per tenant, oldest first.
#[derive(Default)]
struct RecentIds {
    by_id: HashMap<String, u64>,
    order: VecDeque<(u64, String)>,
}

pub(super) struct Writer {
    db: Arc<Db>,
    progress: Arc<Progress>,
    index_tx: Option<mpsc::SyncSender<IndexJob>>,
    queued: Arc<AtomicUsize>,
    writable: Arc<AtomicBool>,
    /// Tenants whose last commit failed, with the failure their client jobs get.
    blocked: HashMap<String, Failure>,
    cfg: IngestConfig,
    opened: HashSet<String>,
    recent: HashMap<String, RecentIds>,
    unsigned: HashSet<String>,
    last_checkpoint: Instant,
}

impl Writer {
    pub(super) fn new(
        db: Arc<Db>,
        progress: Arc<Progress>,
        index_tx: mpsc::SyncSender<IndexJob>,
        queued: Arc<AtomicUsize>,
        writable: Arc<AtomicBool>,
        cfg: IngestConfig,
    ) -> Self {
        // Logs that grew while no server ran (an import, say) get a checkpoint soon.
        let unsigned = db
            .journal()
            .store()
            .tenants()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Self {
            db,
            progress,
            index_tx: Some(index_tx),
            queued,
            writable,
            blocked: HashMap::new(),
            cfg,
            opened: HashSet::new(),
            recent: HashMap::new(),
            unsigned,
            last_checkpoint: Instant::now(),
        }
    }

    pub(super) fn run(mut self, rx: mpsc::Receiver<Job>) {
        loop {
            match rx.recv_timeout(self.cfg.checkpoint_interval) {
                Ok(first) => {
                    let jobs = self.gather(first, &rx);
                    self.write_group(jobs);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if self.last_checkpoint.elapsed() >= self.cfg.checkpoint_interval {
                self.sign_checkpoints();
                self.probe();
            }
        }
        self.sign_checkpoints();
        // Closing the channel lets the indexer finish and exit.
        self.index_tx.take();
    }

    /// The first job and whatever else is waiting, up to the group limit.
    fn gather(&self, first: Job, rx: &mpsc::Receiver<Job>) -> Vec<Job> {
        let mut n = first.events.len();
        let mut jobs = vec![first];
        while n < self.cfg.group_events {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        self.queued.fetch_sub(n, Ordering::AcqRel);
        metrics::gauge!("recall_ingest_queue_events")
            .set(self.queued.load(Ordering::Acquire) as f64);
        metrics::histogram!("recall_ingest_group_events").record(n as f64);
        jobs
    }

    fn write_group(&mut self, jobs: Vec<Job>) {
        let mut by_tenant: Vec<(String, Vec<Job>)> = Vec::new();
        for job in jobs {
            match by_tenant.iter_mut().find(|(t, _)| *t == job.tenant) {
                Some((_, list)) => list.push(job),
                None => by_tenant.push((job.tenant.clone(), vec![job])),
            }
        }
        for (tenant, jobs) in by_tenant {
            self.write_tenant(&tenant, jobs);
        }
    }

    /// Appends one tenant's jobs and answers each of them.
    fn write_tenant(&mut self, tenant: &str, mut jobs: Vec<Job>) {
        if let Some(failure) = self.blocked.get(tenant) {
            let (refused, own): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|j| j.reserve == Reserve::Keep);
            for job in refused {
                let _ = job.reply.send(Err(IngestError::Storage(failure.clone())));
            }
            jobs = own;
            if jobs.is_empty() {
                return;
            }
        }
        // recall's own records first: a failed client batch fails every later one.
        jobs.sort_by_key(|j| j.reserve == Reserve::Keep);
        if let Err(e) = self.open_tenant(tenant) {
            return fail_all(jobs, &e);
        }
        let size = match self.db.journal().store().size(tenant) {
            Ok(s) => s,
            Err(e) => return fail_all(jobs, &failure(e)),
        };
        self.prune_recent(tenant);
        let indexed = match self.indexed_ids(tenant, &jobs) {
            Ok(found) => found,
            Err(e) => return fail_all(jobs, &e),
        };
        let mut replies = Vec::with_capacity(jobs.len());
        let mut plans = Vec::with_capacity(jobs.len());
        let mut fresh: Vec<(Arc<str>, Vec<Event>)> = Vec::with_capacity(jobs.len());
        let mut reserves = Vec::with_capacity(jobs.len());
        let mut seen: HashMap<String, Slot> = HashMap::new();
        let mut next_new = 0;
        for job in jobs {
            match self.plan_job(tenant, &job.events, &mut seen, &indexed, &fresh, next_new) {
                Ok((plan, is_new)) => {
                    let mine: Vec<Event> = job
                        .events
                        .into_iter()
                        .zip(is_new)
                        .filter(|(_, new)| *new)
                        .map(|(e, _)| e)
                        .collect();
                    next_new += mine.len();
                    replies.push(job.reply);
                    plans.push(plan);
                    fresh.push((job.by, mine));
                    reserves.push(job.reserve);
                }
                // All or nothing: a request with a conflicting id appends none of its events.
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
        let committed = self.commit_jobs(tenant, size, fresh, &reserves);
        for ((reply, plan), outcome) in replies.into_iter().zip(plans).zip(committed.per_job) {
            let result = outcome.map(|()| receipts(tenant, size, &plan, &committed.leaves));
            let _ = reply.send(result);
        }
    }

    /// Where each event of one request goes: a fresh slot, or the seq (or fresh slot) of
    /// the event already holding its id — which must have the same content, else the
    /// whole request is refused naming the event (`IngestError::Conflict`). `seen` learns
    /// this request's ids only when the request is accepted.
    fn plan_job(
        &self,
        tenant: &str,
        events: &[Event],
        seen: &mut HashMap<String, Slot>,
        indexed: &HashMap<String, u64>,
        fresh: &[(Arc<str>, Vec<Event>)],
        first_new: usize,
    ) -> Result<(Vec<Slot>, Vec<bool>), IngestError> {
        let mut plan = Vec::with_capacity(events.len());
        let mut is_new = Vec::with_capacity(events.len());
        let mut mine: HashMap<&str, usize> = HashMap::new();
        let mut next_new = first_new;
        for (index, event) in events.iter().enumerate() {
            let Some(id) = event.id.as_deref() else {
                plan.push(Slot::New(next_new));
                is_new.push(true);
                next_new += 1;
                continue;
            };
            let earlier = match mine.get(id) {
                Some(&k) => Some((plan[k], &events[k])),
                None => self
                    .find_id(tenant, id, seen, indexed)?
                    .map(|slot| (slot, event)),
            };
            match earlier {
                Some((slot, same_request)) => {
                    let original = match (slot, mine.contains_key(id)) {
                        (_, true) => Some(same_request.clone()),
                        (Slot::New(i), false) => fresh.iter().flat_map(|(_, e)| e).nth(i).cloned(),
                        (Slot::Old(seq, _), false) => self.stored_event(tenant, seq)?,
                    };
                    if original.is_some_and(|o| !same_content(&o, event)) {
                        return Err(IngestError::Conflict { index });
                    }
                    plan.push(slot);
                    is_new.push(false);
                }
                None => {
                    mine.insert(id, index);
                    plan.push(Slot::New(next_new));
                    is_new.push(true);
                    next_new += 1;
                }
            }
        }
        for (id, &k) in &mine {
            seen.insert((*id).to_owned(), plan[k]);
        }
        Ok((plan, is_new))
    }

    /// The client event stored at `seq` (`None` when its month is shredded: its content
    /// can no longer be compared, and the id stays taken).
    fn stored_event(&self, tenant: &str, seq: u64) -> Result<Option<Event>, IngestError> {
        match self.db.get(tenant, seq) {
            Ok(recall_query::Lookup::Found(f)) => Ok(Some(f.event)),
            Ok(_) => Ok(None),
            Err(e) => Err(IngestError::Storage(failure(e))),
        }
    }

    fn open_tenant(&mut self, tenant: &str) -> Result<(), Failure> {
        if !self.opened.contains(tenant) {
            self.db.journal().open_tenant(tenant).map_err(failure)?;
            self.opened.insert(tenant.to_string());
        }
        Ok(())
    }

    /// Where a client id already is: this group, committed-not-indexed, or the index.
    /// The leaf hash of an event in the log is read now, before anything is committed, so
    /// that a job is never answered failed after its fresh events were appended.
    fn find_id(
        &self,
        tenant: &str,
        id: &str,
        seen: &HashMap<String, Slot>,
        indexed: &HashMap<String, u64>,
    ) -> Result<Option<Slot>, IngestError> {
        if let Some(slot) = seen.get(id) {
            return Ok(Some(*slot));
        }
        let recent = self.recent.get(tenant).and_then(|r| r.by_id.get(id));
        let Some(&seq) = recent.or_else(|| indexed.get(id)) else {
            return Ok(None);
        };
        let leaf = self
            .db
            .journal()
            .leaf(tenant, seq)
            .map_err(|e| IngestError::Storage(failure(e)))?;
        Ok(Some(Slot::Old(seq, leaf)))
    }

    /// The jobs' client ids that the index already holds (`Db::lookup_ids`: an id never
    /// seen costs no index read).
    fn indexed_ids(&self, tenant: &str, jobs: &[Job]) -> Result<HashMap<String, u64>, Failure> {
        let recent = self.recent.get(tenant);
        let ids: Vec<&str> = jobs
            .iter()
            .flat_map(|j| j.events.iter().filter_map(|e| e.id.as_deref()))
            .filter(|id| !recent.is_some_and(|r| r.by_id.contains_key(*id)))
            .collect();
        let found = self.db.lookup_ids(tenant, &ids).map_err(failure)?;
        Ok(ids
            .into_iter()
            .zip(found)
            .filter_map(|(id, seq)| seq.map(|s| (id.to_string(), s)))
            .collect())
    }

    /// Forgets recent ids the index now covers.
    fn prune_recent(&mut self, tenant: &str) {
        let indexed = self.progress.get(tenant);
        if let Some(r) = self.recent.get_mut(tenant) {
            while r.order.front().is_some_and(|(seq, _)| *seq < indexed) {
                if let Some((_, id)) = r.order.pop_front() {
                    r.by_id.remove(&id);
                }
            }
        }
    }

    /// Prepares the jobs' fresh events (in parallel, whole jobs per batch) and commits the
    /// batches in order. A failed commit fails its jobs and every later one.
    fn commit_jobs(
        &mut self,
        tenant: &str,
        size: u64,
        fresh: Vec<(Arc<str>, Vec<Event>)>,
        reserves: &[Reserve],
    ) -> Committed {
        let received = Timestamp::now();
        let chunks = chunk_jobs(fresh, reserves);
        let mut first = size;
        let starts: Vec<u64> = chunks
            .iter()
            .map(|c| {
                let s = first;
                first += c.events.len() as u64;
                s
            })
            .collect();
        let journal = self.db.journal();
        let prepare = |(c, &start): (&Chunk, &u64)| {
            if c.events.is_empty() {
                return Ok(SealedBatch {
                    first_seq: start,
                    commitments: vec![],
                    blocks: vec![],
                });
            }
            let by: Vec<&str> = c.by.iter().map(|b| &**b).collect();
            journal
                .prepare(tenant, &c.events, &by, start, received)
                .map_err(failure)
        };
        // A small group (single events) is prepared here: handing it to rayon's threads
        // and waiting for them costs more, and on busy cores each hand-off can wait for a
        // time slice.
        let prepared: Vec<Result<SealedBatch, Failure>> = if first - size < PARALLEL_EVENTS {
            chunks.iter().zip(starts.iter()).map(prepare).collect()
        } else {
            chunks
                .par_iter()
                .zip(starts.par_iter())
                .map(prepare)
                .collect()
        };
        let mut out = Committed::default();
        let mut failed: Option<Failure> = None;
        for (chunk, batch) in chunks.into_iter().zip(prepared) {
            let outcome = match (&failed, batch) {
                (Some(e), _) => Err(e.clone()),
                (None, Err(e)) => Err(e),
                (None, Ok(batch)) if batch.commitments.is_empty() => Ok(()),
                (None, Ok(batch)) => {
                    let reserve = chunk.reserve;
                    let done =
                        self.commit_one(tenant, batch, chunk.events, reserve, &mut out.leaves);
                    match &done {
                        Err(e) => self.block(tenant, e.clone()),
                        Ok(()) if reserve == Reserve::Keep => self.unblock(tenant),
                        Ok(()) => {}
                    }
                    done
                }
            };
            if let Err(e) = &outcome {
                failed.get_or_insert_with(|| e.clone());
            }
            for _ in 0..chunk.jobs {
                out.per_job
                    .push(outcome.clone().map_err(IngestError::Storage));
            }
        }
        out
    }

    fn commit_one(
        &mut self,
        tenant: &str,
        batch: SealedBatch,
        events: Vec<Event>,
        reserve: Reserve,
        leaves: &mut Vec<Hash>,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let committed = self
            .db
            .journal()
            .commit_with(tenant, &batch, reserve)
            .map_err(failure)?;
        metrics::histogram!("recall_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("recall_ingest_events_total").increment(events.len() as u64);
        leaves.extend(committed.receipts.iter().map(|r| r.leaf_hash));
        let recent = self.recent.entry(tenant.to_string()).or_default();
        for (i, e) in events.iter().enumerate() {
            if let Some(id) = &e.id {
                let seq = batch.first_seq + i as u64;
                recent.by_id.insert(id.clone(), seq);
                recent.order.push_back((seq, id.clone()));
            }
        }
        self.unsigned.insert(tenant.to_string());
        if let Some(tx) = &self.index_tx {
            // Blocks only when the indexer is far behind: back-pressure, not loss.
            let _ = tx.send(IndexJob {
                tenant: tenant.to_string(),
                location: committed.location,
                batch,
                events,
            });
        }
        Ok(())
    }

    /// Blocks the tenant's client jobs after a failed commit (a full disk, most likely).
    fn block(&mut self, tenant: &str, failure: Failure) {
        tracing::error!(error = %failure, "a commit failed; refusing client events until the log is writable");
        self.blocked.insert(tenant.to_string(), failure);
        self.writable.store(false, Ordering::Release);
    }

    fn unblock(&mut self, tenant: &str) {
        if self.blocked.remove(tenant).is_some() {
            self.writable
                .store(self.blocked.is_empty(), Ordering::Release);
        }
    }

    /// Unblocks every tenant whose log would take a client batch again.
    fn probe(&mut self) {
        if self.blocked.is_empty() {
            return;
        }
        let store = self.db.journal().store().clone();
        self.blocked
            .retain(|tenant, _| store.check_writable(tenant, PROBE_BYTES).is_err());
        if self.blocked.is_empty() {
            tracing::info!("the log is writable again");
        }
        self.writable
            .store(self.blocked.is_empty(), Ordering::Release);
    }

    /// Signs a checkpoint of every log that grew since its last one.
    fn sign_checkpoints(&mut self) {
        for tenant in std::mem::take(&mut self.unsigned) {
            if let Err(e) = self.db.journal().checkpoint(&tenant) {
                tracing::error!(error = %e, "signing a checkpoint failed");
                self.unsigned.insert(tenant);
            }
        }
        self.last_checkpoint = Instant::now();
    }
}

fn receipts(tenant: &str, size: u64, plan: &[Slot], leaves: &[Hash]) -> Vec<Receipt> {
    plan.iter()
        .map(|slot| {
            let (seq, leaf_hash, replayed) = match *slot {
                Slot::New(i) => (size + i as u64, leaves[i], false),
                Slot::Old(seq, leaf) => (seq, leaf, true),
            };
            if replayed {
                metrics::counter!("recall_ingest_replayed_total").increment(1);
            }
            Receipt {
                tenant: tenant.to_string(),
                seq,
                leaf_hash,
                replayed,
            }
        })
        .collect()
}

/// The outcome of a group for one tenant: per job, in order, and the leaf hashes of the
/// fresh events that were committed.
#[derive(Default)]
struct Committed {
    per_job: Vec<Result<(), IngestError>>,
    leaves: Vec<Hash>,
}

/// Consecutive whole jobs of one kind, about `CHUNK_EVENTS` events each, with the
/// credential that appends each event.
struct Chunk {
    events: Vec<Event>,
    by: Vec<Arc<str>>,
    jobs: usize,
    reserve: Reserve,
}

fn chunk_jobs(fresh: Vec<(Arc<str>, Vec<Event>)>, reserves: &[Reserve]) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    for ((by, events), &reserve) in fresh.into_iter().zip(reserves) {
        let n = events.len();
        match out.last_mut() {
            Some(c) if c.reserve == reserve && c.events.len() + n <= CHUNK_EVENTS => {
                c.events.extend(events);
                c.by.extend(std::iter::repeat_n(by, n));
                c.jobs += 1;
            }
            _ => out.push(Chunk {
                events,
                by: vec![by; n],
                jobs: 1,
                reserve,
            }),
        }
    }
    out
}

/// Whether two events with one id say the same thing (the tenant field aside: the log's
/// tenant is the caller's).
fn same_content(a: &Event, b: &Event) -> bool {
    let strip = |e: &Event| Event {
        tenant: None,
        ..e.clone()
    };
    strip(a) == strip(b)
}

fn fail_all(jobs: Vec<Job>, error: &Failure) {
    fail_all_replies(jobs.into_iter().map(|j| j.reply).collect(), error);
}

fn fail_all_replies(
    replies: Vec<tokio::sync::oneshot::Sender<Result<Vec<Receipt>, IngestError>>>,
    error: &Failure,
) {
    tracing::error!(error = %error, "ingest failed");
    for r in replies {
        let _ = r.send(Err(IngestError::Storage(error.clone())));
    }
}
