//! Writing the index: one committed batch at a time, catch-up from the log, reindex.

use std::collections::HashMap;

use rayon::prelude::*;
use recall_model::Event;
use recall_store::{BlockRef, Location, SealedBatch, StoreError, block_seqs};

use crate::breakglass::Queue;
use crate::cache::Block;
use crate::combos::Table;
use crate::cube::CubeBatch;
use crate::db::{Db, Parts, Tenant, watermark_key};
use crate::error::QueryError;
use crate::keys::{self, Run};
use crate::postings::{HOUR, Lists, MINUTE, PREFIX};
use crate::summary::Summaries;

/// Blocks decrypted together during catch-up (spread over rayon's threads).
const CATCH_UP_BLOCKS: usize = 64;

/// Decrypted events of one block: its key epoch and `(seq, event, appended_by)`; `None`
/// when its epoch key is shredded.
type Decoded = Option<(u32, Vec<(u64, Event, Option<String>)>)>;

impl Db {
    /// Indexes one just-committed batch (`events[i]` has seq `batch.first_seq + i`).
    ///
    /// Idempotent: a batch below the watermark is skipped. If earlier batches are missing
    /// from the index (an indexing call was lost), the tenant is caught up from the log
    /// instead, which includes this batch.
    pub fn index_batch(
        &self,
        tenant: &str,
        batch: &SealedBatch,
        at: &Location,
        events: &[Event],
    ) -> Result<(), QueryError> {
        if events.len() != batch.commitments.len() {
            return Err(QueryError::Corrupt(
                "index_batch: events and batch differ in length".into(),
            ));
        }
        let _w = self.lock_writes();
        let t = self.tenant_or_create(tenant)?;
        let parts = self.parts();
        let wm = self.watermark(&parts, t.no)?;
        let end = batch.first_seq + events.len() as u64;
        if end <= wm {
            return Ok(());
        }
        if batch.first_seq > wm {
            self.catch_up_tenant(tenant, &t)?;
            return Ok(());
        }
        let mut b = parts.keyspace.batch();
        add_runs(&mut b, &parts, t.no, batch, at);
        let mut staged = Staged::new(wm, parts.codes.take(&parts.facets, t.no)?);
        let mut queue = Queue::default();
        let epochs = epochs_of(batch, at);
        for (i, e) in events.iter().enumerate() {
            let seq = batch.first_seq + i as u64;
            staged.add(&t, seq, epochs[i], e);
            queue.add(&t, seq, e, || self.appended_by_in(tenant, batch, seq))?;
        }
        let codes = staged.write(&mut b, &parts, t.no)?;
        queue.write(&mut b, &parts, t.no)?;
        b.insert(&parts.meta, watermark_key(t.no), end.to_be_bytes());
        b.commit()?;
        parts.codes.put(t.no, codes);
        self.note_indexed(&parts, events.len() as u64);
        Ok(())
    }

    /// Catches every tenant up with its log (used by `open`); returns events indexed.
    pub fn catch_up(&self) -> Result<u64, QueryError> {
        let _w = self.lock_writes();
        self.catch_up_all()
    }

    /// Drops and rebuilds all indexes from the log (`recall reindex`); returns events
    /// indexed.
    ///
    /// Meant for maintenance: indexing of new batches waits until it is done, and
    /// searches meanwhile see only what has been rebuilt so far.
    pub fn reindex(&self) -> Result<u64, QueryError> {
        let _w = self.lock_writes();
        self.clear()?;
        self.catch_up_all()
    }

    pub(crate) fn catch_up_all(&self) -> Result<u64, QueryError> {
        let mut total = 0;
        for tenant in self.journal.store().tenants()? {
            let t = self.tenant_or_create(&tenant)?;
            total += self.catch_up_tenant(&tenant, &t)?;
        }
        Ok(total)
    }

    /// Indexes what the tenant's log holds beyond the watermark. Callers hold the write
    /// lock. Returns events indexed.
    pub(crate) fn catch_up_tenant(&self, tenant: &str, t: &Tenant) -> Result<u64, QueryError> {
        let parts = self.parts();
        let wm = self.watermark(&parts, t.no)?;
        if wm >= self.journal.store().size(tenant)? {
            return Ok(0);
        }
        let mut pending: Vec<(SealedBatch, Location)> = Vec::new();
        let mut blocks = 0;
        let mut indexed = 0;
        let mut failed = None;
        let scanned = self
            .journal
            .store()
            .scan_from(tenant, wm, &mut |batch, at| {
                if batch.first_seq + batch.commitments.len() as u64 <= wm {
                    return Ok(());
                }
                blocks += batch.blocks.len();
                pending.push((batch, at.clone()));
                if blocks >= CATCH_UP_BLOCKS {
                    blocks = 0;
                    match self.index_chunk(tenant, t, &parts, &std::mem::take(&mut pending)) {
                        Ok(n) => indexed += n,
                        Err(e) => {
                            failed = Some(e);
                            // Stops the scan; the real error is returned below.
                            return Err(StoreError::Malformed("indexing failed".into()));
                        }
                    }
                }
                Ok(())
            });
        if let Some(e) = failed {
            return Err(e);
        }
        scanned?;
        indexed += self.index_chunk(tenant, t, &parts, &pending)?;
        Ok(indexed)
    }

