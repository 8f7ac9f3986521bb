//! Where proof hashes come from: the tile-level hashes storage keeps, and an adapter
//! that serves any complete subtree from them.

use crate::merkle::{Frontier, node_hash};
use crate::{Hash, HashSource, TILE_HEIGHT};

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
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, String> {
        if level >= 64 {
            return Err(format!("no subtree at level {level} in a 64-bit tree"));
        }
        let depth = level % TILE_HEIGHT;
        let base = level - depth;
        // The node's descendants at the stored level below: 2^depth consecutive hashes.
        let count = 1u64 << depth;
        let start = index
            .checked_mul(count)
            .ok_or_else(|| format!("subtree ({level}, {index}) is out of range"))?;
        let mut hashes = self.0.read(base, start, count)?;
        if hashes.len() as u64 != count {
            return Err(format!(
                "read of {count} hashes at level {base} from {start} returned {}",
                hashes.len()
            ));
        }
        // Hash pairs in place, one level per round, until the node itself is left.
        let mut width = hashes.len();
        while width > 1 {
            for i in 0..width / 2 {
                hashes[i] = node_hash(&hashes[2 * i], &hashes[2 * i + 1]);
            }
            width /= 2;
        }
        Ok(hashes[0])
    }
}

/// Tile-level hashes kept in memory: feed it leaf hashes in order and it keeps exactly
/// what tiles hold (tree levels 0, 8, 16, …). For tests, rebuilds and verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryHashes {
    frontier: Frontier,
    /// `levels[i]` holds the complete subtree hashes of tree level `8 * i`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryHashes {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.push(leaf, |level, index, hash| {
            if level.is_multiple_of(TILE_HEIGHT) {
                let tile_level = usize::from(level / TILE_HEIGHT);
                if levels.len() <= tile_level {
                    levels.resize_with(tile_level + 1, Vec::new);
                }
                debug_assert_eq!(levels[tile_level].len() as u64, index);
                levels[tile_level].push(*hash);
            }
        });
    }

    /// The frontier of the whole tree (its size and root).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The stored hashes of tree level `level` (a multiple of 8); empty for other levels.
    pub fn level(&self, level: u8) -> &[Hash] {
        if !level.is_multiple_of(TILE_HEIGHT) {
            return &[];
        }
        self.levels
            .get(usize::from(level / TILE_HEIGHT))
            .map_or(&[], Vec::as_slice)
    }
}

impl StoredHashes for MemoryHashes {
    fn read(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, String> {
        if !level.is_multiple_of(TILE_HEIGHT) {
            return Err(format!("level {level} is not a tile level"));
        }
        let stored = self.level(level);
        let end = start.checked_add(count).ok_or("range overflows")?;
        if end > stored.len() as u64 {
            return Err(format!(
                "hashes [{start}, {end}) at level {level}: only {} stored",
                stored.len()
            ));
        }
        Ok(stored[start as usize..end as usize].to_vec())
    }
}
