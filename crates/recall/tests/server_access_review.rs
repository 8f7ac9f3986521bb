//! The access review end to end on a real server: rosters over `PUT /v1/roster` (a bad
//! row is a 400 naming row and field, and changes nothing), the report as JSON (its
//! digest in `Recall-Report-Sha256`) and CSV, the engineer's lens, the sign-off recorded
//! in the log, the patient roster's states, and no roster text in the data directory.
#![allow(clippy::unwrap_used)]

mod common;

use common::server::{Server, create_key, json};
use common::{officer_search, recall_ok};
use serde_json::{Value, json as j};

const T: &str = "clinic-a";
const PERIOD: &str = "from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z";

fn put(s: &Server, key: &str, path: &str, body: &str) -> reqwest::blocking::Response {
    s.http
        .put(format!("{}{path}", s.url))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(body.to_owned())
        .send()
        .unwrap()
}

fn event(actor: &str, patient: &str, time: &str, purpose: Option<&str>) -> String {
    let mut e = j!({"time": time, "actor": {"id": actor, "role": "nurse"}, "action": "read",
        "patient": {"id": patient}, "source": {"system": "ehr"}});
    if let Some(p) = purpose {
        e["purpose"] = j!(p);
        e["reason"] = j!("synthetic emergency");
    }
    e.to_string() + "\n"
}

const ROSTER: &str = "user_id,name,role,department,status,hire_date,status_date
n-1,Synthetic Quill Ambry,nurse,ICU,active,2020-01-01,
n-2,Synthetic Rook Bastion,nurse,ICU,terminated,2020-01-01,2026-11-01
n-3,Synthetic Sable Cairn,nurse,ER,active,2020-01-01,
";

