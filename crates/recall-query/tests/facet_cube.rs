//! The facet cube: whole counts (`Db::facet_counts`) against a brute-force count over
//! the same events for random filters of action, outcome, system and time windows (hour
//! edges included) and random horizons; the same after `reindex` and after a restart;
//! through a lens; and shredded months dropped as search drops them. Filters naming a
//! patient or an actor (counted whole from their posting lists and combination codes)
//! against the same brute-force count and the event-by-event walk.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Rec, append, journal_in, oracle, world};
use jiff::{Timestamp, ToSpan};
use recall_query::{Db, Facets, Filter, Order, Query};

fn prepared(db: &Db, filter: &Filter) -> recall_query::Prepared {
    let q = Query {
        filter: filter.clone(),
        order: Order::Desc,
        limit: 10,
        cursor: None,
    };
    db.prepare("north", &q).unwrap()
}

fn counts(db: &Db, filter: &Filter, horizon: u64) -> Facets {
    db.facet_counts(&prepared(db, filter), horizon).unwrap()
}

/// What the counts must be: every matching event below `horizon`, counted by hand.
fn brute(recs: &[Rec], filter: &Filter, horizon: u64) -> Facets {
    let mut out = Facets {
        complete: true,
        ..Facets::default()
    };
    let bump = |m: &mut BTreeMap<String, u64>, v: Option<String>| {
        if let Some(v) = v {
            *m.entry(v).or_default() += 1;
        }
    };
    for s in oracle(recs, "north", filter, Order::Desc) {
        if s >= horizon {
            continue;
        }
        let e = &recs
            .iter()
            .find(|r| r.seq == s && r.tenant == "north")
            .unwrap()
            .event;
        out.counted += 1;
        bump(&mut out.action, Some(e.action.clone()));
        bump(&mut out.outcome, Some(e.outcome.as_str().into()));
        bump(&mut out.role, e.actor.role.clone());
        bump(
            &mut out.system,
            e.source.as_ref().and_then(|s| s.system.clone()),
        );
    }
    out
}

/// A small deterministic generator (the test needs variety, not a dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
    fn pick<T: Clone>(&mut self, from: &[T]) -> T {
        from[self.next(from.len() as u64) as usize].clone()
    }
}

/// Random filters over the tenant's values and times: any of action, outcome and
/// system, and a window whose ends fall anywhere (mostly inside an hour).
fn filters(recs: &[Rec], n: usize, seed: u64) -> Vec<Filter> {
    filters_with(recs, n, seed, false)
}

/// [`filters`], each also naming a patient, an actor or both of the tenant's when
/// `idents` (now and then one that matches nothing: a patient with another's actor).
fn filters_with(recs: &[Rec], n: usize, seed: u64, idents: bool) -> Vec<Filter> {
    let north: Vec<&Rec> = recs.iter().filter(|r| r.tenant == "north").collect();
    let patients: Vec<String> = north
        .iter()
        .filter_map(|r| r.event.patient.as_ref().map(|p| p.id.clone()))
        .collect();
    let actors: Vec<String> = north.iter().map(|r| r.event.actor.id.clone()).collect();
    let actions: Vec<String> = north.iter().map(|r| r.event.action.clone()).collect();
    let systems: Vec<String> = north
        .iter()
        .filter_map(|r| r.event.source.as_ref().and_then(|s| s.system.clone()))
        .collect();
    let times: Vec<Timestamp> = north.iter().map(|r| r.event.time).collect();
    let mut rng = Rng(seed | 1);
    let mut out = vec![Filter::default()];
    while out.len() < n {
        let mut f = Filter::default();
        let time = |rng: &mut Rng| {
            let t = rng.pick(&times);
            let nudge = rng.next(7_200) as i64 - 3_600;
            t.checked_add(nudge.seconds()).unwrap()
        };
        if rng.next(3) == 0 {
            f.action = Some(rng.pick(&actions));
        }
        if rng.next(4) == 0 {
            f.outcome = Some(rng.pick(&["success", "failure", "denied"]).to_string());
        }
        if rng.next(3) == 0 && !systems.is_empty() {
            f.system = Some(rng.pick(&systems));
        }
        if rng.next(2) == 0 {
            f.from = Some(time(&mut rng));
        }
        if rng.next(2) == 0 {
            f.to = Some(time(&mut rng));
        }
        if idents {
            let pair = rng.pick(&north);
            match rng.next(3) {
                0 => f.patient = pair.event.patient.as_ref().map(|p| p.id.clone()),
                1 => f.actor = Some(pair.event.actor.id.clone()),
                _ => {
                    f.patient = Some(rng.pick(&patients));
                    f.actor = Some(rng.pick(&actors));
                }
            }
            if rng.next(3) == 0 {
                // Now and then no window at all: a whole patient or actor.
                (f.from, f.to) = (None, None);
            }
        }
        out.push(f);
    }
    out
}

