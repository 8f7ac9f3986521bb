//! The break-glass review queue, as the indexer keeps it (layout: docs/design/indexes.md,
//! "The break-glass queue"). Every event with purpose `ETREAT` enters as open; a review
//! record moves it to reviewed and names its latest disposition.
//!
//! Invariants:
//! - Derived from the log only, in the same fjall batch as the other entries and the
//!   watermark: rebuilt by `reindex`, repaired by catch-up.
//! - A review counts only when recall appended it (`appended_by` `recall:…`): a writer's
//!   event shaped like a review changes nothing.
//! - The latest review (highest seq) is the item's disposition; every review stays in the
//!   item's history.
//! - Keys hold no identifier in the clear: the actor only as its truncated index token.

use std::collections::BTreeMap;

use jiff::Timestamp;
use recall_model::Event;

use crate::db::{Parts, Tenant};
use crate::error::QueryError;
use crate::keys::{self, TOKEN};

/// Key tag of an open item: `tno ‖ 'O' ‖ time ‖ seq → actor token`.
pub(crate) const OPEN: u8 = b'O';
/// Key tag of a reviewed item: `tno ‖ 'R' ‖ time ‖ seq → actor token ‖ latest review`.
pub(crate) const REVIEWED: u8 = b'R';
/// Key tag of an item by seq: `tno ‖ 'S' ‖ seq → time ‖ actor token`.
pub(crate) const BY_SEQ: u8 = b'S';
/// Key tag of a review in an item's history: `tno ‖ 'H' ‖ seq ‖ review seq → disposition`.
pub(crate) const HISTORY: u8 = b'H';

/// The dispositions a review may record, by their code in the index.
pub const DISPOSITIONS: [&str; 4] = [
    "appropriate",
    "inappropriate",
    "needs-follow-up",
    "education",
];
/// `resource.type` of a review record.
pub const REVIEW_RESOURCE: &str = "BreakGlassAccess";
/// `action` of a review record.
pub const REVIEW_ACTION: &str = "review";
/// The purpose that marks a break-glass access.
pub const BREAK_GLASS: &str = "ETREAT";

/// The latest review of an item, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    /// Seq of the review record.
    pub seq: u64,
    /// Index into [`DISPOSITIONS`].
    pub disposition: u8,
    /// The review record's time.
    pub time: Timestamp,
}

impl Latest {
    /// The disposition's name.
    pub fn disposition(&self) -> &'static str {
        DISPOSITIONS
            .get(usize::from(self.disposition))
            .copied()
            .unwrap_or("unknown")
    }

    fn encode(&self, tok: &[u8; TOKEN]) -> Vec<u8> {
        keys::cat(&[
            tok,
            &self.seq.to_be_bytes(),
            &[self.disposition],
            &keys::time(self.time),
        ])
    }

    /// Decodes the value of a reviewed item (after its actor token).
    pub(crate) fn decode(v: &[u8]) -> Option<Latest> {
        let rest = v.get(TOKEN..)?;
        Some(Latest {
            seq: u64::from_be_bytes(rest.get(..8)?.try_into().ok()?),
            disposition: *rest.get(8)?,
            time: keys::parse_time(rest.get(9..9 + keys::TIME)?)?,
        })
    }
}

/// The reviewed seq and disposition code of a review record, if `e` is one that recall
/// appended (`detail.review.seq`, `detail.review.disposition`).
pub fn review_of(e: &Event, appended_by: Option<&str>) -> Option<(u64, u8)> {
    if !looks_like_review(e) || !recall_model::appended_by_recall(appended_by) {
        return None;
    }
    let review = e.detail.as_ref()?.get("review")?;
    let seq = review.get("seq")?.as_u64()?;
    let d = review.get("disposition")?.as_str()?;
    let code = DISPOSITIONS.iter().position(|x| *x == d)?;
    Some((seq, code as u8))
}

/// Whether `e` has a review record's shape (before its provenance is checked).
pub(crate) fn looks_like_review(e: &Event) -> bool {
    e.action == REVIEW_ACTION
        && e.resource
            .as_ref()
            .is_some_and(|r| r.kind == REVIEW_RESOURCE)
}

/// `tno ‖ tag`.
pub(crate) fn prefix(tno: u32, tag: u8) -> Vec<u8> {
    keys::cat(&[&tno.to_be_bytes(), &[tag]])
}

/// `tno ‖ 'S' ‖ seq`.
pub(crate) fn by_seq_key(tno: u32, seq: u64) -> Vec<u8> {
    keys::cat(&[&prefix(tno, BY_SEQ), &seq.to_be_bytes()])
}

