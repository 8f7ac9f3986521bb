//! The index database: fjall partitions, tenant numbers and watermarks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use recall_crypto::BlindIndexer;
use recall_store::Journal;

use crate::cache::{BlockCache, RunCache};
use crate::error::QueryError;
pub(crate) use crate::generation::Parts;
use crate::generation::{self, open_current};
use crate::idfilter;
use crate::index_memory::IndexMemory;
use crate::keys;

/// Bytes of decrypted blocks kept in memory unless the caller says otherwise.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;
/// Block-table entries kept in memory (~100 bytes each).
pub(crate) const RUN_CACHE_ENTRIES: usize = 1 << 16;

/// Events indexed between rotations of the small partitions' memtables.
const ROTATE_SMALL_EVERY: u64 = 256 * 1024;

/// Meta key prefix: tenant name → tenant number.
const META_TENANT: u8 = b'T';
/// Meta key prefix: tenant number → watermark.
const META_WATERMARK: u8 = b'W';
/// Meta key: the next tenant number to hand out.
const META_NEXT: &[u8] = b"N";

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
    /// Where the generations live (`generation.rs`).
    dir: PathBuf,
    /// The current generation; readers keep the one they started with.
    parts: RwLock<Arc<Parts>>,
    tenants: RwLock<HashMap<String, Tenant>>,
    /// Serialises index writers, so watermarks only move forward over complete batches.
    write: Mutex<()>,
    /// Events indexed since the small partitions' memtables were last rotated.
    since_rotation: AtomicU64,
    pub(crate) cache: BlockCache,
    pub(crate) runs: RunCache,
}

impl Db {
    /// Opens (creating) the index in `index_dir` (its current generation) and catches every tenant up
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
        Self::open_with(journal, index_dir, cache_bytes, IndexMemory::default())
    }

    /// [`Db::open_with_cache`] with fjall's memory set by `index` (`[index]`).
    pub fn open_with(
        journal: Arc<Journal>,
        index_dir: &Path,
        cache_bytes: usize,
        index: IndexMemory,
    ) -> Result<Db, QueryError> {
        let (parts, current_layout) = open_current(index_dir, index)?;
        let db = Db {
            journal,
            dir: index_dir.to_path_buf(),
            parts: RwLock::new(Arc::new(parts)),
            tenants: RwLock::default(),
            write: Mutex::new(()),
            since_rotation: AtomicU64::new(0),
            cache: BlockCache::new(cache_bytes),
            runs: RunCache::new(RUN_CACHE_ENTRIES),
        };
        if !current_layout {
            let _w = db.lock_writes();
            // Rebuilt from the log in a new generation of this layout.
            db.clear()?;
        }
        db.fill_id_filter()?;
        db.catch_up()?;
        Ok(db)
    }

    /// Starts filling the current generation's id filter from disk, unless it is new.
    fn fill_id_filter(&self) -> Result<(), QueryError> {
        let parts = self.parts();
        if parts.ids.is_ready() {
            return Ok(());
        }
        let weak = Arc::downgrade(&parts);
        std::thread::Builder::new()
            .name("recall-idfilter".into())
            // Left unfilled on failure: every id is then looked up in the index.
            .spawn(move || drop(idfilter::fill(&weak)))
            .map_err(QueryError::IndexDir)?;
        Ok(())
    }

    /// Whether the in-memory filter of client ids covers the index yet (after an open it
    /// is filled in the background; until then every id is looked up in the index).
    pub fn id_filter_ready(&self) -> bool {
        self.parts().ids.is_ready()
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
    pub(crate) fn note_indexed(&self, parts: &Parts, events: u64) {
        let n = self.since_rotation.fetch_add(events, Ordering::Relaxed) + events;
        if n >= ROTATE_SMALL_EVERY {
            self.since_rotation.store(0, Ordering::Relaxed);
            for p in [&parts.meta, &parts.blocks, &parts.frames] {
                // Only space is at stake: a failed rotation is retried next time.
                let _ = p.rotate_memtable();
            }
        }
    }

    /// The index's unflushed entries (for `/metrics`).
    pub fn index_buffers(&self) -> crate::IndexBuffers {
        self.parts().buffers()
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
        let parts = self.parts();
        let meta = &parts.meta;
        let next = match meta.get(META_NEXT)? {
            Some(v) => u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| QueryError::Corrupt("next tenant number".into()))?,
            ),
            None => 0,
        };
        let mut b = parts.keyspace.batch();
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

    /// Recovers the index after a failed write: reopens the current generation if fjall
    /// poisoned it (a failed journal write refuses every later write until then), then
    /// catches every tenant up with its log. Waits up to `wait` for searches still
    /// reading the poisoned keyspace; new reads wait for the reopen. On error the index
    /// may be an empty stand-in (every watermark 0, so readers that wait for coverage
    /// wait); calling again retries.
    pub fn recover(&self, wait: std::time::Duration) -> Result<u64, QueryError> {
        let _w = self.lock_writes();
        let poisoned = {
            let parts = self.parts();
            let probe = parts.keyspace.persist(fjall::PersistMode::Buffer);
            matches!(probe, Err(fjall::Error::Poisoned)) || parts.generation == generation::STAND_IN
        };
        if poisoned {
            let mut slot = self.parts.write().unwrap_or_else(|p| p.into_inner());
            let deadline = std::time::Instant::now() + wait;
            while Arc::strong_count(&slot) > 1 {
                if std::time::Instant::now() >= deadline {
                    return Err(QueryError::Corrupt(
                        "the index is still in use; reopening it later".into(),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let reopened = generation::reopen(&self.dir, &mut slot);
            drop(slot);
            self.tenants
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            reopened?;
            self.fill_id_filter()?;
        }
        self.catch_up_all()
    }

    /// Switches to a new, empty generation and retires the old one (its directory goes
    /// once the last search still reading it is done). Callers hold the write lock.
    pub(crate) fn clear(&self) -> Result<(), QueryError> {
        let mut parts = self.parts.write().unwrap_or_else(|p| p.into_inner());
        let fresh = generation::create(&self.dir, parts.generation + 1, parts.memory)?;
        parts.retire();
        *parts = Arc::new(fresh);
        drop(parts);
        self.tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.cache.clear();
        self.runs.clear();
        Ok(())
    }
}

impl Drop for Db {
    /// A clean shutdown leaves the index complete, so the next open has nothing to catch
    /// up (after a crash, catch-up repairs what fjall lost).
    fn drop(&mut self) {
        // Nothing to report to: the log is the source of truth either way.
        let _ = self.parts().sync();
    }
}

/// `W ‖ tno`: the meta key of a tenant's watermark (value `u64be`).
pub(crate) fn watermark_key(no: u32) -> Vec<u8> {
    keys::cat(&[&[META_WATERMARK], &no.to_be_bytes()])
}
