//! Posting lists: the patient, actor and time indexes.
//!
//! Why lists instead of an entry per event: an index write used to insert one memtable
//! entry per event and index, at a random place of a large skiplist, and that was the
//! largest cost of ingest. A session is many events of one actor on one chart, so a
//! batch holds ~7× fewer (identifier, hour) pairs than events, and its events fall into
//! a minute or two of time; one entry per pair is written instead, holding the positions
//! of that batch's events.
//!
//! Key: `prefix ‖ span ‖ first seq`, where the prefix is `tno ‖ token` (patients, actors)
//! or `tno` (time); span: which [`Span`] of time the list covers, counted from the Unix
//! epoch (`i64` with the sign bit flipped, big-endian); first seq: the smallest seq in
//! the list, which makes the key unique. Value: the list's positions in seq order, each
//! `varint(seq − previous seq) ‖ varint(nanoseconds since the span began) ‖
//! varint(combination code)`, the first seq's delta taken from the key's. The code
//! (`combos.rs`) names the event's key epoch and facet values, so facet counts of a
//! posting-list filter read no event body.
//!
//! Reading: the lists of one span are gathered, sorted in the walking order and filtered,
//! so results keep their exact (time, seq) order across lists written by different
//! batches (late arrivals included).

use std::collections::HashMap;

use fjall::Slice;
use jiff::Timestamp;

use crate::error::QueryError;
use crate::keys::{self, Pos};

/// The order posting lists are walked in, and so the order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first: (time, seq) ascending.
    #[default]
    Asc,
    /// Newest first: (time, seq) descending.
    Desc,
}

/// Longest prefix: `tno ‖ token`.
pub const PREFIX: usize = keys::IDENT;
/// Bytes of a span number.
const SPAN: usize = 8;
/// Bytes of a key after its prefix.
const SUFFIX: usize = SPAN + 8;
const SECOND_NS: i128 = 1_000_000_000;

/// The length of time one list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span(i128);

/// Lists of one patient or actor: an hour holds few of their events.
pub(crate) const HOUR: Span = Span(3_600 * SECOND_NS);
/// Lists of the time index: a minute of a busy tenant is still a short sort.
pub(crate) const MINUTE: Span = Span(60 * SECOND_NS);
/// The facet cube's coarse cells: a long window reads one a day.
pub(crate) const DAY: Span = Span(86_400 * SECOND_NS);

impl Span {
    /// The span holding `ns` (nanoseconds since the Unix epoch).
    pub(crate) fn of(self, ns: i128) -> i64 {
        ns.div_euclid(self.0) as i64
    }

    pub(crate) fn start(self, n: i64) -> i128 {
        i128::from(n) * self.0
    }

    /// Its length in nanoseconds.
    pub(crate) fn len(self) -> i128 {
        self.0
    }
}

