//! Where a segment scan reads its bytes: a whole segment already in memory, or a file read
//! through a bounded window. The integrity verification (`recall verify` and the server's
//! scheduled run) and the index's catch-up scan files this way, so their memory is a few
//! MiB (or one frame, if larger) instead of a whole segment (64 MiB by default).
//!
//! Invariants: [`Bytes::get`] returns at least the bytes asked for unless the segment ends
//! first, so a frame read through the window is judged exactly as if the whole segment
//! were in memory. Only a damaged or torn record asks for the rest of the segment (to
//! tell the two apart), as the whole-segment scan always did.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Result, StoreError};

/// Bytes read from a file at a time; also the most the window keeps between frames.
pub const WINDOW_BYTES: usize = 4 << 20;

/// A segment's bytes, by offset.
pub(crate) trait Bytes {
    /// The segment's length.
    fn len(&self) -> usize;
    /// The bytes from `at` on: at least `want` of them, unless the segment ends first.
    fn get(&mut self, at: usize, want: usize) -> Result<&[u8]>;
    /// Whether every byte from `at` to the end is zero (space written ahead of the data).
    fn zeros_from(&mut self, at: usize) -> Result<bool>;
}

/// A segment held whole in memory.
pub(crate) struct Whole<'a>(pub &'a [u8]);

impl Bytes for Whole<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&mut self, at: usize, _want: usize) -> Result<&[u8]> {
        Ok(self.0.get(at..).unwrap_or_default())
    }

    fn zeros_from(&mut self, at: usize) -> Result<bool> {
        Ok(self.0.get(at..).unwrap_or_default().iter().all(|&b| b == 0))
    }
}

/// A segment file read through a window of [`WINDOW_BYTES`] (more only for a larger frame).
pub(crate) struct Window<'a> {
    file: File,
    path: &'a Path,
    len: usize,
    /// File offset of `buf[0]`.
    base: usize,
    buf: &'a mut Vec<u8>,
}

impl<'a> Window<'a> {
    /// Opens `path`; `buf` is the caller's, reused across segments (a fresh buffer each
    /// time costs page faults).
    pub fn open(path: &'a Path, buf: &'a mut Vec<u8>) -> Result<Self> {
        let file = File::open(path).map_err(StoreError::io(path))?;
        let len = file.metadata().map_err(StoreError::io(path))?.len();
        buf.clear();
        Ok(Window {
            file,
            path,
            len: usize::try_from(len).unwrap_or(usize::MAX),
            base: 0,
            buf,
        })
    }
}

