//! Persisted tile hashes: one flat file of 32-byte hashes per tree level that is a multiple
//! of 8 (`tiles/00.hashes`, `tiles/08.hashes`, …). Tile `L/N` is the 256-hash slice from
//! `N × 256` of file `8L`; a partial tile is the shorter slice at the end.
//!
//! Tiles are derived from the log: on open, the part covering the active segment is cut
//! back and recomputed, and the part covering sealed segments was synced when the segment
//! was sealed. Hashes wait in memory until written: a write that fails (a full disk) loses
//! nothing, the next flush retries from the first byte not written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use recall_ledger::Hash;

use crate::error::{Result, StoreError};

/// Highest tree level a u64-sized tree can have a complete node at, rounded to tiles.
const LEVELS: usize = 8;

/// Bytes a level's pending buffer keeps allocated after a flush. Opening a log scans its
/// active segment (up to a million leaves) onto the tiles; a `Vec` keeps the largest
/// capacity it ever had, so that scan's buffer (~17 MiB per tenant, seen in a heap
/// profile) stayed allocated for the life of the process.
const PENDING_KEEP: usize = 64 << 10;

/// The tile hash files of one tenant log.
pub struct TileFiles {
    dir: PathBuf,
    writers: Vec<Option<File>>,
    /// Bytes of each level not written yet.
    pending: Vec<Vec<u8>>,
    /// Hashes in each file, as the writer sees them (including unflushed ones).
    lens: Vec<u64>,
}

/// Path of the hash file for tree `level` (a multiple of 8).
pub fn level_path(dir: &Path, level: u8) -> PathBuf {
    dir.join(format!("{level:02}.hashes"))
}

impl TileFiles {
    /// Opens (creating) the tile directory for appending.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        let mut lens = vec![0; LEVELS];
        for (i, len) in lens.iter_mut().enumerate() {
            let p = level_path(dir, (i * 8) as u8);
            *len = match std::fs::metadata(&p) {
                Ok(m) => m.len() / 32,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(StoreError::io(p)(e)),
            };
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            writers: (0..LEVELS).map(|_| None).collect(),
            pending: vec![Vec::new(); LEVELS],
            lens,
        })
    }

    /// Number of hashes stored for tree `level`.
    pub fn len(&self, level: u8) -> u64 {
        self.lens.get(level as usize / 8).copied().unwrap_or(0)
    }

    /// Cuts every level back so that it covers exactly a tree of `size` leaves.
    pub fn truncate_to(&mut self, size: u64) -> Result<()> {
        self.flush()?;
        self.writers.iter_mut().for_each(|w| *w = None);
        for i in 0..LEVELS {
            let p = level_path(&self.dir, (i * 8) as u8);
            let actual = match std::fs::metadata(&p) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(p)(e)),
            };
            // Also cuts a torn partial hash left by a crash.
            let keep = (size >> (i * 8)).min(actual / 32);
            if actual != keep * 32 {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map_err(StoreError::io(&p))?;
                f.set_len(keep * 32).map_err(StoreError::io(&p))?;
            }
            self.lens[i] = keep;
        }
        Ok(())
    }

    /// Appends the hash of node `(level, index)`; only tile levels are kept. Nodes arrive
    /// in index order per level, so `index` must equal the level's length. Written by the
    /// next [`TileFiles::flush`].
    pub fn record(&mut self, level: u8, index: u64, hash: &Hash) {
        if !level.is_multiple_of(8) {
            return;
        }
        let i = level as usize / 8;
        debug_assert_eq!(index, self.lens[i], "tile level {level} out of order");
        self.pending[i].extend_from_slice(hash);
        self.lens[i] += 1;
    }

    /// Writes pending hashes to the files (no sync: tiles are rebuilt after a crash). On
    /// failure what was not written stays pending.
    pub fn flush(&mut self) -> Result<()> {
        for i in 0..LEVELS {
            if self.pending[i].is_empty() {
                continue;
            }
            let p = level_path(&self.dir, (i * 8) as u8);
            if self.writers[i].is_none() {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(StoreError::io(&p))?;
                self.writers[i] = Some(f);
            }
            if let Some(f) = self.writers[i].as_mut() {
                let pending = &mut self.pending[i];
                while !pending.is_empty() {
                    match f.write(pending) {
                        Ok(0) => {
                            return Err(StoreError::io(p)(std::io::ErrorKind::WriteZero.into()));
                        }
                        Ok(n) => drop(pending.drain(..n)),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(StoreError::io(p)(e)),
                    }
                }
                pending.shrink_to(PENDING_KEEP);
            }
        }
        Ok(())
    }

    /// Flushes once any level holds more than [`PENDING_KEEP`] bytes: scans that feed
    /// whole segments call it per batch, so they never buffer a segment's hashes.
    pub fn flush_if_large(&mut self) -> Result<()> {
        if self.pending.iter().any(|p| p.len() > PENDING_KEEP) {
            self.flush()?;
        }
        Ok(())
    }

    /// Bytes allocated for pending hashes, all levels.
    #[cfg(test)]
    fn pending_capacity(&self) -> usize {
        self.pending.iter().map(Vec::capacity).sum()
    }

    /// Flushes and syncs every file (at segment seal: sealed ranges are not rebuilt).
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        for (i, w) in self.writers.iter().enumerate() {
            if let Some(w) = w {
                w.sync_data()
                    .map_err(StoreError::io(level_path(&self.dir, (i * 8) as u8)))?;
            }
        }
        Ok(())
    }
}

