//! The compatibility promise: a data directory written by format v1 (frozen in
//! `tests/fixtures/v1/`) must be read, verified and proven by every later version.
//!
//! The fixture is made once by the ignored test `regenerate` and committed; it is never
//! regenerated in place (that would defeat its purpose): `regenerate` leaves an existing
//! fixture alone. A new on-disk format gets a new fixture directory (`v2/`) next to this
//! one. See `tests/fixtures/v1/README.md`.
//!
//! Regenerate (only after deleting the fixture directory on purpose):
//! `cargo test -p recall --test frozen_datadir -- --ignored regenerate`

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{both, check_proof_text, copy_dir, data_verifier, open_checkpoint, recall, recall_ok};
use recall::datadir::DataDir;
use recall_crypto::{KeyProvider, Keystore};
use recall_ledger::Signer;
use recall_store::{EmbeddedOptions, EmbeddedStore, Journal};

const TENANT: &str = "frozen";
const EVENTS: u64 = 600;
const SEED: u64 = 7;
/// Seqs whose canonical bytes the fixture records.
const SAMPLED: [u64; 7] = [0, 5, 99, 100, 299, 300, 599];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// The facts `expected.txt` records.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    tenant: String,
    origin: String,
    size: u64,
    root: String,
    segments: usize,
    /// Every persisted checkpoint: size → base64 root.
    checkpoints: BTreeMap<u64, String>,
    /// seq → canonical bytes (JCS JSON, one line).
    canonical: BTreeMap<u64, String>,
}

impl Expected {
    fn parse(text: &str) -> Self {
        let mut e = Expected::default();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (key, rest) = line.split_once(' ').unwrap();
            match key {
                "tenant" => e.tenant = rest.to_string(),
                "origin" => e.origin = rest.to_string(),
                "size" => e.size = rest.parse().unwrap(),
                "root" => e.root = rest.to_string(),
                "segments" => e.segments = rest.parse().unwrap(),
                "checkpoint" => {
                    let (size, root) = rest.split_once(' ').unwrap();
                    e.checkpoints
                        .insert(size.parse().unwrap(), root.to_string());
                }
                "canonical" => {
                    let (seq, bytes) = rest.split_once(' ').unwrap();
                    e.canonical.insert(seq.parse().unwrap(), bytes.to_string());
                }
                other => panic!("unknown line {other:?} in expected.txt"),
            }
        }
        e
    }

    fn render(&self) -> String {
        let mut out = String::from(
            "# Facts of the frozen v1 data directory in data/ (written by the ignored test\n\
             # `regenerate` in crates/recall/tests/frozen_datadir.rs). Every later version of\n\
             # recall must read data/ and find exactly these.\n\
             # canonical lines: seq, then the event's canonical bytes (RFC 8785 JSON).\n",
        );
        out.push_str(&format!("tenant {}\n", self.tenant));
        out.push_str(&format!("origin {}\n", self.origin));
        out.push_str(&format!("size {}\n", self.size));
        out.push_str(&format!("root {}\n", self.root));
        out.push_str(&format!("segments {}\n", self.segments));
        for (size, root) in &self.checkpoints {
            out.push_str(&format!("checkpoint {size} {root}\n"));
        }
        for (seq, bytes) in &self.canonical {
            out.push_str(&format!("canonical {seq} {bytes}\n"));
        }
        out
    }
}

/// Every `(seq, canonical bytes)` of the tenant's log, read through the library.
fn read_back(data: &Path) -> Vec<(u64, Vec<u8>)> {
    let dir = DataDir::open(data, true).unwrap();
    let mut out = Vec::new();
    dir.journal
        .store()
        .scan(TENANT, &mut |batch, _| {
            out.extend(dir.journal.open_batch(TENANT, &batch)?);
            Ok(())
        })
        .unwrap();
    out
}

