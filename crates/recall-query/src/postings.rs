//! Posting lists of the patient and actor indexes.
//!
//! Why lists instead of an entry per event: an index write used to insert one memtable
//! entry per event and identifier, at a random place of a large skiplist, and that was
//! the largest cost of ingest. A session is many events of one actor on one chart, so a
//! batch holds ~7× fewer (identifier, hour) pairs than events; one entry per pair is
//! written instead, holding the positions of that batch's events.
//!
//! Key: `tno ‖ token ‖ hour ‖ first seq` (hour: whole hours since the Unix epoch, `i32`
//! with the sign bit flipped, big-endian; first seq: the smallest seq in the list, which
//! makes the key unique). Value: the list's positions in seq order, each as
//! `varint(seq − previous seq) ‖ varint(nanoseconds since the hour began)`, the first
//! seq's delta taken from the key's.
//!
//! Reading: the lists of one hour are gathered, sorted in the walking order and
//! filtered, so results keep their exact (time, seq) order across lists written by
//! different batches (late arrivals included).

use std::collections::HashMap;

use fjall::Slice;
use jiff::Timestamp;

use crate::error::QueryError;
use crate::keys::{self, Pos};
use crate::search::Order;

/// Bytes of `tno ‖ token`: the part of a key that names the identifier.
pub const PREFIX: usize = keys::TNO + keys::TOKEN;
/// Bytes of an hour.
const HOUR: usize = 4;
/// Nanoseconds in an hour.
const HOUR_NS: i128 = 3_600 * 1_000_000_000;

/// The hour holding `ns` (nanoseconds since the Unix epoch).
fn hour_of(ns: i128) -> i32 {
    // Timestamps span years -9999..=9999: about ±8.8e7 hours, well inside i32.
    ns.div_euclid(HOUR_NS) as i32
}

fn hour_bytes(hour: i32) -> [u8; HOUR] {
    ((hour as u32) ^ (1 << 31)).to_be_bytes()
}

fn parse_hour(b: &[u8]) -> Option<i32> {
    Some((u32::from_be_bytes(b.try_into().ok()?) ^ (1 << 31)) as i32)
}

/// The positions of one write, grouped into lists by identifier and hour.
#[derive(Default)]
pub(crate) struct Lists {
    by_key: HashMap<([u8; PREFIX], i32), Vec<Pos>>,
}

impl Lists {
    /// Adds the position of an event carrying the identifier `prefix` names.
    pub fn add(&mut self, prefix: [u8; PREFIX], pos: Pos) {
        let hour = hour_of(pos.0.as_nanosecond());
        self.by_key.entry((prefix, hour)).or_default().push(pos);
    }

