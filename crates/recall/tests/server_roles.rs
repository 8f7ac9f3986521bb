//! Who may do what, over real HTTP on loopback: the role × endpoint matrix (API keys of
//! every role, no credential, a bad key, a revoked key), the same with public
//! transparency, the admin endpoints, cross-tenant attempts, and JWTs.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::recall_ok;
use common::server::{Server, create_key, json, patient_key};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const A: &str = "st-marys";
const B: &str = "other-clinic";
const NDJSON: &str = "application/x-ndjson";
/// Well formed, never issued.
const BAD_KEY: &str = "rk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const JWT_SECRET: &str = "e2e-only-hs256-secret-0123456789abcdef";
const JWT_ENV: &str = "RECALL_E2E_JWT_SECRET";

/// A synthetic event of `tag`'s series: same ids and patients in both tenants, told apart
/// by the resource id.
fn event(tag: &str, i: u32, patient: &str) -> Value {
    json!({
        "id": format!("evt-{i}"),
        "time": format!("2026-03-04T10:00:{:02}Z", i % 60),
        "actor": {"id": "u-1", "role": "nurse"},
        "action": "read",
        "patient": {"id": patient},
        "resource": {"type": "Observation", "id": format!("{tag}-obs-{i}")},
    })
}

fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// Any request, with a bearer credential unless `key` is empty.
fn call(s: &Server, method: Method, key: &str, path: &str, body: Option<&Value>) -> Response {
    let mut b = s.http.request(method, format!("{}{path}", s.url));
    if !key.is_empty() {
        b = b.bearer_auth(key);
    }
    if let Some(v) = body {
        b = b
            .header("content-type", "application/json")
            .body(v.to_string());
    }
    b.send().expect("request")
}

/// The id part of an API key (`rk_<id>_<secret>`).
fn key_id(key: &str) -> String {
    key[3..19].to_string()
}

/// Posts `events` with `key`; panics unless they were appended.
fn ingest(s: &Server, key: &str, events: &[Value]) -> Value {
    let r = s.post(key, "/v1/events", NDJSON, lines(events));
    assert_eq!(r.status(), 201);
    json(r)
}

/// Waits until the tenant has a signed checkpoint (the writer signs at most once a second).
fn await_checkpoint(s: &Server, key: &str, tenant: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let path = format!("/v1/logs/{tenant}/checkpoint");
    while s.get(key, &path).status() != 200 {
        assert!(Instant::now() < deadline, "no checkpoint for {tenant}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Keys of both tenants.
struct Keys {
    writer: String,
    auditor: String,
    admin: String,
    verifier: String,
    engineer: String,
    officer: String,
    /// A patient key bound to MRN-100.
    patient: String,
    revoked: String,
    /// A key the admin row of the matrix revokes.
    spare: String,
    b_writer: String,
    b_auditor: String,
    b_admin: String,
    b_verifier: String,
}

fn keys(data: &Path) -> Keys {
    Keys {
        writer: create_key(data, A, "writer"),
        auditor: create_key(data, A, "auditor"),
        admin: create_key(data, A, "admin"),
        verifier: create_key(data, A, "verifier"),
        engineer: create_key(data, A, "engineer"),
        officer: create_key(data, A, "privacy_officer"),
        patient: patient_key(data, A, "MRN-100"),
        revoked: create_key(data, A, "auditor"),
        spare: create_key(data, A, "verifier"),
        b_writer: create_key(data, B, "writer"),
        b_auditor: create_key(data, B, "auditor"),
        b_admin: create_key(data, B, "admin"),
        b_verifier: create_key(data, B, "verifier"),
    }
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, Keys) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    recall_ok(&data, &["init"]);
    let k = keys(&data);
    (tmp, data, k)
}

/// The seqs of a response's receipts, in order.
fn seqs(receipts: &Value) -> Vec<u64> {
    receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect()
}

/// Where the seeded events landed: the logs also hold recall's own records (the CLI's key
/// creations, the server's start), so the events sent do not start at seq 0.
struct Seeded {
    /// The seqs of A's six events (all of patient MRN-100).
    a: Vec<u64>,
    /// The seqs of B's four events.
    b: Vec<u64>,
}

/// Both tenants get events (same ids, same patient), A a checkpoint, and the revoked key
/// is revoked over the API.
fn seed(s: &Server, k: &Keys) -> Seeded {
    let a = seqs(&ingest(
        s,
        &k.writer,
        &(0..6).map(|i| event("a", i, "MRN-100")).collect::<Vec<_>>(),
    ));
    let b = seqs(&ingest(
        s,
        &k.b_writer,
        &(0..4).map(|i| event("b", i, "MRN-100")).collect::<Vec<_>>(),
    ));
    assert_eq!((a.len(), b.len()), (6, 4));
    await_checkpoint(s, &k.verifier, A);
    await_checkpoint(s, &k.b_verifier, B);
    let path = format!("/v1/admin/keys/{}", key_id(&k.revoked));
    assert_eq!(call(s, Method::DELETE, &k.admin, &path, None).status(), 200);
    Seeded { a, b }
}

/// The callers of the matrix, in column order.
const CALLERS: [&str; 10] = [
    "writer",
    "auditor",
    "admin",
    "verifier",
    "engineer",
    "privacy_officer",
    "patient",
    "none",
    "bad key",
    "revoked",
];

fn credential<'a>(k: &'a Keys, caller: &str) -> &'a str {
    match caller {
        "writer" => &k.writer,
        "auditor" => &k.auditor,
        "admin" => &k.admin,
        "verifier" => &k.verifier,
        "engineer" => &k.engineer,
        "privacy_officer" => &k.officer,
        "patient" => &k.patient,
        "none" => "",
        "bad key" => BAD_KEY,
        "revoked" => &k.revoked,
        other => panic!("unknown caller {other}"),
    }
}