/// The persisted checkpoints (verified with the data directory's own key).
fn checkpoints(data: &Path) -> Vec<recall_ledger::Checkpoint> {
    let dir = DataDir::open(data, true).unwrap();
    let verifier = data_verifier(data);
    dir.journal
        .store()
        .checkpoints(TENANT)
        .unwrap()
        .iter()
        .map(|note| open_checkpoint(note, &verifier))
        .collect()
}

fn segment_count(data: &Path) -> usize {
    std::fs::read_dir(data.join("tenants").join(TENANT).join("log"))
        .unwrap()
        .count()
}

/// Creates the fixture: `recall init`, then two imports of 300 events through the
/// library (the CLI's import code) with 16 KiB segments and 100-event batches, so that
/// the directory holds sealed segments, an open one and several checkpoints while
/// staying small. Leaves an existing fixture alone.
#[test]
#[ignore = "writes the committed fixture; run by hand only after deleting it"]
fn regenerate() {
    let dir = fixture();
    let data = dir.join("data");
    if data.exists() {
        eprintln!(
            "{} exists: left alone (delete it first to make a new one — which breaks the \
             compatibility promise unless the format version changes)",
            data.display()
        );
        return;
    }
    std::fs::create_dir_all(&dir).unwrap();
    recall_ok(&data, &["init"]);

    let cfg = recall::config::Config::load(&data.join("recall.toml")).unwrap();
    let kek = KeyProvider::File(data.join("kek.key")).load().unwrap();
    let keystore = Keystore::open(&data.join("keystore.db"), kek).unwrap();
    let record = keystore.signing_key().unwrap().unwrap();
    let signer = Signer::new(&record.name, record.seed.expose()).unwrap();
    let store = EmbeddedStore::open(
        &data.join("tenants"),
        EmbeddedOptions {
            segment_bytes: 16 << 10,
            read_only: false,
            faults: None,
        },
    )
    .unwrap();
    let journal = Journal::new(
        Arc::new(store),
        Arc::new(keystore),
        signer,
        Vec::new(),
        &cfg.log.origin,
    );
    let input = common::hospital_ndjson(EVENTS, SEED);
    let text = String::from_utf8(input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for half in lines.chunks(lines.len() / 2) {
        let mut chunk = half.join("\n").into_bytes();
        chunk.push(b'\n');
        let summary = recall::import::import(
            &journal,
            &mut chunk.as_slice(),
            recall::import::ImportOptions {
                tenant: TENANT.to_string(),
                batch_events: 100,
                rejects: None,
                on_commit: None,
                workers: 1,
                retention: None,
            },
        )
        .unwrap();
        assert_eq!(summary.imported, half.len() as u64);
        journal.checkpoint(TENANT).unwrap();
    }
    drop(journal);

    let cps = checkpoints(&data);
    let last = cps.last().unwrap();
    let events = read_back(&data);
    assert_eq!(events.len() as u64, EVENTS);
    let b64 = |h: &[u8; 32]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(h)
    };
    let expected = Expected {
        tenant: TENANT.to_string(),
        origin: last.origin.clone(),
        size: last.size,
        root: b64(&last.root),
        segments: segment_count(&data),
        checkpoints: cps.iter().map(|c| (c.size, b64(&c.root))).collect(),
        canonical: SAMPLED
            .iter()
            .map(|&s| {
                let bytes = String::from_utf8(events[s as usize].1.clone()).unwrap();
                assert!(!bytes.contains('\n'));
                (s, bytes)
            })
            .collect(),
    };
    assert!(
        expected.segments >= 3,
        "want sealed segments in the fixture"
    );
    assert!(expected.checkpoints.len() >= 2);
    std::fs::write(dir.join("expected.txt"), expected.render()).unwrap();
    // The writer lock is runtime state, not part of the format.
    let _ = std::fs::remove_file(data.join("tenants/.lock"));
}

