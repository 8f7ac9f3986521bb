//! Reading the break-glass review queue: one page of items newest first (by event time,
//! then seq), keyed opaque cursors, an item with its review history, and the open and
//! overdue counts. The API and `recall reviews break-glass` both call these, and show
//! items only through the reader's [`Lens`].
//!
//! Invariants:
//! - An open page is a backward range scan of the open items alone (`tno ‖ 'O'`), so its
//!   cost does not grow with the reviewed history; `all` merges the open and reviewed
//!   ranges in the same order.
//! - A cursor resumes strictly after the last item returned and is refused for other
//!   parameters or another tenant: pages never skip or repeat.
//! - An actor filter is checked against the decrypted event (tokens may collide), and
//!   follows the lens like a search's (withheld: refused; pseudonymised: by pseudonym).

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::Bound;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::breakglass::{self, Latest, OPEN, REVIEWED, prefix};
use crate::db::{Db, Parts, Tenant};
use crate::disclose::{Field, Lens};
use crate::error::QueryError;
use crate::keys::{self, Pos, TOKEN};
use crate::params::time_param;
use crate::read::Lookup;
use crate::search::{Compiled, Filter, decode_cursor, encode_cursor, fingerprint_of, put_value};

/// Default review deadline, in days.
pub const DEFAULT_DEADLINE_DAYS: u32 = 7;
/// Default page size of the queue.
pub const DEFAULT_QUEUE_LIMIT: usize = 50;
/// Largest page of the queue.
pub const MAX_QUEUE_LIMIT: usize = 500;

/// How long a break-glass access may wait for its review, per tenant (`[reviews]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlines {
    /// Days, for tenants without their own setting.
    pub default_days: u32,
    /// Per-tenant days.
    pub tenants: BTreeMap<String, u32>,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            default_days: DEFAULT_DEADLINE_DAYS,
            tenants: BTreeMap::new(),
        }
    }
}

impl Deadlines {
    /// The tenant's deadline.
    pub fn for_tenant(&self, tenant: &str) -> SignedDuration {
        let days = self
            .tenants
            .get(tenant)
            .copied()
            .unwrap_or(self.default_days);
        SignedDuration::from_hours(24 * i64::from(days))
    }

    /// 1 to 365 days each; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |d: u32| (1..=365).contains(&d);
        if !ok(self.default_days) {
            return Err("reviews.break_glass_deadline_days: must be 1..=365".into());
        }
        match self.tenants.iter().find(|(_, d)| !ok(**d)) {
            Some((t, _)) => Err(format!("reviews.tenants.{t}: must be 1..=365 days")),
            None => Ok(()),
        }
    }
}

/// Which items a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    /// Not reviewed yet.
    Open,
    /// Reviewed at least once.
    Reviewed,
    /// Both.
    All,
}

/// Queue parameters as text, unchecked (the API's query string; the CLI's flags).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    /// `open` (default), `reviewed` or `all`.
    pub state: Option<String>,
    /// Event time from (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Event time until (RFC 3339, exclusive).
    pub to: Option<String>,
    /// `actor.id` of the access (a pseudonym for a role that sees pseudonyms).
    pub actor: Option<String>,
    /// Page size, 1 to [`MAX_QUEUE_LIMIT`].
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A checked queue request.
#[derive(Debug, Clone)]
pub struct ReviewQuery {
    /// Which items.
    pub state: ReviewState,
    /// Actor and time filters, with the reader's lens.
    pub filter: Filter,
    /// Page size.
    pub limit: usize,
    /// Resume after this cursor.
    pub cursor: Option<String>,
}

fn bad(field: &'static str, message: &str) -> QueryError {
    QueryError::BadFilter {
        field,
        message: message.to_owned(),
    }
}

impl ReviewParams {
    /// The checked request as `lens`'s reader may ask it; errors name the parameter.
    pub fn query(&self, lens: &Lens) -> Result<ReviewQuery, QueryError> {
        let state = match self.state.as_deref() {
            None | Some("open") => ReviewState::Open,
            Some("reviewed") => ReviewState::Reviewed,
            Some("all") => ReviewState::All,
            Some(_) => return Err(bad("state", "state must be open, reviewed or all")),
        };
        let limit = self.limit.unwrap_or(DEFAULT_QUEUE_LIMIT);
        if !(1..=MAX_QUEUE_LIMIT).contains(&limit) {
            return Err(bad("limit", "limit must be between 1 and 500"));
        }
        let filter = Filter {
            actor: self.actor.clone(),
            from: time_param("from", self.from.as_deref())?,
            to: time_param("to", self.to.as_deref())?,
            lens: Some(lens.clone()),
            ..Default::default()
        };
        Compiled::new(&filter)?;
        Ok(ReviewQuery {
            state,
            filter,
            limit,
            cursor: self.cursor.clone(),
        })
    }

