//! `recall-bench interop`: the standard faces of recall against its native ones, in one
//! run on the same machine: HTTP ingest of native NDJSON, of FHIR batch Bundles of
//! AuditEvents (`POST /fhir`) and of DICOM AuditMessages over ATNA syslog/TLS, each on a
//! fresh data dir with the same events; then `GET /v1/export` throughput (native, OCSF,
//! CSV) over an imported log.
//!
//! Invariants: every ingest phase is checked to have committed every event (the log's
//! size in `/metrics`), and every export to have streamed every event, so a fast
//! answer that dropped records cannot pass; server CPU is read from `/proc` over the
//! same span as the wall clock.

use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use recall_fhir::{FhirVersion, to_audit_event};
use serde::Serialize;
use serde_json::{Value, json};

use crate::generator::{self, Config};
use crate::recall_cli;
use crate::report::{Goal, thousands};
use crate::run::{TENANT, sync_all};
use crate::serve::{
    NDJSON, Server, bodies, client, ingest, key, log_events, proc_cpu_secs, recall,
};

/// Goal: FHIR and ATNA ingest, events/s as a share of native NDJSON ingest.
pub const GOAL_INGEST_SHARE: f64 = 0.5;
/// Goal: native NDJSON export, events/s.
pub const GOAL_EXPORT_EPS: f64 = 200_000.0;
/// AuditEvents per FHIR batch Bundle.
pub const FHIR_BUNDLE: usize = 100;
/// The export formats measured, native first (the one with a goal).
pub const EXPORT_FORMATS: [&str; 3] = ["native", "ocsf", "csv"];

/// Options of `interop`.
#[derive(Debug, Clone)]
pub struct InteropOptions {
    /// Events of each ingest phase.
    pub events: u64,
    /// Events in the exported log.
    pub export_events: u64,
    /// Workload seed.
    pub seed: u64,
    /// The `recall` binary.
    pub recall: Option<PathBuf>,
    /// Work directory (default: a temp dir).
    pub workdir: Option<PathBuf>,
    /// Keep the work directory.
    pub keep: bool,
    /// Write the figures as JSON here too.
    pub json: Option<PathBuf>,
    /// Concurrent HTTP clients, and ATNA connections.
    pub clients: usize,
}

/// One measured stream of events.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rate {
    /// Events moved.
    pub events: u64,
    /// Wall clock, seconds.
    pub secs: f64,
    /// Server CPU (user + system, all threads) per event, microseconds.
    pub cpu_us_per_event: Option<f64>,
    /// The benchmark's own CPU per event (its HTTP client reading), microseconds; export
    /// phases only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cpu_us_per_event: Option<f64>,
    /// Bytes sent or received (bodies only).
    pub bytes: u64,
}