/// One row of the matrix: a request and the status each caller gets.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Checkpoints, tiles, proofs: what `public_transparency` opens.
    transparency: bool,
    expect: [u16; 10],
}

fn row(method: Method, path: &str, body: Option<Value>, expect: [u16; 10]) -> Row {
    let transparency = path.starts_with("/v1/logs/");
    Row {
        method,
        path: path.to_string(),
        body,
        transparency,
        expect,
    }
}

/// Every endpoint × every caller, with public transparency off. `patient_seq` is the seq
/// of one of A's events of MRN-100, the patient key's patient.
fn matrix(spare_id: &str, patient_seq: u64) -> Vec<Row> {
    use Method as M;
    let ev = Some(event("m", 50, "MRN-300"));
    let create = Some(json!({"role": "verifier"}));
    let hold = Some(
        json!({"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "matter": "Case 1"}),
    );
    // NDJSON rosters of one row (the JSON body is one line).
    let member = Some(json!({"user_id": "u-1", "status": "active"}));
    let resident = Some(json!({"patient_id": "MRN-100", "state": "CA"}));
    let review = "/v1/reports/access-review?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";
    let signoff = Some(
        json!({"reviewer": "R. Eviewer", "from": "2026-01-01T00:00:00Z",
        "to": "2026-02-01T00:00:00Z", "sha256": "ab".repeat(32)}),
    );
    let assessment = Some(json!({
        "description": "Matrix", "discovered": "2026-03-05",
        "scope": {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
    }));
    let factors = Some(json!({"factors": {"nature": "Matrix"}}));
    let revoke = format!("/v1/admin/keys/{spare_id}");
    let read = format!("/v1/events/st-marys/{patient_seq}");
    let queue_item = format!("/v1/reviews/break-glass/{patient_seq}");
    let disposition = Some(json!({"disposition": "appropriate"}));
    let fhir_read = format!("/fhir/AuditEvent/{patient_seq}");
    let audit_event = Some(json!({"resourceType": "AuditEvent", "action": "R",
        "recorded": jiff::Timestamp::now().to_string(),
        "agent": [{"who": {"identifier": {"value": "u-1"}}, "requestor": true}]}));
    #[rustfmt::skip]
    let rows = vec![
        //                                                                  writer auditor admin verifier engineer officer patient none bad revoked
        row(M::POST, "/v1/events", ev,                                          [201, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
        // An engineer sees patients and actors as pseudonyms, so filters by them only
        // (a clear identifier is 400: disclosure.md, "Filters").
        row(M::GET, "/v1/events?patient=MRN-100", None,                         [403, 200, 403, 403, 400, 200, 200, 401, 401, 401]),
        row(M::GET, &read, None,                                                [403, 200, 403, 403, 200, 200, 200, 401, 401, 401]),
        // Facet counts: the search's roles, lens and patient binding.
        row(M::GET, "/v1/events/facets?patient=MRN-100", None,                  [403, 200, 403, 403, 400, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/events/facets", None,                                  [403, 200, 403, 403, 200, 200, 403, 401, 401, 401]),
        row(M::GET, "/v1/reports/patient-access?patient=MRN-100", None,         [403, 200, 403, 403, 400, 200, 200, 401, 401, 401]),
        // Export: the search's roles and filters; a patient only with its own patient.
        row(M::GET, "/v1/export", None,                                         [403, 200, 403, 403, 200, 200, 403, 401, 401, 401]),
        row(M::GET, "/v1/export?patient=MRN-100&format=ocsf", None,             [403, 200, 403, 403, 400, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/reports/actor-activity?actor=u-1", None,               [403, 200, 403, 403, 400, 200, 403, 401, 401, 401]),
        row(M::GET, "/v1/reports/patient-access?patient=MRN-100&format=pdf", None, [403, 200, 403, 403, 400, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/reports/actor-activity?actor=u-1&format=pdf", None,    [403, 200, 403, 403, 400, 200, 403, 401, 401, 401]),
        row(M::GET, "/v1/logs/st-marys/checkpoint", None,                       [200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/logs/st-marys/tile/0/000.p/1", None,                   [200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/logs/st-marys/tile/entries/000.p/1", None,             [200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/logs/st-marys/proof/consistency?from=1", None,         [200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/logs/st-marys/proof/inclusion?seq=0", None,            [200, 200, 200, 200, 200, 200, 200, 401, 401, 401]),
        row(M::GET, "/v1/admin/keys", None,                                     [403, 403, 200, 403, 403, 403, 403, 401, 401, 401]),
        row(M::POST, "/v1/admin/keys", create,                                  [403, 403, 201, 403, 403, 403, 403, 401, 401, 401]),
        row(M::DELETE, &revoke, None,                                           [403, 403, 200, 403, 403, 403, 403, 401, 401, 401]),
        row(M::GET, "/v1/admin/settings", None,                                 [403, 403, 200, 403, 403, 403, 403, 401, 401, 401]),
        row(M::GET, "/v1/holds", None,                                          [403, 403, 200, 403, 403, 200, 403, 401, 401, 401]),
        row(M::POST, "/v1/holds", hold,                                         [403, 403, 201, 403, 403, 201, 403, 401, 401, 401]),
        row(M::DELETE, "/v1/holds/0000000000000000", None,                      [403, 403, 404, 403, 403, 404, 403, 401, 401, 401]),
        // The break-glass queue: auditors and officers read it, officers review (the
        // seq here is no break-glass access: 404 to read it as an item, 409 to review).
        row(M::GET, "/v1/reviews/break-glass", None,                            [403, 200, 403, 403, 403, 200, 403, 401, 401, 401]),
        row(M::GET, &queue_item, None,                                          [403, 404, 403, 403, 403, 404, 403, 401, 401, 401]),
        row(M::POST, &queue_item, disposition,                                  [403, 403, 403, 403, 403, 409, 403, 401, 401, 401]),
        row(M::PUT, "/v1/roster", member,                                       [403, 403, 200, 403, 403, 200, 403, 401, 401, 401]),
        row(M::PUT, "/v1/roster/patients", resident,                            [403, 403, 200, 403, 403, 200, 403, 401, 401, 401]),
        row(M::GET, review,  None,                                              [403, 200, 403, 403, 200, 200, 403, 401, 401, 401]),
        row(M::POST, "/v1/reports/access-review/signoff", signoff,              [403, 201, 403, 403, 403, 201, 403, 401, 401, 401]),
        row(M::GET, "/v1/assessments", None,                                    [403, 200, 403, 403, 403, 200, 403, 401, 401, 401]),
        row(M::POST, "/v1/assessments", assessment,                             [403, 403, 403, 403, 403, 201, 403, 401, 401, 401]),
        row(M::GET, "/v1/assessments/0000000000000000", None,                   [403, 404, 403, 403, 403, 404, 403, 401, 401, 401]),
        row(M::PATCH, "/v1/assessments/0000000000000000", factors,              [403, 403, 403, 403, 403, 404, 403, 401, 401, 401]),
        row(M::GET, "/v1/assessments/0000000000000000/patients", None,          [403, 403, 403, 403, 403, 404, 403, 401, 401, 401]),
        // Integrity verdicts: read and run by admin, auditor and officer; acknowledged by
        // admin and officer (409: a clean log has no failure to acknowledge).
        row(M::GET, "/v1/integrity", None,                                      [403, 200, 200, 403, 403, 200, 403, 401, 401, 401]),
        row(M::POST, "/v1/integrity/verify", None,                              [403, 200, 200, 403, 403, 200, 403, 401, 401, 401]),
        row(M::POST, "/v1/integrity/st-marys/acknowledge", None,                [403, 403, 409, 403, 403, 409, 403, 401, 401, 401]),
        row(M::POST, "/v1/integrity/other-clinic/acknowledge", None,            [403, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
        // The FHIR face: the ITI-20 feed is a writer's, reads follow GET /v1/events/{t}/{seq}.
        row(M::POST, "/fhir/AuditEvent", audit_event,                           [201, 403, 403, 403, 403, 403, 403, 401, 401, 401]),
        row(M::GET, &fhir_read, None,                                           [403, 200, 403, 403, 200, 200, 200, 401, 401, 401]),
        row(M::GET, "/fhir/metadata", None,                                     [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/fhir/AuditEvent?patient=MRN-100", None,                  [403, 200, 403, 403, 400, 200, 200, 401, 401, 401]),
        // For probes and scrapers: no credential needed, and a bad one is ignored.
        row(M::GET, "/healthz", None,                                           [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/readyz", None,                                            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/metrics", None,                                           [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/v1/openapi.json", None,                                   [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/docs", None,                                              [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        // The console: an API credential opens no console session; every caller is sent
        // (303, followed) to the sign-in page, and a POST changes nothing.
        row(M::GET, "/search", None,                                            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, &format!("/event/{patient_seq}"), None,                     [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/console/proof/0", None,                                   [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::POST, &format!("/reviews/{patient_seq}"), None,                  [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/assets/proof.js", None,                                   [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        // Administration and a patient's own report: sessions only (the roles of
        // sessions are checked in console_admin_e2e.rs); an API key is sent to sign in.
        row(M::GET, "/admin", None,                                             [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::POST, "/admin/keys", None,                                       [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::POST, "/admin/users", None,                                      [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::POST, "/admin/holds", None,                                      [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::POST, "/admin/keys/0/revoke", None,                              [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/my-report", None,                                         [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        row(M::GET, "/my-report/pdf", None,                                     [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ];
    rows
}

/// Runs every row for every caller; returns the mismatches, one line each.
fn run_matrix(s: &Server, k: &Keys, seeded: &Seeded, public: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    for r in matrix(&key_id(&k.spare), seeded.a[0]) {
        for (i, caller) in CALLERS.iter().enumerate() {
            let want = if public && r.transparency {
                200
            } else {
                r.expect[i]
            };
            let resp = call(
                s,
                r.method.clone(),
                credential(k, caller),
                &r.path,
                r.body.as_ref(),
            );
            let got = resp.status().as_u16();
            if got != want {
                wrong.push(format!(
                    "{} {} as {caller}: {got}, want {want}",
                    r.method, r.path
                ));
            } else if got == 401 {
                assert_eq!(resp.headers()["www-authenticate"], "Bearer", "{}", r.path);
            } else if got == 403 {
                let ct = &resp.headers()["content-type"];
                assert_eq!(ct, "application/problem+json", "{}", r.path);
            }
        }
    }
    wrong
}

#[test]
fn every_endpoint_answers_every_role_as_the_matrix_says() {
    let (_tmp, data, k) = setup();
    let server = Server::start(&data);
    let seeded = seed(&server, &k);
    let wrong = run_matrix(&server, &k, &seeded, false);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn public_transparency_opens_the_transparency_endpoints_and_nothing_else() {
    let (_tmp, data, k) = setup();
    let server = Server::start_with(&data, &[("RECALL_SERVER_PUBLIC_TRANSPARENCY", "true")]);
    let seeded = seed(&server, &k);
    let wrong = run_matrix(&server, &k, &seeded, true);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Open to anyone, for any tenant that exists; an unknown one is simply not found.
    for t in [A, B] {
        let path = format!("/v1/logs/{t}/checkpoint");
        assert_eq!(server.get("", &path).status(), 200, "{path}");
    }
    assert_eq!(server.get("", "/v1/logs/no-such/checkpoint").status(), 404);
}

/// The problem body of a refusal, without the fields that may differ between requests.
fn refusal(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let mut p = json(r);
    p.as_object_mut().unwrap().remove("instance");
    (status, p)
}

#[test]
fn no_tenant_sees_or_writes_anothers_events() {
    let (_tmp, data, k) = setup();
    let server = Server::start(&data);
    let seeded = seed(&server, &k);

    // The same client ids in B are B's own events, not replays of A's: appended to B's
    // log right after B's seeded events.
    let again = ingest(&server, &k.b_writer, &[event("b", 4, "MRN-100")]);
    assert_eq!(again["receipts"][0]["tenant"], B);
    assert_eq!(again["receipts"][0]["seq"], seeded.b[3] + 1, "{again}");
    assert!(again["receipts"][0].get("replayed").is_none(), "{again}");

    // A write naming A in the body is refused whole; nothing lands in A.
    let mut foreign = event("b", 9, "MRN-100");
    foreign["tenant"] = json!(A);
    let r = server.post(
        &k.b_writer,
        "/v1/events",
        NDJSON,
        lines(&[event("b", 8, "MRN-100"), foreign]),
    );
    assert_eq!(r.status(), 403);
    assert_eq!(json(r)["index"], 1);
    // Each tenant's auditor sees its own accesses to the shared patient, and only those.
    for (who, tenant, prefix, n) in [(&k.auditor, A, "a-", 6), (&k.b_auditor, B, "b-", 5)] {
        let found = json(server.get(who, "/v1/events?patient=MRN-100&limit=1000"));
        let reads: Vec<&Value> = found["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "read")
            .collect();
        assert_eq!(
            reads.len(),
            n,
            "{tenant} (B: 4 + 1, not the refused batch): {found}"
        );
        for e in reads {
            assert_eq!(e["tenant"], tenant);
            let id = e["resource"]["id"].as_str().unwrap();
            assert!(id.starts_with(prefix), "{e}");
        }
    }

    // Every B key on every A-scoped path: refused, with the same answer as for a tenant
    // that does not exist (nothing tells whether A exists).
    let paths = |t: &str| {
        vec![
            format!("/v1/events/{t}/0"),
            format!("/v1/events/{t}/0?proof=true"),
            format!("/v1/logs/{t}/checkpoint"),
            format!("/v1/logs/{t}/tile/0/000.p/1"),
            format!("/v1/logs/{t}/tile/entries/000.p/1"),
            format!("/v1/logs/{t}/proof/consistency?from=1"),
            format!("/v1/logs/{t}/proof/inclusion?seq=0"),
        ]
    };
    let b_keys = [&k.b_writer, &k.b_auditor, &k.b_admin, &k.b_verifier];
    for key in b_keys {
        for (real, none) in paths(A).iter().zip(paths("no-such")) {
            let (status, body) = refusal(server.get(key, real));
            assert_eq!(status, 403, "{real}");
            assert_eq!(refusal(server.get(key, &none)), (status, body), "{real}");
        }
    }

    // Reports of B on the shared patient and actor hold B's events only.
    for path in [
        "/v1/reports/patient-access?patient=MRN-100&format=json",
        "/v1/reports/actor-activity?actor=u-1&format=json",
    ] {
        let report = json(server.get(&k.b_auditor, path));
        assert_eq!(report["tenant"], B, "{path}");
        let events = report["events"].as_array().unwrap();
        for e in events {
            assert_eq!(e["tenant"], B, "{path}: {e}");
        }
        if path.contains("patient-access") {
            // Its own record names the patient, so the report lists it (always, not only
            // when the indexer was quick).
            let own = events.last().unwrap();
            assert_eq!(own["action"], "report", "{report}");
            assert_eq!(own["actor"]["id"], format!("key:{}", key_id(&k.b_auditor)));
        }
        let text = server
            .get(&k.b_auditor, &path.replace("json", "csv"))
            .text()
            .unwrap();
        assert!(
            text.contains("b-obs-0") && !text.contains("a-obs-"),
            "{text}"
        );
    }
    // The audit events of B's queries are in B's log, not in A's.
    let a_audits = json(server.get(&k.auditor, "/v1/events?action=report"));
    assert_eq!(a_audits["events"], json!([]), "{a_audits}");
    let b_audits = json(server.get(&k.b_auditor, "/v1/events?action=report"));
    assert_eq!(b_audits["events"].as_array().unwrap().len(), 4);
}

#[test]
fn admins_manage_the_keys_of_their_own_tenant_only() {
    let (_tmp, data, k) = setup();
    let server = Server::start(&data);
    seed(&server, &k);

    // The list: A's keys only, public facts only.
    let r = call(&server, Method::GET, &k.admin, "/v1/admin/keys", None);
    let text = r.text().unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let a_ids: Vec<String> = [&k.writer, &k.auditor, &k.admin]
        .iter()
        .map(|t| key_id(t))
        .collect();
    for id in &a_ids {
        assert!(ids.contains(&id.as_str()), "{text}");
    }
    assert_eq!(ids.len(), 9, "A's nine keys: {text}");
    assert!(!ids.contains(&key_id(&k.b_admin).as_str()));
    for secret in [&k.writer, &k.auditor, &k.admin, &k.b_admin] {
        assert!(!text.contains(&secret[20..]), "a secret is listed: {text}");
    }
    let revoked = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == key_id(&k.revoked).as_str())
        .unwrap();
    assert!(revoked["revoked"].is_string(), "{revoked}");
    let mut entry_fields: Vec<&String> = revoked.as_object().unwrap().keys().collect();
    entry_fields.sort();
    assert_eq!(
        entry_fields,
        ["created", "id", "label", "revoked", "role"],
        "nothing else, and never the key or its hash"
    );

    // Create: the key text once, bound to the admin's tenant, usable at once.
    let body = json!({"role": "auditor", "label": "privacy office"});
    let r = call(
        &server,
        Method::POST,
        &k.admin,
        "/v1/admin/keys",
        Some(&body),
    );
    assert_eq!(r.status(), 201);
    let made = json(r);
    let new_key = made["key"].as_str().unwrap().to_string();
    assert_eq!(key_id(&new_key), made["id"].as_str().unwrap());
    assert_eq!(
        (&made["role"], &made["label"]),
        (&json!("auditor"), &json!("privacy office"))
    );
    assert_eq!(server.get(&new_key, "/v1/events").status(), 200);
    assert_eq!(
        server.get(&new_key, "/v1/events/other-clinic/0").status(),
        403
    );
    let listed = json(call(&server, Method::GET, &k.admin, "/v1/admin/keys", None));
    assert!(
        !listed.to_string().contains(&new_key[20..]),
        "shown once only"
    );

    // No way to mint for another tenant, bad roles and labels are named.
    let b_count = || {
        json(call(
            &server,
            Method::GET,
            &k.b_admin,
            "/v1/admin/keys",
            None,
        ))["keys"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = b_count();
    for (body, field) in [
        (json!({"role": "auditor", "tenant": B}), None),
        (json!({"role": "root"}), Some("role")),
        (json!({"label": "no role"}), None),
        (
            json!({"role": "writer", "label": "two\nlines"}),
            Some("label"),
        ),
        (
            json!({"role": "writer", "label": "x".repeat(101)}),
            Some("label"),
        ),
        (json!({"role": "writer", "label": ""}), Some("label")),
    ] {
        let r = call(
            &server,
            Method::POST,
            &k.admin,
            "/v1/admin/keys",
            Some(&body),
        );
        assert_eq!(r.status(), 400, "{body}");
        let p = json(r);
        if let Some(f) = field {
            assert_eq!(p["field"], f, "{p}");
        }
    }
    assert_eq!(b_count(), before);
    let r = server.post(&k.admin, "/v1/admin/keys", "text/plain", "role=writer");
    assert_eq!(r.status(), 415);

    // Revoke: another tenant's key id is "not found", like an unknown id, and stays valid.
    let (status, foreign) = refusal(call(
        &server,
        Method::DELETE,
        &k.b_admin,
        &format!("/v1/admin/keys/{}", made["id"].as_str().unwrap()),
        None,
    ));
    assert_eq!(status, 404);
    let unknown = refusal(call(
        &server,
        Method::DELETE,
        &k.b_admin,
        "/v1/admin/keys/0123456789abcdef",
        None,
    ));
    assert_eq!(unknown, (404, foreign));
    assert_eq!(server.get(&new_key, "/v1/events").status(), 200);
    let path = format!("/v1/admin/keys/{}", made["id"].as_str().unwrap());
    let r = call(&server, Method::DELETE, &k.admin, &path, None);
    assert_eq!(r.status(), 200);
    let gone = json(r);
    assert!(gone["revoked"].is_string(), "{gone}");
    assert_eq!(
        server.get(&new_key, "/v1/events").status(),
        401,
        "revoked from the next request on"
    );
    let again = json(call(&server, Method::DELETE, &k.admin, &path, None));
    assert_eq!(again["revoked"], gone["revoked"], "idempotent");

    // Both changes are in A's log, naming the admin; none in B's.
    // Two revocations: the seed's and this one (the repeat changed nothing). The logs also
    // hold the CLI's records of the keys `setup` created (`source.system` `recall-cli`):
    // told apart from the API's (`recall`), and checked to be those keys exactly.
    let a_cli_ids: BTreeSet<String> = [
        &k.writer,
        &k.auditor,
        &k.admin,
        &k.verifier,
        &k.engineer,
        &k.officer,
        &k.patient,
        &k.revoked,
        &k.spare,
    ]
    .iter()
    .map(|t| key_id(t))
    .collect();
    for (action, n) in [("create", 1), ("revoke", 2)] {
        let found = json(server.get_justified(
            &k.auditor,
            &format!("/v1/events?action={action}&limit=1000"),
        ));
        let (api, cli): (Vec<&Value>, Vec<&Value>) = found["events"]
            .as_array()
            .unwrap()
            .iter()
            .partition(|e| e["source"]["system"] == "recall");
        assert_eq!(api.len(), n, "{action}: {found}");
        for e in &api {
            assert_eq!(e["resource"]["type"], "ApiKey", "{e}");
            assert_eq!(e["actor"]["id"], format!("key:{}", key_id(&k.admin)), "{e}");
            assert_eq!(e["detail"]["dicom_event"], "110113", "{e}");
        }
        let e = api.last().unwrap();
        assert_eq!(e["resource"]["id"], made["id"], "{e}");
        let endpoint = if action == "create" {
            "POST /v1/admin/keys"
        } else {
            "DELETE /v1/admin/keys/{id}"
        };
        assert_eq!(e["detail"]["endpoint"], endpoint, "{e}");
        let cli_ids: BTreeSet<String> = cli
            .iter()
            .map(|e| {
                assert_eq!(e["source"]["system"], "recall-cli", "{e}");
                assert_eq!(e["detail"]["endpoint"], "recall keys create", "{e}");
                assert_eq!(e["resource"]["type"], "ApiKey", "{e}");
                assert!(
                    e["actor"]["id"].as_str().unwrap().starts_with("cli:"),
                    "{e}"
                );
                e["resource"]["id"].as_str().unwrap().to_string()
            })
            .collect();
        if action == "create" {
            assert_eq!(cli.len(), a_cli_ids.len(), "{found}");
            assert_eq!(
                cli_ids, a_cli_ids,
                "the CLI's creations of A's keys, and only those"
            );
        } else {
            assert!(cli.is_empty(), "no key was revoked by the CLI: {found}");
        }
        assert!(
            !found.to_string().contains(&new_key[20..]),
            "no key text in the log"
        );
    }
    // B's log holds the CLI's creations of B's own keys, and nothing of A's admin.
    let b_log = json(server.get(&k.b_auditor, "/v1/events?action=create&limit=1000"));
    let b_created: BTreeSet<&str> = b_log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["source"]["system"], "recall-cli", "{e}");
            e["resource"]["id"].as_str().unwrap()
        })
        .collect();
    let b_ids: BTreeSet<String> = [&k.b_writer, &k.b_auditor, &k.b_admin, &k.b_verifier]
        .iter()
        .map(|t| key_id(t))
        .collect();
    assert_eq!(
        b_created,
        b_ids.iter().map(String::as_str).collect(),
        "{b_log}"
    );
    assert_eq!(b_log["events"].as_array().unwrap().len(), 4, "{b_log}");
    assert!(!b_log.to_string().contains(&key_id(&k.admin)), "{b_log}");

    // The OpenAPI document describes the admin endpoints.
    let doc = json(server.get("", "/v1/openapi.json"));
    for (path, method) in [
        ("/v1/admin/keys", "get"),
        ("/v1/admin/keys", "post"),
        ("/v1/admin/keys/{id}", "delete"),
        ("/v1/admin/settings", "get"),
    ] {
        assert_eq!(
            doc["paths"][path][method]["tags"],
            json!(["admin"]),
            "{path}"
        );
    }

    // Settings: what is configured, nothing secret.
    let settings = json(call(
        &server,
        Method::GET,
        &k.admin,
        "/v1/admin/settings",
        None,
    ));
    assert_eq!(settings["public_transparency"], false);
    assert_eq!(settings["max_batch_events"], 10_000);
    assert!(settings["jwt"].is_null(), "{settings}");
}

/// Configures HS256 JWTs in the data directory's recall.toml.
fn enable_jwt(data: &Path) {
    let cfg = data.join("recall.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[server.jwt]\nissuer = \"https://idp.test\"\naudience = \"recall\"\n\
         hs256_secret_env = \"{JWT_ENV}\"\nleeway_secs = 0\n"
    ));
    std::fs::write(&cfg, text).unwrap();
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A token for `sub` in `tenant` with `role`, valid for ten minutes; `edit` changes claims.
fn token(sub: &str, tenant: &str, role: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = json!({
        "iss": "https://idp.test",
        "aud": "recall",
        "sub": sub,
        "exp": now() + 600,
        "tenant": tenant,
        "role": role,
    });
    edit(&mut claims);
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[test]
fn jwts_carry_role_and_tenant_and_bad_ones_are_refused() {
    let (_tmp, data, k) = setup();
    enable_jwt(&data);
    let server = Server::start_with(&data, &[(JWT_ENV, JWT_SECRET)]);
    let writer = token("svc-ehr", A, "writer", |_| {});
    let auditor = token("alice", A, "auditor", |_| {});
    let admin = token("bob", A, "admin", |_| {});

    let receipts = ingest(&server, &writer, &[event("a", 0, "MRN-100")]);
    assert_eq!(receipts["receipts"][0]["tenant"], A);
    assert_eq!(server.get(&writer, "/v1/events").status(), 403);
    let found = json(server.get(&auditor, "/v1/events?patient=MRN-100"));
    assert_eq!(found["events"][0]["resource"]["id"], "a-obs-0", "{found}");
    let post = server.post(
        &auditor,
        "/v1/events",
        NDJSON,
        lines(&[event("a", 1, "MRN-1")]),
    );
    assert_eq!(post.status(), 403);
    // The search was recorded under the person's subject.
    let audits = json(server.get(&k.auditor, "/v1/events?action=search&actor=jwt:alice"));
    let first = &audits["events"][0];
    assert_eq!(first["actor"]["type"], "user", "{audits}");
    assert_eq!(first["actor"]["role"], "auditor");

    // An admin token manages keys; the settings show the issuer but no secret.
    assert_eq!(
        call(&server, Method::GET, &admin, "/v1/admin/keys", None).status(),
        200
    );
    assert_eq!(server.get(&admin, "/v1/events").status(), 403);
    let settings = call(&server, Method::GET, &admin, "/v1/admin/settings", None)
        .text()
        .unwrap();
    let s: Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(s["jwt"]["issuer"], "https://idp.test");
    assert_eq!(s["jwt"]["audience"], "recall");
    assert!(
        !settings.contains(JWT_SECRET) && !settings.contains(JWT_ENV),
        "{settings}"
    );

    // A token of tenant B sees nothing of A.
    let b_auditor = token("carol", B, "auditor", |_| {});
    assert_eq!(
        server.get(&b_auditor, "/v1/events/st-marys/0").status(),
        403
    );
    let theirs = json(server.get(&b_auditor, "/v1/events?patient=MRN-100"));
    assert!(
        theirs["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant"] == B),
        "{theirs}"
    );

    // Wrong audience, issuer, expiry, signature or claims: 401, for every role.
    for role in ["writer", "auditor"] {
        let bad = [
            token("alice", A, role, |c| c["aud"] = json!("someone-else")),
            token("alice", A, role, |c| c["iss"] = json!("https://evil.test")),
            token("alice", A, role, |c| c["exp"] = json!(now() - 600)),
            token("alice", A, role, |c| c["nbf"] = json!(now() + 600)),
            token("alice", A, "root", |_| {}),
            token("alice", "Not A Tenant", role, |_| {}),
            token("alice", A, role, |c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &json!({"iss": "https://idp.test", "aud": "recall", "sub": "alice",
                        "exp": now() + 600, "tenant": A, "role": role}),
                &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
            )
            .unwrap(),
        ];
        for (i, t) in bad.iter().enumerate() {
            let r = if role == "writer" {
                server.post(t, "/v1/events", NDJSON, lines(&[event("a", 2, "MRN-1")]))
            } else {
                server.get(t, "/v1/events")
            };
            assert_eq!(r.status(), 401, "{role} token #{i}");
            assert!(
                !r.text().unwrap().contains("alice"),
                "no token contents echoed"
            );
        }
    }
    // Nothing of those was appended.
    let all = json(server.get(&auditor, "/v1/events?action=read"));
    assert_eq!(all["events"].as_array().unwrap().len(), 1, "{all}");
}

/// A key is made only for a tenant that exists (has a log) unless the caller says the
/// tenant is new: a misspelt tenant would otherwise get a log of its own. Both the CLI
/// and the API go through the one workflow.
#[test]
fn a_key_for_a_tenant_that_does_not_exist_is_refused() {
    let (_tmp, data, k) = setup();
    let typo = "st-marry";
    let out = common::recall(
        &data,
        &["keys", "create", "--tenant", typo, "--role", "writer"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tenant") && err.contains("--new-tenant"),
        "{err}"
    );
    assert!(!data.join("tenants").join(typo).exists());
    assert!(!recall_ok(&data, &["keys", "list"]).contains(typo));

    // Over the API: an admin (a JWT names any tenant) of a tenant without a log.
    enable_jwt(&data);
    let server = Server::start_with(&data, &[(JWT_ENV, JWT_SECRET)]);
    let nowhere = token("carol", "no-such-clinic", "admin", |_| {});
    let body = json!({"role": "writer"});
    let r = call(
        &server,
        Method::POST,
        &nowhere,
        "/v1/admin/keys",
        Some(&body),
    );
    assert_eq!(r.status(), 400);
    let problem = json(r);
    assert_eq!(problem["field"], "tenant", "{problem}");
    let listed = json(call(&server, Method::GET, &nowhere, "/v1/admin/keys", None));
    assert_eq!(listed["keys"], json!([]), "{listed}");
    assert!(!data.join("tenants").join("no-such-clinic").exists());
    // A tenant with a log: made as before.
    let r = call(
        &server,
        Method::POST,
        &k.admin,
        "/v1/admin/keys",
        Some(&body),
    );
    assert_eq!(r.status(), 201);
    server.stop();
    // And the CLI starts a new tenant when told to.
    let made = common::recall(
        &data,
        &[
            "keys",
            "create",
            "--tenant",
            typo,
            "--role",
            "writer",
            "--new-tenant",
        ],
    );
    assert!(made.status.success(), "{made:?}");
}

/// The line of `recall_phi_key_changes_total` with these labels, if any.
fn phi_counter(metrics: &str, change: &str, role: &str) -> Option<u64> {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("recall_phi_key_changes_total{")
                && l.contains(&format!("change=\"{change}\""))
                && l.contains(&format!("role=\"{role}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
}

/// Creating or revoking a key of a role that reads PHI (here an admin minting a privacy
/// officer, who reads everything) is flagged in its record (`detail.reads_phi`) and
/// counted in /metrics without identifiers, so that it can raise an alert; so is one the
/// CLI makes while the server runs. Keys of roles that read nothing are not flagged.
#[test]
fn keys_that_read_phi_are_flagged_and_counted() {
    let (_tmp, data, k) = setup();
    let server = Server::start(&data);
    let create = |role: &str| {
        let body = json!({"role": role, "label": "synthetic"});
        let r = call(
            &server,
            Method::POST,
            &k.admin,
            "/v1/admin/keys",
            Some(&body),
        );
        assert_eq!(r.status(), 201);
        json(r)
    };
    let officer = create("privacy_officer");
    let verifier = create("verifier");
    let path = format!("/v1/admin/keys/{}", officer["id"].as_str().unwrap());
    assert_eq!(
        call(&server, Method::DELETE, &k.admin, &path, None).status(),
        200
    );
    recall_ok(
        &data,
        &["keys", "create", "--tenant", A, "--role", "auditor"],
    );

    let metrics = || server.get("", "/metrics").text().unwrap();
    common::poll("the CLI's key counted", Duration::from_secs(30), || {
        phi_counter(&metrics(), "create", "auditor")
    });
    let text = metrics();
    assert_eq!(
        phi_counter(&text, "create", "privacy_officer"),
        Some(1),
        "{text}"
    );
    assert_eq!(
        phi_counter(&text, "revoke", "privacy_officer"),
        Some(1),
        "{text}"
    );
    assert_eq!(phi_counter(&text, "create", "auditor"), Some(1), "{text}");
    assert_eq!(phi_counter(&text, "create", "verifier"), None, "{text}");
    assert!(
        !text.contains(officer["id"].as_str().unwrap()),
        "no key id in metrics"
    );

    // The records: flagged for the officer's key, not for the verifier's.
    let records = json(server.get(&k.officer, "/v1/events?action=create&limit=1000"));
    let record = |id: &Value| {
        records["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"]["id"] == *id)
            .cloned()
            .unwrap_or_else(|| panic!("no record of {id}: {records}"))
    };
    let flagged = record(&officer["id"]);
    assert_eq!(flagged["detail"]["reads_phi"], true, "{flagged}");
    assert_eq!(flagged["detail"]["role"], "privacy_officer", "{flagged}");
    let plain = record(&verifier["id"]);
    assert!(plain["detail"].get("reads_phi").is_none(), "{plain}");
}
