//! Search: one driving index (patient, else actor, else time), every filter checked on
//! the decrypted event, (time, seq) order, opaque cursors.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use rayon::prelude::*;
use recall_model::{Outcome, View};

use crate::cache::Block;
use crate::db::{Db, Parts, Tenant};
use crate::disclose::{Field, Given, Lens, Refused, Rule};
use crate::error::QueryError;
use crate::keys::{self, Pos, Run};
use crate::postings;
pub use crate::postings::Order;
use crate::read::{Hit, Read, SeqReader};

/// Largest page.
pub const MAX_LIMIT: usize = 1000;
/// First byte of a cursor: its version.
const CURSOR_V1: u8 = 1;
/// Bytes of the filter fingerprint in a cursor.
const FINGERPRINT: usize = 8;

/// What to search for; every given filter must hold (AND).
#[derive(Default, Clone, Debug)]
pub struct Filter {
    /// `patient.id` equals.
    pub patient: Option<String>,
    /// `actor.id` equals.
    pub actor: Option<String>,
    /// `action` equals.
    pub action: Option<String>,
    /// `outcome` equals (`success`, `failure` or `denied`).
    pub outcome: Option<String>,
    /// `purpose` equals.
    pub purpose: Option<String>,
    /// `source.system` equals.
    pub system: Option<String>,
    /// `source.ip` is the same address (compared parsed: `::1` equals `0::1`).
    pub ip: Option<String>,
    /// Only break-glass events (purpose `ETREAT`).
    pub break_glass: bool,
    /// Event `time` at or after (inclusive).
    pub from: Option<Timestamp>,
    /// Event `time` before (exclusive).
    pub to: Option<Timestamp>,
    /// `resource.type` equals (read from the whole event, see `body_filter.rs`).
    pub resource_type: Option<String>,
    /// `resource.id` equals (read from the whole event).
    pub resource_id: Option<String>,
    /// The FHIR crude action (C, R, U, D or E) of the event's `action`.
    pub fhir_action: Option<String>,
    /// The FHIR AuditEvent type code (`rest`, or a DICOM event code) of the event.
    pub fhir_type: Option<String>,
    /// The caller's lens, when the filter comes from a reader: a field it withholds may
    /// not be filtered on, and one it pseudonymises only by that pseudonym. `None`: the
    /// values as recorded (recall's own tools).
    pub lens: Option<Lens>,
}

impl Filter {
    /// Whether every event matches (no filter given; the lens alone filters nothing).
    pub(crate) fn selects_all(&self) -> bool {
        // Compared whole, so a filter added later counts without a change here.
        let given = Filter {
            lens: None,
            ..self.clone()
        };
        format!("{given:?}") == format!("{:?}", Filter::default())
    }
}

/// A search request.
#[derive(Debug, Clone)]
pub struct Query {
    /// The filters.
    pub filter: Filter,
    /// The order.
    pub order: Order,
    /// Page size, 1 to 1000.
    pub limit: usize,
    /// `next_cursor` of the previous page of the same query.
    pub cursor: Option<String>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    /// Matching events in the requested order.
    pub events: Vec<Hit>,
    /// Cursor of the next page; `None` when there is no more.
    pub next_cursor: Option<String>,
}

/// A filter with its values parsed.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) f: Filter,
    outcome: Option<Outcome>,
    ip: Option<IpAddr>,
    /// Filters given as pseudonyms, by field: an event matches when its value has it.
    masked: Vec<(Field, [u8; recall_crypto::PSEUDONYM_LEN])>,
}

