//! The facet cube: per tenant, hour (and, summed, per day) and key epoch, how many
//! readable events have each combination of `action`, `outcome`, `actor.role` and
//! `source.system`, so that the facet counts of a filter made only of those fields and a
//! time window are exact and read no event body. Layout: docs/design/indexes.md, "Facet
//! counts".
//!
//! Invariants:
//! - Derived from the log only, written in the same fjall batch as the other entries and
//!   the watermark (rebuilt by `reindex`, repaired by catch-up, part of the layout). A
//!   cell is read, added to and written back by the one index writer, and only for seqs
//!   at or above the watermark, so no event is counted twice.
//! - A cell holds one key epoch: a count skips the cells whose epoch keys are destroyed,
//!   as a search skips their blocks, so counts and search agree after shredding.
//! - Holds no identifier (patient, actor, client id): only the four low-cardinality
//!   values, as recorded; the caller's lens applies when counts are read.
//! - A day cell is the sum of its hours' cells. A cell is used whole only when its span
//!   lies inside the window and its largest seq is below the caller's horizon; otherwise
//!   a day is counted from its hours, and an hour from the time index's posting lists
//!   and their combination codes (`facet_lists.rs`), never from event bodies.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use recall_model::Event;

use crate::combos::Table;
use crate::db::{Db, Parts, Tenant};
use crate::disclose::Lens;
use crate::error::QueryError;
use crate::facets::Facets;
use crate::keys;
use crate::postings::{self, DAY, HOUR, Order, Range, Span};
use crate::search::{Filter, Prepared};

/// One combination's encoding: four fields, each `varint(len + 1) ‖ bytes`, or `0` when
/// absent (role, system).
pub(crate) type Combo = Vec<u8>;

/// The four values of a combination, borrowed from a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Values<'a> {
    pub action: &'a str,
    pub outcome: &'a str,
    pub role: Option<&'a str>,
    pub system: Option<&'a str>,
}

fn put_field(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.push(0),
        Some(s) => {
            postings::put_varint(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn take_field<'a>(b: &mut &'a [u8]) -> Option<Option<&'a str>> {
    let n = usize::try_from(postings::take_varint(b)?).ok()?;
    if n == 0 {
        return Some(None);
    }
    let s = b.get(..n - 1)?;
    *b = b.get(n - 1..)?;
    Some(Some(std::str::from_utf8(s).ok()?))
}

/// Appends the combination of an event to `c`.
pub(crate) fn put_combo(c: &mut Vec<u8>, e: &Event) {
    put_field(c, Some(&e.action));
    put_field(c, Some(e.outcome.as_str()));
    put_field(c, e.actor.role.as_deref());
    put_field(c, e.source.as_ref().and_then(|s| s.system.as_deref()));
}

/// Reads one combination from the front of `b`.
pub(crate) fn take_combo<'a>(b: &mut &'a [u8]) -> Option<Values<'a>> {
    Some(Values {
        action: take_field(b)??,
        outcome: take_field(b)??,
        role: take_field(b)?,
        system: take_field(b)?,
    })
}

/// One cell: the largest seq it counts and its counts by combination.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Cell {
    pub max_seq: u64,
    pub counts: HashMap<Combo, u64>,
}

impl Cell {
    /// Value `u64be max_seq ‖ varint(k) ‖ k × (combo ‖ varint(count))`, combos sorted.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.counts.len() * 40);
        v.extend_from_slice(&self.max_seq.to_be_bytes());
        postings::put_varint(&mut v, self.counts.len() as u64);
        let mut sorted: Vec<(&Combo, &u64)> = self.counts.iter().collect();
        sorted.sort_unstable();
        for (c, n) in sorted {
            v.extend_from_slice(c);
            postings::put_varint(&mut v, *n);
        }
        v
    }

    /// Calls `visit` with each combination's bytes and count; the cell's `max_seq`.
    pub fn each(value: &[u8], visit: &mut dyn FnMut(&[u8], u64)) -> Option<u64> {
        let max_seq = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
        let mut rest = value.get(8..)?;
        let k = postings::take_varint(&mut rest)?;
        for _ in 0..k {
            let before = rest;
            take_combo(&mut rest)?;
            let combo = &before[..before.len() - rest.len()];
            visit(combo, postings::take_varint(&mut rest)?);
        }
        rest.is_empty().then_some(max_seq)
    }

    /// The cell `value` decodes to.
    pub fn decode(value: &[u8]) -> Option<Cell> {
        let mut counts = HashMap::new();
        let max_seq = Cell::each(value, &mut |c, n| {
            counts.insert(c.to_vec(), n);
        })?;
        Some(Cell { max_seq, counts })
    }
}

/// The two sizes of cell. A day cell saves a long window from reading 24 hour cells a
/// day (an all-time count of a year is 365 cells, not 8,760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Grain {
    Hour = 0,
    Day = 1,
}

impl Grain {
    fn span(self) -> Span {
        match self {
            Grain::Hour => HOUR,
            Grain::Day => DAY,
        }
    }

