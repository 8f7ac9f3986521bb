//! The classic RFC 6962/9162 eight-leaf test vectors, as published in
//! github.com/transparency-dev/merkle (proof/verify_test.go): leaf inputs, the roots for
//! sizes 1..=8, and inclusion and consistency proofs. Our generator must produce exactly
//! the published proofs, and our verifier must accept them and refuse corruptions.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use recall_ledger::{
    EMPTY_ROOT, Frontier, Hash, MemoryHashes, ProofError, TiledHashSource, consistency_proof,
    inclusion_proof, leaf_hash, root_at, root_of_leaves, verify_consistency, verify_inclusion,
};

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (0-based leaf index, tree size, proof). The source lists 1-based leaf numbers.
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// (old size, new size, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

fn leaf_hashes() -> Vec<Hash> {
    LEAVES
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect()
}

fn tree() -> MemoryHashes {
    let mut t = MemoryHashes::new();
    for l in leaf_hashes() {
        t.push(l);
    }
    t
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn roots_for_sizes_1_to_8() {
    let leaves = leaf_hashes();
    let t = tree();
    let mut f = Frontier::new();
    for size in 1..=8u64 {
        f.push(leaves[size as usize - 1], |_, _, _| {});
        assert_eq!(f.root(), root(size), "frontier, size {size}");
        assert_eq!(
            root_of_leaves(&leaves[..size as usize]),
            root(size),
            "naive, size {size}"
        );
        assert_eq!(
            root_at(size, &TiledHashSource(&t)).unwrap(),
            root(size),
            "tiled, size {size}"
        );
    }
    assert_eq!(root_at(0, &TiledHashSource(&t)).unwrap(), EMPTY_ROOT);
}

#[test]
fn inclusion_proofs_match_published_ones() {
    let t = tree();
    let leaves = leaf_hashes();
    for (index, size, want) in inclusion_vectors() {
        let got = inclusion_proof(index, size, &TiledHashSource(&t)).unwrap();
        assert_eq!(got, want, "inclusion proof for leaf {index} in size {size}");
        verify_inclusion(&leaves[index as usize], index, size, &want, &root(size)).unwrap();
    }
}

#[test]
fn consistency_proofs_match_published_ones() {
    let t = tree();
    for (old, new, want) in consistency_vectors() {
        let got = consistency_proof(old, new, &TiledHashSource(&t)).unwrap();
        assert_eq!(got, want, "consistency proof {old} -> {new}");
        verify_consistency(old, new, &root(old), &root(new), &want).unwrap();
    }
}

/// The corruption probes of transparency-dev's verifier tests, applied to every vector.
#[test]
fn corrupted_inclusion_proofs_fail() {
    let leaves = leaf_hashes();
    let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, proof) in inclusion_vectors() {
        let (leaf, r) = (leaves[index as usize], root(size));
        let bad = |i: u64, s: u64, leaf: &Hash, p: &[Hash], r: &Hash| {
            verify_inclusion(leaf, i, s, p, r).is_err()
        };
        assert!(index == 0 || bad(index - 1, size, &leaf, &proof, &r));
        assert!(bad(index + 1, size, &leaf, &proof, &r));
        assert!(bad(index ^ 2, size, &leaf, &proof, &r));
        assert!(bad(index, size * 2, &leaf, &proof, &r));
        assert!(bad(index, size / 2, &leaf, &proof, &r));
        assert!(bad(index, size, &some, &proof, &r));
        assert!(bad(index, size, &leaf, &proof, &EMPTY_ROOT));
        assert!(bad(index, size, &leaf, &proof, &some));
        assert!(bad(
            index,
            size,
            &leaf,
            &[proof.clone(), vec![r]].concat(),
            &r
        ));
        assert!(bad(
            index,
            size,
            &leaf,
            &[vec![r], proof.clone()].concat(),
            &r
        ));
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][0] ^= 8;
            assert!(bad(index, size, &leaf, &p, &r), "modified proof[{i}]");
        }
        if !proof.is_empty() {
            assert!(bad(index, size, &leaf, &proof[..proof.len() - 1], &r));
        }
    }
}