impl Rate {
    fn eps(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Everything `interop` measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InteropReport {
    /// Events of each ingest phase.
    pub events: u64,
    /// Events in the exported log.
    pub export_events: u64,
    /// Seed.
    pub seed: u64,
    /// `POST /v1/events`, NDJSON bodies of 1,000 events.
    pub native: Option<Rate>,
    /// `POST /fhir`, batch Bundles of 100 R4 AuditEvents.
    pub fhir: Option<Rate>,
    /// ATNA syslog over TLS, one DICOM AuditMessage per frame.
    pub atna: Option<Rate>,
    /// `GET /v1/export` per format name.
    pub export: Vec<(String, Rate)>,
    /// Goals and verdicts.
    pub goals: Vec<Goal>,
    /// Parts that could not be measured.
    pub errors: Vec<String>,
}

/// Writes the workload of `n` events to `path` (synced, readable by the server).
fn generate(n: u64, seed: u64, path: &Path) -> Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    generator::write_workload::<_, Vec<u8>>(Config::hospital(n, seed), &mut w, None)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// The events of `ndjson` as batch Bundles of `FHIR_BUNDLE` R4 AuditEvents (BALP, the
/// mapping `GET /fhir` answers with).
fn fhir_bundles(ndjson: &Path) -> Result<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut entries = Vec::with_capacity(FHIR_BUNDLE);
    let flush = |entries: &mut Vec<Value>, out: &mut Vec<Bytes>| -> Result<()> {
        if !entries.is_empty() {
            let b = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
            out.push(Bytes::from(serde_json::to_vec(&b)?));
            entries.clear();
        }
        Ok(())
    };
    for line in BufReader::new(File::open(ndjson)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let ae = to_audit_event(&serde_json::from_str::<Value>(&line)?, FhirVersion::R4);
        entries.push(json!({"resource": ae, "request": {"method": "POST", "url": "AuditEvent"}}));
        if entries.len() == FHIR_BUNDLE {
            flush(&mut entries, &mut out)?;
        }
    }
    flush(&mut entries, &mut out)?;
    Ok(out)
}

/// Posts `bodies` to `path` on a fresh data dir; checks the log then holds `n` more events.
fn http_ingest(
    bin: &Path,
    data: &Path,
    path: &str,
    media: &'static str,
    bodies: Vec<Bytes>,
    (n, clients): (u64, usize),
) -> Result<Rate> {
    recall(bin, data, &["init"])?;
    let writer = key(bin, data, "writer")?;
    let bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    sync_all();
    let (server, _) = Server::start(bin, data)?;
    let http = client()?;
    let before = log_events(&http, &server.url)?;
    let cpu = server.cpu_secs();
    let endpoint = format!("{}{path}", server.url);
    let (secs, _) = ingest(&endpoint, media, &writer, Arc::new(bodies), clients)?;
    let cpu_us = cpu
        .zip(server.cpu_secs())
        .map(|(a, b)| (b - a) * 1e6 / n as f64);
    wait_for_log(&http, &server.url, before + n)?;
    server.stop()?;
    Ok(Rate {
        events: n,
        secs,
        cpu_us_per_event: cpu_us,
        bytes,
        client_cpu_us_per_event: None,
    })
}

/// Waits (at most a minute) until the log holds `n` events: the acknowledged events are
/// durable, `/metrics` reads the store, so a shortfall means events were dropped.
fn wait_for_log(http: &reqwest::blocking::Client, url: &str, n: u64) -> Result<()> {
    let started = Instant::now();
    loop {
        let have = log_events(http, url)?;
        if have >= n {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the log holds {have} events, {n} expected");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ATNA TLS ingest of `ndjson` on a fresh data dir (`atna.rs`), timed until the log
/// holds every event.
fn atna_ingest(
    bin: &Path,
    data: &Path,
    workdir: &Path,
    ndjson: &Path,
    conns: usize,
) -> Result<Rate> {
    recall(bin, data, &["init"])?;
    key(bin, data, "writer")?;
    let port = crate::atna::free_port()?;
    crate::atna::configure(data, TENANT, port)?;
    let (files, n) = crate::atna::frames(ndjson, workdir, conns)?;
    let bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    sync_all();
    let (server, _) = Server::start(bin, data)?;
    let http = client()?;
    let size = || log_events(&http, &server.url);
    let before = size()?;
    let cpu = server.cpu_secs();
    let secs = crate::atna::send(port, &files, before + n, size)?;
    let cpu_us = cpu
        .zip(server.cpu_secs())
        .map(|(a, b)| (b - a) * 1e6 / n as f64);
    server.stop()?;
    for f in &files {
        let _ = fs::remove_file(f);
    }
    Ok(Rate {
        events: n,
        secs,
        cpu_us_per_event: cpu_us,
        bytes,
        client_cpu_us_per_event: None,
    })
}

/// Imports `ndjson` (`n` events) into a fresh data dir, then streams `GET /v1/export`
/// in each format, counting records; returns the rate per format.
fn export(bin: &Path, data: &Path, ndjson: &Path, n: u64) -> Result<Vec<(String, Rate)>> {
    recall(bin, data, &["init"])?;
    let auditor = key(bin, data, "auditor")?;
    let file = ndjson.to_str().context("path not UTF-8")?;
    recall(bin, data, &["import", "--tenant", TENANT, file])?;
    sync_all();
    let (server, _) = Server::start(bin, data)?;
    // The open indexes the imported log; measure the export, not that backlog.
    server.settle();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let mut out = Vec::new();
    for format in EXPORT_FORMATS {
        eprintln!("recall: GET /v1/export?format={format} over {n} events");
        let cpu = server.cpu_secs();
        let client_cpu = proc_cpu_secs("self");
        let started = Instant::now();
        let mut r = http
            .get(format!("{}/v1/export?format={format}", server.url))
            .bearer_auth(&auditor)
            .send()?;
        if !r.status().is_success() {
            bail!("export {format}: HTTP {}: {}", r.status(), r.text()?);
        }
        let (bytes, lines) = drain(&mut r)?;
        let secs = started.elapsed().as_secs_f64();
        let per_event =
            |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) * 1e6 / n as f64);
        let cpu_us = per_event(cpu, server.cpu_secs());
        let client_cpu_us = per_event(client_cpu, proc_cpu_secs("self"));
        // CSV opens with a header row; recall's own events (the key's creation, the
        // server's start) are in the tenant's log too.
        let records = lines - u64::from(format == "csv");
        if records < n {
            bail!("export {format}: {records} records, at least {n} expected");
        }
        let rate = Rate {
            events: n,
            secs,
            cpu_us_per_event: cpu_us,
            client_cpu_us_per_event: client_cpu_us,
            bytes,
        };
        out.push((format.to_owned(), rate));
    }
    server.stop()?;
    Ok(out)
}

/// Reads a body to its end; returns (bytes, newlines).
fn drain(r: &mut impl Read) -> Result<(u64, u64)> {
    let mut buf = vec![0u8; 1 << 16];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok((bytes, lines));
        }
        bytes += k as u64;
        lines += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Runs the interop benchmark; prints the table and returns the report.
pub fn interop(opts: &InteropOptions) -> Result<InteropReport> {
    if opts.export_events == 0 {
        bail!("--export-events must be at least 1");
    }
    let bin = recall_cli::locate(opts.recall.as_deref())?;
    let (workdir, temp) = crate::report::workdir(opts.workdir.as_deref(), "recall-interop-")?;
    let (ndjson, export_ndjson) = (workdir.join("events.ndjson"), workdir.join("export.ndjson"));
    let dirs = [
        "recall-native",
        "recall-fhir",
        "recall-atna",
        "recall-export",
    ]
    .map(|d| workdir.join(d));
    if let Some(p) = dirs.iter().find(|p| p.exists()) {
        bail!(
            "{} exists: remove it or choose another --workdir",
            p.display()
        );
    }
    let mut rep = InteropReport {
        events: opts.events,
        export_events: opts.export_events,
        seed: opts.seed,
        ..Default::default()
    };
    eprintln!(
        "generating {} + {} events in {}",
        opts.events,
        opts.export_events,
        workdir.display()
    );
    generate(opts.events, opts.seed, &ndjson)?;
    generate(opts.export_events, opts.seed, &export_ndjson)?;
    let n = (opts.events, opts.clients);
    let mut note = |what: &str, r: Result<Rate>| match r {
        Ok(rate) => Some(rate),
        Err(e) => {
            rep.errors.push(format!("{what}: {e:#}"));
            None
        }
    };
    // `--events 0`: the export phase alone.
    if opts.events > 0 {
        eprintln!("recall: native NDJSON ingest");
        let native =
            bodies(&ndjson, 1000).map(|b| b.into_iter().map(Bytes::from).collect::<Vec<_>>());
        let native = native.and_then(|b| http_ingest(&bin, &dirs[0], "/v1/events", NDJSON, b, n));
        let native = note("native ingest", native);
        eprintln!("recall: FHIR batch Bundles of {FHIR_BUNDLE}");
        let fhir = fhir_bundles(&ndjson)
            .and_then(|b| http_ingest(&bin, &dirs[1], "/fhir", "application/fhir+json", b, n));
        let fhir = note("FHIR ingest", fhir);
        eprintln!("recall: ATNA TLS ingest over {} connections", opts.clients);
        let atna = note(
            "ATNA ingest",
            atna_ingest(&bin, &dirs[2], &workdir, &ndjson, opts.clients),
        );
        (rep.native, rep.fhir, rep.atna) = (native, fhir, atna);
    }
    match export(&bin, &dirs[3], &export_ndjson, opts.export_events) {
        Ok(x) => rep.export = x,
        Err(e) => rep.errors.push(format!("export: {e:#}")),
    }
    rep.finish();
    println!("{rep}");
    if let Some(path) = &opts.json {
        crate::report::write_json(path, &rep)?;
    }
    let mut created: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    created.extend([ndjson.as_path(), export_ndjson.as_path()]);
    crate::report::finish_workdir(temp, &workdir, opts.keep, &created);
    if !rep.errors.is_empty() {
        bail!("not everything was measured: {}", rep.errors.join("; "));
    }
    Ok(rep)
}

impl InteropReport {
    /// Computes the goals.
    pub fn finish(&mut self) {
        let native = self.native.map(|r| r.eps());
        let share = |r: Option<Rate>| r.zip(native).map(|(r, n)| r.eps() / n);
        let goal = |goal: String, value: Option<f64>, pass: fn(f64) -> bool| Goal {
            goal,
            value,
            verdict: match value {
                None => "n/a",
                Some(v) if pass(v) => "PASS",
                Some(_) => "MISS",
            },
        };
        let export = self.export.first().map(|(_, r)| r.eps());
        self.goals = vec![
            goal(
                "FHIR Bundle ingest >= 50% of native NDJSON".into(),
                share(self.fhir),
                |v| v >= GOAL_INGEST_SHARE,
            ),
            goal(
                "ATNA TLS ingest >= 50% of native NDJSON".into(),
                share(self.atna),
                |v| v >= GOAL_INGEST_SHARE,
            ),
            goal(
                format!("native export >= {} events/s", thousands(GOAL_EXPORT_EPS)),
                export,
                |v| v >= GOAL_EXPORT_EPS,
            ),
        ];
    }
}

impl fmt::Display for InteropReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let native = self.native.map(|r| r.eps());
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<36} {:>10} {:>9} {:>11} {:>10} {:>8} {:>10}",
            "measure", "events", "seconds", "events/s", "CPU us/ev", "vs native", "client us"
        );
        let mut row = |name: &str, r: Option<Rate>, base: Option<f64>| {
            let Some(r) = r else {
                let _ = writeln!(t, "{name:<36} {:>10}", "-");
                return;
            };
            let cpu = r
                .cpu_us_per_event
                .map(|c| format!("{c:.1}"))
                .unwrap_or("-".into());
            let share = base
                .map(|b| format!("{:.2}x", r.eps() / b))
                .unwrap_or_default();
            let client = r
                .client_cpu_us_per_event
                .map(|c| format!("{c:.1}"))
                .unwrap_or_default();
            let _ = writeln!(
                t,
                "{name:<36} {:>10} {:>9.2} {:>11} {cpu:>10} {share:>8} {client:>10}",
                thousands(r.events as f64),
                r.secs,
                thousands(r.eps()),
            );
        };
        row("ingest native NDJSON (1,000/body)", self.native, None);
        row("ingest FHIR batch Bundle (100/body)", self.fhir, native);
        row("ingest ATNA syslog over TLS", self.atna, native);
        for (format, r) in &self.export {
            row(&format!("export {format}"), Some(*r), None);
        }
        writeln!(
            f,
            "recall-bench interop: {} events per ingest, {} exported, seed {}\n",
            thousands(self.events as f64),
            thousands(self.export_events as f64),
            self.seed
        )?;
        write!(f, "{}", t.trim_end_matches(' '))?;
        for e in &self.errors {
            writeln!(f, "not measured: {e}")?;
        }
        writeln!(f, "\ngoals")?;
        crate::report::write_goals(f, &self.goals, 46)
    }
}