impl Bytes for Window<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&mut self, at: usize, want: usize) -> Result<&[u8]> {
        let left = self.len.saturating_sub(at);
        let want = want.min(left);
        let held = at >= self.base && at + want <= self.base + self.buf.len();
        if !held {
            let n = want.max(WINDOW_BYTES).min(left);
            self.buf.clear();
            if n <= WINDOW_BYTES && self.buf.capacity() > WINDOW_BYTES {
                // A large frame's buffer is not kept for the small ones after it.
                self.buf.shrink_to(WINDOW_BYTES);
            }
            self.buf.resize(n, 0);
            self.file
                .read_exact_at(self.buf, at as u64)
                .map_err(StoreError::io(self.path))?;
            self.base = at;
        }
        Ok(&self.buf[at - self.base..])
    }

    fn zeros_from(&mut self, mut at: usize) -> Result<bool> {
        while at < self.len {
            let chunk = self.get(at, WINDOW_BYTES)?;
            let n = chunk.len().min(WINDOW_BYTES);
            if chunk[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The window returns the same bytes as the whole file at every offset and size, and
    /// keeps no more than one window (or one larger read) in memory.
    #[test]
    fn window_reads_what_the_file_holds_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let data: Vec<u8> = (0..3 * WINDOW_BYTES + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let mut buf = Vec::new();
        let mut w = Window::open(&path, &mut buf).unwrap();
        for (at, want) in [
            (0, 8),
            (5, WINDOW_BYTES + 3),
            (WINDOW_BYTES * 3, 100),
            (7, 2),
        ] {
            let got = w.get(at, want).unwrap();
            let expect = &data[at..(at + want).min(data.len())];
            assert_eq!(&got[..expect.len()], expect, "at {at} want {want}");
        }
        assert!(w.get(data.len() + 5, 10).unwrap().is_empty());
        assert!(!w.zeros_from(0).unwrap());
        w.get(0, 8).unwrap();
        assert!(w.buf.capacity() <= WINDOW_BYTES + WINDOW_BYTES / 2);
        let zeros = dir.path().join("zeros");
        let mut z = vec![0u8; 2 * WINDOW_BYTES + 5];
        z[3] = 1;
        std::fs::write(&zeros, &z).unwrap();
        let mut buf = Vec::new();
        let mut w = Window::open(&zeros, &mut buf).unwrap();
        assert!(!w.zeros_from(0).unwrap());
        assert!(w.zeros_from(4).unwrap());
    }
}

/// The windowed scan finds what the whole-segment scan finds, on intact, torn, damaged and
/// zero-padded segments, with batches larger than the window.
#[cfg(test)]
mod scan_tests {
    #![allow(clippy::unwrap_used)]
    use crate::format::{Header, SealedBatch, SealedBlock, batch_frame, frame};
    use crate::segment::{scan, scan_file};

    fn segment() -> Vec<u8> {
        let header = Header {
            number: 1,
            first_seq: 0,
            tenant: "t".into(),
        };
        let mut out = frame(&header.encode());
        let mut seq = 0u64;
        // Small batches, then one larger than the window, then small again.
        for size in [100, 3000, super::WINDOW_BYTES + 4321, 50, 7000] {
            let batch = SealedBatch {
                first_seq: seq,
                commitments: vec![[seq as u8; 32]; 2],
                blocks: vec![SealedBlock {
                    epoch: 202601,
                    indices: None,
                    sealed: (0..size).map(|i| (i % 253) as u8).collect(),
                }],
            };
            out.extend_from_slice(&batch_frame(&batch));
            seq += 2;
        }
        out
    }

    fn both(bytes: &[u8], is_last: bool) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0000000000000001.seg");
        std::fs::write(&path, bytes).unwrap();
        let run = |whole: bool| {
            let mut seen = Vec::new();
            let on = |b: SealedBatch, at: u64| {
                seen.push((b.first_seq, at, b.blocks[0].sealed.len()));
                Ok(())
            };
            let mut buf = Vec::new();
            let r = if whole {
                scan(&path, bytes, is_last, on)
            } else {
                scan_file(&path, &mut buf, is_last, on)
            };
            let r = r.map(|s| (s.next_seq, s.tail, s.end));
            format!("{r:?} {seen:?}").replace(&*dir.path().to_string_lossy(), "")
        };
        (run(true), run(false))
    }

    #[test]
    fn windowed_scan_matches_the_whole_segment_scan() {
        let seg = segment();
        let mut cases = vec![(seg.clone(), true), (seg.clone(), false)];
        let mut padded = seg.clone();
        padded.resize(seg.len() + 3 * super::WINDOW_BYTES, 0);
        cases.push((padded.clone(), true));
        cases.push((padded, false));
        for cut in [
            5,
            200,
            seg.len() - 10,
            seg.len() - 7100,
            super::WINDOW_BYTES + 100,
        ] {
            let mut torn = seg[..cut].to_vec();
            cases.push((torn.clone(), true));
            torn.resize(cut + super::WINDOW_BYTES, 0);
            cases.push((torn, true));
        }
        for at in [20, 3300, super::WINDOW_BYTES, seg.len() - 3] {
            let mut bad = seg.clone();
            bad[at] ^= 0x40;
            cases.push((bad.clone(), true));
            cases.push((bad, false));
        }
        for (i, (bytes, is_last)) in cases.iter().enumerate() {
            let (whole, windowed) = both(bytes, *is_last);
            assert_eq!(whole, windowed, "case {i}");
        }
    }
}