/// An item of the queue as staged for one write batch.
struct Item {
    time: Timestamp,
    tok: [u8; TOKEN],
    latest: Option<Latest>,
}

/// The queue's changes from one write batch of the indexer: break-glass accesses first,
/// reviews after (a batch's blocks are not in seq order, and a review may follow its
/// access in the same batch).
#[derive(Default)]
pub(crate) struct Queue {
    accesses: BTreeMap<u64, Item>,
    /// `(review seq, reviewed seq, disposition, review time)`.
    reviews: Vec<(u64, u64, u8, Timestamp)>,
}

impl Queue {
    /// Stages event `seq`; `by` gives its `appended_by`, asked only of review-shaped events.
    pub fn add(
        &mut self,
        t: &Tenant,
        seq: u64,
        e: &Event,
        by: impl FnOnce() -> Result<Option<String>, QueryError>,
    ) -> Result<(), QueryError> {
        if e.purpose.as_deref() == Some(BREAK_GLASS) {
            let token = t.indexer.token("actor", &e.actor.id);
            let mut tok = [0u8; TOKEN];
            tok.copy_from_slice(&token[..TOKEN]);
            self.accesses.insert(
                seq,
                Item {
                    time: e.time,
                    tok,
                    latest: None,
                },
            );
        } else if looks_like_review(e)
            && let Some((target, code)) = review_of(e, by()?.as_deref())
            && target < seq
        {
            self.reviews.push((seq, target, code, e.time));
        }
        Ok(())
    }

    /// Adds the staged entries to `b`; items reviewed here but indexed earlier are read
    /// from the partition.
    pub fn write(mut self, b: &mut fjall::Batch, p: &Parts, tno: u32) -> Result<(), QueryError> {
        if self.accesses.is_empty() && self.reviews.is_empty() {
            return Ok(());
        }
        self.reviews.sort_unstable_by_key(|r| r.0);
        for (seq, target, code, time) in std::mem::take(&mut self.reviews) {
            let item = match self.accesses.entry(target) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => match load(p, tno, target)? {
                    Some(item) => v.insert(item),
                    None => continue, // not a break-glass access: nothing to review
                },
            };
            let latest = Latest {
                seq,
                disposition: code,
                time,
            };
            if item.latest.is_none_or(|l| l.seq < seq) {
                item.latest = Some(latest);
            }
            let h = keys::cat(&[
                &prefix(tno, HISTORY),
                &target.to_be_bytes(),
                &seq.to_be_bytes(),
            ]);
            b.insert(&p.breakglass, h, [code]);
        }
        for (seq, item) in self.accesses {
            let pos = keys::pos((item.time, seq));
            let open = keys::cat(&[&prefix(tno, OPEN), &pos]);
            let reviewed = keys::cat(&[&prefix(tno, REVIEWED), &pos]);
            match item.latest {
                None => b.insert(&p.breakglass, open, item.tok),
                Some(l) => {
                    b.remove(&p.breakglass, open);
                    b.insert(&p.breakglass, reviewed, l.encode(&item.tok));
                }
            }
            let by_seq = keys::cat(&[&keys::time(item.time), &item.tok]);
            b.insert(&p.breakglass, by_seq_key(tno, seq), by_seq);
        }
        Ok(())
    }
}

/// An item indexed earlier, with its latest review.
fn load(p: &Parts, tno: u32, seq: u64) -> Result<Option<Item>, QueryError> {
    let Some((time, tok)) = locate(p, tno, seq)? else {
        return Ok(None);
    };
    let reviewed = keys::cat(&[&prefix(tno, REVIEWED), &keys::pos((time, seq))]);
    let latest = match p.breakglass.get(reviewed)? {
        Some(v) => Some(Latest::decode(&v).ok_or_else(corrupt)?),
        None => None,
    };
    Ok(Some(Item { time, tok, latest }))
}

/// The time and actor token of break-glass access `seq`, if it is one.
pub(crate) fn locate(
    p: &Parts,
    tno: u32,
    seq: u64,
) -> Result<Option<(Timestamp, [u8; TOKEN])>, QueryError> {
    let Some(v) = p.breakglass.get(by_seq_key(tno, seq))? else {
        return Ok(None);
    };
    let time = keys::parse_time(v.get(..keys::TIME).ok_or_else(corrupt)?).ok_or_else(corrupt)?;
    let tok = v
        .get(keys::TIME..keys::TIME + TOKEN)
        .and_then(|t| t.try_into().ok())
        .ok_or_else(corrupt)?;
    Ok(Some((time, tok)))
}

pub(crate) fn corrupt() -> QueryError {
    QueryError::Corrupt("break-glass queue entry".into())
}
