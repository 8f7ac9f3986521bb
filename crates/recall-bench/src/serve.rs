//! `recall-bench serve-bench`: the service measurements against the PostgreSQL peer on the
//! same data: HTTP batch ingest, single-event latency at a fixed rate (open loop), patient
//! queries (typical and heavy) over a 6-month range, and bytes per event with indexes.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use reqwest::blocking::Client;
use serde::Serialize;

use crate::generator::{self, Config, Event, Generator, START_MS};
use crate::peer::{self, Cluster};
use crate::recall_cli::{self, disk_usage};
use crate::report::thousands;
use crate::run::{TENANT, sync_all};

/// The media type of native NDJSON bodies.
pub(crate) const NDJSON: &str = "application/x-ndjson";
/// Goal: HTTP batch ingest (1,000-event NDJSON bodies, durable acks), events/s.
pub const GOAL_INGEST_EPS: f64 = 150_000.0;
/// Goal: single-event POST p99 at the fixed rate, milliseconds.
pub const GOAL_SINGLE_P99_MS: f64 = 5.0;
/// Goal: typical patient query p99 / the peer's.
pub const GOAL_TYPICAL_RATIO: f64 = 1.0;
/// Goal: heavy patient query p99 / the peer's.
pub const GOAL_HEAVY_RATIO: f64 = 0.5;
/// Goal: recall data dir bytes/event / the peer's table + indexes.
pub const GOAL_BYTES_RATIO: f64 = 0.5;
/// The peer's `shared_buffers` (peer::SERVER_SETTINGS), given to recall's block cache too.
pub const PEER_BUFFER_MB: usize = 1024;
/// Rows in the window that make a patient "heavy".
pub const HEAVY_ROWS: u64 = 2_000;
/// The query window: 6 months from the workload's start (2025-11-01 .. 2026-05-01).
pub const WINDOW_MS: (i64, i64) = (START_MS, 1_777_593_600_000);

/// Options of `serve-bench`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Events in the workload (ingested over HTTP, and imported for the query part).
    pub events: u64,
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
    /// Events per NDJSON body.
    pub batch: usize,
    /// Concurrent ingest clients.
    pub ingest_clients: usize,
    /// Single-event rate, requests/s.
    pub rate: u32,
    /// Single-event phase length, seconds.
    pub latency_secs: f64,
    /// Sender threads of the single-event phase.
    pub latency_threads: usize,
    /// Queries per patient class and side.
    pub queries: usize,
    /// Skip the PostgreSQL peer.
    pub skip_peer: bool,
}

/// Latency percentiles of one series, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub n: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

impl Latency {
    pub(crate) fn of(mut ms: Vec<f64>) -> Self {
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
        Self {
            n: ms.len(),
            p50_ms: q(0.50),
            p99_ms: q(0.99),
            max_ms: ms[ms.len() - 1],
        }
    }
}

/// One patient class: who was queried and how long it took on each side.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PatientClass {
    /// Patients queried (round robin).
    pub patients: Vec<String>,
    /// Rows per query in the window (of the first patient; all listed have this many or more).
    pub rows: Vec<u64>,
    /// recall: all pages of `GET /v1/events`.
    pub recall: Option<Latency>,
    /// The peer: the SQL query through psql (`\timing`).
    pub peer: Option<Latency>,
    /// The peer doing what recall does per query: the SELECT and an audit-row INSERT in
    /// one committed transaction (synchronous commit), timed as the sum of its statements.
    pub peer_audited: Option<Latency>,
}

