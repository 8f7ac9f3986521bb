//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4).

use crate::Hash;

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// TODO(helper): variants (index out of range, wrong length, root mismatch, source error).
    #[error("placeholder")]
    Placeholder,
}

/// Hashes of complete subtrees: `subtree(level, index)` is the hash of the perfect subtree
/// covering leaves `[index << level, (index + 1) << level)`.
pub trait HashSource {
    /// The subtree hash; errors are reported as text (the source's own error).
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, String>;
}

/// Stored hashes as tiles keep them: one flat array per tree level that is a multiple of
/// [`crate::TILE_HEIGHT`] (0, 8, 16, …), holding the hashes of complete subtrees.
pub trait StoredHashes {
    /// `count` consecutive hashes of tree level `level` (a multiple of 8) from `start`.
    fn read(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, String>;
}

/// Adapts [`StoredHashes`] to [`HashSource`]: levels between stored ones are computed
/// from the stored level below (at most 128 hashes).
pub struct TiledHashSource<'a, S: StoredHashes + ?Sized>(pub &'a S);

impl<S: StoredHashes + ?Sized> HashSource for TiledHashSource<'_, S> {
    fn subtree(&self, _level: u8, _index: u64) -> Result<Hash, String> {
        todo!()
    }
}

/// The tree root at `size` from complete-subtree hashes.
pub fn root_at(_size: u64, _src: &dyn HashSource) -> Result<Hash, ProofError> {
    todo!()
}

/// RFC 9162 inclusion proof for leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof(_index: u64, _size: u64, _src: &dyn HashSource) -> Result<Vec<Hash>, ProofError> {
    todo!()
}

/// RFC 9162 consistency proof between sizes `old` and `new` (`old <= new`).
pub fn consistency_proof(_old: u64, _new: u64, _src: &dyn HashSource) -> Result<Vec<Hash>, ProofError> {
    todo!()
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(_leaf: &Hash, _index: u64, _size: u64, _proof: &[Hash], _root: &Hash) -> Result<(), ProofError> {
    todo!()
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(_old_size: u64, _new_size: u64, _old_root: &Hash, _new_root: &Hash, _proof: &[Hash]) -> Result<(), ProofError> {
    todo!()
}
