//! Minimum necessary, end to end: every reading role × every endpoint and export (search,
//! event read, both reports in JSON and CSV, and the CLI's search and report), asserting
//! exactly which fields come back, which are pseudonyms, and that a patient credential
//! reads only its own patient. The expected table is written out here, independently of
//! the code's default policy, so a change to either shows up. All data is synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::server::{JUSTIFICATION, Server, create_key, json, patient_key};
use common::{recall, recall_ok};
use reqwest::blocking::Response;
use serde_json::{Value, json};

const T: &str = "st-marys";
const OTHER: &str = "north-clinic";
const NDJSON: &str = "application/x-ndjson";

/// What a role gets of one field.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Got {
    Clear,
    Pseudonym,
    Absent,
}
use Got::{Absent as A, Clear as C, Pseudonym as P};

/// Fields every role sees as recorded.
const ALWAYS: [&str; 7] = [
    "action", "outcome", "received", "seq", "tenant", "time", "id",
];

/// The expected policy: field → (engineer, auditor, auditor justified, privacy officer,
/// patient). `id` is handled apart (the patient does not get it).
fn table() -> Vec<(&'static str, [Got; 5])> {
    vec![
        ("actor.id", [P, C, C, C, A]),
        ("actor.name", [A, C, C, C, C]),
        ("actor.role", [C, C, C, C, C]),
        ("actor.type", [C, C, C, C, C]),
        ("resource.type", [C, C, C, C, C]),
        ("resource.id", [P, C, C, C, A]),
        ("patient.id", [P, C, C, C, C]),
        ("purpose", [C, C, C, C, C]),
        ("reason", [A, C, C, C, A]),
        ("source.ip", [C, C, C, C, A]),
        ("source.system", [C, C, C, C, C]),
        ("source.device", [C, C, C, C, A]),
        ("source.session", [C, C, C, C, A]),
        ("detail", [A, A, C, C, A]),
    ]
}

/// The callers whose view is checked, in table column order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum View {
    Engineer,
    Auditor,
    AuditorJustified,
    Officer,
    Patient,
}

const VIEWS: [View; 5] = [
    View::Engineer,
    View::Auditor,
    View::AuditorJustified,
    View::Officer,
    View::Patient,
];

impl View {
    fn column(self) -> usize {
        VIEWS.iter().position(|v| *v == self).unwrap()
    }
}

/// A fully populated synthetic event.
fn full_event(i: u32, patient: &str, actor: &str) -> Value {
    json!({
        "id": format!("evt-d{i}"),
        "time": format!("2026-02-0{}T09:00:00Z", 1 + i % 9),
        "actor": {"id": actor, "role": "nurse", "name": name_of(actor), "type": "user"},
        "action": "read",
        "resource": {"type": "Observation", "id": format!("obs-d{i}")},
        "patient": {"id": patient},
        "outcome": "success",
        "purpose": "TREAT",
        "reason": "synthetic reason",
        "source": {"ip": "10.9.8.7", "system": "ehr-test", "device": "ws-d", "session": "sess-d"},
        "detail": {"note": "synthetic detail"},
    })
}

/// A synthetic display name that shares nothing with the actor id.
fn name_of(actor: &str) -> &'static str {
    if actor == "u-d1" {
        "Synthetic Nurse One"
    } else {
        "Synthetic Nurse Two"
    }
}

/// The value at a dotted path.
fn at<'a>(e: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(e, |v, k| v.get(k))
}

