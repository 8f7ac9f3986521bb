//! Tamper detection: a populated data directory is damaged in one place, and
//! `recall verify` must exit 1 (verification failed — not 0, and not 2 "could not run",
//! and no panic), print `FAILED`, name the place (file and offset, tile path or
//! checkpoint) and, where the damage is tied to events, the first bad seq.
//!
//! One template data directory (three segments of 1 MiB at most, several checkpoints, one
//! month shredded by retention — recorded in the log, keys destroyed, sealed blocks
//! zeroed) is built once per run and copied for each test; every test first checks that
//! its copy verifies (naming the shredded month), then tampers with it.
//!
//! Every run of `recall verify` has a time limit: verify once deadlocked when a failure
//! was found while more batches remained to be scanned (the tile and authenticated-body
//! cases below are the regression tests).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::frames::{Frame, batch_frames, sealed_offset, split_frames, with_body_byte_flipped};
use common::{both, copy_dir, origin_prefix, recall_ok, shrink_segments};
use jiff::Timestamp;
use recall_crypto::{KeyProvider, Keystore};
use recall_governance::{Act, Direct, Recorder, Via, Who};
use recall_ledger::{Checkpoint, Note, Signer};
use recall_store::format::{Record, SealedBatch, decode, frame, read_frame};
use recall_store::retention::{RetentionRecord, epoch_end, epoch_ranges};

const TENANT: &str = "t";
/// Events of the first import (all in segment 1, which stays open).
const FIRST_EVENTS: u64 = 5_000;
/// Events of the second import: segment 1 gets sealed, segments 2 and 3 follow.
const SECOND_EVENTS: u64 = 27_000;
/// Both imports and the retention run's record.
const TOTAL: u64 = FIRST_EVENTS + SECOND_EVENTS + 1;
const SEG1: &str = "0000000000000001.seg";
const SEG2: &str = "0000000000000002.seg";
const SEG3: &str = "0000000000000003.seg";
/// A verify run that takes longer than this hangs (a few seconds are normal).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------
// The template
// ---------------------------------------------------------------------------------------

/// What the template directory holds.
struct Template {
    /// The data directory after both imports.
    data: PathBuf,
    /// A copy of the whole data directory taken after the first import.
    after_first: PathBuf,
    /// A copy of segment 1 taken after the first import (then still the active segment).
    old_seg1: PathBuf,
    /// `recall checkpoint` output after the first import.
    cp_first: PathBuf,
    /// `recall checkpoint` output after the second import.
    cp_second: PathBuf,
    /// The month shredded by retention in the data directory (keys gone, blocks zeroed).
    shredded: u32,
}

