//! Breach assessments over a real journal and index, on a crafted history with known
//! answers: 501 patients, read by three actors so that their scopes affect exactly 499,
//! 500 and 501 patients; the deadlines and the media test at those edges (with no roster,
//! and with test rosters behind the `PatientStates` boundary); every change recorded in
//! the log and read back from it; `assessments.db` without PHI or free text.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use jiff::Timestamp;
use recall_crypto::{Kek, Keystore};
use recall_governance::assessment::{
    Decision, Factors, NoRoster, OpenRequest, PatientStates, ScopeDoc, UpdateRequest,
};
use recall_governance::assessments::{self, event_id};
use recall_governance::workflows::Actor;
use recall_governance::{ASSESSMENTS_FILE, Assessments, Books, Direct, GovernanceError, Via, Who};
use recall_ledger::Signer;
use recall_model::Event;
use recall_query::{Db, Lookup};
use recall_store::{EmbeddedOptions, EmbeddedStore, Journal};

const T: &str = "ward-b";

fn patient(i: usize) -> String {
    format!("MRN-B{i:04}")
}

fn event(v: serde_json::Value) -> Event {
    recall_model::parse_event(v.to_string().as_bytes(), Timestamp::now()).unwrap()
}

/// Actor `a-499` reads patients 0..499, `a-500` 0..500, `a-501` 0..501 (its reads of
/// odd patients denied); one read of every actor falls after the window.
fn history() -> Vec<Event> {
    let mut out = Vec::new();
    for (actor, n) in [("a-499", 499), ("a-500", 500), ("a-501", 501)] {
        for i in 0..n {
            let outcome = if actor == "a-501" && i % 2 == 1 {
                "denied"
            } else {
                "success"
            };
            out.push(event(serde_json::json!({
                "time": format!("2026-03-0{}T{:02}:{:02}:00Z", 2 + i % 5, i % 24, i % 60),
                "actor": {"id": actor},
                "action": if i % 3 == 0 { "read" } else { "export" },
                "outcome": outcome,
                "patient": {"id": patient(i)},
                "resource": {"type": "Observation"},
                "source": {"system": "ehr-b"},
            })));
        }
        out.push(event(serde_json::json!({
            "time": "2026-04-20T00:00:00Z", "actor": {"id": actor}, "action": "read",
            "patient": {"id": "MRN-LATE"}, "source": {"system": "ehr-b"},
        })));
    }
    out
}

struct World {
    _tmp: tempfile::TempDir,
    who: Who,
    via: Via,
    db: Db,
    store: Assessments,
    path: std::path::PathBuf,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keystore = Keystore::create(&dir.join("ks.db"), Kek::from_bytes([7; 32])).unwrap();
    let store = EmbeddedStore::open(&dir.join("tenants"), EmbeddedOptions::default()).unwrap();
    let signer = Signer::new("test", &[1; 32]).unwrap();
    let journal = Arc::new(Journal::new(
        Arc::new(store),
        Arc::new(keystore),
        signer,
        vec![],
        "test",
    ));
    let db = Db::open(journal.clone(), &dir.join("index")).unwrap();
    journal.open_tenant(T).unwrap();
    let events = history();
    let by = vec!["key:k-test"; events.len()];
    let sealed = journal
        .prepare(T, &events, &by, 0, Timestamp::now())
        .unwrap();
    let committed = journal.commit(T, &sealed).unwrap();
    db.index_batch(T, &sealed, &committed.location, &events)
        .unwrap();
    let path = dir.join(ASSESSMENTS_FILE);
    World {
        who: officer(),
        via: Via::cli("test"),
        store: Assessments::open(&path).unwrap(),
        _tmp: tmp,
        db,
        path,
    }
}

impl World {
    /// The assessment books over this world, with `states` for residence.
    fn books<'a>(&'a self, states: &'a dyn PatientStates) -> Books<'a> {
        Books {
            db: &self.db,
            store: &self.store,
            states,
        }
    }

    /// The privacy officer acting, recorded through `recorder`.
    fn by<'a>(&'a self, recorder: &'a Direct<'a>) -> Actor<'a> {
        Actor {
            who: &self.who,
            via: &self.via,
            recorder,
        }
    }
}

/// A roster for tests only: patients numbered below `split` live in MA, the rest in NH.
struct Roster {
    split: usize,
}

impl PatientStates for Roster {
    fn states(&self, _: &str, ids: &[String]) -> Result<Vec<Option<String>>, GovernanceError> {
        Ok(ids
            .iter()
            .map(|p| {
                let n: usize = p.trim_start_matches("MRN-B").parse().ok()?;
                Some(if n < self.split { "MA" } else { "NH" }.to_string())
            })
            .collect())
    }
}

fn request(actor: &str) -> OpenRequest {
    OpenRequest {
        description: "Shared workstation left logged in".into(),
        discovered: "2026-04-01".into(),
        scope: ScopeDoc {
            actors: vec![actor.into()],
            systems: vec!["ehr-b".into()],
            from: "2026-03-01T00:00:00Z".into(),
            to: "2026-04-01T00:00:00Z".into(),
            ..Default::default()
        },
    }
}