/// Checks one event as `view` sees it against what was sent; returns the pseudonyms
/// seen, by clear value (to check they are stable and keyed).
fn check_event(got: &Value, sent: &Value, view: View, pseudonyms: &mut BTreeMap<String, String>) {
    for f in ALWAYS {
        if f == "id" {
            let want = if view == View::Patient {
                None
            } else {
                sent.get("id")
            };
            assert_eq!(got.get("id"), want, "{view:?} id");
        } else {
            assert!(got.get(f).is_some(), "{view:?} lost {f}: {got}");
        }
    }
    for (field, row) in table() {
        let (g, s) = (at(got, field), at(sent, field).unwrap());
        match row[view.column()] {
            C => assert_eq!(g, Some(s), "{view:?} {field}: {got}"),
            A => assert_eq!(g, None, "{view:?} {field}: {got}"),
            P => {
                let p = g.and_then(Value::as_str).unwrap_or_default();
                assert!(
                    p.starts_with("psn_") && p.len() == 36,
                    "{view:?} {field}: {got}"
                );
                let clear = s.as_str().unwrap().to_string();
                let prev = pseudonyms.entry(clear).or_insert_with(|| p.to_string());
                assert_eq!(prev, p, "{view:?} {field}: a pseudonym is stable");
            }
        }
    }
    // Nothing withheld or pseudonymised leaks anywhere in the event's text.
    let text = got.to_string();
    for (field, row) in table() {
        if row[view.column()] != C
            && let Some(Value::String(s)) = at(sent, field)
            && !s.is_empty()
        {
            assert!(
                !text.contains(s.as_str()),
                "{view:?}: {field} leaks: {text}"
            );
        }
    }
    if row_of("detail")[view.column()] != C {
        assert!(!text.contains("synthetic detail"), "{view:?}: {text}");
    }
}

/// The events sent, by the seq their receipts gave them.
type Sent = BTreeMap<u64, Value>;

/// Checks each of `events` against the event sent at its seq.
fn check_events(
    events: &[Value],
    sent: &Sent,
    view: View,
    pseudonyms: &mut BTreeMap<String, String>,
) {
    for e in events {
        check_event(e, sent_at(sent, e), view, pseudonyms);
    }
}

fn row_of(field: &str) -> [Got; 5] {
    table().into_iter().find(|(f, _)| *f == field).unwrap().1
}

struct Setup {
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    keys: BTreeMap<&'static str, String>,
    other_engineer: String,
    other_writer: String,
    writer: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let mut keys = BTreeMap::new();
    keys.insert("engineer", create_key(&data, T, "engineer"));
    keys.insert("auditor", create_key(&data, T, "auditor"));
    keys.insert("officer", create_key(&data, T, "privacy_officer"));
    keys.insert("patient", patient_key(&data, T, "MRN-D1"));
    Setup {
        writer: create_key(&data, T, "writer"),
        other_engineer: create_key(&data, OTHER, "engineer"),
        other_writer: create_key(&data, OTHER, "writer"),
        _tmp: tmp,
        data,
        keys,
    }
}

fn key(s: &Setup, view: View) -> &str {
    &s.keys[match view {
        View::Engineer => "engineer",
        View::Auditor | View::AuditorJustified => "auditor",
        View::Officer => "officer",
        View::Patient => "patient",
    }]
}

fn get(server: &Server, s: &Setup, view: View, path: &str) -> Response {
    if view == View::AuditorJustified {
        server.get_justified(key(s, view), path)
    } else {
        server.get(key(s, view), path)
    }
}

/// The events sent to the tenant: MRN-D1 by two actors, MRN-D2 by one.
fn sent_events() -> Vec<Value> {
    vec![
        full_event(1, "MRN-D1", "u-d1"),
        full_event(2, "MRN-D2", "u-d1"),
        full_event(3, "MRN-D1", "u-d2"),
    ]
}

/// Posts `events`; returns them by the seqs their receipts name (the log also holds
/// recall's own records, so these do not start at 0).
#[track_caller]
fn post(server: &Server, key: &str, events: &[Value]) -> Sent {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let r = server.post(key, "/v1/events", NDJSON, body);
    let status = r.status();
    let text = r.text().unwrap();
    assert_eq!(status, 201, "{text}");
    let receipts: Value = serde_json::from_str(&text).unwrap();
    let receipts = receipts["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), events.len(), "{text}");
    receipts
        .iter()
        .zip(events)
        .map(|(r, e)| (r["seq"].as_u64().unwrap(), e.clone()))
        .collect()
}

/// The synthetic events of a page (not the self-audit records), by client id.
fn synthetic(events: &Value) -> Vec<Value> {
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read")
        .cloned()
        .collect()
}

/// The event sent that `got` is, by its seq; panics when it is not one of them.
fn sent_at<'a>(sent: &'a Sent, got: &Value) -> &'a Value {
    let seq = got["seq"].as_u64().unwrap();
    sent.get(&seq)
        .unwrap_or_else(|| panic!("seq {seq} is not an event sent ({sent:?}): {got}"))
}

