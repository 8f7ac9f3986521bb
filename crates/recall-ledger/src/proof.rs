//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4).
//!
//! Proofs are generated with the RFC's own recursions (`PATH`, `SUBPROOF`), reading
//! only hashes of *complete* subtrees from a [`HashSource`]; the hash of an incomplete
//! right edge is computed from the complete subtrees it splits into. Verification is
//! the RFC's iterative algorithms, after an up-front length check so a wrong-length
//! proof gets a precise error.

use crate::Hash;
use crate::merkle::{EMPTY_ROOT, Frontier, node_hash, split_point};

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree (`index >= size`; no leaf is in an empty tree).
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldSizeExceedsNew {
        /// The old (first) tree size.
        old: u64,
        /// The new (second) tree size.
        new: u64,
    },
    /// The proof does not have the number of hashes the sizes imply.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// Hashes the proof must have for these sizes.
        expected: usize,
        /// Hashes the proof has.
        got: usize,
    },
    /// The root recomputed from the proof is not the expected (new) root.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
    /// The old root recomputed from a consistency proof is not the given old root.
    #[error("recomputed old root does not match the given old root")]
    OldRootMismatch,
    /// A root given for a tree of size 0 is not SHA-256("").
    #[error("root given for the empty tree is not SHA-256(\"\")")]
    EmptyTreeRootMismatch,
    /// The hash source failed; its own error text.
    #[error("hash source: {0}")]
    Source(String),
}

/// Hashes of complete subtrees: `subtree(level, index)` is the hash of the perfect subtree
/// covering leaves `[index << level, (index + 1) << level)`.
pub trait HashSource {
    /// The subtree hash; errors are reported as text (the source's own error).
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, String>;
}

/// `MTH(D[start:end])` for a node of the RFC 9162 recursion: a perfect aligned subtree
/// is read, anything else is split at the largest power of two and computed.
fn mth(start: u64, end: u64, src: &dyn HashSource) -> Result<Hash, ProofError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return src
            .subtree(level, start >> level)
            .map_err(ProofError::Source);
    }
    let k = split_point(n);
    Ok(node_hash(
        &mth(start, start + k, src)?,
        &mth(start + k, end, src)?,
    ))
}

/// The tree root at `size` from complete-subtree hashes.
pub fn root_at(size: u64, src: &dyn HashSource) -> Result<Hash, ProofError> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    mth(0, size, src)
}

/// The append frontier of the tree of `size` leaves (its perfect-subtree roots, largest
/// first), read from complete-subtree hashes: lets a writer check a saved tree state
/// against its tiles.
pub fn frontier_at(size: u64, src: &dyn HashSource) -> Result<Frontier, ProofError> {
    let mut stack = Vec::with_capacity(size.count_ones() as usize);
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if (size >> level) & 1 == 1 {
            stack.push(
                src.subtree(level, start >> level)
                    .map_err(ProofError::Source)?,
            );
            start += 1 << level;
        }
    }
    Frontier::from_parts(size, stack).ok_or(ProofError::Source("inconsistent frontier".into()))
}

/// RFC 9162 inclusion proof for leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    src: &dyn HashSource,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::with_capacity(inclusion_len(index, size));
    path(index, 0, size, src, &mut out)?;
    Ok(out)
}

/// `PATH(m, D[start:end])`: the path below comes first, then the sibling at this level.
fn path(
    m: u64,
    start: u64,
    end: u64,
    src: &dyn HashSource,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(m, start, start + k, src, out)?;
        out.push(mth(start + k, end, src)?);
    } else {
        path(m - k, start + k, end, src, out)?;
        out.push(mth(start, start + k, src)?);
    }
    Ok(())
}

/// RFC 9162 consistency proof between sizes `old` and `new` (`old <= new`).
///
/// The proof is empty when `old == new` and when `old == 0` (the empty tree is a prefix
/// of every tree; see [`verify_consistency`]).
pub fn consistency_proof(
    old: u64,
    new: u64,
    src: &dyn HashSource,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::OldSizeExceedsNew { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        out.reserve(consistency_len(old, new));
        subproof(old, 0, new, true, src, &mut out)?;
    }
    Ok(out)
}

/// `SUBPROOF(m, D[start:end], b)`; `b` says the old tree is this whole subtree's left
/// edge, whose root the verifier already knows.
fn subproof(
    m: u64,
    start: u64,
    end: u64,
    b: bool,
    src: &dyn HashSource,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - start;
    if m == n {
        if !b {
            out.push(mth(start, end, src)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, start, start + k, b, src, out)?;
        out.push(mth(start + k, end, src)?);
    } else {
        subproof(m - k, start + k, end, false, src, out)?;
        out.push(mth(start, start + k, src)?);
    }
    Ok(())
}

/// Bits needed to write `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Hashes in an inclusion proof for `index < size`: one per level where the paths to
/// `index` and to the last leaf differ ("inner"), plus one per left sibling above
/// where they join ("border").
fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Hashes in a consistency proof for `0 < old < new`: the inclusion path of the old
/// tree's last leaf, minus the levels inside the old tree's rightmost perfect subtree,
/// plus that subtree's root unless it is the whole old tree (old is a power of two).
fn consistency_len(old: u64, new: u64) -> usize {
    let inner = bit_len((old - 1) ^ (new - 1)) - old.trailing_zeros();
    let border = ((old - 1) >> bit_len((old - 1) ^ (new - 1))).count_ones();
    let seed = usize::from(!old.is_power_of_two());
    seed + (inner + border) as usize
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Climb past the levels where this node has no right sibling.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2).
///
/// Edge cases, decided here: `old == new` needs an empty proof and equal roots;
/// `old == 0` needs an empty proof and `old_root == SHA-256("")` (the empty tree is a
/// prefix of every tree, but a checkpoint of size 0 claiming another root is wrong, so
/// it is refused rather than ignored). A size-0 tree's root must be `SHA-256("")` in
/// both cases.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNew {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if old_size == 0 && *old_root != EMPTY_ROOT {
            return Err(ProofError::EmptyTreeRootMismatch);
        }
        if new_size == 0 && *new_root != EMPTY_ROOT {
            return Err(ProofError::EmptyTreeRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let expected = consistency_len(old_size, new_size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    // Step 2: when the old tree is a perfect subtree, its root is the path's first node.
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            // A left sibling: part of both trees.
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // A right sibling: only in the new tree.
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}
