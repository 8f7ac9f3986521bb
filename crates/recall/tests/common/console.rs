//! What the browser tests of the console share: the tools they need (Debian's chromium,
//! node and the npm packages of `tests/console`), console users made with the CLI, and
//! where screenshots go.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The directory of the browser scripts and their npm packages.
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

/// `recall users create NAME …` in `tenant` with `password` on standard input; the TOTP
/// URI it printed.
pub fn create_user(data: &Path, tenant: &str, name: &str, role: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(super::recall_bin())
        .arg("--data")
        .arg(data)
        .args(["users", "create", name, "--tenant", tenant, "--role", role])
        .env_remove("RECALL_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let uri = text
        .lines()
        .find_map(|l| l.strip_prefix("totp: "))
        .expect("a PHI role gets a TOTP secret");
    assert!(uri.starts_with("otpauth://totp/"));
    uri.to_owned()
}

/// Where screenshots and downloads go: `target/console-artefacts`.
pub fn artefacts() -> PathBuf {
    // target/<profile>/deps/<test>-… → target/console-artefacts
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("console-artefacts")
}

/// Runs `script` of `tests/console` in node with `env`; its standard output, after
/// asserting it exited cleanly.
pub fn run_script(script: &str, env: &[(&str, String)]) -> String {
    let mut cmd = Command::new("node");
    cmd.arg(console_dir().join(script))
        .current_dir(console_dir())
        .env("ARTEFACTS", artefacts());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser script {script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
