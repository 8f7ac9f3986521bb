//! Reading segment files frame by frame, for tests that damage a log on disk the way
//! an attacker who knows the format would (see tamper_detection.rs).

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use recall_store::format::{Record, SealedBatch, decode, frame, read_frame};

/// One frame of a segment or checkpoint file.
pub struct Frame {
    /// Where it starts in the file.
    pub offset: usize,
    /// Its length, header included.
    pub len: usize,
}

/// Splits a file made of frames (a segment, the checkpoint log) into its frames.
pub fn split_frames(buf: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    // The active segment ends in preallocated zeros.
    while at < buf.len() && buf[at..].iter().any(|&b| b != 0) {
        let (_, used) = read_frame(&buf[at..]).unwrap();
        out.push(Frame {
            offset: at,
            len: used,
        });
        at += used;
    }
    out
}

/// The batch frames of a segment with their decoded batches.
pub fn batch_frames(buf: &[u8]) -> Vec<(Frame, SealedBatch)> {
    split_frames(buf)
        .into_iter()
        .filter_map(|f| {
            let (payload, _) = read_frame(&buf[f.offset..]).unwrap();
            match decode(payload).unwrap() {
                Record::Batch(b) => Some((f, b)),
                _ => None,
            }
        })
        .collect()
}

/// Byte offset, inside a batch payload, of block `k`'s sealed bytes (per the layout in
/// recall_store::format::encode_batch).
pub fn sealed_offset(batch: &SealedBatch, k: usize) -> usize {
    let mut at = 1 + 8 + 4 + 32 * batch.commitments.len() + 2;
    for (i, block) in batch.blocks.iter().enumerate() {
        at += 4 + 1;
        if let Some(ix) = &block.indices {
            at += 4 + 4 * ix.len();
        }
        at += 4;
        if i == k {
            return at;
        }
        at += block.sealed.len();
    }
    panic!("batch has no block {k}");
}

/// Batch frame `fr` of `buf` with one byte in the middle of block 0's sealed bytes
/// flipped and the frame checksum recomputed (as an attacker who knows the format would):
/// the frame still reads, the block no longer opens.
pub fn with_body_byte_flipped(buf: &[u8], fr: &Frame, batch: &SealedBatch) -> Vec<u8> {
    let k = sealed_offset(batch, 0);
    let sealed = batch.blocks[0].sealed.len();
    let mut payload = buf[fr.offset + 8..fr.offset + fr.len].to_vec();
    assert_eq!(
        &payload[k..k + sealed],
        batch.blocks[0].sealed.as_slice(),
        "block offset computed from the documented layout"
    );
    payload[k + sealed / 2] ^= 0x01;
    let reframed = frame(&payload);
    assert_eq!(reframed.len(), fr.len);
    reframed
}

/// The active segment of `tenant` and, for its last batch frame, the original bytes and the
/// tampered ones.
pub fn tamper_plan(data: &Path, tenant: &str) -> (PathBuf, usize, Vec<u8>, Vec<u8>) {
    let log = data.join("tenants").join(tenant).join("log");
    let mut segs: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    let seg = segs.pop().unwrap();
    let buf = std::fs::read(&seg).unwrap();
    let (fr, batch) = batch_frames(&buf).pop().unwrap();
    let original = buf[fr.offset..fr.offset + fr.len].to_vec();
    let tampered = with_body_byte_flipped(&buf, &fr, &batch);
    (seg, fr.offset, original, tampered)
}

/// Writes `bytes` at `offset` in place (the server keeps the segment open).
pub fn write_at(path: &Path, offset: usize, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset as u64)).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}
