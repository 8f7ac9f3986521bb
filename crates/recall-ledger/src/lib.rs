//! The tamper-evident ledger: pure functions and types, no I/O.
//!
//! Job: the RFC 9162 §2.1 Merkle tree (leaf `SHA-256(0x00 ‖ entry)`, node
//! `SHA-256(0x01 ‖ left ‖ right)`), inclusion and consistency proofs and their
//! verification, C2SP tlog-checkpoint bodies, C2SP signed notes with Ed25519, and the
//! C2SP tlog-tiles layout (tile paths, partial tiles, entry bundles).
//!
//! Invariants:
//! - Entries are opaque bytes; recall's entries are 32-byte commitments, never events.
//! - Proof generation reads only hashes of *complete* subtrees through [`HashSource`];
//!   the storage layer decides where they live (tiles).
//! - Signed-note verification ignores signatures by unknown keys, and fails when no
//!   known key signed or when any signature by a known key is invalid.
//! - A tree of size 0 has root SHA-256(""); consistency from size 0 is an empty proof
//!   and is accepted only with that root (see [`verify_consistency`]).
//!
//! Byte-level formats and a worked example: docs/design/merkle-and-checkpoints.md.

#![forbid(unsafe_code)]

mod checkpoint;
mod merkle;
mod note;
mod proof;
mod stored;
mod tiles;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{EMPTY_ROOT, Frontier, Hash, leaf_hash, node_hash, root_of_leaves};
pub use note::{MAX_NOTE_SIGNATURES, Note, NoteError, NoteSignature, Signer, Verifier};
pub use proof::{
    HashSource, ProofError, consistency_proof, frontier_at, inclusion_proof, root_at,
    verify_consistency, verify_inclusion,
};
pub use stored::{MemoryHashes, StoredHashes, TiledHashSource};
pub use tiles::{
    MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, TilePath, TilePathError, entry_bundle,
    parse_entry_bundle, parse_tile, tile_bytes, try_entry_bundle,
};
