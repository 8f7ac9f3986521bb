//! Byte layout of index keys and values (docs/design/indexes.md).
//!
//! Every key starts with the tenant's number (`u32be`), so one tenant's entries form one
//! contiguous range and a range scan never crosses tenants. Times and seqs are big-endian
//! so byte order is (time, seq) order.

use jiff::Timestamp;

/// Bytes of a tenant number.
pub const TNO: usize = 4;
/// Bytes of an encoded time.
pub const TIME: usize = 12;
/// Bytes of a truncated blind-index token. Collisions only cost an extra check: every hit
/// is compared with the decrypted event.
pub const TOKEN: usize = 8;
/// Bytes of the client-id token: long enough that two ids of one tenant never share one
/// (2^-128 per pair), so the id index is a point lookup (`tno ‖ token → seq`).
pub const ID_TOKEN: usize = 16;
/// Bytes of the `time ‖ seq` suffix of an ordered entry.
pub const POS: usize = TIME + 8;

/// `(time, seq)` — the order of search results.
pub type Pos = (Timestamp, u64);

/// Encodes a time so that byte order is time order: floor seconds since the Unix epoch
/// with the sign bit flipped (`u64be`), then nanoseconds in the second (`u32be`).
pub fn time(t: Timestamp) -> [u8; TIME] {
    let ns = t.as_nanosecond();
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let sub = ns.rem_euclid(1_000_000_000) as u32;
    let mut out = [0u8; TIME];
    out[..8].copy_from_slice(&((secs as u64) ^ (1 << 63)).to_be_bytes());
    out[8..].copy_from_slice(&sub.to_be_bytes());
    out
}

/// Decodes [`time`].
pub fn parse_time(b: &[u8]) -> Option<Timestamp> {
    let secs = (u64::from_be_bytes(b.get(..8)?.try_into().ok()?) ^ (1 << 63)) as i64;
    let sub = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
    if sub >= 1_000_000_000 {
        return None; // not one of ours: `time` never writes it, and it would alias another
    }
    Timestamp::from_nanosecond(i128::from(secs) * 1_000_000_000 + i128::from(sub)).ok()
}

/// `time ‖ seq`: the ordered suffix of time, patient and actor entries.
pub fn pos(p: Pos) -> [u8; POS] {
    let mut out = [0u8; POS];
    out[..TIME].copy_from_slice(&time(p.0));
    out[TIME..].copy_from_slice(&p.1.to_be_bytes());
    out
}

/// Decodes the `time ‖ seq` suffix of an ordered entry.
pub fn parse_pos(key: &[u8]) -> Option<Pos> {
    let at = key.len().checked_sub(POS)?;
    let t = parse_time(&key[at..at + TIME])?;
    let seq = u64::from_be_bytes(key[at + TIME..].try_into().ok()?);
    Some((t, seq))
}

/// Concatenates key parts.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// The key of a client id's entry: `tno ‖ first ID_TOKEN bytes of the token`.
pub fn id_key(tno: u32, token: &[u8; 32]) -> Vec<u8> {
    cat(&[&tno.to_be_bytes(), &token[..ID_TOKEN]])
}

/// Bytes of `tno ‖ token`: how a patient or actor is named in its index.
pub const IDENT: usize = TNO + TOKEN;

/// `tno ‖ token truncated to TOKEN bytes`: the key prefix of an identifier's lists.
pub fn ident(tno: u32, token: &[u8; 32]) -> [u8; IDENT] {
    let mut out = [0u8; IDENT];
    out[..TNO].copy_from_slice(&tno.to_be_bytes());
    out[TNO..].copy_from_slice(&token[..TOKEN]);
    out
}

/// Where a run of consecutive seqs lives: one body block and the position of the run's
/// first event in it (value of a `blocks` entry keyed `tno ‖ start_seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Key epoch of the block.
    pub epoch: u32,
    /// First seq of the block's batch.
    pub batch_first: u64,
    /// Index of the block in its batch.
    pub index: u16,
    /// Position of the run's first event among the block's events.
    pub pos: u32,
    /// Offset of the block's sealed bytes in `file`.
    pub offset: u64,
    /// Length of the block's sealed bytes.
    pub len: u32,
    /// Segment file (as the store names it).
    pub file: String,
}

impl Run {
    /// `epoch u32 ‖ batch_first u64 ‖ index u16 ‖ pos u32 ‖ offset u64 ‖ len u32 ‖ file`.
    pub fn encode(&self) -> Vec<u8> {
        cat(&[
            &self.epoch.to_be_bytes(),
            &self.batch_first.to_be_bytes(),
            &self.index.to_be_bytes(),
            &self.pos.to_be_bytes(),
            &self.offset.to_be_bytes(),
            &self.len.to_be_bytes(),
            self.file.as_bytes(),
        ])
    }

    /// Decodes [`Run::encode`].
    pub fn decode(v: &[u8]) -> Option<Run> {
        let u32_at = |i: usize| Some(u32::from_be_bytes(v.get(i..i + 4)?.try_into().ok()?));
        let u64_at = |i: usize| Some(u64::from_be_bytes(v.get(i..i + 8)?.try_into().ok()?));
        Some(Run {
            epoch: u32_at(0)?,
            batch_first: u64_at(4)?,
            index: u16::from_be_bytes(v.get(12..14)?.try_into().ok()?),
            pos: u32_at(14)?,
            offset: u64_at(18)?,
            len: u32_at(26)?,
            file: String::from_utf8(v.get(30..)?.to_vec()).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sub_second_field_past_a_second_is_refused_not_aliased() {
        let mut b = time(Timestamp::from_second(5).unwrap());
        assert_eq!(parse_time(&b), Timestamp::from_second(5).ok());
        b[8..].copy_from_slice(&1_500_000_000u32.to_be_bytes());
        assert_eq!(parse_time(&b), None);
    }

    #[test]
    fn time_bytes_sort_like_times() {
        let ts: Vec<Timestamp> = [
            "0000-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00.000000001Z",
            "2026-03-04T15:02:11.123Z",
            "9999-12-30T22:00:00.999999999Z",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for w in ts.windows(2) {
            assert!(time(w[0]) < time(w[1]));
        }
        for t in ts {
            assert_eq!(parse_time(&time(t)), Some(t));
            assert_eq!(parse_pos(&pos((t, 7))), Some((t, 7)));
        }
    }

    #[test]
    fn runs_round_trip() {
        let r = Run {
            epoch: 202603,
            batch_first: 9,
            index: 2,
            pos: 40,
            offset: 1 << 33,
            len: 30_000,
            file: "seg-000001".into(),
        };
        assert_eq!(Run::decode(&r.encode()), Some(r));
        assert_eq!(Run::decode(&[1, 2, 3]), None);
    }
}
