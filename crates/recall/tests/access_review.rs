//! The access review on a crafted synthetic history, checked against a brute-force oracle
//! over the same events, without and with a workforce roster (terminated and on-leave
//! users accessing after their date, dormant accounts, actors not in the roster,
//! break-glass, denials and failures); roster refusals and the sealed file.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::synth::Rng;
use common::{recall, recall_ok};
use jiff::Timestamp;
use serde_json::{Value, json};

const FROM: &str = "2024-01-01T00:00:00Z";
const TO: &str = "2024-04-01T00:00:00Z";
/// Tenant and period of every review here.
const PERIOD: [&str; 6] = ["--tenant", "t1", "--from", FROM, "--to", TO];

struct Ev {
    time: Timestamp,
    actor: String,
    patient: Option<String>,
    purpose: Option<&'static str>,
    outcome: &'static str,
}

/// Roles by actor (fixed per actor, so "last seen" is unambiguous).
fn role(actor: &str) -> &'static str {
    ["nurse", "physician", "clerk"][actor[1..].parse::<usize>().unwrap() % 3]
}

fn history() -> Vec<Ev> {
    let mut rng = Rng(7);
    let start: Timestamp = "2023-12-15T00:00:00Z".parse().unwrap();
    (0..600)
        .map(|_| {
            // u3 and u9 never act: dormant (u3 active) or long gone (u9).
            let actor = ["u0", "u1", "u2", "u4", "u5", "u6", "u7"][rng.below(7) as usize];
            let secs = rng.below(120 * 86_400) as i64;
            Ev {
                time: start + jiff::SignedDuration::from_secs(secs),
                actor: actor.into(),
                patient: (rng.below(10) > 0).then(|| format!("p{}", rng.below(12))),
                purpose: match rng.below(10) {
                    0 => Some("ETREAT"),
                    1 => Some("HPAYMT"),
                    _ => None,
                },
                outcome: ["success", "success", "success", "denied", "failure"]
                    [rng.below(5) as usize],
            }
        })
        .collect()
}

fn ndjson(events: &[Ev]) -> String {
    events
        .iter()
        .map(|e| {
            let mut v = json!({
                "time": e.time.to_string(),
                "actor": {"id": e.actor, "role": role(&e.actor)},
                "action": "read",
                "outcome": e.outcome,
                "source": {"system": "ehr"},
            });
            if let Some(p) = &e.patient {
                v["patient"] = json!({"id": p});
            }
            if let Some(p) = e.purpose {
                v["purpose"] = json!(p);
                v["reason"] = json!("synthetic reason");
            }
            v.to_string() + "\n"
        })
        .collect()
}

const ROSTER: &str = "user_id,name,role,department,status,hire_date,status_date
u0,Synthetic Zelda Quark,nurse,ICU,active,2020-01-01,
u1,Synthetic Yorick Plume,physician,Cardiology,terminated,2019-05-01,2024-02-10
u2,Synthetic Xena Frond,clerk,Admissions,leave,2021-03-01,2024-02-20T12:00:00Z
u3,Synthetic Walt Gleam,nurse,ICU,active,2022-01-01,
u4,Synthetic Vera Husk,physician,Cardiology,active,,
u5,Synthetic Ugo Mint,clerk,,active,,
u9,Synthetic Tess Oak,nurse,ICU,terminated,2018-01-01,2023-01-01
";

struct Member {
    role: &'static str,
    dept: Option<&'static str>,
    status: &'static str,
    since: Option<Timestamp>,
}

fn roster() -> BTreeMap<&'static str, Member> {
    let t = |s: &str| Some(s.parse::<Timestamp>().unwrap());
    let m = |role, dept, status, since| Member {
        role,
        dept,
        status,
        since,
    };
    BTreeMap::from([
        ("u0", m("nurse", Some("ICU"), "active", None)),
        (
            "u1",
            m(
                "physician",
                Some("Cardiology"),
                "terminated",
                t("2024-02-10T00:00:00Z"),
            ),
        ),
        (
            "u2",
            m(
                "clerk",
                Some("Admissions"),
                "leave",
                t("2024-02-20T12:00:00Z"),
            ),
        ),
        ("u3", m("nurse", Some("ICU"), "active", None)),
        ("u4", m("physician", Some("Cardiology"), "active", None)),
        ("u5", m("clerk", None, "active", None)),
        (
            "u9",
            m(
                "nurse",
                Some("ICU"),
                "terminated",
                t("2023-01-01T00:00:00Z"),
            ),
        ),
    ])
}

