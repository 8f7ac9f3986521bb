//! The listener's connection limits: idle connections are closed (before their first
//! request, TLS handshake included, and between keep-alive requests, HTTP/1.1 and
//! HTTP/2), a request in
//! flight is not, and connections beyond `max_connections` wait for a free slot.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use recall_server::ServerConfig;
use recall_server::listen::{self, ListenError};

fn router() -> Router {
    Router::new().route("/hello", get(|| async { "hi" })).route(
        "/slow",
        get(|| async {
            // Longer than the idle timeout of these tests: a request in flight is not idle.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            "done"
        }),
    )
}

fn config(idle_timeout_secs: u64, max_connections: Option<usize>) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".into(),
        // Far above the idle timeout, so only the idle timer can close a connection.
        request_timeout_secs: 60,
        idle_timeout_secs,
        max_connections,
        ..ServerConfig::default()
    }
}

/// Serves `router()` on a runtime of its own; returns the address and the shutdown trigger.
fn start(cfg: ServerConfig) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let served: Result<(), ListenError> = rt.block_on(listen::serve(
            router(),
            &cfg,
            move |addr| bound_tx.send(addr).unwrap(),
            async move {
                let _ = stop_rx.await;
            },
        ));
        served.unwrap();
    });
    (bound_rx.recv().unwrap(), stop_tx)
}

/// Whether the server closes `stream` within `within`: a read sees the end (or a reset)
/// rather than timing out.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => return true,
            Err(_) => return false,
        }
    }
}

/// Sends `GET path` on a keep-alive connection and reads the answer (headers, then a
/// body of `Content-Length`).
fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering {path}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + len {
                return text[end + 4..end + 4 + len].to_string();
            }
        }
    }
}

#[test]
fn idle_connections_are_closed_and_busy_ones_are_not() {
    let (addr, stop) = start(config(1, None));
    let wait = Duration::from_secs(5);
    // Sends nothing at all.
    let mut silent = TcpStream::connect(addr).unwrap();
    // Completes a request, then idles on keep-alive.
    let mut kept = TcpStream::connect(addr).unwrap();
    assert_eq!(get_on(&mut kept, "/hello"), "hi");
    // A request longer than the idle timeout is answered; the connection is then idle.
    let mut busy = TcpStream::connect(addr).unwrap();
    assert_eq!(get_on(&mut busy, "/slow"), "done");
    // A second request right after the first: the idle clock restarted at its answer.
    assert_eq!(get_on(&mut busy, "/hello"), "hi");
    assert!(
        closed_within(&mut silent, wait),
        "a silent connection stayed open"
    );
    assert!(
        closed_within(&mut kept, wait),
        "an idle keep-alive stayed open"
    );
    assert!(
        closed_within(&mut busy, wait),
        "an idle keep-alive stayed open"
    );
    stop.send(()).unwrap();
}

#[test]
fn an_idle_http2_connection_is_closed() {
    let (addr, stop) = start(config(1, None));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tcp),
        )
        .await
        .unwrap();
        let conn = tokio::spawn(conn);
        let req = axum::http::Request::get(format!("http://{addr}/hello"))
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = send.send_request(req).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.version(), axum::http::Version::HTTP_2);
        drop(answer);
        // The client keeps the connection; only the server's idle timer ends it.
        let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
        assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open");
        drop(send);
    });
    stop.send(()).unwrap();
}

#[test]
fn an_unfinished_tls_handshake_is_closed_after_the_idle_timeout() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let cfg = ServerConfig {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..config(1, None)
    };
    let (addr, stop) = start(cfg);
    // The first bytes of a ClientHello record (handshake, TLS 1.0 record version, 512
    // bytes announced), and then nothing.
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    let mut silent = TcpStream::connect(addr).unwrap();
    // rustls' own handshake limit is 10 s; the idle timeout (1 s) comes first.
    let wait = Duration::from_secs(5);
    assert!(
        closed_within(&mut stalled, wait),
        "a stalled handshake stayed open"
    );
    assert!(
        closed_within(&mut silent, wait),
        "a silent TLS connection stayed open"
    );
    stop.send(()).unwrap();
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let (addr, stop) = start(config(30, Some(2)));
    let first = TcpStream::connect(addr).unwrap();
    let mut second = TcpStream::connect(addr).unwrap();
    assert_eq!(get_on(&mut second, "/hello"), "hi");
    // Both slots are taken: a third connection is not served while they stay open.
    let mut third = TcpStream::connect(addr).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    write!(third, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let err = third.read(&mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    // A slot frees when a connection closes; the waiting one is then served.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = third.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    stop.send(()).unwrap();
}
