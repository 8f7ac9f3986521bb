//! IHE ATNA over syslog, end to end with real senders: util-linux `logger` (RFC 5424,
//! octet-counted TCP and UDP) and `openssl s_client` over TLS with and without a client
//! certificate (certificates made here with rcgen). The events are found through `/v1`
//! with the fields the AuditMessage carried, one per patient, under each role's lens;
//! XXE and billion-laughs messages are kept unparsed (never expanded) and counted.
//! All data synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pki::{Pki, pki};
use common::server::{Server, create_key, json};
use common::{poll, recall_ok};
use serde_json::Value;

const TENANT: &str = "st-marys";
const OTHER: &str = "st-johns";
const DICOM: &str = include_str!("../../recall-atna/tests/fixtures/dicom.xml");
const RFC3881: &str = include_str!("../../recall-atna/tests/fixtures/rfc3881.xml");

/// The fixture on one line (logger sends a line per message), with its patients renamed.
fn body(xml: &str, rename: &[(&str, &str)]) -> String {
    let mut one = xml.replace('\n', " ");
    for (from, to) in rename {
        one = one.replace(from, to);
    }
    one
}

fn configure(data: &Path, pki: &Pki) {
    common::append_config(
        data,
        &format!(
            r#"
[sources.pacs]
kind = "tls"
listen = "127.0.0.1:0"
tenant = "{TENANT}"
tls_cert = "{}"
tls_key = "{}"
client_ca = "{}"

[sources.legacy]
kind = "insecure_tcp"
listen = "127.0.0.1:0"
tenant = "{TENANT}"
tenant_by = "audit_source"
tenants = {{ "ehr-legacy" = "{OTHER}" }}

[sources.dgram]
kind = "udp"
listen = "127.0.0.1:0"
tenant = "{TENANT}"

[sources.capped]
kind = "insecure_tcp"
listen = "127.0.0.1:0"
tenant = "{TENANT}"
max_connections = 1
"#,
            pki.cert.display(),
            pki.key.display(),
            pki.ca.display()
        ),
    );
}

