//! The FHIR face over real HTTP (`recall serve`): an IHE BALP-style AuditEvent posted
//! (ITI-20) becomes one event per patient, keeps the resource byte for byte, and reads
//! back as sent for a reader who sees everything, as a mapped AuditEvent under a lens;
//! what is not an AuditEvent is refused with an OperationOutcome and changes nothing;
//! every read is on record. All data synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use common::recall_ok;
use common::server::{Server, create_key, json};
use serde_json::{Value, json};

const TENANT: &str = "st-marys";
const FHIR: &str = "application/fhir+json";

/// An R4 AuditEvent of a search touching two patients, as an EHR would send it
/// (pretty-printed: the bytes kept must be these, not a re-encoding).
fn r4_search() -> String {
    let ae = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "search-type"}],
        "action": "E",
        "recorded": jiff::Timestamp::now().to_string(),
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
        "agent": [
            {"type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110153"}]},
             "who": {"identifier": {"value": "u-synth-7"}, "display": "Synthetic Clinician"},
             "requestor": true, "network": {"address": "10.1.2.3", "type": "2"}},
            {"who": {"reference": "Device/ehr-synth"}, "requestor": false}
        ],
        "source": {"observer": {"identifier": {"value": "ehr-synth"}}},
        "entity": [
            {"what": {"reference": "Patient/MRN-SYNTH-1"}},
            {"what": {"reference": "Patient/MRN-SYNTH-2"}},
            {"type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
             "query": "UGF0aWVudD9uYW1lPXg="}
        ]
    });
    serde_json::to_string_pretty(&ae).unwrap()
}

fn get_fhir(s: &Server, key: &str, path: &str, version: &str) -> reqwest::blocking::Response {
    s.http
        .get(format!("{}{path}", s.url))
        .bearer_auth(key)
        .header("accept", format!("{FHIR}; fhirVersion={version}"))
        .send()
        .unwrap()
}

/// Appends one native event; its seq.
fn append_one(s: &Server, key: &str) -> u64 {
    let e = json!({"time": jiff::Timestamp::now().to_string(), "actor": {"id": "u-1"}, "action": "read"});
    let r = s.post(key, "/v1/events", "application/json", e.to_string());
    assert_eq!(r.status(), 201);
    json(r)["receipts"][0]["seq"].as_u64().unwrap()
}

