//! Bad input over real HTTP: malformed JSON, truncated NDJSON, wrong types, missing
//! fields, unknown media types and empty bodies each get an RFC 9457 problem naming the
//! field and the event's index, echo none of the event's identifiers, and append nothing;
//! slow clients (a stalled body, slowloris headers) are cut off within the configured
//! request timeout while the server goes on serving others.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::{Server, json};
use common::synth::{self, NDJSON};
use serde_json::{Value, json};

const TENANT: &str = "mercy-general";
/// Identifiers of the rejected events: no error body may contain them.
const SECRET_PATIENT: &str = "MRN-SECRET-31415";
const SECRET_ACTOR: &str = "u-secret-2718";

fn good(i: usize) -> Value {
    json!({
        "id": format!("in-{i}"),
        "time": "2026-05-06T07:08:09.010Z",
        "actor": {"id": SECRET_ACTOR, "role": "nurse"},
        "action": "read",
        "patient": {"id": SECRET_PATIENT},
    })
}

/// `good(i)` with `field` set to `value`, or removed when `value` is null.
fn bad(i: usize, field: &str, value: Value) -> Value {
    let mut e = good(i);
    match (value.is_null(), field.split_once('.')) {
        (true, None) => {
            e.as_object_mut().unwrap().remove(field);
        }
        (false, None) => e[field] = value,
        (_, Some((outer, inner))) => {
            if !e[outer].is_object() {
                e[outer] = json!({});
            }
            e[outer][inner] = value;
        }
    }
    e
}

fn setup(env: &[(&str, &str)]) -> (tempfile::TempDir, Server, String, String) {
    let (tmp, data, keys) = synth::data_with_keys(&[(TENANT, "writer"), (TENANT, "auditor")]);
    let server = Server::start_with(&data, env);
    let [writer, auditor] = keys.try_into().unwrap();
    (tmp, server, writer, auditor)
}

/// Posts one good event and returns its seq: the log's size before it, so a check that
/// nothing else was appended.
fn next_seq(server: &Server, writer: &str, id: &str) -> u64 {
    let mut e = good(0);
    e["id"] = json!(id);
    e["patient"] = json!({"id": "MRN-00001"});
    e["actor"] = json!({"id": "u-001"});
    let r = server.post(writer, "/v1/events", "application/json", e.to_string());
    assert_eq!(r.status(), 201);
    json(r)["receipts"][0]["seq"].as_u64().unwrap()
}

/// A problem+json answer with `status`, the RFC 9457 members, and no identifier of the
/// rejected events.
fn problem(r: reqwest::blocking::Response, status: u16, what: &str) -> Value {
    assert_eq!(r.status(), status, "{what}");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let text = r.text().unwrap();
    for secret in [SECRET_PATIENT, SECRET_ACTOR, "SECRET"] {
        assert!(
            !text.contains(secret),
            "{what}: the error echoes input: {text}"
        );
    }
    let p: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(p["status"], status, "{what}: {p}");
    for member in ["type", "title", "detail"] {
        assert!(p[member].is_string(), "{what}: no {member}: {p}");
    }
    p
}

/// What is wrong, content type, body, the field named (any when empty), the index named.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    &'static str,
    Option<u64>,
);