/// Everything `serve-bench` measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServeReport {
    /// Events in the workload.
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// HTTP ingest: events/s from the first send to the last 2xx.
    pub ingest_eps: Option<f64>,
    /// HTTP ingest wall clock, seconds.
    pub ingest_secs: Option<f64>,
    /// Server CPU time (user + system, all threads) per ingested event, microseconds:
    /// steadier than events/s on a busy machine.
    pub ingest_cpu_us_per_event: Option<f64>,
    /// Seconds after the bulk ingest until the server was idle (indexing and compaction
    /// of the backlog done), before the single-event phase started.
    pub settle_secs: Option<f64>,
    /// Seconds after the query server was listening until it was idle (fjall's flushes
    /// and compactions of the index just built), before the queries started.
    pub query_settle_secs: Option<f64>,
    /// Requests answered 429/503 and retried during ingest.
    pub ingest_retries: u64,
    /// Single-event phase: target rate, requests/s.
    pub single_rate: u32,
    /// Single-event latency from the scheduled send time to the response.
    pub single: Option<Latency>,
    /// Single-event requests that did not get a 2xx.
    pub single_errors: u64,
    /// `recall import` wall clock for the query data, seconds.
    pub import_secs: Option<f64>,
    /// `recall serve` start (open + index) until it listens, seconds.
    pub serve_open_secs: Option<f64>,
    /// The typical patient class.
    pub typical: PatientClass,
    /// The heavy patient class.
    pub heavy: PatientClass,
    /// Disk space of the recall data dir (log + index + keystore) after the query part.
    pub recall_data_bytes: Option<u64>,
    /// Peer table + indexes, bytes.
    pub peer_total_bytes: Option<u64>,
    /// Peer rows.
    pub peer_rows: Option<u64>,
    /// Goals and verdicts.
    pub goals: Vec<crate::report::Goal>,
    /// Errors of parts that could not be measured.
    pub errors: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
}

/// A running `recall serve`; killed when dropped unless stopped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    /// Set when the server's log says its first integrity run ended (passed or not).
    verified: Arc<AtomicBool>,
}

impl Server {
    pub(crate) fn start(bin: &Path, data: &Path) -> Result<(Self, f64)> {
        // The memory budget of the peer's shared_buffers, for decrypted blocks.
        let cache = PEER_BUFFER_MB.to_string();
        Self::start_with(bin, data, &[("RECALL_SERVER_CACHE_MB", &cache)])
    }