    /// The key prefix of a tenant's cells of this grain.
    fn prefix(self, tno: u32) -> Vec<u8> {
        keys::cat(&[&tno.to_be_bytes(), &[self as u8]])
    }
}

/// Key `tno ‖ grain ‖ span ‖ u32be epoch` (the span number as the posting lists write
/// it: an hour or a day since the Unix epoch).
pub(crate) fn key(tno: u32, grain: Grain, span: i64, epoch: u32) -> Vec<u8> {
    keys::cat(&[
        &grain.prefix(tno),
        &postings::span_bytes(span),
        &epoch.to_be_bytes(),
    ])
}

/// The span number and epoch of a cell's key.
pub(crate) fn parse_key(k: &[u8]) -> Option<(i64, u32)> {
    let at = keys::TNO + 1;
    let span = postings::parse_span(k.get(at..at + 8)?)?;
    let epoch = u32::from_be_bytes(k.get(at + 8..)?.try_into().ok()?);
    Some((span, epoch))
}

/// The cube's additions of one write batch, by grain, span and epoch: the largest seq
/// and the count of each combination code (`combos.rs`), so that staging an event
/// allocates nothing.
#[derive(Default)]
pub(crate) struct CubeBatch {
    cells: HashMap<(Grain, i64, u32), Staged>,
}

/// A cell's additions: its largest seq, and counts by combination code.
type Staged = (u64, HashMap<u32, u64>);

impl CubeBatch {
    /// Counts event `seq` of key epoch `epoch`, time `ns` and combination `code`, in its
    /// hour and in its day.
    pub fn add(&mut self, seq: u64, epoch: u32, ns: i128, code: u32) {
        for grain in [Grain::Hour, Grain::Day] {
            let at = (grain, grain.span().of(ns), epoch);
            let (max_seq, counts) = self.cells.entry(at).or_default();
            *max_seq = (*max_seq).max(seq);
            *counts.entry(code).or_default() += 1;
        }
    }

    /// Adds each cell to what the index holds and puts the sums in `b`; `codes` names
    /// the combinations. The caller holds the write lock, so nothing else changes a cell
    /// between the read and the commit.
    pub fn write(
        self,
        b: &mut fjall::Batch,
        p: &Parts,
        tno: u32,
        codes: &Table,
    ) -> Result<(), QueryError> {
        let mut cells: Vec<_> = self.cells.into_iter().collect();
        cells.sort_unstable_by_key(|(k, _)| *k);
        for ((grain, span, epoch), (max_seq, add)) in cells {
            let k = key(tno, grain, span, epoch);
            let mut cell = match p.facets.get(&k)? {
                Some(v) => Cell::decode(&v).ok_or_else(corrupt)?,
                None => Cell::default(),
            };
            cell.max_seq = cell.max_seq.max(max_seq);
            for (code, n) in add {
                let combo = codes.combo(code);
                match cell.counts.get_mut(combo) {
                    Some(c) => *c += n,
                    None => {
                        cell.counts.insert(combo.to_vec(), n);
                    }
                }
            }
            b.insert(&p.facets, k, cell.encode());
        }
        Ok(())
    }
}

/// Whether the cube can count a filter: nothing but action, outcome, system and a time
/// window (the other filters need the event, or an identifier the cube does not hold).
pub(crate) fn answers(f: &Filter) -> bool {
    f.patient.is_none() && f.actor.is_none() && lists_answer(f)
}

/// Whether the posting lists and their codes can count a filter (`facet_lists.rs`):
/// the cube's filters plus a patient and an actor; purpose, IP, break-glass, resource
/// and FHIR filters need the event.
pub(crate) fn lists_answer(f: &Filter) -> bool {
    f.purpose.is_none()
        && f.ip.is_none()
        && !f.break_glass
        && f.resource_type.is_none()
        && f.resource_id.is_none()
        && f.fhir_action.is_none()
        && f.fhir_type.is_none()
}

fn corrupt() -> QueryError {
    QueryError::Corrupt("facet cell".into())
}

/// A readable cell of the window: its span number, largest seq and value.
struct Found {
    span: i64,
    max_seq: u64,
    value: fjall::Slice,
}

/// Sums of the cells used whole, by combination.
type Sums = HashMap<Vec<u8>, u64>;

fn add_cell(sums: &mut Sums, value: &[u8]) -> Result<(), QueryError> {
    Cell::each(value, &mut |c, n| match sums.get_mut(c) {
        Some(x) => *x += n,
        None => {
            sums.insert(c.to_vec(), n);
        }
    })
    .map(|_| ())
    .ok_or_else(corrupt)
}

fn at(ns: i128) -> Result<Timestamp, QueryError> {
    Timestamp::from_nanosecond(ns).map_err(|_| corrupt())
}

