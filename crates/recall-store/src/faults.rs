//! Fault injection for tests: fail a chosen write or sync of the embedded engine.

use std::sync::atomic::{AtomicI64, Ordering};

/// Which I/O operations of the embedded engine fail. Counters count down on each
/// operation; the one that brings a counter to zero fails. Negative means never.
#[derive(Debug)]
pub struct FaultPlan {
    writes_left: AtomicI64,
    syncs_left: AtomicI64,
    torn: bool,
}

impl FaultPlan {
    /// Fails the `n`-th segment write (1-based); with `torn`, half of its bytes reach the
    /// file first, as a crash in the middle of `write` would leave them.
    pub fn fail_write(n: i64, torn: bool) -> Self {
        Self {
            writes_left: AtomicI64::new(n),
            syncs_left: AtomicI64::new(-1),
            torn,
        }
    }

    /// Fails the `n`-th segment sync (1-based), after its write went through.
    pub fn fail_sync(n: i64) -> Self {
        Self {
            writes_left: AtomicI64::new(-1),
            syncs_left: AtomicI64::new(n),
            torn: false,
        }
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

    /// Called before a sync: true when it must fail.
    pub(crate) fn on_sync(&self) -> bool {
        Self::hit(&self.syncs_left)
    }
}
