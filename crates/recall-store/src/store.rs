//! The storage interface every backend implements.

use recall_ledger::Hash;

use crate::error::Result;
use crate::format::SealedBatch;

/// Where a batch lives, for error messages (`file` relative to the data directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File (or table) name.
    pub file: String,
    /// Byte offset (or row id).
    pub offset: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.file, self.offset)
    }
}

/// Where an appended batch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Log size after the batch.
    pub size: u64,
    /// Where its frame starts.
    pub location: Location,
}

/// What a full scan saw besides the batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Events in complete batches.
    pub size: u64,
    /// An incomplete final batch (never acknowledged), if any.
    pub torn_tail: Option<Location>,
}

/// The seal of a full segment: the tree state recorded when the segment was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealInfo {
    /// Where the seal is.
    pub location: Location,
    /// Log size at the seal.
    pub next_seq: u64,
    /// Perfect-subtree roots of the tree at `next_seq`, largest first.
    pub frontier: Vec<Hash>,
}

/// Whether an append must leave the store's reserve of space intact (the embedded
/// engine's reserve is free space on the log's filesystem: docs/design/storage-format.md,
/// "A full disk").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// A client's events: refused (storage full) unless the reserve stays free after them.
    Keep,
    /// recall's own records (the audit of reads and of governance acts): may use the
    /// reserve, so that reads keep working for a while on a full disk.
    Use,
}

/// A durable, append-only store of tenant logs.
///
/// Contract: `append` returns only after the batch is on stable storage; batches are
/// never changed afterwards, except that `shred_blocks` overwrites with zeros the sealed
/// bytes of blocks whose epoch keys retention destroyed (commitments, tree and checkpoints
/// untouched); tiles (`read_hashes`) are derived from the log and may be rebuilt from it.
pub trait Store: Send + Sync {
    /// Tenants that have a log.
    fn tenants(&self) -> Result<Vec<String>>;
    /// Creates the tenant's log if it does not exist (durably).
    fn ensure_tenant(&self, tenant: &str) -> Result<()>;
    /// Events in the tenant's log.
    fn size(&self, tenant: &str) -> Result<u64>;
    /// Tree root at the current size.
    fn root(&self, tenant: &str) -> Result<Hash>;
    /// The size and the root at that size, read together (an append cannot fall
    /// between them, as it can between `size` and `root`).
    fn head(&self, tenant: &str) -> Result<(u64, Hash)>;
    /// Appends a batch that starts at the current size; durable on return. Returns the
    /// new size and where the batch's frame starts. On error nothing of the batch is in
    /// the log, unless the error is [`crate::StoreError::Indeterminate`].
    fn append_with(&self, tenant: &str, batch: &SealedBatch, reserve: Reserve) -> Result<Appended>;
    /// [`Store::append_with`] a client batch ([`Reserve::Keep`]).
    fn append(&self, tenant: &str, batch: &SealedBatch) -> Result<Appended> {
        self.append_with(tenant, batch, Reserve::Keep)
    }
    /// Ok when a client batch of `bytes` would find space now (undoing what an earlier
    /// failed append left, if it can); the error says why not. Readiness asks it while
    /// appends fail.
    fn check_writable(&self, tenant: &str, bytes: u64) -> Result<()> {
        let _ = (tenant, bytes);
        Ok(())
    }
    /// Reads `len` raw bytes at a location inside the tenant's log (a body block, found
    /// through [`crate::format::block_spans`]). Callers authenticate what they read.
    fn read_at(&self, tenant: &str, at: &Location, len: u32) -> Result<Vec<u8>>;
    /// `count` stored hashes of tree `level` (a multiple of 8) from `start`.
    fn read_hashes(&self, tenant: &str, level: u8, start: u64, count: u64) -> Result<Vec<Hash>>;
    /// How many hashes of tree `level` are stored.
    fn stored_hashes(&self, tenant: &str, level: u8) -> Result<u64>;
    /// Visits every complete batch in seq order, strictly: damage is an error.
    fn scan(
        &self,
        tenant: &str,
        visit: &mut dyn FnMut(SealedBatch, &Location) -> Result<()>,
    ) -> Result<ScanSummary>;
    /// Visits every complete batch that holds a seq at or beyond `from_seq`, in seq
    /// order (catch-up of derived data). Backends may skip whole stretches below
    /// `from_seq` without reading them; the summary is the same as [`Store::scan`]'s.
    fn scan_from(
        &self,
        tenant: &str,
        from_seq: u64,
        visit: &mut dyn FnMut(SealedBatch, &Location) -> Result<()>,
    ) -> Result<ScanSummary> {
        self.scan(tenant, &mut |batch, at| {
            if batch.first_seq + batch.commitments.len() as u64 > from_seq {
                visit(batch, at)
            } else {
                Ok(())
            }
        })
    }
    /// The seals of the tenant's full segments, in order (verify checks each against the
    /// tree rebuilt from the log).
    fn seals(&self, tenant: &str) -> Result<Vec<SealInfo>>;
    /// Persists a signed checkpoint; durable on return.
    fn append_checkpoint(&self, tenant: &str, note: &str) -> Result<()>;
    /// Overwrites with zeros the sealed bytes of the tenant's body blocks of `epochs`
    /// (whose keys were destroyed); returns how many blocks. An active segment holding
    /// such blocks is sealed first, since only sealed segments are rewritten.
    fn shred_blocks(&self, tenant: &str, epochs: &std::collections::BTreeSet<u32>) -> Result<u64>;
    /// Every persisted checkpoint note of the tenant, oldest first.
    fn checkpoints(&self, tenant: &str) -> Result<Vec<String>>;
    /// The latest persisted checkpoint note of the tenant (signing and serving
    /// checkpoints ask for it every second; [`Store::checkpoints`] reads them all).
    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<String>>;
}