#[test]
fn malformed_input_is_named_by_field_and_index_and_nothing_is_appended() {
    let (_tmp, server, writer, auditor) = setup(&[]);
    // The log is not empty (recall records the keys created and its start): its size now.
    let before = next_seq(&server, &writer, "before") + 1;
    let lines = |events: &[Value]| synth::ndjson(events);
    let three = lines(&[good(1), good(2), good(3)]);
    let truncated = format!("{three}{}", &good(4).to_string()[..40]);
    let invalid_line = format!(
        "{three}{{\"time\": \"2026-01-01T00:00:00Z\", \"patient\": {{\"id\": \"{SECRET_PATIENT}\"}},,}}\n"
    );
    let mut bad_utf8 = three.into_bytes();
    bad_utf8
        .extend_from_slice(b"{\"time\": \"2026-01-01T00:00:00Z\", \"action\": \"r\xff\xfe\"}\n");
    let array = |events: Vec<Value>| Value::Array(events).to_string();
    let etreat = bad(2, "purpose", json!("ETREAT"));
    let cases: Vec<Case> = vec![
        (
            "invalid JSON object",
            "application/json",
            format!("{{\"time\": 5, \"patient\": {{\"id\": \"{SECRET_PATIENT}\"").into_bytes(),
            "",
            Some(0),
        ),
        (
            "invalid NDJSON line",
            NDJSON,
            invalid_line.into_bytes(),
            "",
            Some(3),
        ),
        (
            "truncated NDJSON",
            NDJSON,
            truncated.into_bytes(),
            "",
            Some(3),
        ),
        ("invalid UTF-8", NDJSON, bad_utf8, "", Some(3)),
        (
            "invalid JSON array",
            "application/json",
            format!("[{}, {{\"time\": ", good(1)).into_bytes(),
            "body",
            None,
        ),
        (
            "time a number",
            NDJSON,
            lines(&[good(1), bad(2, "time", json!(5))]).into_bytes(),
            "time",
            Some(1),
        ),
        (
            "time not RFC 3339",
            NDJSON,
            lines(&[bad(1, "time", json!(SECRET_PATIENT))]).into_bytes(),
            "time",
            Some(0),
        ),
        (
            "time in the future",
            NDJSON,
            lines(&[bad(1, "time", json!("2099-01-01T00:00:00Z"))]).into_bytes(),
            "time",
            Some(0),
        ),
        (
            "actor a string",
            "application/json",
            array(vec![good(1), good(2), bad(3, "actor", json!(SECRET_ACTOR))]).into_bytes(),
            "actor",
            Some(2),
        ),
        (
            "actor id a number",
            NDJSON,
            lines(&[bad(1, "actor.id", json!(7))]).into_bytes(),
            "actor.id",
            Some(0),
        ),
        (
            "patient a string",
            NDJSON,
            lines(&[good(0), bad(1, "patient", json!(SECRET_PATIENT))]).into_bytes(),
            "patient",
            Some(1),
        ),
        (
            "patient id a number",
            NDJSON,
            lines(&[bad(1, "patient.id", json!(31415))]).into_bytes(),
            "patient.id",
            Some(0),
        ),
        (
            "outcome not allowed",
            NDJSON,
            lines(&[bad(1, "outcome", json!(SECRET_PATIENT))]).into_bytes(),
            "outcome",
            Some(0),
        ),
        (
            "ip not an address",
            NDJSON,
            lines(&[bad(1, "source.ip", json!(SECRET_PATIENT))]).into_bytes(),
            "source.ip",
            Some(0),
        ),
        (
            "detail not an object",
            NDJSON,
            lines(&[bad(1, "detail", json!(SECRET_PATIENT))]).into_bytes(),
            "detail",
            Some(0),
        ),
        (
            "time missing",
            NDJSON,
            lines(&[good(0), good(1), bad(2, "time", Value::Null)]).into_bytes(),
            "time",
            Some(2),
        ),
        (
            "actor missing",
            NDJSON,
            lines(&[bad(1, "actor", Value::Null)]).into_bytes(),
            "actor",
            Some(0),
        ),
        (
            "action missing",
            "application/json",
            bad(1, "action", Value::Null).to_string().into_bytes(),
            "action",
            Some(0),
        ),
        (
            "break-glass without reason",
            NDJSON,
            lines(&[good(1), etreat]).into_bytes(),
            "reason",
            Some(1),
        ),
        (
            "array of numbers",
            "application/json",
            b"[1, 2]".to_vec(),
            "",
            Some(0),
        ),
        (
            "a JSON string",
            "application/json",
            format!("\"{SECRET_PATIENT}\"").into_bytes(),
            "body",
            None,
        ),
        (
            "empty JSON body",
            "application/json",
            Vec::new(),
            "body",
            None,
        ),
        (
            "empty NDJSON body",
            NDJSON,
            b"\n  \n".to_vec(),
            "body",
            None,
        ),
        (
            "empty array",
            "application/json",
            b"[]".to_vec(),
            "body",
            None,
        ),
    ];
    for (what, content_type, body, field, index) in cases {
        let r = server.post(&writer, "/v1/events", content_type, body);
        let p = problem(r, 400, what);
        if !field.is_empty() {
            assert_eq!(p["field"], field, "{what}: {p}");
        }
        assert!(
            p["field"].is_string(),
            "{what}: the problem names no field: {p}"
        );
        match index {
            Some(i) => assert_eq!(p["index"], i, "{what}: {p}"),
            None => assert!(p["index"].is_null(), "{what}: {p}"),
        }
    }
    // A media type that is neither JSON nor NDJSON is refused even with a good body.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let r = server.post(&writer, "/v1/events", content_type, lines(&[good(1)]));
        let p = problem(r, 415, content_type);
        assert_eq!(p["field"], "content-type");
    }

    // Nothing of any of them went in: the next event lands where the log ended before
    // them, and no search finds the rejected identifiers.
    assert_eq!(next_seq(&server, &writer, "sentinel"), before);
    for (k, v) in [("patient", SECRET_PATIENT), ("actor", SECRET_ACTOR)] {
        let r = synth::search(&server, &auditor, &[(k, v.to_string())]);
        assert_eq!(json(r)["events"].as_array().unwrap().len(), 0, "{k}");
    }
    server.stop();
}

