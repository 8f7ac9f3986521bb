//! The FHIR mapping: native → FHIR → native exact in R4 and R5, one event per patient,
//! best effort with problems named by path, and refusals only for what is not an
//! AuditEvent. All values are synthetic.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use jiff::Timestamp;
use recall_fhir::{DecodeError, FhirVersion, decode, to_audit_event};
use recall_model::{Event, OriginBody, Recorded, Understood, canonical, parse_client_event};
use serde_json::{Value, json};

const FULL: &str = r#"{"id":"evt-1","time":"2026-03-04T15:02:11.123456789Z",
 "actor":{"id":"u-1234","role":"nurse","name":"Test Person \"A\"","type":"user"},
 "action":"read","resource":{"type":"Observation","id":"obs-99"},
 "patient":{"id":"MRN-0001"},"outcome":"denied","purpose":"ETREAT","reason":"code blue\nbed 4",
 "source":{"ip":"2001:db8::1","system":"ehr-test","device":"ws-12","session":"s-9"},
 "detail":{"query":{"name":"x"},"n":[1,2.5]}}"#;

fn now() -> Timestamp {
    "2026-03-05T00:00:00Z".parse().unwrap()
}

/// The lensed JSON form of a stored event (what `/v1` reads return for a full lens).
fn stored(event: &Event) -> Value {
    let rec = Recorded {
        event: event.clone(),
        tenant: "t-1".into(),
        seq: 41,
        received: "2026-03-04T15:02:12Z".parse().unwrap(),
        appended_by: Some("key:k-1".into()),
    };
    serde_json::from_slice(&canonical(&rec)).unwrap()
}

fn round_trip(native: &str, v: FhirVersion) {
    let event = parse_client_event(native.as_bytes(), now()).unwrap();
    let ae = to_audit_event(&stored(&event), v);
    let bytes = serde_json::to_vec(&ae).unwrap();
    let back = decode(&bytes, None, now()).unwrap();
    assert_eq!(back.version, v, "the shape says the version");
    assert_eq!(back.events.len(), 1);
    let mut got = back.events[0].clone();
    let origin = got.origin.take().unwrap();
    assert_eq!(origin.understood, Understood::Full, "{:?}", origin.problems);
    assert_eq!(origin.format, v.origin_format());
    assert_eq!(
        origin.body,
        OriginBody::Text(String::from_utf8(bytes).unwrap().into())
    );
    assert_eq!(got, event, "{v}: {ae:#}");
}

#[test]
fn native_fhir_native_is_exact() {
    let minimal = r#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1"},"action":"login"}"#;
    let custom = r#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1"},"action":"print","resource":{"type":"report.pdf"},"outcome":"failure","reason":"why"}"#;
    for v in [FhirVersion::R4, FhirVersion::R5] {
        round_trip(FULL, v);
        round_trip(minimal, v);
        round_trip(custom, v);
    }
}