fn officer() -> Who {
    Who {
        id: "key:officer-1".into(),
        role: Some("privacy_officer".into()),
        kind: "service",
    }
}

#[test]
fn counts_and_deadlines_at_the_499_500_501_edges() {
    let w = world();
    let recorder = Direct::new(&w.db);
    let by = w.by(&recorder);
    let books = |states: &'static dyn PatientStates| w.books(states);
    for (actor, n, route, hhs, media) in [
        ("a-499", 499u64, "annual_log", "2027-03-01", "no"),
        ("a-500", 500, "within_60_days", "2026-05-31", "no"),
        ("a-501", 501, "within_60_days", "2026-05-31", "unknown"),
    ] {
        let a = assessments::open(&books(&NoRoster), &by, T, &request(actor)).unwrap();
        let f = &a.figures;
        // The read after the window is not counted.
        assert_eq!((f.events, f.patients), (n, n), "{actor}");
        assert_eq!(f.by_state.get("unknown"), Some(&n), "{actor}");
        let reads = (0..n).filter(|i| i % 3 == 0).count() as u64;
        assert_eq!(f.by_action.get("read"), Some(&reads), "{actor}");
        let denied = if actor == "a-501" { n / 2 } else { 0 };
        let got = f.by_outcome.get("denied").copied().unwrap_or(0);
        assert_eq!(got, denied, "{actor}");
        let d = &a.deadlines;
        assert_eq!(d.individuals, "2026-05-31");
        assert_eq!(
            (d.hhs_route.as_str(), d.hhs.as_str()),
            (route, hhs),
            "{actor}"
        );
        assert_eq!(d.media_required, media, "{actor}");
    }
    // With a roster: 501 residents of MA need the media; 400 in MA and 101 in NH do not.
    static ALL_MA: Roster = Roster { split: 10_000 };
    static SPLIT: Roster = Roster { split: 400 };
    let a = assessments::open(&books(&ALL_MA), &by, T, &request("a-501")).unwrap();
    assert_eq!(a.deadlines.media_required, "yes");
    assert_eq!(a.deadlines.media_states, ["MA"]);
    assert_eq!(a.deadlines.media.as_deref(), Some("2026-05-31"));
    let a = assessments::open(&books(&SPLIT), &by, T, &request("a-501")).unwrap();
    assert_eq!(a.figures.by_state.get("NH"), Some(&101));
    assert_eq!(a.deadlines.media_required, "no");
    assert_eq!(a.deadlines.media, None);
}