/// Removes template directories of earlier runs whose process is gone.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("template-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn build_template() -> Template {
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tamper_detection");
    remove_stale(&parent);
    let root = parent.join(format!("template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let data = root.join("data");
    recall_ok(&data, &["init"]);
    shrink_segments(&data, 1);

    let first = root.join("first.ndjson");
    std::fs::write(&first, common::hospital_ndjson(FIRST_EVENTS, 11)).unwrap();
    let import = |file: &Path| {
        recall_ok(
            &data,
            &[
                "import",
                "--tenant",
                TENANT,
                "--batch-events",
                "500",
                file.to_str().unwrap(),
            ],
        )
    };
    import(&first);
    let cp_first = root.join("cp-first.txt");
    std::fs::write(
        &cp_first,
        recall_ok(&data, &["checkpoint", "--tenant", TENANT]),
    )
    .unwrap();
    let after_first = root.join("after-first");
    copy_dir(&data, &after_first);
    let old_seg1 = root.join("old-seg1.seg");
    std::fs::copy(seg_path(&data, SEG1), &old_seg1).unwrap();

    let second = root.join("second.ndjson");
    std::fs::write(&second, common::hospital_ndjson(SECOND_EVENTS, 12)).unwrap();
    import(&second);

    let segments = std::fs::read_dir(data.join("tenants/t/log"))
        .unwrap()
        .count();
    assert!(
        segments >= 3,
        "the template should have 3 segments, has {segments}"
    );
    // Every test runs with a month shredded by retention present (recorded in the log,
    // keys destroyed, sealed blocks zeroed): see `shreddable`.
    let shredded = shreddable(&data)[0];
    record_and_shred(&data, shredded, epoch_end(shredded).unwrap());
    let cp_second = root.join("cp-second.txt");
    std::fs::write(
        &cp_second,
        recall_ok(&data, &["checkpoint", "--tenant", TENANT]),
    )
    .unwrap();
    assert!(
        checkpoint_frames(&data).len() >= 2,
        "the template should hold several checkpoints"
    );
    Template {
        data,
        after_first,
        old_seg1,
        cp_first,
        cp_second,
        shredded,
    }
}

/// Months of the data directory that still have keys and that tests may shred: not one of
/// the middle batch of segment 1, which tests alter, nor one in the active segment 3
/// (shredding would seal it early; tests cut it), nor the current month (recall's own
/// records go there). Ascending.
fn shreddable(data: &Path) -> Vec<u32> {
    let (_, _, batch) = middle_batch(data);
    let mut touched: Vec<u32> = batch.blocks.iter().map(|b| b.epoch).collect();
    let active = std::fs::read(seg_path(data, SEG3)).unwrap();
    for (_, b) in batch_frames(&active) {
        touched.extend(b.blocks.iter().map(|b| b.epoch));
    }
    touched.push(recall_model::Epoch::of(Timestamp::now()).0);
    let dir = recall::datadir::DataDir::open(data, false).unwrap();
    let out: Vec<u32> = dir
        .journal
        .keystore()
        .epochs(TENANT)
        .unwrap()
        .into_iter()
        .filter(|e| !touched.contains(e))
        .collect();
    assert!(out.len() >= 2, "the synthetic year spans several months");
    out
}

/// What a retention run does, with the choice of month and cutoff left to the caller:
/// appends the run's record (built and appended the way recall's own records are) naming
/// `epoch` with `cutoff`, then destroys the month's keys.
fn record_and_shred(data: &Path, epoch: u32, cutoff: Timestamp) {
    let dir = recall::datadir::DataDir::open(data, false).unwrap();
    let db = recall::serve::open_db(&dir).unwrap();
    let record = RetentionRecord {
        years: 1,
        cutoff,
        shredded_epochs: vec![epoch],
        previously_shredded: epoch_ranges(
            &dir.journal.keystore().forgotten_epochs(TENANT).unwrap(),
        ),
        holds: Some(Vec::new()),
    };
    let event = Act::RetentionRun(&record)
        .event(
            &Who::operator("tamper-test"),
            &Via::cli("recall retention run"),
            Timestamp::now(),
        )
        .unwrap();
    Direct::new(&db).record(TENANT, event).unwrap();
    assert_eq!(dir.journal.shred(TENANT, &[epoch]).unwrap(), [epoch]);
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(build_template)
}

/// A private copy of the template's data directory, checked to verify before tampering.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&template().data, &data);
    let out = verify(&data, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "untouched copy must verify:\n{}",
        both(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("tenant t: {TOTAL} events")),
        "{stdout}"
    );
    let shredded = format!("epoch {}: ", template().shredded);
    assert!(stdout.contains(&shredded), "{stdout}");
    assert!(stdout.contains("shredded by policy at"), "{stdout}");
    (tmp, data)
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn seg_path(data: &Path, name: &str) -> PathBuf {
    data.join("tenants").join(TENANT).join("log").join(name)
}

fn tenant_file(data: &Path, rel: &str) -> PathBuf {
    data.join("tenants").join(TENANT).join(rel)
}

/// Runs `recall verify`; a verifier that hangs is killed and reported as a failure.
fn verify(data: &Path, extra: &[&str]) -> Output {
    let mut child = Command::new(common::recall_bin())
        .arg("--data")
        .arg(data)
        .arg("verify")
        .args(extra)
        .env_remove("RECALL_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Verify's output is a few lines: it fits in the pipes while we poll.
    let deadline = Instant::now() + VERIFY_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "recall verify hung (killed after {VERIFY_TIMEOUT:?}):\n{}",
                both(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs verify and asserts the tamper was detected: exit status exactly 1, `FAILED` and
/// every `needle` in stdout. Returns stdout.
fn assert_detected(data: &Path, extra: &[&str], needles: &[&str]) -> String {
    let out = verify(data, extra);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify must exit 1 on tampering:\n{}",
        both(&out)
    );
    assert!(stdout.contains("FAILED"), "no FAILED line:\n{}", both(&out));
    for needle in needles {
        assert!(
            stdout.contains(needle),
            "verify output lacks {needle:?}:\n{}",
            both(&out)
        );
    }
    stdout
}

fn checkpoint_frames(data: &Path) -> Vec<Frame> {
    split_frames(&std::fs::read(tenant_file(data, "checkpoints")).unwrap())
}

/// First seq of block `k` of a batch.
fn block_first_seq(batch: &SealedBatch, k: usize) -> u64 {
    match &batch.blocks[k].indices {
        None => batch.first_seq,
        Some(ix) => batch.first_seq + u64::from(ix[0]),
    }
}

fn size_of(note: &str) -> u64 {
    note.lines().nth(1).unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. A flipped byte in a body block
// ---------------------------------------------------------------------------------------

/// A batch in the middle of sealed segment 1, its frame offset and the file bytes.
fn middle_batch(data: &Path) -> (Vec<u8>, Frame, SealedBatch) {
    let path = seg_path(data, SEG1);
    let buf = std::fs::read(&path).unwrap();
    let mut batches = batch_frames(&buf);
    assert!(
        batches.len() >= 5,
        "segment 1 has {} batches",
        batches.len()
    );
    let (frame, batch) = batches.remove(batches.len() / 2);
    (buf, frame, batch)
}

#[test]
fn flipped_byte_in_a_body_block_is_caught_by_the_frame_checksum() {
    let (_tmp, data) = fresh();
    let (mut buf, fr, batch) = middle_batch(&data);
    let k = sealed_offset(&batch, 0);
    let at = fr.offset + 8 + k + batch.blocks[0].sealed.len() / 2;
    buf[at] ^= 0x01;
    std::fs::write(seg_path(&data, SEG1), &buf).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            &format!("{SEG1} at offset {}", fr.offset),
            "checksum mismatch",
        ],
    );
}

#[test]
fn flipped_byte_in_a_body_block_with_fixed_checksum_fails_authentication() {
    let (_tmp, data) = fresh();
    let (mut buf, fr, batch) = middle_batch(&data);
    let reframed = with_body_byte_flipped(&buf, &fr, &batch);
    buf[fr.offset..fr.offset + fr.len].copy_from_slice(&reframed);
    std::fs::write(seg_path(&data, SEG1), &buf).unwrap();
    let first_bad = block_first_seq(&batch, 0);
    assert_detected(
        &data,
        &[],
        &[
            &format!("first bad seq {first_bad}"),
            &format!(
                "body block 0 of the batch in tenants/t/log/{SEG1} at offset {}",
                fr.offset
            ),
            "does not open",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// 2. A flipped byte in a tile
// ---------------------------------------------------------------------------------------

#[test]
fn flipped_byte_in_a_level_0_tile_names_the_tile() {
    let (_tmp, data) = fresh();
    let path = tenant_file(&data, "tiles/00.hashes");
    let mut tiles = std::fs::read(&path).unwrap();
    assert_eq!(tiles.len() as u64, TOTAL * 32);
    // Leaf hash 1000 lives in tile/0/003 (1000 / 256 = 3), hash 232 of it.
    let leaf = 1000usize;
    tiles[leaf * 32 + 5] ^= 0x80;
    std::fs::write(&path, &tiles).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            "first bad seq 1000",
            "tile tile/0/003 (hash 232 of tree level 0)",
            "stored tile hash differs",
        ],
    );
}

#[test]
fn flipped_byte_in_a_level_1_tile_names_the_tile() {
    let (_tmp, data) = fresh();
    let path = tenant_file(&data, "tiles/08.hashes");
    let mut tiles = std::fs::read(&path).unwrap();
    assert_eq!(tiles.len() as u64, TOTAL / 256 * 32);
    // Node 40 of tree level 8 covers leaves 40·256 .. 41·256.
    tiles[40 * 32 + 31] ^= 0x01;
    std::fs::write(&path, &tiles).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            &format!("first bad seq {}", 40 * 256),
            "tile tile/1/000 (hash 40 of tree level 8)",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// 3. A flipped byte in a checkpoint
// ---------------------------------------------------------------------------------------

#[test]
fn flipped_byte_in_an_earlier_checkpoint_record_fails_naming_the_checkpoint_log() {
    let (_tmp, data) = fresh();
    let path = tenant_file(&data, "checkpoints");
    let mut buf = std::fs::read(&path).unwrap();
    let frames = checkpoint_frames(&data);
    assert!(frames.len() >= 2);
    // Inside the text of the first checkpoint (not its length field).
    buf[frames[0].offset + 8 + 3] ^= 0x01;
    std::fs::write(&path, &buf).unwrap();
    assert_detected(
        &data,
        &[],
        &["tenants/t/checkpoints at offset 0", "checksum mismatch"],
    );
}

#[test]
fn flipped_byte_in_the_last_checkpoint_record_is_not_silently_ignored() {
    let (_tmp, data) = fresh();
    let path = tenant_file(&data, "checkpoints");
    let mut buf = std::fs::read(&path).unwrap();
    let frames = checkpoint_frames(&data);
    let last = frames.last().unwrap();
    buf[last.offset + 8 + 3] ^= 0x01;
    std::fs::write(&path, &buf).unwrap();
    assert_detected(&data, &[], &["checkpoints"]);
}

/// Replaces one base64 character of the root line of checkpoint frame `which` by
/// another base64 character and fixes the frame checksum (an attacker who knows the
/// format). Returns the checkpoint's 1-based number.
fn alter_checkpoint_root(data: &Path, which: usize) -> usize {
    let path = tenant_file(data, "checkpoints");
    let buf = std::fs::read(&path).unwrap();
    let frames = checkpoint_frames(data);
    let fr = &frames[which];
    let mut note = buf[fr.offset + 8..fr.offset + fr.len].to_vec();
    let text = String::from_utf8(note.clone()).unwrap();
    let root_line_start = text.match_indices('\n').nth(1).unwrap().0 + 1;
    let at = root_line_start + 4;
    note[at] = if note[at] == b'A' { b'B' } else { b'A' };
    let mut out = buf[..fr.offset].to_vec();
    out.extend_from_slice(&frame(&note));
    out.extend_from_slice(&buf[fr.offset + fr.len..]);
    std::fs::write(&path, &out).unwrap();
    which + 1
}

#[test]
fn altered_checkpoint_root_with_fixed_checksum_fails_its_signature() {
    let (_tmp, data) = fresh();
    let last = checkpoint_frames(&data).len() - 1;
    let n = alter_checkpoint_root(&data, last);
    assert_detected(
        &data,
        &[],
        &[
            &format!("checkpoint #{n} of the checkpoint log"),
            "invalid signature",
        ],
    );
    let (_tmp2, data) = fresh();
    let n = alter_checkpoint_root(&data, 0);
    assert_eq!(n, 1);
    assert_detected(&data, &[], &["checkpoint #1 of the checkpoint log"]);
}

// ---------------------------------------------------------------------------------------
// 4./5. A record deleted, two records swapped
// ---------------------------------------------------------------------------------------

#[test]
fn deleted_record_is_detected() {
    let (_tmp, data) = fresh();
    let (buf, fr, batch) = middle_batch(&data);
    let mut out = buf[..fr.offset].to_vec();
    out.extend_from_slice(&buf[fr.offset + fr.len..]);
    std::fs::write(seg_path(&data, SEG1), &out).unwrap();
    let missing = batch.first_seq;
    assert_detected(
        &data,
        &[],
        &[
            &format!("{SEG1} at offset {}", fr.offset),
            &format!("but seq {missing} was expected"),
            "missing",
        ],
    );
}

#[test]
fn swapped_records_are_detected() {
    let (_tmp, data) = fresh();
    let path = seg_path(&data, SEG1);
    let buf = std::fs::read(&path).unwrap();
    let batches = batch_frames(&buf);
    let i = batches.len() / 2;
    let (a, b) = (&batches[i].0, &batches[i + 1].0);
    assert_eq!(a.offset + a.len, b.offset);
    let mut out = buf[..a.offset].to_vec();
    out.extend_from_slice(&buf[b.offset..b.offset + b.len]);
    out.extend_from_slice(&buf[a.offset..a.offset + a.len]);
    out.extend_from_slice(&buf[b.offset + b.len..]);
    assert_eq!(out.len(), buf.len());
    std::fs::write(&path, &out).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            &format!("{SEG1} at offset {}", a.offset),
            &format!("but seq {} was expected", batches[i].1.first_seq),
            "out of order",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// 6. The log truncated
// ---------------------------------------------------------------------------------------

#[test]
fn log_cut_at_a_frame_boundary_is_truncated_or_rolled_back() {
    let (_tmp, data) = fresh();
    let path = seg_path(&data, SEG3);
    let buf = std::fs::read(&path).unwrap();
    let batches = batch_frames(&buf);
    assert!(
        batches.len() >= 2,
        "segment 3 has {} batches",
        batches.len()
    );
    // Drop the last two batches cleanly.
    let (keep, first_dropped) = {
        let (fr, b) = &batches[batches.len() - 2];
        (fr.offset, b.first_seq)
    };
    std::fs::write(&path, &buf[..keep]).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            &format!("first bad seq {first_dropped}"),
            "checkpoint #",
            // The first checkpoint the cut log falls short of: the second import's (the
            // retention record's comes after it).
            &format!(
                "checkpoint has size {} but the log holds {first_dropped} events",
                FIRST_EVENTS + SECOND_EVENTS
            ),
            "truncated or rolled back",
        ],
    );
}

#[test]
fn last_segment_deleted_is_truncated_or_rolled_back() {
    let (_tmp, data) = fresh();
    let seg2 = std::fs::read(seg_path(&data, SEG2)).unwrap();
    let seal = match decode(
        read_frame(&seg2[seg2.len() - recall_store::format::SEAL_FRAME..])
            .unwrap()
            .0,
    )
    .unwrap()
    {
        Record::Seal(s) => s,
        other => panic!("segment 2 does not end with a seal: {other:?}"),
    };
    std::fs::remove_file(seg_path(&data, SEG3)).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            &format!("first bad seq {}", seal.next_seq),
            "checkpoint #",
            "truncated or rolled back",
        ],
    );
}

#[test]
fn middle_segment_deleted_is_detected() {
    let (_tmp, data) = fresh();
    std::fs::remove_file(seg_path(&data, SEG2)).unwrap();
    assert_detected(&data, &[], &["segment 2 is missing"]);
}

// ---------------------------------------------------------------------------------------
// 7. A segment replaced by an older copy
// ---------------------------------------------------------------------------------------

#[test]
fn segment_replaced_by_an_older_copy_is_detected() {
    let (_tmp, data) = fresh();
    // The copy was taken while the segment was active: its data, then preallocated zeros.
    let old = std::fs::read(&template().old_seg1).unwrap();
    let old_data: usize = split_frames(&old).iter().map(|f| f.len).sum();
    let now = std::fs::read(seg_path(&data, SEG1)).unwrap();
    // The same segment, earlier (blocks of the shredded month were zeroed since, so the
    // old bytes are a prefix only up to those): same header, shorter data.
    let header = split_frames(&old)[0].len;
    assert!(old_data < now.len() && now[..header] == old[..header]);
    std::fs::write(seg_path(&data, SEG1), &old).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            // Where its seal should end: the end of the file.
            &format!("{SEG1} at offset {}", old.len()),
            "not sealed",
            "replaced by an older copy",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// 8. Checkpoints signed with another key, or signed over a wrong root
// ---------------------------------------------------------------------------------------

/// The latest checkpoint's body, parsed without checking the signature.
fn latest_checkpoint(data: &Path) -> Checkpoint {
    let path = tenant_file(data, "checkpoints");
    let buf = std::fs::read(&path).unwrap();
    let last = checkpoint_frames(data).pop().unwrap();
    let note = std::str::from_utf8(&buf[last.offset + 8..last.offset + last.len]).unwrap();
    Checkpoint::parse_body(&Note::parse(note).unwrap().text).unwrap()
}

fn append_checkpoint_note(data: &Path, note: &str) -> usize {
    use std::io::Write;
    let path = tenant_file(data, "checkpoints");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&frame(note.as_bytes())).unwrap();
    checkpoint_frames(data).len()
}

#[test]
fn checkpoint_signed_with_another_key_is_refused() {
    let (_tmp, data) = fresh();
    let cp = latest_checkpoint(&data);
    assert_eq!(cp.size, TOTAL);
    // Same key name (the origin), another Ed25519 key.
    let signer = Signer::new(&origin_prefix(&data), &[42u8; 32]).unwrap();
    let note = Note::sign(&cp.to_body(), &[&signer]).unwrap();
    let n = append_checkpoint_note(&data, &note);
    assert_detected(
        &data,
        &[],
        &[
            &format!("checkpoint #{n} of the checkpoint log"),
            "no signature by a known key",
        ],
    );
}

#[test]
fn checkpoint_with_a_wrong_root_signed_by_the_right_key_is_a_fork() {
    let (_tmp, data) = fresh();
    let kek = KeyProvider::File(data.join("kek.key")).load().unwrap();
    let record = Keystore::open(&data.join("keystore.db"), kek)
        .unwrap()
        .signing_key()
        .unwrap()
        .unwrap();
    let signer = Signer::new(&record.name, record.seed.expose()).unwrap();
    let mut cp = latest_checkpoint(&data);
    cp.root[0] ^= 0xff;
    let note = Note::sign(&cp.to_body(), &[&signer]).unwrap();
    let n = append_checkpoint_note(&data, &note);
    assert_detected(
        &data,
        &[],
        &[
            &format!("checkpoint #{n} of the checkpoint log"),
            &format!("root at size {TOTAL} differs"),
            "altered",
            "forked",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// 9. verify --checkpoint with a checkpoint saved earlier
// ---------------------------------------------------------------------------------------

#[test]
fn saved_checkpoint_that_the_log_extends_verifies() {
    let (_tmp, data) = fresh();
    let saved = &template().cp_first;
    assert_eq!(
        size_of(&std::fs::read_to_string(saved).unwrap()),
        FIRST_EVENTS
    );
    let out = verify(&data, &["--checkpoint", saved.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stdout.contains("extends the saved checkpoint"), "{stdout}");
    assert!(stdout.contains("OK: verified"), "{stdout}");
}

#[test]
fn saved_checkpoint_of_another_data_directory_is_refused() {
    let (tmp, data) = fresh();
    let other = tmp.path().join("other");
    recall_ok(&other, &["init"]);
    let input = tmp.path().join("few.ndjson");
    std::fs::write(&input, common::hospital_ndjson(50, 3)).unwrap();
    recall_ok(
        &other,
        &["import", "--tenant", TENANT, input.to_str().unwrap()],
    );
    let saved = tmp.path().join("other-cp.txt");
    std::fs::write(
        &saved,
        recall_ok(&other, &["checkpoint", "--tenant", TENANT]),
    )
    .unwrap();
    assert_detected(
        &data,
        &["--checkpoint", saved.to_str().unwrap()],
        &["saved checkpoint"],
    );
}

#[test]
fn rolled_back_data_directory_fails_against_a_saved_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // The whole data directory restored from a copy taken after the first import…
    copy_dir(&template().after_first, &data);
    let out = verify(&data, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    // …is consistent in itself, but not with a checkpoint saved after the second.
    let saved = &template().cp_second;
    assert_eq!(size_of(&std::fs::read_to_string(saved).unwrap()), TOTAL);
    assert_detected(
        &data,
        &["--checkpoint", saved.to_str().unwrap()],
        &[
            "saved checkpoint",
            &format!("first bad seq {FIRST_EVENTS}"),
            "truncated or rolled back",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Further attacker edits (frame checksums fixed)
// ---------------------------------------------------------------------------------------

/// Replaces frame `fr` of segment `name` by a frame around `payload` (same length).
fn rewrite_frame(data: &Path, name: &str, fr: &Frame, payload: &[u8]) {
    let path = seg_path(data, name);
    let mut buf = std::fs::read(&path).unwrap();
    let reframed = frame(payload);
    assert_eq!(reframed.len(), fr.len);
    buf[fr.offset..fr.offset + fr.len].copy_from_slice(&reframed);
    std::fs::write(&path, &buf).unwrap();
}

#[test]
fn altered_commitment_with_fixed_checksum_names_its_seq() {
    let (_tmp, data) = fresh();
    let (buf, fr, batch) = middle_batch(&data);
    let mut payload = buf[fr.offset + 8..fr.offset + fr.len].to_vec();
    // Commitment i starts after kind, first_seq and count.
    let i = 7;
    payload[1 + 8 + 4 + 32 * i] ^= 0x01;
    rewrite_frame(&data, SEG1, &fr, &payload);
    assert_detected(
        &data,
        &[],
        &[
            &format!("first bad seq {}", batch.first_seq + i as u64),
            &format!("tenants/t/log/{SEG1} at offset {}", fr.offset),
            "does not match its commitment",
        ],
    );
}

/// The seal's frontier is the tree state a writer resumes from, so an altered one makes
/// the next import sign a checkpoint over a wrong root (seen: `checkpoint #5 … root at
/// size 32600 differs from the log's` after importing 600 more events, and the import
/// then exits 2). Verify should refuse the seal before that happens.
#[test]
fn altered_seal_with_fixed_checksum_is_detected() {
    let (_tmp, data) = fresh();
    let buf = std::fs::read(seg_path(&data, SEG2)).unwrap();
    let frames = split_frames(&buf);
    let fr = frames.last().unwrap();
    let mut payload = buf[fr.offset + 8..fr.offset + fr.len].to_vec();
    assert!(matches!(decode(&payload).unwrap(), Record::Seal(_)));
    // First byte of the first frontier hash (after kind, number, next_seq, count).
    payload[1 + 8 + 8 + 1] ^= 0x01;
    rewrite_frame(&data, SEG2, fr, &payload);
    assert_detected(&data, &[], &[SEG2]);
    // The writer refuses to append onto the altered tree state (it would sign a
    // checkpoint over a root the log does not hold).
    let input = data.parent().unwrap().join("more.ndjson");
    std::fs::write(&input, common::hospital_ndjson(50, 99)).unwrap();
    let out = common::recall(&data, &["import", "--tenant", "t", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(both(&out).contains("seal of segment"), "{}", both(&out));
    assert_detected(&data, &[], &[SEG2]);
}

// ---------------------------------------------------------------------------------------
// With months shredded by retention present
// ---------------------------------------------------------------------------------------

/// A copy of the template, which holds a shredded month (see `build_template`).
fn fresh_with_a_shredded_month() -> (tempfile::TempDir, PathBuf, u32) {
    let (tmp, data) = fresh();
    (tmp, data, template().shredded)
}

#[test]
fn tampering_is_still_detected_with_a_shredded_month_present() {
    // A body block altered behind a fixed checksum.
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let (mut buf, fr, batch) = middle_batch(&data);
    let k = sealed_offset(&batch, 0);
    let mut payload = buf[fr.offset + 8..fr.offset + fr.len].to_vec();
    payload[k + batch.blocks[0].sealed.len() / 2] ^= 0x01;
    buf[fr.offset..fr.offset + fr.len].copy_from_slice(&frame(&payload));
    std::fs::write(seg_path(&data, SEG1), &buf).unwrap();
    assert_detected(&data, &[], &["does not open"]);

    // A record deleted.
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let (buf, fr, batch) = middle_batch(&data);
    let mut out = buf[..fr.offset].to_vec();
    out.extend_from_slice(&buf[fr.offset + fr.len..]);
    std::fs::write(seg_path(&data, SEG1), &out).unwrap();
    assert_detected(
        &data,
        &[],
        &[
            &format!("but seq {} was expected", batch.first_seq),
            "missing",
        ],
    );
}

/// Keys that vanish without the keystore recording the month as shredded are damage,
/// not policy: verify fails instead of reporting a shredded range.
#[test]
fn keys_missing_without_a_shredding_record_fail_verification() {
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let (_, _, batch) = middle_batch(&data);
    let epoch = batch.blocks[0].epoch;
    let conn = rusqlite::Connection::open(data.join("keystore.db")).unwrap();
    let n = conn
        .execute(
            "DELETE FROM epoch_keys WHERE tenant = ?1 AND epoch = ?2",
            rusqlite::params![TENANT, epoch],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    assert_detected(&data, &[], &[&format!("no keys for epoch {epoch}")]);
}

/// Runs `sql` on the keystore as an intruder with write access to `keystore.db` would.
fn edit_keystore(data: &Path, sql: &str, epoch: u32) -> usize {
    let conn = rusqlite::Connection::open(data.join("keystore.db")).unwrap();
    conn.execute(sql, rusqlite::params![TENANT, epoch]).unwrap()
}

const FORGE_TOMBSTONE: &str = "INSERT INTO forgotten_epochs (tenant, epoch, forgotten) \
     VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
const DELETE_KEYS: &str = "DELETE FROM epoch_keys WHERE tenant = ?1 AND epoch = ?2";

/// A tombstone forged for a month that was never shredded: its keys are still there
/// (the log reads as before), or it has no events at all. No retention record names it.
#[test]
fn forged_tombstone_for_a_month_never_shredded_fails_verification() {
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let (_, _, batch) = middle_batch(&data);
    let epoch = batch.blocks[0].epoch;
    assert_eq!(edit_keystore(&data, FORGE_TOMBSTONE, epoch), 1);
    assert_detected(
        &data,
        &[],
        &[
            "keystore tombstone",
            &format!("epoch {epoch}: keys destroyed (tombstone at "),
            "no retention record in the log names it",
        ],
    );

    // A month in which the log has no event (keys of other months all present).
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    assert_eq!(edit_keystore(&data, FORGE_TOMBSTONE, 201_001), 1);
    assert_detected(
        &data,
        &[],
        &["epoch 201001: keys destroyed", "no retention record"],
    );
}

/// A month erased by an intruder: its key row deleted and a tombstone forged, so its
/// blocks pass as shredded by policy. No retention record names it.
#[test]
fn month_erased_through_the_keystore_fails_verification() {
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let (_, _, batch) = middle_batch(&data);
    let epoch = batch.blocks[0].epoch;
    assert_eq!(edit_keystore(&data, DELETE_KEYS, epoch), 1);
    assert_eq!(edit_keystore(&data, FORGE_TOMBSTONE, epoch), 1);
    assert_detected(
        &data,
        &[],
        &[
            &format!("epoch {epoch}: keys destroyed (tombstone at "),
            "no retention record in the log names it",
        ],
    );
}

/// A retention record appended through recall's own path, naming a month its cutoff does
/// not cover (the month was not past retention), then the month shredded: verify names
/// the month. The same with a cutoff that covers it verifies.
#[test]
fn retention_record_whose_cutoff_does_not_cover_its_month_fails_verification() {
    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let epoch = shreddable(&data)[0];
    record_and_shred(&data, epoch, epoch_end(epoch).unwrap());
    let out = verify(&data, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("epoch {epoch}: ")),
        "{}",
        both(&out)
    );

    let (_tmp, data, _) = fresh_with_a_shredded_month();
    let end = epoch_end(epoch).unwrap();
    record_and_shred(&data, epoch, end - jiff::SignedDuration::from_hours(24));
    assert_detected(
        &data,
        &[],
        &[
            "keystore tombstone",
            &format!("epoch {epoch}: the retention record of "),
            &format!("its month ends at {end}"),
            "not past retention",
        ],
    );
}