/// Every action BALP profiles (client and server agents, Domain Resource role) maps
/// back exactly, with and without the device and address the client agent carries.
#[test]
fn balp_shaped_actions_round_trip() {
    for action in ["vread", "create", "patch", "delete", "search-type"] {
        let full = FULL.replace(r#""action":"read""#, &format!(r#""action":"{action}""#));
        let bare = format!(
            r#"{{"time":"2026-03-04T15:02:11Z","actor":{{"id":"u-1"}},"action":"{action}","resource":{{"type":"Observation"}},"source":{{"system":"ehr-test"}}}}"#
        );
        for v in [FhirVersion::R4, FhirVersion::R5] {
            round_trip(&full, v);
            round_trip(&bare, v);
        }
    }
    let event = parse_client_event(FULL.as_bytes(), now()).unwrap();
    let ae = to_audit_event(&stored(&event), FhirVersion::R4);
    let agents = ae["agent"].as_array().unwrap();
    assert_eq!(agents.len(), 3, "user, client, server: {ae:#}");
    assert_eq!(agents[1]["network"]["address"], "2001:db8::1");
    assert!(
        agents[0].get("network").is_none(),
        "BALP: users are not network devices"
    );
    assert_eq!(ae["entity"][1]["role"]["code"], "4");
}

/// A BALP query: its query entity (type 2, role 24, no `what`) carries `detail.query`
/// base64; the searched resource is typed by its resource type (BALP slices a query's
/// entities by type, and type 2 is the query's own slice); a BALP sender's query, with
/// none of recall's extensions, becomes `detail.query`; a query that is not base64 is a
/// problem, not dropped silently.
#[test]
fn a_search_carries_its_query_as_balp_does() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let native = r#"{"time":"2026-03-04T15:02:11Z","actor":{"id":"u-1","role":"clerk"},"action":"search-type","resource":{"type":"Observation"},"patient":{"id":"MRN-0001"},"source":{"system":"ehr-test","ip":"192.0.2.1"},"detail":{"query":"Observation?patient=MRN-0001&_count=10"}}"#;
    for v in [FhirVersion::R4, FhirVersion::R5] {
        round_trip(native, v);
    }
    let event = parse_client_event(native.as_bytes(), now()).unwrap();
    let mut ae = to_audit_event(&stored(&event), FhirVersion::R4);
    let entities = ae["entity"].as_array().unwrap().clone();
    let typed_2: Vec<&Value> = entities
        .iter()
        .filter(|e| e["type"]["code"] == "2")
        .collect();
    assert_eq!(typed_2.len(), 1, "only the query is type 2: {ae:#}");
    let query = typed_2[0];
    assert_eq!(query["role"]["code"], "24");
    assert!(query.get("what").is_none());
    let sent = b64.decode(query["query"].as_str().unwrap()).unwrap();
    assert_eq!(sent, b"Observation?patient=MRN-0001&_count=10");
    let resource = entities.iter().find(|e| e["role"]["code"] == "4").unwrap();
    assert_eq!(
        resource["type"]["system"],
        "http://hl7.org/fhir/resource-types"
    );
    assert_eq!(resource["type"]["code"], "Observation");

    ae.as_object_mut().unwrap().remove("extension");
    let back = decode(&serde_json::to_vec(&ae).unwrap(), None, now()).unwrap();
    let mut got = back.events[0].clone();
    let origin = got.origin.take().unwrap();
    assert_eq!(origin.understood, Understood::Full, "{:?}", origin.problems);
    assert_eq!(got, event, "the sender's query is detail.query");

    let at = entities
        .iter()
        .position(|e| e["role"]["code"] == "24")
        .unwrap();
    ae["entity"][at]["query"] = json!("not base64!");
    let back = decode(&serde_json::to_vec(&ae).unwrap(), None, now()).unwrap();
    let origin = back.events[0].origin.as_ref().unwrap();
    assert_eq!(origin.problems, vec![format!("entity[{at}].query")]);
    assert!(back.events[0].detail.is_none());
}

/// A server agent that names someone other than the observer is not silently dropped.
#[test]
fn a_balp_server_agent_naming_another_system_is_a_problem() {
    let event = parse_client_event(FULL.as_bytes(), now()).unwrap();
    let mut ae = to_audit_event(&stored(&event), FhirVersion::R4);
    ae["agent"][2]["who"] = json!({"identifier": {"value": "other-system"}});
    let back = decode(&serde_json::to_vec(&ae).unwrap(), None, now()).unwrap();
    let origin = back.events[0].origin.as_ref().unwrap();
    assert_eq!(origin.understood, Understood::Partial);
    assert_eq!(origin.problems, vec!["agent[2]".to_string()]);
}

