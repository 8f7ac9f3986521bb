//! Storage of tenant logs.
//!
//! Job: persist batches durably (group commit: one write and one `fdatasync` per batch,
//! acknowledged only after it), keep the tiles of each tenant's Merkle tree, persist
//! signed checkpoints before they are published, and verify all of it.
//!
//! Layers inside: [`format`] (byte layout) → [`segment`] (files, strict scanning) →
//! the embedded engine ([`EmbeddedStore`]) behind the [`Store`] trait → the
//! backend-independent [`Journal`] (canonical form, commitments, encryption, checkpoints)
//! and [`verify`].
//!
//! Invariants:
//! - An append that failed is not in the log (undone before the error returns), unless
//!   the error says the outcome is unknown; a client batch leaves a reserve of space for
//!   recall's own records.
//! - A batch is visible after recovery only if its whole frame was written and synced;
//!   a torn tail of the last segment is cut back, damage anywhere else is an error naming
//!   the file and offset — never skipped.
//! - Tiles are derived data: rebuilt from the log on open where they could be stale.
//! - Never two inconsistent checkpoints: a checkpoint is signed only over a tree that
//!   extends the latest persisted one, and persisted before it is returned.
//! - A body block holds one tenant's events of one epoch.

#![forbid(unsafe_code)]

mod checkpoints;
mod codec;
mod embedded;
mod engine;
mod error;
mod evidence;
mod faults;
pub mod format;
mod journal;
pub mod retention;
pub mod segment;
mod store;
mod tiles;
pub mod verify;
mod window;

pub use embedded::{EmbeddedOptions, EmbeddedStore};
pub use error::{Result, StoreError};
pub use faults::FaultPlan;
pub use format::{FRAME_OVERHEAD, SealedBatch, SealedBlock};
pub use journal::{
    BLOCK_BYTES, BlockRef, Committed, Journal, Receipt, TileSource, block_aad, block_seqs,
    split_block,
};
pub use store::{Appended, Location, Reserve, ScanSummary, SealInfo, Store};
