//! The summary index (`Db::summaries`) against the events themselves: every field of
//! every summary in a window equals what a brute-force pass over the stored events
//! derives, for whole logs, halves and empty windows, with recall's own events among
//! them, as indexed batch by batch, after `reindex`, and after a reopen.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Rec, TENANTS, append, world};
use jiff::{SignedDuration, Timestamp};
use recall_model::{Event, Outcome};
use recall_query::{Db, Summary, Token};

/// What a summary says of an event, comparable.
type Row = (
    u64,
    Timestamp,
    Token,
    Option<Token>,
    bool,
    &'static str,
    bool,
    bool,
    bool,
);

fn row_of(s: &Summary) -> Row {
    (
        s.seq,
        s.time,
        s.actor,
        s.patient,
        s.break_glass(),
        s.outcome().as_str(),
        s.recall_own(),
        s.has_role(),
        s.has_name(),
    )
}

/// Written independently of the crate, from the event as it was sent.
fn oracle(db: &Db, recs: &[Rec], tenant: &str, from: Timestamp, to: Timestamp) -> Vec<Row> {
    let token = |f: &str, v: &str| db.summary_token(tenant, f, v).unwrap().unwrap();
    recs.iter()
        .filter(|r| r.tenant == tenant && r.event.time >= from && r.event.time < to)
        .map(|r| {
            let e = &r.event;
            let system = e.source.as_ref().and_then(|s| s.system.as_deref());
            (
                r.seq,
                e.time,
                token("actor", &e.actor.id),
                e.patient.as_ref().map(|p| token("patient", &p.id)),
                e.purpose.as_deref() == Some("ETREAT"),
                e.outcome.as_str(),
                matches!(system, Some("recall" | "recall-cli")),
                e.actor.role.is_some(),
                e.actor.name.is_some(),
            )
        })
        .collect()
}

fn summaries(db: &Db, tenant: &str, from: Timestamp, to: Timestamp, horizon: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    db.summaries(tenant, from, to, horizon, &mut |s| rows.push(row_of(s)))
        .unwrap();
    rows.sort();
    rows
}

/// Events recall records itself (self-audit), some with a patient, break-glass or denied
/// (the generated sample is too small to be sure of those), one with a name.
fn own_events() -> Vec<Event> {
    let now = Timestamp::now();
    (0..40)
        .map(|i| {
            let json = format!(
                r#"{{"time":"2026-02-0{}T10:00:0{}Z","actor":{{"id":"key:k{}","role":"auditor"{}}},"action":"search","source":{{"system":"recall"}}{}}}"#,
                1 + i % 5,
                i % 10,
                i % 3,
                if i == 7 { r#","name":"Ops""# } else { "" },
                match i % 4 {
                    0 => r#","patient":{"id":"MRN-X1"},"purpose":"ETREAT","reason":"code""#,
                    1 => r#","outcome":"denied""#,
                    2 => r#","patient":{"id":"MRN-X2"}"#,
                    _ => "",
                },
            );
            recall_model::parse_event(json.as_bytes(), now).unwrap()
        })
        .collect()
}

fn check(w: &common::World, recs: &[Rec], round: &str) -> usize {
    let mut compared = 0;
    for tenant in TENANTS {
        let (first, last) = common::time_span(recs, tenant);
        let end = last + SignedDuration::from_secs(1);
        let mid = first + last.duration_since(first) / 2;
        let horizon = w.db.indexed(tenant).unwrap();
        for (from, to) in [(first, end), (first, mid), (mid, end), (mid, mid)] {
            let mut want = oracle(&w.db, recs, tenant, from, to);
            want.sort();
            let got = summaries(&w.db, tenant, from, to, horizon);
            assert_eq!(got.len(), want.len(), "{round} {tenant} {from} {to}");
            assert_eq!(got, want, "{round} {tenant} {from} {to}");
            compared += got.len();
        }
        // Seqs at or beyond the horizon are left out.
        let below = summaries(&w.db, tenant, first, end, horizon / 2);
        assert!(below.iter().all(|r| r.0 < horizon / 2), "{round}");
        assert!(below.len() < summaries(&w.db, tenant, first, end, horizon).len());
    }
    compared
}

#[test]
fn summaries_hold_exactly_what_the_events_say_before_and_after_reindex() {
    let mut w = world(3000, 29);
    let own = append(&w.db, "east", &own_events(), 16);
    let mut recs = std::mem::take(&mut w.recs);
    recs.extend(own);
    assert!(
        recs.iter()
            .any(|r| r.event.purpose.as_deref() == Some("ETREAT"))
    );
    assert!(recs.iter().any(|r| r.event.outcome == Outcome::Denied));
    let before = check(&w, &recs, "indexed");
    assert!(before > 3000, "the windows must hold events: {before}");
    assert_eq!(w.db.reindex().unwrap(), recs.len() as u64);
    assert_eq!(check(&w, &recs, "reindexed"), before);
    let dir = w.index_dir();
    let db = Db::open(w.journal.clone(), &dir).unwrap();
    let w = common::World { db, ..w };
    assert_eq!(check(&w, &recs, "reopened"), before);
}
