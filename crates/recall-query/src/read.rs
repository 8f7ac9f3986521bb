//! Reading events by seq: the block table leads a seq to its ~32 KiB block.

use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use rayon::prelude::*;
use recall_model::{Event, View};
use recall_store::{BlockRef, Location};

use crate::cache::Block;
use crate::db::{Db, Parts, Tenant};
use crate::error::QueryError;
use crate::keys::{self, Run};

/// What a read by seq finds.
// Not boxed: the server matches on `Found(found)` by value, and a Lookup lives briefly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The event.
    Found(Found),
    /// The tenant's log holds no such seq.
    NotFound,
    /// The event exists but the keys of its epoch (`yyyymm`) were destroyed (retention).
    Unreadable {
        /// The epoch whose keys are gone.
        epoch: u32,
    },
}

/// An event read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Its position in the tenant's log.
    pub seq: u64,
    /// The normalised event (its `tenant` is the log's tenant).
    pub event: Event,
    /// When the server accepted it.
    pub received: Timestamp,
    /// Its RFC 8785 canonical bytes, including `tenant`, `seq` and `received`: what the
    /// API returns for an event, and what the ledger commits to.
    pub canonical: Vec<u8>,
}

/// A search hit: an event's canonical bytes, with what a page needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Its position in the tenant's log.
    pub seq: u64,
    /// The event's `time`.
    pub time: Timestamp,
    /// When the server accepted it.
    pub received: Timestamp,
    /// Its RFC 8785 canonical bytes, including `tenant`, `seq` and `received`: what the
    /// API returns for an event (shared with the block cache, not copied).
    pub canonical: Bytes,
}

impl Hit {
    /// The whole event, parsed from its canonical bytes (searches only read the fields
    /// they filter on).
    pub fn event(&self) -> Result<Event, QueryError> {
        recall_model::parse_canonical(&self.canonical)
            .map(|rec| rec.event)
            .map_err(|e| QueryError::Corrupt(format!("event {}: {e}", self.seq)))
    }
}

/// Ids looked up at once from which the work is spread over rayon's threads.
const PARALLEL_IDS: usize = 64;

impl Db {
    /// Reads the event at `seq` of the tenant's log.
    pub fn get(&self, tenant: &str, seq: u64) -> Result<Lookup, QueryError> {
        if seq >= self.indexed(tenant)? {
            // Committed but not indexed yet (or not at all): index up to the log's end.
            let size = match self.journal.store().size(tenant) {
                Ok(size) => size,
                Err(recall_store::StoreError::UnknownTenant(_)) => return Ok(Lookup::NotFound),
                Err(e) => return Err(e.into()),
            };
            if seq >= size {
                return Ok(Lookup::NotFound);
            }
            let _w = self.lock_writes();
            let t = self.tenant_or_create(tenant)?;
            self.catch_up_tenant(tenant, &t)?;
        }
        let Some(t) = self.tenant(tenant)? else {
            return Ok(Lookup::NotFound);
        };
        self.read_seq(tenant, &t, &self.parts(), seq)
    }

    /// Seq of the event the tenant already holds with this client `id` (idempotency).
    pub fn lookup_id(&self, tenant: &str, id: &str) -> Result<Option<u64>, QueryError> {
        Ok(self.lookup_ids(tenant, &[id])?.pop().flatten())
    }