/// The review the oracle expects, in the report's JSON shape (groups, lists).
fn oracle(events: &[Ev], roster: Option<&BTreeMap<&str, Member>>) -> Value {
    let (from, to): (Timestamp, Timestamp) = (FROM.parse().unwrap(), TO.parse().unwrap());
    let inside: Vec<&Ev> = events
        .iter()
        .filter(|e| e.time >= from && e.time < to && e.patient.is_some())
        .collect();
    let actors: BTreeSet<&str> = inside.iter().map(|e| e.actor.as_str()).collect();
    let mut groups: BTreeMap<(Option<&str>, Option<&str>), Vec<Value>> = BTreeMap::new();
    let mut after = Vec::new();
    let ts = |t: Option<Timestamp>| t.map(|t| t.to_string());
    for a in &actors {
        let mine: Vec<&&Ev> = inside.iter().filter(|e| e.actor == *a).collect();
        let count = |f: &dyn Fn(&Ev) -> bool| mine.iter().filter(|e| f(e)).count();
        let patients: BTreeSet<&str> = mine.iter().filter_map(|e| e.patient.as_deref()).collect();
        let (first, last) = (
            mine.iter().map(|e| e.time).min(),
            mine.iter().map(|e| e.time).max(),
        );
        let m = roster.and_then(|r| r.get(a));
        let key = match m {
            Some(m) => (Some(m.role), m.dept),
            None => (Some(role(a)), None),
        };
        groups.entry(key).or_default().push(json!({
            "actor_id": a,
            "actor_name": m.map(|_| format!("name of {a}")),
            "status": m.map(|m| m.status),
            "status_date": ts(m.and_then(|m| m.since)),
            "events": mine.len(),
            "patients": patients.len(),
            "break_glass": count(&|e| e.purpose == Some("ETREAT")),
            "denied": count(&|e| e.outcome == "denied"),
            "failed": count(&|e| e.outcome == "failure"),
            "first": ts(first), "last": ts(last),
        }));
        if let Some(since) = m.and_then(|m| m.since) {
            let n = count(&|e| e.time >= since);
            if n > 0 {
                let secs = last.unwrap().duration_since(since).as_secs();
                after.push(json!({
                    "user_id": a, "status": m.unwrap().status, "status_date": ts(Some(since)),
                    "events_after_status": n, "last_access": ts(last),
                    "hours_to_last_access": ((secs as f64 / 3600.0) * 100.0).round() / 100.0,
                    "over_24h": secs > 86_400,
                }));
            }
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|((r, d), actors)| json!({"role": r, "department": d, "actors": actors}))
        .collect();
    let mut v = json!({
        "groups": groups,
        "totals": {
            "actors": actors.len(),
            "events": inside.len(),
            "break_glass": inside.iter().filter(|e| e.purpose == Some("ETREAT")).count(),
            "denied": inside.iter().filter(|e| e.outcome == "denied").count(),
            "failed": inside.iter().filter(|e| e.outcome == "failure").count(),
        },
        "not_in_roster": null, "after_status": null, "dormant": null,
    });
    if let Some(r) = roster {
        v["not_in_roster"] = json!(
            actors
                .iter()
                .filter(|a| !r.contains_key(*a))
                .collect::<Vec<_>>()
        );
        v["after_status"] = json!(after);
        let dormant: Vec<Value> = r
            .iter()
            .filter(|(id, m)| m.status == "active" && !actors.contains(*id))
            .map(|(id, m)| json!({"user_id": id, "actor_name": format!("name of {id}"), "role": m.role, "department": m.dept}))
            .collect();
        v["dormant"] = json!(dormant);
    }
    v
}

/// The report with roster names replaced by `name of <id>` (the oracle knows no names).
fn normalised(mut report: Value, names: &BTreeMap<&str, &str>) -> Value {
    let rename = |v: &mut Value, id_key: &str| {
        if let Some(n) = v["actor_name"].as_str() {
            let id = v[id_key].as_str().unwrap();
            assert_eq!(names.get(id).copied(), Some(n), "name of {id}");
            v["actor_name"] = json!(format!("name of {id}"));
        }
    };
    for g in report["groups"].as_array_mut().unwrap() {
        for a in g["actors"].as_array_mut().unwrap() {
            rename(a, "actor_id");
        }
    }
    if let Some(d) = report["dormant"].as_array_mut() {
        for m in d {
            rename(m, "user_id");
        }
    }
    report
}

/// `recall report access-review` of tenant t1 over the period, as privacy_officer unless
/// `extra` says `--as`.
fn review_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["report", "access-review"];
    args.extend_from_slice(&PERIOD);
    args.extend_from_slice(extra);
    if !extra.contains(&"--as") {
        args.extend_from_slice(&["--as", "privacy_officer"]);
    }
    args
}

fn review(data: &std::path::Path, extra: &[&str]) -> String {
    recall_ok(data, &review_args(extra))
}

