//! Byte layout of segment files (docs/design/storage-format.md is the reference).
//!
//! A segment is a sequence of frames `len u32le ‖ crc u32le ‖ payload[len]`, where
//! `crc = CRC32C(len u32le ‖ payload)`. The payload's first byte is its kind.

use recall_ledger::{Frontier, Hash};

/// Frame kind: segment header, first frame of every segment.
pub const KIND_HEADER: u8 = 1;
/// Frame kind: one committed batch.
pub const KIND_BATCH: u8 = 2;
/// Frame kind: seal, last frame of a full segment.
pub const KIND_SEAL: u8 = 3;
/// Segment format version written in the header.
pub const FORMAT_VERSION: u8 = 1;
/// Frame header bytes (len + crc).
pub const FRAME_OVERHEAD: usize = 8;
/// Largest frame payload accepted when reading (a batch of 1M events fits easily).
pub const MAX_FRAME: u32 = 1 << 30;
/// Frontier hashes a seal reserves room for (one per bit of a u64 size).
const SEAL_HASHES: usize = 64;
/// Seal payload length: kind, number, next_seq, hash count, 64 hash slots.
pub const SEAL_PAYLOAD: usize = 1 + 8 + 8 + 1 + SEAL_HASHES * 32;
/// Seal frame length on disk; fixed so a reader finds it at `file_len - SEAL_FRAME`.
pub const SEAL_FRAME: usize = FRAME_OVERHEAD + SEAL_PAYLOAD;

/// One sealed (encrypted) body block of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlock {
    /// Key epoch (`yyyymm`) whose data key sealed it.
    pub epoch: u32,
    /// Positions within the batch of the events it holds, in order; `None` means all.
    pub indices: Option<Vec<u32>>,
    /// `nonce ‖ ciphertext ‖ tag` of the zstd-compressed bodies.
    pub sealed: Vec<u8>,
}

/// A batch as persisted: commitments (the log entries) and the encrypted bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    /// Seq of the first event.
    pub first_seq: u64,
    /// One commitment per event, in seq order.
    pub commitments: Vec<Hash>,
    /// Body blocks; together they hold every event of the batch exactly once.
    pub blocks: Vec<SealedBlock>,
}

/// The segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Segment number, from 1.
    pub number: u64,
    /// Seq of the first event the segment may hold.
    pub first_seq: u64,
    /// Tenant whose log this is.
    pub tenant: String,
}

/// The seal: how a full segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// Segment number.
    pub number: u64,
    /// Log size at the end of the segment.
    pub next_seq: u64,
    /// Perfect-subtree roots of the tree at `next_seq`, largest first.
    pub frontier: Vec<Hash>,
}

/// A decoded frame payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Segment header.
    Header(Header),
    /// A batch.
    Batch(SealedBatch),
    /// A seal.
    Seal(Seal),
}

/// Wraps a payload in a frame.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + FRAME_OVERHEAD);
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Why a frame could not be read at some offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes remain than a frame needs (a torn write, if at the end).
    Short,
    /// The checksum does not match.
    Checksum,
    /// The length field is zero or absurd.
    Length,
}

impl FrameError {
    /// Text for error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Short => "incomplete frame",
            Self::Checksum => "checksum mismatch",
            Self::Length => "invalid frame length",
        }
    }
}

/// Reads the frame at the start of `buf`: `(payload, total frame length)`.
pub fn read_frame(buf: &[u8]) -> Result<(&[u8], usize), FrameError> {
    if buf.len() < FRAME_OVERHEAD {
        return Err(FrameError::Short);
    }
    let len_bytes: [u8; 4] = buf[0..4].try_into().map_err(|_| FrameError::Short)?;
    let len = u32::from_le_bytes(len_bytes);
    if len == 0 || len > MAX_FRAME {
        return Err(FrameError::Length);
    }
    let end = FRAME_OVERHEAD + len as usize;
    if buf.len() < end {
        return Err(FrameError::Short);
    }
    let stored = u32::from_le_bytes(buf[4..8].try_into().map_err(|_| FrameError::Short)?);
    let payload = &buf[FRAME_OVERHEAD..end];
    if crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload) != stored {
        return Err(FrameError::Checksum);
    }
    Ok((payload, end))
}

