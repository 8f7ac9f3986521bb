//! Full verification of tenant logs: an auditor (or an operator after an incident) must
//! be able to show that nothing in a log was altered, removed, reordered or rolled back
//! since it was written, without trusting the machine that holds it. So this checks every
//! body against its commitment, every stored tile hash, every checkpoint signature, the
//! consistency between the checkpoints and the log, and that every month whose keys were
//! destroyed was destroyed by a recorded retention run (the `evidence` module).
//! Read-only; reports the first failure and where it is.

use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use recall_crypto::{SaltDeriver, commitment};
use recall_ledger::{Checkpoint, Frontier, Hash, TILE_WIDTH, TilePath};

use crate::error::{Result, StoreError};
use crate::evidence::{self, Found};
use crate::format::SealedBatch;
use crate::journal::{Journal, block_seqs, decrypt_block_into, split_block};

thread_local! {
    static PLAIN: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}
use crate::store::{Location, SealInfo};

/// The first problem verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The tenant whose log fails.
    pub tenant: String,
    /// The first bad seq, when the problem is tied to one.
    pub seq: Option<u64>,
    /// Where: a file and offset, a tile path, or a checkpoint.
    pub place: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant {}: ", self.tenant)?;
        if let Some(seq) = self.seq {
            write!(f, "first bad seq {seq}: ")?;
        }
        write!(f, "{}: {}", self.place, self.reason)
    }
}

/// What verification saw of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantReport {
    /// The tenant.
    pub tenant: String,
    /// Events checked.
    pub events: u64,
    /// Checkpoints whose signature and root checked.
    pub checkpoints: usize,
    /// An unacknowledged torn tail that recovery will cut.
    pub torn_tail: Option<Location>,
    /// Leaves at the end of the log whose tiles are not stored yet (rebuilt on open).
    pub tiles_behind: u64,
    /// Whether the saved checkpoint given by the caller was checked against this log.
    pub saved_checkpoint_checked: bool,
    /// Epochs whose keys were destroyed by policy: their events' bodies are unreadable by
    /// design (their leaves are still checked against the tree), ascending by epoch.
    pub shredded: Vec<ShreddedRange>,
}

/// The events of one shredded epoch, as verification found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShreddedRange {
    /// The epoch (`yyyymm`).
    pub epoch: u32,
    /// When its keys were destroyed (RFC 3339, from the keystore).
    pub at: String,
    /// Events of the log in it.
    pub events: u64,
    /// Its lowest and highest seq.
    pub first_seq: u64,
    /// See `first_seq`.
    pub last_seq: u64,
}

/// The outcome of a verification run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Per-tenant results (tenants verified before a failure, and the failing one).
    pub tenants: Vec<TenantReport>,
    /// The first failure; `None` means everything holds.
    pub failure: Option<Failure>,
}

/// A checkpoint to hold the log against.
struct Expected {
    label: String,
    cp: Checkpoint,
}

fn fail(
    tenant: &str,
    seq: Option<u64>,
    place: impl Into<String>,
    reason: impl Into<String>,
) -> Failure {
    Failure {
        tenant: tenant.to_string(),
        seq,
        place: place.into(),
        reason: reason.into(),
    }
}

/// Verifies every tenant (or just `only`), holding each log also against `saved` (a
/// signed checkpoint note saved earlier) when its origin names that tenant; body checks
/// on as many threads as the machine has cores (at most 8).
pub fn verify(journal: &Journal, only: Option<&str>, saved: Option<&str>) -> Result<Report> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    verify_with(journal, only, saved, workers)
}

/// [`verify`] with body checks on `workers` threads (at least one): a server verifying
/// beside its ingest uses one, so verification cannot take every core.
pub fn verify_with(
    journal: &Journal,
    only: Option<&str>,
    saved: Option<&str>,
    workers: usize,
) -> Result<Report> {
    let workers = workers.max(1);
    let mut report = Report::default();
    let saved = match saved {
        Some(note) => match journal.parse_checkpoint(note) {
            Ok(cp) => Some(cp),
            Err(e) => {
                report.failure = Some(fail("-", None, "saved checkpoint", e.to_string()));
                return Ok(report);
            }
        },
        None => None,
    };
    let tenants: Vec<String> = match only {
        Some(t) => vec![t.to_string()],
        None => journal.store().tenants()?,
    };
    if let Some(cp) = &saved
        && !tenants.iter().any(|t| journal.origin(t) == cp.origin)
    {
        report.failure = Some(fail(
            "-",
            None,
            "saved checkpoint",
            format!("no log here has origin {:?}", cp.origin),
        ));
        return Ok(report);
    }
    for tenant in tenants {
        let mut tr = TenantReport {
            tenant: tenant.clone(),
            ..TenantReport::default()
        };
        let failure = verify_tenant(journal, &tenant, saved.as_ref(), workers, &mut tr)?;
        report.tenants.push(tr);
        if failure.is_some() {
            report.failure = failure;
            break;
        }
    }
    Ok(report)
}

