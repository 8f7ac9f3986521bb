//! The periodic access review (HIPAA's review of who has access to PHI): every actor who
//! touched PHI in a period, with the workforce roster's view of them, and recall's own
//! credentials that read PHI. Computed from the log's summary index in one pass
//! ([`Db::summaries`], `tally.rs`): no client event's body is decrypted except the few
//! whose contents the review shows (each actor's id, role and name). Memory grows with
//! actors, distinct patients and distinct (actor, patient) pairs of the period (bounds in
//! `tally.rs`), never with the clients' events.
//!
//! Definitions (docs/design/governance.md "Access review"):
//! - An access to PHI is a client event (not recall's own, `source.system` `recall` or
//!   `recall-cli`) that names a patient, with `time` in `[from, to)`.
//! - Break-glass: purpose `ETREAT`. Denials and failures: outcome `denied`, `failure`.
//! - With a roster: an actor whose id is no roster `user_id` is "not in roster"; a
//!   `terminated` or `leave` member with accesses at or after `status_date` is listed
//!   with the hours from that date to their last access (over 24 h is flagged); an
//!   `active` member without accesses in the period is dormant.
//! - Credentials: recall's own events name the credential that acted (`key:<id>`,
//!   `jwt:<sub>`) and its role; those of a role that reads PHI are listed with their uses
//!   in the period and the last, with every API key of such a role valid in the period.
//!
//! Patients are never listed, only counted. Everything shown passes the caller's lens.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use recall_query::{Db, QueryError, TimeRange, Token};
use serde::Serialize;

use crate::credentials::{KeyInfo, Role};
use crate::roster::{Status, Workforce};

/// Hours after a termination or leave date within which access changes should have
/// taken effect (proposed HIPAA Security Rule).
pub const GRACE_HOURS: i64 = 24;

/// One actor's accesses in the period (before any lens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActorRow {
    /// Role last seen on their events.
    pub role: Option<String>,
    /// Name last seen on their events.
    pub name: Option<String>,
    /// Accesses.
    pub events: u64,
    /// Distinct patients.
    pub patients: u64,
    /// Break-glass accesses (purpose `ETREAT`).
    pub break_glass: u64,
    /// Outcome `denied`.
    pub denied: u64,
    /// Outcome `failure`.
    pub failed: u64,
    /// Earliest access.
    pub first: Option<Timestamp>,
    /// Latest access.
    pub last: Option<Timestamp>,
    /// Accesses at or after the roster's `status_date` (terminated or leave members).
    pub after_status: u64,
}

/// One credential's uses of recall in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialRow {
    /// Its role.
    pub role: Option<String>,
    /// Acts recorded by it in the period.
    pub uses: u64,
    /// The latest.
    pub last_use: Option<Timestamp>,
    /// Revoked, when an API key was.
    pub revoked: Option<Timestamp>,
}

/// The review before any lens: what [`compute`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The tenant.
    pub tenant: String,
    /// The period.
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// Actors by id.
    pub actors: BTreeMap<String, ActorRow>,
    /// Credentials that read PHI, by `key:<id>` or `jwt:<sub>`.
    pub credentials: BTreeMap<String, CredentialRow>,
    /// The roster, when one was imported.
    pub roster: Option<Workforce>,
}

/// Whether `id` (`key:…`/`jwt:…`) acting with `role` is a credential that reads PHI.
fn phi_credential(id: &str, role: Option<&str>) -> bool {
    (id.starts_with("key:") || id.starts_with("jwt:"))
        && role
            .and_then(|r| r.parse::<Role>().ok())
            .is_some_and(Role::reads_phi)
}

/// The roster's date from which a member's accesses are "after status", if any.
fn status_since(roster: Option<&Workforce>, actor: &str) -> Option<Timestamp> {
    let m = roster?.members.get(actor)?;
    match m.status {
        Status::Active => None,
        Status::Terminated | Status::Leave => m.status_date,
    }
}

/// Computes the review of `tenant` over `[from, to)`: `roster` is the tenant's workforce
/// roster, `keys` the tenant's API keys (for keys that read PHI but were not used).
pub fn compute(
    db: &Db,
    tenant: &str,
    range: TimeRange,
    roster: Option<Workforce>,
    keys: &[KeyInfo],
) -> Result<Review, QueryError> {
    let (Some(from), Some(to)) = (range.from, range.to) else {
        return Err(QueryError::BadFilter {
            field: "from",
            message: "an access review needs a period: from and to".into(),
        });
    };
    if from >= to {
        return Err(QueryError::BadFilter {
            field: "to",
            message: "must be later than from".into(),
        });
    }
    let horizon = db.indexed(tenant)?;
    let since = roster_dates(db, tenant, roster.as_ref())?;
    let mut tally = tally::Tally::default();
    db.summaries(tenant, from, to, horizon, &mut |s| tally.add(s, &since))?;
    let (actors, own) = tally.actors(db, tenant)?;
    let mut credentials = tally::credentials(db, tenant, &own)?;
    for k in keys
        .iter()
        .filter(|k| k.tenant == tenant && k.role.reads_phi())
    {
        let valid = k.created < to && k.revoked.is_none_or(|r| r >= from);
        if valid {
            let c = credentials.entry(format!("key:{}", k.id)).or_default();
            c.role = Some(k.role.as_str().to_owned());
            c.revoked = k.revoked;
        }
    }
    Ok(Review {
        tenant: tenant.to_owned(),
        from,
        to,
        actors,
        credentials,
        roster,
    })
}

