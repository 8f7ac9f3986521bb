//! Reviewing a break-glass access: the one workflow the API's `POST
//! /v1/reviews/break-glass/{seq}` and `recall reviews break-glass review` share. A review
//! is an event recall appends to the tenant's log naming the access's seq and leaf hash;
//! the index's queue (recall-query `breakglass.rs`) picks it up from there.
//!
//! Invariants:
//! - Only a break-glass access (purpose `ETREAT`) that the log holds and that is readable
//!   can be reviewed, and never by the person who made it.
//! - Reviews are never edited: a later one supersedes, both stay in the log.
//! - Errors name the field at fault, never an identifier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use recall_query::{BREAK_GLASS, DISPOSITIONS, Db, Lookup};
use serde_json::{Map, Value, json};

use crate::GovernanceError;
use crate::record::{Act, Who};
use crate::workflows::Actor;

/// Longest review note, in characters (the event format's limit for `reason`).
pub const MAX_NOTE_CHARS: usize = 2048;

/// Why a review was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    /// The disposition is not one of [`DISPOSITIONS`].
    #[error("disposition must be appropriate, inappropriate, needs-follow-up or education")]
    BadDisposition,
    /// The note is empty, too long or has control characters other than line breaks.
    #[error("note must be 1 to 2048 characters without control characters other than line breaks")]
    BadNote,
    /// The tenant's log holds no event at this seq.
    #[error("seq: the log holds no event at this seq")]
    UnknownSeq,
    /// The event at this seq is no break-glass access.
    #[error("seq: the event at this seq is not a break-glass access (purpose ETREAT)")]
    NotBreakGlass,
    /// The event was shredded by retention; there is nothing left to review.
    #[error("seq: the event at this seq was shredded by the retention policy")]
    Shredded,
    /// The reviewer made the access.
    #[error("a reviewer may not review their own break-glass access")]
    OwnAccess,
}

/// What a review records (`detail.review` of its event; the note goes in `reason`).
#[derive(Debug, Clone)]
pub struct ReviewRecord<'a> {
    /// The access's seq.
    pub seq: u64,
    /// Its RFC 9162 leaf hash.
    pub leaf_hash: [u8; 32],
    /// One of [`DISPOSITIONS`].
    pub disposition: &'a str,
    /// The reviewer's note.
    pub note: Option<&'a str>,
}

impl ReviewRecord<'_> {
    pub(crate) fn fill(&self, e: &mut Value, detail: &mut Map<String, Value>) {
        detail.insert(
            "review".into(),
            json!({
                "seq": self.seq,
                "leaf_hash": B64.encode(self.leaf_hash),
                "disposition": self.disposition,
            }),
        );
        if let Some(n) = self.note {
            e["reason"] = json!(n);
        }
    }
}

/// A review to record.
pub struct ReviewRequest<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The access's seq.
    pub seq: u64,
    /// The disposition.
    pub disposition: &'a str,
    /// The note.
    pub note: Option<&'a str>,
}

/// Checks the review and records it in the tenant's log (durably, before returning).
/// Returns the access's leaf hash.
pub fn review_break_glass(
    db: &Db,
    by: &Actor<'_>,
    req: &ReviewRequest<'_>,
) -> Result<[u8; 32], GovernanceError> {
    if !DISPOSITIONS.contains(&req.disposition) {
        return Err(ReviewError::BadDisposition.into());
    }
    if let Some(n) = req.note {
        let chars = n.chars().count();
        if chars == 0 || chars > MAX_NOTE_CHARS || n.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ReviewError::BadNote.into());
        }
    }
    let access = match db.get(req.tenant, req.seq)? {
        Lookup::Found(f) => f.event,
        Lookup::NotFound => return Err(ReviewError::UnknownSeq.into()),
        Lookup::Unreadable { .. } => return Err(ReviewError::Shredded.into()),
    };
    if access.purpose.as_deref() != Some(BREAK_GLASS) {
        return Err(ReviewError::NotBreakGlass.into());
    }
    if same_person(by.who, &access.actor.id) {
        return Err(ReviewError::OwnAccess.into());
    }
    let leaf_hash = db.journal().leaf(req.tenant, req.seq)?;
    let record = ReviewRecord {
        seq: req.seq,
        leaf_hash,
        disposition: req.disposition,
        note: req.note,
    };
    let event = Act::BreakGlassReviewed(&record).event(by.who, by.via, Timestamp::now())?;
    by.recorder.record(req.tenant, event)?;
    Ok(leaf_hash)
}

/// Whether the reviewer is the access's actor: the credential's identity as recall names
/// it (`jwt:<sub>`, `key:<id>`, `cli:<user>`) or without that prefix, as an EHR names
/// the same person in `actor.id`.
pub fn same_person(who: &Who, actor: &str) -> bool {
    let bare = who
        .id
        .split_once(':')
        .map_or(who.id.as_str(), |(_, rest)| rest);
    who.id == actor || bare == actor
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::Via;

    #[test]
    fn the_record_is_what_the_queue_recognises_when_recall_appended_it() {
        let record = ReviewRecord {
            seq: 41,
            leaf_hash: [7; 32],
            disposition: "needs-follow-up",
            note: Some("ask the ward"),
        };
        let who = Who::operator("officer");
        let via = Via::cli("recall reviews break-glass review");
        let e = Act::BreakGlassReviewed(&record)
            .event(&who, &via, Timestamp::now())
            .unwrap();
        assert_eq!(e.reason.as_deref(), Some("ask the ward"));
        assert_eq!(e.resource.as_ref().unwrap().id.as_deref(), Some("41"));
        let review = &e.detail.as_ref().unwrap()["review"];
        assert_eq!(review["leaf_hash"], B64.encode([7; 32]));
        let code = DISPOSITIONS
            .iter()
            .position(|d| *d == "needs-follow-up")
            .unwrap() as u8;
        assert_eq!(
            recall_query::review_of(&e, Some("recall:cli")),
            Some((41, code))
        );
        assert_eq!(recall_query::review_of(&e, Some("key:0123")), None);
        assert_eq!(recall_query::review_of(&e, None), None);
    }

    #[test]
    fn the_reviewer_is_matched_with_and_without_its_prefix() {
        let who = |id: &str| Who {
            id: id.into(),
            role: None,
            kind: "user",
        };
        assert!(same_person(&who("jwt:dr-a"), "dr-a"));
        assert!(same_person(&who("jwt:dr-a"), "jwt:dr-a"));
        assert!(same_person(&who("cli:ops"), "ops"));
        assert!(!same_person(&who("jwt:dr-a"), "dr-b"));
        assert!(!same_person(&who("key:0011"), "dr-a"));
    }
}
