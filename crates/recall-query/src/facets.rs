//! Facet counts of a search: how many of the events a filter matches have each action,
//! outcome, actor role and source system — what the console shows beside a timeline and
//! `GET /v1/events/facets` answers.
//!
//! Invariants:
//! - [`Db::facet_counts`]: a filter made only of action, outcome, system and a time
//!   window is counted whole, from the facet cube (`cube.rs`) and, for the hours the cube
//!   cannot answer whole, from the time index's posting lists; one that also names a
//!   patient or an actor, whole from their posting lists (`facet_lists.rs`). Neither
//!   reads an event body.
//! - [`Db::facets`], and `facet_counts` for any other filter, is bounded: at most `max` matching events are counted, newest
//!   first (event time, then seq, descending); [`Facets::complete`] says whether that was
//!   all of them; [`Prepared::counts_whole`] says which path a filter takes.
//! - Values leave through the caller's lens, as the events would: a withheld role or
//!   system is not counted under any value, a pseudonymised one under its pseudonym.
//! - The same walk as a search (same filter checks, same horizon), ignoring its cursor:
//!   counts are of the whole filter, not of one page.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cube::Values;
use crate::db::{Db, Tenant};
use crate::disclose::{Field, Lens};
use crate::error::QueryError;
use crate::search::{Compiled, Order, Prepared, Walk};

/// Most events one facet count reads unless the caller asks for fewer.
pub const MAX_FACET_EVENTS: usize = 10_000;

/// Counts per value of each faceted field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Matching events counted.
    pub counted: u64,
    /// Whether every matching event was counted (else only the newest `counted`).
    pub complete: bool,
    /// By `action`.
    pub action: BTreeMap<String, u64>,
    /// By `outcome` (absent is `success`).
    pub outcome: BTreeMap<String, u64>,
    /// By `actor.role`, as the lens shows it.
    pub role: BTreeMap<String, u64>,
    /// By `source.system`, as the lens shows it.
    pub system: BTreeMap<String, u64>,
}

/// The faceted fields of a stored event (its canonical JSON).
#[derive(Deserialize)]
struct Faceted<'a> {
    #[serde(borrow)]
    action: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    outcome: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    actor: Named<'a>,
    #[serde(default, borrow)]
    source: Option<Named<'a>>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(default, borrow)]
    role: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    system: Option<std::borrow::Cow<'a, str>>,
}

impl Facets {
    fn add(&mut self, lens: &Lens, canonical: &[u8]) -> Result<(), QueryError> {
        let e: Faceted<'_> = serde_json::from_slice(canonical)
            .map_err(|_| QueryError::Corrupt("a stored event lacks action or actor".into()))?;
        let v = Values {
            action: &e.action,
            outcome: e.outcome.as_deref().unwrap_or("success"),
            role: e.actor.role.as_deref(),
            system: e.source.as_ref().and_then(|s| s.system.as_deref()),
        };
        self.count(lens, &v, 1);
        Ok(())
    }

    /// Adds another part's counts (of other events).
    pub(crate) fn merge(&mut self, other: Facets) {
        self.counted += other.counted;
        self.complete &= other.complete;
        for (mine, theirs) in [
            (&mut self.action, other.action),
            (&mut self.outcome, other.outcome),
            (&mut self.role, other.role),
            (&mut self.system, other.system),
        ] {
            for (value, n) in theirs {
                *mine.entry(value).or_default() += n;
            }
        }
    }

    /// Counts `n` events with the values `v` if they satisfy the action, outcome and
    /// system filters of `filter` (the filters a combination answers).
    pub(crate) fn count_matching(
        &mut self,
        filter: &Compiled,
        lens: &Lens,
        v: &Values<'_>,
        n: u64,
    ) {
        let f = &filter.f;
        if f.action.as_deref().is_none_or(|a| a == v.action)
            && f.outcome.as_deref().is_none_or(|o| o == v.outcome)
            && filter.holds(Field::SourceSystem, &f.system, v.system.map(str::as_bytes))
        {
            self.count(lens, v, n);
        }
    }

    /// Counts `n` events with the values `v`, role and system through `lens`.
    pub(crate) fn count(&mut self, lens: &Lens, v: &Values<'_>, n: u64) {
        self.counted += n;
        bump(&mut self.action, v.action, n);
        bump(&mut self.outcome, v.outcome, n);
        if let Some(role) = v.role
            && let Some(shown) = lens.disclose(Field::ActorRole, role)
        {
            bump(&mut self.role, &shown, n);
        }
        if let Some(system) = v.system
            && let Some(shown) = lens.disclose(Field::SourceSystem, system)
        {
            bump(&mut self.system, &shown, n);
        }
    }
}

fn bump(m: &mut BTreeMap<String, u64>, value: &str, n: u64) {
    match m.get_mut(value) {
        Some(c) => *c += n,
        None => {
            m.insert(value.to_owned(), n);
        }
    }
}

impl Prepared {
    /// Whether [`Db::facet_counts`] counts this filter whole (from the index, no bound)
    /// rather than walking at most [`MAX_FACET_EVENTS`] events.
    pub fn counts_whole(&self) -> bool {
        crate::cube::lists_answer(&self.filter.f)
    }
}

impl Db {
    /// Counts the facets of the events a prepared search matches below `horizon`, its
    /// cursor and order ignored: a filter of action, outcome, system and time only is
    /// counted whole from the facet cube (`cube.rs`); one that also names a patient or an
    /// actor, whole from their posting lists (`facet_lists.rs`); any other as
    /// [`Db::facets`] with [`MAX_FACET_EVENTS`].
    pub fn facet_counts(&self, p: &Prepared, horizon: u64) -> Result<Facets, QueryError> {
        match &p.t {
            Some(t) if crate::cube::answers(&p.filter.f) => self.cube_facets(p, t, horizon),
            Some(t) if crate::cube::lists_answer(&p.filter.f) => {
                self.list_facets(p, t, &p.filter, horizon)
            }
            _ => self.facets(p, horizon, MAX_FACET_EVENTS),
        }
    }

    /// Counts the facets of the newest `max` (1 to [`MAX_FACET_EVENTS`]) events a
    /// prepared search matches below `horizon`, reading each; its cursor and order are
    /// ignored.
    pub fn facets(&self, p: &Prepared, horizon: u64, max: usize) -> Result<Facets, QueryError> {
        let Some(t) = &p.t else {
            return Ok(Facets {
                complete: true,
                ..Facets::default()
            });
        };
        self.walk_facets(p, t, &p.filter, horizon, max.clamp(1, MAX_FACET_EVENTS))
    }

    /// The facets of the newest `max` matches of `filter`, read event by event.
    pub(crate) fn walk_facets(
        &self,
        p: &Prepared,
        t: &Tenant,
        filter: &Compiled,
        horizon: u64,
        max: usize,
    ) -> Result<Facets, QueryError> {
        let max = max.clamp(1, usize::MAX - 1);
        let mut out = Facets {
            complete: true,
            ..Facets::default()
        };
        let full = Lens::full();
        let lens = p.filter.f.lens.as_ref().unwrap_or(&full);
        let walk = Walk {
            tenant: &p.tenant,
            t,
            filter,
            order: Order::Desc,
            after: None,
            horizon,
            want: max.saturating_add(1),
        };
        let mut seen = 0usize;
        self.walk(&walk, &mut |hit| {
            seen += 1;
            if seen > max {
                out.complete = false;
                return Ok(false);
            }
            out.add(lens, &hit.canonical)?;
            Ok(true)
        })?;
        Ok(out)
    }
}
