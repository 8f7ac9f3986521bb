//! RFC 9162 §2.1 hashing and the append frontier.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Domain separation prefixes (RFC 9162 §2.1.1): they keep a leaf from ever being
/// mistaken for an interior node (second-preimage resistance).
const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (RFC 9162's `k`); `n` must be ≥ 2.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Naive recursive MTH over leaf hashes (the reference the fast code is tested against).
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [one] => *one,
        _ => {
            // usize → u64 is lossless on every supported target.
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(&root_of_leaves(&leaves[..k]), &root_of_leaves(&leaves[k..]))
        }
    }
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
    pub fn from_parts(size: u64, stack: Vec<Hash>) -> Option<Self> {
        (stack.len() == size.count_ones() as usize).then_some(Self { size, stack })
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
    ///
    /// Allocation-free except when the stack first grows past its capacity (it never
    /// holds more than 64 hashes).
    ///
    /// # Panics
    /// When the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash, mut on_node: impl FnMut(u8, u64, &Hash)) {
        let mut hash = leaf;
        let mut level = 0u8;
        let mut index = self.size;
        on_node(level, index, &hash);
        // Each trailing one bit of the old size is a perfect subtree on the stack whose
        // right sibling has just completed: merge them, one level up each time.
        while index & 1 == 1 {
            let left = self
                .stack
                .pop()
                .expect("stack holds one hash per set bit of size");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            on_node(level, index, &hash);
        }
        self.stack.push(hash);
        self.size = self.size.checked_add(1).expect("tree size overflow");
    }

    /// The tree root (RFC 9162 MTH) at the current size.
    pub fn root(&self) -> Hash {
        // MTH splits at the largest power of two, so the perfect subtrees nest to the
        // right: fold from the smallest (rightmost) one leftwards.
        let mut iter = self.stack.iter().rev();
        match iter.next() {
            None => EMPTY_ROOT,
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn empty_root_is_sha256_of_empty_string() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(
            EMPTY_ROOT,
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(Frontier::new().root(), EMPTY_ROOT);
        assert_eq!(root_of_leaves(&[]), EMPTY_ROOT);
    }

    /// transparency-dev/merkle rfc6962/rfc6962_test.go.
    #[test]
    fn leaf_hash_vectors() {
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            leaf_hash(b"L123456"),
            h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
    }

    #[test]
    fn split_point_is_largest_power_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (u64::MAX, 1 << 63),
        ] {
            assert_eq!(split_point(n), k, "n={n}");
        }
    }

    #[test]
    fn push_reports_every_completed_node() {
        let mut f = Frontier::new();
        let mut seen = Vec::new();
        for i in 0..8u8 {
            f.push(leaf_hash(&[i]), |l, idx, _| seen.push((l, idx)));
        }
        // Leaf 7 completes (1,3), (2,1) and (3,0).
        assert_eq!(&seen[seen.len() - 4..], &[(0, 7), (1, 3), (2, 1), (3, 0)]);
        assert_eq!(seen.len(), 15);
        assert_eq!(f.stack().len(), 1);
    }

    #[test]
    fn from_parts_checks_popcount() {
        assert!(Frontier::from_parts(5, vec![[0; 32]]).is_none());
        let f = Frontier::from_parts(5, vec![[1; 32], [2; 32]]).unwrap();
        assert_eq!(f.root(), node_hash(&[1; 32], &[2; 32]));
        assert_eq!(Frontier::from_parts(0, vec![]), Some(Frontier::new()));
    }
}