    /// [`Db::lookup_id`] of many ids at once, answers in order.
    ///
    /// An id the in-memory filter rules out (`idfilter.rs`) costs its token and nothing
    /// else; any other is one point read (`tno ‖ 128-bit token → seq`), in parallel, and a
    /// hit is confirmed against the stored event — one whose keys are shredded counts as
    /// a match (never accept a duplicate).
    pub fn lookup_ids(&self, tenant: &str, ids: &[&str]) -> Result<Vec<Option<u64>>, QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(vec![None; ids.len()]);
        };
        let parts = self.parts();
        let token = |id: &&str| t.indexer.token("id", id);
        let lookup = |(id, (tok, maybe)): (&&str, (&[u8; 32], bool))| match maybe {
            true => self.lookup_token(tenant, &t, &parts, id, tok),
            false => Ok(None),
        };
        // A few ids (single events) are cheaper here than handed to rayon's threads and
        // waited for: on busy cores each hand-off can wait for a time slice.
        if ids.len() < PARALLEL_IDS {
            let tokens: Vec<[u8; 32]> = ids.iter().map(token).collect();
            let maybe = parts.ids.may_hold(t.no, &tokens);
            return ids
                .iter()
                .zip(tokens.iter().zip(maybe))
                .map(lookup)
                .collect();
        }
        let tokens: Vec<[u8; 32]> = ids.par_iter().map(token).collect();
        let maybe = parts.ids.may_hold(t.no, &tokens);
        ids.par_iter()
            .zip(tokens.par_iter().zip(maybe))
            .map(lookup)
            .collect()
    }

    fn lookup_token(
        &self,
        tenant: &str,
        t: &Tenant,
        parts: &Parts,
        id: &str,
        tok: &[u8; 32],
    ) -> Result<Option<u64>, QueryError> {
        let Some(v) = parts.id.get(keys::id_key(t.no, tok))? else {
            return Ok(None);
        };
        let seq = u64::from_be_bytes(
            v.as_ref()
                .try_into()
                .map_err(|_| QueryError::Corrupt("id entry".into()))?,
        );
        // A replay is rare; reading the event back proves the entry is this id's.
        Ok(match self.read_seq(tenant, t, parts, seq)? {
            Lookup::Found(f) if f.event.id.as_deref() != Some(id) => None,
            Lookup::NotFound => None,
            _ => Some(seq),
        })
    }

    /// Reads an indexed seq through the block table and the block cache.
    pub(crate) fn read_seq(
        &self,
        tenant: &str,
        t: &Tenant,
        parts: &Parts,
        seq: u64,
    ) -> Result<Lookup, QueryError> {
        let read = SeqReader::new(self, tenant, t, parts).with(seq, |block, k, view| {
            let bytes = block.event(k).unwrap_or_default();
            recall_model::parse_canonical(bytes)
                .map(|rec| Found {
                    seq,
                    event: rec.event,
                    received: view.received,
                    canonical: bytes.to_vec(),
                })
                .map_err(|e| QueryError::Corrupt(format!("event {seq}: {e}")))
        })?;
        Ok(match read {
            Read::Found(found) => Lookup::Found(found?),
            Read::NotFound => Lookup::NotFound,
            // (`NotCached` only answers `SeqReader::cached`.)
            Read::Unreadable(epoch) => Lookup::Unreadable { epoch },
            Read::NotCached(_, run) => Lookup::Unreadable { epoch: run.epoch },
        })
    }

    /// The run holding `seq`: the last block-table entry at or before it.
    pub(crate) fn run_of(
        &self,
        parts: &Parts,
        no: u32,
        seq: u64,
    ) -> Result<Option<(u64, Run)>, QueryError> {
        let lo = keys::cat(&[&no.to_be_bytes(), &0u64.to_be_bytes()]);
        let hi = keys::cat(&[&no.to_be_bytes(), &seq.to_be_bytes()]);
        let Some(kv) = parts.blocks.range(lo..=hi).next_back() else {
            return Ok(None);
        };
        let (key, value) = kv?;
        let bad = || QueryError::Corrupt("block table entry".into());
        let start = u64::from_be_bytes(key[keys::TNO..].try_into().map_err(|_| bad())?);
        Ok(Some((start, Run::decode(&value).ok_or_else(bad)?)))
    }

    /// The decrypted block of a run, from the cache or (unless [`Fetch::CachedOnly`]) the
    /// log; `None` if unreadable or, with `CachedOnly`, not cached.
    pub(crate) fn block(
        &self,
        tenant: &str,
        no: u32,
        run: &Run,
        fetch: Fetch,
    ) -> Result<Option<Arc<Block>>, QueryError> {
        // Keys may have been shredded since the block was cached: its plaintext must not
        // outlive them.
        if self
            .journal
            .existing_epoch_keys(tenant, run.epoch)?
            .is_none()
        {
            return Ok(None);
        }
        let key = (no, run.batch_first, run.index);
        if let Some(b) = self.cache.get(&key) {
            return Ok(Some(b));
        }
        if fetch == Fetch::CachedOnly {
            return Ok(None);
        }
        let r = BlockRef {
            at: Location {
                file: run.file.clone(),
                offset: run.offset,
            },
            len: run.len,
            epoch: run.epoch,
            first_seq: run.batch_first,
            index: run.index,
        };
        let Some(plain) = self.journal.read_block(tenant, &r)? else {
            return Ok(None);
        };
        let block = Arc::new(
            Block::new(plain)
                .ok_or_else(|| QueryError::Corrupt("a block does not split into events".into()))?,
        );
        if fetch == Fetch::Keep {
            self.cache.put(key, block.clone());
        }
        Ok(Some(block))
    }
}

