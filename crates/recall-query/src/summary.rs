//! The event summary index: for every readable event, the few fields the compliance
//! workflows aggregate over (time, seq, actor and patient as keyed tokens, break-glass,
//! outcome, whether recall recorded it, whether it names a role and a name), so that an
//! access review over a quarter reads ~12 bytes an event from the index instead of
//! decrypting and parsing millions of bodies. Layout: docs/design/indexes.md, "The
//! summary index".
//!
//! Invariants:
//! - Derived from the log only, written in the same fjall batch as the other entries and
//!   the watermark: rebuilt by `reindex`, repaired by catch-up, part of the layout.
//! - No identifier in the clear: actor and patient are the first 16 bytes of their
//!   blind-index tokens (two identifiers of one tenant share one with probability 2^-128
//!   per pair, so counts over tokens are exact in practice, as the id index assumes).
//! - A list holds the events of one write batch, one minute and one key epoch: a scan
//!   skips the lists whose epoch keys are destroyed, as a search skips their blocks.

use std::collections::HashMap;

use jiff::Timestamp;
use rayon::prelude::*;
use recall_model::{Event, Outcome, RESERVED_SYSTEMS};

use crate::breakglass::BREAK_GLASS;
use crate::db::{Db, Parts};
use crate::error::QueryError;
use crate::keys::{self, Pos};
use crate::postings::{self, MINUTE, Order, Range};
use crate::read::{Read, SeqReader};

/// Seqs one task of [`Db::events_at`] reads.
const READ_PART: usize = 256;

/// Bytes of an identifier in the summary.
pub const SUMMARY_TOKEN: usize = 16;
/// An actor or patient as the summary names it.
pub type Token = [u8; SUMMARY_TOKEN];

const PATIENT: u8 = 1;
const BREAK_GLASS_FLAG: u8 = 2;
const FAILURE: u8 = 4;
const DENIED: u8 = 8;
const RECALL_OWN: u8 = 16;
const ROLE: u8 = 32;
const NAME: u8 = 64;

/// One event as the summary index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The event's `time`.
    pub time: Timestamp,
    /// Its seq.
    pub seq: u64,
    /// `actor.id`'s token.
    pub actor: Token,
    /// `patient.id`'s token, if the event names a patient.
    pub patient: Option<Token>,
    flags: u8,
}

impl Summary {
    /// Purpose `ETREAT`.
    pub fn break_glass(&self) -> bool {
        self.flags & BREAK_GLASS_FLAG != 0
    }
    /// The outcome.
    pub fn outcome(&self) -> Outcome {
        match self.flags & (FAILURE | DENIED) {
            FAILURE => Outcome::Failure,
            DENIED => Outcome::Denied,
            _ => Outcome::Success,
        }
    }
    /// Recorded by recall itself (`source.system` is one of recall's reserved systems).
    pub fn recall_own(&self) -> bool {
        self.flags & RECALL_OWN != 0
    }
    /// The event names the actor's role.
    pub fn has_role(&self) -> bool {
        self.flags & ROLE != 0
    }
    /// The event names the actor's name.
    pub fn has_name(&self) -> bool {
        self.flags & NAME != 0
    }
    /// `(time, seq)`.
    pub fn pos(&self) -> Pos {
        (self.time, self.seq)
    }
}

fn flags_of(e: &Event) -> u8 {
    let system = e.source.as_ref().and_then(|s| s.system.as_deref());
    let mut f = 0;
    f |= if e.patient.is_some() { PATIENT } else { 0 };
    f |= if e.purpose.as_deref() == Some(BREAK_GLASS) {
        BREAK_GLASS_FLAG
    } else {
        0
    };
    f |= match e.outcome {
        Outcome::Failure => FAILURE,
        Outcome::Denied => DENIED,
        _ => 0,
    };
    f |= if system.is_some_and(|s| RESERVED_SYSTEMS.contains(&s)) {
        RECALL_OWN
    } else {
        0
    };
    f |= if e.actor.role.is_some() { ROLE } else { 0 };
    f |= if e.actor.name.is_some() { NAME } else { 0 };
    f
}

/// Truncates a blind-index token to the summary's width.
pub(crate) fn short(token: &[u8; 32]) -> Token {
    let mut out = [0u8; SUMMARY_TOKEN];
    out.copy_from_slice(&token[..SUMMARY_TOKEN]);
    out
}

/// The summaries of one write batch, grouped into lists by minute and key epoch.
#[derive(Default)]
pub(crate) struct Summaries {
    lists: HashMap<(i64, u32), Vec<Summary>>,
}