#[test]
fn every_change_is_a_version_in_the_log_and_the_index_holds_no_phi() {
    let w = world();
    let recorder = Direct::new(&w.db);
    let by = w.by(&recorder);
    let b = w.books(&NoRoster);
    let mut req = request("a-500");
    req.scope.patients = vec![patient(7), patient(8), "MRN-NOBODY".into()];
    let a = assessments::open(&b, &by, T, &req).unwrap();
    assert_eq!(a.figures.patients, 2);
    let change = UpdateRequest {
        factors: Some(Factors {
            nature: Some("Demographics and lab results".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let v2 = assessments::update(&b, &by, T, &a.id, &change)
        .unwrap()
        .unwrap();
    assert_eq!(v2.version, 2);
    // The same change again changes nothing and records nothing.
    let same = assessments::update(&b, &by, T, &a.id, &change)
        .unwrap()
        .unwrap();
    assert_eq!(same.version, 2);
    let decide = UpdateRequest {
        decision: Some(Decision {
            breach: true,
            reason: "Viewed by an unauthorised person".into(),
        }),
        discovered: Some("2025-12-20".into()),
        ..Default::default()
    };
    let v3 = assessments::update(&b, &by, T, &a.id, &decide)
        .unwrap()
        .unwrap();
    assert_eq!((v3.version, v3.deadlines.hhs.as_str()), (3, "2026-03-01"));
    assert_eq!(v3.factors.nature, v2.factors.nature, "factors kept");
    // A bad change names its field and changes nothing.
    let bad = UpdateRequest {
        discovered: Some("soon".into()),
        ..Default::default()
    };
    match assessments::update(&b, &by, T, &a.id, &bad) {
        Err(GovernanceError::Assessment(recall_governance::AssessmentError::Invalid(i))) => {
            assert_eq!(i.field, "discovered")
        }
        other => panic!("{other:?}"),
    }
    let history = assessments::history(&b, T, &a.id).unwrap().unwrap();
    let versions: Vec<u32> = history.iter().map(|v| v.state.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(history[0].changed, ["opened"]);
    assert_eq!(history[2].changed, ["discovered", "decision"]);
    assert_eq!(history[2].state, v3);
    // Each version is one event of recall's own, carrying the whole state.
    for v in &history {
        let id = event_id(&w.db, T, &a.id, v.state.version).unwrap();
        // Keyed: nothing a writer could compute from the assessment id.
        assert!(!id.contains(&a.id), "{id}");
        let seq = w.db.lookup_id(T, &id).unwrap().unwrap();
        let Lookup::Found(f) = w.db.get(T, seq).unwrap() else {
            panic!("version {} not readable", v.state.version)
        };
        assert_eq!(f.event.resource.as_ref().unwrap().kind, "BreachAssessment");
        let system = f.event.source.as_ref().unwrap().system.clone();
        assert_eq!(system.as_deref(), Some("recall-cli"));
    }
    assert_eq!(assessments::list(&b, T).unwrap(), vec![v3.clone()]);
    let patients = assessments::patients(&b, T, &a.id).unwrap().unwrap();
    let ids: Vec<&str> = patients.iter().map(|(p, _)| p.patient.as_str()).collect();
    assert_eq!(ids, [patient(7), patient(8)]);
    let nobody = assessments::update(&b, &by, T, "0000000000000000", &change).unwrap();
    assert!(nobody.is_none());
    assert!(assessments::history(&b, "other", &a.id).unwrap().is_none());
    // Reopened, the index finds the same; its files hold neither ids nor texts.
    let store = Assessments::open(&w.path).unwrap();
    let b = Books {
        db: &w.db,
        store: &store,
        states: &NoRoster,
    };
    assert_eq!(assessments::list(&b, T).unwrap(), vec![v3]);
    let mut bytes = std::fs::read(&w.path).unwrap();
    let wal = format!("{}-wal", w.path.display());
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    for secret in [
        "MRN-B",
        "a-500",
        "workstation",
        "Demographics",
        "unauthorised",
        "ehr-b",
    ] {
        assert!(!text.contains(secret), "{secret} in assessments.db");
    }
    assert!(text.contains(&a.id));
}

/// A version forged under the next version's event id (by anyone who could append an
/// event with that id, even under recall's reserved system name) is neither taken as a
/// version nor breaks the assessment: only events recall appended itself count.
#[test]
fn a_forged_next_version_is_ignored() {
    let w = world();
    let recorder = Direct::new(&w.db);
    let by = w.by(&recorder);
    let b = w.books(&NoRoster);
    let a = assessments::open(&b, &by, T, &request("a-499")).unwrap();
    let mut forged = a.clone();
    forged.version = 2;
    forged.description = "forged".into();
    let e = event(serde_json::json!({
        "id": event_id(&w.db, T, &a.id, 2).unwrap(),
        "time": "2026-04-10T00:00:00Z",
        "actor": {"id": "u-forger"},
        "action": "update",
        "resource": {"type": "BreachAssessment", "id": a.id},
        "source": {"system": "recall"},
        "detail": {"assessment": forged, "changed": ["description"]},
    }));
    let journal = w.db.journal();
    let sealed = journal
        .prepare(
            T,
            std::slice::from_ref(&e),
            &["key:k-writer"],
            journal_size(&w),
            Timestamp::now(),
        )
        .unwrap();
    let committed = journal.commit(T, &sealed).unwrap();
    w.db.index_batch(T, &sealed, &committed.location, std::slice::from_ref(&e))
        .unwrap();
    let history = assessments::history(&b, T, &a.id).unwrap().unwrap();
    assert_eq!(history.len(), 1, "the forged version is not a version");
    assert_eq!(history[0].state.description, a.description);
}

fn journal_size(w: &World) -> u64 {
    w.db.journal().store().size(T).unwrap()
}

#[test]
fn a_patient_roster_kept_whole_moves_to_rows_once_and_answers_the_same() {
    use recall_governance::roster::{Patients, patient_states};
    use recall_governance::sealed::{SEALED_FILE, Sealed};
    let w = world();
    let sealed = Sealed::open(&w.path.with_file_name(SEALED_FILE)).unwrap();
    let keystore = w.db.journal().keystore();
    let indexer = recall_crypto::BlindIndexer::new(&keystore.index_key(T).unwrap());
    let token = |p: &str| hex::encode(indexer.token(recall_query::Subject::Patient.field(), p));
    // The layout before keyed rows: one sealed JSON document of every patient's state.
    let mut whole = Patients::default();
    whole.states.insert(token(&patient(1)), "MA".into());
    whole.states.insert(token(&patient(2)), "NH".into());
    let json = serde_json::to_vec(&whole).unwrap();
    sealed.put(keystore, T, "patients", &json).unwrap();
    let ask = [patient(2), patient(9), patient(1)];
    let ask: Vec<&str> = ask.iter().map(String::as_str).collect();
    let want = [Some("NH".to_owned()), None, Some("MA".to_owned())];
    assert_eq!(patient_states(&w.db, &sealed, T, &ask).unwrap(), want);
    assert!(
        sealed.get(keystore, T, "patients").unwrap().is_none(),
        "moved"
    );
    assert!(sealed.has_rows(T, "patients").unwrap());
    assert_eq!(patient_states(&w.db, &sealed, T, &ask).unwrap(), want);
    // A tenant without a roster knows no one, and gets no keys made for it.
    assert_eq!(
        patient_states(&w.db, &sealed, "no-such-tenant", &ask).unwrap(),
        [None, None, None]
    );
}