    /// The entries to write, in key order.
    pub fn into_entries(self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = self
            .by_key
            .into_iter()
            .map(|((prefix, hour), mut list)| {
                list.sort_unstable_by_key(|p| p.1);
                encode(&prefix, hour, &list)
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// One list's entry; `list` is sorted by seq, not empty, and within `hour`.
fn encode(prefix: &[u8; PREFIX], hour: i32, list: &[Pos]) -> (Vec<u8>, Vec<u8>) {
    let first = list[0].1;
    let key = keys::cat(&[prefix, &hour_bytes(hour), &first.to_be_bytes()]);
    let start = i128::from(hour) * HOUR_NS;
    let mut value = Vec::with_capacity(list.len() * 7);
    let mut prev = first;
    for &(time, seq) in list {
        put_varint(&mut value, seq - prev);
        put_varint(&mut value, (time.as_nanosecond() - start) as u64);
        prev = seq;
    }
    (key, value)
}

/// Appends the positions of one entry to `out`.
fn decode(key: &[u8], value: &[u8], out: &mut Vec<Pos>) -> Option<()> {
    let hour = parse_hour(key.get(PREFIX..PREFIX + HOUR)?)?;
    let mut seq = u64::from_be_bytes(key.get(PREFIX + HOUR..)?.try_into().ok()?);
    let start = i128::from(hour) * HOUR_NS;
    let mut rest = value;
    while !rest.is_empty() {
        seq = seq.checked_add(take_varint(&mut rest)?)?;
        let offset = i128::from(take_varint(&mut rest)?);
        if offset >= HOUR_NS {
            return None;
        }
        out.push((Timestamp::from_nanosecond(start + offset).ok()?, seq));
    }
    Some(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Which positions a walk over lists yields: `[from, to)`, strictly beyond `after`.
#[derive(Clone, Copy)]
pub(crate) struct Range {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub after: Option<Pos>,
    pub order: Order,
}

impl Range {
    /// Keys of the lists that may hold such positions, for the identifier `prefix`.
    pub fn key_bounds(&self, prefix: &[u8; PREFIX]) -> (Vec<u8>, Vec<u8>) {
        let lo = match self.from {
            Some(t) => keys::cat(&[prefix, &hour_bytes(hour_of(t.as_nanosecond()))]),
            None => prefix.to_vec(),
        };
        let hi = match self.to {
            Some(t) => keys::cat(&[
                prefix,
                &hour_bytes(hour_of(t.as_nanosecond() - 1)),
                &[0xff; 8],
            ]),
            None => keys::cat(&[prefix, &[0xff; HOUR + 8]]),
        };
        (lo, hi)
    }

    fn admits(&self, p: &Pos) -> bool {
        self.from.is_none_or(|f| p.0 >= f)
            && self.to.is_none_or(|t| p.0 < t)
            && self.after.is_none_or(|a| match self.order {
                Order::Asc => *p > a,
                Order::Desc => *p < a,
            })
    }
}

/// Yields the positions of the lists `entries` gives (in key order, or reversed for a
/// descending walk) in the walk's (time, seq) order, an hour at a time.
pub(crate) struct Walk<I> {
    entries: I,
    range: Range,
    /// The first entry of the next hour, read ahead.
    next: Option<(Slice, Slice)>,
    /// The current hour's positions, in reverse walking order (popped from the end).
    hour: Vec<Pos>,
}

impl<I> Walk<I>
where
    I: Iterator<Item = fjall::Result<(Slice, Slice)>>,
{
    pub fn new(entries: I, range: Range) -> Self {
        Walk {
            entries,
            range,
            next: None,
            hour: Vec::new(),
        }
    }

    /// Fills `self.hour` with the next hour that has admitted positions; false at the end.
    fn fill(&mut self) -> Result<bool, QueryError> {
        while self.hour.is_empty() {
            let Some(first) = self.next.take().map(Ok).or_else(|| self.entries.next()) else {
                return Ok(false);
            };
            let (key, value) = first?;
            let bad = || QueryError::Corrupt("posting list entry".into());
            let hour = key.get(PREFIX..PREFIX + HOUR).ok_or_else(bad)?.to_vec();
            decode(&key, &value, &mut self.hour).ok_or_else(bad)?;
            for kv in self.entries.by_ref() {
                let (key, value) = kv?;
                if key.get(PREFIX..PREFIX + HOUR) != Some(hour.as_slice()) {
                    self.next = Some((key, value));
                    break;
                }
                decode(&key, &value, &mut self.hour).ok_or_else(bad)?;
            }
            let range = self.range;
            self.hour.retain(|p| range.admits(p));
            match range.order {
                Order::Asc => self.hour.sort_unstable_by(|a, b| b.cmp(a)),
                Order::Desc => self.hour.sort_unstable(),
            }
            // A batch indexed twice (never, while watermarks hold) would repeat itself.
            self.hour.dedup();
        }
        Ok(true)
    }
}

impl<I> Iterator for Walk<I>
where
    I: Iterator<Item = fjall::Result<(Slice, Slice)>>,
{
    type Item = Result<Pos, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.fill() {
            Ok(true) => self.hour.pop().map(Ok),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn lists_round_trip_and_split_by_hour() {
        let prefix = [7u8; PREFIX];
        let mut lists = Lists::default();
        let positions = [
            (at("1969-12-31T23:59:59.999999999Z"), 4),
            (at("2026-03-04T15:02:11.123Z"), 9),
            (at("2026-03-04T15:59:59.999999999Z"), 3),
            (at("2026-03-04T16:00:00Z"), 2),
            (at("2026-03-04T15:00:00Z"), 300_000),
        ];
        for p in positions {
            lists.add(prefix, p);
        }
        let entries = lists.into_entries();
        assert_eq!(entries.len(), 3, "three hours");
        assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        let mut back = Vec::new();
        for (k, v) in &entries {
            decode(k, v, &mut back).unwrap();
        }
        back.sort();
        let mut want = positions.to_vec();
        want.sort();
        assert_eq!(back, want);
        // The 15:00 list starts at its smallest seq.
        assert_eq!(&entries[1].0[PREFIX + HOUR..], &3u64.to_be_bytes());
    }

    #[test]
    fn damaged_values_are_refused() {
        let (k, v) = encode(&[1; PREFIX], 5, &[(at("1970-01-01T05:00:01Z"), 1)]);
        let mut out = Vec::new();
        assert!(decode(&k, &v[..v.len() - 1], &mut out).is_none());
        assert!(decode(&k, &[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut out).is_none());
        assert!(decode(&k[..PREFIX], &v, &mut out).is_none());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut s = b.as_slice();
            assert_eq!(take_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
        assert_eq!(take_varint(&mut [0x80u8; 11].as_slice()), None);
    }
}