#[test]
fn corrupted_consistency_proofs_fail() {
    for (old, new, proof) in consistency_vectors() {
        if proof.is_empty() {
            continue;
        }
        let (r1, r2) = (root(old), root(new));
        let bad = |o: u64, n: u64, a: &Hash, b: &Hash, p: &[Hash]| {
            verify_consistency(o, n, a, b, p).is_err()
        };
        assert!(bad(old - 1, new, &r1, &r2, &proof));
        assert!(bad(old + 1, new, &r1, &r2, &proof));
        assert!(bad(old ^ 2, new, &r1, &r2, &proof));
        assert!(bad(old, new * 2, &r1, &r2, &proof));
        assert!(bad(old, new / 2, &r1, &r2, &proof));
        assert!(bad(old, new, &r2, &r1, &proof));
        assert!(bad(old, new, &r1, &r2, &[]));
        assert!(bad(old, new, &r1, &r2, &[proof.clone(), vec![r1]].concat()));
        assert!(bad(old, new, &r1, &r2, &[vec![r2], proof.clone()].concat()));
        assert!(bad(
            old,
            new,
            &r1,
            &r2,
            &[vec![proof[0]], proof.clone()].concat()
        ));
        assert!(bad(old, new, &r1, &r2, &proof[..proof.len() - 1]));
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][0] ^= 16;
            assert!(bad(old, new, &r1, &r2, &p), "modified proof[{i}]");
        }
    }
}

/// transparency-dev's "always consistent" and edge cases, with our documented decision
/// that a size-0 tree must claim SHA-256("") as its root.
#[test]
fn consistency_edge_cases() {
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    assert_eq!(verify_consistency(0, 1, &EMPTY_ROOT, &b, &[]), Ok(()));
    assert_eq!(verify_consistency(1, 1, &b, &b, &[]), Ok(()));
    assert_eq!(
        verify_consistency(1, 1, &a, &b, &[]),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 1, &a, &b, &[]),
        Err(ProofError::EmptyTreeRootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 0, &a, &a, &[]),
        Err(ProofError::EmptyTreeRootMismatch)
    );
    assert_eq!(
        verify_consistency(1, 0, &a, &b, &[]),
        Err(ProofError::OldSizeExceedsNew { old: 1, new: 0 })
    );
    assert_eq!(
        verify_consistency(1, 2, &a, &b, &[]),
        Err(ProofError::WrongProofLength {
            expected: 1,
            got: 0
        })
    );
    for (o, n) in [(0, 0), (0, 1), (1, 1)] {
        assert!(verify_consistency(o, n, &EMPTY_ROOT, &EMPTY_ROOT, &[EMPTY_ROOT]).is_err());
    }
    let t = tree();
    assert_eq!(consistency_proof(0, 8, &TiledHashSource(&t)), Ok(vec![]));
    assert_eq!(consistency_proof(8, 8, &TiledHashSource(&t)), Ok(vec![]));
    assert_eq!(
        consistency_proof(9, 8, &TiledHashSource(&t)),
        Err(ProofError::OldSizeExceedsNew { old: 9, new: 8 })
    );
}

#[test]
fn inclusion_edge_cases() {
    let some = [7u8; 32];
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert_eq!(
            verify_inclusion(&some, index, size, &[], &some),
            Err(ProofError::IndexOutOfRange { index, size })
        );
        assert_eq!(
            inclusion_proof(index, size, &TiledHashSource(&tree())),
            Err(ProofError::IndexOutOfRange { index, size })
        );
    }
    // A one-leaf tree: the root is the leaf hash and the proof is empty.
    let leaf = leaf_hash(b"data");
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[], &some),
        Err(ProofError::RootMismatch)
    );
    // Reading past what the source holds is the source's error, reported as text.
    assert!(matches!(
        root_at(9, &TiledHashSource(&tree())),
        Err(ProofError::Source(_))
    ));
}