/// The filters a lens governs: query parameter, field, value.
fn governed(f: &Filter) -> [(&'static str, Field, Option<&str>); 7] {
    [
        (
            "resource_type",
            Field::ResourceType,
            f.resource_type.as_deref(),
        ),
        ("resource_id", Field::ResourceId, f.resource_id.as_deref()),
        ("patient", Field::PatientId, f.patient.as_deref()),
        ("actor", Field::ActorId, f.actor.as_deref()),
        ("purpose", Field::Purpose, f.purpose.as_deref()),
        ("system", Field::SourceSystem, f.system.as_deref()),
        ("ip", Field::SourceIp, f.ip.as_deref()),
    ]
}

/// Checks each filter against the caller's lens (see [`Lens::filter`]); returns those
/// given as pseudonyms.
pub(crate) fn check_lens(
    f: &Filter,
) -> Result<Vec<(Field, [u8; recall_crypto::PSEUDONYM_LEN])>, QueryError> {
    let Some(lens) = &f.lens else {
        return Ok(Vec::new());
    };
    let mut masked = Vec::new();
    for (name, field, value) in governed(f) {
        let Some(value) = value else { continue };
        match lens.filter(field, value) {
            Ok(Given::Clear) => {}
            Ok(Given::Pseudonym(p)) => masked.push((field, p)),
            Err(Refused::Withheld) => return Err(QueryError::Withheld { field: name }),
            Err(Refused::NotPseudonym) => {
                return Err(QueryError::BadFilter {
                    field: name,
                    message: format!(
                        "{name} must be a pseudonym (psn_ and 32 hex digits): this role sees the field pseudonymised"
                    ),
                });
            }
        }
    }
    // Break-glass is a test of the purpose: only for a role that sees purposes as they are.
    if f.break_glass && lens.rule(Field::Purpose) != Rule::Show {
        return Err(QueryError::Withheld {
            field: "break_glass",
        });
    }
    Ok(masked)
}

impl Compiled {
    /// Parses the filter's values; names the query parameter that is wrong.
    pub fn new(f: &Filter) -> Result<Compiled, QueryError> {
        let masked = check_lens(f)?;
        crate::body_filter::check(f)?;
        let outcome = match f.outcome.as_deref() {
            None => None,
            Some("success") => Some(Outcome::Success),
            Some("failure") => Some(Outcome::Failure),
            Some("denied") => Some(Outcome::Denied),
            Some(_) => {
                return Err(QueryError::BadFilter {
                    field: "outcome",
                    message: "must be success, failure or denied".into(),
                });
            }
        };
        let ip = match f.ip.as_deref() {
            None => None,
            Some(_) if masked.iter().any(|(m, _)| *m == Field::SourceIp) => None,
            Some(s) => Some(s.parse().map_err(|_| QueryError::BadFilter {
                field: "ip",
                message: "is not an IP address".into(),
            })?),
        };
        Ok(Compiled {
            f: f.clone(),
            outcome,
            ip,
            masked,
        })
    }

    /// The pseudonym `field` was given as, if it was.
    fn masked(&self, field: Field) -> Option<&[u8; recall_crypto::PSEUDONYM_LEN]> {
        self.masked
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, p)| p)
    }

    /// Whether the event's `have` satisfies the filter `want` on `field`: equal as
    /// recorded, or, for a filter given as a pseudonym, having that pseudonym.
    pub(crate) fn holds(&self, field: Field, want: &Option<String>, have: Option<&[u8]>) -> bool {
        match (self.masked(field), &self.f.lens) {
            (Some(psn), Some(lens)) => have
                .and_then(|h| std::str::from_utf8(h).ok())
                .is_some_and(|h| lens.has_pseudonym(field, h, psn)),
            _ => eq(want, have),
        }
    }

    /// The index token of the filter's `value` on `field` (`name` is the token's field
    /// name); a pseudonym opens to the first bytes of the token its entries are under.
    pub(crate) fn token(&self, t: &Tenant, field: Field, name: &str, value: &str) -> [u8; 32] {
        match (self.masked(field), &self.f.lens) {
            (Some(psn), Some(lens)) => {
                let mut out = [0u8; 32];
                if let Some(prefix) = lens.token_prefix(psn) {
                    out[..prefix.len()].copy_from_slice(&prefix);
                }
                out
            }
            _ => t.indexer.token(name, value),
        }
    }

    /// Whether an event's `actor.id` satisfies the filter's `actor` (no filter: yes).
    pub(crate) fn actor_matches(&self, actor: &str) -> bool {
        self.holds(Field::ActorId, &self.f.actor, Some(actor.as_bytes()))
    }

    /// Whether the event satisfies every filter.
    pub fn matches(&self, e: &View<'_>) -> bool {
        let f = &self.f;
        let ip_text = self
            .masked(Field::SourceIp)
            .and(e.ip)
            .map(|ip| ip.to_string());
        self.holds(Field::PatientId, &f.patient, e.patient.as_deref())
            && self.holds(Field::ActorId, &f.actor, Some(&e.actor))
            && eq(&f.action, Some(&e.action))
            && crate::body_filter::crude_holds(f.fhir_action.as_deref(), &e.action)
            && self.outcome.is_none_or(|o| o == e.outcome)
            && self.holds(Field::Purpose, &f.purpose, e.purpose.as_deref())
            && self.holds(Field::SourceSystem, &f.system, e.system.as_deref())
            && match self.masked(Field::SourceIp) {
                // Canonical events write addresses as `IpAddr` displays them.
                Some(_) => self.holds(
                    Field::SourceIp,
                    &f.ip,
                    ip_text.as_deref().map(str::as_bytes),
                ),
                None => self.ip.is_none_or(|ip| e.ip == Some(ip)),
            }
            && (!f.break_glass || e.purpose.as_deref() == Some(b"ETREAT".as_slice()))
            && f.from.is_none_or(|from| e.time >= from)
            && f.to.is_none_or(|to| e.time < to)
    }

    /// A keyed fingerprint of the filter and order: binds a cursor to its query without
    /// revealing the filter values (they may be PHI).
    fn fingerprint(&self, t: &Tenant, order: Order) -> [u8; FINGERPRINT] {
        let f = &self.f;
        let mut repr = Vec::new();
        let outcome = self.outcome.map(|o| o.as_str().to_string());
        let ip = self.ip.map(|ip| ip.to_string());
        let times = [f.from, f.to].map(|t| t.map(|t| hex::encode(keys::time(t))));
        for v in [
            &f.patient, &f.actor, &f.action, &outcome, &f.purpose, &f.system, &ip, &times[0],
            &times[1],
        ] {
            put_value(&mut repr, v.as_deref());
        }
        repr.push(u8::from(f.break_glass));
        repr.push(u8::from(order == Order::Desc));
        crate::body_filter::put_fingerprint(f, &mut repr);
        // Which values were pseudonyms (appended only then: older cursors stay valid).
        for (field, _) in &self.masked {
            repr.push(0xff);
            repr.extend_from_slice(field.name().as_bytes());
        }
        fingerprint_of(t, &repr)
    }
}

