//! The reports over real HTTP, against an oracle over the synthetic events sent:
//! `GET /v1/reports/patient-access` (per-actor summary: role, actions, purposes, count,
//! first and last time; then the events) and `/v1/reports/actor-activity` (per patient),
//! as JSON and as CSV (`Accept: text/csv` and `?format=csv`), tenant-isolated; and the
//! self-audit event each report appends before it answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::server::{Server, json};
use common::synth::{self, Oracle, Q, Sent};
use jiff::Timestamp;
use reqwest::blocking::Response;
use serde_json::Value;

const TENANT: &str = "st-elsewhere";

/// One summary row as the oracle builds it.
#[derive(Debug, Default, PartialEq)]
struct Row {
    role: Option<String>,
    actions: BTreeSet<String>,
    purposes: BTreeSet<String>,
    count: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// The report's events in (time, seq) order and its rows keyed by actor (patient access)
/// or by patient (actor activity).
fn oracle<'a>(
    sent: &'a [Sent],
    q: &Q,
    key: &str,
) -> (Vec<&'a Sent>, BTreeMap<Option<String>, Row>) {
    let events = q.oracle(sent, TENANT, false);
    let mut rows: BTreeMap<Option<String>, Row> = BTreeMap::new();
    for s in &events {
        let row = rows.entry(s.get(key).map(str::to_owned)).or_default();
        if let Some(role) = s.get("/actor/role") {
            row.role = Some(role.to_string());
        }
        row.actions.insert(s.get("/action").unwrap().to_string());
        row.purposes.extend(s.get("/purpose").map(str::to_owned));
        row.count += 1;
        row.first = Some(row.first.map_or(s.time, |t| t.min(s.time)));
        row.last = Some(row.last.map_or(s.time, |t| t.max(s.time)));
    }
    (events, rows)
}

fn time(v: &str) -> Option<Timestamp> {
    (!v.is_empty()).then(|| v.parse().unwrap())
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn report(
    server: &Server,
    key: &str,
    path: &str,
    params: &[(&str, String)],
    accept: Option<&str>,
) -> Response {
    let mut b = server
        .http
        .get(format!("{}{path}", server.url))
        .query(params)
        .bearer_auth(key);
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    let r = b.send().unwrap();
    assert_eq!(r.status(), 200, "{path} {params:?}");
    r
}

fn check_json(body: &Value, sent: &[Sent], q: &Q, patient_access: bool) {
    let key = if patient_access {
        "/actor/id"
    } else {
        "/patient/id"
    };
    let (events, rows) = oracle(sent, q, key);
    assert_eq!(body["tenant"], TENANT);
    assert_eq!(body["count"], events.len() as u64);
    let got: Vec<Value> = body["events"].as_array().unwrap().clone();
    synth::assert_same(&got, &events, false, &format!("{q:?}"));
    let mut got_rows = BTreeMap::new();
    for r in body["summary"].as_array().unwrap() {
        let (k, role, purposes) = if patient_access {
            (
                &r["actor_id"],
                r["actor_role"].as_str().map(str::to_owned),
                set(&r["purposes"]),
            )
        } else {
            // The actor's report has no role or purposes per patient.
            (&r["patient_id"], None, BTreeSet::new())
        };
        let row = Row {
            role,
            actions: set(&r["actions"]),
            purposes,
            count: r["count"].as_u64().unwrap(),
            first: time(r["first"].as_str().unwrap()),
            last: time(r["last"].as_str().unwrap()),
        };
        got_rows.insert(k.as_str().map(str::to_owned), row);
    }
    let want: BTreeMap<_, _> = rows
        .into_iter()
        .map(|(k, mut r)| {
            if !patient_access {
                r.role = None;
                r.purposes.clear();
            }
            (k, r)
        })
        .collect();
    assert_eq!(got_rows, want, "{q:?}");
    // Rows come sorted by their key.
    let keys: Vec<Option<String>> = body["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r[if patient_access {
                "actor_id"
            } else {
                "patient_id"
            }]
            .as_str()
            .map(str::to_owned)
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
}