/// The seq of the `i`th event of [`sent_events`].
fn seq_of(sent: &Sent, i: usize) -> u64 {
    let want = &sent_events()[i];
    *sent.iter().find(|(_, e)| *e == want).unwrap().0
}

#[test]
fn every_role_gets_exactly_its_fields_from_every_endpoint_and_export() {
    let s = setup();
    let server = Server::start(&s.data);
    let sent = post(&server, &s.writer, &sent_events());
    let mut pseudonyms = BTreeMap::new();
    for view in VIEWS {
        // Event read (first: it shows the pseudonyms an engineer filters by).
        let seq = seq_of(&sent, 0);
        let one = json(get(&server, &s, view, &format!("/v1/events/{T}/{seq}")));
        assert_eq!(one["event"]["seq"], seq, "{view:?}");
        check_event(&one["event"], &sent[&seq], view, &mut pseudonyms);
        let patient = as_seen(&one["event"], "patient.id", "MRN-D1", view);
        let actor = as_seen(&one["event"], "actor.id", "u-d1", view);
        // Search.
        let page = json(get(
            &server,
            &s,
            view,
            &format!("/v1/events?patient={patient}"),
        ));
        let found = synthetic(&page["events"]);
        assert_eq!(found.len(), 2, "{view:?}");
        check_events(&found, &sent, view, &mut pseudonyms);
        // Patient access report, JSON and CSV.
        let path = format!("/v1/reports/patient-access?patient={patient}&to=2026-03-01T00:00:00Z");
        let path = path.as_str();
        let report = json(get(&server, &s, view, path));
        check_report(&report, &sent, view, "patient", "MRN-D1", &mut pseudonyms);
        let csv = get(&server, &s, view, &format!("{path}&format=csv"))
            .text()
            .unwrap();
        check_csv(&csv, &report, view);
        // Actor activity: not for a patient credential.
        let path = format!("/v1/reports/actor-activity?actor={actor}&to=2026-03-01T00:00:00Z");
        let path = path.as_str();
        let r = get(&server, &s, view, path);
        if view == View::Patient {
            assert_eq!(r.status(), 403);
            continue;
        }
        let report = json(r);
        check_report(&report, &sent, view, "actor", "u-d1", &mut pseudonyms);
        let csv = get(&server, &s, view, &format!("{path}&format=csv"))
            .text()
            .unwrap();
        check_csv(&csv, &report, view);
    }
    // Pseudonyms are keyed per tenant: the same actor id elsewhere gets another one.
    let there = post(&server, &s.other_writer, &[full_event(9, "MRN-D1", "u-d1")]);
    let seq = there.keys().next().unwrap();
    let there = json(server.get(&s.other_engineer, &format!("/v1/events/{OTHER}/{seq}")));
    let here = &pseudonyms["u-d1"];
    assert_ne!(there["event"]["actor"]["id"].as_str().unwrap(), here);
    server.stop();

    // The CLI goes through the same policy: `--as`, `--justification`.
    for (view, args) in [
        (View::Engineer, vec!["--as", "engineer"]),
        (View::Auditor, vec![]),
        (
            View::AuditorJustified,
            vec!["--justification", "synthetic review"],
        ),
        (View::Officer, vec!["--as", "privacy_officer"]),
        (View::Patient, vec!["--as", "patient"]),
    ] {
        // An engineer names the patient by the pseudonym it sees.
        let patient = if view == View::Engineer {
            pseudonyms["MRN-D1"].clone()
        } else {
            "MRN-D1".to_string()
        };
        let mut search = vec!["search", "--tenant", T, "--patient", &patient];
        search.extend_from_slice(&args);
        let out = recall_ok(&s.data, &search);
        let found: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["action"] == "read")
            .collect();
        assert_eq!(found.len(), 2, "{view:?}");
        check_events(&found, &sent, view, &mut pseudonyms);
        let mut report = vec![
            "report",
            "patient-access",
            "--tenant",
            T,
            "--patient",
            &patient,
        ];
        report.extend_from_slice(&["--to", "2026-03-01T00:00:00Z"]);
        report.extend_from_slice(&args);
        let out: Value = serde_json::from_str(&recall_ok(&s.data, &report)).unwrap();
        check_report(&out, &sent, view, "patient", "MRN-D1", &mut pseudonyms);
    }
}

