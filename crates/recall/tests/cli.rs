//! Behaviour of the CLI verbs: `init`, `import` (stopping at and skipping invalid lines,
//! standard input, future times), `proof`, `checkpoint`, `verify` without its key, and
//! that no error message echoes event contents.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{
    both, check_proof_text, data_verifier, hospital_ndjson, open_checkpoint, origin_prefix, recall,
    recall_bin, recall_ok,
};
use recall::datadir::DataDir;

const TENANT: &str = "t";
const SECRET: &str = "SECRET-424242";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh, initialised data directory.
fn init(root: &Path) -> PathBuf {
    let data = root.join("data");
    recall_ok(&data, &["init"]);
    data
}

/// NDJSON lines of `n` synthetic events.
fn lines(n: u64, seed: u64) -> Vec<String> {
    String::from_utf8(hospital_ndjson(n, seed))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// Edits one NDJSON line as JSON.
fn edit(line: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    f(&mut v);
    serde_json::to_string(&v).unwrap()
}

fn import(data: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["import", "--tenant", TENANT, "--batch-events", "500"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    recall(data, &args)
}

/// Size of the tenant's log according to `recall checkpoint` (whose note must open).
fn log_size(data: &Path) -> u64 {
    let note = recall_ok(data, &["checkpoint", "--tenant", TENANT]);
    open_checkpoint(&note, &data_verifier(data)).size
}

/// Every `(seq, canonical bytes)` of the tenant's log, read through the library.
fn read_back(data: &Path) -> Vec<(u64, String)> {
    let dir = DataDir::open(data, true).unwrap();
    let mut out = Vec::new();
    dir.journal
        .store()
        .scan(TENANT, &mut |batch, _| {
            for (seq, bytes) in dir.journal.open_batch(TENANT, &batch)? {
                out.push((seq, String::from_utf8(bytes).unwrap()));
            }
            Ok(())
        })
        .unwrap();
    out
}

/// Input of `n` events whose line `bad_line` (1-based) lacks `actor.id`.
fn input_missing_actor_id(root: &Path, n: u64, bad_line: usize, seed: u64) -> PathBuf {
    let mut input = lines(n, seed);
    input[bad_line - 1] = edit(&input[bad_line - 1], |v| {
        v["actor"].as_object_mut().unwrap().remove("id");
    });
    let path = root.join("events.ndjson");
    write_lines(&path, &input);
    path
}

// ---------------------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------------------

#[test]
fn init_creates_the_keys_and_a_commented_config() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = recall_ok(&data, &["init"]);
    assert!(out.contains("log origin: recall.invalid/"), "{out}");

    let kek = data.join("kek.key");
    assert!(kek.is_file());
    assert_eq!(
        mode(&kek),
        0o600,
        "kek.key must be readable by its owner only"
    );
    assert!(data.join("keystore.db").is_file());
    // The verifier key parses, is printed by init and names the origin.
    let vkey = std::fs::read_to_string(data.join("checkpoint.vkey")).unwrap();
    let verifier = recall_ledger::Verifier::from_vkey(vkey.trim()).unwrap();
    assert!(out.contains(vkey.trim()), "{out}");
    assert_eq!(verifier.name(), origin_prefix(&data));
    // The config is commented TOML.
    let cfg = std::fs::read_to_string(data.join("recall.toml")).unwrap();
    assert!(
        cfg.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            >= 5,
        "recall.toml should explain its options:\n{cfg}"
    );
    let parsed: toml::Table = toml::from_str(&cfg).unwrap();
    assert!(parsed["log"]["origin"].as_str().is_some());

    // A second init refuses to overwrite it.
    let kek_before = std::fs::read(&kek).unwrap();
    let again = recall(&data, &["init"]);
    assert_eq!(again.status.code(), Some(2), "{}", both(&again));
    assert!(stderr(&again).contains("refusing"), "{}", both(&again));
    assert_eq!(std::fs::read(&kek).unwrap(), kek_before);
}

#[test]
fn init_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("busy");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = recall(&dir, &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("refusing"), "{}", both(&out));
    assert!(!dir.join("kek.key").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}

// ---------------------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------------------

#[test]
fn import_prints_count_rate_and_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input = tmp.path().join("events.ndjson");
    write_lines(&input, &lines(1200, 1));
    let out = import(&data, &input, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("imported 1200 events into tenant t in "),
        "{text}"
    );
    assert!(text.contains(" events/s); log size 1200"), "{text}");
    // The note follows `checkpoint:`, exactly as `recall checkpoint` prints it.
    let note = text
        .split_once("checkpoint:\n")
        .unwrap_or_else(|| panic!("no checkpoint printed:\n{text}"))
        .1;
    let cp = open_checkpoint(note, &data_verifier(&data));
    assert_eq!(cp.size, 1200);
    assert_eq!(cp.origin, format!("{}/{TENANT}", origin_prefix(&data)));
    // `recall checkpoint` gives the same checkpoint afterwards.
    assert_eq!(recall_ok(&data, &["checkpoint", "--tenant", TENANT]), note);
}

