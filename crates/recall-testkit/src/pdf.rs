//! Third-party checks of a PDF file: `qpdf --check` must pass, and poppler's `pdftotext`
//! gives its text back. Both are Debian packages (`qpdf`, `poppler-utils`) that .ci/run
//! installs; without them a test skips, except under `CI=true`, where it fails.

use std::path::Path;
use std::process::Command;

/// Whether qpdf and poppler's tools are installed (panics under CI when not).
pub fn pdf_tools() -> bool {
    let ok = ["qpdf", "pdftotext", "pdfinfo", "pdffonts"]
        .iter()
        .all(|t| Command::new(t).arg("-v").output().is_ok());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "poppler-utils and qpdf are required under CI"
        );
        eprintln!("skipped: poppler-utils or qpdf is not installed");
    }
    ok
}

/// Runs `qpdf --check` on the file (panicking with its report if it fails) and returns
/// the text `pdftotext` extracts.
pub fn checked_text(path: &Path) -> String {
    let check = run("qpdf", &["--check"], path);
    assert!(check.0, "qpdf --check failed: {}", check.1);
    let text = run("pdftotext", &[], path);
    assert!(text.0, "pdftotext failed");
    text.1
}

/// Output of a poppler tool (`pdfinfo`, `pdffonts`) on the file.
pub fn tool_output(tool: &str, path: &Path) -> String {
    run(tool, &[], path).1
}

fn run(tool: &str, args: &[&str], path: &Path) -> (bool, String) {
    let mut c = Command::new(tool);
    c.args(args).arg(path);
    if tool == "pdftotext" {
        c.arg("-");
    }
    let out = c.output().unwrap_or_else(|e| panic!("running {tool}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
