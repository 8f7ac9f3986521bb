//! A sink's cursor on disk: `<data>/sinks/<name>.cursor`, one JSON object
//! `{"v":1,"tenant":"…","after":N}` — the seq of the last event the receiver accepted
//! (the export's resume cursor).
//!
//! Invariants:
//! - Written only after the receiver accepted everything up to `after`, and replaced
//!   whole (write a temporary file, fsync, rename, fsync the directory): after a crash
//!   the file holds the old cursor or the new one, never a torn one.
//! - A cursor of another tenant (the sink was pointed elsewhere) is not used: the sink
//!   starts again from the beginning of its tenant's log rather than skip anything.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Folder of the cursors inside the data directory.
pub const DIR: &str = "sinks";

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    v: u32,
    tenant: String,
    after: u64,
}

/// Where one sink keeps its cursor.
pub struct CursorFile {
    path: PathBuf,
    tenant: String,
}

impl CursorFile {
    /// The cursor file of sink `name` forwarding `tenant`'s log.
    pub fn new(data: &Path, name: &str, tenant: &str) -> CursorFile {
        CursorFile {
            path: data.join(DIR).join(format!("{name}.cursor")),
            tenant: tenant.to_owned(),
        }
    }

    /// The kept cursor: `None` when nothing was accepted yet (or the file names another
    /// tenant). An unreadable file is an error, never "start over" or "skip".
    pub fn load(&self) -> std::io::Result<Option<u64>> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if stored.tenant != self.tenant {
            tracing::warn!(path = %self.path.display(), "sink cursor of another tenant; starting from the beginning");
            return Ok(None);
        }
        Ok(Some(stored.after))
    }

    /// Keeps `after` durably.
    pub fn store(&self, after: u64) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("cursor.tmp");
        let stored = Stored {
            v: 1,
            tenant: self.tenant.clone(),
            after,
        };
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(&stored).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_per_tenant_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let c = CursorFile::new(dir.path(), "siem", "t1");
        assert_eq!(c.load().unwrap(), None);
        c.store(41).unwrap();
        c.store(42).unwrap();
        assert_eq!(c.load().unwrap(), Some(42));
        assert!(!dir.path().join("sinks/siem.cursor.tmp").exists());
        assert_eq!(
            CursorFile::new(dir.path(), "siem", "t2").load().unwrap(),
            None
        );
        fs::write(dir.path().join("sinks/siem.cursor"), b"{").unwrap();
        assert!(c.load().is_err());
    }
}
