//! `GET /v1/export` over real HTTP: log order and a resume cursor that never skips (the
//! consumer is cut off mid-stream while events keep arriving, resumes from the last record
//! it kept, and the union is compared with the log), CSV read back by Python's csv
//! module, OCSF validated by pydantic-ocsf's models of the schema, the lens (an engineer
//! gets pseudonyms, in every format), bad parameters named with nothing recorded, and the
//! one self-audit event per export, appended before the stream and naming its range.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::server::{Server, json};
use common::synth::{self, Sent};
use serde_json::Value;

const T: &str = "export-clinic";

fn export(server: &Server, key: &str, query: &str) -> reqwest::blocking::Response {
    let r = server.get(key, &format!("/v1/export{query}"));
    assert_eq!(r.status(), 200, "{query}");
    r
}

/// Every line of an NDJSON body, parsed.
fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn cursor(r: &reqwest::blocking::Response) -> u64 {
    let h = r.headers().get("recall-export-cursor").unwrap();
    h.to_str().unwrap().parse().unwrap()
}

/// Reads an export until `keep` records have arrived, then drops the connection: the
/// records kept (each complete line).
fn cut_off(server: &Server, key: &str, query: &str, keep: usize) -> Vec<Value> {
    let r = export(server, key, query);
    let mut kept = Vec::new();
    for line in BufReader::new(r).lines() {
        kept.push(serde_json::from_str(&line.unwrap()).unwrap());
        if kept.len() == keep {
            break;
        }
    }
    kept
}

/// Runs a Python program on `input`; its standard output (fails the test on an error).
fn python(python: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(python)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{python} {args:?} failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// The Python that has pydantic-ocsf (`RECALL_OCSF_PYTHON`, set by .ci/run); `None`
/// (skip) without it, except under CI, where it fails.
fn ocsf_python() -> Option<String> {
    let py = std::env::var("RECALL_OCSF_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import ocsf.v1_7_0.events"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "pydantic-ocsf is required under CI (RECALL_OCSF_PYTHON)"
        );
        eprintln!("skipped the OCSF validation: pydantic-ocsf is not installed");
    }
    ok.then_some(py)
}

