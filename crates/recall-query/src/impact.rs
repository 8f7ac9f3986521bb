//! The events an incident touched: an incident scope (actors, source addresses, systems,
//! resource types, patients — each a list, any of which may be empty — and a time
//! window) walked over the same posting lists and exact filters as a search.
//!
//! Invariants:
//! - One walk per driving value (each patient, else each actor, else the time index):
//!   an event has one patient and one actor, so the walks never see an event twice.
//! - Exact: every hit is checked against its decrypted event; the distinct patients are
//!   counted by their keyed index token (memory bounded by distinct patients, never by
//!   events); nothing here keeps an event.
//! - Only seqs below the given horizon count, so a figure and the patient list computed
//!   later at the same horizon agree.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use jiff::Timestamp;
use recall_model::View;

use crate::db::Db;
use crate::error::QueryError;
use crate::read::Hit;
use crate::search::{Compiled, Filter, Order, Walk};

/// What an incident may have exposed: every list is "any of" (empty: no condition), and
/// the lists are combined with AND, within `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentScope {
    /// `actor.id` is one of these.
    pub actors: Vec<String>,
    /// `source.ip` is one of these (parsed addresses).
    pub ips: Vec<IpAddr>,
    /// `source.system` is one of these.
    pub systems: Vec<String>,
    /// `resource.type` is one of these.
    pub resource_types: Vec<String>,
    /// `patient.id` is one of these.
    pub patients: Vec<String>,
    /// Event `time` at or after.
    pub from: Timestamp,
    /// Event `time` before.
    pub to: Timestamp,
}

/// The figures of an incident scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impact {
    /// Accesses in scope.
    pub events: u64,
    /// Distinct patients among them.
    pub patients: u64,
    /// Accesses by outcome (`success`, `failure`, `denied`).
    pub by_outcome: BTreeMap<String, u64>,
    /// Accesses by action.
    pub by_action: BTreeMap<String, u64>,
}

/// One affected patient, for the notification list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    /// `patient.id`.
    pub patient: String,
    /// Accesses to the patient in scope.
    pub events: u64,
    /// Earliest and latest access time.
    pub first: Timestamp,
    /// See `first`.
    pub last: Timestamp,
}

impl IncidentScope {
    /// Whether the event (its view, and its resource type when the scope names types)
    /// is in scope beyond what the driving walk already holds.
    fn holds(&self, v: &View<'_>, resource_type: Option<&str>) -> bool {
        let any = |list: &[String], have: Option<&[u8]>| {
            list.is_empty() || have.is_some_and(|h| list.iter().any(|w| w.as_bytes() == h))
        };
        any(&self.actors, Some(&v.actor))
            && any(&self.patients, v.patient.as_deref())
            && any(&self.systems, v.system.as_deref())
            && (self.ips.is_empty() || v.ip.is_some_and(|ip| self.ips.contains(&ip)))
            && any(&self.resource_types, resource_type.map(str::as_bytes))
    }

    /// The filters of the walks to run, one per driving value.
    fn walks(&self) -> Vec<Filter> {
        let base = Filter {
            from: Some(self.from),
            to: Some(self.to),
            ..Filter::default()
        };
        if !self.patients.is_empty() {
            dedup(&self.patients)
                .map(|p| Filter {
                    patient: Some(p.clone()),
                    ..base.clone()
                })
                .collect()
        } else if !self.actors.is_empty() {
            dedup(&self.actors)
                .map(|a| Filter {
                    actor: Some(a.clone()),
                    ..base.clone()
                })
                .collect()
        } else {
            vec![base]
        }
    }
}

fn dedup(list: &[String]) -> impl Iterator<Item = &String> {
    let mut seen = HashSet::new();
    list.iter().filter(move |v| seen.insert(v.as_str()))
}

/// What `visit` gets for each access in scope: the patient (if any) and its token.
struct InScope<'h> {
    hit: &'h Hit,
    view: View<'h>,
    patient_token: Option<[u8; 32]>,
}

impl Db {
    /// Visits every access in `scope` below seq `horizon`, oldest first per walk.
    fn each_in_scope(
        &self,
        tenant: &str,
        scope: &IncidentScope,
        horizon: u64,
        visit: &mut dyn FnMut(InScope<'_>) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(());
        };
        for filter in scope.walks() {
            let compiled = Compiled::new(&filter)?;
            let walk = Walk {
                tenant,
                t: &t,
                filter: &compiled,
                order: Order::Asc,
                after: None,
                horizon,
                want: usize::MAX,
            };
            self.walk(&walk, &mut |hit| {
                let parsed;
                let fast = recall_model::view_canonical(&hit.canonical)
                    .filter(|_| scope.resource_types.is_empty());
                let (view, rtype) = match fast {
                    Some(v) => (v, None),
                    None => {
                        parsed = recall_model::parse_canonical(&hit.canonical)
                            .map_err(|e| QueryError::Corrupt(format!("event {}: {e}", hit.seq)))?;
                        let rtype = parsed.event.resource.as_ref().map(|r| r.kind.as_str());
                        (View::of(&parsed), rtype)
                    }
                };
                if scope.holds(&view, rtype) {
                    let patient_token = view
                        .patient
                        .as_deref()
                        .map(|p| t.indexer.token("patient", &String::from_utf8_lossy(p)));
                    visit(InScope {
                        hit: &hit,
                        view,
                        patient_token,
                    })?;
                }
                Ok(true)
            })?;
        }
        Ok(())
    }

    /// The figures of `scope` over the events below seq `horizon`. `new_patient` is
    /// called once per distinct affected patient (e.g. to count them by state).
    pub fn impact(
        &self,
        tenant: &str,
        scope: &IncidentScope,
        horizon: u64,
        new_patient: &mut dyn FnMut(&str) -> Result<(), QueryError>,
    ) -> Result<Impact, QueryError> {
        let mut impact = Impact::default();
        let mut seen: HashSet<[u8; 32]> = HashSet::new();
        self.each_in_scope(tenant, scope, horizon, &mut |s| {
            impact.events += 1;
            *impact
                .by_outcome
                .entry(s.view.outcome.as_str().to_string())
                .or_default() += 1;
            let action = String::from_utf8_lossy(&s.view.action).into_owned();
            *impact.by_action.entry(action).or_default() += 1;
            if let (Some(token), Some(p)) = (s.patient_token, s.view.patient.as_deref())
                && seen.insert(token)
            {
                new_patient(&String::from_utf8_lossy(p))?;
            }
            Ok(())
        })?;
        impact.patients = seen.len() as u64;
        Ok(impact)
    }

    /// The distinct patients of `scope` below seq `horizon`, sorted by patient id.
    pub fn affected_patients(
        &self,
        tenant: &str,
        scope: &IncidentScope,
        horizon: u64,
    ) -> Result<Vec<Affected>, QueryError> {
        let mut by_token: BTreeMap<[u8; 32], Affected> = BTreeMap::new();
        self.each_in_scope(tenant, scope, horizon, &mut |s| {
            let (Some(token), Some(p)) = (s.patient_token, s.view.patient.as_deref()) else {
                return Ok(());
            };
            let time = s.hit.time;
            let a = by_token.entry(token).or_insert_with(|| Affected {
                patient: String::from_utf8_lossy(p).into_owned(),
                events: 0,
                first: time,
                last: time,
            });
            a.events += 1;
            a.first = a.first.min(time);
            a.last = a.last.max(time);
            Ok(())
        })?;
        let mut out: Vec<Affected> = by_token.into_values().collect();
        out.sort_by(|a, b| a.patient.cmp(&b.patient));
        Ok(out)
    }
}
