//! Crash recovery: a child `recall import` is killed with SIGKILL at random moments.
//! After each kill the data directory is reopened (recovery runs) and must hold every
//! batch the child acknowledged, no partial batch, exactly the input's events in order,
//! and `recall verify` must pass.
//!
//! 20 trials by default; `RECALL_CRASH_TRIALS=N` runs a longer soak.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{hospital_ndjson, recall, recall_bin, recall_ok, shrink_segments};
use recall::datadir::DataDir;

const BATCH: u64 = 200;
const SEED: u64 = 11;

/// A small xorshift generator: deterministic kill times per trial.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Reads the log back and checks seqs `[from, to)` are input lines `0..to-from` in order.
fn check_contents(data: &std::path::Path, tenant: &str, from: u64, to: u64) {
    let dir = DataDir::open(data, false).expect("reopen after the crash");
    let journal = &dir.journal;
    assert_eq!(journal.store().size(tenant).unwrap(), to);
    let mut seen = from;
    journal
        .store()
        .scan(tenant, &mut |batch, _| {
            if batch.first_seq + batch.commitments.len() as u64 <= from {
                return Ok(());
            }
            for (seq, body) in journal.open_batch(tenant, &batch)? {
                if seq < from {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let want = format!("evt-{SEED}-{}", seq - from);
                assert_eq!(
                    v["id"],
                    serde_json::json!(want),
                    "seq {seq} holds the wrong event"
                );
                assert_eq!(v["seq"], serde_json::json!(seq));
                seen = seq + 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, to, "events missing at the end of the log");
}

#[test]
fn acknowledged_batches_survive_sigkill_and_partial_batches_never_show() {
    let trials: u64 = std::env::var("RECALL_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    shrink_segments(&data, 1);
    let input = tmp.path().join("events.ndjson");
    std::fs::write(&input, hospital_ndjson(60_000, SEED)).unwrap();
    let tenant = "crash";
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut size = 0u64;
    let mut acked_total = 0u64;
    for trial in 0..trials {
        let mut child = Command::new(recall_bin())
            .arg("--data")
            .arg(&data)
            .args([
                "import",
                "--tenant",
                tenant,
                "--print-acks",
                "--batch-events",
                &BATCH.to_string(),
            ])
            .arg(&input)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let acks = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = acks.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ack ") {
                    let mut it = rest.split(' ').map(|x| x.parse::<u64>().unwrap());
                    let (first, n) = (it.next().unwrap(), it.next().unwrap());
                    sink.lock().unwrap().push((first, n));
                }
            }
        });
        std::thread::sleep(Duration::from_millis(30 + next(&mut rng) % 700));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acks = acks.lock().unwrap().clone();
        // Acknowledgements continue the log without gaps from where the trial started.
        let mut expect = size;
        for &(first, n) in &acks {
            assert_eq!(first, expect, "trial {trial}: acks are not contiguous");
            expect += n;
        }
        let new_size = {
            let dir = DataDir::open(&data, false).unwrap();
            dir.journal.store().size(tenant).unwrap_or(0)
        };
        assert!(
            new_size >= expect,
            "trial {trial}: acknowledged up to {expect} but the log holds {new_size}"
        );
        assert_eq!(
            (new_size - size) % BATCH,
            0,
            "trial {trial}: a partial batch is visible"
        );
        if new_size > size {
            check_contents(&data, tenant, size, new_size);
        }
        let out = recall(&data, &["verify"]);
        assert!(
            out.status.success(),
            "trial {trial}: verify failed:\n{}",
            common::both(&out)
        );
        acked_total += acks.iter().map(|a| a.1).sum::<u64>();
        size = new_size;
    }
    assert!(
        acked_total > 0,
        "no trial got far enough to acknowledge a batch"
    );
}
