//! Property: on random small logs (ties in time, every field varying), every random
//! filter, order and page size gives exactly the oracle's events, in order.
#![allow(clippy::unwrap_used)]

mod common;

use common::{all_pages, append, journal_in, oracle};
use jiff::Timestamp;
use proptest::prelude::*;
use recall_query::{Db, Filter, Order};

const ACTORS: [&str; 3] = ["u-1", "u-2", "u-3"];
const PATIENTS: [&str; 3] = ["p-1", "p-2", "p-3"];
const ACTIONS: [&str; 2] = ["read", "update"];
const OUTCOMES: [&str; 3] = ["success", "failure", "denied"];
const PURPOSES: [&str; 2] = ["TREAT", "ETREAT"];
const SYSTEMS: [&str; 2] = ["ehr", "pacs"];
const IPS: [&str; 2] = ["::1", "10.0.0.1"];
/// Event times: few, so times tie; around hour boundaries (the posting lists' unit),
/// before and after the Unix epoch.
const TIMES: [&str; 6] = [
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2026-03-04T09:59:59.999999999Z",
    "2026-03-04T10:00:00Z",
    "2026-03-04T10:30:00Z",
    "2026-03-04T11:00:00Z",
];

/// Indices into the value lists above; `None` = field absent.
type Spec = (
    usize,
    Option<usize>,
    usize,
    usize,
    Option<usize>,
    usize,
    usize,
    u8,
);

fn event(s: &Spec) -> recall_model::Event {
    let (a, p, act, o, pur, sys, ip, time) = *s;
    let mut json = format!(
        r#"{{"time":"{}","actor":{{"id":"{}"}},"action":"{}","outcome":"{}","source":{{"system":"{}","ip":"{}"}}"#,
        TIMES[time as usize], ACTORS[a], ACTIONS[act], OUTCOMES[o], SYSTEMS[sys], IPS[ip]
    );
    if let Some(p) = p {
        json.push_str(&format!(r#","patient":{{"id":"{}"}}"#, PATIENTS[p]));
    }
    if let Some(pur) = pur {
        json.push_str(&format!(
            r#","purpose":"{}","reason":"test""#,
            PURPOSES[pur]
        ));
    }
    json.push('}');
    recall_model::parse_event(json.as_bytes(), Timestamp::now()).unwrap()
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..3usize,
        proptest::option::of(0..3usize),
        0..2usize,
        0..3usize,
        proptest::option::of(0..2usize),
        0..2usize,
        0..2usize,
        0..6u8,
    )
}

fn pick<const N: usize>(values: [&str; N]) -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(0.3, (0..N).prop_map(move |i| values[i].to_string()))
}

fn time() -> impl Strategy<Value = Option<Timestamp>> {
    proptest::option::weighted(
        0.3,
        (0..TIMES.len() + 1).prop_map(|i| {
            TIMES
                .get(i)
                .copied()
                .unwrap_or("2026-03-04T10:59:59Z")
                .parse()
                .unwrap()
        }),
    )
}

fn filter() -> impl Strategy<Value = Filter> {
    (
        (pick(PATIENTS), pick(ACTORS), pick(ACTIONS), pick(OUTCOMES)),
        (pick(PURPOSES), pick(SYSTEMS), pick(["0::1", "10.0.0.1"])),
        (proptest::bool::weighted(0.2), time(), time()),
    )
        .prop_map(
            |(
                (patient, actor, action, outcome),
                (purpose, system, ip),
                (break_glass, from, to),
            )| {
                Filter {
                    patient,
                    actor,
                    action,
                    outcome,
                    purpose,
                    system,
                    ip,
                    break_glass,
                    from,
                    to,
                    lens: None,
                    ..Filter::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn search_equals_the_oracle(
        specs in proptest::collection::vec(spec(), 1..60),
        batch in 1..20usize,
        filters in proptest::collection::vec(filter(), 1..8),
        limit in 1..6usize,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(journal_in(tmp.path()), &tmp.path().join("index")).unwrap();
        let events: Vec<_> = specs.iter().map(event).collect();
        let recs = append(&db, "t", &events, batch);
        for f in &filters {
            for order in [Order::Asc, Order::Desc] {
                prop_assert_eq!(all_pages(&db, "t", f, order, limit), oracle(&recs, "t", f, order));
            }
        }
    }
}