/// Whether a frame that failed to read looks like an append a crash interrupted, rather
/// than damage: the file ends inside a frame of plausible length (at most `max_len`), or
/// the frame ends in zero bytes (a file extended by the crash but never written). A
/// complete frame with a wrong checksum and real bytes is damage. Callers also require
/// that no valid frame follows.
pub fn looks_torn(err: &FrameError, rest: &[u8], max_len: u32) -> bool {
    let len = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes);
    match err {
        FrameError::Short => len.is_none_or(|l| l <= max_len),
        FrameError::Length => len == Some(0),
        FrameError::Checksum => {
            let end = FRAME_OVERHEAD + len.unwrap_or(0) as usize;
            end >= 16
                && rest
                    .get(end - 8..end)
                    .is_some_and(|t| t.iter().all(|&b| b == 0))
        }
    }
}

/// True when a checksummed frame starts anywhere in `buf` after position 0: used to tell
/// a torn tail (nothing valid follows) from damage in the middle (something does).
pub fn valid_frame_follows(buf: &[u8]) -> bool {
    (1..buf.len()).any(|at| read_frame(&buf[at..]).is_ok())
}

impl Header {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![KIND_HEADER, FORMAT_VERSION];
        out.extend_from_slice(&self.number.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.push(self.tenant.len() as u8);
        out.extend_from_slice(self.tenant.as_bytes());
        out
    }
}

impl Seal {
    /// Builds the seal of segment `number` from the tree state at its end.
    pub fn new(number: u64, frontier: &Frontier) -> Self {
        Self {
            number,
            next_seq: frontier.size(),
            frontier: frontier.stack().to_vec(),
        }
    }

    /// Encodes the fixed-size payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEAL_PAYLOAD);
        out.push(KIND_SEAL);
        out.extend_from_slice(&self.number.to_le_bytes());
        out.extend_from_slice(&self.next_seq.to_le_bytes());
        out.push(self.frontier.len() as u8);
        for h in &self.frontier {
            out.extend_from_slice(h);
        }
        out.resize(SEAL_PAYLOAD, 0);
        out
    }
}

/// Encodes a batch payload.
pub fn encode_batch(batch: &SealedBatch) -> Vec<u8> {
    let mut out = Vec::new();
    encode_batch_into(batch, &mut out);
    out
}

/// A batch as a whole frame, encoded in place (no second copy of the payload).
pub fn batch_frame(batch: &SealedBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_OVERHEAD + encoded_len_hint(batch));
    out.extend_from_slice(&[0; FRAME_OVERHEAD]);
    encode_batch_into(batch, &mut out);
    let len = u32::try_from(out.len() - FRAME_OVERHEAD)
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), &out[FRAME_OVERHEAD..]);
    out[0..4].copy_from_slice(&len);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

fn encoded_len_hint(batch: &SealedBatch) -> usize {
    let body: usize = batch.blocks.iter().map(|b| b.sealed.len() + 16).sum();
    16 + batch.commitments.len() * 32 + body
}

/// Appends a batch payload to `out`.
pub fn encode_batch_into(batch: &SealedBatch, out: &mut Vec<u8>) {
    out.reserve(encoded_len_hint(batch));
    out.push(KIND_BATCH);
    out.extend_from_slice(&batch.first_seq.to_le_bytes());
    out.extend_from_slice(&(batch.commitments.len() as u32).to_le_bytes());
    for c in &batch.commitments {
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&(batch.blocks.len() as u16).to_le_bytes());
    for block in &batch.blocks {
        out.extend_from_slice(&block.epoch.to_le_bytes());
        match &block.indices {
            None => out.push(0),
            Some(ix) => {
                out.push(1);
                out.extend_from_slice(&(ix.len() as u32).to_le_bytes());
                for i in ix {
                    out.extend_from_slice(&i.to_le_bytes());
                }
            }
        }
        out.extend_from_slice(&(block.sealed.len() as u32).to_le_bytes());
        out.extend_from_slice(&block.sealed);
    }
}