fn verify_tenant(
    journal: &Journal,
    tenant: &str,
    saved: Option<&Checkpoint>,
    workers: usize,
    tr: &mut TenantReport,
) -> Result<Option<Failure>> {
    let mut expected = Vec::new();
    let mut last_size = 0;
    // A damaged record of the checkpoint log is a verification failure (exit 1), not a
    // failure to run.
    let notes = match journal.store().checkpoints(tenant) {
        Ok(notes) => notes,
        Err(StoreError::Corrupt {
            path,
            offset,
            reason,
        }) => {
            return Ok(Some(fail(
                tenant,
                None,
                format!("{} at offset {offset}", path.display()),
                reason,
            )));
        }
        Err(e) => return Err(e),
    };
    for (i, note) in notes.iter().enumerate() {
        let label = format!("checkpoint #{} of the checkpoint log", i + 1);
        let cp = match journal.parse_checkpoint(note) {
            Ok(cp) => cp,
            Err(e) => return Ok(Some(fail(tenant, None, label, e.to_string()))),
        };
        if cp.origin != journal.origin(tenant) {
            return Ok(Some(fail(
                tenant,
                None,
                label,
                format!("origin {:?} is not this log's", cp.origin),
            )));
        }
        if cp.size < last_size {
            return Ok(Some(fail(
                tenant,
                None,
                label,
                "size is smaller than an earlier checkpoint's",
            )));
        }
        last_size = cp.size;
        expected.push(Expected { label, cp });
    }
    if let Some(cp) = saved.filter(|cp| cp.origin == journal.origin(tenant)) {
        expected.push(Expected {
            label: "saved checkpoint".into(),
            cp: cp.clone(),
        });
        tr.saved_checkpoint_checked = true;
    }
    expected.sort_by_key(|e| e.cp.size);
    let seals = match journal.store().seals(tenant) {
        Ok(seals) => seals,
        Err(e) => return as_failure(tenant, e).map(Some),
    };
    let mut walker = Walker::new(journal, tenant, expected, seals)?;
    let tombstones = journal.keystore().forgotten_epochs_at(tenant)?;
    let forgotten: Forgotten = tombstones.iter().cloned().collect();
    let outcome = scan_parallel(journal, tenant, &forgotten, workers, &mut walker);
    tr.events = walker.frontier.size();
    tr.checkpoints = walker.checked;
    tr.shredded = walker
        .shredded
        .iter()
        .map(|(&epoch, &(events, first_seq, last_seq))| ShreddedRange {
            epoch,
            at: forgotten.get(&epoch).cloned().unwrap_or_default(),
            events,
            first_seq,
            last_seq,
        })
        .collect();
    match outcome {
        Ok(summary) => tr.torn_tail = summary.torn_tail,
        Err(Stop::Failed(f)) => return Ok(Some(f)),
        Err(Stop::Store(e)) => return as_failure(tenant, e).map(Some),
    }
    let found = std::mem::take(&mut walker.found);
    if let Some(f) = walker.finish(tr)? {
        return Ok(Some(f));
    }
    // Every tombstone, whether or not a block of the log is in its month.
    Ok(evidence::check(&tombstones, &found)
        .map(|(_, why)| fail(tenant, None, "keystore tombstone", why)))
}

/// Damage the store reports is a verification failure; anything else (I/O, keys) means
/// verification could not run.
fn as_failure(tenant: &str, e: StoreError) -> Result<Failure> {
    match e {
        StoreError::Corrupt {
            path,
            offset,
            reason,
        } => Ok(fail(
            tenant,
            None,
            format!("{} at offset {offset}", path.display()),
            reason,
        )),
        StoreError::Broken { reason, .. } => Ok(fail(tenant, None, "log", reason)),
        e => Err(e),
    }
}

