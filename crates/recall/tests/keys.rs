//! `recall keys`: the key is printed once on its own line, listed without its secret,
//! verified by the server's `ApiKeys`, revoked by id; older data directories (the frozen
//! v1 fixture) gain API keys without other changes.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{copy_dir, recall, recall_ok};
use recall::keys::open_api_keys;
use recall_server::auth::Role;

fn init(root: &Path) -> PathBuf {
    let data = root.join("data");
    recall_ok(&data, &["init"]);
    data
}

fn create(data: &Path, tenant: &str, role: &str) -> String {
    let out = recall(
        data,
        &[
            "keys",
            "create",
            "--tenant",
            tenant,
            "--role",
            role,
            "--new-tenant",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(stderr.contains("shown only this once"), "{stderr}");
    assert!(!stderr.contains(lines[0]), "the key leaked to stderr");
    lines[0].to_string()
}

#[test]
fn create_list_verify_revoke() {
    let root = tempfile::tempdir().unwrap();
    let data = init(root.path());
    let key = create(&data, "st-marys", "writer");
    assert!(key.starts_with("rk_"), "{key}");
    let id = key[3..19].to_string();
    let other = create(&data, "st-marys", "auditor");

    let list = recall_ok(&data, &["keys", "list"]);
    assert!(
        list.contains(&id) && list.contains("st-marys") && list.contains("writer"),
        "{list}"
    );
    assert!(list.contains("auditor"), "{list}");
    for k in [&key, &other] {
        assert!(!list.contains(&k[20..]), "a secret is listed:\n{list}");
    }

    let keys = open_api_keys(&data).unwrap();
    let info = keys.verify(&key).unwrap().unwrap();
    assert_eq!(
        (info.tenant.as_str(), info.role),
        ("st-marys", Role::Writer)
    );
    drop(keys);

    let out = recall_ok(&data, &["keys", "revoke", &id]);
    assert!(out.contains("revoked"), "{out}");
    let out = recall_ok(&data, &["keys", "revoke", &id]);
    assert!(out.contains("already revoked"), "{out}");
    let keys = open_api_keys(&data).unwrap();
    assert_eq!(keys.verify(&key).unwrap(), None);
    assert!(keys.verify(&other).unwrap().is_some());
    let list = recall_ok(&data, &["keys", "list"]);
    let line = list.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(!line.ends_with("\t-"), "not shown revoked: {line}");
}

#[test]
fn bad_input_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let data = init(root.path());
    let out = recall(
        &data,
        &["keys", "create", "--tenant", "t", "--role", "root"],
    );
    assert!(!out.status.success());
    let out = recall(
        &data,
        &[
            "keys",
            "create",
            "--tenant",
            "Bad Tenant",
            "--role",
            "writer",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant"));
    let out = recall(&data, &["keys", "revoke", "0000000000000000"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key"));
    let out = recall(&root.path().join("nothing"), &["keys", "list"]);
    assert!(!out.status.success());
}

#[test]
fn the_frozen_v1_data_directory_gains_api_keys() {
    let root = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/data");
    let data = root.path().join("data");
    copy_dir(&fixture, &data);
    // Git does not keep the KEK file's 0600 mode, which loading the KEK insists on.
    std::fs::set_permissions(data.join("kek.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = create(&data, "t", "verifier");
    assert!(
        open_api_keys(&data)
            .unwrap()
            .verify(&key)
            .unwrap()
            .is_some()
    );
    let out = recall_ok(&data, &["verify"]);
    assert!(out.contains("OK"), "{out}");
}