pub(crate) fn span_bytes(n: i64) -> [u8; SPAN] {
    ((n as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn parse_span(b: &[u8]) -> Option<i64> {
    Some((u64::from_be_bytes(b.try_into().ok()?) ^ (1 << 63)) as i64)
}

/// A position and the combination code of its event (`combos.rs`).
pub(crate) type Posting = (Pos, u32);

/// The positions of one write to one index, grouped into lists by prefix and span.
pub(crate) struct Lists {
    span: Span,
    prefix_len: usize,
    by_key: HashMap<([u8; PREFIX], i64), Vec<Posting>>,
}

impl Lists {
    /// Lists of `span`s of time under prefixes of `prefix_len` bytes.
    pub fn new(span: Span, prefix_len: usize) -> Self {
        Lists {
            span,
            prefix_len: prefix_len.min(PREFIX),
            by_key: HashMap::new(),
        }
    }

    /// Adds the position of an event with combination `code` under `prefix`
    /// (`prefix_len` bytes are used).
    pub fn add(&mut self, prefix: &[u8], pos: Pos, code: u32) {
        let mut p = [0u8; PREFIX];
        let n = self.prefix_len.min(prefix.len());
        p[..n].copy_from_slice(&prefix[..n]);
        let span = self.span.of(pos.0.as_nanosecond());
        self.by_key.entry((p, span)).or_default().push((pos, code));
    }

    /// The entries to write, in key order.
    pub fn into_entries(self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (span, len) = (self.span, self.prefix_len);
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = self
            .by_key
            .into_iter()
            .map(|((prefix, n), mut list)| {
                list.sort_unstable_by_key(|p| p.0.1);
                encode(&prefix[..len], span, n, &list)
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// One list's entry; `list` is sorted by seq, not empty, and within span `n`.
fn encode(prefix: &[u8], span: Span, n: i64, list: &[Posting]) -> (Vec<u8>, Vec<u8>) {
    let first = list[0].0.1;
    let key = keys::cat(&[prefix, &span_bytes(n), &first.to_be_bytes()]);
    let start = span.start(n);
    let mut value = Vec::with_capacity(list.len() * 8);
    let mut prev = first;
    for &((time, seq), code) in list {
        put_varint(&mut value, seq - prev);
        put_varint(&mut value, (time.as_nanosecond() - start) as u64);
        put_varint(&mut value, u64::from(code));
        prev = seq;
    }
    (key, value)
}

/// The span bytes of a key.
fn span_of_key(key: &[u8]) -> Option<&[u8]> {
    let at = key.len().checked_sub(SUFFIX)?;
    key.get(at..at + SPAN)
}

/// Appends the positions of one entry to `out`.
fn decode(key: &[u8], value: &[u8], span: Span, out: &mut Vec<Posting>) -> Option<()> {
    let n = parse_span(span_of_key(key)?)?;
    let mut seq = u64::from_be_bytes(key.get(key.len() - 8..)?.try_into().ok()?);
    let start = span.start(n);
    let mut rest = value;
    while !rest.is_empty() {
        seq = seq.checked_add(take_varint(&mut rest)?)?;
        let offset = i128::from(take_varint(&mut rest)?);
        if offset >= span.0 {
            return None;
        }
        let code = u32::try_from(take_varint(&mut rest)?).ok()?;
        out.push((
            (Timestamp::from_nanosecond(start + offset).ok()?, seq),
            code,
        ));
    }
    Some(())
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn take_varint(b: &mut &[u8]) -> Option<u64> {
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
    /// Keys of the lists of `span`s under `prefix` that may hold such positions: from
    /// the span of `from` (or of the cursor, when walking up from it) to the span of the
    /// last instant before `to` (or of the cursor, when walking down).
    pub fn key_bounds(&self, prefix: &[u8], span: Span) -> (Vec<u8>, Vec<u8>) {
        let ns = |t: Timestamp| t.as_nanosecond();
        let cursor = self.after.map(|a| ns(a.0));
        let (first, last) = match self.order {
            Order::Asc => (
                max_of(self.from.map(ns), cursor),
                self.to.map(|t| ns(t) - 1),
            ),
            Order::Desc => (
                self.from.map(ns),
                min_of(self.to.map(|t| ns(t) - 1), cursor),
            ),
        };
        let lo = match first {
            Some(t) => keys::cat(&[prefix, &span_bytes(span.of(t))]),
            None => prefix.to_vec(),
        };
        let hi = match last {
            Some(t) => keys::cat(&[prefix, &span_bytes(span.of(t)), &[0xff; 8]]),
            None => keys::cat(&[prefix, &[0xff; SUFFIX]]),
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

fn max_of(a: Option<i128>, b: Option<i128>) -> Option<i128> {
    a.max(b)
}

fn min_of(a: Option<i128>, b: Option<i128>) -> Option<i128> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Yields the positions of the lists `entries` gives (in key order, or reversed for a
/// descending walk) in the walk's (time, seq) order, a span at a time.
pub(crate) struct Walk<I> {
    entries: I,
    range: Range,
    span: Span,
    /// The first entry of the next span, read ahead.
    next: Option<(Slice, Slice)>,
    /// The current span's positions, in reverse walking order (popped from the end).
    current: Vec<Posting>,
}

impl<I> Walk<I>
where
    I: Iterator<Item = fjall::Result<(Slice, Slice)>>,
{
    pub fn new(entries: I, range: Range, span: Span) -> Self {
        Walk {
            entries,
            range,
            span,
            next: None,
            current: Vec::new(),
        }
    }

    /// Fills `self.current` with the next span that has admitted positions; false at the
    /// end.
    fn fill(&mut self) -> Result<bool, QueryError> {
        while self.current.is_empty() {
            let Some(first) = self.next.take().map(Ok).or_else(|| self.entries.next()) else {
                return Ok(false);
            };
            let (key, value) = first?;
            let bad = || QueryError::Corrupt("posting list entry".into());
            let span = span_of_key(&key).ok_or_else(bad)?.to_vec();
            decode(&key, &value, self.span, &mut self.current).ok_or_else(bad)?;
            for kv in self.entries.by_ref() {
                let (key, value) = kv?;
                if span_of_key(&key) != Some(span.as_slice()) {
                    self.next = Some((key, value));
                    break;
                }
                decode(&key, &value, self.span, &mut self.current).ok_or_else(bad)?;
            }
            let range = self.range;
            self.current.retain(|p| range.admits(&p.0));
            match range.order {
                Order::Asc => self.current.sort_unstable_by(|a, b| b.cmp(a)),
                Order::Desc => self.current.sort_unstable(),
            }
            // A batch indexed twice (never, while watermarks hold) would repeat itself.
            self.current.dedup();
        }
        Ok(true)
    }
}

impl<I> Iterator for Walk<I>
where
    I: Iterator<Item = fjall::Result<(Slice, Slice)>>,
{
    type Item = Result<Posting, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.fill() {
            Ok(true) => self.current.pop().map(Ok),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The hours an identifier's events fall in: the spans of the lists under its `prefix`
/// (keys only are decoded).
pub(crate) fn hours_of(
    part: &fjall::PartitionHandle,
    prefix: &[u8],
) -> Result<std::collections::BTreeSet<Timestamp>, QueryError> {
    let mut hours = std::collections::BTreeSet::new();
    for kv in part.prefix(prefix) {
        let (key, _) = kv?;
        let n = span_of_key(&key)
            .and_then(parse_span)
            .ok_or_else(|| QueryError::Corrupt("posting list key".into()))?;
        let ns = HOUR.start(n);
        let t = Timestamp::from_nanosecond(ns)
            .map_err(|_| QueryError::Corrupt("posting list span".into()))?;
        hours.insert(t);
    }
    Ok(hours)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn lists_round_trip_and_split_by_span() {
        let prefix = [7u8; PREFIX];
        let positions = [
            (at("1969-12-31T23:59:59.999999999Z"), 4),
            (at("2026-03-04T15:02:11.123Z"), 9),
            (at("2026-03-04T15:59:59.999999999Z"), 3),
            (at("2026-03-04T16:00:00Z"), 2),
            (at("2026-03-04T15:00:00Z"), 300_000),
            (at("-009999-01-03T00:00:00Z"), 5),
            (at("9999-12-30T21:59:59Z"), 6),
        ];
        for (span, prefix_len, lists_expected) in [(HOUR, PREFIX, 5), (MINUTE, keys::TNO, 7)] {
            let mut lists = Lists::new(span, prefix_len);
            for (i, p) in positions.into_iter().enumerate() {
                lists.add(&prefix, p, i as u32 * 1000);
            }
            let entries = lists.into_entries();
            assert_eq!(entries.len(), lists_expected);
            assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(entries.iter().all(|(k, _)| k.len() == prefix_len + SUFFIX));
            let mut back = Vec::new();
            for (k, v) in &entries {
                decode(k, v, span, &mut back).unwrap();
            }
            back.sort();
            let mut want: Vec<Posting> = (positions.iter().enumerate())
                .map(|(i, p)| (*p, i as u32 * 1000))
                .collect();
            want.sort();
            assert_eq!(back, want);
        }
    }

    #[test]
    fn a_list_is_keyed_by_its_smallest_seq() {
        let mut lists = Lists::new(HOUR, PREFIX);
        for seq in [9, 3, 7] {
            lists.add(&[1; PREFIX], (at("2026-03-04T15:00:00Z"), seq), 0);
        }
        let entries = lists.into_entries();
        assert_eq!(&entries[0].0[PREFIX + SPAN..], &3u64.to_be_bytes());
    }

    #[test]
    fn damaged_values_are_refused() {
        let (k, v) = encode(
            &[1; PREFIX],
            HOUR,
            5,
            &[((at("1970-01-01T05:00:01Z"), 1), 3)],
        );
        let mut out = Vec::new();
        assert!(decode(&k, &v[..v.len() - 1], HOUR, &mut out).is_none());
        let beyond = [0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0];
        assert!(decode(&k, &beyond, HOUR, &mut out).is_none());
        assert!(decode(&k[..PREFIX], &v, HOUR, &mut out).is_none());
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