enum Stop {
    Failed(Failure),
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Epochs destroyed by policy, with when (keystore `forgotten_epochs`).
type Forgotten = std::collections::HashMap<u32, String>;

/// A batch's leaf hashes, the seqs of it that belong to shredded epochs, and recall's own
/// records in it that bear on shredding.
struct Bodies {
    leaves: Vec<Hash>,
    shredded: Vec<(u32, u64)>,
    found: Vec<Found>,
}

/// Checks one batch's bodies against its commitments; returns its leaf hashes. A block
/// of an epoch destroyed by policy has no keys by design: its events count as shredded,
/// not missing. Any other block without keys is a failure.
fn check_bodies(
    journal: &Journal,
    tenant: &str,
    batch: &SealedBatch,
    at: &Location,
    forgotten: &Forgotten,
) -> std::result::Result<Bodies, Failure> {
    let n = batch.commitments.len();
    let mut seen = vec![false; n];
    let mut shredded = Vec::new();
    let mut found = Vec::new();
    // A reused buffer: a fresh one per block costs page faults (seen in profiles).
    let mut plain = PLAIN.take();
    for (k, block) in batch.blocks.iter().enumerate() {
        let place = format!("body block {k} of the batch in {at}");
        let first = block_seqs(block, batch).next();
        let keys = match journal.existing_epoch_keys(tenant, block.epoch) {
            Ok(Some(keys)) => keys,
            Ok(None) if forgotten.contains_key(&block.epoch) => {
                for seq in block_seqs(block, batch) {
                    mark_seen(&mut seen, batch.first_seq, seq)
                        .map_err(|why| fail(tenant, Some(seq), &place, why))?;
                    shredded.push((block.epoch, seq));
                }
                continue;
            }
            Ok(None) => {
                return Err(fail(
                    tenant,
                    first,
                    place,
                    format!("no keys for epoch {}", block.epoch),
                ));
            }
            Err(e) => return Err(fail(tenant, first, place, e.to_string())),
        };
        decrypt_block_into(tenant, batch.first_seq, k as u16, block, &keys, &mut plain).map_err(
            |e| {
                fail(
                    tenant,
                    first,
                    &place,
                    format!("does not open: {e} (altered, moved or replaced)"),
                )
            },
        )?;
        let events = split_block(&plain)
            .ok_or_else(|| fail(tenant, first, &place, "does not split into events"))?;
        let salts = SaltDeriver::new(&keys.commit);
        let mut seqs = block_seqs(block, batch);
        let mut count = 0;
        let look = evidence::may_hold(&plain);
        for body in events {
            let Some(seq) = seqs.next() else {
                return Err(fail(
                    tenant,
                    first,
                    &place,
                    "holds more events than it lists",
                ));
            };
            let i = mark_seen(&mut seen, batch.first_seq, seq)
                .map_err(|why| fail(tenant, Some(seq), &place, why))?;
            let salt = salts.salt(tenant, seq);
            if commitment(&salt, body) != batch.commitments[i] {
                return Err(fail(
                    tenant,
                    Some(seq),
                    &place,
                    "event body does not match its commitment",
                ));
            }
            if look {
                evidence::collect(body, &mut found);
            }
            count += 1;
        }
        if seqs.next().is_some() || count == 0 {
            return Err(fail(
                tenant,
                first,
                &place,
                "holds fewer events than it lists",
            ));
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(fail(
            tenant,
            Some(batch.first_seq + i as u64),
            format!("batch in {at}"),
            "event has no body",
        ));
    }
    PLAIN.set(plain);
    let leaves = batch
        .commitments
        .iter()
        .map(|c| recall_ledger::leaf_hash(c))
        .collect();
    Ok(Bodies {
        leaves,
        shredded,
        found,
    })
}

/// Marks `seq` as having its body; its index in the batch, or why it cannot be.
fn mark_seen(
    seen: &mut [bool],
    first_seq: u64,
    seq: u64,
) -> std::result::Result<usize, &'static str> {
    let i = (seq - first_seq) as usize;
    match seen.get_mut(i) {
        Some(s) if !*s => {
            *s = true;
            Ok(i)
        }
        _ => Err("lists an event twice or outside its batch"),
    }
}

/// Body checks on worker threads, tree and tiles in order on the caller's thread.
fn scan_parallel(
    journal: &Journal,
    tenant: &str,
    forgotten: &Forgotten,
    workers: usize,
    walker: &mut Walker<'_>,
) -> std::result::Result<crate::ScanSummary, Stop> {
    std::thread::scope(|s| {
        let (work_tx, work_rx) = sync_channel::<(u64, SealedBatch, Location)>(workers * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel(workers * 2);
        for _ in 0..workers {
            let (rx, tx) = (work_rx.clone(), done_tx.clone());
            s.spawn(move || {
                while let Some((n, batch, at)) = next(&rx) {
                    let first = batch.first_seq;
                    if tx
                        .send((
                            n,
                            first,
                            check_bodies(journal, tenant, &batch, &at, forgotten),
                        ))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        // Only the workers may hold the receiver: once they have all stopped (the consumer
        // hit a failure and hung up), the scanner's next send must fail instead of
        // blocking on a full channel forever.
        drop(work_rx);
        drop(done_tx);
        let consumer = s.spawn(move || consume(done_rx, walker));
        let mut count = 0u64;
        let scanned = journal.store().scan(tenant, &mut |batch, at| {
            work_tx
                .send((count, batch, at.clone()))
                .map_err(|_| StoreError::Malformed("verification stopped".into()))?;
            count += 1;
            Ok(())
        });
        drop(work_tx);
        let consumed = consumer.join().unwrap_or_else(|_| {
            Err(Stop::Store(StoreError::Malformed(
                "verifier panicked".into(),
            )))
        });
        consumed?;
        scanned.map_err(Stop::Store)
    })
}

fn next<T>(rx: &Mutex<Receiver<T>>) -> Option<T> {
    rx.lock().ok()?.recv().ok()
}

type Checked = (u64, u64, std::result::Result<Bodies, Failure>);

fn consume(rx: Receiver<Checked>, walker: &mut Walker<'_>) -> std::result::Result<(), Stop> {
    let mut pending = std::collections::BTreeMap::new();
    let mut want = 0u64;
    for (n, first, result) in rx {
        pending.insert(n, (first, result));
        while let Some((first, result)) = pending.remove(&want) {
            let bodies = result.map_err(Stop::Failed)?;
            walker.push(first, &bodies.leaves)?;
            for (epoch, seq) in bodies.shredded {
                let e = walker.shredded.entry(epoch).or_insert((0, seq, seq));
                *e = (e.0 + 1, e.1.min(seq), e.2.max(seq));
            }
            walker.found.extend(bodies.found);
            want += 1;
        }
    }
    Ok(())
}

/// Rebuilds the tree from the leaves and compares it with stored tiles and checkpoints.
struct Walker<'a> {
    journal: &'a Journal,
    tenant: String,
    frontier: Frontier,
    expected: Vec<Expected>,
    next_expected: usize,
    checked: usize,
    seals: Vec<SealInfo>,
    next_seal: usize,
    /// Stored hash counts per tile level, and a read-ahead buffer per level.
    stored: Vec<u64>,
    /// Per shredded epoch: events, lowest and highest seq.
    shredded: std::collections::BTreeMap<u32, (u64, u64, u64)>,
    /// recall's retention records and hold changes, as read from the log.
    found: Vec<Found>,
    buffers: Vec<(u64, Vec<Hash>)>,
}

impl<'a> Walker<'a> {
    fn new(
        journal: &'a Journal,
        tenant: &str,
        expected: Vec<Expected>,
        seals: Vec<SealInfo>,
    ) -> Result<Self> {
        let stored = (0..8u8)
            .map(|i| journal.store().stored_hashes(tenant, i * 8))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            journal,
            tenant: tenant.to_string(),
            frontier: Frontier::new(),
            expected,
            next_expected: 0,
            checked: 0,
            seals,
            next_seal: 0,
            stored,
            buffers: vec![(0, Vec::new()); 8],
            shredded: std::collections::BTreeMap::new(),
            found: Vec::new(),
        })
    }

    fn push(&mut self, first_seq: u64, leaves: &[Hash]) -> std::result::Result<(), Stop> {
        if first_seq != self.frontier.size() {
            return Err(Stop::Failed(fail(
                &self.tenant,
                Some(self.frontier.size()),
                "log",
                "batches out of order",
            )));
        }
        for leaf in leaves {
            let mut mismatch = None;
            let mut frontier = std::mem::take(&mut self.frontier);
            frontier.push(*leaf, |level, index, hash| {
                if mismatch.is_none() && level % 8 == 0 {
                    mismatch = self.compare_tile(level, index, hash).err();
                }
            });
            self.frontier = frontier;
            if let Some(stop) = mismatch {
                return Err(stop);
            }
            self.check_checkpoints()?;
        }
        self.check_seals()
    }

    /// Seals fall on batch boundaries: the tree state each records must be the log's.
    fn check_seals(&mut self) -> std::result::Result<(), Stop> {
        while let Some(seal) = self.seals.get(self.next_seal) {
            if seal.next_seq > self.frontier.size() {
                break;
            }
            if seal.next_seq < self.frontier.size() || seal.frontier != self.frontier.stack() {
                return Err(Stop::Failed(fail(
                    &self.tenant,
                    None,
                    format!("segment seal in {}", seal.location),
                    format!(
                        "the tree state recorded at size {} differs from the tree rebuilt from the log: the seal was altered",
                        seal.next_seq
                    ),
                )));
            }
            self.next_seal += 1;
        }
        Ok(())
    }

    fn compare_tile(
        &mut self,
        level: u8,
        index: u64,
        hash: &Hash,
    ) -> std::result::Result<(), Stop> {
        let i = level as usize / 8;
        if index >= self.stored[i] {
            return Ok(()); // Not stored yet: reported as lag at the end.
        }
        let (start, buf) = &self.buffers[i];
        if index < *start || index >= start + buf.len() as u64 {
            let count = (self.stored[i] - index).min(1 << 16);
            let hashes = self
                .journal
                .store()
                .read_hashes(&self.tenant, level, index, count)?;
            self.buffers[i] = (index, hashes);
        }
        let (start, buf) = &self.buffers[i];
        if buf[(index - start) as usize] != *hash {
            let tile = TilePath {
                level: Some(level / 8),
                index: index / TILE_WIDTH,
                width: TILE_WIDTH as u16,
            };
            let first_leaf = index << level;
            return Err(Stop::Failed(fail(
                &self.tenant,
                Some(first_leaf),
                format!(
                    "tile {} (hash {} of tree level {level})",
                    tile.to_path(),
                    index % TILE_WIDTH
                ),
                "stored tile hash differs from the hash recomputed from the log",
            )));
        }
        Ok(())
    }

    fn check_checkpoints(&mut self) -> std::result::Result<(), Stop> {
        while let Some(e) = self.expected.get(self.next_expected) {
            if e.cp.size > self.frontier.size() {
                break;
            }
            if e.cp.size == self.frontier.size() && e.cp.root != self.frontier.root() {
                return Err(Stop::Failed(fail(
                    &self.tenant,
                    None,
                    e.label.clone(),
                    format!(
                        "root at size {} differs from the log's: the log was altered or forked",
                        e.cp.size
                    ),
                )));
            }
            if e.cp.size == self.frontier.size() || e.cp.size == 0 {
                self.checked += 1;
            }
            self.next_expected += 1;
        }
        Ok(())
    }

    fn finish(mut self, tr: &mut TenantReport) -> Result<Option<Failure>> {
        if self.frontier.size() == 0 {
            let _ = self.check_checkpoints();
        }
        if let Some(e) = self.expected.get(self.next_expected) {
            return Ok(Some(fail(
                &self.tenant,
                Some(self.frontier.size()),
                e.label.clone(),
                format!(
                    "checkpoint has size {} but the log holds {} events: truncated or rolled back",
                    e.cp.size,
                    self.frontier.size()
                ),
            )));
        }
        let size = self.frontier.size();
        if self.stored[0] > size {
            return Ok(Some(fail(
                &self.tenant,
                Some(size),
                "tiles",
                format!(
                    "tiles hold {} leaves but the log holds {size} events: log truncated",
                    self.stored[0]
                ),
            )));
        }
        tr.tiles_behind = size - self.stored[0];
        tr.checkpoints = self.checked;
        Ok(None)
    }
}
