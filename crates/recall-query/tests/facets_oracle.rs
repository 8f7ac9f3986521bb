//! Facet counts against a brute-force count over the same events: whole filters,
//! a bounded count (the newest events only), and an engineer's lens (systems as
//! pseudonyms, never in the clear).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Rec, oracle, world};
use recall_query::{Facets, Filter, Order, Query};

fn count(
    recs: &[Rec],
    seqs: &[u64],
    key: impl Fn(&Rec) -> Option<String>,
) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for s in seqs {
        let r = recs
            .iter()
            .find(|r| r.seq == *s && r.tenant == "north")
            .unwrap();
        if let Some(k) = key(r) {
            *m.entry(k).or_default() += 1;
        }
    }
    m
}

fn facets(w: &common::World, filter: &Filter, max: usize) -> Facets {
    let q = Query {
        filter: filter.clone(),
        order: Order::Asc,
        limit: 10,
        cursor: None,
    };
    let p = w.db.prepare("north", &q).unwrap();
    w.db.facets(&p, u64::MAX, max).unwrap()
}

#[test]
fn facets_match_a_brute_force_count() {
    let w = world(1500, 17);
    let recs = &w.recs;
    let action = recs
        .iter()
        .find(|r| r.tenant == "north")
        .unwrap()
        .event
        .action
        .clone();
    for filter in [
        Filter::default(),
        Filter {
            action: Some(action),
            ..Filter::default()
        },
        Filter {
            outcome: Some("denied".into()),
            ..Filter::default()
        },
    ] {
        let seqs = oracle(recs, "north", &filter, Order::Desc);
        for max in [10_000, 7] {
            let got = facets(&w, &filter, max);
            let take = &seqs[..seqs.len().min(max)];
            assert_eq!(got.counted, take.len() as u64);
            assert_eq!(got.complete, take.len() == seqs.len());
            assert_eq!(
                got.action,
                count(recs, take, |r| Some(r.event.action.clone()))
            );
            assert_eq!(
                got.outcome,
                count(recs, take, |r| Some(r.event.outcome.as_str().to_string()))
            );
            assert_eq!(got.role, count(recs, take, |r| r.event.actor.role.clone()));
            let system = |r: &Rec| r.event.source.as_ref().and_then(|s| s.system.clone());
            assert_eq!(got.system, count(recs, take, system));
            assert!(got.counted > 0 || seqs.is_empty());
        }
    }
}

#[test]
fn facets_go_through_the_lens() {
    let w = world(600, 3);
    let lens = common::engineer_lens(&w.db);
    let filter = Filter {
        lens: Some(lens),
        ..Filter::default()
    };
    let got = facets(&w, &filter, 10_000);
    assert!(got.counted > 0 && got.complete);
    assert!(!got.system.is_empty() && got.role.is_empty());
    assert!(
        got.system.keys().all(|k| k.starts_with("psn_")),
        "{:?}",
        got.system
    );
}
