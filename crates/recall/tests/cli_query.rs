//! `recall search`, `recall report` and `recall reindex` on a data directory filled by
//! `recall import` with synthetic events, checked against a brute-force scan of the same
//! NDJSON; every query's self-audit event; bad flags named in the error.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{both, populated, recall_bin};
use jiff::Timestamp;
use serde_json::Value;

const TENANT: &str = "st-marys";
/// What `$USER` claims in these runs: the CLI must ignore it and record the uid's user.
const USER: &str = "e2e-officer";
const EVENTS: u64 = 3000;
/// After every synthetic event (they end 2026-10-31) and before any audit event (now).
const DATA_END: &str = "2026-11-01T00:00:00Z";

/// The actor the CLI records: `cli:` and the user of this process's uid (`id -un`).
fn me() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    let name = String::from_utf8(out.stdout).unwrap();
    let actor = format!("cli:{}", name.trim());
    assert_ne!(
        actor,
        format!("cli:{USER}"),
        "run the tests as another user"
    );
    actor
}

/// Runs `recall --data DIR ARGS…` with `$USER` set to [`USER`] (which must not matter).
fn cli(data: &Path, args: &[&str]) -> Output {
    Command::new(recall_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RECALL_DATA")
        .env("USER", USER)
        .output()
        .expect("run recall")
}

fn cli_ok(data: &Path, args: &[&str]) -> String {
    let out = cli(data, args);
    assert!(out.status.success(), "recall {args:?}: {}", both(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `recall search --tenant T ARGS…`: the events printed.
fn search(data: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "--tenant", TENANT];
    all.extend_from_slice(args);
    cli_ok(data, &all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The synthetic events as imported: `(seq, event)`.
fn imported(root: &Path) -> Vec<(u64, Value)> {
    std::fs::read_to_string(root.join("events.ndjson"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64, serde_json::from_str(l).unwrap()))
        .collect()
}

fn time(e: &Value) -> Timestamp {
    e["time"].as_str().unwrap().parse().unwrap()
}

fn text<'a>(e: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(e, |v, k| v.get(k))?.as_str()
}

/// The filter flags of one search, as the oracle applies them.
#[derive(Default, Clone)]
struct Filter {
    patient: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    purpose: Option<String>,
    system: Option<String>,
    ip: Option<String>,
    break_glass: bool,
    from: Option<String>,
    to: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
}

impl Filter {
    fn matches(&self, e: &Value) -> bool {
        let eq = |want: &Option<String>, path: &[&str]| {
            want.as_deref().is_none_or(|w| text(e, path) == Some(w))
        };
        let outcome = text(e, &["outcome"]).unwrap_or("success");
        let t = time(e);
        eq(&self.patient, &["patient", "id"])
            && eq(&self.actor, &["actor", "id"])
            && eq(&self.action, &["action"])
            && self.outcome.as_deref().is_none_or(|o| o == outcome)
            && eq(&self.purpose, &["purpose"])
            && eq(&self.system, &["source", "system"])
            && eq(&self.ip, &["source", "ip"])
            && eq(&self.resource_type, &["resource", "type"])
            && eq(&self.resource_id, &["resource", "id"])
            && (!self.break_glass || text(e, &["purpose"]) == Some("ETREAT"))
            && self.from.as_ref().is_none_or(|f| t >= f.parse().unwrap())
            && self.to.as_ref().is_none_or(|x| t < x.parse().unwrap())
    }

    fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (flag, v) in [
            ("--patient", &self.patient),
            ("--actor", &self.actor),
            ("--action", &self.action),
            ("--outcome", &self.outcome),
            ("--purpose", &self.purpose),
            ("--system", &self.system),
            ("--ip", &self.ip),
            ("--from", &self.from),
            ("--to", &self.to),
            ("--resource-type", &self.resource_type),
            ("--resource-id", &self.resource_id),
        ] {
            if let Some(v) = v {
                out.extend([flag.to_string(), v.clone()]);
            }
        }
        if self.break_glass {
            out.push("--break-glass".into());
        }
        out
    }
}

/// The client ids the oracle expects, in (time, seq) order.
fn expected(events: &[(u64, Value)], f: &Filter, desc: bool) -> Vec<String> {
    let mut hits: Vec<(Timestamp, u64, String)> = events
        .iter()
        .filter(|(_, e)| f.matches(e))
        .map(|(seq, e)| (time(e), *seq, e["id"].as_str().unwrap().to_string()))
        .collect();
    hits.sort();
    if desc {
        hits.reverse();
    }
    hits.into_iter().map(|(_, _, id)| id).collect()
}

/// Checks one search: the imported events found are exactly the oracle's, in order; any
/// other event is one of the CLI's own audit events, and it matches the filter too.
fn check(data: &Path, events: &[(u64, Value)], f: &Filter, desc: bool) {
    let mut flags = f.flags();
    if desc {
        flags.extend(["--order".into(), "desc".into()]);
    }
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let found = search(data, &args);
    let keys: Vec<(Timestamp, u64)> = found
        .iter()
        .map(|e| (time(e), e["seq"].as_u64().unwrap()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    if desc {
        sorted.reverse();
    }
    assert_eq!(keys, sorted, "{flags:?}: not in (time, seq) order");
    let (ours, audits): (Vec<&Value>, Vec<&Value>) =
        found.iter().partition(|e| e.get("id").is_some());
    let ids: Vec<&str> = ours.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected(events, f, desc), "{flags:?}");
    for a in audits {
        assert_eq!(a["actor"]["id"], me(), "{flags:?}: {a}");
        assert!(
            f.matches(a),
            "{flags:?}: audit event outside the filter: {a}"
        );
    }
}

/// The most frequent value at `path` among the imported events.
fn most_common(events: &[(u64, Value)], path: &[&str]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, e) in events {
        if let Some(v) = text(e, path) {
            *counts.entry(v).or_default() += 1;
        }
    }
    let (v, _) = counts
        .into_iter()
        .max_by_key(|&(v, n)| (n, std::cmp::Reverse(v)))
        .unwrap();
    v.to_string()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// A data directory with `n` imported events (keep the first value alive while it is
/// used), the events, and the busiest patient and actor.
type Fixture = (
    tempfile::TempDir,
    PathBuf,
    Vec<(u64, Value)>,
    String,
    String,
);

fn fixture(n: u64, seed: u64) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, n, seed);
    let events = imported(root.path());
    let patient = most_common(&events, &["patient", "id"]);
    let actor = most_common(&events, &["actor", "id"]);
    (root, data, events, patient, actor)
}

#[test]
fn every_search_flag_finds_exactly_what_a_scan_finds() {
    let (_root, data, events, patient, actor) = fixture(EVENTS, 11);
    let system = most_common(&events, &["source", "system"]);
    let ip = most_common(&events, &["source", "ip"]);
    let kind = some(&most_common(&events, &["resource", "type"]));
    // An id of that type, so that the two filters together find something.
    let rid = events
        .iter()
        .find(|(_, e)| text(e, &["resource", "type"]) == kind.as_deref())
        .and_then(|(_, e)| text(e, &["resource", "id"]).map(str::to_owned));
    let (p, a, sys) = (some(&patient), some(&actor), some(&system));
    let (from, to) = (some("2026-02-01T00:00:00Z"), some("2026-05-15T12:30:00Z"));
    let none = Filter::default;
    #[rustfmt::skip]
    let cases = [
        Filter { patient: p.clone(), ..none() },
        Filter { actor: a.clone(), ..none() },
        Filter { action: some("update"), ..none() },
        Filter { outcome: some("denied"), ..none() },
        Filter { outcome: some("failure"), ..none() },
        Filter { outcome: some("success"), to: some(DATA_END), ..none() },
        Filter { purpose: some("TREAT"), ..none() },
        Filter { system: sys.clone(), ..none() },
        Filter { ip: some(&ip), ..none() },
        Filter { break_glass: true, ..none() },
        Filter { from: from.clone(), to: to.clone(), ..none() },
        Filter { patient: p, from: from.clone(), to, ..none() },
        Filter { actor: a, action: some("read"), outcome: some("success"), ..none() },
        Filter { system: sys, purpose: some("TREAT"), from, ..none() },
        // The CLI's own audit events are searchable like any other.
        Filter { action: some("search"), ..none() },
        Filter { patient: some("MRN-nobody"), ..none() },
        // No index serves the resource: each candidate's whole event is tested.
        Filter { resource_type: kind.clone(), ..none() },
        Filter { resource_type: kind, resource_id: rid, ..none() },
    ];
    for f in &cases {
        assert!(
            f.patient.as_deref() == Some("MRN-nobody") || !expected(&events, f, false).is_empty(),
            "a case that finds nothing checks little: {:?}",
            f.flags()
        );
        check(&data, &events, f, false);
        check(&data, &events, f, true);
    }

    // --limit takes the first N in the order asked for.
    let in_data = Filter {
        to: some(DATA_END),
        ..Filter::default()
    };
    for (order, desc) in [("asc", false), ("desc", true)] {
        let found = search(&data, &["--to", DATA_END, "--order", order, "--limit", "7"]);
        let ids: Vec<&str> = found.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, expected(&events, &in_data, desc)[..7], "{order}");
    }
    // More than one internal page (1,000) is followed.
    let found = search(&data, &["--to", DATA_END, "--limit", "2500"]);
    assert_eq!(found.len(), 2500);
    assert_eq!(
        found.last().unwrap()["id"].as_str().unwrap(),
        expected(&events, &in_data, false)[2499]
    );
}

/// `recall report …`, as JSON.
fn report_json(data: &Path, args: &[&str]) -> Value {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--tenant", TENANT, "--format", "json"]);
    serde_json::from_str(&cli_ok(data, &all)).unwrap()
}

/// Per key (actor or patient): count, first, last, actions.
type Summary = BTreeMap<Option<String>, (u64, Timestamp, Timestamp, BTreeSet<String>)>;

fn summarise(events: &[&Value], key: &[&str]) -> Summary {
    let mut out = Summary::new();
    for e in events {
        let t = time(e);
        let entry =
            out.entry(text(e, key).map(str::to_owned))
                .or_insert((0, t, t, BTreeSet::new()));
        entry.0 += 1;
        entry.1 = entry.1.min(t);
        entry.2 = entry.2.max(t);
        entry.3.insert(e["action"].as_str().unwrap().to_string());
    }
    out
}

fn summary_of(report: &Value, key: &str) -> Summary {
    report["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let actions = r["actions"].as_array().unwrap().iter();
            (
                r[key].as_str().map(str::to_owned),
                (
                    r["count"].as_u64().unwrap(),
                    r["first"].as_str().unwrap().parse().unwrap(),
                    r["last"].as_str().unwrap().parse().unwrap(),
                    actions.map(|a| a.as_str().unwrap().to_string()).collect(),
                ),
            )
        })
        .collect()
}

