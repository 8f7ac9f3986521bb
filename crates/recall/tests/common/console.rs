//! What the console's browser tests share: the node scripts' folder, whether chromium and
//! the npm packages are there (a missing tool fails under `CI=true`), console users made
//! with `recall users create`, and running one script against a server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `crates/recall/tests/<sub>`.
pub fn tests_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

/// Whether chromium, node and the npm packages of `tests/console` (and of each folder in
/// `more`, e.g. `oidc/node_modules/oidc-provider`) are there; panics under CI when not.
pub fn browser_tools(more: &[&str]) -> bool {
    let ok = Path::new("/usr/bin/chromium").exists()
        && tests_dir("console/node_modules/playwright-core").exists()
        && tests_dir("console/node_modules/axe-core").exists()
        && more.iter().all(|m| tests_dir(m).exists())
        && Command::new("node").arg("--version").output().is_ok();
    assert!(
        ok || std::env::var("CI").is_err(),
        "chromium, node and `npm ci` in crates/recall/tests/console (and {more:?}) are required under CI"
    );
    ok
}

/// `recall users create NAME --tenant T --role R [extra…]` with `password` on standard
/// input: its standard output, or its standard error when it failed.
pub fn create_user(
    data: &Path,
    tenant: &str,
    name: &str,
    role: &str,
    password: &str,
    extra: &[&str],
) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(super::recall_bin())
        .arg("--data")
        .arg(data)
        .args(["users", "create", name, "--tenant", tenant, "--role", role])
        .args(extra)
        .env_remove("RECALL_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The `otpauth://` URI `recall users create` printed.
pub fn totp_of(out: &str) -> String {
    let uri = out
        .lines()
        .find_map(|l| l.strip_prefix("totp: "))
        .expect("a PHI role gets a TOTP secret");
    assert!(uri.starts_with("otpauth://totp/"));
    uri.to_owned()
}

/// Where screenshots go: `target/console-artefacts/`.
pub fn artefacts() -> PathBuf {
    // target/<profile>/deps/<test>-… → target/console-artefacts
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("console-artefacts")
}

/// Runs `tests/console/<script>` in node with `env` (and `ARTEFACTS`); asserts it passed
/// `steps` steps; returns its standard output.
pub fn run_script(script: &str, env: &[(&str, &str)], steps: usize) -> String {
    let mut cmd = Command::new("node");
    cmd.arg(tests_dir("console").join(script))
        .current_dir(tests_dir("console"))
        .env("ARTEFACTS", artefacts());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{steps} passed, 0 failed")),
        "{stdout}"
    );
    stdout
}