#[test]
fn access_review_matches_a_brute_force_oracle_without_and_with_a_roster() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let events = history();
    let file = root.path().join("events.ndjson");
    std::fs::write(&file, ndjson(&events)).unwrap();
    recall_ok(&data, &["import", "--tenant", "t1", file.to_str().unwrap()]);
    // An event in another tenant never counts.
    let other = root.path().join("other.ndjson");
    std::fs::write(&other, ndjson(&events[..5])).unwrap();
    recall_ok(
        &data,
        &["import", "--tenant", "t2", other.to_str().unwrap()],
    );

    let pick = |v: &Value| {
        json!({
            "groups": v["groups"], "totals": v["totals"], "not_in_roster": v["not_in_roster"],
            "after_status": v["after_status"], "dormant": v["dormant"],
        })
    };
    let names = BTreeMap::new();
    let plain: Value = serde_json::from_str(&review(&data, &[])).unwrap();
    assert_eq!(
        pick(&normalised(plain.clone(), &names)),
        oracle(&events, None)
    );
    assert_eq!(plain["roster"], Value::Null);

    // A bad row refuses the whole file, naming row and field, never the value.
    let bad = root.path().join("bad.csv");
    let broken = ROSTER.replace(
        "u4,Synthetic Vera Husk,physician,Cardiology,active,,",
        "u4,Synthetic Vera Husk,physician,Cardiology,retired,,",
    );
    std::fs::write(&bad, broken).unwrap();
    let out = recall(
        &data,
        &["roster", "import", "--tenant", "t1", bad.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("row 5, status"),
        "{err}"
    );
    assert!(!err.contains("retired") && !err.contains("Vera"), "{err}");
    let still: Value = serde_json::from_str(&review(&data, &[])).unwrap();
    assert_eq!(still["roster"], Value::Null, "nothing imported");

    let good = root.path().join("roster.csv");
    std::fs::write(&good, ROSTER).unwrap();
    let counts: Value = serde_json::from_str(&recall_ok(
        &data,
        &["roster", "import", "--tenant", "t1", good.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(counts["rows"], 7);
    assert_eq!(
        counts["by"],
        json!({"active": 4, "terminated": 2, "leave": 1})
    );

    let names: BTreeMap<&str, &str> = ROSTER
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    let with: Value = serde_json::from_str(&review(&data, &[])).unwrap();
    let expected = oracle(&events, Some(&roster()));
    assert_eq!(pick(&normalised(with.clone(), &names)), expected);
    assert_eq!(with["roster"], json!({"members": 7}));
    // The crafted history does exercise every finding.
    assert_eq!(expected["not_in_roster"], json!(["u6", "u7"]));
    let late: Vec<&str> = expected["after_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(late, ["u1", "u2"]);
    assert_eq!(expected["dormant"][0]["user_id"], "u3");
    assert!(expected["totals"]["break_glass"].as_u64().unwrap() > 0);

    // CSV: the same rows, one section after another.
    let csv = review(&data, &["--format", "csv"]);
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let sections: Vec<String> = r.records().map(|r| r.unwrap()[0].to_owned()).collect();
    let n = |s: &str| sections.iter().filter(|x| *x == s).count();
    assert_eq!(n("actor"), 7);
    assert_eq!(
        (n("not_in_roster"), n("after_status"), n("dormant")),
        (2, 2, 1)
    );

    // The engineer sees pseudonyms, never a roster name.
    let eng = review(&data, &["--as", "engineer"]);
    assert!(
        !eng.contains("\"u0\"") && !eng.contains("Synthetic"),
        "{eng}"
    );

    // The roster is sealed: no synthetic name in any file of the data directory.
    common::assert_in_no_file(&data, b"Synthetic");

    // Sign-off: recorded in the log, naming the digest of the JSON report.
    let out = recall(&data, &review_args(&[]));
    let digest = String::from_utf8_lossy(&out.stderr)
        .trim()
        .strip_prefix("sha256 ")
        .unwrap()
        .to_owned();
    assert_eq!(
        digest,
        recall_governance::access_review::digest(&out.stdout)
    );
    recall_ok(
        &data,
        &[
            &["report", "access-review", "signoff"][..],
            &PERIOD,
            &["--reviewer", "Reviewer One", "--sha256", &digest],
        ]
        .concat(),
    );
    let records = common::officer_search(&data, "t1", &["--action", "approve"]);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["detail"]["access_review"]["sha256"],
        json!(digest)
    );
    assert_eq!(records[0]["resource"]["type"], "AccessReview");
    let imports = common::officer_search(&data, "t1", &["--action", "update"]);
    let roster_records: Vec<&Value> = imports
        .iter()
        .filter(|r| r["resource"]["type"] == "Roster")
        .collect();
    assert_eq!(roster_records.len(), 1, "only the good import is recorded");
    assert_eq!(roster_records[0]["detail"]["roster"]["rows"], 7);
    assert!(!roster_records[0].to_string().contains("Synthetic"));
}