#[test]
fn reports_hold_what_a_scan_finds_in_json_and_csv() {
    let (_root, data, events, patient, actor) = fixture(EVENTS, 12);
    let (from, to) = ("2025-12-01T00:00:00Z", "2026-09-01T00:00:00Z");
    let range = Filter {
        from: some(from),
        to: some(to),
        ..Filter::default()
    };

    for (kind, flag, subject, group) in [
        ("patient-access", "--patient", &patient, ["actor", "id"]),
        ("actor-activity", "--actor", &actor, ["patient", "id"]),
    ] {
        let f = Filter {
            patient: (kind == "patient-access").then(|| patient.clone()),
            actor: (kind == "actor-activity").then(|| actor.clone()),
            ..range.clone()
        };
        let want = expected(&events, &f, false);
        assert!(!want.is_empty(), "{kind}");
        let args = [kind, flag, subject.as_str(), "--from", from, "--to", to];
        let report = report_json(&data, &args);
        assert_eq!(report["report"], kind);
        assert_eq!(report["tenant"], TENANT);
        assert_eq!(report["count"], want.len());
        let order: Vec<&str> = report["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(order, want, "{kind}: events in (time, seq) order");
        let matching: Vec<&Value> = events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| f.matches(e))
            .collect();
        let key = if kind == "patient-access" {
            "actor_id"
        } else {
            "patient_id"
        };
        assert_eq!(
            summary_of(&report, key),
            summarise(&matching, &group),
            "{kind}"
        );

        // The CSV: the header, the same summary rows and the same events.
        let out = cli_ok(
            &data,
            &[
                "report", kind, flag, subject, "--from", from, "--to", to, "--tenant", TENANT,
                "--format", "csv",
            ],
        );
        let mut rows = csv::Reader::from_reader(out.as_bytes());
        let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
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
        let seq_col = header.iter().position(|h| h == "seq").unwrap();
        let (mut summaries, mut seqs) = (0, BTreeSet::new());
        for r in rows.records() {
            let r = r.unwrap();
            match &r[0] {
                "summary" => summaries += 1,
                "event" => {
                    seqs.insert(r[seq_col].parse::<u64>().unwrap());
                }
                other => panic!("unknown record kind {other}"),
            }
        }
        assert_eq!(
            summaries,
            report["summary"].as_array().unwrap().len(),
            "{kind}"
        );
        let want_seqs: BTreeSet<u64> = events
            .iter()
            .filter(|(_, e)| f.matches(e))
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(seqs, want_seqs, "{kind}");
    }
}

