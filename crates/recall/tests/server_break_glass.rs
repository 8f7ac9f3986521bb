//! The break-glass review queue end to end over a real server: accesses enter as open,
//! a privacy officer's review moves one to reviewed and a later review supersedes it
//! (both in the item's history), a reviewer's own access and bad requests are refused
//! naming the field, an event shaped like a review sent by a writer changes nothing, the
//! tenant's deadline (2 days here) flags overdue items, `/metrics` counts them, and the
//! queue survives a restart and `recall reindex`; the CLI verb lists and reviews through
//! the same code. All data is synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use common::recall_ok;
use common::server::{Server, create_key, json};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const T: &str = "ward-bg";

fn ago(days: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(24 * days)).to_string()
}

fn access(actor: &str, days: i64, purpose: &str, i: usize) -> Value {
    json!({
        "id": format!("bg-{i}"),
        "time": ago(days),
        "actor": {"id": actor, "role": "physician", "name": "Dr Synthetic"},
        "action": "read",
        "patient": {"id": format!("MRN-BG{i:03}")},
        "purpose": purpose,
        "reason": "synthetic emergency",
    })
}

fn post_events(server: &Server, key: &str, events: &[Value]) -> Vec<Value> {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let r = server.post(key, "/v1/events", "application/x-ndjson", body);
    assert_eq!(r.status(), 201);
    json(r)["receipts"].as_array().unwrap().clone()
}

fn review(server: &Server, key: &str, seq: u64, body: Value) -> reqwest::blocking::Response {
    let path = format!("/v1/reviews/break-glass/{seq}");
    server.post(key, &path, "application/json", body.to_string())
}

fn queue(server: &Server, key: &str, query: &str) -> Vec<Value> {
    let r = server.get(key, &format!("/v1/reviews/break-glass?{query}"));
    assert_eq!(r.status(), 200);
    json(r)["items"].as_array().unwrap().clone()
}

fn seqs(items: &[Value]) -> Vec<u64> {
    items.iter().map(|i| i["seq"].as_u64().unwrap()).collect()
}

/// With a server holding the data directory, `reviews break-glass review` and `roster
/// import` (which read the indexes the server has open) refuse, naming the endpoint to
/// use instead of a lock error; nothing is reviewed (checked by the caller's queue).
fn cli_names_the_endpoint_while_the_server_runs(data: &std::path::Path, seq: u64) {
    let roster = data.with_file_name("roster.csv");
    std::fs::write(&roster, "user_id,status\nu-1,active\n").unwrap();
    let seq = seq.to_string();
    let tries: [(&[&str], &str); 3] = [
        (
            &[
                "reviews",
                "break-glass",
                "review",
                "--tenant",
                T,
                &seq,
                "--disposition",
                "education",
            ],
            "POST /v1/reviews/break-glass/{seq}",
        ),
        (
            &["roster", "import", "--tenant", T, roster.to_str().unwrap()],
            "PUT /v1/roster",
        ),
        (
            &[
                "roster",
                "import",
                "--tenant",
                T,
                "--kind",
                "patients",
                roster.to_str().unwrap(),
            ],
            "PUT /v1/roster/patients",
        ),
    ];
    for (args, endpoint) in tries {
        let out = common::recall(data, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} ran beside the server");
        assert!(err.contains("a recall server holds"), "{args:?}: {err}");
        assert!(
            err.contains(endpoint),
            "{args:?} does not name {endpoint}: {err}"
        );
    }
}

