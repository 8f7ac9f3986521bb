//! The checkpoint log of a tenant: every signed checkpoint, in order, each persisted
//! (appended and synced) before it is published.
//!
//! File `checkpoints`: frames as in segments (`len ‖ crc ‖ payload`), payload = the signed
//! note text in UTF-8. A torn final frame (crash during the append) is ignored on read
//! and cut on open for writing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::format::{frame, looks_torn, read_frame, valid_frame_follows};

/// Largest plausible checkpoint note (a body and a few dozen signature lines).
const MAX_NOTE: u32 = 64 * 1024;

/// File name of the checkpoint log inside a tenant directory.
pub const FILE: &str = "checkpoints";

/// Reads every checkpoint note; returns them and the byte length of the valid prefix.
pub fn read_all(path: &Path) -> Result<(Vec<String>, u64)> {
    let buf = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(StoreError::io(path)(e)),
    };
    let mut notes = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match read_frame(&buf[at..]) {
            Ok((payload, used)) => {
                let text = std::str::from_utf8(payload).map_err(|_| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    reason: "checkpoint is not UTF-8".into(),
                })?;
                notes.push(text.to_string());
                at += used;
            }
            // Notes are small: a "torn" frame claiming more than this is damage.
            Err(e) if looks_torn(&e, &buf[at..], MAX_NOTE) && !valid_frame_follows(&buf[at..]) => {
                break;
            }
            Err(e) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    reason: format!("checkpoint record: {}", e.describe()),
                });
            }
        }
    }
    Ok((notes, at as u64))
}

/// Appends checkpoints durably.
pub struct CheckpointLog {
    path: PathBuf,
    file: File,
    /// Bytes of complete, synced notes.
    len: u64,
    /// A failed append left bytes after `len` that are not cut yet.
    dirty: bool,
}

impl CheckpointLog {
    /// Opens for appending, cutting a torn final record.
    pub fn open(path: &Path) -> Result<(Self, Vec<String>)> {
        let (notes, valid) = read_all(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(StoreError::io(path))?;
        let len = file.metadata().map_err(StoreError::io(path))?.len();
        if len != valid {
            file.set_len(valid).map_err(StoreError::io(path))?;
            file.sync_all().map_err(StoreError::io(path))?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                len: valid,
                dirty: false,
            },
            notes,
        ))
    }

    /// Appends a note and syncs it: only then may it be published. A failed append (a
    /// full disk) is cut back, so that the next one does not follow a torn frame, which
    /// would read as damage.
    pub fn append(&mut self, note: &str) -> Result<()> {
        if self.dirty {
            self.cut_back()?;
        }
        let bytes = frame(note.as_bytes());
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.dirty = true;
            // Retried before the next append if it fails now.
            let _ = self.cut_back();
            return Err(StoreError::io(&self.path)(e));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn cut_back(&mut self) -> Result<()> {
        self.file
            .set_len(self.len)
            .and_then(|()| self.file.sync_all())
            .map_err(StoreError::io(&self.path))?;
        self.dirty = false;
        Ok(())
    }
}