#[test]
fn fhir_feed_keeps_the_original_and_reads_follow_the_lens() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, TENANT, "writer");
    let officer = create_key(&data, TENANT, "privacy_officer");
    let engineer = create_key(&data, TENANT, "engineer");
    let auditor = create_key(&data, TENANT, "auditor");
    let server = Server::start(&data);

    // The feed: one AuditEvent naming two patients becomes two events.
    let sent = r4_search();
    let r = server.post(&writer, "/fhir/AuditEvent", FHIR, sent.clone());
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(FHIR)
    );
    let oo = json(r);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let seq: u64 = location
        .strip_prefix("/fhir/AuditEvent/")
        .unwrap()
        .parse()
        .unwrap();

    // The privacy officer sees everything: the original, byte for byte.
    let r = get_fhir(&server, &officer, &location, "4.0");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), sent);
    // Its native form: mapped fields, and how much was understood.
    let native = json(server.get(&officer, &format!("/v1/events/{TENANT}/{seq}")));
    let e = &native["event"];
    assert_eq!(e["patient"]["id"], "MRN-SYNTH-1");
    assert_eq!(e["action"], "search-type");
    assert_eq!(e["actor"]["id"], "u-synth-7");
    assert_eq!(e["source"]["ip"], "10.1.2.3");
    assert_eq!(e["purpose"], "TREAT");
    assert_eq!(e["origin"]["format"], "fhir-r4");
    assert_eq!(e["origin"]["understood"], "partial");
    assert_eq!(e["origin"]["text"], sent);
    let problems = e["origin"]["problems"].to_string();
    assert!(
        problems.contains("agent[1]") && problems.contains("entity[2]"),
        "{problems}"
    );
    let second = json(server.get(&officer, &format!("/v1/events/{TENANT}/{}", seq + 1)));
    assert_eq!(second["event"]["patient"]["id"], "MRN-SYNTH-2");

    // An engineer gets a mapped AuditEvent: pseudonyms, no original, no names.
    let r = get_fhir(&server, &engineer, &location, "5.0");
    assert_eq!(r.status(), 200);
    let ae: Value = r.json().unwrap();
    assert_eq!(ae["resourceType"], "AuditEvent");
    assert_eq!(ae["id"], seq.to_string());
    let text = ae.to_string();
    assert!(
        !text.contains("MRN-SYNTH-1") && !text.contains("Synthetic Clinician"),
        "{text}"
    );
    assert!(
        ae["patient"]["identifier"]["value"]
            .as_str()
            .unwrap()
            .starts_with("psn_")
    );
    // The read is on record before the answer left: the last event of the log.
    let next = append_one(&server, &writer);
    let record = json(server.get(&officer, &format!("/v1/events/{TENANT}/{}", next - 1)));
    assert_eq!(
        record["event"]["detail"]["endpoint"],
        "GET /fhir/AuditEvent/{id}"
    );
    assert_eq!(record["event"]["detail"]["dicom_event"], "110101");
    // Without a justification an auditor does not see the original either.
    let plain = json(server.get(&auditor, &format!("/v1/events/{TENANT}/{seq}")));
    assert!(plain["event"].get("origin").is_none());

    // Refusals: an OperationOutcome naming the element, and nothing recorded.
    let before = append_one(&server, &writer);
    for (body, expression) in [
        ("{not json".to_string(), "AuditEvent"),
        (
            json!({"resourceType": "Patient", "id": "x"}).to_string(),
            "resourceType",
        ),
    ] {
        let r = server.post(&writer, "/fhir/AuditEvent", FHIR, body);
        assert_eq!(r.status(), 400);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(FHIR)
        );
        let oo = json(r);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["expression"][0], expression);
    }
    let r = server.post(&writer, "/fhir/AuditEvent", "text/plain", sent);
    assert_eq!(r.status(), 415);
    // A native client may not pass an original off as decoded by recall.
    let forged = json!({"time": jiff::Timestamp::now().to_string(), "actor": {"id": "u-1"},
        "action": "read", "origin": {"format": "fhir-r4", "text": "{}", "understood": "full"}});
    let r = server.post(
        &writer,
        "/v1/events",
        "application/json",
        forged.to_string(),
    );
    assert_eq!(r.status(), 400);
    assert_eq!(json(r)["field"], "origin");
    assert_eq!(
        append_one(&server, &writer),
        before + 1,
        "refusals append nothing"
    );

    // R5 by media type, read back as sent in R5.
    let r5 = json!({"resourceType": "AuditEvent",
        "code": {"coding": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]},
        "action": "R", "recorded": jiff::Timestamp::now().to_string(),
        "outcome": {"code": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-outcome", "code": "0"}},
        "patient": {"reference": "Patient/MRN-SYNTH-3"},
        "agent": [{"who": {"identifier": {"value": "u-synth-8"}}, "requestor": true}],
        "source": {"observer": {"display": "pacs-synth"}}})
    .to_string();
    let r = server.post(
        &writer,
        "/fhir/AuditEvent",
        &format!("{FHIR}; fhirVersion=5.0"),
        r5.clone(),
    );
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        get_fhir(&server, &officer, &location, "5.0")
            .text()
            .unwrap(),
        r5
    );
    // Asked in R4, the same event is mapped (the original is R5).
    let ae: Value = get_fhir(&server, &officer, &location, "4.0")
        .json()
        .unwrap();
    assert_eq!(ae["subtype"][0]["code"], "read");
    assert_eq!(
        ae["entity"][0]["what"]["identifier"]["value"],
        "MRN-SYNTH-3"
    );

    let r = server.get("", "/fhir/metadata");
    assert_eq!(json(r)["rest"][0]["resource"][0]["type"], "AuditEvent");
    server.stop();
}

/// ITI-81's `entity`, `type`, `action` and DICOM `subtype`, with known answers over six
/// more events; the same filters on `/v1/events` and `/v1/export` (one filter path).
fn entity_type_and_action(server: &Server, writer: &str, officer: &str) {
    let now = jiff::Timestamp::now();
    let body: String = [
        ("create", Some("obs-1"), "u-c"),
        ("update", Some("obs-1"), "u-c"),
        ("delete", Some("obs-2"), "u-c"),
        ("export", None, "u-c"),
        ("login", None, "u-b"),
        ("logout", None, "u-b"),
    ]
    .iter()
    .map(|(action, obs, actor)| {
        let mut e = json!({"time": now.to_string(), "actor": {"id": actor}, "action": action});
        if let Some(id) = obs {
            e["resource"] = json!({"type": "Observation", "id": id});
            e["patient"] = json!({"id": "MRN-S-3"});
        }
        format!("{e}\n")
    })
    .collect();
    let r = server.post(writer, "/v1/events", "application/x-ndjson", body);
    assert_eq!(r.status(), 201);
    let count = |query: &str| {
        let r = get_fhir(server, officer, &format!("/fhir/AuditEvent?{query}"), "4.0");
        assert_eq!(r.status(), 200, "{query}");
        page(&json(r)).0.len()
    };
    for (query, n) in [
        ("entity=Observation/obs-1", 2),
        ("entity=obs-2", 1),
        ("entity=Patient/MRN-S-3&action=C", 1),
        ("entity=Observation/obs-1&action=U", 1),
        ("entity=Observation/obs-1&action=D", 0),
        ("agent=u-c&action=D", 1),
        ("agent=u-c&action=R", 1),
        ("agent=u-b&action=E", 2),
        ("agent=u-b&type=110114", 2),
        ("agent=u-b&subtype=110122", 1),
        ("agent=u-c&type=rest", 4),
        ("agent=u-c&type=110114", 0),
    ] {
        assert_eq!(count(query), n, "{query}");
    }
    let r = server.get(
        officer,
        "/v1/events?resource_type=Observation&resource_id=obs-1",
    );
    assert_eq!(json(r)["events"].as_array().unwrap().len(), 2);
    let r = server.get(officer, "/v1/export?fhir_action=D&fhir_type=rest&actor=u-c");
    assert_eq!(r.status(), 200);
    let lines: Vec<Value> = r
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["resource"]["id"], "obs-2");
    let r = server.get(officer, "/v1/events?fhir_action=Q");
    assert_eq!(
        (r.status().as_u16(), json(r)["field"].clone()),
        (400, json!("fhir_action"))
    );
}

