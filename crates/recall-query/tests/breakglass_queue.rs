//! The break-glass queue against a brute-force oracle over a crafted history: accesses in
//! and out of time order, reviews by recall (superseding each other), reviews forged by a
//! writer's credential, reviews of events that are no break-glass access; checked page by
//! page (open, reviewed, all; time and actor filters) when indexed batch by batch, after a
//! reopen and after a reindex.
#![allow(clippy::unwrap_used)]

mod common;

use jiff::{SignedDuration, Timestamp};
use recall_model::Event;
use recall_query::{Db, Lens, ReviewParams};

const ACTORS: [&str; 4] = ["dr-a", "dr-b", "nurse-c", "dr-d"];
const DISPOSITIONS: [&str; 4] = [
    "appropriate",
    "inappropriate",
    "needs-follow-up",
    "education",
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One appended event and who appended it.
struct Entry {
    event: Event,
    by: &'static str,
}

fn parse(json: &str) -> Event {
    recall_model::parse_event(json.as_bytes(), Timestamp::now()).unwrap()
}

fn access(time: Timestamp, actor: &str, etreat: bool, i: u64) -> Event {
    let purpose = if etreat {
        r#","purpose":"ETREAT","reason":"emergency"#
    } else {
        r#","purpose":"TREAT"#
    };
    parse(&format!(
        r#"{{"time":"{time}","actor":{{"id":"{actor}"}},"action":"read","patient":{{"id":"p-{i}"}}{purpose}"}}"#
    ))
}

fn review(time: Timestamp, target: u64, disposition: &str) -> Event {
    parse(&format!(
        r#"{{"time":"{time}","actor":{{"id":"key:po"}},"action":"review","resource":{{"type":"BreakGlassAccess","id":"{target}"}},"purpose":"HCOMPL","detail":{{"review":{{"seq":{target},"disposition":"{disposition}"}}}}}}"#
    ))
}

/// A crafted history: `(entries, oracle)`.
fn history(now: Timestamp, seed: u64) -> Vec<Entry> {
    let mut rng = Lcg(seed);
    let mut out: Vec<Entry> = Vec::new();
    let mut etreats: Vec<u64> = Vec::new();
    for i in 0..600u64 {
        let seq = out.len() as u64;
        let roll = rng.next(10);
        if roll < 6 || etreats.is_empty() {
            // Up to 20 days back, not in time order (late arrivals).
            let back = SignedDuration::from_secs(rng.next(20 * 86_400) as i64);
            let etreat = roll < 4 || etreats.is_empty();
            let actor = ACTORS[rng.next(4) as usize];
            out.push(Entry {
                event: access(now - back, actor, etreat, i),
                by: "key:k-writer",
            });
            if etreat {
                etreats.push(seq);
            }
            continue;
        }
        let target = match roll {
            9 => rng.next(seq), // any event, often no break-glass access
            _ => etreats[rng.next(etreats.len() as u64) as usize],
        };
        let by = if rng.next(5) == 0 {
            "key:k-writer"
        } else {
            "recall:server"
        };
        let d = DISPOSITIONS[rng.next(4) as usize];
        out.push(Entry {
            event: review(now, target, d),
            by,
        });
    }
    out
}

/// What the queue must say of each access: `(seq, time, actor, latest review seq)`.
fn oracle(entries: &[Entry]) -> Vec<(u64, Timestamp, String, Option<u64>)> {
    let mut items: Vec<(u64, Timestamp, String, Option<u64>)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event.purpose.as_deref() == Some("ETREAT"))
        .map(|(s, e)| (s as u64, e.event.time, e.event.actor.id.clone(), None))
        .collect();
    for (rseq, e) in entries.iter().enumerate() {
        if e.by != "recall:server" || e.event.action != "review" {
            continue;
        }
        let target = e.event.detail.as_ref().unwrap()["review"]["seq"]
            .as_u64()
            .unwrap();
        if let Some(item) = items.iter_mut().find(|i| i.0 == target) {
            item.3 = Some(rseq as u64); // seq order: the last one wins
        }
    }
    // Newest first.
    items.sort_by_key(|i| std::cmp::Reverse((i.1, i.0)));
    items
}