/// A BALP sender's read: the address is the client agent's (users are not network
/// devices); what recall does not map (a client named by display, a server with its
/// own address) is a problem, not silently dropped.
#[test]
fn a_balp_senders_client_address_is_the_source_ip() {
    let dcm = "http://dicom.nema.org/resources/ontology/DCM";
    let ae = json!({"resourceType": "AuditEvent", "action": "R", "recorded": "2026-03-04T10:00:00Z",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "outcome": "0", "source": {"observer": {"identifier": {"value": "srv-synth"}}},
        "agent": [
            {"type": {"coding": [{"system": dcm, "code": "110152"}]}, "requestor": false,
             "who": {"display": "ws-synth"}, "network": {"address": "192.0.2.9", "type": "2"}},
            {"type": {"coding": [{"system": dcm, "code": "110153"}]}, "requestor": false,
             "who": {"identifier": {"value": "srv-synth"}}, "network": {"address": "srv.example", "type": "1"}},
            {"requestor": true, "who": {"identifier": {"value": "u-synth"}}}],
        "entity": [{"type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
            "what": {"reference": "Observation/obs-synth"}}]});
    let back = decode(&serde_json::to_vec(&ae).unwrap(), None, now()).unwrap();
    let e = &back.events[0];
    assert_eq!(
        e.source.as_ref().unwrap().ip.unwrap().to_string(),
        "192.0.2.9"
    );
    let problems = &e.origin.as_ref().unwrap().problems;
    assert_eq!(
        problems,
        &vec!["agent[0].who".to_string(), "agent[1]".to_string()]
    );
}

#[test]
fn several_patients_make_several_events() {
    let ae = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "search-type"}],
        "action": "E", "recorded": "2026-03-04T10:00:00+01:00", "outcome": "0",
        "agent": [{"who": {"identifier": {"value": "u-7"}}, "requestor": true,
                   "network": {"address": "10.1.2.3", "type": "2"}}],
        "source": {"observer": {"reference": "Device/ehr"}},
        "entity": [
            {"what": {"reference": "Patient/p-1"}},
            {"what": {"identifier": {"value": "MRN-2"}},
             "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
             "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}}
        ]
    });
    let d = decode(ae.to_string().as_bytes(), None, now()).unwrap();
    assert_eq!(d.version, FhirVersion::R4);
    let patients: Vec<&str> = d
        .events
        .iter()
        .map(|e| e.patient.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(patients, ["p-1", "MRN-2"]);
    let e = &d.events[0];
    assert_eq!(e.action, "search-type");
    assert_eq!(e.actor.id, "u-7");
    assert_eq!(
        e.source.as_ref().unwrap().ip.unwrap().to_string(),
        "10.1.2.3"
    );
    assert_eq!(
        e.source.as_ref().unwrap().system.as_deref(),
        Some("Device/ehr")
    );
    assert_eq!(e.time.to_string(), "2026-03-04T09:00:00Z");
    let r = e.resource.as_ref().unwrap();
    assert_eq!((r.kind.as_str(), r.id.as_deref()), ("Patient", Some("p-1")));
    assert_eq!(e.origin, d.events[1].origin, "one original for both");
}

#[test]
fn non_conformant_input_is_kept_and_marked_partial() {
    let ae = json!({
        "resourceType": "AuditEvent",
        "code": {"coding": [{"system": "urn:other", "code": "x"}]},
        "action": "Q", "recorded": "yesterday",
        "outcome": {"code": {"code": "99"}},
        "agent": [{"who": {"display": "Somebody"}}, {"who": {"reference": "Device/d"}}],
        "basedOn": [{"reference": "Task/1"}]
    });
    let d = decode(ae.to_string().as_bytes(), None, now()).unwrap();
    assert_eq!(d.version, FhirVersion::R5);
    let e = &d.events[0];
    let o = e.origin.as_ref().unwrap();
    assert_eq!(o.understood, Understood::Partial);
    for p in [
        "basedOn",
        "action",
        "outcome.code.code",
        "agent.requestor",
        "agent[1]",
        "agent[0].who",
        "recorded",
    ] {
        assert!(o.problems.iter().any(|x| x == p), "{p} in {:?}", o.problems);
    }
    assert!(
        !o.problems.iter().any(|p| p.contains("Somebody")),
        "paths, never values"
    );
    assert_eq!(
        (e.actor.id.as_str(), e.action.as_str()),
        ("unknown", "execute")
    );
    assert_eq!(e.time, now());
}

