//! Connections cannot starve the server of file descriptors: under a low descriptor
//! limit, more idle connections than the limit allows leave ingest committing and
//! checkpoints signed, the excess waiting in the kernel's backlog. All data synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::server::{Server, create_key};
use common::{data_verifier, open_checkpoint, recall_ok};

/// One HTTP/1.1 request on a kept-alive connection: the status and the body.
fn request(stream: &mut TcpStream, head: &str, body: &str) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{head}\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering {head}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head_text = text[..end].to_ascii_lowercase();
        let len: usize = head_text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if got.len() >= end + 4 + len {
            let status = text[9..12].parse().unwrap();
            return (status, text[end + 4..end + 4 + len].to_string());
        }
    }
}

fn addr(server: &Server) -> SocketAddr {
    server.url.strip_prefix("http://").unwrap().parse().unwrap()
}

#[test]
fn idle_connections_beyond_the_descriptor_limit_leave_ingest_and_signing_working() {
    // The server keeps half of it (100) for itself; it uses about 30 with one tenant.
    const NOFILE: u64 = 200;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let writer = create_key(&data, "st-marys", "writer");
    let verifier = create_key(&data, "st-marys", "verifier");
    let server = Server::start_limited(&data, &[], NOFILE);
    let at = addr(&server);
    // A client connected before the flood keeps its slot.
    let mut client = TcpStream::connect(at).unwrap();
    let (status, _) = request(&mut client, "GET /healthz HTTP/1.1", "");
    assert_eq!(status, 200);
    // More connections than the server has descriptors, all silent. Those past its cap
    // wait in the kernel's backlog (or, once that is full, are not accepted at all).
    // A full backlog drops SYNs until the server accepts, so a failed attempt is retried.
    let mut idle = Vec::new();
    let mut failures = 0;
    while (idle.len() as u64) < NOFILE + 16 && failures < 30 {
        match TcpStream::connect_timeout(&at, Duration::from_millis(500)) {
            Ok(s) => idle.push(s),
            Err(_) => failures += 1,
        }
    }
    assert!(
        idle.len() as u64 > NOFILE,
        "only {} connections opened",
        idle.len()
    );
    // With every slot taken, an event still commits and a checkpoint covering it is
    // signed: the writer and the signer kept their descriptors.
    let event = r#"{"id":"evt-fd-1","time":"2026-03-04T15:02:11Z","actor":{"id":"u-syn-1"},"action":"read","patient":{"id":"MRN-SYN-FD"}}"#;
    let (status, body) = request(
        &mut client,
        &format!(
            "POST /v1/events HTTP/1.1\r\nContent-Type: application/x-ndjson\r\nAuthorization: Bearer {writer}"
        ),
        event,
    );
    assert!(matches!(status, 200 | 201), "{status} {body}");
    let receipt: serde_json::Value = serde_json::from_str(&body).unwrap();
    let seq = receipt["receipts"][0]["seq"].as_u64().unwrap();
    let vkey = data_verifier(&data);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, note) = request(
            &mut client,
            &format!(
                "GET /v1/logs/st-marys/checkpoint HTTP/1.1\r\nAuthorization: Bearer {verifier}"
            ),
            "",
        );
        assert_eq!(status, 200, "{note}");
        if open_checkpoint(&note, &vkey).size > seq {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint covers seq {seq}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The cap and the waiting are visible to operators.
    let (_, metrics) = request(&mut client, "GET /metrics HTTP/1.1", "");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    let max = value("recall_http_connections_max");
    assert!(max >= 1.0 && max < NOFILE as f64, "{max}");
    assert_eq!(value("recall_http_connections_open"), max);
    assert!(value("recall_http_connections_waited_total") >= 1.0);
    drop(idle);
    drop(client);
    server.stop();
    recall_ok(&data, &["verify"]);
}

/// `RECALL_SERVER_IDLE_TIMEOUT_SECS` reaches the listener: a silent connection is closed
/// after it, and counted.
#[test]
fn a_silent_connection_is_closed_after_the_configured_idle_timeout_and_counted() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let server = Server::start_with(&data, &[("RECALL_SERVER_IDLE_TIMEOUT_SECS", "1")]);
    let mut silent = TcpStream::connect(addr(&server)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(silent.read(&mut buf).unwrap(), 0, "still open");
    let metrics = server.get("", "/metrics").text().unwrap();
    assert!(
        metrics.contains("recall_http_connections_idle_closed_total 1"),
        "{metrics}"
    );
    server.stop();
}