    /// The parameters as the request's own audit event records them.
    pub fn recorded(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("queue".into(), json!("break-glass"));
        for (k, v) in [
            ("state", &self.state),
            ("from", &self.from),
            ("to", &self.to),
            ("actor", &self.actor),
            ("cursor", &self.cursor),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        if let Some(l) = self.limit {
            m.insert("limit".into(), json!(l));
        }
        m
    }
}

/// One review record of an item.
#[derive(Debug, Clone)]
pub struct Review {
    /// Seq of the review record.
    pub seq: u64,
    /// The disposition.
    pub disposition: &'static str,
    /// Its canonical bytes (reviewer, note, time).
    pub canonical: Vec<u8>,
}

/// One break-glass access in the queue.
#[derive(Debug, Clone)]
pub struct ReviewItem {
    /// The access's seq.
    pub seq: u64,
    /// Its event time.
    pub time: Timestamp,
    /// Its canonical bytes.
    pub canonical: Vec<u8>,
    /// The latest review, if reviewed (absent too when its record is unreadable).
    pub latest: Option<Review>,
    /// Whether the item is reviewed (by the index, even if the review is unreadable).
    pub reviewed: bool,
}

/// One page of the queue.
#[derive(Debug, Clone)]
pub struct ReviewPage {
    /// Items, newest first.
    pub items: Vec<ReviewItem>,
    /// Cursor of the next page; `None` when there is no more.
    pub next_cursor: Option<String>,
}

/// A ready queue request.
struct Ready<'a> {
    t: &'a Tenant,
    filter: Compiled,
    /// Actor token prefix to test before reading an event.
    tok: Option<[u8; TOKEN]>,
    after: Option<Pos>,
}