/// The `entry[].resource.id`s of a searchset Bundle and its `next` link, if any.
fn page(bundle: &Value) -> (Vec<String>, Option<String>) {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    let ids = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    let next = bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned());
    (ids, next)
}

#[test]
fn fhir_search_filters_pages_by_next_links_and_follows_the_lens() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, TENANT, "writer");
    let officer = create_key(&data, TENANT, "privacy_officer");
    let engineer = create_key(&data, TENANT, "engineer");
    let server = Server::start(&data);

    // 25 accesses to one synthetic patient, a minute apart, and 5 to another.
    let now = jiff::Timestamp::now();
    let body: String = (0..30)
        .map(|i| {
            let patient = if i < 25 { "MRN-S-1" } else { "MRN-S-2" };
            let time = now - jiff::SignedDuration::from_mins(60 - i);
            format!(
                "{}\n",
                json!({"time": time.to_string(), "actor": {"id": "u-a"}, "action": "read",
                       "patient": {"id": patient}, "outcome": if i % 5 == 0 { "denied" } else { "success" }})
            )
        })
        .collect();
    let r = server.post(&writer, "/v1/events", "application/x-ndjson", body);
    assert_eq!(r.status(), 201);
    let receipts = json(r)["receipts"].as_array().unwrap().clone();
    let first: Vec<String> = receipts[..25]
        .iter()
        .map(|r| r["seq"].as_u64().unwrap().to_string())
        .collect();

    // Newest first, 10 a page, following the next links: every event once, in order.
    let mut path = "/fhir/AuditEvent?patient=Patient/MRN-S-1&_count=10&_sort=-date".to_owned();
    let mut seen = Vec::new();
    for pages in 1.. {
        let r = get_fhir(&server, &officer, &path, "4.0");
        assert_eq!(r.status(), 200, "{path}");
        let (ids, next) = page(&json(r));
        seen.extend(ids);
        match next {
            Some(n) => path = n,
            None => {
                assert_eq!(pages, 3);
                break;
            }
        }
    }
    let mut expected = first;
    expected.reverse();
    assert_eq!(seen, expected, "no event skipped or repeated, newest first");

    // Filters: outcome, a date range that holds nothing, R5 answers.
    let r = get_fhir(
        &server,
        &officer,
        "/fhir/AuditEvent?patient=MRN-S-1&outcome=4",
        "4.0",
    );
    assert_eq!(page(&json(r)).0.len(), 5);
    let r = get_fhir(
        &server,
        &officer,
        "/fhir/AuditEvent?date=gt2099&date=lt2100",
        "4.0",
    );
    assert!(page(&json(r)).0.is_empty());
    let r = get_fhir(
        &server,
        &officer,
        "/fhir/AuditEvent?subtype=read&_count=50",
        "5.0",
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("fhirVersion=5.0")
    );
    assert_eq!(page(&json(r)).0.len(), 30);

    entity_type_and_action(&server, &writer, &officer);

    // Unsupported or bad parameters: an OperationOutcome naming the parameter.
    for (query, param) in [
        ("action=X", "action"),
        ("entity-type=2", "entity-type"),
        ("outcome=3", "outcome"),
        ("date=03/2026", "date"),
    ] {
        let r = get_fhir(
            &server,
            &officer,
            &format!("/fhir/AuditEvent?{query}"),
            "4.0",
        );
        assert_eq!(r.status(), 400, "{query}");
        let oo = json(r);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["expression"][0], param);
    }

    // The engineer's lens: pseudonyms only, and a clear patient id is not a filter it has.
    let r = get_fhir(&server, &engineer, "/fhir/AuditEvent?_count=100", "4.0");
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    assert!(
        !text.contains("MRN-S-"),
        "no clear patient id for an engineer"
    );
    assert!(text.contains("psn_"));
    let r = get_fhir(
        &server,
        &engineer,
        "/fhir/AuditEvent?patient=MRN-S-1",
        "4.0",
    );
    assert_eq!(r.status(), 400);

    // Every search was recorded before its answer left, under its FHIR endpoint.
    let r = server.get(&officer, "/v1/events?action=search&limit=100");
    assert_eq!(r.status(), 200);
    let audits = r.text().unwrap();
    assert!(
        audits.matches("GET /fhir/AuditEvent").count() >= 7,
        "{audits}"
    );
    server.stop();
}