impl Summaries {
    /// Stages event `seq` of key epoch `epoch`; `actor` and `patient` are its full tokens.
    pub fn add(
        &mut self,
        seq: u64,
        epoch: u32,
        e: &Event,
        actor: &[u8; 32],
        patient: Option<&[u8; 32]>,
    ) {
        let s = Summary {
            time: e.time,
            seq,
            actor: short(actor),
            patient: patient.map(short),
            flags: flags_of(e),
        };
        let minute = MINUTE.of(e.time.as_nanosecond());
        self.lists.entry((minute, epoch)).or_default().push(s);
    }

    /// Adds the staged entries to `b`, in key order.
    pub fn write(self, b: &mut fjall::Batch, p: &Parts, tno: u32) {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .lists
            .into_iter()
            .map(|((minute, epoch), mut list)| {
                list.sort_unstable_by_key(|s| s.seq);
                encode(tno, minute, epoch, &list)
            })
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in entries {
            b.insert(&p.summary, k, v);
        }
    }
}

/// Key `tno ‖ minute ‖ first seq`; value `u32be epoch ‖ varint(n) ‖ n tokens ‖` per
/// event `varint(seq delta) ‖ varint(ns in minute) ‖ u8 flags ‖ varint(actor) ‖
/// [varint(patient)]`, actor and patient as indexes into the list's tokens.
fn encode(tno: u32, minute: i64, epoch: u32, list: &[Summary]) -> (Vec<u8>, Vec<u8>) {
    let first = list[0].seq;
    let key = keys::cat(&[
        &tno.to_be_bytes(),
        &postings::span_bytes(minute),
        &first.to_be_bytes(),
    ]);
    let mut dict: Vec<Token> = Vec::new();
    let index = |t: Token, dict: &mut Vec<Token>| match dict.iter().position(|d| *d == t) {
        Some(i) => i as u64,
        None => {
            dict.push(t);
            (dict.len() - 1) as u64
        }
    };
    let mut body = Vec::with_capacity(list.len() * 6);
    let (start, mut prev) = (MINUTE.start(minute), first);
    for s in list {
        postings::put_varint(&mut body, s.seq - prev);
        postings::put_varint(&mut body, (s.time.as_nanosecond() - start) as u64);
        body.push(s.flags);
        postings::put_varint(&mut body, index(s.actor, &mut dict));
        if let Some(p) = s.patient {
            postings::put_varint(&mut body, index(p, &mut dict));
        }
        prev = s.seq;
    }
    let mut value = Vec::with_capacity(8 + dict.len() * SUMMARY_TOKEN + body.len());
    value.extend_from_slice(&epoch.to_be_bytes());
    postings::put_varint(&mut value, dict.len() as u64);
    for t in &dict {
        value.extend_from_slice(t);
    }
    value.extend_from_slice(&body);
    (key, value)
}

/// The epoch of a list and its summaries (appended to `out`).
fn decode(key: &[u8], value: &[u8], out: &mut Vec<Summary>) -> Option<u32> {
    let minute = postings::parse_span(key.get(keys::TNO..keys::TNO + 8)?)?;
    let mut seq = u64::from_be_bytes(key.get(keys::TNO + 8..)?.try_into().ok()?);
    let epoch = u32::from_be_bytes(value.get(..4)?.try_into().ok()?);
    let mut rest = value.get(4..)?;
    let n = usize::try_from(postings::take_varint(&mut rest)?).ok()?;
    let dict_len = n.checked_mul(SUMMARY_TOKEN)?;
    let dict = rest.get(..dict_len)?;
    rest = rest.get(dict_len..)?;
    let token = |i: u64| -> Option<Token> {
        let at = usize::try_from(i).ok()?.checked_mul(SUMMARY_TOKEN)?;
        dict.get(at..at + SUMMARY_TOKEN)?.try_into().ok()
    };
    let start = MINUTE.start(minute);
    while !rest.is_empty() {
        seq = seq.checked_add(postings::take_varint(&mut rest)?)?;
        let offset = i128::from(postings::take_varint(&mut rest)?);
        if offset >= MINUTE.len() {
            return None;
        }
        let (&flags, tail) = rest.split_first()?;
        rest = tail;
        let actor = token(postings::take_varint(&mut rest)?)?;
        let patient = match flags & PATIENT {
            0 => None,
            _ => Some(token(postings::take_varint(&mut rest)?)?),
        };
        out.push(Summary {
            time: Timestamp::from_nanosecond(start + offset).ok()?,
            seq,
            actor,
            patient,
            flags,
        });
    }
    Some(epoch)
}

