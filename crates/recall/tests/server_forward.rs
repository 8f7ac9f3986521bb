//! The forwarder end to end, with real receivers on loopback: rsyslog (Debian's
//! `rsyslog` with `rsyslog-gnutls`, RFC 5425 over TLS, its own configuration in a temp
//! dir) takes native records, and an HTTPS receiver (Python's http.server behind its
//! ssl module, `tests/forward/http_receiver.py`) takes OCSF batches after answering 503
//! for a while. recall is killed with SIGKILL mid-forward and restarted: each receiver
//! then holds every seq of the log at least once, in order, none skipped, at most one
//! batch twice; the lag gauges reach 0; each start is a self-audit event. All data
//! synthetic.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::pki::{Pki, pki};
use common::server::{Server, create_key, json};
use common::{hospital_ndjson, poll, populated};
use serde_json::Value;

const TENANT: &str = "st-marys";
const BATCH: u64 = 50;
const RSYSLOG_TLS: &str = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so";

/// A child process killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether rsyslog with its TLS driver is installed (panics under CI when not).
fn rsyslog_installed() -> bool {
    let ok = Command::new("rsyslogd").arg("-v").output().is_ok() && Path::new(RSYSLOG_TLS).exists();
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "rsyslog and rsyslog-gnutls are required under CI"
        );
        eprintln!("skipped: rsyslog or rsyslog-gnutls is not installed");
    }
    ok
}

/// rsyslogd in the foreground with a TLS listener on a free port, writing each
/// message's MSGID, APP-NAME and MSG to `out`; returns it and its port.
fn rsyslog(dir: &Path, pki: &Pki, out: &Path) -> (Peer, u16) {
    let port_file = dir.join("rsyslog.port");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}" maxMessageSize="512k"
  DefaultNetstreamDriverCAFile="{ca}"
  DefaultNetstreamDriverCertFile="{cert}"
  DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="0" listenPortFileName="{port}")