impl Db {
    /// The facets of a filter [`answers`] accepts, every match counted: whole days from
    /// their cells, the other days from their hours' cells, and the hours that are not
    /// whole either (at the window's edges, or holding seqs at or beyond the horizon) by
    /// the search's walk over that hour alone.
    pub(crate) fn cube_facets(
        &self,
        p: &Prepared,
        t: &Tenant,
        horizon: u64,
    ) -> Result<Facets, QueryError> {
        let f = &p.filter.f;
        let mut readable: HashMap<u32, bool> = HashMap::new();
        let mut sums = Sums::new();
        let mut partial: BTreeSet<i64> = BTreeSet::new();
        let days = self.cells(p, t, Grain::Day, (f.from, f.to), &mut readable)?;
        for day in self.use_whole(&days, DAY, p, horizon, &mut sums)? {
            let (start, end) = (at(DAY.start(day))?, at(DAY.start(day) + DAY.len())?);
            let from = f.from.map_or(start, |t| t.max(start));
            let to = f.to.map_or(end, |t| t.min(end));
            let hours = self.cells(p, t, Grain::Hour, (Some(from), Some(to)), &mut readable)?;
            partial.extend(self.use_whole(&hours, HOUR, p, horizon, &mut sums)?);
        }
        let mut out = Facets {
            complete: true,
            ..Facets::default()
        };
        let full = Lens::full();
        let lens = f.lens.as_ref().unwrap_or(&full);
        for (c, n) in &sums {
            let v = take_combo(&mut c.as_slice()).ok_or_else(corrupt)?;
            out.count_matching(&p.filter, lens, &v, *n);
        }
        for hour in partial {
            let (start, end) = (at(HOUR.start(hour))?, at(HOUR.start(hour) + HOUR.len())?);
            let mut edge = p.filter.clone();
            edge.f.from = Some(f.from.map_or(start, |t| t.max(start)));
            edge.f.to = Some(f.to.map_or(end, |t| t.min(end)));
            out.merge(self.list_facets(p, t, &edge, horizon)?);
        }
        Ok(out)
    }

    /// The readable cells of `grain` whose spans meet `[from, to)`.
    fn cells(
        &self,
        p: &Prepared,
        t: &Tenant,
        grain: Grain,
        (from, to): (Option<Timestamp>, Option<Timestamp>),
        readable: &mut HashMap<u32, bool>,
    ) -> Result<Vec<Found>, QueryError> {
        let range = Range {
            from,
            to,
            after: None,
            order: Order::Asc,
        };
        let (lo, hi) = range.key_bounds(&grain.prefix(t.no), grain.span());
        let mut found = Vec::new();
        for kv in self.parts().facets.range(lo..=hi) {
            let (k, value) = kv?;
            let (span, epoch) = parse_key(&k).ok_or_else(corrupt)?;
            if !self.epoch_readable(&p.tenant, epoch, readable)? {
                continue;
            }
            let max_seq = u64::from_be_bytes(
                value
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(corrupt)?,
            );
            found.push(Found {
                span,
                max_seq,
                value,
            });
        }
        Ok(found)
    }

    /// Adds to `sums` the cells whose span lies inside the filter's window with every
    /// cell of that span below the horizon (a span may hold a cell per epoch), and
    /// returns the other spans, to be counted finer.
    fn use_whole(
        &self,
        cells: &[Found],
        span: Span,
        p: &Prepared,
        horizon: u64,
        sums: &mut Sums,
    ) -> Result<BTreeSet<i64>, QueryError> {
        let f = &p.filter.f;
        let split: BTreeSet<i64> = cells
            .iter()
            .filter(|c| {
                let (start, end) = (span.start(c.span), span.start(c.span) + span.len());
                let inside = f.from.is_none_or(|t| t.as_nanosecond() <= start)
                    && f.to.is_none_or(|t| end <= t.as_nanosecond());
                !inside || c.max_seq >= horizon
            })
            .map(|c| c.span)
            .collect();
        for c in cells.iter().filter(|c| !split.contains(&c.span)) {
            add_cell(sums, &c.value)?;
        }
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cells_and_keys_round_trip() {
        let mut c = Cell {
            max_seq: 77,
            ..Cell::default()
        };
        let mut a = Vec::new();
        put_field(&mut a, Some("read"));
        put_field(&mut a, Some("success"));
        put_field(&mut a, None);
        put_field(&mut a, Some("ehr-ü"));
        c.counts.insert(a.clone(), 3);
        let mut b = Vec::new();
        for v in ["update", "denied", "nurse", ""] {
            put_field(&mut b, Some(v));
        }
        c.counts.insert(b, 1 << 40);
        let v = c.encode();
        assert_eq!(Cell::decode(&v), Some(c));
        assert!(Cell::decode(&v[..v.len() - 1]).is_none());
        let vals = take_combo(&mut a.as_slice()).unwrap();
        assert_eq!(
            vals,
            Values {
                action: "read",
                outcome: "success",
                role: None,
                system: Some("ehr-ü")
            }
        );
        let k = key(9, Grain::Day, -5, 1_202_603);
        assert_eq!(parse_key(&k), Some((-5, 1_202_603)));
        let hour = |n| key(9, Grain::Hour, n, 0);
        assert!(hour(-5) < hour(4), "hours sort in time order");
        assert!(
            hour(i64::MAX) < key(9, Grain::Day, i64::MIN, 0),
            "grains apart"
        );
    }
}
