//! What an unauthenticated client can send before any credential is checked: made-up
//! methods, unknown routes, wrong methods, malformed path segments. Every answer is an
//! RFC 9457 problem that echoes nothing of the request, and nothing the client chose
//! becomes a metric label or a log field. All data synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use common::recall_ok;
use common::server::{Server, create_key};
use reqwest::Method;

fn is_problem(r: &reqwest::blocking::Response) -> bool {
    r.headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

#[test]
fn made_up_methods_get_405_and_never_become_labels() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let server = Server::start(&data);
    let metrics = |s: &Server| s.get("", "/metrics").text().unwrap();
    let before = metrics(&server).len();
    for i in 0..200 {
        let method = Method::from_bytes(format!("MRN-SYNTH-{i:04}").as_bytes()).unwrap();
        let r = server
            .http
            .request(method, format!("{}/v1/events", server.url))
            .send()
            .unwrap();
        assert_eq!(r.status(), 405);
        assert!(is_problem(&r));
        assert!(!r.text().unwrap().contains("MRN-SYNTH"));
    }
    let after = metrics(&server);
    assert!(!after.contains("MRN-SYNTH"), "a method became a label");
    assert!(
        after.contains("recall_http_unknown_methods_total 200"),
        "{after}"
    );
    // Only the one counter and the scrapes' own series are new: nothing per method.
    assert!(after.len() < before + 4096, "{} -> {}", before, after.len());
    server.stop();
}

#[test]
fn unknown_routes_wrong_methods_and_bad_segments_are_problems_that_echo_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    // An authenticated caller, so the request reaches the path's own checks.
    let auditor = create_key(&data, "st-marys", "auditor");
    let server = Server::start(&data);
    let cases = [
        (Method::GET, "/v1/no-such-thing/MRN-ECHO-1", 404),
        (Method::DELETE, "/v1/events", 405),
        (Method::GET, "/v1/events/st-marys/-1", 400),
        (Method::GET, "/v1/events/st-marys/MRN-ECHO-2%00", 400),
    ];
    for (method, path, status) in cases {
        let r = server
            .http
            .request(method.clone(), format!("{}{path}", server.url))
            .bearer_auth(&auditor)
            .send()
            .unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        assert!(is_problem(&r), "{method} {path}: {:?}", r.headers());
        if status == 405 {
            assert!(r.headers().contains_key("allow"), "{method} {path}");
        }
        let body = r.text().unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], status);
        for echo in ["MRN-ECHO", "-1", "\0", "no-such-thing"] {
            assert!(
                !body.contains(echo),
                "{method} {path} echoes {echo:?}: {body}"
            );
        }
    }
    server.stop();
}

/// A client id names one event: re-sending the same content is a replay (same receipt);
/// other content under a known id is 409 naming the event, and the request appends
/// nothing — across requests and inside one batch.
#[test]
fn an_id_reused_with_other_content_is_a_conflict_and_appends_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, "st-marys", "writer");
    let server = Server::start(&data);
    let event = |id: &str, action: &str| {
        format!(
            r#"{{"id":"{id}","time":"2026-03-04T15:02:11Z","actor":{{"id":"u-syn-1"}},"action":"{action}","patient":{{"id":"MRN-SYN-1"}}}}"#
        )
    };
    let post = |body: String| server.post(&writer, "/v1/events", "application/x-ndjson", body);
    let receipts = |r: reqwest::blocking::Response| -> Vec<serde_json::Value> {
        common::server::json(r)["receipts"]
            .as_array()
            .unwrap()
            .clone()
    };
    let first = receipts(post(event("evt-c1", "read")));
    let seq = first[0]["seq"].as_u64().unwrap();
    // The same content again: a replay with the same receipt.
    let again = post(event("evt-c1", "read"));
    assert_eq!(again.status(), 200);
    let again = receipts(again);
    assert_eq!(
        (again[0]["seq"].as_u64(), again[0]["replayed"].as_bool()),
        (Some(seq), Some(true))
    );
    // Other content under that id, second in a batch: 409 naming it; nothing appended.
    let body = format!(
        "{}\n{}\n",
        event("evt-c2", "read"),
        event("evt-c1", "update")
    );
    let r = post(body);
    assert_eq!(r.status(), 409);
    assert!(is_problem(&r));
    let p = common::server::json(r);
    assert_eq!(
        (p["field"].as_str(), p["index"].as_u64()),
        (Some("id"), Some(1))
    );
    // Two events of one batch with one id and different content: refused too.
    let r = post(format!(
        "{}\n{}\n",
        event("evt-c3", "read"),
        event("evt-c3", "delete")
    ));
    assert_eq!(r.status(), 409);
    assert_eq!(common::server::json(r)["index"], 1);
    // The same id twice with the same content in one batch: one event, one receipt.
    let twice = receipts(post(format!(
        "{}\n{}\n",
        event("evt-c4", "read"),
        event("evt-c4", "read")
    )));
    assert_eq!(twice[0]["seq"], twice[1]["seq"]);
    // Nothing of the refused requests is in the log: evt-c2 and evt-c3 were never appended,
    // so the next event lands right after evt-c4.
    let next = receipts(post(event("evt-c5", "read")));
    assert_eq!(
        next[0]["seq"].as_u64(),
        Some(twice[0]["seq"].as_u64().unwrap() + 1)
    );
    assert_eq!(twice[0]["seq"].as_u64(), Some(seq + 1));
    server.stop();
}

/// Sends raw bytes on a fresh connection and reads until the server closes it (or 10 s
/// pass): the whole answer, head and body.
fn raw_exchange(server: &Server, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = server.url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// A URI longer than the API's limit (8 KiB) is a 414 problem that echoes nothing, before
/// any credential is checked. Past hyper's own limits hyper answers before routing, with
/// a bare status (no body, so nothing echoed either): a URI past 65,534 bytes (414), more
/// than 100 headers (431), a request line that does not parse (400).
#[test]
fn over_long_uris_and_unparseable_heads_echo_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let server = Server::start(&data);
    let long = format!("/v1/events?patient=MRN-ECHO-{}", "A".repeat(9 * 1024));
    let r = server.get("", &long);
    assert_eq!(r.status(), 414);
    assert!(is_problem(&r), "{:?}", r.headers());
    let body = r.text().unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], 414);
    assert!(
        !body.contains("MRN-ECHO") && !body.contains("AAAA"),
        "{body}"
    );
    // Just under the limit the request reaches the API (401: no credential).
    let fits = format!("/v1/events?patient={}", "A".repeat(8 * 1024 - 30));
    assert_eq!(server.get("", &fits).status(), 401);

    let huge = format!("/v1/events?patient=MRN-ECHO-{}", "A".repeat(70 * 1024));
    let headers: String = (0..120).map(|i| format!("X-MRN-ECHO-{i}: v\r\n")).collect();
    let cases = [
        (
            format!("GET {huge} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            "414",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n"),
            "431",
        ),
        (
            "GET /MRN-ECHO-\u{1} \u{7f}HTTP/9\r\n\r\n".to_string(),
            "400",
        ),
    ];
    for (request, status) in cases {
        let answer = raw_exchange(&server, request.as_bytes());
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {answer:?}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "", "{status}");
        assert!(
            !head.to_ascii_lowercase().contains("content-type"),
            "{head}"
        );
        assert!(!answer.contains("MRN-ECHO"), "{status}: {answer:?}");
    }
    server.stop();
}