/// The log size from `recall checkpoint` (the note's second line).
fn log_size(data: &Path) -> u64 {
    let note = cli_ok(data, &["checkpoint", "--tenant", TENANT]);
    note.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn every_query_appends_its_own_audit_event_naming_the_user() {
    let (_root, data, _, patient, actor) = fixture(500, 13);
    assert_eq!(log_size(&data), 500);
    search(
        &data,
        &["--patient", &patient, "--outcome", "denied", "--limit", "3"],
    );
    assert_eq!(log_size(&data), 501);
    cli_ok(
        &data,
        &[
            "report",
            "patient-access",
            "--tenant",
            TENANT,
            "--patient",
            &patient,
            "--format",
            "csv",
        ],
    );
    assert_eq!(log_size(&data), 502);
    cli_ok(
        &data,
        &[
            "report",
            "actor-activity",
            "--tenant",
            TENANT,
            "--actor",
            &actor,
            "--from",
            "2026-01-01T00:00:00Z",
        ],
    );
    assert_eq!(log_size(&data), 503);

    // Read back (this search is audited too, after the three).
    let audits = search(
        &data,
        &[
            "--actor",
            &me(),
            "--justification",
            "test: checking the audit records",
        ],
    );
    assert_eq!(log_size(&data), 504);
    assert_eq!(audits.len(), 3, "{audits:?}");
    let seqs: Vec<u64> = audits.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [500, 501, 502]);
    for a in &audits {
        assert_eq!(a["actor"]["type"], "user");
        assert_eq!(a["purpose"], "HCOMPL");
        assert_eq!(a["source"]["system"], "recall-cli");
        assert_eq!(a["detail"]["dicom_event"], "110101");
    }
    let [s, pa, aa] = &audits[..] else {
        unreachable!()
    };
    assert_eq!(s["action"], "search");
    assert_eq!(s["detail"]["endpoint"], "recall search");
    assert_eq!(s["patient"]["id"], patient.as_str());
    assert_eq!(s["detail"]["query"]["outcome"], "denied");
    assert_eq!(pa["action"], "report");
    assert_eq!(pa["detail"]["endpoint"], "recall report");
    assert_eq!(pa["patient"]["id"], patient.as_str());
    assert_eq!(pa["detail"]["query"]["report"], "patient-access");
    assert_eq!(aa["detail"]["query"]["report"], "actor-activity");
    assert_eq!(aa["detail"]["query"]["actor"], actor.as_str());
    assert_eq!(aa["detail"]["query"]["from"], "2026-01-01T00:00:00Z");
    assert!(aa.get("patient").is_none(), "{aa}");

    // A refused query appends nothing.
    assert!(
        !cli(&data, &["search", "--tenant", TENANT, "--outcome", "maybe"])
            .status
            .success()
    );
    assert_eq!(log_size(&data), 504);
}