/// `logger` with RFC 5424 headers to a port, octet-counted TCP or UDP.
fn logger(port: &str, udp: bool, msgid: &str, message: &str) {
    let transport = if udp { "--udp" } else { "--tcp" };
    let mut cmd = Command::new("logger");
    cmd.args([
        "--rfc5424",
        transport,
        "--server",
        "127.0.0.1",
        "--port",
        port,
    ]);
    if udp {
        // logger cuts messages at 1 KiB by default.
        cmd.args(["--size", "60000"]);
    } else {
        cmd.arg("--octet-count");
    }
    let out = cmd
        .args(["--msgid", msgid, "--tag", "ehr-synth", "--", message])
        .output()
        .expect("util-linux logger");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Octet-counted RFC 5424 frames through `openssl s_client`; `client` presents the
/// client certificate. Returns whether s_client exited successfully.
fn tls_send(port: &str, pki: &Pki, client: bool, messages: &[String]) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-quiet", "-no_ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(&pki.ca)
        .args(["-verify_return_error", "-verify_hostname", "localhost"]);
    if client {
        cmd.arg("-cert")
            .arg(&pki.client_cert)
            .arg("-key")
            .arg(&pki.client_key);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let mut stdin = child.stdin.take().unwrap();
    for m in messages {
        let frame = format!("<110>1 2026-03-04T14:02:12Z pacs.example pacs 77 ATNA - {m}");
        let _ = write!(stdin, "{} {frame}", frame.len());
    }
    drop(stdin);
    child.wait().unwrap().success()
}

fn search(server: &Server, key: &str, query: &str) -> Vec<Value> {
    let r = server.get_justified(key, &format!("/v1/events?{query}"));
    assert_eq!(r.status(), 200, "{query}");
    json(r)["events"].as_array().unwrap().clone()
}

fn await_hits(server: &Server, key: &str, query: &str, n: usize) -> Vec<Value> {
    poll(query, Duration::from_secs(30), || {
        let hits = search(server, key, query);
        (hits.len() >= n).then_some(hits)
    })
}

/// Whether logger and openssl are installed (.ci/run installs them; under CI a missing
/// one fails the test instead of skipping it).
/// Whether recall closes `conn` (within 10 s) rather than leaving it open.
fn closed_by_recall(mut conn: std::net::TcpStream) -> bool {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    match conn.read(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// One octet-counted frame of `body` with MSGID `msgid`.
fn frame(msgid: &str, body: &str) -> String {
    let message = format!("<110>1 - burst-host ehr - {msgid} - {body}");
    format!("{} {message}", message.len())
}

/// Frames that arrive together are committed together: one write holding good frames,
/// one that cannot be mapped and a framing error. Everything before the error is kept
/// (the unparsed one as such), nothing after it is read, and the connection is closed.
fn burst_in_one_write(server: &Server, officer: &str, port: &str) {
    let good = |n: u32| {
        let (a, b) = (format!("MRN-07{n:02}"), format!("MRN-08{n:02}"));
        frame("ATNA", &body(DICOM, &[("MRN-0001", &a), ("MRN-0002", &b)]))
    };
    let mut burst: String = (0..20).map(good).collect();
    burst.push_str(&frame("OTHER", "<AuditMessage/>"));
    burst.push_str(&good(20));
    // A count followed by no space: the stream cannot be resynchronised.
    burst.push_str("12x garbage!");
    burst.push_str(&good(21));
    let mut conn = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    conn.write_all(burst.as_bytes()).unwrap();
    assert!(
        closed_by_recall(conn),
        "a framing error closes the connection"
    );
    for n in 0..=20 {
        let q = format!("patient=MRN-08{n:02}&action=read");
        assert_eq!(await_hits(server, officer, &q, 1).len(), 1, "{q}");
    }
    assert!(search(server, officer, "patient=MRN-0821").is_empty());
    let metrics = server.get(officer, "/metrics").text().unwrap();
    assert!(
        metrics.contains("recall_syslog_unparsed_total{source=\"legacy\"} 3"),
        "{metrics}"
    );
}

fn senders() -> bool {
    let ok = Command::new("logger").arg("--version").output().is_ok()
        && Command::new("openssl").arg("version").output().is_ok();
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "logger and openssl are required under CI"
        );
        eprintln!("skipped: util-linux logger or openssl is not installed");
    }
    ok
}

#[test]
fn atna_senders_over_tls_tcp_and_udp_land_as_searchable_events() {
    if !senders() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    recall_ok(&data, &["init"]);
    let officer = create_key(&data, TENANT, "privacy_officer");
    let other_officer = create_key(&data, OTHER, "privacy_officer");
    let engineer = create_key(&data, TENANT, "engineer");
    let pki = pki(root.path());
    configure(&data, &pki);
    let server = Server::start(&data);
    let port = |name: &str| server.syslog[name].rsplit(':').next().unwrap().to_string();

    // TLS: without a client certificate nothing is taken; with one, a DICOM message
    // naming two patients and a message of more than 64 KiB.
    let refused = body(DICOM, &[("MRN-0001", "MRN-0900"), ("MRN-0002", "MRN-0901")]);
    tls_send(&port("pacs"), &pki, false, &[refused]);
    // No read of s_client's input may start with Q, R or k (its quit, renegotiate and
    // key-update commands), so the padding avoids those letters.
    let padding = format!(
        "<ParticipantObjectDetail type=\"pad\" value=\"{}\"/>",
        "xyzw".repeat(17 * 1024)
    );
    let big = body(DICOM, &[("MRN-0001", "MRN-0064"), ("MRN-0002", "MRN-0065")])
        .replace("</AuditMessage>", &format!("{padding}</AuditMessage>"));
    assert!(big.len() > 64 * 1024);
    assert!(tls_send(
        &port("pacs"),
        &pki,
        true,
        &[body(DICOM, &[]), big]
    ));

    let hits = await_hits(&server, &officer, "patient=MRN-0001", 1);
    let [e] = &hits[..] else {
        panic!("one event for MRN-0001: {hits:?}")
    };
    assert_eq!(e["actor"]["id"], "u-4711");
    assert_eq!(e["actor"]["role"], "physician");
    assert_eq!(e["action"], "read");
    assert_eq!(e["outcome"], "success");
    assert_eq!(e["source"]["ip"], "10.20.30.40");
    assert_eq!(e["source"]["system"], "pacs-prod");
    assert_eq!(e["appended_by"], "syslog:pacs");
    assert_eq!(e["time"], "2026-03-04T14:02:11.123Z");
    // The whole syslog message is kept with the event, byte for byte.
    assert_eq!(e["origin"]["format"], "atna-dicom");
    let frame = e["origin"]["text"].as_str().unwrap();
    assert!(frame.starts_with("<110>1 ") && frame.ends_with(&body(DICOM, &[])));
    // One event per patient, found by each of the mapped fields.
    assert_eq!(
        await_hits(&server, &officer, "patient=MRN-0002&action=read", 1).len(),
        1
    );
    let big_one = await_hits(&server, &officer, "patient=MRN-0065&action=read", 1);
    assert_eq!(big_one[0]["actor"]["id"], "u-4711");
    let big_text = big_one[0]["origin"]["text"].as_str().unwrap();
    assert!(big_text.len() > 64 * 1024);
    for q in [
        "ip=10.20.30.40",
        "system=pacs-prod",
        "actor=u-4711&action=read",
    ] {
        assert_eq!(search(&server, &officer, q).len(), 4, "{q}");
    }
    assert!(search(&server, &officer, "patient=MRN-0900").is_empty());

    // The lens applies as on any event: the engineer sees a pseudonym, no detail.
    let seen = search(&server, &engineer, "system=pacs-prod");
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|e| {
        e["patient"]["id"].as_str().unwrap().starts_with("psn_") && e.get("detail").is_none()
    }));

    // Legacy TCP (logger, octet counting): RFC 3881 from "ehr-legacy" goes to the mapped
    // tenant; XXE and billion laughs are kept unparsed and never expanded.
    let legacy = port("legacy");
    logger(&legacy, false, "IHE+RFC-3881", &body(RFC3881, &[]));
    let other = await_hits(&server, &other_officer, "patient=MRN-0003", 1);
    assert_eq!(
        (other[0]["action"].as_str(), other[0]["outcome"].as_str()),
        (Some("search"), Some("failure"))
    );
    assert_eq!(other[0]["appended_by"], "syslog:legacy");
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE AuditMessage [<!ENTITY x SYSTEM "file:///etc/passwd">]><AuditMessage>&x;</AuditMessage>"#;
    let laughs = r#"<!DOCTYPE AuditMessage [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><AuditMessage>&c;</AuditMessage>"#;
    logger(&legacy, false, "ATNA", xxe);
    logger(&legacy, false, "ATNA", laughs);
    // UDP (logger): a DICOM message for a third patient.
    logger(
        &port("dgram"),
        true,
        "ATNA",
        &body(DICOM, &[("MRN-0001", "MRN-0077"), ("MRN-0002", "MRN-0078")]),
    );
    assert_eq!(
        await_hits(&server, &officer, "patient=MRN-0078&action=read", 1)[0]["appended_by"],
        "syslog:dgram"
    );

    let kept = await_hits(&server, &officer, "action=unparsed", 2);
    for e in &kept {
        assert_eq!(e["origin"]["format"], "syslog-unparsed");
        let text = e["origin"]["text"].as_str().unwrap();
        assert!(text.contains("<!DOCTYPE"), "the raw text is kept");
        assert!(
            !text.contains("root:") && !text.contains("lollol"),
            "nothing expanded"
        );
        assert!(
            e["detail"]["unparsed"]["reason"]
                .as_str()
                .unwrap()
                .contains("document type")
        );
    }
    let metrics = server.get(&officer, "/metrics").text().unwrap();
    assert!(
        metrics.contains("recall_syslog_unparsed_total{source=\"legacy\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("recall_syslog_unparsed_total{source=\"pacs\"} 0"));

    burst_in_one_write(&server, &officer, &legacy);

    // max_connections = 1: a second connection while one is open is closed at once and
    // counted; the first one still delivers.
    let capped = format!("127.0.0.1:{}", port("capped"));
    let mut first = std::net::TcpStream::connect(&capped).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let second = std::net::TcpStream::connect(&capped).unwrap();
    assert!(
        closed_by_recall(second),
        "the second connection is closed by recall, not left open"
    );
    let dicom = body(DICOM, &[("MRN-0001", "MRN-0555"), ("MRN-0002", "MRN-0556")]);
    let message = format!("<110>1 - capped-host ehr - ATNA - {dicom}");
    write!(first, "{} {message}", message.len()).unwrap();
    drop(first);
    assert_eq!(
        await_hits(&server, &officer, "patient=MRN-0556&action=read", 1)[0]["appended_by"],
        "syslog:capped"
    );
    let metrics = server.get(&officer, "/metrics").text().unwrap();
    assert!(metrics.contains("recall_syslog_refused_total{source=\"capped\"} 1"));
    server.stop();
}