fn append(db: &Db, tenant: &str, entries: &[Entry], mut sizes: impl FnMut() -> usize) {
    let journal = db.journal();
    journal.open_tenant(tenant).unwrap();
    let mut at = 0;
    while at < entries.len() {
        let n = sizes().min(entries.len() - at);
        let chunk = &entries[at..at + n];
        let events: Vec<Event> = chunk.iter().map(|e| e.event.clone()).collect();
        let by: Vec<&str> = chunk.iter().map(|e| e.by).collect();
        let first = journal.store().size(tenant).unwrap();
        let sealed = journal
            .prepare(tenant, &events, &by, first, Timestamp::now())
            .unwrap();
        let committed = journal.commit(tenant, &sealed).unwrap();
        db.index_batch(tenant, &sealed, &committed.location, &events)
            .unwrap();
        at += n;
    }
}

/// Pages through the queue with `params` (limit 7) and returns the seqs and latest reviews.
fn pages(db: &Db, tenant: &str, mut params: ReviewParams) -> Vec<(u64, Option<u64>)> {
    params.limit = Some(7);
    let mut out = Vec::new();
    loop {
        let q = params.query(&Lens::full()).unwrap();
        let page = db.break_glass_page(tenant, &q, u64::MAX).unwrap();
        assert!(page.items.len() <= 7);
        out.extend(page.items.iter().map(|i| {
            assert_eq!(i.reviewed, i.latest.is_some());
            (i.seq, i.latest.as_ref().map(|r| r.seq))
        }));
        match page.next_cursor {
            Some(c) => params.cursor = Some(c),
            None => return out,
        }
    }
}

fn check(db: &Db, tenant: &str, entries: &[Entry], now: Timestamp) {
    let want = oracle(entries);
    let from = now - SignedDuration::from_hours(24 * 12);
    let to = now - SignedDuration::from_hours(24 * 3);
    for state in ["open", "reviewed", "all"] {
        for actor in [None, Some("dr-b")] {
            for range in [(None, None), (Some(from), Some(to))] {
                let params = ReviewParams {
                    state: Some(state.into()),
                    actor: actor.map(str::to_owned),
                    from: range.0.map(|t| t.to_string()),
                    to: range.1.map(|t| t.to_string()),
                    ..Default::default()
                };
                let expected: Vec<(u64, Option<u64>)> = want
                    .iter()
                    .filter(|i| match state {
                        "open" => i.3.is_none(),
                        "reviewed" => i.3.is_some(),
                        _ => true,
                    })
                    .filter(|i| actor.is_none_or(|a| i.2 == a))
                    .filter(|i| range.0.is_none_or(|f| i.1 >= f) && range.1.is_none_or(|t| i.1 < t))
                    .map(|i| (i.0, i.3))
                    .collect();
                assert!(
                    !expected.is_empty(),
                    "{state} {actor:?}: the history is too thin"
                );
                assert_eq!(
                    pages(db, tenant, params),
                    expected,
                    "{state} {actor:?} {range:?}"
                );
            }
        }
    }
    let deadline = SignedDuration::from_hours(24 * 7);
    let open: Vec<_> = want.iter().filter(|i| i.3.is_none()).collect();
    let overdue = open.iter().filter(|i| i.1 < now - deadline).count() as u64;
    assert!(overdue > 0 && overdue < open.len() as u64);
    assert_eq!(
        db.break_glass_counts(tenant, now, deadline).unwrap(),
        (open.len() as u64, overdue)
    );
    // Every item's history: the valid reviews of it, in seq order.
    for (seq, ..) in &want {
        let (item, history) = db.break_glass_item(tenant, *seq).unwrap().unwrap();
        let reviews: Vec<u64> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.by == "recall:server"
                    && e.event.action == "review"
                    && e.event.detail.as_ref().unwrap()["review"]["seq"] == *seq
            })
            .map(|(s, _)| s as u64)
            .collect();
        assert_eq!(history.iter().map(|r| r.seq).collect::<Vec<_>>(), reviews);
        assert_eq!(item.latest.map(|r| r.seq), reviews.last().copied());
    }
    // A review of an access that is none, or a seq that is no access: not an item.
    let plain = entries
        .iter()
        .position(|e| e.event.purpose.as_deref() == Some("TREAT"));
    assert!(
        db.break_glass_item(tenant, plain.unwrap() as u64)
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_queue_matches_the_oracle_live_after_reopen_and_after_reindex() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = common::journal_in(tmp.path());
    let now = Timestamp::now();
    let entries = history(now, 16);
    let other = history(now, 99);
    {
        let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
        let mut rng = Lcg(3);
        append(&db, "north", &entries, || 1 + rng.next(40) as usize);
        append(&db, "south", &other, || 50);
        check(&db, "north", &entries, now);
        check(&db, "south", &other, now);
    }
    let db = Db::open(journal, &tmp.path().join("index")).unwrap();
    check(&db, "north", &entries, now);
    db.reindex().unwrap();
    check(&db, "north", &entries, now);
    check(&db, "south", &other, now);
}