impl Db {
    /// One page of the tenant's break-glass queue, among the events below `horizon`.
    pub fn break_glass_page(
        &self,
        tenant: &str,
        q: &ReviewQuery,
        horizon: u64,
    ) -> Result<ReviewPage, QueryError> {
        let filter = Compiled::new(&q.filter)?;
        let Some(t) = self.tenant(tenant)? else {
            if q.cursor.is_some() {
                return Err(QueryError::BadCursor);
            }
            return Ok(ReviewPage {
                items: vec![],
                next_cursor: None,
            });
        };
        let fp = fingerprint(&t, q);
        let after = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &fp))
            .transpose()?;
        let tok = q.filter.actor.as_deref().map(|a| {
            let full = filter.token(&t, Field::ActorId, "actor", a);
            let mut tok = [0u8; TOKEN];
            tok.copy_from_slice(&full[..TOKEN]);
            tok
        });
        let ready = Ready {
            t: &t,
            filter,
            tok,
            after,
        };
        let parts = self.parts();
        let mut items = Vec::with_capacity(q.limit + 1);
        for entry in candidates(&parts, &ready, q) {
            let (key, value) = entry?;
            let (time, seq) = keys::parse_pos(&key).ok_or_else(breakglass::corrupt)?;
            if seq >= horizon
                || ready
                    .tok
                    .is_some_and(|t| value.get(..TOKEN) != Some(&t[..]))
            {
                continue;
            }
            let reviewed = key.get(keys::TNO) == Some(&REVIEWED);
            let latest = if reviewed {
                Some(Latest::decode(&value).ok_or_else(breakglass::corrupt)?)
            } else {
                None
            };
            if let Some(item) = self.item_at(tenant, &parts, &ready, (time, seq), latest)? {
                items.push(item);
                if items.len() > q.limit {
                    break;
                }
            }
        }
        let next_cursor = if items.len() > q.limit {
            items.truncate(q.limit);
            items.last().map(|i| encode_cursor(&fp, (i.time, i.seq)))
        } else {
            None
        };
        Ok(ReviewPage { items, next_cursor })
    }

    /// Reads an item's access (and latest review); `None` when it is unreadable
    /// (shredded) or its actor does not match.
    fn item_at(
        &self,
        tenant: &str,
        parts: &Parts,
        r: &Ready<'_>,
        (time, seq): Pos,
        latest: Option<Latest>,
    ) -> Result<Option<ReviewItem>, QueryError> {
        let Lookup::Found(access) = self.read_seq(tenant, r.t, parts, seq)? else {
            return Ok(None);
        };
        if !r.filter.actor_matches(&access.event.actor.id) {
            return Ok(None);
        }
        let review = match latest {
            Some(l) => self.review_at(tenant, r.t, parts, l.seq, l.disposition())?,
            None => None,
        };
        Ok(Some(ReviewItem {
            seq,
            time,
            canonical: access.canonical,
            latest: review,
            reviewed: latest.is_some(),
        }))
    }

    fn review_at(
        &self,
        tenant: &str,
        t: &Tenant,
        parts: &Parts,
        seq: u64,
        disposition: &'static str,
    ) -> Result<Option<Review>, QueryError> {
        Ok(match self.read_seq(tenant, t, parts, seq)? {
            Lookup::Found(f) => Some(Review {
                seq,
                disposition,
                canonical: f.canonical,
            }),
            _ => None,
        })
    }

    /// Break-glass access `seq` with every review of it, oldest first; `None` when the
    /// tenant's log holds no break-glass access at `seq` (or it is unreadable).
    pub fn break_glass_item(
        &self,
        tenant: &str,
        seq: u64,
    ) -> Result<Option<(ReviewItem, Vec<Review>)>, QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(None);
        };
        let parts = self.parts();
        let Some((time, _)) = breakglass::locate(&parts, t.no, seq)? else {
            return Ok(None);
        };
        let Lookup::Found(access) = self.read_seq(tenant, &t, &parts, seq)? else {
            return Ok(None);
        };
        let start = keys::cat(&[&prefix(t.no, breakglass::HISTORY), &seq.to_be_bytes()]);
        let mut history = Vec::new();
        for entry in parts.breakglass.prefix(&start) {
            let (key, value) = entry?;
            let rseq = key
                .get(start.len()..)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(breakglass::corrupt)?;
            let code = *value.first().ok_or_else(breakglass::corrupt)?;
            let name = breakglass::DISPOSITIONS
                .get(usize::from(code))
                .copied()
                .unwrap_or("unknown");
            if let Some(r) = self.review_at(tenant, &t, &parts, rseq, name)? {
                history.push(r);
            }
        }
        let item = ReviewItem {
            seq,
            time,
            canonical: access.canonical,
            latest: history.last().cloned(),
            reviewed: !history.is_empty(),
        };
        Ok(Some((item, history)))
    }

    /// Open and overdue (open, event time older than `now − deadline`) items of the
    /// tenant: a scan of the open items' keys, nothing decrypted. An access whose epoch
    /// keys retention destroyed is not counted: it can no longer be read or reviewed, and
    /// the queue's pages leave it out too.
    pub fn break_glass_counts(
        &self,
        tenant: &str,
        now: Timestamp,
        deadline: SignedDuration,
    ) -> Result<(u64, u64), QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok((0, 0));
        };
        let cutoff = keys::time(now.checked_sub(deadline).unwrap_or(Timestamp::MIN));
        let p = prefix(t.no, OPEN);
        let (mut open, mut overdue) = (0, 0);
        let parts = self.parts();
        let mut shredded = std::collections::HashMap::new();
        for entry in parts.breakglass.prefix(&p) {
            let (key, _) = entry?;
            let (_, seq) = keys::parse_pos(&key).ok_or_else(breakglass::corrupt)?;
            if self.is_shredded(tenant, &parts, t.no, seq, &mut shredded)? {
                continue;
            }
            open += 1;
            if key.get(p.len()..p.len() + keys::TIME) < Some(&cutoff[..]) {
                overdue += 1;
            }
        }
        Ok((open, overdue))
    }

    /// Whether the keys of `seq`'s epoch are gone (read from the block table and the
    /// keystore, nothing decrypted); `seen` remembers each epoch's answer.
    fn is_shredded(
        &self,
        tenant: &str,
        parts: &Parts,
        no: u32,
        seq: u64,
        seen: &mut std::collections::HashMap<u32, bool>,
    ) -> Result<bool, QueryError> {
        let Some((_, run)) = self.run_of(parts, no, seq)? else {
            return Ok(false);
        };
        if let Some(&gone) = seen.get(&run.epoch) {
            return Ok(gone);
        }
        let gone = self
            .journal
            .existing_epoch_keys(tenant, run.epoch)?
            .is_none();
        seen.insert(run.epoch, gone);
        Ok(gone)
    }
}

