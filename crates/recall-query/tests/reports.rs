//! Reports: JSON and CSV parse, and their counts and summaries match the oracle.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Rec, oracle, world};
use recall_query::{Filter, Lens, Order, ReportFormat, TimeRange};

fn range() -> TimeRange {
    TimeRange {
        from: Some("2025-12-01T00:00:00Z".parse().unwrap()),
        to: Some("2026-09-01T00:00:00Z".parse().unwrap()),
    }
}

fn busiest_patient(recs: &[Rec], tenant: &str) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let (from, to) = (range().from.unwrap(), range().to.unwrap());
    let inside = |r: &&Rec| r.tenant == tenant && r.event.time >= from && r.event.time < to;
    for r in recs.iter().filter(inside) {
        if let Some(p) = &r.event.patient {
            *counts.entry(&p.id).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .unwrap()
        .0
        .to_string()
}

#[test]
fn patient_access_report_matches_the_oracle() {
    let w = world(4_000, 31);
    let patient = busiest_patient(&w.recs, "north");
    let f = Filter {
        patient: Some(patient.clone()),
        from: range().from,
        to: range().to,
        ..Filter::default()
    };
    let want = oracle(&w.recs, "north", &f, Order::Asc);
    assert!(want.len() > 3, "the test needs a busy patient");
    let by_seq: BTreeMap<u64, &Rec> = w
        .recs
        .iter()
        .filter(|r| r.tenant == "north")
        .map(|r| (r.seq, r))
        .collect();
    let mut actors: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    for s in &want {
        let e = &by_seq[s].event;
        let a = actors.entry(e.actor.id.clone()).or_default();
        a.0 += 1;
        a.1.insert(e.action.clone());
    }

    let mut json = Vec::new();
    let stats =
        w.db.patient_access(
            "north",
            &patient,
            range(),
            ReportFormat::Json,
            &Lens::full(),
            &mut json,
        )
        .unwrap();
    assert_eq!(stats.events, want.len() as u64);
    assert_eq!(stats.actors, actors.len() as u64);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["report"], "patient-access");
    assert_eq!(v["patient"], patient.as_str());
    assert_eq!(v["count"], want.len());
    let seqs: Vec<u64> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, want);
    for row in v["summary"].as_array().unwrap() {
        let (count, actions) = &actors[row["actor_id"].as_str().unwrap()];
        assert_eq!(row["count"], *count);
        let got: BTreeSet<String> = row["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(&got, actions);
    }

    let mut csv_out = Vec::new();
    let stats_csv =
        w.db.patient_access(
            "north",
            &patient,
            range(),
            ReportFormat::Csv,
            &Lens::full(),
            &mut csv_out,
        )
        .unwrap();
    assert_eq!(stats_csv, stats);
    let mut reader = csv::Reader::from_reader(csv_out.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let events: Vec<u64> = rows
        .iter()
        .filter(|r| &r[0] == "event")
        .map(|r| r[col("seq")].parse().unwrap())
        .collect();
    assert_eq!(events, want);
    let summary: BTreeMap<String, u64> = rows
        .iter()
        .filter(|r| &r[0] == "summary")
        .map(|r| {
            (
                r[col("actor_id")].to_string(),
                r[col("count")].parse().unwrap(),
            )
        })
        .collect();
    let want_summary: BTreeMap<String, u64> =
        actors.iter().map(|(k, (n, _))| (k.clone(), *n)).collect();
    assert_eq!(summary, want_summary);
}

#[test]
fn actor_activity_report_matches_the_oracle() {
    let w = world(3_000, 32);
    let actor = w
        .recs
        .iter()
        .find(|r| r.tenant == "south")
        .unwrap()
        .event
        .actor
        .id
        .clone();
    let f = Filter {
        actor: Some(actor.clone()),
        from: range().from,
        to: range().to,
        ..Filter::default()
    };
    let want = oracle(&w.recs, "south", &f, Order::Asc);
    let patients: BTreeSet<Option<String>> = w
        .recs
        .iter()
        .filter(|r| r.tenant == "south" && want.contains(&r.seq))
        .map(|r| r.event.patient.as_ref().map(|p| p.id.clone()))
        .collect();
    for format in [ReportFormat::Json, ReportFormat::Csv] {
        let mut out = Vec::new();
        let stats =
            w.db.actor_activity("south", &actor, range(), format, &Lens::full(), &mut out)
                .unwrap();
        assert_eq!(stats.events, want.len() as u64);
        assert_eq!(stats.actors, patients.len() as u64);
        if format == ReportFormat::Json {
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["report"], "actor-activity");
            assert_eq!(v["events"].as_array().unwrap().len(), want.len());
            let total: u64 = v["summary"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["count"].as_u64().unwrap())
                .sum();
            assert_eq!(total, want.len() as u64);
        } else {
            let rows = csv::Reader::from_reader(out.as_slice()).records().count();
            assert_eq!(rows, want.len() + patients.len());
        }
    }
    let mut out = Vec::new();
    let none =
        w.db.actor_activity(
            "south",
            "u-nobody",
            range(),
            ReportFormat::Json,
            &Lens::full(),
            &mut out,
        )
        .unwrap();
    assert_eq!(none.events, 0);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["count"], 0);
}