#[test]
fn reindex_rebuilds_the_same_answers_from_the_log() {
    let (_root, data, _, patient, actor) = fixture(1500, 14);
    let queries: [&[&str]; 4] = [
        &["--patient", &patient, "--to", DATA_END],
        &["--actor", &actor, "--order", "desc", "--to", DATA_END],
        &["--break-glass", "--to", DATA_END],
        &[
            "--outcome",
            "denied",
            "--from",
            "2026-03-01T00:00:00Z",
            "--to",
            DATA_END,
        ],
    ];
    let before: Vec<Vec<Value>> = queries.iter().map(|q| search(&data, q)).collect();
    let report = report_json(
        &data,
        &["patient-access", "--patient", &patient, "--to", DATA_END],
    );

    std::fs::remove_dir_all(data.join("index")).unwrap();
    cli_ok(&data, &["reindex"]);
    let after: Vec<Vec<Value>> = queries.iter().map(|q| search(&data, q)).collect();
    assert_eq!(before, after);
    assert_eq!(
        report_json(
            &data,
            &["patient-access", "--patient", &patient, "--to", DATA_END]
        ),
        report
    );
    // The audit events appended before the rebuild are found again as well.
    let audits = search(&data, &["--actor", &me(), "--action", "search"]);
    assert_eq!(audits.len(), 8, "four searches before, four after");
}

