//! The index database: fjall partitions, tenant numbers and watermarks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use fjall::{Keyspace, PartitionCreateOptions, PartitionHandle};
use recall_crypto::BlindIndexer;
use recall_store::Journal;

use crate::cache::BlockCache;
use crate::error::QueryError;
use crate::keys;

/// Bytes of decrypted blocks kept in memory unless the caller says otherwise.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// Names of the partitions, in the order of [`Parts`]; each is suffixed `_<generation>`.
const PARTITIONS: [&str; 7] = ["meta", "time", "patient", "actor", "id", "blocks", "frames"];
/// The partition naming the current generation (key `gen`, value `u32be`). `reindex`
/// builds the next generation in fresh partitions and drops the old ones.
const GENERATION: &str = "generation";
/// Layout of the entries (key `layout` in [`GENERATION`], `u32be`; absent = 1). An index
/// of another layout is rebuilt from the log on open. 2: point-lookup id entries.
const LAYOUT: u32 = 2;

/// Events indexed between rotations of the small partitions' memtables.
const ROTATE_SMALL_EVERY: u64 = 256 * 1024;

/// Meta key prefix: tenant name → tenant number.
const META_TENANT: u8 = b'T';
/// Meta key prefix: tenant number → watermark.
const META_WATERMARK: u8 = b'W';
/// Meta key: the next tenant number to hand out.
const META_NEXT: &[u8] = b"N";

/// The partitions of the keyspace (replaced as a whole by `reindex`).
pub(crate) struct Parts {
    pub generation: u32,
    pub meta: PartitionHandle,
    pub time: PartitionHandle,
    pub patient: PartitionHandle,
    pub actor: PartitionHandle,
    pub id: PartitionHandle,
    pub blocks: PartitionHandle,
    pub frames: PartitionHandle,
}

/// A tenant as the index knows it.
#[derive(Clone)]
pub(crate) struct Tenant {
    /// Short number that prefixes the tenant's keys.
    pub no: u32,
    /// Blind-index tokens of the tenant's identifiers.
    pub indexer: BlindIndexer,
}

/// Indexes over a journal's tenant logs, and the reads, searches and reports they serve.
pub struct Db {
    pub(crate) journal: Arc<Journal>,
    pub(crate) keyspace: Keyspace,
    parts: RwLock<Arc<Parts>>,
    tenants: RwLock<HashMap<String, Tenant>>,
    /// Serialises index writers, so watermarks only move forward over complete batches.
    write: Mutex<()>,
    /// Events indexed since the small partitions' memtables were last rotated.
    since_rotation: AtomicU64,
    pub(crate) cache: BlockCache,
}

impl Db {
    /// Opens (creating) the fjall keyspace at `index_dir` and catches every tenant up
    /// with its log (indexes what the log holds beyond the index's watermark).
    pub fn open(journal: Arc<Journal>, index_dir: &Path) -> Result<Db, QueryError> {
        Self::open_with_cache(journal, index_dir, DEFAULT_CACHE_BYTES)
    }

    /// [`Db::open`] with a block cache of `cache_bytes` (decrypted blocks, LRU).
    pub fn open_with_cache(
        journal: Arc<Journal>,
        index_dir: &Path,
        cache_bytes: usize,
    ) -> Result<Db, QueryError> {
        let keyspace = fjall::Config::new(index_dir).open()?;
        let gen_partition = keyspace.open_partition(GENERATION, options())?;
        let read = |key: &str| -> Result<Option<u32>, QueryError> {
            Ok(gen_partition
                .get(key)?
                .and_then(|v| v.as_ref().try_into().ok())
                .map(u32::from_be_bytes))
        };
        let generation = read("gen")?.unwrap_or(0);
        let layout = read("layout")?;
        let parts = open_parts(&keyspace, generation)?;
        drop_other_generations(&keyspace, generation)?;
        let db = Db {
            journal,
            keyspace,
            parts: RwLock::new(Arc::new(parts)),
            tenants: RwLock::default(),
            write: Mutex::new(()),
            since_rotation: AtomicU64::new(0),
            cache: BlockCache::new(cache_bytes),
        };
        // Without a layout mark, an index with entries predates layout 2.
        let stale = match layout {
            Some(l) => l != LAYOUT,
            None => !db.parts().meta.is_empty()?,
        };
        if stale {
            let _w = db.lock_writes();
            // Rebuilt from the log in a new generation of this layout.
            db.clear()?;
        }
        if layout != Some(LAYOUT) {
            gen_partition.insert("layout", LAYOUT.to_be_bytes())?;
            // Flushed at once, or its memtable would pin every journal from here on.
            gen_partition.rotate_memtable()?;
        }
        db.catch_up()?;
        Ok(db)
    }

    /// The journal the index is derived from.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// Events of the tenant the index covers (its watermark).
    pub fn indexed(&self, tenant: &str) -> Result<u64, QueryError> {
        match self.tenant(tenant)? {
            Some(t) => self.watermark(&self.parts(), t.no),
            None => Ok(0),
        }
    }

