//! What the log says about its own shredded months (docs/design/retention.md, "What verify
//! checks of a shredded month").
//!
//! A keystore tombstone (`forgotten_epochs`) says a month's keys were destroyed on
//! purpose. Whoever can write `keystore.db` can write one, so `verify` does not take it
//! on trust: every tombstone must be accounted for by recall's own records in the
//! tenant's log — the retention run that destroyed the keys (written before it did), and
//! the legal holds that were in force then.
//!
//! While verify decrypts the log it hands each readable block here ([`collect`]): a
//! substring test over the whole block rules out almost every block, and only events
//! recall appended itself count: `appended_by` `recall:…` (format v2, set by recall and
//! never by a client). An event of format v1 (no `appended_by`, appended before recall
//! recorded credentials) counts when it carries a reserved `source.system`
//! ([`recall_model::RESERVED_SYSTEMS`]); that weaker rule holds only for data written
//! before v2 (docs/design/retention.md). [`check`] then holds the tombstones against
//! what was found.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use memchr::memmem::Finder;
use serde::Deserialize;

use crate::retention::{RetentionRecord, epoch_end, in_ranges, split_key_epoch, years_before};

/// `detail.retention` in canonical form (JCS: no space before the value).
static RETENTION: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"retention\":"));
/// `resource.type` of a hold change.
static LEGAL_HOLD: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"LegalHold\""));

/// One of recall's own events that bears on shredding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// A retention run's record, written at `time`.
    Retention {
        /// The run's now.
        time: Timestamp,
        /// What it was about to destroy.
        record: RetentionRecord,
    },
    /// A hold placed or released.
    Hold(HoldSeen),
}

/// A legal hold as one of its records shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HoldSeen {
    id: String,
    created: Timestamp,
    released: Option<Timestamp>,
    /// `[from, to)` of a time hold.
    span: Option<(Timestamp, Timestamp)>,
}

