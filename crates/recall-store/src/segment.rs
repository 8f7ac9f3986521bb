//! Segment files: naming, listing and strict scanning.
//!
//! Scanning rules (docs/design/storage-format.md): every segment starts with a header;
//! batches continue the seq without gaps; a full segment ends with a seal and nothing
//! after it. Damage is reported with file and offset, never skipped — except a torn tail
//! of the last segment (a batch whose write a crash interrupted: nothing valid follows
//! it), which was never acknowledged and is cut back on recovery. The last segment may
//! also end in zeros: space written ahead of the data (`engine.rs`, "Preallocation"), so
//! that a commit's `fdatasync` does not also write the file's size.

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::format::{
    FRAME_OVERHEAD, FrameError, Header, MAX_FRAME, Record, SEAL_FRAME, Seal, SealedBatch, decode,
    looks_torn, read_frame, valid_frame_follows,
};
use crate::window::{Bytes, Whole, Window};

const NOT_SEALED: &str =
    "segment is not sealed although later segments exist (truncated, or replaced by an older copy)";

/// A segment file on disk.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    /// Segment number, from 1.
    pub number: u64,
    /// Its path.
    pub path: PathBuf,
}

/// File name of segment `number`.
pub fn file_name(number: u64) -> String {
    format!("{number:016}.seg")
}

