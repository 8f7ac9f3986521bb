//! The KEK file and environment providers: format, permissions, refusals.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use recall_crypto::{CryptoError, KeyProvider, SecretBytes, create_kek_file};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn created_file_is_0600_one_base64_line_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    create_kek_file(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 45);
    assert!(text.ends_with('\n'));
    assert_eq!(STANDARD.decode(text.trim_end()).unwrap().len(), 32);

    let kek = KeyProvider::File(path.clone()).load().unwrap();
    let again = KeyProvider::File(path).load().unwrap();
    let secret = SecretBytes::from_bytes([9; 32]);
    // Same file, same key: what one load wraps, the other unwraps.
    let wrapped = kek.wrap(&secret).unwrap();
    assert_eq!(
        again.unwrap_secret(&wrapped).unwrap().expose(),
        secret.expose()
    );
}

#[test]
fn two_created_files_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    create_kek_file(&a).unwrap();
    create_kek_file(&b).unwrap();
    assert_ne!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn create_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    create_kek_file(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = create_kek_file(&path).unwrap_err();
    assert!(matches!(err, CryptoError::KekFileExists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn group_or_other_access_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    create_kek_file(&path).unwrap();
    for bad in [0o644, 0o640, 0o604, 0o660, 0o601] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
        let err = KeyProvider::File(path.clone()).load().unwrap_err();
        assert!(
            matches!(err, CryptoError::KekFilePermissions { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("chmod 600"), "{msg}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    KeyProvider::File(path).load().unwrap();
}

fn write_0600(path: &std::path::Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn malformed_content_is_refused_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let secretish = "c2VjcmV0LXNlY3JldC1zZWNyZXQ"; // base64, wrong length
    for content in [
        format!("{secretish}\n"),
        format!("{}\n", STANDARD.encode([1u8; 16])),
        format!("{}\n", STANDARD.encode([1u8; 48])),
        "not base64 at all: PATIENT-NAME\n".to_owned(),
        String::new(),
        "A".repeat(4096),
    ] {
        write_0600(&path, content.as_bytes());
        let err = KeyProvider::File(path.clone()).load().unwrap_err();
        assert!(matches!(err, CryptoError::KekMalformed { .. }), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secretish), "{shown}");
        assert!(!shown.contains("PATIENT"), "{shown}");
        assert!(!shown.contains("AQEB"), "{shown}");
    }
}

#[test]
fn missing_file_and_directory_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = KeyProvider::File(dir.path().join("none"))
        .load()
        .unwrap_err();
    assert!(matches!(err, CryptoError::KekFileIo { .. }), "{err}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = KeyProvider::File(dir.path().to_owned()).load().unwrap_err();
    assert!(matches!(err, CryptoError::KekNotAFile { .. }), "{err}");
}

#[test]
fn env_provider() {
    // Unique names: tests in one binary share the process environment.
    let var = "RECALL_CRYPTO_TEST_KEK_ENV_PROVIDER";
    let err = KeyProvider::Env(var.into()).load().unwrap_err();
    assert!(matches!(err, CryptoError::KekEnvMissing { .. }), "{err}");
    assert!(err.to_string().contains(var));

    let key = [0x33u8; 32];
    // `std::env::set_var` is unsafe in edition 2024 and the workspace forbids unsafe
    // code, so the variables are set for a child process that runs `env_child`.
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "env_child", "--nocapture"])
        .env(var, format!("{}\n", STANDARD.encode(key)))
        .env("RECALL_CRYPTO_TEST_BAD_KEK", "short")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Runs in the child process started by `env_provider`; a no-op anywhere else.
#[test]
fn env_child() {
    if std::env::var_os("RECALL_CRYPTO_TEST_BAD_KEK").is_none() {
        return;
    }
    let kek = KeyProvider::Env("RECALL_CRYPTO_TEST_KEK_ENV_PROVIDER".into())
        .load()
        .unwrap();
    let reference = recall_crypto::Kek::from_bytes([0x33; 32]);
    let wrapped = reference.wrap(&SecretBytes::from_bytes([1; 32])).unwrap();
    assert_eq!(kek.unwrap_secret(&wrapped).unwrap().expose(), &[1; 32]);
    let err = KeyProvider::Env("RECALL_CRYPTO_TEST_BAD_KEK".into())
        .load()
        .unwrap_err();
    assert!(matches!(err, CryptoError::KekMalformed { .. }), "{err}");
    assert!(!err.to_string().contains("short"));
}