#[test]
fn invalid_line_stops_the_import_after_the_batches_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input = input_missing_actor_id(tmp.path(), 2000, 1234, 2);
    let out = import(&data, &input, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("line 1234"), "{err}");
    assert!(err.contains("actor.id"), "{err}");
    assert!(
        stdout(&out).contains("imported 1000 events"),
        "{}",
        both(&out)
    );
    // Exactly the two full batches before the bad line's batch, nothing of the third.
    assert_eq!(log_size(&data), 1000);
    let events = read_back(&data);
    assert_eq!(events.len(), 1000);
    assert!(events[999].1.contains("\"evt-2-999\""));
    let v = recall_ok(&data, &["verify"]);
    assert!(v.contains("tenant t: 1000 events"), "{v}");
}

#[test]
fn skip_invalid_writes_a_private_reject_file_and_imports_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input = input_missing_actor_id(tmp.path(), 2000, 1234, 3);
    let out = import(&data, &input, &["--skip-invalid"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).contains("imported 1999 events"),
        "{}",
        both(&out)
    );
    assert!(
        stdout(&out).contains("1 invalid lines skipped"),
        "{}",
        both(&out)
    );

    let rejects = PathBuf::from(format!("{}.rejects.ndjson", input.display()));
    assert!(rejects.is_file(), "no reject file at {}", rejects.display());
    assert_eq!(mode(&rejects), 0o600, "the reject file may hold PHI");
    let text = std::fs::read_to_string(&rejects).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["line"], 1234);
    assert!(
        rows[0]["error"].as_str().unwrap().contains("actor.id"),
        "{text}"
    );

    assert_eq!(log_size(&data), 1999);
    // Seqs are contiguous and follow the input order around the skipped line.
    let events = read_back(&data);
    let seqs: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..1999).collect::<Vec<_>>());
    // Line k (1-based) holds event evt-3-(k-1): line 1233 → seq 1232, line 1235 → seq 1233.
    assert!(events[1232].1.contains("\"evt-3-1232\""));
    assert!(events[1233].1.contains("\"evt-3-1234\""));
    assert!(!events.iter().any(|(_, e)| e.contains("\"evt-3-1233\"")));
    let v = recall_ok(&data, &["verify"]);
    assert!(v.contains("tenant t: 1999 events"), "{v}");
}

#[test]
fn import_reads_standard_input() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let mut child = Command::new(recall_bin())
        .arg("--data")
        .arg(&data)
        .args(["import", "--tenant", TENANT, "-"])
        .env_remove("RECALL_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = hospital_ndjson(700, 4);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).contains("imported 700 events"),
        "{}",
        both(&out)
    );
    assert_eq!(log_size(&data), 700);
}

#[test]
fn event_too_far_in_the_future_is_rejected_naming_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let mut input = lines(3, 5);
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    input[1] = edit(&input[1], |v| {
        v["time"] = serde_json::Value::String(future.to_string());
    });
    // One minute ahead is within the allowed clock skew.
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    input[2] = edit(&input[2], |v| {
        v["time"] = serde_json::Value::String(soon.to_string());
    });
    let path = tmp.path().join("events.ndjson");
    write_lines(&path, &input);
    let out = import(&data, &path, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("time"), "{err}");

    let out = import(&data, &path, &["--skip-invalid"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(log_size(&data), 2, "the event a minute ahead is accepted");
}

// ---------------------------------------------------------------------------------------
// proof and checkpoint
// ---------------------------------------------------------------------------------------

#[test]
fn inclusion_proof_verifies_against_the_signed_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input = tmp.path().join("events.ndjson");
    write_lines(&input, &lines(1500, 6));
    assert_eq!(import(&data, &input, &[]).status.code(), Some(0));
    let verifier = data_verifier(&data);
    let tiles = std::fs::read(data.join("tenants/t/tiles/00.hashes")).unwrap();
    for seq in [0u64, 777, 1499] {
        let text = recall_ok(
            &data,
            &["proof", "--tenant", TENANT, "--seq", &seq.to_string()],
        );
        let proof = check_proof_text(&text, &verifier);
        assert_eq!(proof.kind, "recall-inclusion-proof/v1");
        assert_eq!(proof.number("seq"), seq);
        assert_eq!(proof.number("size"), 1500);
        assert_eq!(
            proof.field("origin"),
            format!("{}/{TENANT}", origin_prefix(&data))
        );
        // The leaf is the stored leaf hash of that seq.
        let at = seq as usize * 32;
        assert_eq!(&proof.hash("leaf")[..], &tiles[at..at + 32]);
        // The parser is strict enough to notice a wrong proof.
        if let Some(first) = proof.hashes.first() {
            let mut wrong = proof.hashes.clone();
            wrong[0] = [first[0] ^ 1; 32];
            assert!(
                recall_ledger::verify_inclusion(
                    &proof.hash("leaf"),
                    seq,
                    1500,
                    &wrong,
                    &proof.hash("root")
                )
                .is_err()
            );
        }
    }
    let out = recall(&data, &["proof", "--tenant", TENANT, "--seq", "1500"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("not in the log"), "{}", both(&out));
}

#[test]
fn consistency_proof_links_an_earlier_checkpoint_to_the_latest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let all = lines(1500, 7);
    let first = tmp.path().join("first.ndjson");
    let second = tmp.path().join("second.ndjson");
    write_lines(&first, &all[..600]);
    write_lines(&second, &all[600..]);
    assert_eq!(import(&data, &first, &[]).status.code(), Some(0));
    let verifier = data_verifier(&data);
    let saved = open_checkpoint(
        &recall_ok(&data, &["checkpoint", "--tenant", TENANT]),
        &verifier,
    );
    assert_eq!(saved.size, 600);
    assert_eq!(import(&data, &second, &[]).status.code(), Some(0));

    let text = recall_ok(&data, &["proof", "--tenant", TENANT, "--from-size", "600"]);
    let proof = check_proof_text(&text, &verifier);
    assert_eq!(proof.kind, "recall-consistency-proof/v1");
    assert_eq!(proof.number("old"), 600);
    assert_eq!(proof.number("size"), 1500);
    // The old root is the one the earlier checkpoint signed.
    assert_eq!(proof.hash("old-root"), saved.root);
    assert!(!proof.hashes.is_empty());
}