#[test]
fn bad_flags_exit_non_zero_naming_the_flag() {
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 50, 15);
    let size = log_size(&data);
    let t = ["--tenant", TENANT];
    let cases: [(&[&str], &str); 13] = [
        (&["search", "--outcome", "maybe"], "--outcome"),
        (&["search", "--ip", "10.0.0.999"], "--ip"),
        (&["search", "--from", "yesterday"], "--from"),
        (&["search", "--to", "2026-13-01T00:00:00Z"], "--to"),
        (&["search", "--order", "sideways"], "--order"),
        (&["search", "--limit", "0"], "--limit"),
        (&["search", "--limit", "many"], "--limit"),
        (&["search", "--break-glass=yes"], "--break-glass"),
        (&["search", "--colour", "red"], "--colour"),
        (&["report", "patient-access", "--format", "pdf"], "--format"),
        (&["report", "patient-access"], "--patient"),
        (
            &["report", "actor-activity", "--patient", "MRN-1"],
            "--actor",
        ),
        (&["report", "who-knows", "--patient", "MRN-1"], "who-knows"),
    ];
    for (args, flag) in cases {
        let mut all = args.to_vec();
        all.extend_from_slice(&t);
        let out = cli(&data, &all);
        assert!(!out.status.success(), "{all:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag),
            "{all:?}: the error does not name {flag}:\n{err}"
        );
    }
    // A tenant name that is invalid, or has no log: refused, and no log is created for it.
    for tenant in ["Not A Tenant", "st-mary"] {
        let out = cli(&data, &["search", "--tenant", tenant, "--patient", "MRN-1"]);
        assert!(!out.status.success(), "{tenant}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--tenant"),
            "{}",
            both(&out)
        );
    }
    assert!(!data.join("tenants").join("st-mary").exists());
    assert_eq!(
        log_size(&data),
        size,
        "nothing was audited for refused queries"
    );
}