/// How `view` names `clear` (the value of `field` in `event` as it read it): by its
/// pseudonym where it sees one, else as recorded.
fn as_seen(event: &Value, field: &str, clear: &str, view: View) -> String {
    match row_of(field)[view.column()] {
        P => at(event, field)
            .and_then(Value::as_str)
            .unwrap()
            .to_string(),
        _ => clear.to_string(),
    }
}

/// A JSON report: its subject, summary rows and events as `view` sees them.
fn check_report(
    report: &Value,
    sent: &Sent,
    view: View,
    subject_key: &str,
    subject: &str,
    pseudonyms: &mut BTreeMap<String, String>,
) {
    // Events first: they show every pseudonym the summary may use.
    let events = synthetic(&report["events"]);
    assert!(!events.is_empty());
    check_events(&events, sent, view, pseudonyms);
    let field = if subject_key == "patient" {
        "patient.id"
    } else {
        "actor.id"
    };
    let shown = report[subject_key].as_str();
    match row_of(field)[view.column()] {
        C => assert_eq!(shown, Some(subject)),
        A => assert_eq!(shown, None),
        P => assert_eq!(shown, Some(pseudonyms[subject].as_str()), "{view:?}"),
    }
    for row in report["summary"].as_array().unwrap() {
        let key_field = if subject_key == "patient" {
            "actor_id"
        } else {
            "patient_id"
        };
        let key_path = if subject_key == "patient" {
            "actor.id"
        } else {
            "patient.id"
        };
        let v = row[key_field].as_str();
        match row_of(key_path)[view.column()] {
            C => assert!(v.is_some_and(|v| !v.starts_with("psn_")), "{view:?} {row}"),
            A => assert!(v.is_none(), "{view:?} {row}"),
            P => assert!(
                v.is_some_and(|v| pseudonyms.values().any(|p| p == v)),
                "{view:?} {row}"
            ),
        }
        if subject_key == "patient" {
            let name = row["actor_name"].as_str();
            match row_of("actor.name")[view.column()] {
                A => assert!(name.is_none(), "{view:?} {row}"),
                _ => assert!(
                    name.is_some_and(|n| n.starts_with("Synthetic Nurse")),
                    "{row}"
                ),
            }
        }
    }
}

/// The CSV export shows each event row exactly as the JSON report does.
fn check_csv(csv_text: &str, report: &Value, view: View) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let events = synthetic(&report["events"]);
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[0] == "event" && &r[col("action")] == "read")
        .collect();
    assert_eq!(rows.len(), events.len(), "{view:?}");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    for (r, e) in rows.iter().zip(&events) {
        for (column, path) in [
            ("actor_id", "actor.id"),
            ("actor_name", "actor.name"),
            ("actor_role", "actor.role"),
            ("patient_id", "patient.id"),
            ("resource_id", "resource.id"),
            ("reason", "reason"),
            ("source_ip", "source.ip"),
            ("source_system", "source.system"),
        ] {
            assert_eq!(r[col(column)], text(at(e, path)), "{view:?} {column}");
        }
    }
    if row_of("reason")[view.column()] == A {
        assert!(!csv_text.contains("synthetic reason"), "{view:?}");
    }
}

