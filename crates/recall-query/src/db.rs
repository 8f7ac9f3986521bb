//! The index database: fjall partitions, tenant numbers and watermarks.

use std::collections::HashMap;
use std::path::Path;
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
            wait_for_flushes(&handle);
            ks.delete_partition(handle)?;
        }
    }
    Ok(())
}

/// Waits (up to two seconds) until fjall's flusher holds no memtable of `p`. fjall's flusher
/// panics if the partition it is flushing is deleted under it, and right after open it
/// flushes the memtables recovered from older journals — of the very partitions a
/// reindex is about to drop. Bounded: fjall may leave some recovered memtables queued,
/// unflushed, for as long as nothing else wakes its flusher (seen: minutes).
fn wait_for_flushes(p: &PartitionHandle) {
    use fjall::AbstractTree as _;
    if p.tree.sealed_memtable_count() == 0 {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while p.tree.sealed_memtable_count() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The flusher drops the memtable just before it dequeues the task.
    std::thread::sleep(std::time::Duration::from_millis(50));
}