#[derive(Deserialize)]
struct OwnEvent {
    action: String,
    appended_by: Option<String>,
    time: Timestamp,
    resource: Option<Resource>,
    source: Option<Source>,
    detail: Option<Detail>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Source {
    system: String,
}

#[derive(Deserialize)]
struct Detail {
    retention: Option<RetentionRecord>,
    hold: Option<HoldDetail>,
}

#[derive(Deserialize)]
struct HoldDetail {
    id: String,
    created: Timestamp,
    released: Option<Timestamp>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

/// Whether the decrypted block `plain` may hold one of recall's retention or hold records
/// (a cheap test; most blocks hold none).
pub(crate) fn may_hold(plain: &[u8]) -> bool {
    RETENTION.find(plain).is_some() || LEGAL_HOLD.find(plain).is_some()
}

/// Adds to `out` what the canonical event `body` records, if it is one of recall's
/// retention records or hold changes. Call for the events of blocks [`may_hold`] passes.
pub(crate) fn collect(body: &[u8], out: &mut Vec<Found>) {
    let retention = RETENTION.find(body).is_some();
    if !retention && LEGAL_HOLD.find(body).is_none() {
        return;
    }
    let Ok(e) = serde_json::from_slice::<OwnEvent>(body) else {
        return;
    };
    let own = match e.appended_by.as_deref() {
        Some(by) => recall_model::appended_by_recall(Some(by)),
        None => e
            .source
            .as_ref()
            .is_some_and(|s| recall_model::RESERVED_SYSTEMS.contains(&s.system.as_str())),
    };
    let (Some(resource), Some(detail), true) = (e.resource, e.detail, own) else {
        return;
    };
    match (resource.kind.as_str(), e.action.as_str()) {
        ("AuditEvent", "delete") => {
            if let Some(record) = detail.retention {
                out.push(Found::Retention {
                    time: e.time,
                    record,
                });
            }
        }
        ("LegalHold", "create" | "delete") => {
            if let Some(h) = detail.hold {
                out.push(Found::Hold(HoldSeen {
                    id: h.id,
                    created: h.created,
                    released: h.released,
                    span: h.from.zip(h.to),
                }));
            }
        }
        _ => {}
    }
}

/// Holds every keystore tombstone of a tenant (`(epoch, RFC 3339 time)`) against what
/// the log records (`found`, in any order). The first tombstone not accounted for: its
/// epoch and why.
pub(crate) fn check(tombstones: &[(u32, String)], found: &[Found]) -> Option<(u32, String)> {
    let records: Vec<(Timestamp, &RetentionRecord)> = found
        .iter()
        .filter_map(|f| match f {
            Found::Retention { time, record } => Some((*time, record)),
            Found::Hold(_) => None,
        })
        .collect();
    let holds = merge_holds(found);
    for (epoch, at) in tombstones {
        if let Err(why) = check_one(*epoch, at, &records, &holds) {
            return Some((*epoch, format!("epoch {epoch}: {why}")));
        }
    }
    None
}

/// Every hold the log mentions, its records merged: placed at the earliest `created`
/// seen, released at the earliest `released` seen.
fn merge_holds(found: &[Found]) -> BTreeMap<&str, HoldSeen> {
    let mut holds: BTreeMap<&str, HoldSeen> = BTreeMap::new();
    for f in found {
        let Found::Hold(h) = f else { continue };
        let m = holds.entry(h.id.as_str()).or_insert_with(|| h.clone());
        m.created = m.created.min(h.created);
        m.released = match (m.released, h.released) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        m.span = m.span.or(h.span);
    }
    holds
}

impl HoldSeen {
    /// Placed at or before `t` and not released at or before it.
    fn active_at(&self, t: Timestamp) -> bool {
        self.created <= t && self.released.is_none_or(|r| r > t)
    }
}

fn check_one(
    epoch: u32,
    at: &str,
    records: &[(Timestamp, &RetentionRecord)],
    holds: &BTreeMap<&str, HoldSeen>,
) -> Result<(), String> {
    let tombstone: Timestamp = at
        .parse()
        .map_err(|_| format!("keys destroyed, but the tombstone's time {at:?} is not a time"))?;
    let naming: Vec<_> = records
        .iter()
        .filter(|(_, r)| r.shredded_epochs.contains(&epoch))
        .collect();
    if naming.is_empty() {
        if records
            .iter()
            .any(|(_, r)| in_ranges(&r.previously_shredded, epoch))
        {
            return Ok(());
        }
        return Err(format!(
            "keys destroyed (tombstone at {at}) but no retention record in the log names it"
        ));
    }
    let (month, class) = split_key_epoch(epoch);
    let (Some(start), Some(end)) = (epoch_start(month), epoch_end(month)) else {
        return Err(format!("keys destroyed (tombstone at {at}) of no month"));
    };
    for (time, r) in naming {
        // The keystore keeps milliseconds.
        if time.as_millisecond() > tombstone.as_millisecond() {
            return Err(format!(
                "keys destroyed at {at}, before the retention record of {time} that names it"
            ));
        }
        let cutoff = match class {
            0 => r.cutoff,
            years => years_before(*time, years),
        };
        if end > cutoff {
            return Err(format!(
                "the retention record of {time} names it, but its month ends at {end}, \
                 after that run's cutoff {cutoff}: it was not past retention"
            ));
        }
        for (id, h) in holds {
            if !h.active_at(*time) {
                continue;
            }
            if let Some((from, to)) = h.span
                && from < end
                && to > start
            {
                return Err(format!(
                    "destroyed by the retention run of {time} while legal hold {id} \
                     (from {from} to {to}) held its month"
                ));
            }
            if let Some(listed) = &r.holds
                && !listed.iter().any(|l| l.id == *id)
            {
                return Err(format!(
                    "the retention record of {time} that names it leaves out legal hold \
                     {id}, active at that time in the log"
                ));
            }
        }
        for l in r.holds.iter().flatten() {
            if l.months.contains(&month) {
                return Err(format!(
                    "the retention record of {time} names it while saying legal hold {} \
                     kept its month",
                    l.id
                ));
            }
        }
    }
    Ok(())
}

/// The first instant of the month `month` (`yyyymm`).
fn epoch_start(month: u32) -> Option<Timestamp> {
    let (y, m) = (
        i16::try_from(month / 100).ok()?,
        i8::try_from(month % 100).ok()?,
    );
    let first = Date::new(y, m, 1).ok()?;
    first.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::retention::HeldMonths;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn record(cutoff: &str, epochs: &[u32], holds: Option<Vec<HeldMonths>>) -> RetentionRecord {
        RetentionRecord {
            years: 2,
            cutoff: at(cutoff),
            shredded_epochs: epochs.to_vec(),
            previously_shredded: Vec::new(),
            holds,
        }
    }

    fn run(time: &str, r: RetentionRecord) -> Found {
        Found::Retention {
            time: at(time),
            record: r,
        }
    }

    fn hold(id: &str, created: &str, released: Option<&str>, span: Option<(&str, &str)>) -> Found {
        Found::Hold(HoldSeen {
            id: id.into(),
            created: at(created),
            released: released.map(at),
            span: span.map(|(a, b)| (at(a), at(b))),
        })
    }

    const RUN: &str = "2026-03-15T12:00:00Z";
    const CUTOFF: &str = "2024-03-15T12:00:00Z";
    const LATER: &str = "2026-03-15T12:00:01.000Z";

    fn tomb(epoch: u32) -> Vec<(u32, String)> {
        vec![(epoch, LATER.to_string())]
    }

    #[test]
    fn canonical_bodies_of_recall_s_own_records_are_found_and_clients_are_not() {
        let r = serde_json::to_string(&record(CUTOFF, &[202302], Some(vec![]))).unwrap();
        let own = format!(
            r#"{{"action":"delete","actor":{{"id":"cli:a"}},"detail":{{"endpoint":"x","retention":{r}}},"outcome":"success","received":"{RUN}","resource":{{"type":"AuditEvent"}},"seq":4,"source":{{"system":"recall-cli"}},"tenant":"t","time":"{RUN}"}}"#
        );
        let client = own.replace("recall-cli", "ehr");
        // Format v2: only what recall appended counts, whatever the event claims.
        let own_v2 = own.replace(r#""detail""#, r#""appended_by":"recall:cli","detail""#);
        let forged_v2 = own.replace(r#""detail""#, r#""appended_by":"key:k-writer","detail""#);
        let hold = r#"{"action":"create","actor":{"id":"x"},"detail":{"hold":{"created":"2026-01-01T00:00:00Z","created_by":"x","from":"2023-01-01T00:00:00Z","id":"h1","kind":"time","matter":"m","released":null,"released_by":null,"to":"2023-02-01T00:00:00Z"}},"outcome":"success","received":"2026-01-01T00:00:00Z","resource":{"id":"h1","type":"LegalHold"},"seq":1,"source":{"system":"recall"},"tenant":"t","time":"2026-01-01T00:00:00Z"}"#;
        let block = format!("{own}{client}{hold}");
        assert!(may_hold(block.as_bytes()));
        assert!(!may_hold(br#"{"action":"read"}"#));
        let mut out = Vec::new();
        for body in [&own, &client, &forged_v2, &own_v2, hold] {
            collect(body.as_bytes(), &mut out);
        }
        assert_eq!(out.len(), 3, "{out:?}");
        for found in &out[..2] {
            assert!(
                matches!(found, Found::Retention { record, .. } if record.shredded_epochs == [202302])
            );
        }
        assert!(matches!(&out[2], Found::Hold(h) if h.id == "h1" && h.span.is_some()));
    }

    #[test]
    fn a_tombstone_needs_a_record_written_before_it_with_a_cutoff_past_its_month() {
        let ok = [run(RUN, record(CUTOFF, &[202302], None))];
        assert_eq!(check(&tomb(202302), &ok), None);
        let (e, why) = check(&tomb(202401), &ok).unwrap();
        assert_eq!(e, 202401);
        assert!(
            why.contains("no retention record in the log names it"),
            "{why}"
        );
        // The record came after the keys were gone.
        let late = vec![(202302, "2026-03-15T11:59:59.999Z".to_string())];
        assert!(
            check(&late, &ok)
                .unwrap()
                .1
                .contains("before the retention record")
        );
        // Same millisecond: the keystore's clock has no finer grain.
        let same = [run(
            "2026-03-15T12:00:00.000400Z",
            record(CUTOFF, &[202302], None),
        )];
        let t = vec![(202302, "2026-03-15T12:00:00.000Z".to_string())];
        assert_eq!(check(&t, &same), None);
        // Month ends after the cutoff.
        let bad = [run(RUN, record(CUTOFF, &[202403], None))];
        let why = check(&tomb(202403), &bad).unwrap().1;
        assert!(why.contains("not past retention"), "{why}");
        assert!(check(&tomb(202402), &[run(RUN, record(CUTOFF, &[202402], None))]).is_none());
        // A class with its own period: years before the run's time.
        assert!(
            check(
                &tomb(1_202_502),
                &[run(RUN, record(CUTOFF, &[1_202_502], None))]
            )
            .is_none()
        );
        let why = check(
            &tomb(1_202_503),
            &[run(RUN, record(CUTOFF, &[1_202_503], None))],
        )
        .unwrap()
        .1;
        assert!(why.contains("after that run's cutoff 2025-03-15"), "{why}");
    }

    #[test]
    fn previously_shredded_ranges_account_for_months_whose_record_is_gone() {
        let mut r = record(CUTOFF, &[202305], None);
        r.previously_shredded = vec![[202211, 202302]];
        let found = [run(RUN, r)];
        assert_eq!(check(&tomb(202301), &found), None);
        assert!(check(&tomb(202303), &found).is_some());
    }

    #[test]
    fn holds_active_at_the_run_must_not_cover_the_month_nor_be_left_out() {
        let time_hold = hold(
            "h1",
            "2026-01-01T00:00:00Z",
            None,
            Some(("2023-02-20T00:00:00Z", "2023-03-02T00:00:00Z")),
        );
        let r = || run(RUN, record(CUTOFF, &[202302], None));
        let why = check(&tomb(202302), &[r(), time_hold.clone()]).unwrap().1;
        assert!(why.contains("legal hold h1"), "{why}");
        // Released before the run, or placed after it: no matter.
        let released = hold(
            "h1",
            "2026-01-01T00:00:00Z",
            Some("2026-03-01T00:00:00Z"),
            Some(("2023-02-20T00:00:00Z", "2023-03-02T00:00:00Z")),
        );
        assert_eq!(check(&tomb(202302), &[r(), time_hold, released]), None);
        let after = hold(
            "h1",
            "2026-04-01T00:00:00Z",
            None,
            Some(("2023-02-20T00:00:00Z", "2023-03-02T00:00:00Z")),
        );
        assert_eq!(check(&tomb(202302), &[r(), after]), None);
        // A patient hold active at the run must be listed when the record lists holds.
        let patient = hold("p1", "2026-01-01T00:00:00Z", None, None);
        assert_eq!(
            check(&tomb(202302), &[r(), patient.clone()]),
            None,
            "old records list none"
        );
        let listed = |months: Vec<u32>| {
            run(
                RUN,
                record(
                    CUTOFF,
                    &[202302],
                    Some(vec![HeldMonths {
                        id: "p1".into(),
                        months,
                    }]),
                ),
            )
        };
        assert_eq!(
            check(&tomb(202302), &[listed(vec![202301]), patient.clone()]),
            None
        );
        let why = check(&tomb(202302), &[listed(vec![202302]), patient.clone()])
            .unwrap()
            .1;
        assert!(why.contains("legal hold p1 kept its month"), "{why}");
        let none = run(RUN, record(CUTOFF, &[202302], Some(vec![])));
        let why = check(&tomb(202302), &[none, patient]).unwrap().1;
        assert!(why.contains("leaves out legal hold p1"), "{why}");
    }
}
