//! ATNA TLS ingest: the workload's events as DICOM `AuditMessage`s in octet-counted
//! RFC 5424 frames, sent over TLS (a `[sources.bench]` listener) by `openssl s_client`
//! processes, one connection each; timed from the first byte until the tenant's log
//! holds every event (its checkpoint), with the server's CPU over the same span.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One DICOM PS3.15 A.5 AuditMessage for a native event of the workload.
fn audit_message(e: &Value) -> String {
    let s = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let action = match s("/action") {
        "create" => "C",
        "read" => "R",
        "update" => "U",
        "delete" => "D",
        _ => "E",
    };
    let outcome = if s("/outcome") == "success" || s("/outcome").is_empty() {
        "0"
    } else {
        "4"
    };
    let mut m = String::with_capacity(1024);
    let _ = write!(
        m,
        "<AuditMessage><EventIdentification EventActionCode=\"{action}\" EventDateTime=\"{}\" EventOutcomeIndicator=\"{outcome}\">\
<EventID csd-code=\"110110\" codeSystemName=\"DCM\" originalText=\"Patient Record\"/></EventIdentification>\
<ActiveParticipant UserID=\"{}\" UserIsRequestor=\"true\" NetworkAccessPointID=\"{}\" NetworkAccessPointTypeCode=\"2\">\
<RoleIDCode csd-code=\"{}\" codeSystemName=\"local\" originalText=\"{}\"/></ActiveParticipant>\
<AuditSourceIdentification AuditSourceID=\"{}\"/>",
        xml(s("/time")),
        xml(s("/actor/id")),
        xml(s("/source/ip")),
        xml(s("/actor/role")),
        xml(s("/actor/role")),
        xml(s("/source/system")),
    );
    if !s("/patient/id").is_empty() {
        let _ = write!(
            m,
            "<ParticipantObjectIdentification ParticipantObjectID=\"{}\" ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\">\
<ParticipantObjectIDTypeCode csd-code=\"2\" codeSystemName=\"RFC-3881\" originalText=\"Patient Number\"/></ParticipantObjectIdentification>",
            xml(s("/patient/id"))
        );
    }
    m.push_str("</AuditMessage>");
    m
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The events of `ndjson` as octet-counted frames, dealt round-robin into `conns` files
/// in `dir`; returns the paths and the number of events.
pub fn frames(ndjson: &Path, dir: &Path, conns: usize) -> Result<(Vec<std::path::PathBuf>, u64)> {
    let mut bufs = vec![Vec::new(); conns.max(1)];
    let mut n = 0u64;
    for line in BufReader::new(fs::File::open(ndjson)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let e: Value = serde_json::from_str(&line)?;
        let msg = format!(
            "<110>1 {} bench.example ehr-synth - IHE+RFC-3881 - {}",
            e["time"].as_str().unwrap_or("-"),
            audit_message(&e)
        );
        let buf = &mut bufs[(n as usize) % conns.max(1)];
        buf.extend_from_slice(format!("{} ", msg.len()).as_bytes());
        buf.extend_from_slice(msg.as_bytes());
        n += 1;
    }
    let mut paths = Vec::new();
    for (i, b) in bufs.into_iter().enumerate() {
        let p = dir.join(format!("atna-{i}.frames"));
        fs::write(&p, b)?;
        paths.push(p);
    }
    Ok((paths, n))
}

/// A self-signed certificate (openssl) and a `[sources.bench]` TLS listener on `port`.
pub fn configure(data: &Path, tenant: &str, port: u16) -> Result<()> {
    let (cert, key) = (data.join("bench-syslog.crt"), data.join("bench-syslog.key"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("openssl req")?;
    if !ok.success() {
        bail!("openssl req failed");
    }
    let cfg = data.join("recall.toml");
    let mut text = fs::read_to_string(&cfg)?;
    text.push_str(&format!(
        "\n[sources.bench]\nkind = \"tls\"\nlisten = \"127.0.0.1:{port}\"\ntenant = \"{tenant}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    ));
    fs::write(cfg, text)?;
    Ok(())
}

/// A port free at the moment of asking.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Sends every frame file over its own `openssl s_client` connection and waits until
/// `log_size()` reaches `until`; returns the seconds taken. The clients keep their
/// connection open after their input ends (`-ign_eof`): without it `s_client` quits at
/// the end of its input and drops what the server's back-pressure had not taken yet.
/// They are stopped once the log holds every event.
pub fn send(
    port: u16,
    files: &[std::path::PathBuf],
    until: u64,
    log_size: impl Fn() -> Result<u64>,
) -> Result<f64> {
    let started = Instant::now();
    let mut children = Vec::new();
    for f in files {
        let child = Command::new("openssl")
            .args(["s_client", "-quiet", "-ign_eof", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(fs::File::open(f)?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("openssl s_client")?;
        children.push(child);
    }
    // A log that stops growing for a minute short of `until` lost messages: fail.
    let waited = (|| {
        let (mut last, mut moved) = (0, Instant::now());
        loop {
            let size = log_size()?;
            if size >= until {
                return Ok(started.elapsed().as_secs_f64());
            }
            if size != last {
                (last, moved) = (size, Instant::now());
            } else if moved.elapsed() > Duration::from_secs(60) {
                bail!("the log stopped at {size} events, {until} expected");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    waited
}