/// Appends a filter value to a fingerprint's representation: `0x00` when absent, else
/// `0x01 ‖ u32be(len) ‖ bytes`.
pub(crate) fn put_value(repr: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => repr.push(0),
        Some(s) => {
            repr.push(1);
            repr.extend_from_slice(&(s.len() as u32).to_be_bytes());
            repr.extend_from_slice(s.as_bytes());
        }
    }
}

/// The keyed fingerprint of a query's representation (first bytes of its `cursor` token).
pub(crate) fn fingerprint_of(t: &Tenant, repr: &[u8]) -> [u8; FINGERPRINT] {
    let tok = t.indexer.token("cursor", &hex::encode(repr));
    let mut out = [0u8; FINGERPRINT];
    out.copy_from_slice(&tok[..FINGERPRINT]);
    out
}

fn eq(want: &Option<String>, have: Option<&[u8]>) -> bool {
    want.as_deref().is_none_or(|w| have == Some(w.as_bytes()))
}

/// `base64url(v1 ‖ fingerprint(8) ‖ time(12) ‖ seq u64be)`.
// pub (hidden) only for the fuzz target in fuzz/: not part of the API.
#[doc(hidden)]
pub fn encode_cursor(fp: &[u8; FINGERPRINT], last: Pos) -> String {
    URL_SAFE_NO_PAD.encode(keys::cat(&[&[CURSOR_V1], fp, &keys::pos(last)]))
}

// pub (hidden) only for the fuzz target in fuzz/: not part of the API.
#[doc(hidden)]
pub fn decode_cursor(cursor: &str, fp: &[u8; FINGERPRINT]) -> Result<Pos, QueryError> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| QueryError::BadCursor)?;
    if raw.len() != 1 + FINGERPRINT + keys::POS
        || raw[0] != CURSOR_V1
        || raw[1..1 + FINGERPRINT] != fp[..]
    {
        return Err(QueryError::BadCursor);
    }
    keys::parse_pos(&raw[1 + FINGERPRINT..]).ok_or(QueryError::BadCursor)
}

/// A search checked and ready to run: filters parsed, cursor verified. Preparing first
/// lets a caller refuse a bad request before it records anything about it.
#[derive(Clone)]
pub struct Prepared {
    pub(crate) tenant: String,
    /// `None`: the index has never seen the tenant (an empty answer).
    pub(crate) t: Option<Tenant>,
    pub(crate) filter: Compiled,
    fp: [u8; FINGERPRINT],
    after: Option<Pos>,
    order: Order,
    limit: usize,
}