#[test]
fn frozen_v1_data_directory_is_still_read_verified_and_proven() {
    let dir = fixture();
    let expected = Expected::parse(&std::fs::read_to_string(dir.join("expected.txt")).unwrap());
    assert_eq!(expected.tenant, TENANT);
    assert_eq!(expected.size, EVENTS);

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&dir.join("data"), &data);
    // Git does not keep the KEK file's 0600 mode, which loading the KEK insists on.
    std::fs::set_permissions(data.join("kek.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(segment_count(&data), expected.segments);

    // verify: every body, tile and checkpoint holds.
    let out = recall(&data, &["verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout.contains(&format!(
            "tenant {TENANT}: {EVENTS} events, {} checkpoints checked",
            expected.checkpoints.len()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("OK: verified"), "{stdout}");

    // The persisted checkpoints are the recorded ones.
    let cps = checkpoints(&data);
    let b64 = |h: &[u8; 32]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(h)
    };
    let found: BTreeMap<u64, String> = cps.iter().map(|c| (c.size, b64(&c.root))).collect();
    assert_eq!(found, expected.checkpoints);

    // Reading back through the library gives the recorded canonical bytes, and every
    // event's canonical bytes still parse and re-canonicalise to themselves.
    let events = read_back(&data);
    let seqs: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..EVENTS).collect::<Vec<_>>());
    for (seq, bytes) in &expected.canonical {
        assert_eq!(
            String::from_utf8_lossy(&events[*seq as usize].1),
            bytes.as_str(),
            "canonical bytes of seq {seq}"
        );
    }
    let mut epochs = std::collections::BTreeSet::new();
    for (seq, bytes) in &events {
        let rec = recall_model::parse_canonical(bytes)
            .unwrap_or_else(|e| panic!("seq {seq} no longer parses: {e}"));
        assert_eq!(rec.seq, *seq);
        assert_eq!(rec.tenant, TENANT);
        assert_eq!(&recall_model::canonical(&rec), bytes, "seq {seq}");
        epochs.insert(recall_model::Epoch::of(rec.event.time).0);
    }
    // Bodies under many epoch keys are read back.
    assert!(epochs.len() >= 2, "epochs: {epochs:?}");

    // The latest checkpoint, as `recall checkpoint` prints it.
    let verifier = data_verifier(&data);
    let note = recall_ok(&data, &["checkpoint", "--tenant", TENANT]);
    let cp = open_checkpoint(&note, &verifier);
    assert_eq!(cp.origin, expected.origin);
    assert_eq!(cp.size, expected.size);
    assert_eq!(b64(&cp.root), expected.root);

    // Proofs against it verify.
    let text = recall_ok(&data, &["proof", "--tenant", TENANT, "--seq", "5"]);
    let proof = check_proof_text(&text, &verifier);
    assert_eq!(proof.number("seq"), 5);
    assert_eq!(proof.number("size"), expected.size);
    assert_eq!(b64(&proof.hash("root")), expected.root);
    let (&old, old_root) = expected.checkpoints.iter().next().unwrap();
    let text = recall_ok(
        &data,
        &["proof", "--tenant", TENANT, "--from-size", &old.to_string()],
    );
    let proof = check_proof_text(&text, &verifier);
    assert_eq!(&b64(&proof.hash("old-root")), old_root);

    // Still verifies after the writer opened it.
    let out = recall(&data, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));

    // Events appended now are canonical format v2 (they name their appender) after the
    // v1 ones, and the mixed log verifies.
    let input = tmp.path().join("more.ndjson");
    let now = jiff::Timestamp::now();
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "{{\"time\":\"{now}\",\"actor\":{{\"id\":\"u-v2-{i}\"}},\"action\":\"read\"}}\n"
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    recall_ok(
        &data,
        &["import", "--tenant", TENANT, input.to_str().unwrap()],
    );
    let out = recall(&data, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    for (seq, bytes) in read_back(&data) {
        let rec = recall_model::parse_canonical(&bytes).unwrap();
        let by = rec.appended_by.as_deref();
        if seq < EVENTS {
            assert_eq!(by, None, "seq {seq} is v1");
        } else {
            assert!(
                by.is_some_and(|b| b.starts_with("import:")),
                "seq {seq}: {by:?}"
            );
        }
    }
}