/// The CSV holds the same summary and events as the JSON report.
fn check_csv(text: &str, json_report: &Value, patient_access: bool) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header[..5],
        [
            "record",
            "actor_id",
            "actor_role",
            "actor_name",
            "patient_id"
        ]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let (summary, events): (Vec<_>, Vec<_>) = records.iter().partition(|r| &r[0] == "summary");
    assert!(events.iter().all(|r| &r[0] == "event"));
    // Summary rows first, then events.
    assert!(
        records
            .iter()
            .take(summary.len())
            .all(|r| &r[0] == "summary")
    );
    let rows = json_report["summary"].as_array().unwrap();
    assert_eq!(summary.len(), rows.len());
    for (c, j) in summary.iter().zip(rows) {
        let key = if patient_access {
            "actor_id"
        } else {
            "patient_id"
        };
        assert_eq!(&c[col(key)], j[key].as_str().unwrap_or(""));
        let joined = |v: &Value| set(v).into_iter().collect::<Vec<_>>().join(";");
        assert_eq!(&c[col("actions")], joined(&j["actions"]));
        if patient_access {
            assert_eq!(
                &c[col("actor_role")],
                j["actor_role"].as_str().unwrap_or("")
            );
            assert_eq!(&c[col("purposes")], joined(&j["purposes"]));
        }
        assert_eq!(&c[col("count")], j["count"].to_string());
        assert_eq!(time(&c[col("first")]), time(j["first"].as_str().unwrap()));
        assert_eq!(time(&c[col("last")]), time(j["last"].as_str().unwrap()));
    }
    let evs = json_report["events"].as_array().unwrap();
    assert_eq!(events.len(), evs.len());
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    for (c, e) in events.iter().zip(evs) {
        assert_eq!(&c[col("seq")], e["seq"].to_string());
        assert_eq!(time(&c[col("time")]), time(e["time"].as_str().unwrap()));
        assert_eq!(
            time(&c[col("received")]),
            time(e["received"].as_str().unwrap())
        );
        for (name, value) in [
            ("actor_id", &e["actor"]["id"]),
            ("actor_role", &e["actor"]["role"]),
            ("patient_id", &e["patient"]["id"]),
            ("action", &e["action"]),
            ("resource_type", &e["resource"]["type"]),
            ("resource_id", &e["resource"]["id"]),
            ("outcome", &e["outcome"]),
            ("purpose", &e["purpose"]),
            ("reason", &e["reason"]),
            ("source_system", &e["source"]["system"]),
            ("source_ip", &e["source"]["ip"]),
        ] {
            assert_eq!(c[col(name)], s(value), "{name} of seq {}", e["seq"]);
        }
    }
}

/// The newest `report` record: one more than before, naming the caller and what was asked.
fn last_report_audit(server: &Server, key: &str, seen: &mut usize) -> Value {
    let r = server.get_justified(key, "/v1/events?action=report&limit=1000");
    let audits = json(r)["events"].as_array().unwrap().clone();
    *seen += 1;
    assert_eq!(audits.len(), *seen, "one report record per report");
    let a = audits.last().unwrap().clone();
    assert!(synth::is_self_audit(&a));
    assert!(
        a["actor"]["id"].as_str().unwrap().starts_with("key:"),
        "{a}"
    );
    assert_eq!(a["actor"]["role"], "auditor");
    assert_eq!(a["purpose"], "HCOMPL");
    a
}