#[test]
fn a_patient_credential_reads_only_its_own_patient() {
    let s = setup();
    let server = Server::start(&s.data);
    let sent = post(&server, &s.writer, &sent_events());
    let me = &s.keys["patient"];
    for path in [
        "/v1/events",
        "/v1/events?actor=u-d1",
        "/v1/events?patient=MRN-D2",
        "/v1/reports/patient-access?patient=MRN-D2",
        "/v1/reports/patient-access",
        "/v1/reports/actor-activity?actor=u-d1",
    ] {
        let r = server.get(me, path);
        assert!(
            matches!(r.status().as_u16(), 400 | 403),
            "{path}: {}",
            r.status()
        );
        let body = r.text().unwrap();
        assert!(!body.contains("MRN-D"), "{path}: {body}");
    }
    // Another patient's event is not found, as if it did not exist; so is a record of no
    // patient (seq 0: the CLI's record of the first key made); its own is read.
    let (own_seq, other_seq) = (seq_of(&sent, 0), seq_of(&sent, 1));
    assert_eq!(sent[&other_seq]["patient"]["id"], "MRN-D2");
    assert_eq!(
        server
            .get(me, &format!("/v1/events/{T}/{other_seq}"))
            .status(),
        404
    );
    assert!(!sent.contains_key(&0));
    assert_eq!(server.get(me, &format!("/v1/events/{T}/0")).status(), 404);
    let read = server.get(me, &format!("/v1/events/{T}/{own_seq}"));
    assert_eq!(read.status(), 200);
    assert_eq!(json(read)["event"]["patient"]["id"], "MRN-D1");
    let own = json(server.get(me, "/v1/events?patient=MRN-D1"));
    let own = synthetic(&own["events"]);
    assert_eq!(own.len(), 2);
    assert!(own.iter().all(|e| e["patient"]["id"] == "MRN-D1"));

    // Its reads are audited like any other, naming the patient role.
    let officer = &s.keys["officer"];
    let audits = json(server.get(officer, "/v1/events?action=search&limit=1000"));
    let mine: Vec<&Value> = audits["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["role"] == "patient" && e["outcome"] == "success")
        .collect();
    assert_eq!(mine.len(), 2, "the event read and the search: {audits}");
    assert!(mine.iter().all(|e| e["patient"]["id"] == "MRN-D1"));
}

#[test]
fn a_justification_is_checked_and_recorded_in_the_audit_event() {
    let s = setup();
    let server = Server::start(&s.data);
    post(&server, &s.writer, &sent_events());
    let auditor = &s.keys["auditor"];
    let r = server
        .http
        .get(format!("{}/v1/events?patient=MRN-D1", server.url))
        .bearer_auth(auditor)
        .header("recall-justification", "x".repeat(501))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r)["field"], "recall-justification");
    let r = server.get_justified(auditor, "/v1/events?patient=MRN-D1");
    assert_eq!(r.status(), 200);
    let audits = json(server.get(&s.keys["officer"], "/v1/events?action=search&limit=1000"));
    let with: Vec<&Value> = audits["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["justification"] == JUSTIFICATION)
        .collect();
    assert_eq!(with.len(), 1, "{audits}");
    assert_eq!(with[0]["patient"]["id"], "MRN-D1");
}

/// The admin creates patient keys over the API; the key is bound, and `auth.db` holds no
/// patient id.
#[test]
fn an_admin_creates_a_patient_key_bound_to_its_patient_without_storing_the_id() {
    let s = setup();
    let admin = create_key(&s.data, T, "admin");
    let server = Server::start(&s.data);
    post(&server, &s.writer, &sent_events());
    let create = |body: Value| {
        server
            .http
            .post(format!("{}/v1/admin/keys", server.url))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap()
    };
    let r = create(json!({"role": "patient"}));
    assert_eq!(r.status(), 400);
    assert_eq!(json(r)["field"], "patient");
    let r = create(json!({"role": "auditor", "patient": "MRN-D2"}));
    assert_eq!(r.status(), 400);
    let r = create(json!({"role": "patient", "patient": "MRN-D2"}));
    assert_eq!(r.status(), 201);
    let made = json(r);
    assert!(made.get("patient").is_none(), "{made}");
    let key = made["key"].as_str().unwrap();
    let own = json(server.get(key, "/v1/events?patient=MRN-D2"));
    assert_eq!(synthetic(&own["events"]).len(), 1);
    assert_eq!(server.get(key, "/v1/events?patient=MRN-D1").status(), 403);
    server.stop();
    assert_no_patient_ids(&s.data.join("auth.db"));
}

