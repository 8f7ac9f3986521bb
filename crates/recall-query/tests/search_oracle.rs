//! Search against a brute-force scan of the same events: every filter, combinations,
//! both orders, small pages.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{Rec, TENANTS, all_pages, oracle, world};
use jiff::Timestamp;
use recall_query::{Filter, Order, Query, QueryError};

fn most_common<'a>(
    recs: &'a [Rec],
    tenant: &str,
    key: impl Fn(&'a Rec) -> Option<&'a str>,
) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in recs.iter().filter(|r| r.tenant == tenant) {
        if let Some(k) = key(r) {
            *counts.entry(k).or_default() += 1;
        }
    }
    let (k, _) = counts.into_iter().max_by_key(|(k, n)| (*n, *k)).unwrap();
    k.to_string()
}

fn ts(s: &str) -> Option<Timestamp> {
    Some(s.parse().unwrap())
}

fn filters(recs: &[Rec], tenant: &str) -> Vec<Filter> {
    let patient = most_common(recs, tenant, |r| {
        r.event.patient.as_ref().map(|p| p.id.as_str())
    });
    let actor = most_common(recs, tenant, |r| Some(r.event.actor.id.as_str()));
    let system = most_common(recs, tenant, |r| {
        r.event.source.as_ref().and_then(|s| s.system.as_deref())
    });
    let purpose = most_common(recs, tenant, |r| r.event.purpose.as_deref());
    let ip = recs
        .iter()
        .find(|r| r.tenant == tenant)
        .and_then(|r| r.event.source.as_ref()?.ip)
        .unwrap()
        .to_string();
    let (from, to) = (ts("2026-01-15T00:00:00Z"), ts("2026-06-01T12:00:00Z"));
    let f = Filter::default;
    vec![
        f(),
        Filter {
            patient: Some(patient.clone()),
            ..f()
        },
        Filter {
            actor: Some(actor.clone()),
            ..f()
        },
        Filter {
            action: Some("update".into()),
            ..f()
        },
        Filter {
            outcome: Some("denied".into()),
            ..f()
        },
        Filter {
            outcome: Some("failure".into()),
            ..f()
        },
        Filter {
            purpose: Some(purpose.clone()),
            ..f()
        },
        Filter {
            system: Some(system.clone()),
            ..f()
        },
        Filter {
            ip: Some(ip),
            ..f()
        },
        Filter {
            break_glass: true,
            ..f()
        },
        Filter { from, ..f() },
        Filter { to, ..f() },
        Filter { from, to, ..f() },
        Filter {
            patient: Some(patient.clone()),
            from,
            to,
            ..f()
        },
        Filter {
            actor: Some(actor.clone()),
            action: Some("read".into()),
            ..f()
        },
        Filter {
            actor: Some(actor.clone()),
            outcome: Some("success".into()),
            from,
            ..f()
        },
        Filter {
            patient: Some(patient),
            actor: Some(actor),
            ..f()
        },
        Filter {
            system: Some(system),
            purpose: Some(purpose),
            to,
            ..f()
        },
        Filter {
            break_glass: true,
            from,
            to,
            ..f()
        },
        Filter {
            patient: Some("MRN-nobody".into()),
            ..f()
        },
        Filter {
            from: to,
            to: from,
            ..f()
        },
    ]
}

