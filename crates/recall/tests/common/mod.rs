//! Shared helpers of the CLI integration tests: synthetic data and running the binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use recall_bench::generator::{Config, Event, Generator, write_json_line};

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
