//! The recall side, driven as a black box through the `recall` binary:
//! `init`, a timed `import`, sizes on disk, a timed `verify`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// The `recall` binary: `explicit`, else `target/release/recall` in the workspace, else the
/// `recall` beside this executable.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            bail!("no recall binary at {}", p.display())
        };
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = vec![workspace.join("target/release/recall")];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        candidates.push(dir.join("recall"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .context(
            "no recall binary: build it with `cargo build --release -p recall` or pass --recall",
        )
}

/// Sum of the sizes of all files under `dir` (symlinks not followed).
pub fn dir_bytes(dir: &Path) -> Result<u64> {
    sum_files(dir, fs::Metadata::len)
}

/// Disk space taken by the files under `dir`: allocated blocks, as `du` counts them.
/// fjall preallocates its journals as sparse 32 MiB files whose unwritten part takes no
/// space.
pub fn disk_usage(dir: &Path) -> Result<u64> {
    sum_files(dir, |m| m.blocks() * 512)
}

fn sum_files(dir: &Path, size: impl Fn(&fs::Metadata) -> u64) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
            let entry = entry?;
            let meta = entry.path().symlink_metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += size(&meta);
            }
        }
    }
    Ok(total)
}

/// What the recall side measured.
#[derive(Debug, Clone, Serialize)]
pub struct RecallFigures {
    /// Wall clock of `recall import` (durable at exit 0), seconds.
    pub import_secs: f64,
    /// Bytes of all files in the data directory.
    pub data_dir_bytes: u64,
    /// Bytes of the log alone (everything under `<data>/tenants/`); `None` if there is no
    /// such directory.
    pub log_bytes: Option<u64>,
    /// Wall clock of `recall verify`, seconds.
    pub verify_secs: f64,
    /// First and last lines `import` printed, for the record.
    pub import_said: String,
    /// First and last lines `verify` printed.
    pub verify_said: String,
}

/// Runs `recall` with `args`; fails unless it exits 0. Returns its first and last output lines.
fn recall(bin: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    // First and last lines of what it printed (stdout, else stderr), for the record only.
    let said = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        match (lines.next(), lines.next_back()) {
            (Some(a), Some(z)) => format!("{a} ... {z}"),
            (Some(a), None) => a.to_owned(),
            _ => String::new(),
        }
    };
    let last = match said(&out.stdout) {
        s if s.is_empty() => said(&out.stderr),
        s => s,
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "recall {} exited with {}: {}",
            args.join(" "),
            out.status,
            err.trim()
        );
    }
    Ok(last)
}

/// Initialises `data`, imports `ndjson` into `tenant`, measures sizes, verifies.
pub fn measure(bin: &Path, data: &Path, ndjson: &Path, tenant: &str) -> Result<RecallFigures> {
    recall(bin, data, &["init"])?;
    let file = ndjson.to_str().context("NDJSON path is not UTF-8")?;
    let started = Instant::now();
    let import_said = recall(bin, data, &["import", "--tenant", tenant, file])?;
    let import_secs = started.elapsed().as_secs_f64();
    let data_dir_bytes = dir_bytes(data)?;
    let tenants = data.join("tenants");
    let log_bytes = if tenants.is_dir() {
        Some(dir_bytes(&tenants)?)
    } else {
        None
    };
    crate::run::sync_all();
    let started = Instant::now();
    let verify_said = recall(bin, data, &["verify"])?;
    let verify_secs = started.elapsed().as_secs_f64();
    Ok(RecallFigures {
        import_secs,
        data_dir_bytes,
        log_bytes,
        verify_secs,
        import_said,
        verify_said,
    })
}
