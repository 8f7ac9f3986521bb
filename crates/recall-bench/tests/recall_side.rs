//! The recall side against a stand-in `recall` script that honours the CLI contract.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs;
use std::os::unix::fs::PermissionsExt;

use recall_bench::recall_cli;

const FAKE_RECALL: &str = r#"#!/bin/sh
# Stand-in: --data DIR init | import --tenant T FILE | verify
[ "$1" = --data ] || exit 2
data=$2; shift 2
case "$1" in
  init) mkdir -p "$data" && echo "initialised $data" ;;
  import) mkdir -p "$data/tenants/$3" && cp "$4" "$data/tenants/$3/log" && echo "imported" ;;
  verify) [ -f "$data"/tenants/*/log ] && echo "verified ok" || { echo "no log" >&2; exit 1; } ;;
  *) exit 2 ;;
esac
"#;

#[test]
fn drives_init_import_verify_and_measures_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("recall");
    fs::write(&bin, FAKE_RECALL).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let input = dir.path().join("in.ndjson");
    fs::write(&input, "{}\n".repeat(100)).unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("outside-the-log"), [0u8; 50]).unwrap();

    let bin = recall_cli::locate(Some(&bin)).unwrap();
    let f = recall_cli::measure(&bin, &data, &input, "bench").unwrap();
    assert_eq!(f.log_bytes, Some(300));
    assert_eq!(f.data_dir_bytes, 350);
    assert_eq!(
        (f.import_said.as_str(), f.verify_said.as_str()),
        ("imported", "verified ok")
    );
}

#[test]
fn a_failing_verify_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("recall");
    fs::write(
        &bin,
        FAKE_RECALL.replace(r#"&& echo "verified ok""#, "&& exit 1"),
    )
    .unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let input = dir.path().join("in.ndjson");
    fs::write(&input, "{}\n").unwrap();
    let err = recall_cli::measure(&bin, &dir.path().join("data"), &input, "bench").unwrap_err();
    assert!(format!("{err:#}").contains("verify"), "{err:#}");
}

#[test]
fn a_missing_binary_is_reported() {
    let err = recall_cli::locate(Some(std::path::Path::new("/nonexistent/recall"))).unwrap_err();
    assert!(err.to_string().contains("no recall binary"));
}

#[test]
fn run_measures_the_recall_side_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("recall");
    fs::write(&bin, FAKE_RECALL).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    let json = dir.path().join("report.json");
    let opts = recall_bench::run::RunOptions {
        events: 1_000,
        seed: 3,
        recall: Some(bin),
        workdir: Some(work.clone()),
        json: Some(json.clone()),
        skip_peer: true,
        ..Default::default()
    };
    let report = recall_bench::run::run(&opts).unwrap();
    let r = report.recall.as_ref().unwrap();
    // The stand-in copies the input, so the log is exactly the NDJSON.
    assert_eq!(r.log_bytes, Some(report.ndjson_bytes));
    assert!(report.derived.recall_import_eps.unwrap() > 0.0);
    let written: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    assert_eq!(written["events"], 1_000);
    assert_eq!(written["goals"].as_array().unwrap().len(), 4);
    // Without --keep, what the run created is gone.
    assert!(!work.join("recall-data").exists() && !work.join("events.ndjson").exists());
}