impl Db {
    /// Searches the tenant's events: one page in (time, seq) order.
    pub fn search(&self, tenant: &str, query: &Query) -> Result<Page, QueryError> {
        let prepared = self.prepare(tenant, query)?;
        self.run(&prepared, u64::MAX)
    }

    /// Checks a search (limit, filter values, cursor) without running it. Cheap (no
    /// index read once the tenant is known), so async callers may call it in place.
    pub fn prepare(&self, tenant: &str, query: &Query) -> Result<Prepared, QueryError> {
        if !(1..=MAX_LIMIT).contains(&query.limit) {
            return Err(QueryError::BadFilter {
                field: "limit",
                message: format!("must be between 1 and {MAX_LIMIT}"),
            });
        }
        let filter = Compiled::new(&query.filter)?;
        let t = self.tenant(tenant)?;
        let (fp, after) = match &t {
            Some(t) => {
                let fp = filter.fingerprint(t, query.order);
                let after = query
                    .cursor
                    .as_deref()
                    .map(|c| decode_cursor(c, &fp))
                    .transpose()?;
                (fp, after)
            }
            // No index for the tenant: nothing was ever issued a cursor.
            None if query.cursor.is_some() => return Err(QueryError::BadCursor),
            None => ([0; FINGERPRINT], None),
        };
        Ok(Prepared {
            tenant: tenant.to_string(),
            t,
            filter,
            fp,
            after,
            order: query.order,
            limit: query.limit,
        })
    }

    /// Runs a prepared search over the events with seq below `horizon` (the log's size
    /// when the request came in, so that records appended meanwhile, such as the
    /// search's own audit event, are left out).
    pub fn run(&self, p: &Prepared, horizon: u64) -> Result<Page, QueryError> {
        let Some(t) = &p.t else {
            return Ok(Page {
                events: vec![],
                next_cursor: None,
            });
        };
        let mut events = Vec::with_capacity(p.limit + 1);
        // One match beyond the page tells whether there is a next page.
        let walk = Walk {
            tenant: &p.tenant,
            t,
            filter: &p.filter,
            order: p.order,
            after: p.after,
            horizon,
            want: p.limit + 1,
        };
        self.walk(&walk, &mut |found| {
            events.push(found);
            Ok(events.len() <= p.limit)
        })?;
        let next_cursor = if events.len() > p.limit {
            events.truncate(p.limit);
            events
                .last()
                .map(|last| encode_cursor(&p.fp, (last.time, last.seq)))
        } else {
            None
        };
        Ok(Page {
            events,
            next_cursor,
        })
    }