#[test]
fn the_queue_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let cfg = data.join("recall.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        "# [reviews.tenants]\n# \"st-marys\" = 3",
        &format!("[reviews.tenants]\n\"{T}\" = 2"),
    );
    std::fs::write(&cfg, text).unwrap();
    let writer = create_key(&data, T, "writer");
    let officer = create_key(&data, T, "privacy_officer");
    let auditor = create_key(&data, T, "auditor");
    let engineer = create_key(&data, T, "engineer");
    // rk_<id>_<secret>: the officer's own accesses, as an EHR names the same person.
    let officer_id = officer.split('_').nth(1).unwrap().to_string();

    let server = Server::start(&data);
    let receipts = post_events(
        &server,
        &writer,
        &[
            access("dr-a", 1, "ETREAT", 0),
            access("dr-b", 5, "ETREAT", 1),
            access("dr-c", 10, "ETREAT", 2),
            access("dr-a", 3, "TREAT", 3),
            access(&officer_id, 4, "ETREAT", 4),
        ],
    );
    let seq = |i: usize| receipts[i]["seq"].as_u64().unwrap();
    let leaf = |i: usize| receipts[i]["leaf_hash"].as_str().unwrap().to_string();
    // A writer's event shaped like a review of access 1: not recall's, so ignored.
    post_events(
        &server,
        &writer,
        &[json!({
            "time": ago(0), "actor": {"id": "po-forger"}, "action": "review",
            "resource": {"type": "BreakGlassAccess", "id": seq(1).to_string()},
            "purpose": "HCOMPL",
            "detail": {"review": {"seq": seq(1), "disposition": "appropriate"}},
        })],
    );

    // Open, newest first, with age and the tenant's 2-day deadline.
    let open = queue(&server, &auditor, "state=open");
    assert_eq!(seqs(&open), vec![seq(0), seq(4), seq(1), seq(2)]);
    assert_eq!(open[0]["overdue"], false);
    assert_eq!(open[2]["overdue"], true);
    assert_eq!(open[0]["actor"]["id"], "dr-a");
    assert_eq!(open[0]["patient"]["id"], "MRN-BG000");
    assert_eq!(open[0]["reason"], "synthetic emergency");
    assert!(open[2]["age_seconds"].as_i64().unwrap() >= 5 * 86_400);
    assert_eq!(server.gauge("recall_break_glass_open"), 4.0);
    assert_eq!(server.gauge("recall_break_glass_overdue"), 3.0);

    // Paging: two pages of two, never repeating.
    let r = server.get(&auditor, "/v1/reviews/break-glass?limit=2");
    let first = json(r);
    let cursor = first["next_cursor"].as_str().unwrap();
    let r = server.get(
        &auditor,
        &format!("/v1/reviews/break-glass?limit=2&cursor={cursor}"),
    );
    let second = json(r);
    assert_eq!(
        seqs(second["items"].as_array().unwrap()),
        vec![seq(1), seq(2)]
    );
    assert!(second["next_cursor"].is_null());

    // Refusals, each naming its field; nothing recorded.
    let problem = |r: reqwest::blocking::Response, status: u16, field: &str| {
        assert_eq!(r.status(), status);
        assert_eq!(json(r)["field"], field);
    };
    problem(
        review(&server, &officer, seq(1), json!({"disposition": "fine"})),
        400,
        "disposition",
    );
    problem(
        review(&server, &officer, seq(1), json!({"note": "x"})),
        400,
        "disposition",
    );
    problem(
        review(
            &server,
            &officer,
            9_999,
            json!({"disposition": "appropriate"}),
        ),
        404,
        "seq",
    );
    problem(
        review(
            &server,
            &officer,
            seq(3),
            json!({"disposition": "appropriate"}),
        ),
        409,
        "seq",
    );
    problem(
        review(
            &server,
            &officer,
            seq(4),
            json!({"disposition": "appropriate"}),
        ),
        403,
        "seq",
    );
    assert_eq!(
        review(
            &server,
            &auditor,
            seq(1),
            json!({"disposition": "appropriate"})
        )
        .status(),
        403
    );
    assert_eq!(
        review(
            &server,
            &writer,
            seq(1),
            json!({"disposition": "appropriate"})
        )
        .status(),
        403
    );
    for key in [&engineer, &writer] {
        assert_eq!(server.get(key, "/v1/reviews/break-glass").status(), 403);
    }

    // A review, then a later one that supersedes it.
    let r = review(
        &server,
        &officer,
        seq(1),
        json!({"disposition": "needs-follow-up", "note": "ask the ward"}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(json(r)["leaf_hash"], leaf(1));
    let r = review(
        &server,
        &officer,
        seq(1),
        json!({"disposition": "appropriate", "note": "confirmed"}),
    );
    assert_eq!(r.status(), 201);
    let reviewed = queue(&server, &auditor, "state=reviewed");
    assert_eq!(seqs(&reviewed), vec![seq(1)]);
    assert_eq!(reviewed[0]["review"]["disposition"], "appropriate");
    assert_eq!(reviewed[0]["review"]["note"], "confirmed");
    assert_eq!(
        reviewed[0]["review"]["reviewer"],
        format!("key:{officer_id}")
    );
    let item = json(server.get(&auditor, &format!("/v1/reviews/break-glass/{}", seq(1))));
    let history: Vec<&str> = item["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["disposition"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["needs-follow-up", "appropriate"]);
    // The review record: appended by recall, naming the access's seq and leaf hash.
    let rseq = reviewed[0]["review"]["seq"].as_u64().unwrap();
    let record = json(server.get(&officer, &format!("/v1/events/{T}/{rseq}")))["event"].clone();
    assert_eq!(record["appended_by"], "recall:server");
    assert_eq!(record["detail"]["review"]["seq"], seq(1));
    assert_eq!(record["detail"]["review"]["leaf_hash"], leaf(1));
    assert_eq!(server.gauge("recall_break_glass_open"), 3.0);
    assert_eq!(server.gauge("recall_break_glass_overdue"), 2.0);
    let all = queue(&server, &auditor, "state=all");
    assert_eq!(seqs(&all), vec![seq(0), seq(4), seq(1), seq(2)]);
    server.stop();

    // Restart and reindex keep the queue; the CLI reviews through the same workflow.
    recall_ok(&data, &["reindex"]);
    let out = recall_ok(
        &data,
        &[
            "reviews",
            "break-glass",
            "review",
            "--tenant",
            T,
            &seq(2).to_string(),
            "--disposition",
            "education",
            "--note",
            "training booked",
        ],
    );
    assert!(out.contains("education"), "{out}");
    let listed = recall_ok(
        &data,
        &[
            "reviews",
            "break-glass",
            "list",
            "--tenant",
            T,
            "--state",
            "all",
        ],
    );
    let cli: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&cli), vec![seq(0), seq(4), seq(1), seq(2)]);
    assert_eq!(cli[3]["review"]["disposition"], "education");
    let server = Server::start(&data);
    cli_names_the_endpoint_while_the_server_runs(&data, seq(0));
    let reviewed = queue(&server, &auditor, "state=reviewed");
    assert_eq!(seqs(&reviewed), vec![seq(1), seq(2)]);
    assert_eq!(server.gauge("recall_break_glass_open"), 2.0);
    assert_eq!(server.gauge("recall_break_glass_overdue"), 1.0);
    // The lens: an engineer reads nothing here; the auditor's reads are on record.
    let searches = json(server.get(
        &officer,
        "/v1/events?action=search&system=recall&limit=1000",
    ));
    let endpoints: Vec<&str> = searches["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"]["endpoint"].as_str())
        .collect();
    assert!(
        endpoints.contains(&"GET /v1/reviews/break-glass"),
        "{endpoints:?}"
    );
    assert!(
        endpoints.contains(&"GET /v1/reviews/break-glass/{seq}"),
        "{endpoints:?}"
    );
    server.stop();
}