/// Reads `count` hashes of tree `level` from `start` in the tile directory `dir`.
pub fn read_hashes(dir: &Path, level: u8, start: u64, count: u64) -> Result<Vec<Hash>> {
    if !level.is_multiple_of(8) {
        return Err(StoreError::OutOfRange(format!(
            "tree level {level} is not stored"
        )));
    }
    let p = level_path(dir, level);
    let f = File::open(&p).map_err(StoreError::io(&p))?;
    let mut buf = vec![0u8; (count * 32) as usize];
    f.read_exact_at(&mut buf, start * 32).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            StoreError::OutOfRange(format!(
                "tile level {} holds fewer than {} hashes",
                level / 8,
                start + count
            ))
        } else {
            StoreError::io(&p)(e)
        }
    })?;
    Ok(buf
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect())
}

/// Number of hashes stored for tree `level` in `dir` (0 when the file is missing).
pub fn stored_len(dir: &Path, level: u8) -> Result<u64> {
    let p = level_path(dir, level);
    match std::fs::metadata(&p) {
        Ok(m) => Ok(m.len() / 32),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StoreError::io(p)(e)),
    }
}

/// The tile files of a directory as [`recall_ledger::StoredHashes`].
pub struct TileDir<'a>(pub &'a Path);

impl recall_ledger::StoredHashes for TileDir<'_> {
    fn read(&self, level: u8, start: u64, count: u64) -> std::result::Result<Vec<Hash>, String> {
        read_hashes(self.0, level, start, count).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A scan's worth of hashes, flushed, leaves no segment-sized buffer behind, and a
    /// scan that flushes as it goes never holds one.
    #[test]
    fn pending_hashes_stay_bounded_after_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let mut tiles = TileFiles::open(dir.path()).unwrap();
        let leaves = 100_000u64;
        let mut peak = 0;
        for i in 0..leaves {
            tiles.record(0, i, &[7; 32]);
            tiles.flush_if_large().unwrap();
            peak = peak.max(tiles.pending_capacity());
        }
        assert!(peak <= 4 * PENDING_KEEP, "scan buffered {peak} bytes");
        for i in leaves..2 * leaves {
            tiles.record(0, i, &[7; 32]);
        }
        tiles.flush().unwrap();
        assert!(tiles.pending_capacity() <= PENDING_KEEP);
        assert_eq!(stored_len(dir.path(), 0).unwrap(), 2 * leaves);
    }
}
