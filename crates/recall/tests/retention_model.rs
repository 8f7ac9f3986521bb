//! Random timelines of ingest, legal holds, releases and retention runs against a simple
//! model of what must stay readable: an event is readable exactly when no run has found
//! its month past retention and unheld. The clock is simulated (runs take `now` as
//! given); events are always within retention when ingested, as ingest demands. All data
//! is synthetic.
//!
//! Each run goes, as proptest chooses, through the CLI's run (`recall::retention::run`) or
//! the server's periodic run (`recall_server::governance::run_at` over an in-process
//! server state), against the same model: both must keep exactly what the holds keep.
//! Holds are placed and released through `recall_governance::workflows`, so each change
//! is recorded in the log as `recall holds` and the API record it.
//!
//! This would have failed on the old server: its periodic run asked for the expired
//! epochs with `&|_| false` for "is this month held" and shredded all of them, so any
//! timeline with an active hold over a month past retention and a server run (e.g.
//! [`a_server_run_keeps_a_held_month`]) finds a held event unreadable where the model
//! says it must read.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use jiff::{Timestamp, ToSpan, tz::TimeZone};
use proptest::prelude::*;
use recall::datadir::DataDir;
use recall::retention::open_holds;
use recall_governance::workflows::{self, Actor, NewHold};
use recall_governance::{Direct, Holds, Recorder, Scope, Via, Who};
use recall_model::Epoch;
use recall_query::{Db, Lookup, Subject};
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
    /// A retention run: through the server's periodic run when `server`, else the CLI's.
    Run {
        server: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..=14).prop_map(Op::Advance),
        4 => (0u8..=20, 0u8..3, 0u8..3).prop_map(|(back, p, a)| Op::Ingest { back, p, a }),
        1 => (0u8..3).prop_map(Op::HoldPatient),
        1 => (0u8..3).prop_map(Op::HoldActor),
        1 => (0u8..30, 1u8..6).prop_map(|(back, len)| Op::HoldTime { back, len }),
        1 => any::<u8>().prop_map(Op::Release),
        3 => any::<bool>().prop_map(|server| Op::Run { server }),
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

/// Events in the log (0 before it exists).
fn log_size(db: &Db) -> u64 {
    let store = db.journal().store();
    if store.tenants().unwrap().iter().any(|t| t == T) {
        store.size(T).unwrap()
    } else {
        0
    }
}

/// Places a hold as `recall holds create` does: through the workflow, recorded in the log.
fn place(
    holds: &Holds,
    db: &Db,
    scope: Scope,
    patient: Option<&str>,
    actor: Option<&str>,
) -> String {
    let before = log_size(db);
    let who = Who::operator("model");
    let via = Via::cli("recall holds create");
    let by = Actor {
        who: &who,
        via: &via,
        recorder: &Direct::new(db),
    };
    let new = NewHold {
        tenant: T,
        scope,
        matter: "Case M",
        patient,
        actor,
    };
    let id = workflows::place_hold(holds, &by, new).unwrap().id;
    assert_eq!(log_size(db), before + 1, "the placement is on record");
    id
}

/// Releases a hold as `recall holds release` does, recorded.
fn release(holds: &Holds, db: &Db, id: &str) {
    let who = Who::operator("model");
    let via = Via::cli("recall holds release");
    let by = Actor {
        who: &who,
        via: &via,
        recorder: &Direct::new(db),
    };
    let before = log_size(db);
    let (hold, changed) = workflows::release_hold(holds, &by, T, id).unwrap().unwrap();
    assert!(changed && hold.released.is_some());
    assert_eq!(log_size(db), before + 1, "the release is on record");
}

/// One run of the server's periodic retention (`recall serve`'s), as of `now`, over a
/// server state built for it. The state's writer thread appends the run's record; it is
/// shut down before returning, so this test's direct appends never race it (the log has
/// one writer at a time, as with a real server holding the data directory).
fn server_run(path: &Path, db: &Arc<Db>, retention: &Retention, now: Timestamp) {
    let cfg = recall_server::ServerConfig {
        data_dir: Some(path.to_owned()),
        retention: retention.clone(),
        ..recall_server::ServerConfig::default()
    };
    let auth = recall_server::Authenticator::new(None, None);
    let state = recall_server::state(db.clone(), auth, cfg, None).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ran = runtime.block_on(recall_server::governance::run_at(&state, now));
    state.ingest.shutdown();
    ran.unwrap();
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
    // Simulated time stays behind the real clock (events may not lie in the future), by
    // more than 40 ops of at most 14 months: the records of hold changes (stamped with the
    // real time, a patient hold's naming its patient) then lie in a month no run reaches.
    let mut now = months(Timestamp::now(), -600);
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
                // Hold and retention records take seqs too: the event's is the log size
                // before it.
                let seq = log_size(&db);
                let event =
                    recall_model::parse_event(&serde_json::to_vec(&event).unwrap(), now).unwrap();
                Direct::new(&db).record(T, event).unwrap();
                model.events.push((seq, Epoch::of(time).0, *p, *a));
            }
            Op::HoldPatient(p) => {
                let patient = format!("MRN-M{p}");
                let token = db.subject_token(T, Subject::Patient, &patient).unwrap();
                let id = place(&holds, &db, Scope::Patient(token), Some(&patient), None);
                model.holds.push((id, ModelHold::Patient(*p)));
            }
            Op::HoldActor(a) => {
                let actor = format!("u-{a}");
                let token = db.subject_token(T, Subject::Actor, &actor).unwrap();
                let id = place(&holds, &db, Scope::Actor(token), None, Some(&actor));
                model.holds.push((id, ModelHold::Actor(*a)));
            }
            Op::HoldTime { back, len } => {
                let from = months(now, -i64::from(*back));
                let to = months(from, i64::from(*len));
                let id = place(&holds, &db, Scope::Time { from, to }, None, None);
                model.holds.push((id, ModelHold::Time(from, to)));
            }
            Op::Release(n) => {
                if !model.holds.is_empty() {
                    let (id, _) = model.holds.remove(*n as usize % model.holds.len());
                    release(&holds, &db, &id);
                }
            }
            Op::Run { server } => {
                if model.events.is_empty() {
                    continue; // nothing to run over
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
                if *server {
                    server_run(&path, &db, &retention, now);
                } else {
                    recall::retention::run(&path, &db, &retention, Some(T), false, now).unwrap();
                }
                let via = if *server { "server" } else { "CLI" };
                for &(s, month, _, _) in &model.events {
                    let got = db.get(T, s).unwrap();
                    if model.shredded.contains(&month) {
                        assert!(
                            matches!(got, Lookup::Unreadable { epoch } if epoch == month),
                            "seq {s} (month {month}) should be shredded after the {via} run"
                        );
                    } else {
                        assert!(
                            matches!(got, Lookup::Found(_)),
                            "seq {s} (month {month}) should be readable after the {via} run"
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

/// The defect's shape, fixed: a held month past retention, then a server run (the old
/// server shredded it); then the CLI's run, and the hold's release lets the next run shred.
#[test]
fn a_server_run_keeps_a_held_month() {
    check_timeline(&[
        Op::Ingest {
            back: 0,
            p: 1,
            a: 0,
        },
        Op::Ingest {
            back: 0,
            p: 2,
            a: 1,
        },
        Op::Advance(1),
        Op::Ingest {
            back: 0,
            p: 2,
            a: 1,
        },
        Op::HoldPatient(1),
        Op::Advance(14),
        Op::Advance(14),
        Op::Run { server: true },
        Op::Run { server: false },
        Op::Release(0),
        Op::Run { server: true },
    ]);
}