/// Where [`Db::block`] may take a block from, and whether it keeps what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// The cache only.
    CachedOnly,
    /// The cache, else the log, caching what it read.
    Keep,
    /// The cache, else the log without caching it: a scan of the whole log (export) would
    /// evict every hot block, and filling the cache with fresh blocks cost an export most
    /// of its CPU in page faults (perf: the kernel zeroing new pages, 66% of the samples).
    Pass,
}

/// What a [`SeqReader`] found at a seq: what its caller made of the event, or why not.
pub(crate) enum Read<T> {
    Found(T),
    NotFound,
    /// The keys of this epoch are destroyed.
    Unreadable(u32),
    /// Its block is not in the cache ([`SeqReader::cached`] only): the event's run and
    /// the run's first seq, for [`SeqReader::open`].
    NotCached(u64, Arc<Run>),
}

/// Reads seqs of one tenant, mostly ascending or descending (a walk's hits): the block of
/// the last read is tried first, which spares the block-table lookup and the cache for
/// hits that share a block — most do, as one session's events are consecutive.
pub(crate) struct SeqReader<'a> {
    db: &'a Db,
    tenant: &'a str,
    t: &'a Tenant,
    parts: &'a Parts,
    /// What a read from the log does with the block ([`Fetch::Keep`] or [`Fetch::Pass`]).
    fetch: Fetch,
    /// The last run read: its first seq, the run, its block.
    last: Option<(u64, Arc<Run>, Arc<Block>)>,
}