fn assert_no_patient_ids(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let wal = path.with_extension("db-wal");
    if let Ok(w) = std::fs::read(wal) {
        bytes.extend(w);
    }
    let found: BTreeSet<&str> = ["MRN-D1", "MRN-D2"]
        .into_iter()
        .filter(|id| bytes.windows(id.len()).any(|w| w == id.as_bytes()))
        .collect();
    assert!(found.is_empty(), "auth.db holds {found:?}");
}

/// A role filters only on fields it sees, in the form it sees them: an engineer by the
/// pseudonyms it reads (never by a clear identifier, which would pair the two), a patient
/// not at all on fields withheld from it. A refusal is the same whether or not the value
/// occurs, so it tells nothing.
#[test]
fn filters_take_only_what_the_role_sees() {
    let s = setup();
    let server = Server::start(&s.data);
    let sent = post(&server, &s.writer, &sent_events());
    let engineer = &s.keys["engineer"];
    let seq = seq_of(&sent, 0);
    let read = json(server.get(engineer, &format!("/v1/events/{T}/{seq}")));
    let psn_patient = read["event"]["patient"]["id"].as_str().unwrap().to_string();
    let psn_actor = read["event"]["actor"]["id"].as_str().unwrap().to_string();
    assert!(psn_patient.starts_with("psn_") && psn_actor.starts_with("psn_"));

    // By pseudonym: exactly that patient's (actor's) events, shown by the same pseudonym.
    let found = |path: &str| {
        let r = server.get(engineer, path);
        assert_eq!(r.status(), 200, "{path}");
        synthetic(&json(r)["events"])
    };
    let by_patient = found(&format!("/v1/events?patient={psn_patient}"));
    assert_eq!(by_patient.len(), 2);
    assert!(by_patient.iter().all(|e| e["patient"]["id"] == psn_patient));
    let by_actor = found(&format!("/v1/events?actor={psn_actor}"));
    assert_eq!(by_actor.len(), 2);
    assert!(by_actor.iter().all(|e| e["actor"]["id"] == psn_actor));
    let both = found(&format!(
        "/v1/events?patient={psn_patient}&actor={psn_actor}"
    ));
    assert_eq!(both.len(), 1);
    // A well-formed pseudonym nobody has matches nothing.
    let nobody = format!("psn_{}", "0".repeat(32));
    assert!(found(&format!("/v1/events?patient={nobody}")).is_empty());
    // Reports by pseudonym name their subject by it.
    let r = json(server.get(
        engineer,
        &format!("/v1/reports/patient-access?patient={psn_patient}"),
    ));
    assert_eq!(r["patient"], psn_patient.as_str());
    assert_eq!(synthetic(&r["events"]).len(), 2);
    let r = json(server.get(
        engineer,
        &format!("/v1/reports/actor-activity?actor={psn_actor}"),
    ));
    assert_eq!(r["actor"], psn_actor.as_str());
    assert_eq!(synthetic(&r["events"]).len(), 2);

    // A clear identifier is refused (400 naming the parameter), the same for one in the
    // log and one that is not; the answer echoes neither it nor a pseudonym.
    let refusal = |key: &str, path: &str, status: u16, field: &str| {
        let r = server.get(key, path);
        assert_eq!(r.status(), status, "{path}");
        let text = r.text().unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["field"], field, "{path}: {text}");
        for leak in [psn_patient.as_str(), psn_actor.as_str(), "MRN-", "u-d"] {
            assert!(!text.contains(leak), "{path}: {text}");
        }
        text
    };
    for (path, field) in [
        ("/v1/events?patient=MRN-D1", "patient"),
        ("/v1/events?actor=u-d1", "actor"),
        ("/v1/reports/patient-access?patient=MRN-D1", "patient"),
        ("/v1/reports/actor-activity?actor=u-d1", "actor"),
    ] {
        let present = refusal(engineer, path, 400, field);
        let absent = path.replace("MRN-D1", "MRN-D9").replace("u-d1", "u-d9");
        assert_eq!(refusal(engineer, &absent, 400, field), present, "{path}");
    }

    // A patient key may not filter on what it does not see (source.ip, actor.id): 403
    // naming the parameter, whether or not its events match.
    let me = &s.keys["patient"];
    for (param, hit, miss) in [("ip", "10.9.8.7", "10.1.1.1"), ("actor", "u-d1", "u-d9")] {
        let hit = refusal(
            me,
            &format!("/v1/events?patient=MRN-D1&{param}={hit}"),
            403,
            param,
        );
        let miss = refusal(
            me,
            &format!("/v1/events?patient=MRN-D1&{param}={miss}"),
            403,
            param,
        );
        assert_eq!(hit, miss, "{param}");
    }
    server.stop();

    // The CLI applies the same rule to `--as`.
    let cli = |patient: &str| {
        let args = [
            "search",
            "--tenant",
            T,
            "--patient",
            patient,
            "--as",
            "engineer",
        ];
        recall(&s.data, &args)
    };
    let out = cli("MRN-D1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patient") && !err.contains("MRN-D1"), "{err}");
    let out = cli(&psn_patient);
    assert!(out.status.success(), "{out:?}");
    let found: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "read")
        .collect();
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|e| e["patient"]["id"] == psn_patient));
}