#[test]
fn every_filter_matches_the_oracle_in_both_orders_and_small_pages() {
    let w = world(6_000, 11);
    // The generator's late arrivals must be in the data for this test to mean anything.
    let late = w
        .recs
        .windows(2)
        .filter(|p| p[0].tenant == p[1].tenant && p[1].event.time < p[0].event.time)
        .count();
    assert!(late > 10, "expected late arrivals, got {late}");
    for tenant in TENANTS {
        for f in filters(&w.recs, tenant) {
            for order in [Order::Asc, Order::Desc] {
                let want = oracle(&w.recs, tenant, &f, order);
                assert_eq!(
                    all_pages(&w.db, tenant, &f, order, 1000),
                    want,
                    "{f:?} {order:?}"
                );
                if want.len() < 400 {
                    assert_eq!(
                        all_pages(&w.db, tenant, &f, order, 7),
                        want,
                        "{f:?} {order:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_whole_tenant_pages_without_gaps_or_repeats() {
    let w = world(2_500, 3);
    for order in [Order::Asc, Order::Desc] {
        let got = all_pages(&w.db, "south", &Filter::default(), order, 13);
        assert_eq!(got, oracle(&w.recs, "south", &Filter::default(), order));
    }
}

#[test]
fn cursors_are_refused_for_other_queries() {
    let w = world(1_500, 5);
    let q = |filter: Filter, order, cursor| Query {
        filter,
        order,
        limit: 5,
        cursor,
    };
    let page =
        w.db.search("north", &q(Filter::default(), Order::Asc, None))
            .unwrap();
    let cursor = page.next_cursor.unwrap();
    assert!(!cursor.contains("north"));
    let other = Filter {
        action: Some("read".into()),
        ..Filter::default()
    };
    for (f, order, c) in [
        (other, Order::Asc, cursor.clone()),
        (Filter::default(), Order::Desc, cursor.clone()),
        (Filter::default(), Order::Asc, "not-a-cursor!".to_string()),
        (
            Filter::default(),
            Order::Asc,
            cursor[..cursor.len() - 2].to_string(),
        ),
    ] {
        let err = w.db.search("north", &q(f, order, Some(c))).unwrap_err();
        assert!(matches!(err, QueryError::BadCursor), "{err}");
    }
    // Another tenant's key makes another fingerprint.
    let err =
        w.db.search(
            "south",
            &q(Filter::default(), Order::Asc, Some(cursor.clone())),
        )
        .unwrap_err();
    assert!(matches!(err, QueryError::BadCursor));
    // The same query accepts it.
    w.db.search("north", &q(Filter::default(), Order::Asc, Some(cursor)))
        .unwrap();
}

#[test]
fn bad_parameters_name_the_parameter() {
    let w = world(300, 6);
    let q = |filter: Filter, limit| Query {
        filter,
        order: Order::Asc,
        limit,
        cursor: None,
    };
    for (query, field) in [
        (q(Filter::default(), 0), "limit"),
        (q(Filter::default(), 1001), "limit"),
        (
            q(
                Filter {
                    ip: Some("10.0.0.300".into()),
                    ..Filter::default()
                },
                10,
            ),
            "ip",
        ),
        (
            q(
                Filter {
                    outcome: Some("maybe".into()),
                    ..Filter::default()
                },
                10,
            ),
            "outcome",
        ),
    ] {
        match w.db.search("north", &query) {
            Err(QueryError::BadFilter { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected BadFilter({field}), got {other:?}"),
        }
    }
    assert!(w.db.search("north", &q(Filter::default(), 1000)).is_ok());
    let empty = w.db.search("nobody", &q(Filter::default(), 10)).unwrap();
    assert!(empty.events.is_empty() && empty.next_cursor.is_none());
}

#[test]
fn a_prepared_search_stops_at_its_horizon() {
    let w = world(2_000, 8);
    let all = oracle(&w.recs, "north", &Filter::default(), Order::Asc);
    let horizon = w
        .recs
        .iter()
        .filter(|r| r.tenant == "north")
        .map(|r| r.seq)
        .max()
        .unwrap()
        / 2;
    for order in [Order::Asc, Order::Desc] {
        let q = Query {
            filter: Filter::default(),
            order,
            limit: 1000,
            cursor: None,
        };
        let prepared = w.db.prepare("north", &q).unwrap();
        let page = w.db.run(&prepared, horizon).unwrap();
        let got: Vec<u64> = page.events.iter().map(|f| f.seq).collect();
        let mut want: Vec<u64> = all.iter().copied().filter(|s| *s < horizon).collect();
        if order == Order::Desc {
            want.reverse();
        }
        want.truncate(1000);
        assert!(!want.is_empty() && want.len() < all.len());
        assert_eq!(got, want);
    }
    // A bad cursor is refused before anything runs.
    let q = Query {
        filter: Filter::default(),
        order: Order::Asc,
        limit: 10,
        cursor: Some("AQ".into()),
    };
    assert!(matches!(
        w.db.prepare("north", &q),
        Err(QueryError::BadCursor)
    ));
}

/// A reader's filters under its lens: the same events as the clear filter when given as
/// the pseudonyms the lens shows (through the index for patients and actors, by
/// recomputing the pseudonym for fields without one), and refused when given in the
/// clear or on a withheld field.
#[test]
fn pseudonymous_filters_find_what_the_clear_ones_find() {
    use recall_query::{Field, Policy, Reader};
    let w = world(3_000, 17);
    let mut policy = Policy::default();
    policy.set("engineer", "source.ip", "pseudonym").unwrap();
    policy
        .set("engineer", "source.system", "pseudonym")
        .unwrap();
    for tenant in TENANTS {
        let lens = w.db.lens(tenant, &policy, Reader::Engineer, false).unwrap();
        let masked = |field, v: &Option<String>| {
            v.as_deref()
                .map(|v| lens.disclose(field, v).unwrap().into_owned())
        };
        for f in filters(&w.recs, tenant) {
            let by_pseudonym = Filter {
                patient: masked(Field::PatientId, &f.patient),
                actor: masked(Field::ActorId, &f.actor),
                system: masked(Field::SourceSystem, &f.system),
                ip: masked(Field::SourceIp, &f.ip),
                lens: Some(lens.clone()),
                ..f.clone()
            };
            for order in [Order::Asc, Order::Desc] {
                let want = oracle(&w.recs, tenant, &f, order);
                assert_eq!(
                    all_pages(&w.db, tenant, &by_pseudonym, order, 1000),
                    want,
                    "{f:?} {order:?}"
                );
                if want.len() < 200 {
                    assert_eq!(
                        all_pages(&w.db, tenant, &by_pseudonym, order, 7),
                        want,
                        "{f:?} {order:?}"
                    );
                }
            }
            // The clear value is refused, naming the parameter.
            for (name, clear) in [
                ("patient", &f.patient),
                ("actor", &f.actor),
                ("system", &f.system),
                ("ip", &f.ip),
            ] {
                if clear.is_none() {
                    continue;
                }
                let mut refused = by_pseudonym.clone();
                match name {
                    "patient" => refused.patient.clone_from(clear),
                    "actor" => refused.actor.clone_from(clear),
                    "system" => refused.system.clone_from(clear),
                    _ => refused.ip.clone_from(clear),
                }
                let q = Query {
                    filter: refused,
                    order: Order::Asc,
                    limit: 10,
                    cursor: None,
                };
                match w.db.search(tenant, &q) {
                    Err(QueryError::BadFilter { field, .. }) => assert_eq!(field, name),
                    other => panic!("{name}: expected a refusal, got {other:?}"),
                }
            }
        }
        // A patient's lens withholds source.ip and actor.id: refused whatever the value.
        let patient = w.db.lens(tenant, &policy, Reader::Patient, false).unwrap();
        for (f, name) in [
            (
                Filter {
                    ip: Some("10.0.0.1".into()),
                    ..Filter::default()
                },
                "ip",
            ),
            (
                Filter {
                    actor: Some("u-1".into()),
                    ..Filter::default()
                },
                "actor",
            ),
        ] {
            let q = Query {
                filter: Filter {
                    lens: Some(patient.clone()),
                    ..f
                },
                order: Order::Asc,
                limit: 10,
                cursor: None,
            };
            match w.db.search(tenant, &q) {
                Err(QueryError::Withheld { field }) => assert_eq!(field, name),
                other => panic!("{name}: expected Withheld, got {other:?}"),
            }
        }
    }
}