    /// Starts the server with these environment settings.
    pub(crate) fn start_with(bin: &Path, data: &Path, env: &[(&str, &str)]) -> Result<(Self, f64)> {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("RECALL_DATA")
            .envs(env.iter().copied())
            // Warnings, and the integrity run's end, which `settle` waits for.
            .env("RUST_LOG", "warn,recall_server::integrity=info")
            // A slow workflow (compliance) is measured, not cut off at the default 30 s.
            .env("RECALL_SERVER_REQUEST_TIMEOUT_SECS", "3600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {} serve", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = mpsc::channel();
        let verified = Arc::new(AtomicBool::new(false));
        let seen = verified.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("integrity verified") || line.contains("integrity run ") {
                    seen.store(true, Ordering::Relaxed);
                }
                match line.strip_prefix("recall listening on ") {
                    Some(addr) => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(addr.trim().to_owned());
                        }
                    }
                    None => eprintln!("server: {line}"),
                }
            }
        });
        let mut server = Self {
            child,
            url: String::new(),
            verified,
        };
        let addr = rx
            .recv_timeout(Duration::from_secs(3600))
            .map_err(|_| anyhow!("recall serve did not start"))?;
        server.url = format!("http://{addr}");
        Ok((server, started.elapsed().as_secs_f64()))
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the server has used so far, from `/proc`.
    pub(crate) fn cpu_secs(&self) -> Option<f64> {
        proc_cpu_secs(&self.child.id().to_string())
    }

    /// Waits until the server has ended its first integrity run (it starts up to 30 s
    /// after the server does and reads the whole log) and then used under 5% of a core
    /// over a second, at most 10 min in all: a phase measures a steady service, not the
    /// bulk load's backlog nor the start-up verification.
    pub(crate) fn settle(&self) -> f64 {
        let started = Instant::now();
        while !self.verified.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(600)
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut last = self.cpu_secs();
        while started.elapsed() < Duration::from_secs(600) {
            std::thread::sleep(Duration::from_secs(1));
            let now = self.cpu_secs();
            match (last, now) {
                (Some(a), Some(b)) if b - a < 0.05 => break,
                (_, None) => break,
                _ => last = now,
            }
        }
        started.elapsed().as_secs_f64()
    }

    /// SIGTERM and wait for a clean exit.
    pub(crate) fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.wait()?;
        std::mem::forget(self);
        if !status.success() {
            bail!("recall serve exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `recall --data DATA args…`, returns stdout; fails unless exit 0.
/// CPU seconds (user + system, all threads) process `pid` (or `self`) has used so far,
/// from `/proc`.
pub(crate) fn proc_cpu_secs(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // /proc reports clock ticks in USER_HZ, which is 100 on Linux (x86_64, aarch64).
    Some(ticks / 100.0)
}

pub(crate) fn recall(bin: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "recall {} exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn key(bin: &Path, data: &Path, role: &str) -> Result<String> {
    new_key(bin, data, &["--role", role, "--new-tenant"])
}

/// `recall keys create --tenant bench ARGS…`; returns the key it printed.
pub(crate) fn new_key(bin: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let mut all = vec!["keys", "create", "--tenant", TENANT];
    all.extend_from_slice(args);
    let out = recall(bin, data, &all)?;
    out.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_owned)
        .context("keys create printed no key")
}

pub(crate) fn client() -> Result<Client> {
    Ok(Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()?)
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    generator::push_rfc3339_millis(&mut v, ms);
    String::from_utf8(v).unwrap_or_default()
}

/// Posts `bodies` (of media type `media`) to `endpoint` from `clients` threads; returns
/// (seconds, retries). Bodies are shared, not copied per request: a 400 KB copy each time
/// cost the client more CPU (fresh pages zeroed by the kernel) than parsing the answers,
/// on the cores the server needs.
pub(crate) fn ingest(
    endpoint: &str,
    media: &'static str,
    key: &str,
    bodies: Arc<Vec<Bytes>>,
    clients: usize,
) -> Result<(f64, u64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients.max(1))
        .map(|_| {
            let (bodies, next) = (bodies.clone(), next.clone());
            let (url, key) = (endpoint.to_owned(), key.to_owned());
            std::thread::spawn(move || -> Result<u64> {
                let http = client()?;
                let mut retries = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return Ok(retries);
                    };
                    loop {
                        let r = http
                            .post(&url)
                            .header("content-type", media)
                            .bearer_auth(&key)
                            .body(body.clone())
                            .send()?;
                        let s = r.status();
                        if s.is_success() {
                            break;
                        }
                        if s.as_u16() == 429 || s.as_u16() == 503 {
                            retries += 1;
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        bail!("batch {i}: HTTP {s}: {}", r.text().unwrap_or_default());
                    }
                }
            })
        })
        .collect();
    let mut retries = 0;
    for h in handles {
        retries += h.join().map_err(|_| anyhow!("ingest thread panicked"))??;
    }
    Ok((started.elapsed().as_secs_f64(), retries))
}

/// Open loop: request i is due at start + i/rate; latency is from that time to the response.
fn single_events(
    url: &str,
    key: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: u32,
    threads: usize,
) -> Result<(Latency, u64)> {
    let threads = threads.max(1);
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now() + Duration::from_millis(200);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let bodies = bodies.clone();
            let (url, key) = (format!("{url}/v1/events"), key.to_owned());
            std::thread::spawn(move || -> Result<(Vec<f64>, u64)> {
                let http = client()?;
                let (mut ms, mut errors) = (Vec::new(), 0);
                for i in (t..bodies.len()).step_by(threads) {
                    let due = start + interval * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let ok = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .bearer_auth(&key)
                        .body(bodies[i].clone())
                        .send()
                        .is_ok_and(|r| r.status().is_success());
                    ms.push(due.elapsed().as_secs_f64() * 1e3);
                    errors += u64::from(!ok);
                }
                Ok((ms, errors))
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for h in handles {
        let (ms, e) = h.join().map_err(|_| anyhow!("sender thread panicked"))??;
        all.extend(ms);
        errors += e;
    }
    Ok((Latency::of(all), errors))
}

/// A page of `GET /v1/events` as the client takes it: the JSON checked whole and split
/// into one raw value per event, not decoded into objects — as libpq hands psql each
/// row's values as raw text (the peer's `\timing` covers that much).
#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    events: Vec<&'a serde_json::value::RawValue>,
    next_cursor: Option<String>,
}

/// All pages of one patient's events in the window; returns the rows read.
fn recall_patient(http: &Client, url: &str, key: &str, patient: &str) -> Result<u64> {
    let (from, to) = (rfc3339(WINDOW_MS.0), rfc3339(WINDOW_MS.1));
    let mut cursor: Option<String> = None;
    let mut rows = 0;
    loop {
        let mut q = vec![
            ("patient", patient),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("limit", "1000"),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c.as_str()));
        }
        let r = http
            .get(format!("{url}/v1/events"))
            .query(&q)
            .bearer_auth(key)
            .send()?;
        let s = r.status();
        if !s.is_success() {
            bail!("search: HTTP {s}: {}", r.text().unwrap_or_default());
        }
        let body = r.bytes()?;
        let page: Page<'_> = serde_json::from_slice(&body)?;
        rows += page.events.len() as u64;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(rows),
        }
    }
}

