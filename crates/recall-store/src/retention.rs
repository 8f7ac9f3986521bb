//! Retention by crypto-shredding: which epochs of a tenant's log are past its retention
//! period, and destroying their keys (docs/design/retention.md).
//!
//! An epoch (`yyyymm`, the calendar month of events' `time`, UTC) is past retention when
//! its last instant is older than `now − years`: every event in it is then past the
//! period. Destroying its data key and commitment secret makes its bodies unreadable
//! while the tree, tiles and checkpoints still verify.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan, tz::TimeZone};

use crate::error::{Result, StoreError};
use crate::journal::Journal;

/// Longest retention period accepted, in years.
pub const MAX_YEARS: u32 = 100;

/// How long each tenant's events are kept, by event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Years for tenants without their own setting (HIPAA: 6).
    pub default_years: u32,
    /// Per-tenant periods, in years.
    pub tenants: BTreeMap<String, u32>,
    /// Per-action periods, in years, for every tenant. Fixed into an event's key epoch
    /// when it is written ([`key_epoch`]): a later change applies to later events.
    pub actions: BTreeMap<String, u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            default_years: 6,
            tenants: BTreeMap::new(),
            actions: BTreeMap::new(),
        }
    }
}

/// The key epoch of events of `month` (`yyyymm`) kept `years` (0: the tenant's period at
/// the time of each retention run): `years × 1,000,000 + month`. Events with their own
/// period get keys of their own, so their month can be shredded apart from the rest.
pub fn key_epoch(month: u32, years: u32) -> u32 {
    years * 1_000_000 + month
}

/// The month (`yyyymm`) and the fixed period (0: the tenant's) of a key epoch.
pub fn split_key_epoch(epoch: u32) -> (u32, u32) {
    (epoch % 1_000_000, epoch / 1_000_000)
}

/// What a retention run writes in the tenant's log (`detail.retention` of its event)
/// before it destroys any key: `verify` holds every keystore tombstone against these
/// records (docs/design/retention.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetentionRecord {
    /// The tenant's period, years.
    pub years: u32,
    /// Events of the tenant's own class before this are past retention.
    pub cutoff: Timestamp,
    /// Key epochs this run destroys.
    pub shredded_epochs: Vec<u32>,
    /// Key epochs destroyed before this run (the keystore's tombstones when it began), as
    /// inclusive ranges of consecutive months: so a tombstone stays accounted for after
    /// the record that first named it is itself shredded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previously_shredded: Vec<[u32; 2]>,
    /// The holds active when the run began, with the months past retention each kept.
    /// `None` in records written before holds were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<Vec<HeldMonths>>,
}

/// One active hold as a retention run saw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldMonths {
    /// The hold's id.
    pub id: String,
    /// The months (`yyyymm`) past retention that it kept.
    pub months: Vec<u32>,
}

/// The key epoch after `epoch` in the same class (the next calendar month).
pub fn next_epoch(epoch: u32) -> u32 {
    if epoch % 100 == 12 {
        epoch + 89
    } else {
        epoch + 1
    }
}

/// `epochs` (any order) as inclusive ranges of consecutive key epochs, ascending.
pub fn epoch_ranges(epochs: &[u32]) -> Vec<[u32; 2]> {
    let mut sorted = epochs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<[u32; 2]> = Vec::new();
    for e in sorted {
        match out.last_mut() {
            Some(r) if next_epoch(r[1]) == e => r[1] = e,
            _ => out.push([e, e]),
        }
    }
    out
}

/// Whether `epoch` lies in one of `ranges` (from [`epoch_ranges`]).
pub fn in_ranges(ranges: &[[u32; 2]], epoch: u32) -> bool {
    ranges.iter().any(|[a, b]| {
        let mut e = *a;
        while e <= *b {
            if e == epoch {
                return true;
            }
            e = next_epoch(e);
        }
        false
    })
}

impl Retention {
    /// Checks every period is 1..=100 years; the error names the setting.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let ok = |y: u32| (1..=MAX_YEARS).contains(&y);
        if !ok(self.default_years) {
            return Err(format!("retention.default_years: must be 1..={MAX_YEARS}"));
        }
        for (t, y) in &self.tenants {
            if !ok(*y) {
                return Err(format!("retention.tenants.{t}: must be 1..={MAX_YEARS}"));
            }
        }
        for (a, y) in &self.actions {
            if !ok(*y) {
                return Err(format!("retention.actions.{a}: must be 1..={MAX_YEARS}"));
            }
        }
        Ok(())
    }

    /// The tenant's period, in years.
    pub fn years(&self, tenant: &str) -> u32 {
        self.tenants
            .get(tenant)
            .copied()
            .unwrap_or(self.default_years)
    }

    /// The fixed period of events with `action` (0: none, the tenant's applies).
    pub fn action_years(&self, action: &str) -> u32 {
        self.actions.get(action).copied().unwrap_or(0)
    }

    /// Events of `tenant` doing `action` whose time is before this are past retention.
    pub fn cutoff_for(&self, tenant: &str, action: &str, now: Timestamp) -> Timestamp {
        match self.action_years(action) {
            0 => self.cutoff(tenant, now),
            years => years_before(now, years),
        }
    }

    /// Events of `tenant` whose time is before this are past retention at `now`.
    pub fn cutoff(&self, tenant: &str, now: Timestamp) -> Timestamp {
        years_before(now, self.years(tenant))
    }

    /// Whether every event of key epoch `epoch` is past retention at `now`.
    pub fn epoch_expired(&self, tenant: &str, epoch: u32, now: Timestamp) -> bool {
        let (month, fixed) = split_key_epoch(epoch);
        let cutoff = match fixed {
            0 => self.cutoff(tenant, now),
            years => years_before(now, years),
        };
        epoch_end(month).is_some_and(|end| end <= cutoff)
    }
}