    /// Counts `events` just indexed; now and then hands the small partitions' memtables
    /// (meta, blocks, frames) to fjall's flusher. fjall deletes a journal only once every
    /// partition with entries in it has flushed them, and these partitions would
    /// otherwise hold theirs until the journals reach fjall's 512 MiB cap (30 bytes per
    /// event at 10M). The rotation does not wait for the flush.
    pub(crate) fn note_indexed(&self, events: u64) {
        let n = self.since_rotation.fetch_add(events, Ordering::Relaxed) + events;
        if n >= ROTATE_SMALL_EVERY {
            self.since_rotation.store(0, Ordering::Relaxed);
            let parts = self.parts();
            for p in [&parts.meta, &parts.blocks, &parts.frames] {
                // Only space is at stake: a failed rotation is retried next time.
                let _ = p.rotate_memtable();
            }
        }
    }

    pub(crate) fn parts(&self) -> Arc<Parts> {
        self.parts.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn lock_writes(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tenant if the index has seen it (never creates anything).
    pub(crate) fn tenant(&self, name: &str) -> Result<Option<Tenant>, QueryError> {
        if let Some(t) = self
            .tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(Some(t.clone()));
        }
        let Some(v) = self
            .parts()
            .meta
            .get(keys::cat(&[&[META_TENANT], name.as_bytes()]))?
        else {
            return Ok(None);
        };
        let no = u32::from_be_bytes(
            v.as_ref()
                .try_into()
                .map_err(|_| QueryError::Corrupt("tenant number".into()))?,
        );
        Ok(Some(self.remember(name, no)?))
    }

    /// The tenant, numbered on first use. Callers hold the write lock.
    pub(crate) fn tenant_or_create(&self, name: &str) -> Result<Tenant, QueryError> {
        if let Some(t) = self.tenant(name)? {
            return Ok(t);
        }
        let meta = &self.parts().meta;
        let next = match meta.get(META_NEXT)? {
            Some(v) => u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| QueryError::Corrupt("next tenant number".into()))?,
            ),
            None => 0,
        };
        let mut b = self.keyspace.batch();
        b.insert(meta, META_NEXT, (next + 1).to_be_bytes());
        b.insert(
            meta,
            keys::cat(&[&[META_TENANT], name.as_bytes()]),
            next.to_be_bytes(),
        );
        b.commit()?;
        self.remember(name, next)
    }

    fn remember(&self, name: &str, no: u32) -> Result<Tenant, QueryError> {
        let key = self.journal.keystore().index_key(name)?;
        let t = Tenant {
            no,
            indexer: BlindIndexer::new(&key),
        };
        self.tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), t.clone());
        Ok(t)
    }

    /// Events of tenant `no` that the index covers.
    pub(crate) fn watermark(&self, parts: &Parts, no: u32) -> Result<u64, QueryError> {
        match parts.meta.get(watermark_key(no))? {
            Some(v) => Ok(u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| QueryError::Corrupt("watermark".into()))?,
            )),
            None => Ok(0),
        }
    }

    /// Switches to a new, empty generation of partitions and drops the old one. Callers
    /// hold the write lock.
    pub(crate) fn clear(&self) -> Result<(), QueryError> {
        let mut parts = self.parts.write().unwrap_or_else(|p| p.into_inner());
        let next = parts.generation + 1;
        let fresh = Arc::new(open_parts(&self.keyspace, next)?);
        let gen_partition = self.keyspace.open_partition(GENERATION, options())?;
        gen_partition.insert("gen", next.to_be_bytes())?;
        gen_partition.rotate_memtable()?;
        *parts = fresh;
        drop_other_generations(&self.keyspace, next)?;
        self.tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.cache.clear();
        Ok(())
    }
}

impl Drop for Db {
    /// A clean shutdown leaves the index complete, so the next open has nothing to catch
    /// up (after a crash, catch-up repairs what fjall lost).
    fn drop(&mut self) {
        // Nothing to report to: the log is the source of truth either way.
        let _ = self.keyspace.persist(fjall::PersistMode::SyncAll);
    }
}

/// `W ‖ tno`: the meta key of a tenant's watermark (value `u64be`).
pub(crate) fn watermark_key(no: u32) -> Vec<u8> {
    keys::cat(&[&[META_WATERMARK], &no.to_be_bytes()])
}

fn options() -> PartitionCreateOptions {
    PartitionCreateOptions::default()
}

fn open_parts(ks: &Keyspace, generation: u32) -> Result<Parts, QueryError> {
    let open = |name: &str| ks.open_partition(&format!("{name}_{generation}"), options());
    Ok(Parts {
        generation,
        meta: open(PARTITIONS[0])?,
        time: open(PARTITIONS[1])?,
        patient: open(PARTITIONS[2])?,
        actor: open(PARTITIONS[3])?,
        id: open(PARTITIONS[4])?,
        blocks: open(PARTITIONS[5])?,
        frames: open(PARTITIONS[6])?,
    })
}

/// Deletes partitions of other generations (left by a reindex, even an interrupted one).
fn drop_other_generations(ks: &Keyspace, generation: u32) -> Result<(), QueryError> {
    let keep: Vec<String> = PARTITIONS
        .iter()
        .map(|n| format!("{n}_{generation}"))
        .collect();
    for name in ks.list_partitions() {
        let name: &str = &name;
        if name != GENERATION && !keep.iter().any(|k| k == name) {
            let handle = ks.open_partition(name, options())?;
            ks.delete_partition(handle)?;
        }
    }
    Ok(())
}