/// Reads until the server answers or closes; returns what it sent (empty when it closed
/// without answering).
fn outcome(stream: &mut TcpStream, deadline: Duration) -> String {
    stream.set_read_timeout(Some(deadline)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither answered nor closed within {deadline:?}: {e}"),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A slow client is either disconnected or told 408 with a problem body.
fn assert_cut_off(answer: &str) {
    assert!(
        answer.is_empty()
            || (answer.starts_with("HTTP/1.1 408")
                && answer
                    .to_ascii_lowercase()
                    .contains("content-type: application/problem+json")),
        "{answer}"
    );
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.url.trim_start_matches("http://")).unwrap()
}

#[test]
fn slow_clients_are_cut_off_within_the_request_timeout_while_others_are_served() {
    let timeout = 2;
    let (_tmp, server, writer, auditor) = setup(&[("RECALL_SERVER_REQUEST_TIMEOUT_SECS", "2")]);
    // The log's size before the slow clients (recall's own records and this probe).
    let before = next_seq(&server, &writer, "before-slow") + 1;
    let started = Instant::now();
    // Stalled bodies: headers complete, a fifth of the announced body, then nothing.
    let partial = good(99).to_string();
    let slow_bodies: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(&server);
            write!(
                s,
                "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {writer}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                partial.len() * 5,
                partial
            )
            .unwrap();
            s
        })
        .collect();
    // Slowloris: headers that never end.
    let slow_headers: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"GET /v1/events?limit=1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // One that keeps trickling a header byte at a time.
    let trickle = std::thread::spawn({
        let mut s = connect(&server);
        move || {
            let t0 = Instant::now();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Drip: ")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 256];
            while t0.elapsed() < Duration::from_secs(60) {
                if s.write_all(b"a").is_err() {
                    return t0.elapsed();
                }
                match s.read(&mut buf) {
                    Ok(_) => return t0.elapsed(),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return t0.elapsed(),
                }
            }
            panic!("a client dripping its headers was never cut off");
        }
    });

    // Meanwhile others are served, on fresh connections.
    let fresh = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = fresh.get(format!("{}/healthz", server.url)).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = fresh
        .post(format!("{}/v1/events", server.url))
        .bearer_auth(&writer)
        .header("content-type", "application/json")
        .body(good(1).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(json(r)["receipts"][0]["seq"], before);

    // Each slow client gets 408 or a closed connection: within the timeout plus a
    // generous margin, not never.
    let bound = Duration::from_secs(timeout * 10);
    for mut s in slow_bodies {
        let answer = outcome(&mut s, bound);
        assert_cut_off(&answer);
    }
    for mut s in slow_headers {
        let answer = outcome(&mut s, bound);
        assert_cut_off(&answer);
    }
    assert!(trickle.join().unwrap() < bound);
    assert!(started.elapsed() < bound + Duration::from_secs(10));

    // The stalled event was not appended: only the one served meanwhile is in the log.
    assert_eq!(next_seq(&server, &writer, "after-slow"), before + 1);
    let r = synth::search(&server, &auditor, &[("patient", SECRET_PATIENT.into())]);
    assert_eq!(json(r)["events"].as_array().unwrap().len(), 1);
    server.stop();
}