/// The counts `want` (filter, horizon, counts) again after `reindex`, then after a
/// restart: both rebuild or reread the cube and the combination codes.
fn same_after_reindex_and_restart(w: common::World, want: &[(&Filter, u64, Facets)]) {
    w.db.reindex().unwrap();
    for (f, horizon, got) in want {
        assert_eq!(&counts(&w.db, f, *horizon), got, "after reindex: {f:?}");
    }
    let (journal, dir) = (w.journal.clone(), w.index_dir());
    drop(w.db);
    let db = Db::open(journal, &dir).unwrap();
    for (f, horizon, got) in want {
        assert_eq!(&counts(&db, f, *horizon), got, "after restart: {f:?}");
    }
}

#[test]
fn cube_counts_match_a_brute_force_count_and_survive_reindex_and_restart() {
    let w = world(2400, 29);
    let north_size = w.journal.store().size("north").unwrap();
    let fs = filters(&w.recs, 60, 0x5eed);
    let mut rng = Rng(77);
    let mut want = Vec::new();
    for f in &fs {
        // A horizon inside the log now and then: the hours holding it are walked.
        let horizon = match rng.next(4) {
            0 => rng.next(north_size + 1),
            _ => u64::MAX,
        };
        let got = counts(&w.db, f, horizon);
        assert_eq!(got, brute(&w.recs, f, horizon), "{f:?} below {horizon}");
        want.push((f, horizon, got));
    }
    assert!(want.iter().any(|(_, _, g)| g.counted > 100));
    // The bounded walk still counts the newest only.
    let bounded = w.db.facets(&prepared(&w.db, &fs[0]), u64::MAX, 7).unwrap();
    assert_eq!((bounded.counted, bounded.complete), (7, false));

    same_after_reindex_and_restart(w, &want);
}

#[test]
fn cube_counts_go_through_the_lens_like_the_walk() {
    let w = world(600, 3);
    let lens = common::engineer_lens(&w.db);
    let mut filter = Filter {
        lens: Some(lens),
        ..Filter::default()
    };
    let got = counts(&w.db, &filter, u64::MAX);
    let walked =
        w.db.facets(&prepared(&w.db, &filter), u64::MAX, 10_000)
            .unwrap();
    assert!(walked.complete && got.counted > 0);
    assert_eq!(got, walked);
    assert!(got.role.is_empty() && got.system.keys().all(|k| k.starts_with("psn_")));
    // A system filter given as its pseudonym counts that system's events only.
    let (psn, n) = got.system.iter().next().unwrap();
    filter.system = Some(psn.clone());
    let one = counts(&w.db, &filter, u64::MAX);
    assert_eq!((one.counted, one.system.len()), (*n, 1));
}

