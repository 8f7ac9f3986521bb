//! Random timelines of ingest, legal holds, releases and retention runs against a simple
//! model of what must stay readable: an event is readable exactly when no run has found
//! its month past retention and unheld. The clock is simulated (runs take `now` as
//! given); events are always within retention when ingested, as ingest demands. All data
//! is synthetic.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use jiff::{Timestamp, ToSpan, tz::TimeZone};
use proptest::prelude::*;
use recall::datadir::DataDir;
use recall::retention::{open_holds, run};
use recall_governance::{Direct, Recorder, Scope};
use recall_model::Epoch;
use recall_query::{Lookup, Subject};
use recall_store::retention::Retention;
use serde_json::json;

const T: &str = "t";
const YEARS: u32 = 2;

#[derive(Debug, Clone)]
enum Op {
    /// The clock moves this many months.
    Advance(u8),
    /// An event this many months before now, of patient `p` and actor `a`.
    Ingest {
        back: u8,
        p: u8,
        a: u8,
    },
    HoldPatient(u8),
    HoldActor(u8),
    /// A time hold over `len` months starting `back` months before now.
    HoldTime {
        back: u8,
        len: u8,
    },
    /// Releases the n-th active hold (modulo their number).
    Release(u8),
    Run,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..=14).prop_map(Op::Advance),
        4 => (0u8..=20, 0u8..3, 0u8..3).prop_map(|(back, p, a)| Op::Ingest { back, p, a }),
        1 => (0u8..3).prop_map(Op::HoldPatient),
        1 => (0u8..3).prop_map(Op::HoldActor),
        1 => (0u8..30, 1u8..6).prop_map(|(back, len)| Op::HoldTime { back, len }),
        1 => any::<u8>().prop_map(Op::Release),
        3 => Just(Op::Run),
    ]
}

fn months(t: Timestamp, n: i64) -> Timestamp {
    t.to_zoned(TimeZone::UTC)
        .checked_add(n.months())
        .unwrap()
        .timestamp()
}

/// A hold as the model sees it.
#[derive(Debug, Clone)]
enum ModelHold {
    Patient(u8),
    Actor(u8),
    Time(Timestamp, Timestamp),
}

struct Model {
    /// (seq, month, patient, actor) of each event.
    events: Vec<(u64, u32, u8, u8)>,
    /// (store id, hold) of active holds.
    holds: Vec<(String, ModelHold)>,
    shredded: BTreeSet<u32>,
}

impl Model {
    fn held(&self, month: u32) -> bool {
        self.holds.iter().any(|(_, h)| match h {
            ModelHold::Patient(p) => self.events.iter().any(|e| e.1 == month && e.2 == *p),
            ModelHold::Actor(a) => self.events.iter().any(|e| e.1 == month && e.3 == *a),
            ModelHold::Time(from, to) => {
                Epoch::of(*from).0 <= month
                    && month <= Epoch::of(*to - jiff::SignedDuration::from_nanos(1)).0
            }
        })
    }
}

fn check_timeline(ops: &[Op]) {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("data");
    recall::datadir::init(&path).unwrap();
    let dir = DataDir::open(&path, false).unwrap();
    let db = recall::serve::open_db(&dir).unwrap();
    let holds = open_holds(&path).unwrap();
    let retention = Retention {
        default_years: YEARS,
        ..Retention::default()
    };
    // Simulated time stays behind the real clock (events may not lie in the future).
    let mut now = months(Timestamp::now(), -200);
    let mut model = Model {
        events: Vec::new(),
        holds: Vec::new(),
        shredded: BTreeSet::new(),
    };
    for op in ops {
        match op {
            Op::Advance(m) => now = months(now, i64::from(*m)),
            Op::Ingest { back, p, a } => {
                let time = months(now, -i64::from(*back));
                if time < retention.cutoff(T, now) {
                    continue; // ingest refuses it
                }
                let event = json!({
                    "time": time.to_string(),
                    "actor": {"id": format!("u-{a}")},
                    "action": "read",
                    "patient": {"id": format!("MRN-M{p}")},
                });
                // Retention records take seqs too: the event's is the log size before it.
                let seq = if model.events.is_empty()
                    && !dir
                        .journal
                        .store()
                        .tenants()
                        .unwrap()
                        .iter()
                        .any(|t| t == T)
                {
                    0
                } else {
                    dir.journal.store().size(T).unwrap()
                };
                let event =
                    recall_model::parse_event(&serde_json::to_vec(&event).unwrap(), now).unwrap();
                Direct::new(&db).record(T, event).unwrap();
                model.events.push((seq, Epoch::of(time).0, *p, *a));
            }
            Op::HoldPatient(p) => {
                let token = db
                    .subject_token(T, Subject::Patient, &format!("MRN-M{p}"))
                    .unwrap();
                let h = holds.create(T, Scope::Patient(token), "m", "test").unwrap();
                model.holds.push((h.id, ModelHold::Patient(*p)));
            }
            Op::HoldActor(a) => {
                let token = db
                    .subject_token(T, Subject::Actor, &format!("u-{a}"))
                    .unwrap();
                let h = holds.create(T, Scope::Actor(token), "m", "test").unwrap();
                model.holds.push((h.id, ModelHold::Actor(*a)));
            }
            Op::HoldTime { back, len } => {
                let from = months(now, -i64::from(*back));
                let to = months(from, i64::from(*len));
                let h = holds
                    .create(T, Scope::Time { from, to }, "m", "test")
                    .unwrap();
                model.holds.push((h.id, ModelHold::Time(from, to)));
            }
            Op::Release(n) => {
                if !model.holds.is_empty() {
                    let (id, _) = model.holds.remove(*n as usize % model.holds.len());
                    holds.release(T, &id, "test").unwrap();
                }
            }
            Op::Run => {
                if model.events.is_empty() {
                    continue; // no log yet
                }
                let months_with_events: BTreeSet<u32> = model.events.iter().map(|e| e.1).collect();
                for m in months_with_events {
                    if !model.shredded.contains(&m)
                        && retention.epoch_expired(T, m, now)
                        && !model.held(m)
                    {
                        model.shredded.insert(m);
                    }
                }
                run(&path, &db, &retention, Some(T), false, now).unwrap();
                for &(s, month, _, _) in &model.events {
                    let got = db.get(T, s).unwrap();
                    if model.shredded.contains(&month) {
                        assert!(
                            matches!(got, Lookup::Unreadable { epoch } if epoch == month),
                            "seq {s} (month {month}) should be shredded"
                        );
                    } else {
                        assert!(
                            matches!(got, Lookup::Found(_)),
                            "seq {s} (month {month}) should be readable"
                        );
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn what_stays_readable_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        check_timeline(&ops);
    }
}