/// Lists the segments of a log directory in order, checking that numbering starts at 1
/// and has no gaps (a deleted segment is an error, not a shorter log).
pub fn list(log_dir: &Path, tenant: &str) -> Result<Vec<SegmentFile>> {
    let mut segments = Vec::new();
    let entries = match std::fs::read_dir(log_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(StoreError::io(log_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(StoreError::io(log_dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        let Ok(number) = stem.parse::<u64>() else {
            continue;
        };
        segments.push(SegmentFile {
            number,
            path: entry.path(),
        });
    }
    segments.sort_by_key(|s| s.number);
    for (i, s) in segments.iter().enumerate() {
        if s.number != i as u64 + 1 {
            return Err(StoreError::Broken {
                tenant: tenant.to_string(),
                reason: format!(
                    "segment {} is missing (found {})",
                    i + 1,
                    file_name(s.number)
                ),
            });
        }
    }
    Ok(segments)
}

/// How a scanned segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Ends after a complete batch (the active segment).
    Open,
    /// Ends with a seal.
    Sealed(Seal),
    /// Ends with an incomplete batch at `offset` (only possible in the last segment).
    Torn {
        /// Where the valid prefix ends.
        offset: u64,
    },
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The header.
    pub header: Header,
    /// Log size after the segment's last complete batch.
    pub next_seq: u64,
    /// How it ends.
    pub tail: Tail,
    /// Offset just past the last complete record (before any preallocated zeros).
    pub end: u64,
}

fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Checks a header against what the log expects at this point.
pub fn check_header(
    path: &Path,
    header: &Header,
    number: u64,
    first_seq: u64,
    tenant: &str,
) -> Result<()> {
    if header.number != number || header.tenant != tenant {
        return Err(corrupt(
            path,
            0,
            "segment header names another segment or tenant",
        ));
    }
    if header.first_seq != first_seq {
        return Err(corrupt(
            path,
            0,
            format!(
                "segment starts at seq {} but the log holds {first_seq} events before it",
                header.first_seq
            ),
        ));
    }
    Ok(())
}

/// Scans a whole segment held in `buf`, calling `on_batch(batch, offset)` for each batch.
/// `is_last` permits a torn tail.
pub fn scan(
    path: &Path,
    buf: &[u8],
    is_last: bool,
    on_batch: impl FnMut(SealedBatch, u64) -> Result<()>,
) -> Result<Scanned> {
    scan_bytes(path, &mut Whole(buf), is_last, on_batch)
}

/// [`scan`] reading the file at `path` through a bounded window (`window.rs`) held in
/// `buf`, which the caller may reuse across segments: same results, a few MiB of memory.
pub fn scan_file(
    path: &Path,
    buf: &mut Vec<u8>,
    is_last: bool,
    on_batch: impl FnMut(SealedBatch, u64) -> Result<()>,
) -> Result<Scanned> {
    scan_bytes(path, &mut Window::open(path, buf)?, is_last, on_batch)
}

/// A frame read at some offset: its record (or why the payload does not decode) and the
/// frame's length, or why no frame reads there.
type FrameAt = std::result::Result<(std::result::Result<Record, String>, usize), FrameError>;

/// The record framed at `at` and the frame's length, or why no frame reads there. Exact
/// through a window: it holds the whole frame its length field claims, or all that is left.
fn record_at(src: &mut impl Bytes, at: usize) -> Result<FrameAt> {
    let head = src.get(at, FRAME_OVERHEAD)?;
    let claimed = head
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .filter(|&l| (1..=MAX_FRAME).contains(&l))
        .map_or(0, |l| l as usize);
    let buf = src.get(at, FRAME_OVERHEAD + claimed)?;
    Ok(read_frame(buf).map(|(payload, used)| (decode(payload), used)))
}

fn scan_bytes(
    path: &Path,
    src: &mut impl Bytes,
    is_last: bool,
    mut on_batch: impl FnMut(SealedBatch, u64) -> Result<()>,
) -> Result<Scanned> {
    let len = src.len();
    let (header, mut at) = match record_at(src, 0)? {
        Ok((record, used)) => match record {
            Ok(Record::Header(h)) => (h, used),
            _ => return Err(corrupt(path, 0, "segment does not start with a header")),
        },
        Err(FrameError::Short) if is_last && !valid_frame_follows(src.get(0, len)?) => {
            return Err(corrupt(path, 0, "segment header is incomplete"));
        }
        Err(e) => {
            return Err(corrupt(
                path,
                0,
                format!("segment header: {}", e.describe()),
            ));
        }
    };
    let mut next_seq = header.first_seq;
    let mut tail = Tail::Open;
    while at < len {
        if matches!(tail, Tail::Sealed(_)) {
            return Err(corrupt(path, at, "data after the segment's seal"));
        }
        let (record, used) = match record_at(src, at)? {
            Ok(ok) => ok,
            Err(_) => {
                if src.zeros_from(at)? {
                    if is_last {
                        break;
                    }
                    // An older copy of a segment that was active then.
                    return Err(corrupt(path, at, NOT_SEALED));
                }
                // Judged on one read of the rest: a file read in pieces may have been
                // written in between (the active segment, beside the writer).
                let rest = src.get(at, len - at)?;
                match read_frame(rest) {
                    Ok((payload, used)) => (decode(payload), used),
                    Err(e) => {
                        if is_last && looks_torn(&e, rest, MAX_FRAME) && !valid_frame_follows(rest)
                        {
                            tail = Tail::Torn { offset: at as u64 };
                            break;
                        }
                        return Err(corrupt(path, at, e.describe()));
                    }
                }
            }
        };
        match record {
            Ok(Record::Batch(batch)) => {
                if batch.first_seq != next_seq {
                    return Err(corrupt(
                        path,
                        at,
                        format!(
                            "batch starts at seq {} but seq {next_seq} was expected (a record is missing, duplicated or out of order)",
                            batch.first_seq
                        ),
                    ));
                }
                next_seq += batch.commitments.len() as u64;
                on_batch(batch, at as u64)?;
            }
            Ok(Record::Seal(seal)) => {
                if seal.number != header.number || seal.next_seq != next_seq {
                    return Err(corrupt(
                        path,
                        at,
                        "seal does not match the segment's contents",
                    ));
                }
                tail = Tail::Sealed(seal);
            }
            Ok(Record::Header(_)) => return Err(corrupt(path, at, "second segment header")),
            Err(reason) => return Err(corrupt(path, at, reason)),
        }
        at += used;
    }
    if !is_last && !matches!(tail, Tail::Sealed(_)) {
        return Err(corrupt(path, len, NOT_SEALED));
    }
    let end = match tail {
        Tail::Torn { offset } => offset,
        _ => at as u64,
    };
    Ok(Scanned {
        header,
        next_seq,
        tail,
        end,
    })
}

/// Reads just the header and the seal of a sealed segment (fast open).
pub fn read_sealed_ends(path: &Path) -> Result<(Header, Seal)> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).map_err(StoreError::io(path))?;
    let len = f.metadata().map_err(StoreError::io(path))?.len();
    let mut head = vec![0u8; 4096.min(len as usize)];
    f.read_exact_at(&mut head, 0)
        .map_err(StoreError::io(path))?;
    let header = match read_frame(&head).map(|(p, _)| decode(p)) {
        Ok(Ok(Record::Header(h))) => h,
        _ => {
            return Err(corrupt(
                path,
                0,
                "segment does not start with a valid header",
            ));
        }
    };
    let not_sealed = || corrupt(path, len as usize, NOT_SEALED);
    if len < SEAL_FRAME as u64 {
        return Err(not_sealed());
    }
    let mut tail = vec![0u8; SEAL_FRAME];
    f.read_exact_at(&mut tail, len - SEAL_FRAME as u64)
        .map_err(StoreError::io(path))?;
    match read_frame(&tail).map(|(p, _)| decode(p)) {
        Ok(Ok(Record::Seal(seal))) if seal.number == header.number => Ok((header, seal)),
        _ => Err(not_sealed()),
    }
}

/// Overwrites with zeros the sealed bytes of every block of the sealed segment at `path`
/// whose epoch is in `epochs` (their keys destroyed by retention), recomputing the frame
/// checksums; offsets and lengths do not change. Copy-on-write: the new bytes go to a
/// temporary file that is synced and renamed over the segment, and the directory is
/// synced, so a crash leaves the old or the new segment, never a mix. Returns how many
/// blocks were zeroed (0: the file is left untouched).
pub fn zero_blocks(path: &Path, epochs: &std::collections::BTreeSet<u32>) -> Result<u64> {
    let buf = std::fs::read(path).map_err(StoreError::io(path))?;
    let mut out = buf.clone();
    let mut zeroed = 0u64;
    scan(path, &buf, false, |mut batch, at| {
        let at = at as usize;
        let hit = |b: &crate::format::SealedBlock| {
            epochs.contains(&b.epoch) && b.sealed.iter().any(|&x| x != 0)
        };
        if !batch.blocks.iter().any(hit) {
            return Ok(());
        }
        // The rewrite relies on the encoding being the one the frame was written with.
        let original = crate::format::batch_frame(&batch);
        if buf.get(at..at + original.len()) != Some(original.as_slice()) {
            return Err(corrupt(
                path,
                at,
                "batch does not re-encode to its own bytes",
            ));
        }
        for b in &mut batch.blocks {
            if hit(b) {
                b.sealed.fill(0);
                zeroed += 1;
            }
        }
        let framed = crate::format::batch_frame(&batch);
        out[at..at + framed.len()].copy_from_slice(&framed);
        Ok(())
    })?;
    if zeroed == 0 {
        return Ok(0);
    }
    let tmp = path.with_extension("shred-tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(StoreError::io(path))?;
    Ok(zeroed)
}