#[test]
fn export_streams_the_log_resumes_without_skipping_in_every_format() {
    let roles = [(T, "writer"), (T, "auditor"), (T, "engineer")];
    let (_tmp, data, keys) = synth::data_with_keys(&roles);
    let (writer, auditor, engineer) = (&keys[0], &keys[1], &keys[2]);
    let server = Server::start(&data);
    let events = synth::events(1500, 18, "export");
    let mut sent: Vec<Sent> = synth::ingest(&server, writer, T, &events[..1000], 1);

    // The whole log, in seq order, up to the cursor; nothing after it.
    let r = export(&server, auditor, "");
    let until = cursor(&r);
    let all = lines(&r.text().unwrap());
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..=until).collect::<Vec<_>>(), "every seq, in order");
    let by_seq: BTreeMap<u64, &Value> = all
        .iter()
        .map(|e| (e["seq"].as_u64().unwrap(), e))
        .collect();
    for s in &sent {
        assert_eq!(by_seq[&s.seq]["id"], s.event["id"], "seq {}", s.seq);
    }

    // Its self-audit event comes right after the range it names.
    // (`detail` is behind a justification for an auditor.)
    let r = server.get_justified(auditor, &format!("/v1/export?after={until}"));
    let next = lines(&r.text().unwrap());
    let record = &next[0];
    assert_eq!(record["seq"], until + 1);
    assert_eq!(record["action"], "export");
    assert_eq!(record["detail"]["query"]["until"], until + 1, "{record}");
    assert_eq!(record["detail"]["query"]["format"], "native");

    // A consumer cut off mid-stream while events arrive resumes from its last record.
    let mut got: Vec<Value> = cut_off(&server, auditor, "", 300);
    sent.extend(synth::ingest(&server, writer, T, &events[1000..], 2));
    let last = got.last().unwrap()["seq"].as_u64().unwrap();
    got.extend(cut_off(&server, auditor, &format!("?after={last}"), 700));
    let last = got.last().unwrap()["seq"].as_u64().unwrap();
    let r = export(&server, auditor, &format!("?after={last}"));
    let end = cursor(&r);
    got.extend(lines(&r.text().unwrap()));
    let got_seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        got_seqs,
        (0..=end).collect::<Vec<_>>(),
        "nothing skipped, nothing twice"
    );
    for s in &sent {
        assert_eq!(got[s.seq as usize]["id"], s.event["id"], "seq {}", s.seq);
    }

    // A filter: only its events, still in log order.
    let r = export(&server, auditor, "?action=read&outcome=success");
    let reads = lines(&r.text().unwrap());
    let want: Vec<u64> = got
        .iter()
        .filter(|e| e["action"] == "read" && e["outcome"] == "success")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let have: Vec<u64> = reads.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(!want.is_empty());
    assert_eq!(have, want[..have.len()].to_vec());
    assert_eq!(have.len(), want.len());

    // CSV, read by Python's csv module: the native export's seqs and fields.
    let r = export(&server, auditor, &format!("?format=csv&after={}", until));
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().unwrap();
    let read = "import csv, json, sys; print(json.dumps(list(csv.DictReader(sys.stdin))))";
    let rows: Vec<BTreeMap<String, String>> =
        serde_json::from_str(&python("python3", &["-c", read], &csv)).unwrap();
    let native: Vec<&Value> = got
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() > until)
        .collect();
    assert!(rows.len() >= native.len());
    for (row, e) in rows.iter().zip(&native) {
        assert_eq!(row["record"], "event");
        assert_eq!(row["seq"], e["seq"].to_string());
        assert_eq!(row["action"], e["action"].as_str().unwrap());
        assert_eq!(row["patient_id"], e["patient"]["id"].as_str().unwrap_or(""));
    }

    // The engineer's view: pseudonyms in every format, and a clear patient id refused.
    let r = export(&server, engineer, "?format=ocsf");
    let ocsf = r.text().unwrap();
    let patient = sent
        .iter()
        .find_map(|s| s.get("/patient/id"))
        .unwrap()
        .to_string();
    assert!(
        !ocsf.contains(&format!("\"{patient}\"")),
        "a patient id in the engineer's OCSF"
    );
    assert!(ocsf.contains("\"psn_"));
    let native_eng = export(&server, engineer, "").text().unwrap();
    assert!(!native_eng.contains(&format!("\"{patient}\"")));
    let csv_eng = export(&server, engineer, "?format=csv").text().unwrap();
    assert!(!csv_eng.contains(&patient));

    // OCSF validated by a third party; the auditor's (clear) form too.
    let auditor_ocsf = export(&server, auditor, "?format=ocsf").text().unwrap();
    let n = lines(&auditor_ocsf);
    // (Each export between them added its own record.)
    assert_eq!(n.len(), lines(&ocsf).len() + 3);
    assert_eq!(n[5]["metadata"]["sequence"], 5);
    if let Some(py) = ocsf_python() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ocsf/validate.py"
        );
        for body in [&ocsf, &auditor_ocsf] {
            let counts: BTreeMap<String, u64> =
                serde_json::from_str(&python(&py, &[script], body)).unwrap();
            let records = body.lines().count() as u64;
            assert_eq!(counts.values().sum::<u64>(), records, "{counts:?}");
        }
    }

    // Bad parameters are named, and nothing is recorded for them.
    let r = export(&server, auditor, &format!("?after={end}"));
    let before = cursor(&r);
    drop(r.text());
    for (query, field) in [
        ("?format=xml", "format"),
        ("?after=-1", "after"),
        ("?after=x", "after"),
        ("?outcome=maybe", "outcome"),
    ] {
        let r = server.get(auditor, &format!("/v1/export{query}"));
        assert_eq!(r.status(), 400, "{query}");
        let body = json(r);
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    let r = server.get(engineer, &format!("/v1/export?patient={patient}"));
    assert_eq!(r.status(), 400);
    let r = server.get_justified(auditor, &format!("/v1/export?after={before}"));
    let fresh = lines(&r.text().unwrap());
    assert_eq!(fresh.len(), 1, "only the good export's record: {fresh:?}");
    assert_eq!(fresh[0]["action"], "export");
    assert_eq!(fresh[0]["detail"]["query"]["after"], end.to_string());
    server.stop();
}
