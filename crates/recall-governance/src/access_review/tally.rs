//! The access review's one pass: every event of the period read from the summary index
//! ([`Db::summaries`]: time, actor and patient tokens, flags), never from its body; then
//! only the events whose contents the review shows are read whole — per actor the latest
//! one naming a role and the latest naming a name (or the latest at all, for the actor's
//! id), and recall's own events (the credentials).
//!
//! Memory: one row per actor, one entry per distinct patient of the period (its 16-byte
//! token and a number, ~40 bytes) and one per distinct (actor, patient) pair (8 bytes
//! and the set's overhead, ~10 bytes), plus the seqs of recall's own events in the
//! period. A quarter of the 10M-event hospital workload (8,000 actors, ~2M patients) stays
//! well under 100 MB; memory is never proportional to the clients' events.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use recall_model::{Event, Outcome};
use recall_query::{Db, QueryError, Summary, Token};

use super::{ActorRow, CredentialRow, phi_credential};

/// `(time, seq)`.
type Pos = (Timestamp, u64);

/// One actor while the pass runs, known by token.
struct Actor {
    row: ActorRow,
    /// Roster date from which accesses count as "after status".
    since: Option<Timestamp>,
    number: u32,
    latest: Pos,
    role_at: Option<Pos>,
    name_at: Option<Pos>,
}

/// What the pass has counted.
#[derive(Default)]
pub(super) struct Tally {
    actors: HashMap<Token, Actor>,
    patients: HashMap<Token, u32>,
    pairs: HashSet<u64>,
    /// Seqs of recall's own events.
    own: Vec<u64>,
}

impl Tally {
    /// Counts one event; `since` gives the roster dates by actor token.
    pub fn add(&mut self, s: &Summary, since: &HashMap<Token, Timestamp>) {
        if s.recall_own() {
            self.own.push(s.seq);
            return;
        }
        let Some(patient) = s.patient else {
            return;
        };
        let next = self.actors.len() as u32;
        let a = self.actors.entry(s.actor).or_insert_with(|| Actor {
            row: ActorRow::default(),
            since: since.get(&s.actor).copied(),
            number: next,
            latest: s.pos(),
            role_at: None,
            name_at: None,
        });
        let (time, pos) = (s.time, s.pos());
        let r = &mut a.row;
        r.events += 1;
        r.break_glass += u64::from(s.break_glass());
        r.denied += u64::from(s.outcome() == Outcome::Denied);
        r.failed += u64::from(s.outcome() == Outcome::Failure);
        r.first = Some(r.first.map_or(time, |f| f.min(time)));
        r.last = Some(r.last.map_or(time, |l| l.max(time)));
        r.after_status += u64::from(a.since.is_some_and(|d| time >= d));
        a.latest = a.latest.max(pos);
        if s.has_role() {
            a.role_at = Some(a.role_at.map_or(pos, |p| p.max(pos)));
        }
        if s.has_name() {
            a.name_at = Some(a.name_at.map_or(pos, |p| p.max(pos)));
        }
        let known = self.patients.len() as u32;
        let p = *self.patients.entry(patient).or_insert(known);
        self.pairs
            .insert((u64::from(a.number) << 32) | u64::from(p));
    }

    /// The actor rows by id: distinct patients from the pairs; id, role and name read
    /// from the events that last named them.
    pub fn actors(
        mut self,
        db: &Db,
        tenant: &str,
    ) -> Result<(BTreeMap<String, ActorRow>, Vec<u64>), QueryError> {
        let mut patients = vec![0u64; self.actors.len()];
        for pair in &self.pairs {
            patients[(pair >> 32) as usize] += 1;
        }
        let wanted: Vec<u64> = self
            .actors
            .values()
            .flat_map(|a| {
                [a.role_at.unwrap_or(a.latest).1]
                    .into_iter()
                    .chain(a.name_at.map(|p| p.1))
            })
            .collect();
        let events: HashMap<u64, Event> = db.events_at(tenant, &wanted)?.into_iter().collect();
        let mut out = BTreeMap::new();
        for (token, mut a) in self.actors.drain() {
            let id_at = a.role_at.unwrap_or(a.latest).1;
            let e = events.get(&id_at).ok_or_else(unreadable)?;
            if db.summary_token(tenant, "actor", &e.actor.id)? != Some(token) {
                return Err(QueryError::Corrupt(
                    "summary entry names another actor".into(),
                ));
            }
            a.row.patients = patients[a.number as usize];
            if a.role_at.is_some() {
                a.row.role.clone_from(&e.actor.role);
            }
            if let Some((_, seq)) = a.name_at {
                a.row.name = events.get(&seq).ok_or_else(unreadable)?.actor.name.clone();
            }
            out.insert(e.actor.id.clone(), a.row);
        }
        Ok((out, std::mem::take(&mut self.own)))
    }
}

/// The credentials that read PHI among recall's own events `own`, from their contents.
pub(super) fn credentials(
    db: &Db,
    tenant: &str,
    own: &[u64],
) -> Result<BTreeMap<String, CredentialRow>, QueryError> {
    let mut events = db.events_at(tenant, own)?;
    // The role kept is the one of the latest use, as events come in (time, seq) order.
    events.sort_by_key(|(seq, e)| (e.time, *seq));
    let mut credentials: BTreeMap<String, CredentialRow> = BTreeMap::new();
    for (_, e) in events {
        if phi_credential(&e.actor.id, e.actor.role.as_deref()) {
            let c = credentials.entry(e.actor.id.clone()).or_default();
            c.role.clone_from(&e.actor.role);
            c.uses += 1;
            c.last_use = Some(c.last_use.map_or(e.time, |l| l.max(e.time)));
        }
    }
    Ok(credentials)
}

fn unreadable() -> QueryError {
    QueryError::Corrupt("an event the summary names is not readable".into())
}