/// The roster's "after status" dates (terminated and on-leave members) by actor token.
fn roster_dates(
    db: &Db,
    tenant: &str,
    roster: Option<&Workforce>,
) -> Result<HashMap<Token, Timestamp>, QueryError> {
    let mut out = HashMap::new();
    for id in roster.iter().flat_map(|r| r.members.keys()) {
        if let (Some(date), Some(token)) = (
            status_since(roster, id),
            db.summary_token(tenant, "actor", id)?,
        ) {
            out.insert(token, date);
        }
    }
    Ok(out)
}

/// What a reviewer signs: who, which period, and the SHA-256 (lowercase hex) of the exact
/// JSON report they reviewed (the body of `GET /v1/reports/access-review?format=json`,
/// also given in its `Recall-Report-Sha256` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signoff {
    /// The reviewer, as they name themselves (1 to 200 characters).
    pub reviewer: String,
    /// Start of the period reviewed.
    pub from: Timestamp,
    /// End of the period reviewed (exclusive).
    pub to: Timestamp,
    /// SHA-256 of the report's JSON bytes.
    pub sha256: String,
}

impl Signoff {
    /// Checks the fields, naming the one at fault.
    pub fn check(&self) -> Result<(), crate::GovernanceError> {
        let invalid = |field, message: &str| crate::GovernanceError::Invalid {
            field,
            message: message.to_owned(),
        };
        let n = self.reviewer.chars().count();
        if n == 0 || n > 200 || self.reviewer.chars().any(char::is_control) {
            return Err(invalid(
                "reviewer",
                "must be 1 to 200 characters without control characters",
            ));
        }
        if self.from >= self.to {
            return Err(invalid("to", "must be later than from"));
        }
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if self.sha256.len() != 64 || !self.sha256.chars().all(hex) {
            return Err(invalid("sha256", "must be 64 lowercase hex digits"));
        }
        Ok(())
    }
}

/// Records a sign-off in the tenant's log.
pub fn sign_off(
    by: &crate::workflows::Actor<'_>,
    tenant: &str,
    signoff: &Signoff,
) -> Result<(), crate::GovernanceError> {
    signoff.check()?;
    by.record(tenant, crate::record::Act::AccessReviewSignedOff(signoff))
}

pub mod pdf;
pub mod render;
mod tally;

/// SHA-256 (lowercase hex) of a report's bytes: what a sign-off names.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Act, Via, Who};
    use std::collections::BTreeMap;

    #[test]
    fn signoff_and_roster_records_are_valid_events_without_contents() {
        let s = Signoff {
            reviewer: "Reviewer".into(),
            from: "2026-01-01T00:00:00Z".parse().unwrap(),
            to: "2026-04-01T00:00:00Z".parse().unwrap(),
            sha256: "0".repeat(64),
        };
        s.check().unwrap();
        let (who, via) = (
            Who::operator("op"),
            Via::cli("recall report access-review signoff"),
        );
        let e = Act::AccessReviewSignedOff(&s)
            .event(&who, &via, Timestamp::now())
            .unwrap();
        assert_eq!(
            (e.action.as_str(), e.purpose.as_deref()),
            ("approve", Some("HCOMPL"))
        );
        let counts = crate::roster::Counts {
            kind: "workforce",
            rows: 2,
            by: BTreeMap::from([("active".into(), 2)]),
        };
        let e = Act::RosterImported(&counts)
            .event(&who, &via, Timestamp::now())
            .unwrap();
        assert_eq!(e.resource.unwrap().kind, "Roster");
        for (bad, field) in [
            (
                Signoff {
                    sha256: "A".repeat(64),
                    ..s.clone()
                },
                "sha256",
            ),
            (
                Signoff {
                    reviewer: String::new(),
                    ..s.clone()
                },
                "reviewer",
            ),
            (Signoff { to: s.from, ..s }, "to"),
        ] {
            match bad.check() {
                Err(crate::GovernanceError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }
}
