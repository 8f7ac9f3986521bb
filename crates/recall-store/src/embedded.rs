//! The embedded engine: one directory per tenant under `<data>/tenants/`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use recall_ledger::Hash;

use crate::engine::{Paths, TenantLog};
use crate::error::{Result, StoreError};
use crate::faults::FaultPlan;
use crate::format::SealedBatch;
use crate::segment;
use crate::store::{Appended, Location, Reserve, ScanSummary, SealInfo, Store};
use crate::tiles;

/// Options of the embedded engine.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// A segment is sealed once it would grow past this many bytes.
    pub segment_bytes: u64,
    /// Open without the writer lock and without recovery: for verification, which must
    /// not change what it checks.
    pub read_only: bool,
    /// Injected faults (tests only).
    pub faults: Option<Arc<FaultPlan>>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            read_only: false,
            faults: None,
        }
    }
}

/// The embedded store rooted at a `tenants` directory.
pub struct EmbeddedStore {
    root: PathBuf,
    opts: EmbeddedOptions,
    _lock: File,
    logs: RwLock<HashMap<String, Arc<Mutex<TenantLog>>>>,
}

impl EmbeddedStore {
    /// Opens the store at `root` (created if missing), taking the writer lock unless
    /// read-only. Tenant logs are recovered when first used.
    pub fn open(root: &Path, opts: EmbeddedOptions) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(StoreError::io(root))?;
        let lock_path = root.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StoreError::io(&lock_path))?;
        let locked = if opts.read_only {
            lock.try_lock_shared()
        } else {
            lock.try_lock()
        };
        if locked.is_err() {
            return Err(StoreError::Locked(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            opts,
            _lock: lock,
            logs: RwLock::default(),
        })
    }

    /// Directory of a tenant.
    pub fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.root.join(tenant)
    }

    fn log(&self, tenant: &str, create: bool) -> Result<Arc<Mutex<TenantLog>>> {
        if let Some(log) = self
            .logs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
        {
            return Ok(log.clone());
        }
        let mut logs = self.logs.write().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = logs.get(tenant) {
            return Ok(log.clone());
        }
        let dir = self.tenant_dir(tenant);
        if self.opts.read_only || (!create && !dir.exists()) {
            return Err(StoreError::UnknownTenant(tenant.to_string()));
        }
        let log = TenantLog::open(
            &dir,
            tenant,
            self.opts.segment_bytes,
            self.opts.faults.clone(),
        )?;
        let log = Arc::new(Mutex::new(log));
        logs.insert(tenant.to_string(), log.clone());
        Ok(log)
    }

    fn with_log<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantLog) -> Result<T>) -> Result<T> {
        let log = self.log(tenant, false)?;
        let mut guard: MutexGuard<'_, TenantLog> = log.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn relative(&self, path: &Path) -> String {
        let base = self.root.parent().unwrap_or(&self.root);
        path.strip_prefix(base)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

impl Store for EmbeddedStore {
    fn shred_blocks(&self, tenant: &str, epochs: &std::collections::BTreeSet<u32>) -> Result<u64> {
        // Under the tenant's lock: an active segment holding such blocks is sealed first,
        // and the sealed segments are listed (those before the active one). Rewritten
        // without it: the writer never touches a sealed segment, so appends go on.
        let sealed = self.with_log(tenant, |log| {
            log.seal_if_holding(epochs)?;
            let log_dir = Paths::new(&self.tenant_dir(tenant)).log;
            let mut segments = segment::list(&log_dir, tenant)?;
            segments.pop();
            Ok(segments)
        })?;
        let mut zeroed = 0;
        for s in sealed {
            zeroed += segment::zero_blocks(&s.path, epochs)?;
        }
        Ok(zeroed)
    }

    fn tenants(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(StoreError::io(&self.root))? {
            let entry = entry.map_err(StoreError::io(&self.root))?;
            if let Some(name) = entry.file_name().to_str()
                && entry.path().join("log").is_dir()
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn ensure_tenant(&self, tenant: &str) -> Result<()> {
        self.log(tenant, true).map(|_| ())
    }

    fn size(&self, tenant: &str) -> Result<u64> {
        self.with_log(tenant, |l| Ok(l.size()))
    }

    fn root(&self, tenant: &str) -> Result<Hash> {
        self.with_log(tenant, |l| Ok(l.root()))
    }

    fn head(&self, tenant: &str) -> Result<(u64, Hash)> {
        self.with_log(tenant, |l| Ok((l.size(), l.root())))
    }

    fn append_with(&self, tenant: &str, batch: &SealedBatch, reserve: Reserve) -> Result<Appended> {
        let (size, path, offset) = self.with_log(tenant, |l| l.append(batch, reserve))?;
        Ok(Appended {
            size,
            location: Location {
                file: self.relative(&path),
                offset,
            },
        })
    }

    fn check_writable(&self, tenant: &str, bytes: u64) -> Result<()> {
        self.with_log(tenant, |l| l.check_writable(bytes))
    }

    fn read_at(&self, tenant: &str, at: &Location, len: u32) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let base = self.root.parent().unwrap_or(&self.root);
        let path = base.join(&at.file);
        // Only files of this tenant's log: a location never escapes it.
        if !path.starts_with(Paths::new(&self.tenant_dir(tenant)).log) || at.file.contains("..") {
            return Err(StoreError::OutOfRange(format!(
                "{at} is not in the log of {tenant}"
            )));
        }
        let file = File::open(&path).map_err(StoreError::io(&path))?;
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, at.offset)
            .map_err(StoreError::io(&path))?;
        Ok(buf)
    }

    fn read_hashes(&self, tenant: &str, level: u8, start: u64, count: u64) -> Result<Vec<Hash>> {
        tiles::read_hashes(
            &Paths::new(&self.tenant_dir(tenant)).tiles,
            level,
            start,
            count,
        )
    }

    fn stored_hashes(&self, tenant: &str, level: u8) -> Result<u64> {
        tiles::stored_len(&Paths::new(&self.tenant_dir(tenant)).tiles, level)
    }

    fn scan(
        &self,
        tenant: &str,
        visit: &mut dyn FnMut(SealedBatch, &Location) -> Result<()>,
    ) -> Result<ScanSummary> {
        self.scan_from(tenant, 0, visit)
    }

    fn scan_from(
        &self,
        tenant: &str,
        from_seq: u64,
        visit: &mut dyn FnMut(SealedBatch, &Location) -> Result<()>,
    ) -> Result<ScanSummary> {
        let paths = Paths::new(&self.tenant_dir(tenant));
        let segments = segment::list(&paths.log, tenant)?;
        let mut summary = ScanSummary::default();
        // One window for all segments, read through it: memory stays a few MiB whatever
        // the segment size (the verification and the index catch-up scan this way).
        let mut buf = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            if !is_last {
                // A sealed segment wholly below `from_seq` is skipped by its seal alone.
                let (header, seal) = segment::read_sealed_ends(&seg.path)?;
                if seal.next_seq <= from_seq {
                    segment::check_header(&seg.path, &header, seg.number, summary.size, tenant)?;
                    summary.size = seal.next_seq;
                    continue;
                }
            }
            let file = self.relative(&seg.path);
            let scanned = segment::scan_file(&seg.path, &mut buf, is_last, |batch, offset| {
                if batch.first_seq + batch.commitments.len() as u64 <= from_seq {
                    return Ok(());
                }
                visit(
                    batch,
                    &Location {
                        file: file.clone(),
                        offset,
                    },
                )
            })?;
            segment::check_header(&seg.path, &scanned.header, seg.number, summary.size, tenant)?;
            summary.size = scanned.next_seq;
            if let segment::Tail::Torn { offset } = scanned.tail {
                summary.torn_tail = Some(Location {
                    file: file.clone(),
                    offset,
                });
            }
        }
        Ok(summary)
    }

    fn seals(&self, tenant: &str) -> Result<Vec<SealInfo>> {
        let paths = Paths::new(&self.tenant_dir(tenant));
        let segments = segment::list(&paths.log, tenant)?;
        let mut out = Vec::new();
        for seg in segments.iter().take(segments.len().saturating_sub(1)) {
            let (_, seal) = segment::read_sealed_ends(&seg.path)?;
            let len = std::fs::metadata(&seg.path)
                .map_err(StoreError::io(&seg.path))?
                .len();
            out.push(SealInfo {
                location: Location {
                    file: self.relative(&seg.path),
                    offset: len - crate::format::SEAL_FRAME as u64,
                },
                next_seq: seal.next_seq,
                frontier: seal.frontier,
            });
        }
        Ok(out)
    }

    fn append_checkpoint(&self, tenant: &str, note: &str) -> Result<()> {
        self.with_log(tenant, |l| l.append_checkpoint(note))
    }

    fn checkpoints(&self, tenant: &str) -> Result<Vec<String>> {
        if self.opts.read_only {
            let paths = Paths::new(&self.tenant_dir(tenant));
            return crate::checkpoints::read_all(&paths.checkpoints).map(|(n, _)| n);
        }
        self.with_log(tenant, |l| l.notes())
    }

    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<String>> {
        if self.opts.read_only {
            return self.checkpoints(tenant).map(|mut n| n.pop());
        }
        self.with_log(tenant, |l| Ok(l.latest_note().map(str::to_string)))
    }
}