/// Where each block's sealed bytes lie, as `(offset from the frame's start, length)`, in
/// block order: the same arithmetic as [`encode_batch_into`], so a reader can fetch one
/// block without reading its whole batch.
pub fn block_spans(batch: &SealedBatch) -> Vec<(u64, u32)> {
    let mut at = FRAME_OVERHEAD + 1 + 8 + 4 + batch.commitments.len() * 32 + 2;
    let mut out = Vec::with_capacity(batch.blocks.len());
    for block in &batch.blocks {
        at += 4 + 1 + block.indices.as_ref().map_or(0, |ix| 4 + ix.len() * 4) + 4;
        out.push((at as u64, block.sealed.len() as u32));
        at += block.sealed.len();
    }
    out
}

/// A cursor over a payload that fails cleanly on short input.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().map_err(|_| "short")?,
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "short")?,
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| "short")?,
        ))
    }
    fn hash(&mut self) -> Result<Hash, String> {
        self.take(32)?.try_into().map_err(|_| "short".to_string())
    }
}

/// Decodes a frame payload. Errors describe the structural problem.
pub fn decode(payload: &[u8]) -> Result<Record, String> {
    let mut c = Cursor(payload);
    let record = match c.u8()? {
        KIND_HEADER => {
            let version = c.u8()?;
            if version != FORMAT_VERSION {
                return Err(format!("unsupported segment format version {version}"));
            }
            let number = c.u64()?;
            let first_seq = c.u64()?;
            let len = c.u8()? as usize;
            let tenant = std::str::from_utf8(c.take(len)?)
                .map_err(|_| "tenant name is not UTF-8")?
                .to_string();
            Record::Header(Header {
                number,
                first_seq,
                tenant,
            })
        }
        KIND_BATCH => Record::Batch(decode_batch(&mut c)?),
        KIND_SEAL => {
            let number = c.u64()?;
            let next_seq = c.u64()?;
            let n = c.u8()? as usize;
            if n > SEAL_HASHES {
                return Err("seal holds too many hashes".into());
            }
            let frontier = (0..n).map(|_| c.hash()).collect::<Result<_, _>>()?;
            c.take(32 * (SEAL_HASHES - n))?;
            Record::Seal(Seal {
                number,
                next_seq,
                frontier,
            })
        }
        other => return Err(format!("unknown record kind {other}")),
    };
    if !c.0.is_empty() {
        return Err("trailing bytes after record".into());
    }
    Ok(record)
}