    /// Decrypts the blocks of consecutive batches in parallel and indexes them in one
    /// fjall batch together with the new watermark.
    fn index_chunk(
        &self,
        tenant: &str,
        t: &Tenant,
        parts: &Parts,
        chunk: &[(SealedBatch, Location)],
    ) -> Result<u64, QueryError> {
        let Some((last, _)) = chunk.last() else {
            return Ok(0);
        };
        let jobs: Vec<(&SealedBatch, BlockRef, usize)> = chunk
            .iter()
            .flat_map(|(batch, at)| {
                BlockRef::all(batch, at)
                    .into_iter()
                    .enumerate()
                    .map(move |(k, r)| (batch, r, k))
            })
            .collect();
        let decoded: Vec<Decoded> = jobs
            .par_iter()
            .map(|(batch, r, k)| self.decode_block(tenant, batch, r, *k))
            .collect::<Result<_, _>>()?;
        let mut b = parts.keyspace.batch();
        for (batch, at) in chunk {
            add_runs(&mut b, parts, t.no, batch, at);
        }
        let mut n = 0;
        let mut staged = Staged::new(0, parts.codes.take(&parts.facets, t.no)?);
        let mut queue = Queue::default();
        for (epoch, events) in decoded.iter().flatten() {
            for (seq, e, by) in events {
                staged.add(t, *seq, *epoch, e);
                queue.add(t, *seq, e, || Ok(by.clone()))?;
                n += 1;
            }
        }
        let codes = staged.write(&mut b, parts, t.no)?;
        queue.write(&mut b, parts, t.no)?;
        let end = last.first_seq + last.commitments.len() as u64;
        b.insert(&parts.meta, watermark_key(t.no), end.to_be_bytes());
        b.commit()?;
        parts.codes.put(t.no, codes);
        self.note_indexed(parts, n);
        Ok(n)
    }

    fn decode_block(
        &self,
        tenant: &str,
        batch: &SealedBatch,
        r: &BlockRef,
        k: usize,
    ) -> Result<Decoded, QueryError> {
        let Some(plain) = self.journal.read_block(tenant, r)? else {
            return Ok(None);
        };
        let block = Block::new(plain)
            .ok_or_else(|| QueryError::Corrupt("a block does not split into events".into()))?;
        let mut out = Vec::new();
        for (i, seq) in block_seqs(&batch.blocks[k], batch).enumerate() {
            let bytes = block.event(i).ok_or_else(|| {
                QueryError::Corrupt(format!("event {seq} missing from its block"))
            })?;
            let rec = recall_model::parse_canonical(bytes)
                .map_err(|e| QueryError::Corrupt(format!("event {seq}: {e}")))?;
            out.push((seq, rec.event, rec.appended_by));
        }
        Ok(Some((r.epoch, out)))
    }

    /// The `appended_by` of event `seq` of a batch just committed, read back from the
    /// batch (asked only for the rare review-shaped events: the indexer is handed the
    /// events without it).
    fn appended_by_in(
        &self,
        tenant: &str,
        batch: &SealedBatch,
        seq: u64,
    ) -> Result<Option<String>, QueryError> {
        let opened = self.journal.open_batch(tenant, batch)?;
        let Some((_, bytes)) = opened.iter().find(|(s, _)| *s == seq) else {
            return Ok(None);
        };
        let rec = recall_model::parse_canonical(bytes)
            .map_err(|e| QueryError::Corrupt(format!("event {seq}: {e}")))?;
        Ok(rec.appended_by)
    }
}

/// The time, patient, actor and id entries of a write batch, staged so that each
/// partition receives its keys in order: consecutive memtable inserts then walk the same
/// skiplist nodes, which keeps them in cache. Times, patients and actors go into posting
/// lists (`postings.rs`): one entry per minute of the batch, and per identifier and hour.
struct Staged<'a> {
    time: Lists,
    actor: Lists,
    patient: Lists,
    id: Vec<(Vec<u8>, [u8; 8])>,
    summaries: Summaries,
    cube: CubeBatch,
    /// Seqs below this are already in the index (the watermark): counted once only.
    cube_from: u64,
    /// The tenant's combination codes, lent for the batch (`combos.rs`).
    codes: Table,
    /// Tokens already computed in this batch: actors and patients recur within a batch
    /// (a session is many events), and an HMAC costs more than a lookup.
    tokens: HashMap<(&'static str, &'a str), [u8; 32]>,
}