impl Db {
    /// Calls `visit` with the summary of every readable event of `tenant` with `time` in
    /// `[from, to)` and seq below `horizon` (take it from [`Db::indexed`]). The order is
    /// by minute, not exactly by (time, seq): callers aggregate.
    pub fn summaries(
        &self,
        tenant: &str,
        from: Timestamp,
        to: Timestamp,
        horizon: u64,
        visit: &mut dyn FnMut(&Summary),
    ) -> Result<(), QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(());
        };
        let range = Range {
            from: Some(from),
            to: Some(to),
            after: None,
            order: Order::Asc,
        };
        let (lo, hi) = range.key_bounds(&t.no.to_be_bytes(), MINUTE);
        let parts = self.parts();
        let mut readable: HashMap<u32, bool> = HashMap::new();
        let mut list = Vec::new();
        for kv in parts.summary.range(lo..=hi) {
            let (key, value) = kv?;
            list.clear();
            let epoch = decode(&key, &value, &mut list)
                .ok_or_else(|| QueryError::Corrupt("summary entry".into()))?;
            if !self.epoch_readable(tenant, epoch, &mut readable)? {
                continue;
            }
            for s in list
                .iter()
                .filter(|s| s.seq < horizon && s.time >= from && s.time < to)
            {
                visit(s);
            }
        }
        Ok(())
    }

    /// Whether the keys of `tenant`'s key epoch `epoch` still exist (its events are
    /// readable), asked once per epoch of a scan: `known` remembers the answers.
    pub(crate) fn epoch_readable(
        &self,
        tenant: &str,
        epoch: u32,
        known: &mut HashMap<u32, bool>,
    ) -> Result<bool, QueryError> {
        if let Some(ok) = known.get(&epoch) {
            return Ok(*ok);
        }
        let ok = self.journal.existing_epoch_keys(tenant, epoch)?.is_some();
        known.insert(epoch, ok);
        Ok(ok)
    }

    /// The readable events among `seqs` of `tenant` (each parsed whole), with their seqs,
    /// in seq order:
    /// what a workflow reads after a summary scan, for the few events whose contents it
    /// shows. Sorted seqs share blocks; parts are read in parallel.
    pub fn events_at(&self, tenant: &str, seqs: &[u64]) -> Result<Vec<(u64, Event)>, QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(Vec::new());
        };
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let parts = self.parts();
        let read = |part: &[u64]| -> Result<Vec<(u64, Event)>, QueryError> {
            let mut reader = SeqReader::new(self, tenant, &t, &parts);
            let mut out = Vec::with_capacity(part.len());
            for &seq in part {
                let parsed = reader.with(seq, |block, k, _| {
                    recall_model::parse_canonical(block.event(k).unwrap_or_default())
                })?;
                if let Read::Found(rec) = parsed {
                    let rec = rec.map_err(|e| QueryError::Corrupt(format!("event {seq}: {e}")))?;
                    out.push((seq, rec.event));
                }
            }
            Ok(out)
        };
        let parts_read: Vec<Vec<(u64, Event)>> = sorted
            .par_chunks(READ_PART)
            .map(read)
            .collect::<Result<_, _>>()?;
        Ok(parts_read.into_iter().flatten().collect())
    }

    /// The summary token of identifier `value` of `field` (`actor` or `patient`) in
    /// `tenant`; `None` when the index has not seen the tenant.
    pub fn summary_token(
        &self,
        tenant: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Token>, QueryError> {
        Ok(self
            .tenant(tenant)?
            .map(|t| short(&t.indexer.token(field, value))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn summary(seq: u64, time: &str, actor: u8, patient: Option<u8>, flags: u8) -> Summary {
        Summary {
            time: time.parse().unwrap(),
            seq,
            actor: [actor; SUMMARY_TOKEN],
            patient: patient.map(|p| [p; SUMMARY_TOKEN]),
            flags: flags | if patient.is_some() { PATIENT } else { 0 },
        }
    }

    #[test]
    fn lists_round_trip() {
        let list = [
            summary(
                7,
                "2026-03-04T15:02:11.123Z",
                1,
                Some(2),
                BREAK_GLASS_FLAG | ROLE,
            ),
            summary(
                9,
                "2026-03-04T15:02:59.999999999Z",
                1,
                None,
                DENIED | RECALL_OWN,
            ),
            summary(300, "2026-03-04T15:02:00Z", 3, Some(2), FAILURE | NAME),
        ];
        let minute = MINUTE.of(list[0].time.as_nanosecond());
        let (k, v) = encode(5, minute, 1_202_603, &list);
        let mut back = Vec::new();
        assert_eq!(decode(&k, &v, &mut back), Some(1_202_603));
        assert_eq!(back, list);
        assert_eq!(back[1].outcome(), Outcome::Denied);
        assert!(back[0].break_glass() && back[1].recall_own() && back[2].has_name());
        // Three tokens in the dictionary, not five.
        assert_eq!(v[4], 3);
        assert!(decode(&k, &v[..v.len() - 1], &mut Vec::new()).is_none());
    }
}