fn recall_queries(url: &str, key: &str, patients: &[String], n: usize) -> Result<Latency> {
    let http = client()?;
    // One unmeasured pass per patient (connection, caches as a steady service has them).
    for p in patients {
        recall_patient(&http, url, key, p)?;
    }
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        recall_patient(&http, url, key, &patients[i % patients.len()])?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Latency::of(ms))
}

/// The peer's query; `ORDER BY time` (the table has no sequence column).
pub fn peer_query_sql(patient: &str) -> String {
    format!(
        "SELECT * FROM audit_log WHERE patient_id = '{}' AND time >= '{}' AND time < '{}' ORDER BY time;",
        patient.replace('\'', "''"),
        rfc3339(WINDOW_MS.0),
        rfc3339(WINDOW_MS.1)
    )
}

/// What the peer runs for one query; with `audited`, also the audit row recall writes.
fn peer_statements(patient: &str, audited: bool) -> String {
    if !audited {
        return format!("{}\n", peer_query_sql(patient));
    }
    let p = patient.replace('\'', "''");
    format!(
        "BEGIN;\nINSERT INTO audit_log (time, tenant, actor_id, action, patient_id, purpose, detail) \
         VALUES (now(), '{TENANT}', 'bench-auditor', 'search', '{p}', 'HCOMPL', \
         '{{\"query\": {{\"patient\": \"{p}\"}}}}');\n{}\nCOMMIT;\n",
        peer_query_sql(patient)
    )
}

fn peer_queries(
    cluster: &Cluster,
    patients: &[String],
    n: usize,
    audited: bool,
) -> Result<Latency> {
    let mut script = String::from("\\o /dev/null\n");
    for p in patients {
        script.push_str(&peer_statements(p, audited));
    }
    script.push_str("\\timing on\n");
    for i in 0..n {
        script.push_str(&peer_statements(&patients[i % patients.len()], audited));
    }
    let out = cluster.psql_script(&script)?;
    let timings = peer::timings(&out);
    let per_query = if audited { 4 } else { 1 };
    if timings.len() != n * per_query {
        bail!(
            "psql reported {} timings, expected {}",
            timings.len(),
            n * per_query
        );
    }
    Ok(Latency::of(
        timings.chunks(per_query).map(|c| c.iter().sum()).collect(),
    ))
}