impl<'a> Staged<'a> {
    fn new(cube_from: u64, codes: Table) -> Self {
        Staged {
            cube: CubeBatch::default(),
            cube_from,
            codes,
            time: Lists::new(MINUTE, keys::TNO),
            actor: Lists::new(HOUR, PREFIX),
            patient: Lists::new(HOUR, PREFIX),
            id: Vec::new(),
            summaries: Summaries::default(),
            tokens: HashMap::new(),
        }
    }

    /// Stages the entries of one event of key epoch `epoch`.
    fn add(&mut self, t: &Tenant, seq: u64, epoch: u32, e: &'a Event) {
        let tno = t.no.to_be_bytes();
        let at = (e.time, seq);
        let code = self.codes.code(epoch, e);
        self.time.add(&tno, at, code);
        let actor = self.token(t, "actor", &e.actor.id);
        self.actor.add(&keys::ident(t.no, &actor), at, code);
        let patient = e.patient.as_ref().map(|p| self.token(t, "patient", &p.id));
        if let Some(patient) = &patient {
            self.patient.add(&keys::ident(t.no, patient), at, code);
        }
        self.summaries.add(seq, epoch, e, &actor, patient.as_ref());
        if seq >= self.cube_from {
            self.cube.add(seq, epoch, e.time.as_nanosecond(), code);
        }
        if let Some(id) = &e.id {
            let tok = t.indexer.token("id", id);
            self.id.push((keys::id_key(t.no, &tok), seq.to_be_bytes()));
        }
    }

    /// The blind-index token of an identifier.
    fn token(&mut self, t: &Tenant, field: &'static str, value: &'a str) -> [u8; 32] {
        *self
            .tokens
            .entry((field, value))
            .or_insert_with(|| t.indexer.token(field, value))
    }

    /// Adds the staged entries to `b`, sorted per partition; gives back the code table,
    /// to be returned to [`crate::combos::Codes::put`] once `b` commits.
    fn write(mut self, b: &mut fjall::Batch, p: &Parts, tno: u32) -> Result<Table, QueryError> {
        self.summaries.write(b, p, tno);
        self.cube.write(b, p, tno, &self.codes)?;
        self.codes.write(b, &p.facets, tno);
        for (part, lists) in [
            (&p.time, self.time),
            (&p.actor, self.actor),
            (&p.patient, self.patient),
        ] {
            for (k, v) in lists.into_entries() {
                b.insert(part, k, v);
            }
        }
        self.id.sort_unstable();
        p.ids.add_keys(self.id.iter().map(|(k, _)| k.as_slice()));
        for (k, v) in self.id {
            b.insert(&p.id, k, v);
        }
        Ok(self.codes)
    }
}

/// The key epoch of each event of a batch (`[i]` for seq `first_seq + i`).
fn epochs_of(batch: &SealedBatch, at: &Location) -> Vec<u32> {
    let mut out = vec![0; batch.commitments.len()];
    for (block, r) in batch.blocks.iter().zip(BlockRef::all(batch, at)) {
        for seq in block_seqs(block, batch) {
            if let Some(e) = out.get_mut((seq - batch.first_seq) as usize) {
                *e = r.epoch;
            }
        }
    }
    out
}

/// Adds the block runs of a batch: for every maximal run of consecutive seqs that sit
/// next to each other in one block, `tno ‖ start_seq → Run`.
fn add_runs(b: &mut fjall::Batch, p: &Parts, tno: u32, batch: &SealedBatch, at: &Location) {
    b.insert(
        &p.frames,
        keys::cat(&[&tno.to_be_bytes(), &batch.first_seq.to_be_bytes()]),
        keys::cat(&[&at.offset.to_be_bytes(), at.file.as_bytes()]),
    );
    let refs = BlockRef::all(batch, at);
    let n = batch.commitments.len();
    // owner[i] = (block, position in block) of seq first_seq + i.
    let mut owner = vec![(0usize, 0u32); n];
    for (k, block) in batch.blocks.iter().enumerate() {
        for (pos, seq) in block_seqs(block, batch).enumerate() {
            if let Some(o) = owner.get_mut((seq - batch.first_seq) as usize) {
                *o = (k, pos as u32);
            }
        }
    }
    for i in 0..n {
        let (k, pos) = owner[i];
        if i > 0 && owner[i - 1].0 == k && owner[i - 1].1 + 1 == pos {
            continue;
        }
        let r = &refs[k];
        let run = Run {
            epoch: r.epoch,
            batch_first: batch.first_seq,
            index: r.index,
            pos,
            offset: r.at.offset,
            len: r.len,
            file: r.at.file.clone(),
        };
        let start = batch.first_seq + i as u64;
        b.insert(
            &p.blocks,
            keys::cat(&[&tno.to_be_bytes(), &start.to_be_bytes()]),
            run.encode(),
        );
    }
}
