//! The console's report and governance pages end to end (issue 17): a real `recall
//! serve` on a fresh data directory with synthetic data, driven in Debian's headless
//! chromium by `tests/console/pages.mjs` (helpers shared with console.mjs in lib.mjs):
//! facet counts and exports of the search filter, the patient access report with its
//! chart and PDF, the access review signed off, a breach assessment opened from a filter
//! and walked through its four factors, CSRF-less forms refused, and the integrity page —
//! then a verification made to fail (a body byte altered on disk, the log repaired after)
//! shown in every page's header until acknowledged. Here, around the browser: the facet
//! endpoint against a brute-force count, the exported PDFs through qpdf and pdftotext,
//! the sign-off, the acknowledgement and the pages' self-audit records in the log, and
//! the failure counted in `/metrics`. Screenshots go to `<target>/console-artefacts/`.
//! Without chromium or the node packages the test skips, except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::console::{artefacts, browser_tools, create_user, run_script, totp_of};
use common::frames::{tamper_plan, write_at};
use common::populated;
use common::server::{Server, create_key, json};
use serde_json::Value;

const TENANT: &str = "st-marys";
const PASSWORD: &str = "synthetic-pass-0123";

/// Every event of a search, page by page (auditor key).
fn all_events(server: &Server, key: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/events?{query}&limit=1000{cursor}");
        let page = json(server.get_justified(key, &path));
        out.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// The facet endpoint's counts equal a count over every matching event.
fn facets_match_a_full_search(server: &Server, key: &str, query: &str) {
    let events = all_events(server, key, query);
    let got = json(server.get(key, &format!("/v1/events/facets?{query}")));
    assert_eq!(got["counted"], events.len() as u64, "{got}");
    assert_eq!(got["complete"], true);
    // `max` names the bound of a walked count only; these filters but purpose are whole.
    let walked = query.contains("purpose=");
    assert_eq!(
        got["max"],
        if walked {
            Value::from(10_000)
        } else {
            Value::Null
        }
    );
    let count = |f: &dyn Fn(&Value) -> Option<String>| {
        let mut m = BTreeMap::<String, u64>::new();
        for e in &events {
            if let Some(v) = f(e) {
                *m.entry(v).or_default() += 1;
            }
        }
        m
    };
    let shown = |k: &str| -> BTreeMap<String, u64> {
        got["facets"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["value"].as_str().unwrap().to_owned(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let text = |p: &'static str| move |e: &Value| e.pointer(p)?.as_str().map(str::to_owned);
    assert_eq!(shown("action"), count(&text("/action")));
    let outcome = |e: &Value| Some(e["outcome"].as_str().unwrap_or("success").to_owned());
    assert_eq!(shown("outcome"), count(&outcome));
    assert_eq!(shown("role"), count(&text("/actor/role")));
    assert_eq!(shown("system"), count(&text("/source/system")));
    // Refused like a search would be, naming the parameter; a cursor is not taken.
    let bad = server.get(key, "/v1/events/facets?outcome=fine");
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad)["field"], "outcome");
    assert_eq!(
        json(server.get(key, "/v1/events/facets?cursor=x"))["field"],
        "cursor"
    );
}

/// The tenant's events recall appended for `actor` with `action`, newest last.
fn own_records(server: &Server, key: &str, actor: &str, action: &str) -> Vec<Value> {
    all_events(server, key, &format!("actor={actor}&action={action}"))
}

#[test]
fn report_and_governance_pages_in_a_real_browser() {
    if !browser_tools(&[]) {
        eprintln!("skipped: chromium or the console test's node packages are missing");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 400, 23);
    let po = totp_of(&create_user(&data, TENANT, "po", "privacy_officer", PASSWORD, &[]).unwrap());
    let po2 =
        totp_of(&create_user(&data, TENANT, "po2", "privacy_officer", PASSWORD, &[]).unwrap());
    let auditor = create_key(&data, TENANT, "auditor");
    let admin = create_key(&data, TENANT, "admin");
    let server = Server::start(&data);
    facets_match_a_full_search(&server, &auditor, "action=read");
    facets_match_a_full_search(&server, &auditor, "outcome=denied");
    // An actor's counts come from posting lists; a purpose still walks the events.
    let someone = all_events(&server, &auditor, "action=read")[0]["actor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    facets_match_a_full_search(
        &server,
        &auditor,
        &format!("actor={someone}&outcome=success"),
    );
    facets_match_a_full_search(&server, &auditor, "purpose=TREAT");

    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let env = |phase: &str| {
        vec![
            ("RECALL_URL", server.url.clone()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("PO_TOTP", po.clone()),
            ("PO2_TOTP", po2.clone()),
            ("TODAY", today.clone()),
            ("PHASE", phase.to_owned()),
        ]
    };
    let phase1 = env("pages");
    let phase1: Vec<(&str, &str)> = phase1.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_script("pages.mjs", &phase1, 8);

    // The exports are PDFs a third-party checker reads, with the report's words.
    if recall_testkit::pdf::pdf_tools() {
        for name in ["search-patient.pdf", "patient-report.pdf"] {
            let text = recall_testkit::pdf::checked_text(&artefacts().join(name));
            assert!(
                text.contains("Accesses to a health record"),
                "{name}: {text}"
            );
        }
    }
    // The sign-off names the digest of the review the page showed.
    let digest = std::fs::read_to_string(artefacts().join("signoff-digest.txt")).unwrap();
    let signed = own_records(&server, &auditor, "user:po", "approve");
    assert_eq!(signed.len(), 1);
    assert_eq!(
        signed[0]["detail"]["access_review"]["sha256"],
        digest.trim()
    );
    // Every page that showed event contents put its read on record first.
    let mut used = own_records(&server, &auditor, "user:po", "search");
    used.extend(own_records(&server, &auditor, "user:po", "report"));
    used.extend(own_records(&server, &auditor, "user:po", "export"));
    let endpoints: Vec<&str> = used
        .iter()
        .filter_map(|e| e["detail"]["endpoint"].as_str())
        .collect();
    // The search page's events and facets are one read, one record.
    assert!(
        !endpoints.contains(&"GET /v1/events/facets") && !endpoints.contains(&"GET /v1/events"),
        "{endpoints:?}"
    );
    for want in [
        "GET /v1/events with facets",
        "GET /v1/export",
        "GET /v1/reports/patient-access",
        "GET /v1/reports/access-review",
        "GET /v1/assessments/{id}",
    ] {
        assert!(
            endpoints.contains(&want),
            "{want} not recorded: {endpoints:?}"
        );
    }

    // A verification fails (a body byte altered, the log repaired right after): the
    // failure stays, counted, until someone acknowledges it.
    let (seg, offset, original, tampered) = tamper_plan(&data, TENANT);
    write_at(&seg, offset, &tampered);
    let r = server.post(
        &admin,
        "/v1/integrity/verify",
        "application/json",
        String::new(),
    );
    assert_eq!(json(r)["verification"]["result"], "failed");
    write_at(&seg, offset, &original);
    // (A scheduled run may have come in the moment the byte was altered: at least one.)
    assert!(server.gauge("recall_integrity_unacknowledged_failures") >= 1.0);
    let phase2 = env("integrity");
    let phase2: Vec<(&str, &str)> = phase2.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_script("pages.mjs", &phase2, 2);
    assert_eq!(
        server.gauge("recall_integrity_unacknowledged_failures"),
        0.0
    );
    let acks = own_records(&server, &auditor, "user:po2", "acknowledge");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0]["resource"]["type"], "IntegrityVerification");
    server.stop();
}