/// Generates the workload files and counts rows per patient inside the query window.
fn generate(cfg: Config, ndjson: &Path, csv: &Path) -> Result<HashMap<String, u64>> {
    let (mut j, mut c) = (
        BufWriter::new(File::create(ndjson)?),
        BufWriter::new(File::create(csv)?),
    );
    generator::write_workload(cfg, &mut j, Some((&mut c, TENANT)))?;
    for w in [j, c] {
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    fs::set_permissions(csv, fs::Permissions::from_mode(0o644))?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut g = Generator::new(cfg);
    let mut ev = Event::default();
    while g.next_into(&mut ev) {
        if !ev.patient_id.is_empty() && (WINDOW_MS.0..WINDOW_MS.1).contains(&ev.time_ms) {
            *counts.entry(ev.patient_id.clone()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Splits NDJSON into bodies of `batch` lines.
pub(crate) fn bodies(ndjson: &Path, batch: usize) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut lines = 0;
    for line in BufReader::new(File::open(ndjson)?).split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        cur.extend_from_slice(&line);
        cur.push(b'\n');
        lines += 1;
        if lines == batch.max(1) {
            out.push(std::mem::take(&mut cur));
            lines = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Single events (one JSON object each) of a different seed, so no id repeats the workload's.
fn single_bodies(seed: u64, n: u64) -> Vec<Vec<u8>> {
    let mut g = Generator::new(Config::hospital(n.max(1), seed ^ 0x5eed_0000_0000));
    let mut ev = Event::default();
    let mut out = Vec::with_capacity(n as usize);
    while g.next_into(&mut ev) {
        let mut line = Vec::with_capacity(512);
        generator::write_json_line(&ev, &mut line);
        while line.last() == Some(&b'\n') {
            line.pop();
        }
        out.push(line);
    }
    out
}

/// Patients with their rows in the window.
type Counted = Vec<(String, u64)>;

/// Typical: patients around the median count; heavy: patients with ≥ HEAVY_ROWS rows, or
/// (if none) the heaviest few, with a note.
fn pick_patients(counts: &HashMap<String, u64>, notes: &mut Vec<String>) -> (Counted, Counted) {
    let mut all: Vec<(String, u64)> = counts.iter().map(|(p, n)| (p.clone(), *n)).collect();
    all.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    if all.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mid = all.len() / 2;
    let typical: Vec<_> = all[mid.saturating_sub(5)..(mid + 5).min(all.len())].to_vec();
    let heavy_all: Vec<_> = all
        .iter()
        .filter(|(_, n)| *n >= HEAVY_ROWS)
        .cloned()
        .collect();
    let heavy = if heavy_all.is_empty() {
        let top: Vec<_> = all.iter().rev().take(5).cloned().collect();
        notes.push(format!(
            "no patient has >= {} rows in the window at this size (heaviest: {} rows); the heavy class uses the 5 heaviest and its goal is not meaningful",
            thousands(HEAVY_ROWS as f64),
            top[0].1
        ));
        top
    } else {
        heavy_all.into_iter().rev().take(10).collect()
    };
    (typical, heavy)
}

/// Runs the service benchmark; prints the table and returns the report.
pub fn serve_bench(opts: &ServeOptions) -> Result<ServeReport> {
    if opts.events == 0 {
        bail!("--events must be at least 1");
    }
    let bin = recall_cli::locate(opts.recall.as_deref())?;
    let (workdir, temp) = crate::report::workdir(opts.workdir.as_deref(), "recall-serve-bench-")?;
    let (ndjson, csv) = (workdir.join("events.ndjson"), workdir.join("events.csv"));
    let (ingest_data, query_data, pg_root) = (
        workdir.join("recall-ingest"),
        workdir.join("recall-query"),
        workdir.join("pg"),
    );
    for p in [&ingest_data, &query_data, &pg_root] {
        if p.exists() {
            bail!(
                "{} exists: remove it or choose another --workdir",
                p.display()
            );
        }
    }
    let mut rep = ServeReport {
        events: opts.events,
        seed: opts.seed,
        single_rate: opts.rate,
        ..Default::default()
    };
    eprintln!(
        "generating {} events (seed {}) in {}",
        opts.events,
        opts.seed,
        workdir.display()
    );
    let cfg = Config::hospital(opts.events, opts.seed);
    let counts = generate(cfg, &ndjson, &csv)?;
    let (typical, heavy) = pick_patients(&counts, &mut rep.notes);
    let names = |v: &[(String, u64)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    rep.typical.patients = names(&typical);
    rep.typical.rows = typical.iter().map(|x| x.1).collect();
    rep.heavy.patients = names(&heavy);
    rep.heavy.rows = heavy.iter().map(|x| x.1).collect();

    // 1 + 2: HTTP ingest, then single events at a fixed rate, on a fresh data dir.
    let r = (|| -> Result<()> {
        recall(&bin, &ingest_data, &["init"])?;
        let writer = key(&bin, &ingest_data, "writer")?;
        let batches = Arc::new(
            bodies(&ndjson, opts.batch)?
                .into_iter()
                .map(Bytes::from)
                .collect::<Vec<_>>(),
        );
        let singles = Arc::new(single_bodies(
            opts.seed,
            (f64::from(opts.rate) * opts.latency_secs).ceil() as u64,
        ));
        sync_all();
        let (server, _) = Server::start(&bin, &ingest_data)?;
        eprintln!(
            "recall: HTTP ingest, {} bodies of {} from {} clients",
            batches.len(),
            opts.batch,
            opts.ingest_clients
        );
        let cpu_before = server.cpu_secs();
        let endpoint = format!("{}/v1/events", server.url);
        let (secs, retries) = ingest(&endpoint, NDJSON, &writer, batches, opts.ingest_clients)?;
        if let (Some(a), Some(b)) = (cpu_before, server.cpu_secs()) {
            rep.ingest_cpu_us_per_event = Some((b - a) * 1e6 / opts.events as f64);
        }
        rep.ingest_secs = Some(secs);
        rep.ingest_eps = Some(opts.events as f64 / secs);
        rep.ingest_retries = retries;
        rep.settle_secs = Some(server.settle());
        eprintln!(
            "recall: single events at {}/s for {} s from {} threads",
            opts.rate, opts.latency_secs, opts.latency_threads
        );
        let (lat, errors) = single_events(
            &server.url,
            &writer,
            singles,
            opts.rate,
            opts.latency_threads,
        )?;
        rep.single = Some(lat);
        rep.single_errors = errors;
        server.stop()
    })();
    if let Err(e) = r {
        rep.errors.push(format!("recall ingest/latency: {e:#}"));
    }
    let _ = fs::remove_dir_all(&ingest_data);

    // 3 + 4 (recall side): import, serve (indexes on open), patient queries, size.
    let r = (|| -> Result<()> {
        recall(&bin, &query_data, &["init"])?;
        let auditor = key(&bin, &query_data, "auditor")?;
        sync_all();
        eprintln!("recall: import, serve, patient queries");
        let t = Instant::now();
        recall(
            &bin,
            &query_data,
            &[
                "import",
                "--tenant",
                TENANT,
                ndjson.to_str().context("path not UTF-8")?,
            ],
        )?;
        rep.import_secs = Some(t.elapsed().as_secs_f64());
        let (server, open) = Server::start(&bin, &query_data)?;
        rep.serve_open_secs = Some(open);
        // As the peer's queries follow its CHECKPOINT: a steady service, not the
        // compaction of an index built a moment ago.
        rep.query_settle_secs = Some(server.settle());
        if !typical.is_empty() {
            rep.typical.recall = Some(recall_queries(
                &server.url,
                &auditor,
                &rep.typical.patients,
                opts.queries,
            )?);
            rep.heavy.recall = Some(recall_queries(
                &server.url,
                &auditor,
                &rep.heavy.patients,
                opts.queries,
            )?);
        }
        server.stop()?;
        rep.recall_data_bytes = Some(disk_usage(&query_data)?);
        Ok(())
    })();
    if let Err(e) = r {
        rep.errors.push(format!("recall queries: {e:#}"));
    }

    // 3 + 4 (peer side).
    if opts.skip_peer {
        rep.errors.push("peer skipped (--skip-peer)".into());
    } else {
        let r = (|| -> Result<()> {
            let bindir = peer::locate_bindir()
                .context("PostgreSQL server binaries not found (initdb, pg_ctl)")?;
            sync_all();
            eprintln!("peer: COPY, sizes, patient queries");
            let cluster = Cluster::start(&bindir, &pg_root, opts.keep)?;
            cluster.psql(peer::SCHEMA_SQL)?;
            cluster.psql(&peer::copy_sql(&csv))?;
            cluster.psql("CHECKPOINT")?;
            cluster.psql("ANALYZE audit_log")?;
            let sizes = cluster
                .psql("SELECT count(*), pg_total_relation_size('audit_log') FROM audit_log")?;
            let n: Vec<u64> = sizes
                .split('|')
                .map(|x| x.trim().parse())
                .collect::<Result<_, _>>()?;
            rep.peer_rows = n.first().copied();
            rep.peer_total_bytes = n.get(1).copied();
            if !typical.is_empty() {
                for audited in [false, true] {
                    for class in [&mut rep.typical, &mut rep.heavy] {
                        let l = peer_queries(&cluster, &class.patients, opts.queries, audited)?;
                        *(if audited {
                            &mut class.peer_audited
                        } else {
                            &mut class.peer
                        }) = Some(l);
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            rep.errors.push(format!("peer: {e:#}"));
        }
    }

    rep.notes.push("recall queries go over HTTP (JSON pages of 1,000, cursor followed; each page checked as JSON and split into raw events, not decoded into objects, as libpq hands psql raw text values); the peer's through one psql session (\\timing: client-side, rows fetched, output discarded); one unmeasured pass per patient first on both sides; both sides start idle (recall after its index's flushes and compactions, the peer after CHECKPOINT)".into());
    rep.notes.push(
        "the peer's query orders by time only (the audit_log table has no sequence column)".into(),
    );
    rep.notes.push("recall bytes: disk space (allocated blocks, as du counts them) of the whole data dir after the query part, self-audit events of the searches included; the peer: pg_total_relation_size (table, indexes, TOAST; its WAL not counted)".into());
    rep.finish();
    println!("{rep}");
    if let Some(path) = &opts.json {
        crate::report::write_json(path, &rep)?;
    }
    crate::report::finish_workdir(temp, &workdir, opts.keep, &[&query_data, &ndjson, &csv]);
    if !rep.errors.iter().all(|e| e.contains("skipped")) {
        bail!("not everything was measured: {}", rep.errors.join("; "));
    }
    Ok(rep)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

impl ServeReport {
    fn recall_bpe(&self) -> Option<f64> {
        self.recall_data_bytes
            .map(|b| b as f64 / self.events.max(1) as f64)
    }
    fn peer_bpe(&self) -> Option<f64> {
        self.peer_total_bytes
            .map(|b| b as f64 / self.peer_rows.unwrap_or(self.events).max(1) as f64)
    }
    fn p99_ratio(c: &PatientClass) -> Option<f64> {
        ratio(c.recall.map(|l| l.p99_ms), c.peer.map(|l| l.p99_ms))
    }

    /// Computes the goals.
    pub fn finish(&mut self) {
        use crate::report::Goal;
        let goal = |goal: String, value: Option<f64>, pass: bool| Goal {
            goal,
            value,
            verdict: match value {
                None => "n/a",
                Some(_) if pass => "PASS",
                Some(_) => "MISS",
            },
        };
        let ingest = self.ingest_eps;
        let single = self.single.map(|l| l.p99_ms);
        let typical = Self::p99_ratio(&self.typical);
        let heavy = Self::p99_ratio(&self.heavy);
        let bytes = ratio(self.recall_bpe(), self.peer_bpe());
        self.goals = vec![
            goal(
                format!(
                    "HTTP batch ingest >= {} events/s",
                    thousands(GOAL_INGEST_EPS)
                ),
                ingest,
                ingest.is_some_and(|v| v >= GOAL_INGEST_EPS),
            ),
            goal(
                format!(
                    "single-event p99 <= {GOAL_SINGLE_P99_MS} ms at {}/s",
                    thousands(f64::from(self.single_rate))
                ),
                single,
                single.is_some_and(|v| v <= GOAL_SINGLE_P99_MS),
            ),
            goal(
                format!("typical patient p99 <= {GOAL_TYPICAL_RATIO}x the peer's"),
                typical,
                typical.is_some_and(|v| v <= GOAL_TYPICAL_RATIO),
            ),
            goal(
                format!("heavy patient p99 <= {GOAL_HEAVY_RATIO}x the peer's"),
                heavy,
                heavy.is_some_and(|v| v <= GOAL_HEAVY_RATIO),
            ),
            goal(
                format!("bytes/event with indexes <= {GOAL_BYTES_RATIO}x the peer's"),
                bytes,
                bytes.is_some_and(|v| v <= GOAL_BYTES_RATIO),
            ),
        ];
    }
}

impl fmt::Display for ServeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |x: f64| format!("{x:.2}");
        let x2 = |x: f64| format!("{x:.2}x");
        let cell =
            |x: Option<f64>, g: &dyn Fn(f64) -> String| x.map(g).unwrap_or_else(|| "-".into());
        let mut t = String::new();
        let mut row = |name: &str, a: String, p: String, r: String, hint: &str| {
            let line = format!("{name:<34} {a:>14} {p:>16} {r:>9}  {hint}");
            let _ = writeln!(t, "{}", line.trim_end());
        };
        row(
            "measure",
            "recall".into(),
            "peer (postgres)".into(),
            "ratio".into(),
            "",
        );
        row(
            "HTTP ingest events/s (batch 1,000)",
            cell(self.ingest_eps, &thousands),
            "-".into(),
            String::new(),
            "durable acks, concurrent clients",
        );
        row(
            "server CPU us/event during ingest",
            cell(self.ingest_cpu_us_per_event, &|x| format!("{x:.1}")),
            "-".into(),
            String::new(),
            "user + system, all server threads",
        );
        if let Some(l) = self.single {
            row(
                &format!(
                    "single POST p50 ms @ {}/s",
                    thousands(f64::from(self.single_rate))
                ),
                ms(l.p50_ms),
                "-".into(),
                String::new(),
                "open loop, from scheduled send",
            );
            row(
                "single POST p99 ms",
                ms(l.p99_ms),
                "-".into(),
                String::new(),
                "",
            );
            row(
                "single POST max ms",
                ms(l.max_ms),
                "-".into(),
                String::new(),
                "",
            );
        }
        for (name, c) in [("typical", &self.typical), ("heavy", &self.heavy)] {
            let rows = c.rows.iter().min().copied().unwrap_or(0);
            for (q, get) in [
                ("p50", (|l: Latency| l.p50_ms) as fn(Latency) -> f64),
                ("p99", |l: Latency| l.p99_ms),
            ] {
                let (a, p) = (c.recall.map(get), c.peer.map(get));
                row(
                    &format!("{name} patient {q} ms (>= {rows} rows)"),
                    cell(a, &ms),
                    cell(p, &ms),
                    cell(ratio(a, p), &x2),
                    "recall/peer, lower is better",
                );
                let pa = c.peer_audited.map(get);
                row(
                    &format!("  peer with its audit row, {q} ms"),
                    String::new(),
                    cell(pa, &ms),
                    cell(ratio(a, pa), &x2),
                    "same work as recall: SELECT + INSERT, one commit",
                );
            }
        }
        row(
            "bytes/event, with indexes",
            cell(self.recall_bpe(), &|x| format!("{x:.1}")),
            cell(self.peer_bpe(), &|x| format!("{x:.1}")),
            cell(ratio(self.recall_bpe(), self.peer_bpe()), &x2),
            "data dir vs table + indexes",
        );
        writeln!(
            f,
            "recall-bench serve-bench: {} events, seed {}\n",
            thousands(self.events as f64),
            self.seed
        )?;
        write!(f, "{t}")?;
        writeln!(
            f,
            "recall import {} s; serve open (index) until listening {} s, then idle after {} s; idle after the bulk ingest after {} s; ingest retries (429/503) {}; single-event errors {}",
            cell(self.import_secs, &ms),
            cell(self.serve_open_secs, &ms),
            cell(self.query_settle_secs, &ms),
            cell(self.settle_secs, &ms),
            self.ingest_retries,
            self.single_errors
        )?;
        writeln!(
            f,
            "typical patients: {:?}",
            self.typical
                .patients
                .iter()
                .zip(&self.typical.rows)
                .collect::<Vec<_>>()
        )?;
        writeln!(
            f,
            "heavy patients: {:?}",
            self.heavy
                .patients
                .iter()
                .zip(&self.heavy.rows)
                .collect::<Vec<_>>()
        )?;
        for e in &self.errors {
            writeln!(f, "not measured: {e}")?;
        }
        writeln!(f, "\ngoals")?;
        crate::report::write_goals(f, &self.goals, 46)?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

/// Events in every log, from `/metrics` (`recall_log_events`, read from the store).
pub(crate) fn log_events(http: &Client, url: &str) -> Result<u64> {
    let text = http.get(format!("{url}/metrics")).send()?.text()?;
    text.lines()
        .find_map(|l| l.strip_prefix("recall_log_events "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .context("recall_log_events missing from /metrics")
}