#[test]
fn shredded_months_leave_the_counts_as_they_leave_search() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
    let mk = |time: &str, action: &str| {
        let json = format!(
            r#"{{"time":"{time}","actor":{{"id":"u-1","role":"nurse"}},"action":"{action}","source":{{"system":"ehr"}}}}"#
        );
        recall_model::parse_event(json.as_bytes(), Timestamp::now()).unwrap()
    };
    let events = vec![
        mk("2026-01-10T10:00:00Z", "read"),
        mk("2026-01-10T10:30:00Z", "update"),
        mk("2026-02-10T10:00:00Z", "read"),
    ];
    append(&db, "north", &events, 10);
    // Two batches in one hour add to one cell.
    append(&db, "north", &[mk("2026-02-10T10:10:00Z", "read")], 10);
    let all = counts(&db, &Filter::default(), u64::MAX);
    assert_eq!((all.counted, all.action["read"]), (4, 3));
    assert!(journal.keystore().forget_epoch("north", 202601).unwrap());
    let left = counts(&db, &Filter::default(), u64::MAX);
    assert_eq!(left.counted, 2);
    assert_eq!(left.action, BTreeMap::from([("read".to_string(), 2)]));
    let by_actor = Filter {
        actor: Some("u-1".into()),
        ..Filter::default()
    };
    assert_eq!(
        counts(&db, &by_actor, u64::MAX),
        left,
        "actor lists skip it too"
    );
    // Rebuilt from the log, the cube still holds nothing of the shredded month.
    db.reindex().unwrap();
    assert_eq!(counts(&db, &Filter::default(), u64::MAX), left);
    assert_eq!(counts(&db, &by_actor, u64::MAX), left);
}

#[test]
fn patient_and_actor_counts_match_a_brute_force_count_and_the_walk() {
    let w = world(2400, 31);
    let north_size = w.journal.store().size("north").unwrap();
    let fs = filters_with(&w.recs, 80, 0xface, true);
    let mut rng = Rng(91);
    let mut want = Vec::new();
    for f in &fs {
        let p = prepared(&w.db, f);
        assert!(p.counts_whole(), "{f:?}");
        let horizon = match rng.next(4) {
            0 => rng.next(north_size + 1),
            _ => u64::MAX,
        };
        let got = counts(&w.db, f, horizon);
        assert_eq!(got, brute(&w.recs, f, horizon), "{f:?} below {horizon}");
        // The event-by-event walk (uncapped at this size) agrees.
        assert_eq!(got, w.db.facets(&p, horizon, 10_000).unwrap(), "{f:?}");
        want.push((f, horizon, got));
    }
    let sizes: Vec<u64> = want.iter().map(|(_, _, g)| g.counted).collect();
    assert!(
        sizes.iter().filter(|&&n| n > 0).count() > 20 && sizes.iter().any(|&n| n >= 10),
        "too little to compare: {sizes:?}"
    );
    assert!(want.iter().any(|(_, _, g)| g.counted == 0));
    // A filter the lists cannot answer still walks.
    let purpose = Filter {
        purpose: Some("TREAT".into()),
        ..fs[1].clone()
    };
    assert!(!prepared(&w.db, &purpose).counts_whole());
    assert_eq!(
        counts(&w.db, &purpose, u64::MAX),
        brute(&w.recs, &purpose, u64::MAX)
    );

    same_after_reindex_and_restart(w, &want);
}

#[test]
fn new_combinations_after_a_restart_keep_their_codes_apart() {
    // The code table is read back from disk after a restart and extended: counts of
    // events indexed before and after must both stay right.
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let events = common::generated(900, 5);
    let first = {
        let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
        append(&db, "north", &events[..400], 70)
    };
    let db = Db::open(journal, &tmp.path().join("index")).unwrap();
    let mut recs = first;
    recs.extend(append(&db, "north", &events[400..], 90));
    for f in filters_with(&recs, 30, 0xc0de, true)
        .iter()
        .chain(&filters(&recs, 10, 3))
    {
        assert_eq!(counts(&db, f, u64::MAX), brute(&recs, f, u64::MAX), "{f:?}");
    }
}
