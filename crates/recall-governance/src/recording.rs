//! Whether the server stopped recording cleanly: a marker file (`server.running`, JSON with
//! the start time) exists exactly while a server records, so the next start can say in
//! every tenant's log that the previous run ended without its stop record (a crash,
//! `kill -9`, a power cut).

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// The marker's file name inside a data directory.
pub const MARKER_FILE: &str = "server.running";

/// The marker of a running server.
#[derive(Debug)]
pub struct Marker {
    path: PathBuf,
}

/// What the previous run left: `None` when it stopped cleanly (or there was none), else
/// `Some(started)` (its start time when the marker could be read).
pub type Previous = Option<Option<Timestamp>>;

impl Marker {
    /// Reads what the previous run left and marks this one as running (durably).
    pub fn begin(data_dir: &Path) -> std::io::Result<(Marker, Previous)> {
        let path = data_dir.join(MARKER_FILE);
        let previous = match std::fs::read(&path) {
            Ok(bytes) => Some(
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["started"].as_str().and_then(|s| s.parse().ok())),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let tmp = data_dir.join(format!("{MARKER_FILE}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        let body = serde_json::json!({"started": Timestamp::now().to_string()});
        f.write_all(body.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(data_dir)?.sync_all()?;
        Ok((Marker { path }, previous))
    }

    /// This run stops cleanly: its stop record is durable, so the marker goes.
    pub fn end(self) -> std::io::Result<()> {
        std::fs::remove_file(&self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_did_not_end_is_seen_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (m, prev) = Marker::begin(dir.path()).unwrap();
        assert_eq!(prev, None);
        m.end().unwrap();
        let (m, prev) = Marker::begin(dir.path()).unwrap();
        assert_eq!(prev, None, "the last run ended cleanly");
        drop(m); // a crash: never ended
        let (_, prev) = Marker::begin(dir.path()).unwrap();
        assert!(matches!(prev, Some(Some(_))), "{prev:?}");
    }
}