type Entries<'p> = Box<dyn Iterator<Item = fjall::Result<(fjall::Slice, fjall::Slice)>> + 'p>;

/// The queue's keys a page walks, newest first: one state's range, or both merged.
fn candidates<'p>(
    parts: &'p Parts,
    r: &Ready<'_>,
    q: &ReviewQuery,
) -> impl Iterator<Item = Result<(fjall::Slice, fjall::Slice), QueryError>> + 'p {
    let range = |tag: u8| -> Peekable<Entries<'p>> {
        let p = prefix(r.t.no, tag);
        let lo = match q.filter.from {
            Some(f) => keys::cat(&[&p, &keys::time(f)]),
            None => p.clone(),
        };
        let mut hi = prefix(r.t.no, tag + 1);
        if let Some(to) = q.filter.to {
            hi = hi.min(keys::cat(&[&p, &keys::time(to)]));
        }
        if let Some(after) = r.after {
            hi = hi.min(keys::cat(&[&p, &keys::pos(after)]));
        }
        let it: Entries<'p> = if lo < hi {
            Box::new(
                parts
                    .breakglass
                    .range((Bound::Included(lo), Bound::Excluded(hi)))
                    .rev(),
            )
        } else {
            Box::new(std::iter::empty())
        };
        it.peekable()
    };
    let none = || -> Peekable<Entries<'p>> {
        let it: Entries<'p> = Box::new(std::iter::empty());
        it.peekable()
    };
    let (mut a, mut b) = match q.state {
        ReviewState::Open => (range(OPEN), none()),
        ReviewState::Reviewed => (range(REVIEWED), none()),
        ReviewState::All => (range(OPEN), range(REVIEWED)),
    };
    std::iter::from_fn(move || {
        // Newest first: whichever head has the larger (time, seq) suffix.
        let take_a = match (a.peek(), b.peek()) {
            (Some(Ok((ka, _))), Some(Ok((kb, _)))) => ka[keys::TNO + 1..] > kb[keys::TNO + 1..],
            (Some(_), _) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let next = if take_a { a.next() } else { b.next() };
        next.map(|r| r.map_err(QueryError::from))
    })
}

/// A keyed fingerprint of the request's filters, so a cursor works only for them.
fn fingerprint(t: &Tenant, q: &ReviewQuery) -> [u8; 8] {
    let mut repr = b"break-glass".to_vec();
    repr.push(q.state as u8);
    let times = [q.filter.from, q.filter.to].map(|t| t.map(|t| hex::encode(keys::time(t))));
    for v in [&q.filter.actor, &times[0], &times[1]] {
        put_value(&mut repr, v.as_deref());
    }
    fingerprint_of(t, &repr)
}

impl ReviewItem {
    /// The item as `lens` shows it: the access's actor, patient, reason, resource and
    /// source as the lens allows, its age and due time, whether it is overdue, and its
    /// latest review.
    pub fn json(
        &self,
        lens: &Lens,
        now: Timestamp,
        deadline: SignedDuration,
    ) -> Result<Value, QueryError> {
        let event = lens.object(&self.canonical)?;
        let due = self.time.checked_add(deadline).unwrap_or(Timestamp::MAX);
        let age = now.duration_since(self.time).as_secs().max(0);
        let mut out = json!({
            "seq": self.seq,
            "time": self.time.to_string(),
            "state": if self.reviewed { "reviewed" } else { "open" },
            "age_seconds": age,
            "due": due.to_string(),
            "overdue": !self.reviewed && now > due,
        });
        for k in [
            "actor", "patient", "reason", "resource", "source", "action", "outcome",
        ] {
            if let Some(v) = event.get(k) {
                out[k] = v.clone();
            }
        }
        if let Some(r) = &self.latest {
            out["review"] = r.json(lens)?;
        }
        Ok(out)
    }
}

impl Review {
    /// The review as `lens` shows it: disposition, reviewer (governed like `actor.id`),
    /// time and note (governed like `reason`).
    pub fn json(&self, lens: &Lens) -> Result<Value, QueryError> {
        let event = lens.object(&self.canonical)?;
        let mut out = json!({"seq": self.seq, "disposition": self.disposition});
        if let Some(t) = event.get("time") {
            out["time"] = t.clone();
        }
        if let Some(id) = event.get("actor").and_then(|a| a.get("id")) {
            out["reviewer"] = id.clone();
        }
        if let Some(note) = event.get("reason") {
            out["note"] = note.clone();
        }
        Ok(out)
    }
}
