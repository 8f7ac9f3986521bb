//! Property tests against the naive model (`root_of_leaves`): roots, proofs, tampering,
//! and the tiled hash source. Sizes up to a few thousand cross several tile boundaries
//! (256 leaves per level-0 tile) and exercise the level-8 stored hashes.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use recall_ledger::{
    Frontier, Hash, HashSource, MemoryHashes, StoredHashes, TiledHashSource, consistency_proof,
    inclusion_proof, leaf_hash, root_at, root_of_leaves, verify_consistency, verify_inclusion,
};

/// Complete subtree hashes computed from the leaves, the obviously-correct way.
struct Naive<'a>(&'a [Hash]);

impl HashSource for Naive<'_> {
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, String> {
        let start = (index << level) as usize;
        let end = start + (1usize << level);
        if end > self.0.len() {
            return Err(format!("({level}, {index}) is incomplete"));
        }
        Ok(root_of_leaves(&self.0[start..end]))
    }
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

fn build(leaves: &[Hash]) -> MemoryHashes {
    let mut t = MemoryHashes::new();
    for l in leaves {
        t.push(*l);
    }
    t
}

/// A size, a smaller-or-equal size and a leaf index below it.
fn sizes() -> impl Strategy<Value = (u64, u64, u64)> {
    (1u64..3000)
        .prop_flat_map(|n| (Just(n), 1..=n))
        .prop_flat_map(|(n, m)| (Just(n), Just(m), 0..m))
}

fn flip(h: &mut Hash, bit: usize) {
    h[bit / 8 % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn roots_agree_with_the_naive_model((n, m, _) in sizes()) {
        let all = leaves(n);
        let t = build(&all);
        let want_n = root_of_leaves(&all);
        let want_m = root_of_leaves(&all[..m as usize]);
        prop_assert_eq!(t.frontier().root(), want_n);
        prop_assert_eq!(root_at(n, &TiledHashSource(&t)).unwrap(), want_n);
        prop_assert_eq!(root_at(m, &TiledHashSource(&t)).unwrap(), want_m);
        let mut f = Frontier::new();
        for l in &all[..m as usize] {
            f.push(*l, |_, _, _| {});
        }
        prop_assert_eq!(f.root(), want_m);
        let rebuilt = Frontier::from_parts(f.size(), f.stack().to_vec()).unwrap();
        prop_assert_eq!(rebuilt.root(), want_m);
    }

    #[test]
    fn proofs_verify_and_tampering_fails(
        (n, m, i) in sizes(),
        bit in 0usize..256,
        pick in any::<prop::sample::Index>(),
    ) {
        let all = leaves(n);
        let t = build(&all);
        let src = TiledHashSource(&t);
        let (root_m, root_n) = (root_of_leaves(&all[..m as usize]), root_of_leaves(&all));

        let incl = inclusion_proof(i, m, &src).unwrap();
        prop_assert_eq!(&incl, &inclusion_proof(i, m, &Naive(&all)).unwrap());
        prop_assert!(verify_inclusion(&all[i as usize], i, m, &incl, &root_m).is_ok());
        let mut bad_root = root_m;
        flip(&mut bad_root, bit);
        prop_assert!(verify_inclusion(&all[i as usize], i, m, &incl, &bad_root).is_err());
        if !incl.is_empty() {
            let mut bad = incl.clone();
            flip(&mut bad[pick.index(incl.len())], bit);
            prop_assert!(verify_inclusion(&all[i as usize], i, m, &bad, &root_m).is_err());
        }

        let cons = consistency_proof(m, n, &src).unwrap();
        prop_assert_eq!(&cons, &consistency_proof(m, n, &Naive(&all)).unwrap());
        prop_assert!(verify_consistency(m, n, &root_m, &root_n, &cons).is_ok());
        if m < n {
            let mut bad_old = root_m;
            flip(&mut bad_old, bit);
            prop_assert!(verify_consistency(m, n, &bad_old, &root_n, &cons).is_err());
            let mut bad_new = root_n;
            flip(&mut bad_new, bit);
            prop_assert!(verify_consistency(m, n, &root_m, &bad_new, &cons).is_err());
            let mut bad = cons.clone();
            flip(&mut bad[pick.index(cons.len())], bit);
            prop_assert!(verify_consistency(m, n, &root_m, &root_n, &bad).is_err());
        }
    }

    #[test]
    fn tiled_source_agrees_with_naive(n in 1u64..3000, level in 0u8..12, pick in any::<prop::sample::Index>()) {
        let all = leaves(n);
        let t = build(&all);
        let complete = n >> level;
        prop_assume!(complete > 0);
        let index = pick.index(complete as usize) as u64;
        prop_assert_eq!(
            TiledHashSource(&t).subtree(level, index).unwrap(),
            Naive(&all).subtree(level, index).unwrap()
        );
        // Past the complete subtrees the source must fail, not invent a hash.
        prop_assert!(TiledHashSource(&t).subtree(level, complete).is_err());
    }
}

/// Every proof for every pair of sizes up to 40: the small trees hold all the shapes.
#[test]
fn exhaustive_small_trees() {
    let all = leaves(40);
    let t = build(&all);
    let src = TiledHashSource(&t);
    for n in 0..=40u64 {
        let root_n = root_of_leaves(&all[..n as usize]);
        assert_eq!(root_at(n, &src).unwrap(), root_n);
        for m in 0..=n {
            let root_m = root_of_leaves(&all[..m as usize]);
            let cons = consistency_proof(m, n, &src).unwrap();
            verify_consistency(m, n, &root_m, &root_n, &cons).unwrap();
        }
        for i in 0..n {
            let p = inclusion_proof(i, n, &src).unwrap();
            verify_inclusion(&all[i as usize], i, n, &p, &root_n).unwrap();
        }
    }
}

/// `TiledHashSource` reads each in-between level in one `read` of 2^(level mod 8) hashes.
#[test]
fn tiled_source_reads_once_per_subtree() {
    use std::cell::RefCell;
    struct Counting<'a>(&'a MemoryHashes, RefCell<Vec<(u8, u64, u64)>>);
    impl StoredHashes for Counting<'_> {
        fn read(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, String> {
            self.1.borrow_mut().push((level, start, count));
            self.0.read(level, start, count)
        }
    }
    let t = build(&leaves(1 << 17));
    let c = Counting(&t, RefCell::new(Vec::new()));
    TiledHashSource(&c).subtree(15, 3).unwrap();
    TiledHashSource(&c).subtree(8, 5).unwrap();
    TiledHashSource(&c).subtree(16, 1).unwrap();
    TiledHashSource(&c).subtree(3, 9).unwrap();
    assert_eq!(
        c.1.into_inner(),
        vec![(8, 384, 128), (8, 5, 1), (16, 1, 1), (0, 72, 8)]
    );
}

/// `frontier_at` read from stored hashes equals the frontier built by appending.
#[test]
fn frontier_from_stored_hashes_matches_appending() {
    let all = leaves(1100);
    let t = build(&all);
    let src = TiledHashSource(&t);
    let mut appended = Frontier::new();
    for (i, leaf) in all.iter().enumerate() {
        assert_eq!(
            recall_ledger::frontier_at(i as u64, &src).unwrap(),
            appended,
            "size {i}"
        );
        appended.push(*leaf, |_, _, _| {});
    }
}