#[test]
fn checkpoint_is_a_signed_note_that_opens_with_the_vkey() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input = tmp.path().join("events.ndjson");
    write_lines(&input, &lines(300, 8));
    assert_eq!(import(&data, &input, &[]).status.code(), Some(0));
    let note = recall_ok(&data, &["checkpoint", "--tenant", TENANT]);
    // C2SP signed note: body, blank line, one `— <name> <base64>` line per signature.
    let (body, sigs) = note.rsplit_once("\n\n").unwrap();
    assert_eq!(body.lines().count(), 3, "{note}");
    let sig_lines: Vec<&str> = sigs.lines().collect();
    assert_eq!(sig_lines.len(), 1, "{note}");
    assert!(
        sig_lines[0].starts_with(&format!("\u{2014} {} ", origin_prefix(&data))),
        "{note}"
    );
    let cp = open_checkpoint(&note, &data_verifier(&data));
    assert_eq!(cp.size, 300);
    assert_eq!(cp.origin, format!("{}/{TENANT}", origin_prefix(&data)));
    // Another key does not open it.
    let other = recall_ledger::Signer::new(&origin_prefix(&data), &[9; 32]).unwrap();
    assert!(recall_ledger::Note::open(&note, &[other.verifier()]).is_err());
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn errors_never_echo_event_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let patient = format!("MRN-{SECRET}");
    let valid = lines(4, 9);
    // A bad time next to a distinctive patient id.
    let bad_time = edit(&valid[1], |v| {
        v["patient"]["id"] = serde_json::Value::String(patient.clone());
        v["time"] = serde_json::Value::String(format!("2026-13-45T99:99:99Z {SECRET}"));
    });
    // Broken JSON holding the value.
    let broken = format!("{{\"id\":\"x\",\"patient\":{{\"id\":\"{patient}\"");

    // Each kind of invalid line stops an import on its own (line 2 of its file).
    for (name, bad) in [("time", &bad_time), ("json", &broken)] {
        let path = tmp.path().join(format!("{name}.ndjson"));
        write_lines(&path, &[valid[0].clone(), bad.clone(), valid[2].clone()]);
        let out = import(&data, &path, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", both(&out));
        assert!(stderr(&out).contains("line 2"), "{}", both(&out));
        if name == "time" {
            assert!(stderr(&out).contains("time"), "{}", both(&out));
        }
        assert!(!both(&out).contains(SECRET), "echoed:\n{}", both(&out));
    }

    // Skipped, they go to the reject file only.
    let path = tmp.path().join("both.ndjson");
    write_lines(
        &path,
        &[valid[0].clone(), bad_time, broken, valid[3].clone()],
    );
    let out = import(&data, &path, &["--skip-invalid"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).contains("2 invalid lines skipped"),
        "{}",
        both(&out)
    );
    assert!(!both(&out).contains(SECRET), "echoed:\n{}", both(&out));
    // The reject file is the operator's own input back: it may hold the value, but the
    // reasons do not.
    let rejects = std::fs::read_to_string(format!("{}.rejects.ndjson", path.display())).unwrap();
    assert!(rejects.contains(SECRET));
    for row in rejects.lines() {
        let row: serde_json::Value = serde_json::from_str(row).unwrap();
        let error = row["error"].as_str().unwrap();
        assert!(!error.contains(SECRET), "reason echoes the value: {error}");
    }
    // Verify does not print event contents either.
    let out = recall(&data, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!both(&out).contains(SECRET));
}

#[test]
fn verify_without_the_kek_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let input = tmp.path().join("events.ndjson");
    write_lines(&input, &lines(100, 10));
    assert_eq!(import(&data, &input, &[]).status.code(), Some(0));
    std::fs::remove_file(data.join("kek.key")).unwrap();
    let out = recall(&data, &["verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("key-encryption key"), "{err}");
    assert!(err.contains("kek.key"), "{err}");
    assert!(!stdout(&out).contains("OK"), "{}", both(&out));
}