template(name="fields" type="string" string="%msgid% %app-name% %msg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
            dir = dir.display(),
            ca = pki.ca.display(),
            cert = pki.cert.display(),
            key = pki.key.display(),
            port = port_file.display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd");
    let peer = Peer(child);
    let port = poll("rsyslog's port", Duration::from_secs(30), || {
        std::fs::read_to_string(&port_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    (peer, port)
}

/// The HTTPS receiver: 503 for the first `fail_first` batches, then each body appended
/// to `out` after `delay_ms`.
fn http_receiver(pki: &Pki, out: &Path, fail_first: u32, delay_ms: u32) -> (Peer, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/forward/http_receiver.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(out)
        .args([fail_first.to_string(), delay_ms.to_string()])
        .args([&pki.cert, &pki.key])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    (Peer(child), port)
}

fn configure(data: &Path, pki: &Pki, syslog_port: u16, http_port: u16) {
    common::append_config(
        data,
        &format!(
            r#"
[sinks.siem]
kind = "syslog_tls"
address = "127.0.0.1:{syslog_port}"
tenant = "{TENANT}"
ca = "{ca}"
batch_events = {BATCH}
max_backoff_secs = 1

[sinks.archive]
kind = "http"
url = "https://127.0.0.1:{http_port}/ingest"
tenant = "{TENANT}"
format = "ocsf"
ca = "{ca}"
batch_events = {BATCH}
max_backoff_secs = 1
"#,
            ca = pki.ca.display()
        ),
    );
}

/// The seqs rsyslog wrote, in order (each line `native recall <record>`).
fn syslog_seqs(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|l| {
            let record = l
                .strip_prefix("native recall ")
                .expect("MSGID and APP-NAME");
            serde_json::from_str(record).unwrap()
        })
        .collect()
}

/// The OCSF records the HTTPS receiver kept, in order.
fn http_records(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A labelled sink metric from `/metrics` (`None` before the sink first sets it).
fn sink_metric(server: &Server, name: &str, sink: &str) -> Option<f64> {
    let text = server.get("", "/metrics").text().unwrap();
    let prefix = format!("{name}{{sink=\"{sink}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

/// Waits until both sinks report no lag.
fn caught_up(server: &Server) {
    poll("both sinks caught up", Duration::from_secs(120), || {
        let lag = ["siem", "archive"].map(|s| sink_metric(server, "recall_sink_lag_events", s));
        (lag == [Some(0.0), Some(0.0)]).then_some(())
    });
}

/// Checks that `seqs` start at 0, never jump forward (a resend goes back, a gap would
/// jump), cover `0..=max` with `max + 1 >= at_least`, and repeat at most one batch.
fn every_seq_in_order(seqs: &[u64], at_least: u64, what: &str) {
    assert_eq!(seqs.first(), Some(&0), "{what}: starts at seq 0");
    for w in seqs.windows(2) {
        assert!(
            w[1] <= w[0] + 1,
            "{what}: skipped from {} to {}",
            w[0],
            w[1]
        );
    }
    let max = *seqs.iter().max().unwrap();
    assert!(max + 1 >= at_least, "{what}: only up to {max}");
    let repeated = seqs.len() as u64 - (max + 1);
    assert!(repeated <= BATCH, "{what}: {repeated} records sent twice");
}

#[test]
fn sinks_forward_every_event_at_least_once_across_a_crash() {
    if !rsyslog_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = populated(tmp.path(), TENANT, 300, 18);
    let pki = pki(tmp.path());
    let writer = create_key(&data, TENANT, "writer");
    let officer = create_key(&data, TENANT, "privacy_officer");
    let (syslog_out, http_out) = (tmp.path().join("syslog.out"), tmp.path().join("http.out"));
    let (_rsyslog, syslog_port) = rsyslog(tmp.path(), &pki, &syslog_out);
    let (_receiver, http_port) = http_receiver(&pki, &http_out, 3, 200);
    configure(&data, &pki, syslog_port, http_port);

    let server = Server::start(&data);
    caught_up(&server);
    // The receiver's three 503s were retried, each counted.
    assert!(sink_metric(&server, "recall_sink_errors_total", "archive").unwrap() >= 3.0);
    assert!(sink_metric(&server, "recall_sink_sent_total", "siem").unwrap() >= 300.0);
    let before = http_records(&http_out).len();

    // More events, and a SIGKILL while the slow receiver is taking them.
    let r = server.post(
        &writer,
        "/v1/events",
        "application/x-ndjson",
        hospital_ndjson(400, 19),
    );
    assert!(r.status().is_success(), "{}", r.status());
    poll("a batch of the new events", Duration::from_secs(60), || {
        (http_records(&http_out).len() > before).then_some(())
    });
    server.kill();
    let server = Server::start(&data);
    caught_up(&server);
    assert_eq!(
        sink_metric(&server, "recall_sink_lag_seconds", "siem"),
        Some(0.0)
    );

    let native = syslog_seqs(&syslog_out);
    let seqs: Vec<u64> = native.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    every_seq_in_order(&seqs, 700, "rsyslog");
    let ocsf = http_records(&http_out);
    let seqs: Vec<u64> = ocsf
        .iter()
        .map(|e| e["metadata"]["sequence"].as_u64().unwrap())
        .collect();
    every_seq_in_order(&seqs, 700, "https receiver");

    // The engineer's lens (the default role): pseudonyms, never the patient ids.
    let patients: Vec<&str> = native
        .iter()
        .filter_map(|e| e["patient"]["id"].as_str())
        .collect();
    assert!(patients.len() >= 500 && patients.iter().all(|p| p.starts_with("psn_")));

    // Each start of each sink is recorded: who, what, to where, from which cursor.
    let page = json(server.get(&officer, "/v1/events?action=export&limit=100"));
    let starts: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["id"] == "sink:archive")
        .collect();
    assert_eq!(starts.len(), 2, "two starts of the archive sink");
    let query = &starts[1]["detail"]["query"];
    assert_eq!(query["format"], "ocsf");
    assert_eq!(
        query["destination"],
        format!("https://127.0.0.1:{http_port}/ingest")
    );
    assert!(query["after"].as_str().unwrap().parse::<u64>().unwrap() >= 299);
    assert_eq!(starts[0]["actor"]["role"], "engineer");
    server.stop();
}

/// The sinks' configuration is checked at start: a bad value names its option.
#[test]
fn a_bad_sink_stops_the_start_naming_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::recall_ok(&data, &["init"]);
    common::append_config(
        &data,
        "\n[sinks.siem]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/in\"\ntenant = \"t1\"\n",
    );
    let out = common::recall(&data, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        common::both(&out).contains("sinks.siem.url"),
        "{}",
        common::both(&out)
    );
}

/// `recall export` on a real data dir, resumed from its printed cursor and from a seq
/// in the middle: the pieces are the whole log in order, no seq skipped.
#[test]
fn cli_export_resumes_after_its_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let data = populated(tmp.path(), TENANT, 200, 21);
    let export = |after: Option<u64>| {
        let mut args = vec!["export", "--tenant", TENANT, "--as", "privacy_officer"];
        let after = after.map(|a| a.to_string());
        if let Some(a) = &after {
            args.extend(["--after", a]);
        }
        let out = common::recall(&data, &args);
        assert!(out.status.success(), "{}", common::both(&out));
        let seqs: Vec<u64> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let cursor: u64 = stderr
            .split("resume with --after ")
            .nth(1)
            .and_then(|r| r.trim().trim_end_matches(')').parse().ok())
            .unwrap_or_else(|| panic!("no cursor in {stderr}"));
        (seqs, cursor)
    };
    let (all, cursor) = export(None);
    assert_eq!(all, (0..200).collect::<Vec<_>>());
    assert_eq!(cursor, 199);
    // The first export's own record (seq 200) is the first thing the resumed one brings.
    let (next, cursor) = export(Some(cursor));
    assert_eq!((next, cursor), (vec![200], 200));
    let (tail, _) = export(Some(99));
    assert_eq!(tail, (100..=201).collect::<Vec<_>>());
}