/// A patient key's refused attempts are on record in the tenant's log, with outcome
/// `denied`: asking about another patient (search, report, event read) or for what it may
/// not run. The patient asked about is named when the log already holds them, and not
/// otherwise (a probe adds no identifier the log did not hold).
#[test]
fn a_patient_credentials_refused_attempts_are_on_record() {
    let s = setup();
    let server = Server::start(&s.data);
    let sent = post(&server, &s.writer, &sent_events());
    let me = &s.keys["patient"];
    let other_seq = seq_of(&sent, 1);
    for (path, status) in [
        ("/v1/events?patient=MRN-D2".to_string(), 403),
        ("/v1/events?patient=MRN-NOWHERE".to_string(), 403),
        ("/v1/reports/patient-access?patient=MRN-D2".to_string(), 403),
        ("/v1/reports/actor-activity?actor=u-d1".to_string(), 403),
        (format!("/v1/events/{T}/{other_seq}"), 404),
    ] {
        assert_eq!(server.get(me, &path).status(), status, "{path}");
    }
    let officer = &s.keys["officer"];
    let denied = json(server.get(officer, "/v1/events?outcome=denied&limit=1000"));
    let mine: Vec<&Value> = denied["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["role"] == "patient")
        .collect();
    assert_eq!(mine.len(), 5, "{denied}");
    for e in &mine {
        assert_eq!(e["actor"]["id"], format!("key:{}", &me[3..19]), "{e}");
        assert_eq!(e["detail"]["dicom_event"], "110101", "{e}");
    }
    let actions: Vec<&str> = mine.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "report").count(),
        2,
        "{denied}"
    );
    let about_d2 = mine
        .iter()
        .filter(|e| e["patient"]["id"] == "MRN-D2")
        .count();
    assert_eq!(
        about_d2, 3,
        "search, report and event read of MRN-D2: {denied}"
    );
    let unknown: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["detail"]["query"]["patient_in_log"] == false)
        .collect();
    assert_eq!(unknown.len(), 1, "{denied}");
    assert!(unknown[0].get("patient").is_none(), "{}", unknown[0]);
    assert!(!denied.to_string().contains("MRN-NOWHERE"), "{denied}");
    // The probed patient's access report shows the attempts.
    let report = json(server.get(officer, "/v1/reports/patient-access?patient=MRN-D2"));
    let attempts = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .count();
    assert_eq!(attempts, 3, "{report}");
}
