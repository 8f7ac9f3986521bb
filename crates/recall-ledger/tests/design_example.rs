//! The worked example of docs/design/merkle-and-checkpoints.md, frozen: if a byte here
//! changes, the on-disk or on-wire format changed. The values were also recomputed
//! independently with Python's hashlib and `cryptography` (Ed25519).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use recall_ledger::{
    Checkpoint, MemoryHashes, Note, Signer, TilePath, TiledHashSource, consistency_proof,
    entry_bundle, inclusion_proof, leaf_hash, root_at, tile_bytes, verify_consistency,
    verify_inclusion,
};

const ENTRIES: [&[u8]; 3] = [b"entry-0", b"entry-1", b"entry-2"];
const LEAF: [&str; 3] = [
    "40766b2033429026f53d54502679a839706b4741f8dcaf3a8bba5f41b5ffe075",
    "e868811a482c27d50b6d45dde79c465d6adb9b06645100477a90cf3d8518898b",
    "049d7dcdb56bcfebd313304c9839f196a3d4b6ef3bdc0b08298f93ac8191f0a8",
];
const ROOT2: &str = "2f27a5082c1d42afa488ac350a9fc4390c084f54f71ecdff859e98db8429b479";
const ROOT3: &str = "a64bf26e09128f6fe2fe6f8b2d8c801e166b57c047a7cd9b2b809e7a96a2f1cb";
const NOTE: &str = "recall.example.org/demo\n3\npkvybgkSj2/i/m+LLYyAHhZrV8BHp82bK4Ceepai8cs=\n\n\
— recall.example.org/demo qPU/4bLWkIcS0g6r4lnyHuPGazI97SS2xS4OUArPwpEYt5ydI7ptZKqUrKsdn/l0fKJrZlIPQBT5YcTecuaww/cj8QY=\n";
const VKEY: &str = "recall.example.org/demo+a8f53fe1+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h";

#[test]
fn worked_example() {
    let mut t = MemoryHashes::new();
    for (e, want) in ENTRIES.iter().zip(LEAF) {
        assert_eq!(hex::encode(leaf_hash(e)), want);
        t.push(leaf_hash(e));
    }
    let src = TiledHashSource(&t);
    let (root2, root3) = (root_at(2, &src).unwrap(), root_at(3, &src).unwrap());
    assert_eq!(
        (hex::encode(root2), hex::encode(root3)),
        (ROOT2.into(), ROOT3.into())
    );

    let incl = inclusion_proof(1, 3, &src).unwrap();
    assert_eq!(
        incl.iter().map(hex::encode).collect::<Vec<_>>(),
        [LEAF[0], LEAF[2]]
    );
    verify_inclusion(&leaf_hash(ENTRIES[1]), 1, 3, &incl, &root3).unwrap();
    let cons = consistency_proof(2, 3, &src).unwrap();
    assert_eq!(cons.iter().map(hex::encode).collect::<Vec<_>>(), [LEAF[2]]);
    verify_consistency(2, 3, &root2, &root3, &cons).unwrap();

    let cp = Checkpoint {
        origin: "recall.example.org/demo".into(),
        size: 3,
        root: root3,
        extensions: vec![],
    };
    let signer = Signer::new("recall.example.org/demo", &[0x2a; 32]).unwrap();
    assert_eq!(signer.verifier().to_vkey(), VKEY);
    assert_eq!(Note::sign(&cp.to_body(), &[&signer]).unwrap(), NOTE);
    assert_eq!(
        Checkpoint::parse_body(&Note::parse(NOTE).unwrap().text).unwrap(),
        cp
    );

    assert_eq!(
        hex::encode(entry_bundle(&ENTRIES)),
        "0007656e7472792d300007656e7472792d310007656e7472792d32"
    );
    assert_eq!(
        TilePath::tiles_for_size(0, 3)[0].to_path(),
        "tile/0/000.p/3"
    );
    assert_eq!(
        TilePath::entry_bundles_for_size(3)[0].to_path(),
        "tile/entries/000.p/3"
    );
    assert_eq!(hex::encode(tile_bytes(t.level(0))), LEAF.concat());
}