#[test]
fn rosters_report_and_signoff_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, T, "writer");
    let officer = create_key(&data, T, "privacy_officer");
    let engineer = create_key(&data, T, "engineer");
    let admin = create_key(&data, T, "admin");
    let s = Server::start(&data);
    let body: String = [
        event("n-1", "MRN-1", "2026-11-02T10:00:00Z", None),
        event("n-1", "MRN-2", "2026-11-03T10:00:00Z", Some("ETREAT")),
        event("n-2", "MRN-1", "2026-11-03T10:00:00Z", None),
        event("x-9", "MRN-3", "2026-11-04T10:00:00Z", None),
    ]
    .concat();
    assert_eq!(
        s.post(&writer, "/v1/events", "application/x-ndjson", body)
            .status(),
        201
    );

    assert_eq!(put(&s, &admin, "/v1/roster", ROSTER).status(), 200);
    // A bad row: 400 naming row and field, never the value; nothing changed.
    let bad = ROSTER.replace(
        "n-3,Synthetic Sable Cairn,nurse,ER,active,2020-01-01,",
        "n-3,Synthetic Sable Cairn,nurse,ER,active,2020-13-01,",
    );
    let r = put(&s, &officer, "/v1/roster", &bad);
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p = json(r);
    assert_eq!(
        (p["field"].as_str(), p["index"].as_u64()),
        (Some("hire_date"), Some(2))
    );
    assert!(p["detail"].as_str().unwrap().contains("row 3"), "{p}");
    assert!(!p.to_string().contains("Sable") && !p.to_string().contains("2020-13-01"));

    let r = s.get(&officer, &format!("/v1/reports/access-review?{PERIOD}"));
    assert_eq!(r.status(), 200);
    let digest = r.headers()["recall-report-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = r.bytes().unwrap();
    assert_eq!(digest, recall_governance::access_review::digest(&bytes));
    let report: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        report["roster"],
        j!({"members": 3}),
        "the bad import changed nothing"
    );
    assert_eq!(report["totals"]["events"], 4);
    assert_eq!(report["totals"]["break_glass"], 1);
    assert_eq!(report["not_in_roster"], j!(["x-9"]));
    assert_eq!(report["after_status"][0]["user_id"], "n-2");
    assert_eq!(report["after_status"][0]["over_24h"], true);
    assert_eq!(report["dormant"][0]["user_id"], "n-3");
    let icu = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["department"] == "ICU")
        .unwrap();
    assert_eq!(icu["actors"][0]["patients"], 2);
    // The officer's own key read PHI in the period: listed with its use.
    let creds = report["credentials"].as_array().unwrap();
    let mine = creds
        .iter()
        .find(|c| c["credential"] == format!("key:{}", &officer[3..19]))
        .unwrap();
    assert!(mine["uses"].as_u64().unwrap() >= 1 && mine["role"] == "privacy_officer");
    assert!(
        creds
            .iter()
            .all(|c| c["role"] != "writer" && c["role"] != "admin")
    );

    let r = s.get(
        &officer,
        &format!("/v1/reports/access-review?{PERIOD}&format=csv"),
    );
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().unwrap();
    assert!(csv.starts_with("section,role,department,actor_id"));
    assert!(csv.contains("\nafter_status,"));

    // The PDF: the same rows, checked by qpdf and poppler, and the JSON form's digest
    // (the one its header gives, which a sign-off names) printed in it.
    if recall_testkit::pdf::pdf_tools() {
        let r = s.get(
            &officer,
            &format!("/v1/reports/access-review?{PERIOD}&format=pdf"),
        );
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        let digest = r.headers()["recall-report-sha256"]
            .to_str()
            .unwrap()
            .to_owned();
        let file = tmp.path().join("access-review.pdf");
        std::fs::write(&file, r.bytes().unwrap()).unwrap();
        let text = recall_testkit::pdf::checked_text(&file);
        let flat = text.split_whitespace().collect::<String>();
        assert!(flat.contains(&digest), "digest {digest} not in the PDF");
        for expected in [
            "Access review",
            "Actors not in the roster",
            "x-9",
            "Accesses after termination or leave",
            "n-2",
            "Dormant accounts",
            "n-3",
        ] {
            assert!(text.contains(expected), "{expected} not in the PDF");
        }
    }

    let eng = s
        .get(&engineer, &format!("/v1/reports/access-review?{PERIOD}"))
        .text()
        .unwrap();
    assert!(
        !eng.contains("\"n-1\"") && !eng.contains("Synthetic"),
        "{eng}"
    );
    let no = s.get(
        &officer,
        "/v1/reports/access-review?from=2026-01-01T00:00:00Z",
    );
    assert_eq!(
        (no.status().as_u16(), json(no)["field"].clone()),
        (400, j!("to"))
    );

    let signoff = j!({"reviewer": "Reviewer Two", "from": "2026-01-01T00:00:00Z",
        "to": "2027-01-01T00:00:00Z", "sha256": digest});
    let r = s.post(
        &officer,
        "/v1/reports/access-review/signoff",
        "application/json",
        signoff.to_string(),
    );
    assert_eq!(r.status(), 201);
    let mut wrong = signoff;
    wrong["sha256"] = j!("xyz");
    let r = s.post(
        &officer,
        "/v1/reports/access-review/signoff",
        "application/json",
        wrong.to_string(),
    );
    assert_eq!(
        (r.status().as_u16(), json(r)["field"].clone()),
        (400, j!("sha256"))
    );

    let patients = "{\"patient_id\": \"MRN-1\", \"state\": \"CA\"}\n{\"patient_id\": \"MRN-2\", \"state\": \"NY\"}\n";
    let r = put(&s, &officer, "/v1/roster/patients", patients);
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["by"], j!({"CA": 1, "NY": 1}));
    s.stop();

    let approvals = officer_search(&data, T, &["--action", "approve"]);
    assert_eq!(approvals.len(), 1, "only the valid sign-off is recorded");
    assert_eq!(
        approvals[0]["detail"]["access_review"]["sha256"],
        j!(digest)
    );
    let imports: Vec<Value> = officer_search(&data, T, &["--action", "update"])
        .into_iter()
        .filter(|e| e["resource"]["type"] == "Roster")
        .collect();
    assert_eq!(imports.len(), 2, "two good imports, the bad one unrecorded");
    assert!(!j!(imports).to_string().contains("MRN-"));

    // The breach path's question: each patient's state, None when unknown.
    let dir = recall::datadir::DataDir::open(&data, false).unwrap();
    let db = recall::serve::open_db(&dir).unwrap();
    let sealed = recall_governance::sealed::Sealed::open(&data.join("sealed.db")).unwrap();
    let states =
        recall_governance::roster::patient_states(&db, &sealed, T, &["MRN-2", "MRN-9", "MRN-1"])
            .unwrap();
    assert_eq!(states, [Some("NY".to_owned()), None, Some("CA".to_owned())]);
    let none =
        recall_governance::roster::patient_states(&db, &sealed, "other", &["MRN-1"]).unwrap();
    assert_eq!(none, [None]);
    drop((db, dir));

    common::assert_in_no_file(&data, b"Synthetic");
}