/// `now` minus `years` calendar years (UTC).
pub fn years_before(now: Timestamp, years: u32) -> Timestamp {
    now.to_zoned(TimeZone::UTC)
        .checked_sub(i64::from(years).years())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN)
}

/// The first instant after the month `epoch` (`yyyymm`).
pub fn epoch_end(epoch: u32) -> Option<Timestamp> {
    let (y, m) = (
        i16::try_from(epoch / 100).ok()?,
        i8::try_from(epoch % 100).ok()?,
    );
    let first = Date::new(y, m, 1).ok()?;
    let next = first.checked_add(1.month()).ok()?;
    next.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

impl Journal {
    /// The key epochs of `tenant` that still have keys and are past retention at `now`,
    /// ascending, leaving out those whose month `keep` says to keep (legal holds).
    pub fn expired_epochs(
        &self,
        tenant: &str,
        retention: &Retention,
        now: Timestamp,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<u32>> {
        let epochs = self.keystore().epochs(tenant)?;
        Ok(epochs
            .into_iter()
            .filter(|e| retention.epoch_expired(tenant, *e, now) && !keep(split_key_epoch(*e).0))
            .collect())
    }

    /// Destroys the keys of `epochs` of `tenant` (crypto-shredding), then overwrites their
    /// body blocks in sealed segments with zeros; returns the epochs whose keys existed.
    /// The keystore forgets them for good (`secure_delete`, WAL truncated).
    pub fn shred(&self, tenant: &str, epochs: &[u32]) -> Result<Vec<u32>> {
        let mut done = Vec::new();
        for &e in epochs {
            if self
                .keystore()
                .forget_epoch(tenant, e)
                .map_err(StoreError::from)?
            {
                done.push(e);
            }
        }
        // Keys first: once they are gone the blocks are unreadable whatever happens to the
        // rewrite. Every forgotten month is zeroed, not only these: blocks a cut-off run
        // or the active segment of an earlier run left are caught now (about monthly, as
        // months expire, instead of rescanning the log every day).
        if !epochs.is_empty() {
            let forgotten = self.keystore().forgotten_epochs(tenant)?;
            self.store()
                .shred_blocks(tenant, &forgotten.into_iter().collect())?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn an_epoch_expires_once_its_last_event_is_past_the_period() {
        let r = Retention::default();
        let now = at("2026-03-15T12:00:00Z");
        assert_eq!(r.cutoff("t", now), at("2020-03-15T12:00:00Z"));
        assert!(r.epoch_expired("t", 202002, now));
        // March 2020 still holds events after the cutoff.
        assert!(!r.epoch_expired("t", 202003, now));
        assert!(r.epoch_expired("t", 202003, at("2026-04-01T00:00:00Z")));
        assert!(!r.epoch_expired("t", 202003, at("2026-03-31T23:59:59Z")));
        assert!(!r.epoch_expired("t", 209912, now));
        assert!(!r.epoch_expired("t", 202013, now), "not a month");
    }

    #[test]
    fn an_action_with_its_own_period_gets_keys_of_its_own_and_expires_on_its_own() {
        let mut r = Retention::default();
        r.actions.insert("login".into(), 1);
        let now = at("2026-03-15T00:00:00Z");
        let login = key_epoch(202501, r.action_years("login"));
        let read = key_epoch(202501, r.action_years("read"));
        assert_eq!((login, read), (1_202_501, 202_501));
        assert_eq!(split_key_epoch(login), (202501, 1));
        assert!(r.epoch_expired("t", login, now));
        assert!(!r.epoch_expired("t", read, now));
        assert_eq!(r.cutoff_for("t", "login", now), at("2025-03-15T00:00:00Z"));
        assert_eq!(r.cutoff_for("t", "read", now), at("2020-03-15T00:00:00Z"));
        r.actions.insert("export".into(), 101);
        assert!(
            r.validate()
                .unwrap_err()
                .contains("retention.actions.export")
        );
    }

    #[test]
    fn epochs_compress_to_ranges_of_consecutive_months_per_class() {
        let r = epoch_ranges(&[202601, 202512, 202511, 202603, 1_202_512, 1_202_601]);
        assert_eq!(
            r,
            vec![[202511, 202601], [202603, 202603], [1_202_512, 1_202_601]]
        );
        assert!(in_ranges(&r, 202512) && in_ranges(&r, 1_202_601));
        assert!(!in_ranges(&r, 202602) && !in_ranges(&r, 202513));
    }

    #[test]
    fn tenants_may_keep_longer_or_shorter_and_bad_periods_are_named() {
        let mut r = Retention::default();
        r.tenants.insert("long".into(), 10);
        r.tenants.insert("short".into(), 1);
        let now = at("2026-03-15T00:00:00Z");
        assert!(!r.epoch_expired("long", 201901, now));
        assert!(r.epoch_expired("short", 202501, now));
        assert!(!r.epoch_expired("other", 202501, now));
        r.validate().unwrap();
        r.tenants.insert("bad".into(), 0);
        assert!(r.validate().unwrap_err().contains("retention.tenants.bad"));
    }
}