fn decode_batch(c: &mut Cursor<'_>) -> Result<SealedBatch, String> {
    let first_seq = c.u64()?;
    let count = c.u32()? as usize;
    if count == 0 || count > c.0.len() / 32 {
        return Err("invalid event count".into());
    }
    let commitments = (0..count)
        .map(|_| c.hash())
        .collect::<Result<Vec<_>, _>>()?;
    let n_blocks = c.u16()?;
    let mut blocks = Vec::with_capacity(n_blocks as usize);
    for _ in 0..n_blocks {
        let epoch = c.u32()?;
        let indices = match c.u8()? {
            0 => None,
            1 => {
                let n = c.u32()? as usize;
                if n > count {
                    return Err("block lists more events than the batch has".into());
                }
                Some((0..n).map(|_| c.u32()).collect::<Result<Vec<_>, _>>()?)
            }
            _ => return Err("invalid block index flag".into()),
        };
        let len = c.u32()? as usize;
        let sealed = c.take(len)?.to_vec();
        blocks.push(SealedBlock {
            epoch,
            indices,
            sealed,
        });
    }
    Ok(SealedBatch {
        first_seq,
        commitments,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> SealedBatch {
        SealedBatch {
            first_seq: 7,
            commitments: vec![[1; 32], [2; 32], [3; 32]],
            blocks: vec![
                SealedBlock {
                    epoch: 202603,
                    indices: Some(vec![0, 2]),
                    sealed: vec![9; 40],
                },
                SealedBlock {
                    epoch: 202604,
                    indices: Some(vec![1]),
                    sealed: vec![8; 30],
                },
            ],
        }
    }

    #[test]
    fn batch_round_trips_through_a_frame() {
        let f = frame(&encode_batch(&batch()));
        let (payload, used) = read_frame(&f).unwrap();
        assert_eq!(used, f.len());
        assert_eq!(decode(payload).unwrap(), Record::Batch(batch()));
    }

    #[test]
    fn a_damaged_complete_frame_is_not_taken_for_a_torn_write() {
        let f = frame(&encode_batch(&batch()));
        let mut damaged = f.clone();
        damaged[20] ^= 4;
        let err = read_frame(&damaged).unwrap_err();
        assert!(!looks_torn(&err, &damaged, MAX_FRAME));
        // Cut short: torn.
        let err = read_frame(&f[..f.len() - 10]).unwrap_err();
        assert!(looks_torn(&err, &f[..f.len() - 10], MAX_FRAME));
        // Extended by a crash but never written: the tail is zeros.
        let mut zeroed = f.clone();
        let n = zeroed.len();
        zeroed[n - 40..].fill(0);
        let err = read_frame(&zeroed).unwrap_err();
        assert!(looks_torn(&err, &zeroed, MAX_FRAME));
        assert!(looks_torn(&FrameError::Length, &[0; 12], MAX_FRAME));
        // A claimed length beyond what a writer produces is damage.
        assert!(!looks_torn(&FrameError::Short, &f[..f.len() - 10], 16));
    }

    #[test]
    fn batch_frame_equals_frame_of_the_payload() {
        assert_eq!(batch_frame(&batch()), frame(&encode_batch(&batch())));
    }

    #[test]
    fn every_flipped_byte_is_caught_by_the_checksum() {
        let f = frame(&encode_batch(&batch()));
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0x20;
            assert!(read_frame(&g).is_err(), "flip at {i} went unnoticed");
        }
    }

    #[test]
    fn seal_frame_has_its_fixed_size() {
        let mut fr = Frontier::new();
        for i in 0..13u8 {
            fr.push([i; 32], |_, _, _| {});
        }
        let seal = Seal::new(4, &fr);
        let f = frame(&seal.encode());
        assert_eq!(f.len(), SEAL_FRAME);
        assert_eq!(
            decode(read_frame(&f).unwrap().0).unwrap(),
            Record::Seal(seal)
        );
    }

    #[test]
    fn torn_frames_are_short_and_later_frames_are_found() {
        let f = frame(&encode_batch(&batch()));
        assert_eq!(read_frame(&f[..f.len() - 1]), Err(FrameError::Short));
        let mut two = vec![0xAB; 5];
        two.extend_from_slice(&f);
        assert!(valid_frame_follows(&two));
        assert!(!valid_frame_follows(&f[..f.len() - 3]));
    }
}

#[cfg(test)]
mod block_span_tests {
    use super::*;

    #[test]
    fn spans_point_at_each_blocks_sealed_bytes() {
        let batch = SealedBatch {
            first_seq: 7,
            commitments: vec![[1; 32]; 3],
            blocks: vec![
                SealedBlock {
                    epoch: 202601,
                    indices: Some(vec![0, 2]),
                    sealed: vec![0xaa; 40],
                },
                SealedBlock {
                    epoch: 202602,
                    indices: Some(vec![1]),
                    sealed: vec![0xbb; 9],
                },
            ],
        };
        let frame = batch_frame(&batch);
        let spans = block_spans(&batch);
        assert_eq!(spans.len(), 2);
        for ((at, len), block) in spans.iter().zip(&batch.blocks) {
            assert_eq!(
                &frame[*at as usize..*at as usize + *len as usize],
                &block.sealed[..]
            );
        }
    }
}
