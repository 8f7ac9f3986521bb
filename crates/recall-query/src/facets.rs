//! Facet counts of a search: how many of the events a filter matches have each action,
//! outcome, actor role and source system — what the console shows beside a timeline and
//! `GET /v1/events/facets` answers.
//!
//! Invariants:
//! - Bounded: at most `max` matching events are counted, newest first (event time, then
//!   seq, descending); [`Facets::complete`] says whether that was all of them.
//! - Values leave through the caller's lens, as the events would: a withheld role or
//!   system is not counted under any value, a pseudonymised one under its pseudonym.
//! - The same walk as a search (same filter checks, same horizon), ignoring its cursor:
//!   counts are of the whole filter, not of one page.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::db::Db;
use crate::disclose::{Field, Lens};
use crate::error::QueryError;
use crate::search::{Order, Prepared, Walk};

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
        self.counted += 1;
        bump(&mut self.action, &e.action);
        bump(&mut self.outcome, e.outcome.as_deref().unwrap_or("success"));
        if let Some(role) = e.actor.role.as_deref()
            && let Some(shown) = lens.disclose(Field::ActorRole, role)
        {
            bump(&mut self.role, &shown);
        }
        if let Some(system) = e.source.as_ref().and_then(|s| s.system.as_deref())
            && let Some(shown) = lens.disclose(Field::SourceSystem, system)
        {
            bump(&mut self.system, &shown);
        }
        Ok(())
    }
}

fn bump(m: &mut BTreeMap<String, u64>, value: &str) {
    match m.get_mut(value) {
        Some(n) => *n += 1,
        None => {
            m.insert(value.to_owned(), 1);
        }
    }
}

impl Db {
    /// Counts the facets of the newest `max` (1 to [`MAX_FACET_EVENTS`]) events a
    /// prepared search matches below `horizon`; its cursor and order are ignored.
    pub fn facets(&self, p: &Prepared, horizon: u64, max: usize) -> Result<Facets, QueryError> {
        let max = max.clamp(1, MAX_FACET_EVENTS);
        let mut out = Facets {
            complete: true,
            ..Facets::default()
        };
        let Some(t) = &p.t else {
            return Ok(out);
        };
        let full = Lens::full();
        let lens = p.filter.f.lens.as_ref().unwrap_or(&full);
        let walk = Walk {
            tenant: &p.tenant,
            t,
            filter: &p.filter,
            order: Order::Desc,
            after: None,
            horizon,
            want: max + 1,
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
