//! `recall keys rotate-kek` on a populated data directory: afterwards the old KEK opens
//! nothing, the new one opens everything (verify, search, API keys), bodies and tiles are
//! unchanged, a server holding the directory makes the rotation wait, and a rotation cut
//! off between its commit and the file swap is finished on the next open.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::server::{Server, create_key};
use common::{populated, recall, recall_ok};

const TENANT: &str = "st-marys";

fn tree_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let rel = entry.strip_prefix(dir).unwrap().display().to_string();
        if !rel.ends_with(".lock") {
            out.push((rel, std::fs::read(&entry).unwrap()));
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn rotating_the_kek_leaves_the_old_one_useless_and_the_log_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 3_000, 5);
    let auditor = create_key(&data, TENANT, "auditor");
    let before_search = recall_ok(&data, &["search", "--tenant", TENANT, "--limit", "50"]);
    let logs_before = tree_files(&data.join("tenants"));
    let old_kek = std::fs::read(data.join("kek.key")).unwrap();

    let out = recall_ok(&data, &["keys", "rotate-kek"]);
    assert!(out.contains("re-wrapped"), "{out}");
    let new_kek = std::fs::read(data.join("kek.key")).unwrap();
    assert_ne!(old_kek, new_kek);
    assert!(!data.join("kek.key.next").exists());
    // The log (segments, tiles, checkpoints) only grew, by the rotation's own record:
    // every byte written before is unchanged (an active segment's preallocated zeros
    // excepted, which the record took).
    let logs_after = tree_files(&data.join("tenants"));
    for (path, before) in &logs_before {
        let after = &logs_after.iter().find(|(p, _)| p == path).unwrap().1;
        let written = before.len() - before.iter().rev().take_while(|b| **b == 0).count();
        assert!(
            after.starts_with(&before[..written]),
            "{path} was rewritten"
        );
    }
    let rotations = recall_ok(
        &data,
        &[
            "search",
            "--tenant",
            TENANT,
            "--as",
            "privacy_officer",
            "--action",
            "update",
        ],
    );
    assert!(
        rotations.contains("\"KeyEncryptionKey\"") && rotations.contains("recall keys rotate-kek"),
        "{rotations}"
    );

    // Everything opens under the new KEK: verify, search, API keys.
    recall_ok(&data, &["verify"]);
    let after_search = recall_ok(&data, &["search", "--tenant", TENANT, "--limit", "50"]);
    let strip = |s: &str| -> Vec<String> { s.lines().take(50).map(str::to_owned).collect() };
    assert_eq!(strip(&before_search), strip(&after_search));
    let server = Server::start(&data);
    assert_eq!(server.get(&auditor, "/v1/events?limit=1").status(), 200);
    server.stop();

    // The old KEK is useless now: put it back and nothing opens.
    std::fs::write(data.join("kek.key"), &old_kek).unwrap();
    let out = recall(&data, &["verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("wrong key-encryption key"), "{err}");
    std::fs::write(data.join("kek.key"), &new_kek).unwrap();
    recall_ok(&data, &["verify"]);
}

#[test]
fn a_running_server_keeps_the_kek_from_rotating() {
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 200, 6);
    let server = Server::start(&data);
    let out = recall(&data, &["keys", "rotate-kek"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    server.stop();
    let kek = std::fs::read(data.join("kek.key")).unwrap();
    recall_ok(&data, &["keys", "rotate-kek"]);
    assert_ne!(kek, std::fs::read(data.join("kek.key")).unwrap());
}

/// A rotation that committed but was cut off before `kek.key.next` replaced `kek.key`:
/// the next open finds the old KEK refused, opens with `.next` and finishes the swap.
#[test]
fn a_rotation_cut_off_before_the_file_swap_is_finished_on_open() {
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 200, 7);
    let old_kek = std::fs::read(data.join("kek.key")).unwrap();
    recall_ok(&data, &["keys", "rotate-kek"]);
    let new_kek = std::fs::read(data.join("kek.key")).unwrap();
    // Recreate the crash state: the new KEK still in .next, the old one in place.
    std::fs::rename(data.join("kek.key"), data.join("kek.key.next")).unwrap();
    std::fs::write(data.join("kek.key"), &old_kek).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("kek.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    recall_ok(&data, &["verify"]);
    assert_eq!(std::fs::read(data.join("kek.key")).unwrap(), new_kek);
    assert!(!data.join("kek.key.next").exists());
}
