//! Shared helpers of the CLI integration tests: synthetic data and running the binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub mod frames;
pub mod server;
pub mod synth;

use recall_synth::{Config, Event, Generator, write_json_line};

/// The `recall` binary under test.
pub fn recall_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_recall"))
}

/// `n` synthetic hospital events (NDJSON), deterministic for `seed`.
pub fn hospital_ndjson(n: u64, seed: u64) -> Vec<u8> {
    let mut generator = Generator::new(Config::hospital(n, seed));
    let mut ev = Event::default();
    let mut out = Vec::with_capacity(n as usize * 500);
    while generator.next_into(&mut ev) {
        write_json_line(&ev, &mut out);
    }
    out
}

/// Runs `recall --data DIR ARGS…` and returns its output.
pub fn recall(data: &Path, args: &[&str]) -> Output {
    Command::new(recall_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RECALL_DATA")
        .output()
        .expect("run recall")
}

/// Like [`recall`] but panics with both streams unless it exits 0.
pub fn recall_ok(data: &Path, args: &[&str]) -> String {
    let out = recall(data, args);
    assert!(
        out.status.success(),
        "recall {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh data directory with `events` synthetic events imported into `tenant`, using
/// small batches and segments so that several segments and many batches exist.
pub fn populated(root: &Path, tenant: &str, events: u64, seed: u64) -> PathBuf {
    let data = root.join("data");
    recall_ok(&data, &["init"]);
    shrink_segments(&data, 1);
    let input = root.join("events.ndjson");
    std::fs::write(&input, hospital_ndjson(events, seed)).unwrap();
    recall_ok(
        &data,
        &[
            "import",
            "--tenant",
            tenant,
            "--batch-events",
            "500",
            input.to_str().unwrap(),
        ],
    );
    data
}

/// The user name of this process's uid (`id -un`): the CLI records `cli:<this>` as its
/// operator, whatever `$USER` says.
pub fn uid_name() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(out.status.success(), "id -un failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Like [`recall`] but without `USER` and `LOGNAME` in the environment, so whatever the
/// CLI records as its operator can only come from the process's uid.
pub fn recall_without_user(data: &Path, args: &[&str]) -> Output {
    Command::new(recall_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RECALL_DATA")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .expect("run recall")
}

/// [`recall_without_user`], panicking with both streams unless it exits 0; stdout.
pub fn recall_without_user_ok(data: &Path, args: &[&str]) -> String {
    let out = recall_without_user(data, args);
    assert!(
        out.status.success(),
        "recall {args:?} failed ({:?}):\n{}",
        out.status,
        both(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sets `[retention] default_years` in the data directory's config.
pub fn set_default_years(data: &Path, years: u32) {
    let path = data.join("recall.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut replaced = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("default_years = ") {
                replaced += 1;
                format!("default_years = {years}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "recall.toml has no single default_years line");
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Calls `f` every 250 ms until it returns `Some`, panicking (naming `what`) after
/// `limit`. Only for waiting on something that must happen; never a timing assertion.
pub fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `recall search --tenant T --as privacy_officer ARGS…` (the data directory must be
/// free): the events found, parsed.
pub fn officer_search(data: &Path, tenant: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["search", "--tenant", tenant, "--as", "privacy_officer"];
    all.extend_from_slice(args);
    recall_ok(data, &all)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Sets `log.segment_mib` in the data directory's config.
pub fn shrink_segments(data: &Path, mib: u64) {
    let cfg = data.join("recall.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("segment_mib = 64", &format!("segment_mib = {mib}")),
    )
    .unwrap();
}

/// Stdout and stderr of an output, for assertion messages.
pub fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A parsed `recall proof` output: the text form documented in
/// crates/recall/src/proofs.rs (`recall-inclusion-proof/v1` or
/// `recall-consistency-proof/v1`, `key value` lines, `hash` lines, a blank line, the
/// signed checkpoint note).
#[derive(Debug, Clone)]
pub struct ProofText {
    /// The first line, e.g. `recall-inclusion-proof/v1`.
    pub kind: String,
    /// The `key value` lines other than `hash`, in order.
    pub fields: Vec<(String, String)>,
    /// The proof hashes, in order.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint note after the blank line.
    pub note: String,
}

impl ProofText {
    /// The value of field `key`; panics when it is absent.
    pub fn field(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("proof has no {key} line:\n{self:?}"))
    }

    /// Field `key` as a number.
    pub fn number(&self, key: &str) -> u64 {
        self.field(key).parse().unwrap()
    }

    /// Field `key` as a base64 hash.
    pub fn hash(&self, key: &str) -> [u8; 32] {
        b64_hash(self.field(key))
    }
}

/// Decodes standard base64 of exactly 32 bytes.
pub fn b64_hash(text: &str) -> [u8; 32] {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{text:?} is not base64: {e}"));
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("{text:?} is not a 32-byte hash"))
}

/// Parses the text form of a proof; panics on anything malformed.
pub fn parse_proof_text(text: &str) -> ProofText {
    let (head, note) = text
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("proof has no blank line before its checkpoint:\n{text}"));
    let mut lines = head.lines();
    let kind = lines.next().unwrap().to_string();
    let mut fields = Vec::new();
    let mut hashes = Vec::new();
    for line in lines {
        let (key, value) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("malformed proof line {line:?}"));
        if key == "hash" {
            hashes.push(b64_hash(value));
        } else {
            assert!(hashes.is_empty(), "{key} line after hash lines");
            fields.push((key.to_string(), value.to_string()));
        }
    }
    ProofText {
        kind,
        fields,
        hashes,
        note: note.to_string(),
    }
}

/// The verifier key of a data directory (`checkpoint.vkey`).
pub fn data_verifier(data: &Path) -> recall_ledger::Verifier {
    let vkey = std::fs::read_to_string(data.join("checkpoint.vkey")).unwrap();
    recall_ledger::Verifier::from_vkey(vkey.trim()).unwrap()
}

/// Opens a signed checkpoint note with `verifier` and parses its body; panics unless
/// both succeed.
pub fn open_checkpoint(
    note: &str,
    verifier: &recall_ledger::Verifier,
) -> recall_ledger::Checkpoint {
    let (opened, names) = recall_ledger::Note::open(note, std::slice::from_ref(verifier))
        .unwrap_or_else(|e| panic!("checkpoint note does not open ({e}):\n{note}"));
    assert_eq!(names, vec![verifier.name().to_string()]);
    recall_ledger::Checkpoint::parse_body(&opened.text).unwrap()
}

/// Parses a `recall proof` output and checks it completely: the proof against the root
/// it names, and that root and size against the embedded checkpoint, which must open with
/// `verifier`. Returns the parsed proof.
pub fn check_proof_text(text: &str, verifier: &recall_ledger::Verifier) -> ProofText {
    let proof = parse_proof_text(text);
    let cp = open_checkpoint(&proof.note, verifier);
    assert_eq!(proof.field("origin"), cp.origin);
    assert_eq!(proof.number("size"), cp.size);
    assert_eq!(proof.hash("root"), cp.root);
    match proof.kind.as_str() {
        "recall-inclusion-proof/v1" => recall_ledger::verify_inclusion(
            &proof.hash("leaf"),
            proof.number("seq"),
            cp.size,
            &proof.hashes,
            &cp.root,
        )
        .unwrap_or_else(|e| panic!("inclusion proof does not verify ({e}):\n{text}")),
        "recall-consistency-proof/v1" => recall_ledger::verify_consistency(
            proof.number("old"),
            cp.size,
            &proof.hash("old-root"),
            &cp.root,
            &proof.hashes,
        )
        .unwrap_or_else(|e| panic!("consistency proof does not verify ({e}):\n{text}")),
        other => panic!("unknown proof kind {other:?}"),
    }
    proof
}

/// Copies a directory tree (`std::fs::copy` keeps modes, so `kek.key` stays 0600).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The `log.origin` of a data directory's configuration.
pub fn origin_prefix(data: &Path) -> String {
    let cfg = std::fs::read_to_string(data.join("recall.toml")).unwrap();
    let line = cfg.lines().find(|l| l.starts_with("origin = ")).unwrap();
    line.trim_start_matches("origin = ")
        .trim_matches('"')
        .to_string()
}

/// Panics if any file under `dir` holds `needle` (e.g. a synthetic name kept sealed).
pub fn assert_in_no_file(dir: &Path, needle: &[u8]) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for f in std::fs::read_dir(&d).unwrap() {
            let p = f.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let found = bytes.windows(needle.len()).any(|w| w == needle);
                assert!(!found, "{} holds the text", p.display());
            }
        }
    }
}

/// The console's browser tests' directory (`console.mjs`, `common.mjs`, `npm ci` there).
pub fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// Whether chromium, node and the npm packages are there (panics under CI when not).
pub fn browser_tools() -> bool {
    let ok = Path::new("/usr/bin/chromium").exists()
        && console_dir().join("node_modules/playwright-core").exists()
        && console_dir().join("node_modules/axe-core").exists()
        && Command::new("node").arg("--version").output().is_ok();
    assert!(
        ok || std::env::var("CI").is_err(),
        "chromium, node and `npm ci` in crates/recall/tests/console are required under CI"
    );
    ok
}
