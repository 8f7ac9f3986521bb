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