#[test]
fn reports_match_the_oracle_in_json_and_csv_and_are_audited() {
    let (_tmp, data, keys) = synth::data_with_keys(&[
        (TENANT, "writer"),
        (TENANT, "auditor"),
        ("other-clinic", "writer"),
    ]);
    let [writer, auditor, other_writer] = keys.try_into().unwrap();
    let server = Server::start(&data);
    let sent = synth::ingest(&server, &writer, TENANT, &synth::events(2_000, 77, "r"), 3);
    // The same patient and actor ids in another tenant must not show up.
    synth::ingest(
        &server,
        &other_writer,
        "other-clinic",
        &synth::events(600, 78, "o"),
        4,
    );

    let from: Timestamp = "2026-02-01T00:00:00Z".parse().unwrap();
    let to: Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
    let patient = sent
        .iter()
        .filter(|s| s.time >= from && s.time < to)
        .find_map(|s| s.get("/patient/id"))
        .unwrap()
        .to_string();
    let actor = sent[17].get("/actor/id").unwrap().to_string();
    let mut seen = 0;
    let q = |patient: Option<&str>, actor: Option<&str>, from: Option<Timestamp>| Q {
        patient: patient.map(str::to_owned),
        actor: actor.map(str::to_owned),
        from,
        to: Some(to),
        ..Q::default()
    };
    let cases = [
        (true, q(Some(&patient), None, Some(from))),
        (true, q(Some("MRN-00000"), None, None)),
        (true, q(Some("MRN-99999"), None, Some(from))),
        (false, q(None, Some(&actor), Some(from))),
        (false, q(None, Some(&actor), None)),
    ];
    for (patient_access, q) in cases {
        let path = if patient_access {
            "/v1/reports/patient-access"
        } else {
            "/v1/reports/actor-activity"
        };
        let params = q.params();
        let r = report(&server, &auditor, path, &params, None);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = json(r);
        assert_eq!(body["report"], path.rsplit('/').next().unwrap());
        check_json(&body, &sent, &q, patient_access);
        let a = last_report_audit(&server, &auditor, &mut seen);
        assert_eq!(a["detail"]["endpoint"], format!("GET {path}"));
        assert_eq!(a["detail"]["query"]["to"], to.to_string());
        match &q.patient {
            Some(p) => assert_eq!(&a["patient"]["id"], p),
            None => {
                assert!(a["patient"].is_null(), "{a}");
                assert_eq!(a["detail"]["query"]["actor"], actor);
            }
        }

        // CSV both ways, the same bytes (the range excludes the reports' own records).
        let by_accept = report(&server, &auditor, path, &params, Some("text/csv"));
        assert!(
            by_accept.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let by_accept = by_accept.text().unwrap();
        let mut p = params.clone();
        p.push(("format", "csv".into()));
        let by_param = report(&server, &auditor, path, &p, Some("application/json"))
            .text()
            .unwrap();
        assert_eq!(by_accept, by_param);
        check_csv(&by_param, &body, patient_access);
        seen += 1;
        last_report_audit(&server, &auditor, &mut seen);
    }

    // Without a range the patient's report shows the auditor's own earlier accesses: a
    // search naming the patient is an access to the patient's data.
    synth::search(&server, &auditor, &[("patient", patient.clone())]);
    let body = json(report(
        &server,
        &auditor,
        "/v1/reports/patient-access",
        &[("patient", patient)],
        None,
    ));
    let subject = last_report_audit(&server, &auditor, &mut seen)["actor"]["id"].clone();
    let mine = body["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["actor_id"] == subject)
        .unwrap_or_else(|| panic!("no row for {subject}: {body}"));
    assert!(set(&mine["actions"]).contains("search"), "{mine}");
    server.stop();
}

#[test]
fn bad_report_parameters_name_the_parameter() {
    let (_tmp, data, keys) = synth::data_with_keys(&[(TENANT, "auditor")]);
    let auditor = &keys[0];
    let server = Server::start(&data);
    for (path, query, field) in [
        ("patient-access", "", "patient"),
        ("patient-access", "patient=", "patient"),
        ("actor-activity", "patient=MRN-00001", "actor"),
        ("patient-access", "patient=MRN-00001&from=last-week", "from"),
        (
            "actor-activity",
            "actor=u-001&to=2026-02-30T00:00:00Z",
            "to",
        ),
        ("patient-access", "patient=MRN-00001&format=xml", "format"),
        (
            "patient-access",
            "patient=MRN-00001&format=pdf&tree_size=1",
            "tree_size",
        ),
        (
            "actor-activity",
            "actor=u-001&tree_size=99999999",
            "tree_size",
        ),
    ] {
        let r = server.get(auditor, &format!("/v1/reports/{path}?{query}"));
        assert_eq!(r.status(), 400, "{path}?{query}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p = json(r);
        assert_eq!(p["field"], field, "{p}");
        assert!(
            !p.to_string().contains("MRN-00001"),
            "no identifiers in errors: {p}"
        );
    }
    // Refused requests leave no record.
    let r = synth::search(&server, auditor, &[("action", "report".into())]);
    assert_eq!(json(r)["events"].as_array().unwrap().len(), 0);
    server.stop();
}
