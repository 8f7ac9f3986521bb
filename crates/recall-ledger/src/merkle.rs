//! RFC 9162 §2.1 hashing and the append frontier.

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [0; 32]; // TODO(helper): the real constant e3b0c442…

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(_entry: &[u8]) -> Hash {
    todo!()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(_left: &Hash, _right: &Hash) -> Hash {
    todo!()
}

/// Naive recursive MTH over leaf hashes (the reference the fast code is tested against).
pub fn root_of_leaves(_leaves: &[Hash]) -> Hash {
    todo!()
}

/// The right edge of a growing tree (a compact range `[0, size)`): one hash per set bit
/// of `size`, enough to append and to compute the root in O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from the perfect subtree roots, largest first; `None` when the
    /// number of hashes does not match the set bits of `size`.
    pub fn from_parts(_size: u64, _stack: Vec<Hash>) -> Option<Self> {
        todo!()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the perfect subtrees, largest first.
    pub fn stack(&self) -> &[Hash] {
        &self.stack
    }

    /// Appends a leaf hash. `on_node(level, index, hash)` is called for every node that
    /// becomes complete, the leaf itself first (level 0), bottom-up: node `(level, index)`
    /// covers leaves `[index << level, (index + 1) << level)`.
    pub fn push(&mut self, _leaf: Hash, _on_node: impl FnMut(u8, u64, &Hash)) {
        todo!()
    }

    /// The tree root (RFC 9162 MTH) at the current size.
    pub fn root(&self) -> Hash {
        todo!()
    }
}
