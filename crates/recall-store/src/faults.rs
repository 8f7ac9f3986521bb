//! Fault injection for tests: fail a chosen write or sync of the embedded engine.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Which I/O operations of the embedded engine fail. Counters count down on each
/// operation; the one that brings a counter to zero fails. Negative means never.
#[derive(Debug)]
pub struct FaultPlan {
    writes_left: AtomicI64,
    syncs_left: AtomicI64,
    torn: bool,
    /// Largest length the active segment may be extended to (a disk that is full beyond).
    space: AtomicU64,
}

impl FaultPlan {
    /// Fails the `n`-th segment write (1-based); with `torn`, half of its bytes reach the
    /// file first, as a crash in the middle of `write` would leave them.
    pub fn fail_write(n: i64, torn: bool) -> Self {
        Self {
            writes_left: AtomicI64::new(n),
            syncs_left: AtomicI64::new(-1),
            torn,
            space: AtomicU64::new(u64::MAX),
        }
    }

    /// Fails the `n`-th segment sync (1-based), after its write went through.
    pub fn fail_sync(n: i64) -> Self {
        Self {
            writes_left: AtomicI64::new(-1),
            syncs_left: AtomicI64::new(n),
            torn: false,
            space: AtomicU64::new(u64::MAX),
        }
    }

    /// A disk of `bytes` that holds only the active segment: preallocating it past that
    /// length fails with `StorageFull`, and client batches keep the disk's headroom free
    /// (see [`FaultPlan::set_space`]).
    pub fn disk_full_at(bytes: u64) -> Self {
        let plan = Self::fail_write(-1, false);
        plan.set_space(bytes);
        plan
    }

    /// Moves the limit of [`FaultPlan::disk_full_at`] (space returns, or runs out).
    pub fn set_space(&self, bytes: u64) {
        self.space.store(bytes, Ordering::SeqCst);
    }

    fn hit(counter: &AtomicI64) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
            (v > 0).then(|| v - 1)
        }) == Ok(1)
    }

    /// Called before a write: `Some(bytes to write before failing)` when it must fail.
    pub(crate) fn on_write(&self, len: usize) -> Option<usize> {
        Self::hit(&self.writes_left).then_some(if self.torn { len / 2 } else { 0 })
    }

    /// Called before the active segment is extended to `len`: true when the disk is full.
    pub(crate) fn on_extend(&self, len: u64) -> bool {
        len > self.space.load(Ordering::SeqCst)
    }

    /// The simulated disk's size, if [`FaultPlan::disk_full_at`] set one.
    pub(crate) fn space(&self) -> Option<u64> {
        let space = self.space.load(Ordering::SeqCst);
        (space != u64::MAX).then_some(space)
    }

    /// Called before a sync: true when it must fail.
    pub(crate) fn on_sync(&self) -> bool {
        Self::hit(&self.syncs_left)
    }
}