#[test]
fn a_client_cannot_claim_recalls_names_through_fhir() {
    let ae = json!({"resourceType": "AuditEvent", "action": "R", "recorded": "2026-03-04T10:00:00Z",
        "agent": [{"who": {"identifier": {"value": "recall:server"}}, "requestor": true}],
        "source": {"observer": {"identifier": {"value": "recall"}}}});
    let d = decode(ae.to_string().as_bytes(), None, now()).unwrap();
    let e = &d.events[0];
    assert_eq!(e.actor.id, "unknown");
    assert!(e.source.is_none() || e.source.as_ref().unwrap().system.is_none());
    let problems = &e.origin.as_ref().unwrap().problems;
    assert!(
        problems.contains(&"agent[0].who.identifier.value".to_string()),
        "{problems:?}"
    );
    assert!(
        problems.contains(&"source.observer.identifier.value".to_string()),
        "{problems:?}"
    );
}

#[test]
fn only_what_is_not_an_audit_event_is_refused() {
    let err = |b: &[u8]| decode(b, None, now()).unwrap_err();
    assert!(matches!(err(b"{not json"), DecodeError::NotJson(_)));
    assert_eq!(
        err(br#"{"resourceType":"Patient"}"#),
        DecodeError::NotAuditEvent
    );
    assert_eq!(err(b"[1]"), DecodeError::NotAuditEvent);
    let big = format!(
        r#"{{"resourceType":"AuditEvent","x":"{}"}}"#,
        "a".repeat(300 * 1024)
    );
    assert_eq!(err(big.as_bytes()), DecodeError::TooLarge);
}

#[test]
fn the_media_type_wins_over_the_shape() {
    let ae = br#"{"resourceType":"AuditEvent","action":"R","recorded":"2026-03-04T10:00:00Z"}"#;
    assert_eq!(decode(ae, None, now()).unwrap().version, FhirVersion::R4);
    let d = decode(ae, Some(FhirVersion::R5), now()).unwrap();
    assert_eq!(d.events[0].origin.as_ref().unwrap().format, "fhir-r5");
}

/// The fuzz target's property (fuzz/fuzz_targets/fhir_mapper.rs) on its seeds: a decoded
/// event keeps the input, and maps to R4 and R5 and back exactly.
#[test]
fn fuzz_seeds_decode_and_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/fhir_mapper");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for event in decode(&bytes, None, now()).unwrap().events {
            assert_eq!(event.origin.as_ref().unwrap().body.as_bytes(), &bytes[..]);
            let mut want = event.clone();
            want.origin = None;
            for v in [FhirVersion::R4, FhirVersion::R5] {
                let ae = serde_json::to_vec(&to_audit_event(&stored(&event), v)).unwrap();
                let mut back = decode(&ae, Some(v), now()).unwrap().events.remove(0);
                back.origin = None;
                assert_eq!(back, want, "{v}");
            }
            n += 1;
        }
    }
    assert!(n >= 3, "the seeds decode to events");
}

/// Found by the fuzzer: a refused `agent.network.address` (leading zero) left an empty
/// `source` behind, which a round trip through FHIR did not keep.
#[test]
fn a_dropped_value_leaves_no_empty_object_behind() {
    let ae = json!({"resourceType": "AuditEvent", "action": "E", "recorded": "2026-03-04T10:00:00Z",
        "agent": [{"who": {"identifier": {"value": "u-7"}}, "requestor": true,
                   "network": {"address": "05.1.2.3", "type": "2"}}]});
    let d = decode(ae.to_string().as_bytes(), None, now()).unwrap();
    let event = &d.events[0];
    assert_eq!(event.source, None, "no source was given that survived");
    let problems = &event.origin.as_ref().unwrap().problems;
    assert!(
        problems.iter().any(|p| p.contains("network")),
        "{problems:?}"
    );
    for v in [FhirVersion::R4, FhirVersion::R5] {
        let again = to_audit_event(&stored(event), v);
        let back = decode(&serde_json::to_vec(&again).unwrap(), None, now()).unwrap();
        let (mut got, mut want) = (back.events[0].clone(), event.clone());
        (got.origin, want.origin) = (None, None);
        assert_eq!(got, want, "{v}");
    }
}