    /// Visits the matching readable events in order, strictly after `w.after` and below
    /// `w.horizon`, until `visit` returns false. Index hits are read in chunks, each
    /// chunk's blocks decrypted and events parsed in parallel.
    pub(crate) fn walk(
        &self,
        w: &Walk<'_>,
        visit: &mut dyn FnMut(Hit) -> Result<bool, QueryError>,
    ) -> Result<(), QueryError> {
        let parts = self.parts();
        let mut positions = self.positions(w, &parts);
        let mut chunk = w.want.clamp(1, MAX_CHUNK);
        loop {
            let mut seqs = Vec::with_capacity(chunk);
            for pos in positions.by_ref() {
                let (_, seq) = pos?;
                if seq < w.horizon {
                    seqs.push(seq);
                    if seqs.len() == chunk {
                        break;
                    }
                }
            }
            if seqs.is_empty() {
                return Ok(());
            }
            let hit = |seq: u64| {
                move |block: &Block, k: usize, view: &View<'_>| {
                    let hit = w.filter.matches(view) && w.filter.body_matches(block.event(k));
                    hit.then(|| Hit {
                        seq,
                        time: view.time,
                        received: view.received,
                        canonical: block.shared(k).unwrap_or_default(),
                    })
                }
            };
            // Hits in cached blocks are read here; only blocks to be opened (a read,
            // AES-GCM, zstd) are worth handing to other threads.
            let mut reader = SeqReader::new(self, w.tenant, w.t, &parts);
            let mut found: Vec<_> = seqs
                .iter()
                .map(|&seq| reader.cached(seq, hit(seq)))
                .collect();
            let missed: Vec<(usize, u64, Arc<Run>)> = found
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r {
                    Ok(Read::NotCached(start, run)) => Some((i, *start, run.clone())),
                    _ => None,
                })
                .collect();
            let read = |part: &[(usize, u64, Arc<Run>)]| {
                let mut reader = SeqReader::new(self, w.tenant, w.t, &parts);
                part.iter()
                    .map(|(i, start, run)| {
                        let seq = seqs[*i];
                        (*i, reader.open(seq, *start, run.clone(), hit(seq)))
                    })
                    .collect::<Vec<_>>()
            };
            let opened: Vec<Vec<_>> = if missed.len() >= PARALLEL_READS {
                missed.par_chunks(READ_PART).map(read).collect()
            } else {
                vec![read(&missed)]
            };
            for (i, r) in opened.into_iter().flatten() {
                found[i] = r;
            }
            for r in found {
                if let Read::Found(Some(hit)) = r?
                    && !visit(hit)?
                {
                    return Ok(());
                }
            }
            chunk = MAX_CHUNK;
        }
    }

    /// The positions a walk visits, in its order: from the posting lists of the patient
    /// or actor the filter names, else from those of the time index.
    fn positions<'p>(
        &self,
        w: &Walk<'_>,
        parts: &'p Parts,
    ) -> impl Iterator<Item = Result<Pos, QueryError>> + 'p {
        let driver = Driver::of(&w.filter.f);
        postings(w.t, w.filter, driver, w.order, w.after, parts).map(|r| r.map(|(pos, _)| pos))
    }
}

/// The index a walk is driven by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    Patient,
    Actor,
    Time,
}

impl Driver {
    /// The patient's lists if the filter names one, else the actor's, else time's.
    pub(crate) fn of(f: &Filter) -> Driver {
        match (&f.patient, &f.actor) {
            (Some(_), _) => Driver::Patient,
            (None, Some(_)) => Driver::Actor,
            (None, None) => Driver::Time,
        }
    }
}

/// The postings of `driver`'s lists in `filter`'s window (the patient or actor it
/// names), in `order`, strictly beyond `after`, with their combination codes.
pub(crate) fn postings<'p>(
    t: &Tenant,
    filter: &Compiled,
    driver: Driver,
    order: Order,
    after: Option<Pos>,
    parts: &'p Parts,
) -> Box<dyn Iterator<Item = Result<postings::Posting, QueryError>> + 'p> {
    let f = &filter.f;
    let token = |field: Field, name: &str, value: &str| {
        keys::ident(t.no, &filter.token(t, field, name, value)).to_vec()
    };
    let (partition, prefix, span) = match (driver, &f.patient, &f.actor) {
        (Driver::Patient, Some(p), _) => (
            &parts.patient,
            token(Field::PatientId, "patient", p),
            postings::HOUR,
        ),
        (Driver::Actor, _, Some(a)) => (
            &parts.actor,
            token(Field::ActorId, "actor", a),
            postings::HOUR,
        ),
        _ => (&parts.time, t.no.to_be_bytes().to_vec(), postings::MINUTE),
    };
    let range = postings::Range {
        from: f.from,
        to: f.to,
        after,
        order,
    };
    let (lo, hi) = range.key_bounds(&prefix, span);
    let entries = partition.range(lo..=hi);
    match order {
        Order::Asc => Box::new(postings::Walk::new(entries, range, span)),
        Order::Desc => Box::new(postings::Walk::new(entries.rev(), range, span)),
    }
}

/// Index hits read ahead at most, per chunk of a walk.
const MAX_CHUNK: usize = 1024;
/// At least this many hits in blocks to be opened are read in parallel.
const PARALLEL_READS: usize = 32;
/// Hits per parallel task; a task reads its hits in order, so consecutive hits reuse
/// their block.
const READ_PART: usize = 128;

/// What a walk visits.
pub(crate) struct Walk<'a> {
    pub tenant: &'a str,
    pub t: &'a Tenant,
    pub filter: &'a Compiled,
    pub order: Order,
    /// Resume strictly after this position.
    pub after: Option<Pos>,
    /// Only seqs below this.
    pub horizon: u64,
    /// Matches the caller expects to take (sizes the first chunk).
    pub want: usize,
}