/// What a reader's callback gets: the block, the event's place in it, and its [`View`]
/// unless the caller reads the bytes only ([`SeqReader::bytes`]).
type Got<'b, 'v> = (&'b Block, usize, Option<&'v View<'v>>);

impl<'a> SeqReader<'a> {
    pub(crate) fn new(db: &'a Db, tenant: &'a str, t: &'a Tenant, parts: &'a Parts) -> Self {
        SeqReader {
            db,
            tenant,
            t,
            parts,
            fetch: Fetch::Keep,
            last: None,
        }
    }

    /// A reader that leaves the blocks it reads from the log out of the cache (a scan of
    /// the whole log: see [`Fetch::Pass`]).
    pub(crate) fn scanning(db: &'a Db, tenant: &'a str, t: &'a Tenant, parts: &'a Parts) -> Self {
        SeqReader {
            fetch: Fetch::Pass,
            ..SeqReader::new(db, tenant, t, parts)
        }
    }

    /// Finds event `seq` and hands its block, its place in the block and its [`View`]
    /// to `f`.
    pub(crate) fn with<T, F>(&mut self, seq: u64, f: F) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(&Block, usize, &View<'_>) -> T,
    {
        self.viewed(seq, f, false)
    }

    /// [`SeqReader::with`] without the view: the event is told by the `seq` member of its
    /// bytes alone, for callers that only copy the bytes (an export without filters).
    pub(crate) fn bytes<T, F>(&mut self, seq: u64, f: F) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(&Block, usize) -> T,
    {
        self.read(seq, |(b, k, _): Got<'_, '_>| f(b, k), false, false)
    }

    /// [`SeqReader::with`] if the event's block is cached, else [`Read::NotCached`].
    pub(crate) fn cached<T, F>(&mut self, seq: u64, f: F) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(&Block, usize, &View<'_>) -> T,
    {
        self.viewed(seq, f, true)
    }

    fn viewed<T, F>(&mut self, seq: u64, f: F, cached_only: bool) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(&Block, usize, &View<'_>) -> T,
    {
        let f = |(b, k, v): Got<'_, '_>| v.map(|v| f(b, k, v));
        flat(self.read(seq, f, true, cached_only)?, seq)
    }

    fn read<T, F>(
        &mut self,
        seq: u64,
        f: F,
        views: bool,
        cached_only: bool,
    ) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(Got<'_, '_>) -> T,
    {
        let mut f = Some(f);
        if let Some((start, run, block)) = &self.last
            && let Some(k) = place(block, run, *start, seq)
            && let Ok(Some(t)) = if_seq(block, k, seq, &mut f, views)
        {
            return Ok(Read::Found(t));
        }
        // A run read lately, if its block is cached and holds the seq there.
        if let Some((start, run)) = self.db.runs.guess(self.t.no, seq)
            && let Some(block) = self
                .db
                .block(self.tenant, self.t.no, &run, Fetch::CachedOnly)?
            && let Some(k) = place(&block, &run, start, seq)
            && let Ok(Some(t)) = if_seq(&block, k, seq, &mut f, views)
        {
            self.last = Some((start, run, block));
            return Ok(Read::Found(t));
        }
        let Some((start, run)) = self.db.run_of(self.parts, self.t.no, seq)? else {
            return Ok(Read::NotFound);
        };
        let run = Arc::new(run);
        self.db.runs.put(self.t.no, start, run.clone());
        let fetch = if cached_only {
            Fetch::CachedOnly
        } else {
            self.fetch
        };
        self.at_run(seq, start, run, &mut f, views, fetch)
    }

    /// Reads event `seq` from the block of `run` (found by [`SeqReader::cached`]), opening
    /// the block.
    pub(crate) fn open<T, F>(
        &mut self,
        seq: u64,
        start: u64,
        run: Arc<Run>,
        f: F,
    ) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(&Block, usize, &View<'_>) -> T,
    {
        let mut f = Some(|(b, k, v): Got<'_, '_>| v.map(|v| f(b, k, v)));
        let read = self.at_run(seq, start, run, &mut f, true, self.fetch)?;
        flat(read, seq)
    }

    fn at_run<T, F>(
        &mut self,
        seq: u64,
        start: u64,
        run: Arc<Run>,
        f: &mut Option<F>,
        views: bool,
        fetch: Fetch,
    ) -> Result<Read<T>, QueryError>
    where
        F: FnOnce(Got<'_, '_>) -> T,
    {
        // A block holds several runs when late arrivals skip seqs: the last block, if it
        // is this run's, is not opened again (an uncached one would be).
        let last = self
            .last
            .as_ref()
            .filter(|(_, r, _)| (r.batch_first, r.index) == (run.batch_first, run.index));
        let block = match last {
            Some((_, _, b)) => Some(b.clone()),
            None => self.db.block(self.tenant, self.t.no, &run, fetch)?,
        };
        let Some(block) = block else {
            return Ok(if fetch == Fetch::CachedOnly {
                Read::NotCached(start, run)
            } else {
                Read::Unreadable(run.epoch)
            });
        };
        let k = place(&block, &run, start, seq)
            .ok_or_else(|| QueryError::Corrupt(format!("event {seq} missing from its block")))?;
        let t = match if_seq(&block, k, seq, f, views) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(QueryError::Corrupt(format!(
                    "block table points event {seq} at another event"
                )));
            }
            Err(e) => return Err(QueryError::Corrupt(format!("event {seq}: {e}"))),
        };
        self.last = Some((start, run, block));
        Ok(Read::Found(t))
    }
}

/// A read whose callback was given a view (always, when asked for one) as the callback's
/// own answer.
fn flat<T>(read: Read<Option<T>>, seq: u64) -> Result<Read<T>, QueryError> {
    Ok(match read {
        Read::Found(Some(t)) => Read::Found(t),
        Read::Found(None) => return Err(QueryError::Corrupt(format!("event {seq}: no view"))),
        Read::NotFound => Read::NotFound,
        Read::Unreadable(epoch) => Read::Unreadable(epoch),
        Read::NotCached(start, run) => Read::NotCached(start, run),
    })
}

/// The place `run` gives `seq` in `block`, if the block has such a place. A block may
/// hold several runs (late arrivals skip seqs): only the event's own seq tells whether it
/// is the one.
fn place(block: &Block, run: &Run, start: u64, seq: u64) -> Option<usize> {
    let k = usize::try_from((run.pos as u64).checked_add(seq.checked_sub(start)?)?).ok()?;
    block.event(k).map(|_| k)
}

/// Calls `f` (taken out of its option) on the `k`-th event of `block` if it is event
/// `seq` (told by its view, or with `views` false by its bytes' `seq` member); `Ok(None)`
/// if it is another one, an error if the bytes are not an event.
fn if_seq<T, F>(
    block: &Block,
    k: usize,
    seq: u64,
    f: &mut Option<F>,
    views: bool,
) -> Result<Option<T>, String>
where
    F: FnOnce(Got<'_, '_>) -> T,
{
    // Bytes the scan does not take fall through to the view (which the callback is then
    // given, unasked).
    if !views && let Some(found) = crate::raw_json::seq_of(block.event(k).unwrap_or_default()) {
        return Ok((found == seq)
            .then(|| f.take().map(|f| f((block, k, None))))
            .flatten());
    }
    let mut apply =
        |v: &View<'_>| (v.seq == seq).then(|| f.take().map(|f| f((block, k, Some(v)))))?;
    if let Some(v) = block.view(k) {
        return Ok(apply(&v));
    }
    // Stored bytes the fast view does not take (escapes): parse them whole.
    let bytes = block.event(k).ok_or("no such event in the block")?;
    let rec = recall_model::parse_canonical(bytes).map_err(|e| e.to_string())?;
    Ok(apply(&View::of(&rec)))
}