#[test]
fn cursors_are_bound_to_their_parameters_and_bad_parameters_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = common::journal_in(tmp.path());
    let db = Db::open(journal, &tmp.path().join("index")).unwrap();
    let now = Timestamp::now();
    append(&db, "north", &history(now, 5), || 100);
    let lens = Lens::full();
    let open = ReviewParams {
        limit: Some(2),
        ..Default::default()
    };
    let page = db
        .break_glass_page("north", &open.query(&lens).unwrap(), u64::MAX)
        .unwrap();
    let cursor = page.next_cursor.unwrap();
    let other = ReviewParams {
        state: Some("all".into()),
        limit: Some(2),
        cursor: Some(cursor),
        ..Default::default()
    };
    assert!(matches!(
        db.break_glass_page("north", &other.query(&lens).unwrap(), u64::MAX),
        Err(recall_query::QueryError::BadCursor)
    ));
    for (field, p) in [
        (
            "state",
            ReviewParams {
                state: Some("closed".into()),
                ..Default::default()
            },
        ),
        (
            "limit",
            ReviewParams {
                limit: Some(0),
                ..Default::default()
            },
        ),
        (
            "limit",
            ReviewParams {
                limit: Some(501),
                ..Default::default()
            },
        ),
        (
            "from",
            ReviewParams {
                from: Some("yesterday".into()),
                ..Default::default()
            },
        ),
    ] {
        match p.query(&lens) {
            Err(recall_query::QueryError::BadFilter { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn the_lens_applies_to_items_and_to_the_actor_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = common::journal_in(tmp.path());
    let db = Db::open(journal, &tmp.path().join("index")).unwrap();
    let now = Timestamp::now();
    let entries = history(now, 7);
    append(&db, "north", &entries, || 64);
    // An auditor under an engineer-like policy: actors and patients pseudonymised, free
    // text withheld.
    let mut policy = recall_query::Policy::default();
    for (field, rule) in [
        ("actor.id", "pseudonym"),
        ("patient.id", "pseudonym"),
        ("reason", "withhold"),
    ] {
        policy.set("auditor", field, rule).unwrap();
    }
    let lens = db
        .lens("north", &policy, recall_query::Reader::Auditor, false)
        .unwrap();
    let all = ReviewParams {
        state: Some("all".into()),
        limit: Some(500),
        ..Default::default()
    };
    let page = db
        .break_glass_page("north", &all.query(&lens).unwrap(), u64::MAX)
        .unwrap();
    let deadline = SignedDuration::from_hours(24 * 7);
    let shown: Vec<serde_json::Value> = page
        .items
        .iter()
        .map(|i| i.json(&lens, now, deadline).unwrap())
        .collect();
    let text = serde_json::to_string(&shown).unwrap();
    for a in ACTORS {
        assert!(!text.contains(&format!("\"{a}\"")), "{a} in the clear");
    }
    assert!(
        !text.contains("emergency") && !text.contains("\"p-"),
        "{text}"
    );
    let psn = shown[0]["actor"]["id"].as_str().unwrap().to_string();
    assert!(psn.starts_with("psn_"), "{psn}");
    // A clear actor is refused, naming the parameter; the pseudonym filters.
    let clear = ReviewParams {
        actor: Some("dr-a".into()),
        ..all.clone()
    };
    assert!(matches!(
        clear.query(&lens),
        Err(recall_query::QueryError::BadFilter { field: "actor", .. })
    ));
    let by_psn = ReviewParams {
        actor: Some(psn.clone()),
        ..all
    };
    let page = db
        .break_glass_page("north", &by_psn.query(&lens).unwrap(), u64::MAX)
        .unwrap();
    let want = shown
        .iter()
        .filter(|i| i["actor"]["id"] == psn.as_str())
        .count();
    assert!(want > 0);
    assert_eq!(page.items.len(), want);
}
