//! `recall-bench compliance`: the compliance workflows of issue 16 on one large tenant —
//! a quarter's access review, a breach assessment over one system and one week, the
//! break-glass queue's first page, and a patient-access PDF of 10,000 events — each timed
//! over repeated requests against a release `recall serve`, with the server's CPU per
//! request from `/proc`, and the PostgreSQL peer's equivalent SQL where one exists.
//!
//! Invariants: the tenant is built once per work directory (`--keep` keeps it, and a
//! later run on the same `--workdir` measures it again without rebuilding); the peer's
//! answers are compared with recall's (counts), so a fast wrong answer shows.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use reqwest::blocking::Client;
use serde::Serialize;
use serde_json::{Value, json};

use crate::generator::{self, Config, Event, Generator, START_MS};
use crate::peer::{self, Cluster};
use crate::recall_cli::{self, disk_usage};
use crate::report::{Goal, thousands, write_goals};
use crate::run::{TENANT, sync_all};
use crate::serve::{Latency, Server, client, new_key, recall, rfc3339};

/// Events the patient PDF covers.
pub const PDF_EVENTS: usize = 10_000;
/// Goal of each workflow, milliseconds (p99); the queue's first page has its own.
pub const GOAL_MS: f64 = 2_000.0;
/// Goal of the break-glass queue's first page, milliseconds (p99).
pub const GOAL_QUEUE_MS: f64 = 50.0;
/// The quarter of the access review: 2026-01-01 .. 2026-04-01.
const QUARTER: (&str, &str) = ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z");
/// The assessment's week (Monday to Monday) and system.
const WEEK: (&str, &str) = ("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z");
const SYSTEM: &str = "ehr-prod";

/// The tenant options `compliance` and `console` share.
#[derive(Debug, Clone)]
pub struct TenantOptions {
    /// Events in the workload.
    pub events: u64,
    /// Workload seed.
    pub seed: u64,
    /// The `recall` binary.
    pub recall: Option<PathBuf>,
    /// Work directory (required: the tenant is kept there with `keep`, in the same
    /// layout for both benchmarks, and reused).
    pub workdir: PathBuf,
    /// Keep the tenant (and the peer's cluster, the rosters) afterwards.
    pub keep: bool,
    /// Write the figures as JSON here too.
    pub json: Option<PathBuf>,
    /// Skip the PostgreSQL peer.
    pub skip_peer: bool,
}

/// Options of `compliance`.
#[derive(Debug, Clone)]
pub struct ComplianceOptions {
    /// The tenant.
    pub tenant: TenantOptions,
    /// Measured requests per scenario and side.
    pub repeats: usize,
}

/// One workflow's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scenario {
    /// What was asked.
    pub name: String,
    /// The request recall answered.
    pub request: String,
    /// recall: wall clock per request on loopback.
    pub recall: Option<Latency>,
    /// recall server CPU (user + system, all threads) per request, ms.
    pub cpu_ms: Option<f64>,
    /// recall's answer, summarised (counts), for the comparison with the peer.
    pub answer: String,
    /// Response bytes.
    pub bytes: u64,
    /// The peer's equivalent SQL, if one exists.
    pub peer_sql: Option<String>,
    /// The peer's timing (psql `\timing`).
    pub peer: Option<Latency>,
    /// The peer's answer, summarised.
    pub peer_answer: Option<String>,
    /// p99 goal, ms.
    pub goal_ms: f64,
    /// Why recall's side was not measured.
    pub error: Option<String>,
}

/// Everything `compliance` measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ComplianceReport {
    /// The tenant and what building and opening it took.
    #[serde(flatten)]
    pub tenant: TenantBuild,
    /// recall's data dir, bytes.
    pub recall_data_bytes: Option<u64>,
    /// The PDF's patient and window.
    pub pdf_window: String,
    /// The workflows.
    pub scenarios: Vec<Scenario>,
    /// Goals and verdicts.
    pub goals: Vec<Goal>,
    /// What could not be measured.
    pub errors: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
}

/// Work directory layout (shared with `recall-bench console`, which measures the same
/// tenant).
pub(crate) struct Paths {
    ndjson: PathBuf,
    csv: PathBuf,
    workforce: PathBuf,
    patients: PathBuf,
    pub(crate) data: PathBuf,
    pg: PathBuf,
    /// Present once both rosters are in the tenant (`console` needs none and skips them).
    rosters_done: PathBuf,
}

impl Paths {
    pub(crate) fn new(w: &Path) -> Self {
        Self {
            ndjson: w.join("events.ndjson"),
            csv: w.join("events.csv"),
            workforce: w.join("workforce.csv"),
            patients: w.join("patients.csv"),
            data: w.join("recall-data"),
            pg: w.join("pg"),
            rosters_done: w.join("rosters-imported"),
        }
    }
}

/// Writes events (NDJSON and CSV) and both rosters.
fn generate(cfg: Config, p: &Paths) -> Result<()> {
    let (mut j, mut c) = (
        BufWriter::new(File::create(&p.ndjson)?),
        BufWriter::new(File::create(&p.csv)?),
    );
    generator::write_workload(cfg, &mut j, Some((&mut c, TENANT)))?;
    let mut w = BufWriter::new(File::create(&p.workforce)?);
    generator::write_workforce_csv(cfg, &mut w)?;
    let mut pr = BufWriter::new(File::create(&p.patients)?);
    generator::write_patients_csv(cfg, &mut pr)?;
    for f in [j, c, w, pr] {
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&p.csv, fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// The busiest patient and the window [START, t] holding exactly its first `n` events
/// in time order (fewer if it has fewer).
fn pdf_window(cfg: Config, n: usize) -> (String, i64, i64, usize) {
    let mut counts: std::collections::HashMap<String, Vec<i64>> = Default::default();
    let mut g = Generator::new(cfg);
    let mut ev = Event::default();
    while g.next_into(&mut ev) {
        if !ev.patient_id.is_empty() {
            counts
                .entry(ev.patient_id.clone())
                .or_default()
                .push(ev.time_ms);
        }
    }
    let (patient, mut times) = counts
        .into_iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(&a.0)))
        .unwrap_or_default();
    times.sort_unstable();
    let k = n.min(times.len());
    let end = times
        .get(k.saturating_sub(1))
        .map_or(START_MS + 1, |t| t + 1);
    // Events at the same millisecond as the last one come along.
    let rows = times.iter().filter(|t| **t < end).count();
    (patient, START_MS, end, rows)
}

/// The tenant a report measured and what building and opening it took in this run
/// (`None`: not done here); the header `compliance` and `console` share.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantBuild {
    /// Events in the tenant.
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// Whether the tenant was built in this run (else reused from a kept work dir).
    pub built: bool,
    /// Generation of events, CSV and rosters, seconds.
    pub generate_secs: Option<f64>,
    /// `recall import`, seconds.
    pub import_secs: Option<f64>,
    /// Both `recall roster import`s, seconds.
    pub roster_secs: Option<f64>,
    /// `recall serve` until listening, seconds.
    pub serve_open_secs: Option<f64>,
    /// Seconds until the server was idle after it listened.
    pub settle_secs: Option<f64>,
    /// Peer COPY + CHECKPOINT + ANALYZE, seconds.
    pub peer_load_secs: Option<f64>,
}

impl TenantBuild {
    /// `recall-bench NAME: N events, seed S`.
    pub fn title(&self, name: &str) -> String {
        format!(
            "recall-bench {name}: {} events, seed {}",
            thousands(self.events as f64),
            self.seed
        )
    }
}

impl std::fmt::Display for TenantBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.1}"));
        write!(
            f,
            "tenant built here: {}; generate {} s; import {} s; rosters {} s; serve open {} s, idle after {} s; peer load {} s",
            self.built,
            secs(self.generate_secs),
            secs(self.import_secs),
            secs(self.roster_secs),
            secs(self.serve_open_secs),
            secs(self.settle_secs),
            secs(self.peer_load_secs),
        )
    }
}

/// Makes sure the work dir holds the tenant, with its rosters if `rosters` (and the CSV
/// for a peer still to be loaded): generates and builds what is missing, reuses what a
/// `--keep` run left.
pub(crate) fn ensure_tenant(
    bin: &Path,
    p: &Paths,
    cfg: Config,
    peer: bool,
    rosters: bool,
) -> Result<TenantBuild> {
    let mut rep = TenantBuild {
        events: cfg.events,
        seed: cfg.seed,
        built: !p.data.exists(),
        ..Default::default()
    };
    let need_rosters = rosters && !p.rosters_done.exists();
    if rep.built || !p.pg.exists() && peer || need_rosters && !p.patients.exists() {
        eprintln!(
            "generating {} events, rosters (seed {})",
            cfg.events, cfg.seed
        );
        let t = Instant::now();
        generate(cfg, p)?;
        rep.generate_secs = Some(t.elapsed().as_secs_f64());
    }
    if rep.built {
        eprintln!("recall: init, import");
        build(bin, p, &mut rep)?;
    }
    if need_rosters {
        eprintln!("recall: rosters");
        import_rosters(bin, p, &mut rep)?;
    }
    Ok(rep)
}

/// Deletes the inputs and recall's data dir (the peer's cluster goes with its `Cluster`).
pub(crate) fn remove_tenant(p: &Paths) {
    for f in [
        &p.ndjson,
        &p.csv,
        &p.workforce,
        &p.patients,
        &p.rosters_done,
    ] {
        let _ = fs::remove_file(f);
    }
    let _ = fs::remove_dir_all(&p.data);
}

/// Builds the tenant: init, import. Fills the timing in `rep`.
fn build(bin: &Path, p: &Paths, rep: &mut TenantBuild) -> Result<()> {
    recall(bin, &p.data, &["init"])?;
    sync_all();
    let path = |x: &Path| x.to_str().context("path not UTF-8").map(str::to_owned);
    let t = Instant::now();
    recall(
        bin,
        &p.data,
        &["import", "--tenant", TENANT, &path(&p.ndjson)?],
    )?;
    rep.import_secs = Some(t.elapsed().as_secs_f64());
    Ok(())
}

/// Imports both rosters and marks the tenant as having them.
fn import_rosters(bin: &Path, p: &Paths, rep: &mut TenantBuild) -> Result<()> {
    let t = Instant::now();
    for (kind, file) in [("workforce", &p.workforce), ("patients", &p.patients)] {
        let f = file.to_str().context("path not UTF-8")?;
        let args = ["roster", "import", "--tenant", TENANT, "--kind", kind, f];
        recall(bin, &p.data, &args)?;
    }
    rep.roster_secs = Some(t.elapsed().as_secs_f64());
    File::create(&p.rosters_done)?;
    Ok(())
}

/// One request: (status checked) body bytes.
type Request<'a> = dyn Fn(&Client) -> Result<bytes::Bytes> + 'a;

/// Runs `req` once unmeasured, then `n` times; returns latency, CPU ms per request and
/// the first answer's body.
fn measure(
    server: &Server,
    n: usize,
    req: &Request<'_>,
) -> Result<(Latency, Option<f64>, bytes::Bytes)> {
    let http = client()?;
    let first = req(&http)?;
    let cpu0 = server.cpu_secs();
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        req(&http)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = match (cpu0, server.cpu_secs()) {
        (Some(a), Some(b)) => Some((b - a) * 1e3 / n.max(1) as f64),
        _ => None,
    };
    Ok((Latency::of(ms), cpu, first))
}

fn checked(r: reqwest::blocking::Response) -> Result<bytes::Bytes> {
    let s = r.status();
    if !s.is_success() {
        bail!("HTTP {s}: {}", r.text().unwrap_or_default());
    }
    Ok(r.bytes()?)
}

fn pick(body: &[u8], pointers: &[&str]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    pointers
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                p.trim_start_matches('/'),
                v.pointer(p).unwrap_or(&Value::Null)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Measures one workflow into `s`; a failure (a time limit, an error answer) is kept in
/// the scenario and the next workflow still runs.
fn scenario(
    server: &Server,
    n: usize,
    mut s: Scenario,
    req: &Request<'_>,
    answer: &dyn Fn(&[u8]) -> Result<String>,
) -> Scenario {
    let r =
        measure(server, n, req).and_then(|(l, cpu, body)| Ok((l, cpu, answer(&body)?, body.len())));
    match r {
        Ok((l, cpu, a, len)) => {
            (s.recall, s.cpu_ms, s.answer, s.bytes) = (Some(l), cpu, a, len as u64);
        }
        Err(e) => s.error = Some(format!("{e:#}")),
    }
    s
}

/// The four workflows against the running server, in the order of [`peer_sql`].
fn recall_side(
    server: &Server,
    key: &str,
    n: usize,
    pdf: &(String, i64, i64, usize),
) -> Vec<Scenario> {
    let url = server.url.clone();
    let get = |path: &str, q: Vec<(&'static str, String)>| {
        let (url, key, path) = (url.clone(), key.to_owned(), path.to_owned());
        move |http: &Client| {
            checked(
                http.get(format!("{url}{path}"))
                    .query(&q)
                    .bearer_auth(&key)
                    .send()?,
            )
        }
    };
    let named = |name: String, request: String, goal_ms: f64| Scenario {
        name,
        request,
        goal_ms,
        ..Default::default()
    };
    let mut out = Vec::new();
    let q = vec![("from", QUARTER.0.into()), ("to", QUARTER.1.into())];
    out.push(scenario(
        server,
        n,
        named(
            "access review, one quarter".into(),
            format!(
                "GET /v1/reports/access-review?from={}&to={}",
                QUARTER.0, QUARTER.1
            ),
            GOAL_MS,
        ),
        &get("/v1/reports/access-review", q),
        &|b| {
            Ok(pick(
                b,
                &["/totals/actors", "/totals/events", "/totals/break_glass"],
            ))
        },
    ));
    let open = json!({
        "description": "benchmark: one system, one week",
        "discovered": "2026-03-20",
        "scope": {"systems": [SYSTEM], "from": WEEK.0, "to": WEEK.1},
    });
    let post = {
        let (url, key) = (url.clone(), key.to_owned());
        move |http: &Client| {
            checked(
                http.post(format!("{url}/v1/assessments"))
                    .bearer_auth(&key)
                    .json(&open)
                    .send()?,
            )
        }
    };
    out.push(scenario(
        server,
        n,
        named(
            format!("breach assessment, {SYSTEM}, one week"),
            "POST /v1/assessments (scope: one system, one week)".into(),
            GOAL_MS,
        ),
        &post,
        &|b| Ok(pick(b, &["/figures/events", "/figures/patients"])),
    ));
    out.push(scenario(
        server,
        n,
        named(
            "break-glass queue, first page".into(),
            "GET /v1/reviews/break-glass?state=open".into(),
            GOAL_QUEUE_MS,
        ),
        &get("/v1/reviews/break-glass", vec![("state", "open".into())]),
        &|b| {
            let v: Value = serde_json::from_slice(b)?;
            let items = v["items"].as_array().map_or(0, Vec::len);
            Ok(format!(
                "items={items} newest={}",
                v.pointer("/items/0/time").unwrap_or(&Value::Null)
            ))
        },
    ));
    let q = vec![
        ("patient", pdf.0.clone()),
        ("from", rfc3339(pdf.1)),
        ("to", rfc3339(pdf.2)),
        ("format", "pdf".into()),
    ];
    out.push(scenario(
        server,
        n.div_ceil(3).max(3),
        named(
            format!("patient-access PDF, {} events", thousands(pdf.3 as f64)),
            "GET /v1/reports/patient-access?patient&from&to&format=pdf".into(),
            GOAL_MS,
        ),
        &get("/v1/reports/patient-access", q),
        &|b| {
            if !b.starts_with(b"%PDF-") {
                bail!("the patient report is not a PDF");
            }
            Ok(format!("{} KiB PDF", b.len() / 1024))
        },
    ));
    out
}

/// The peer's SQL per scenario (same order as [`recall_side`]; `None`: no equivalent).
fn peer_sql() -> [Option<String>; 4] {
    [
        Some(format!(
            "SELECT count(*), sum(events) FROM (SELECT actor_id, count(*) AS events, \
             count(DISTINCT patient_id), count(*) FILTER (WHERE purpose = 'ETREAT'), \
             count(*) FILTER (WHERE outcome = 'denied'), count(*) FILTER (WHERE outcome = 'failure'), \
             min(time), max(time) FROM audit_log WHERE time >= '{}' AND time < '{}' \
             AND patient_id IS NOT NULL GROUP BY actor_id) a;",
            QUARTER.0, QUARTER.1
        )),
        Some(format!(
            "SELECT count(*), count(DISTINCT patient_id) FROM audit_log WHERE source_system = '{SYSTEM}' \
             AND time >= '{}' AND time < '{}';",
            WEEK.0, WEEK.1
        )),
        Some(
            "SELECT count(*) FROM (SELECT id, time, actor_id, patient_id, reason FROM audit_log \
              WHERE purpose = 'ETREAT' ORDER BY time DESC LIMIT 50) q;"
                .into(),
        ),
        None,
    ]
}

/// Loads the peer (if new) and times its SQL, `n` runs each after one unmeasured run.
fn peer_side(
    bindir: &Path,
    p: &Paths,
    keep: bool,
    n: usize,
    rep: &mut ComplianceReport,
) -> Result<()> {
    let (cluster, load_secs) = start_peer(bindir, p, keep)?;
    rep.tenant.peer_load_secs = load_secs;
    for (s, sql) in rep.scenarios.iter_mut().zip(peer_sql()) {
        let Some(sql) = sql else { continue };
        s.peer_answer = Some(cluster.psql(&sql)?.replace('|', " "));
        s.peer = Some(Latency::of(time_sql(&cluster, &vec![sql.clone(); n])?));
        s.peer_sql = Some(sql);
    }
    Ok(())
}

/// Starts the peer's cluster in the work dir, loading the tenant's CSV first if the
/// cluster is new; returns it and the load's seconds (`None`: reused).
pub(crate) fn start_peer(bindir: &Path, p: &Paths, keep: bool) -> Result<(Cluster, Option<f64>)> {
    let fresh = !p.pg.join("data").exists();
    let cluster = Cluster::start(bindir, &p.pg, keep)?;
    if !fresh {
        return Ok((cluster, None));
    }
    sync_all();
    let t = Instant::now();
    cluster.psql(peer::SCHEMA_SQL)?;
    cluster.psql(&peer::copy_sql(&p.csv))?;
    cluster.psql("CHECKPOINT")?;
    cluster.psql("ANALYZE audit_log")?;
    Ok((cluster, Some(t.elapsed().as_secs_f64())))
}

/// Runs the statements in one psql session with `\timing` (output discarded); returns
/// each one's milliseconds, in order.
pub(crate) fn time_sql(cluster: &Cluster, statements: &[String]) -> Result<Vec<f64>> {
    let mut script = String::from("\\o /dev/null\n\\timing on\n");
    for sql in statements {
        script.push_str(sql);
        script.push('\n');
    }
    let t = peer::timings(&cluster.psql_script(&script)?);
    if t.len() != statements.len() {
        bail!(
            "psql reported {} timings, expected {}",
            t.len(),
            statements.len()
        );
    }
    Ok(t)
}

/// Runs the compliance benchmark; prints the table and returns the report.
pub fn compliance(opts: &ComplianceOptions) -> Result<ComplianceReport> {
    if opts.tenant.events == 0 {
        bail!("--events must be at least 1");
    }
    let bin = recall_cli::locate(opts.tenant.recall.as_deref())?;
    fs::create_dir_all(&opts.tenant.workdir)?;
    let p = Paths::new(&opts.tenant.workdir.canonicalize()?);
    let cfg = Config::hospital(opts.tenant.events, opts.tenant.seed);
    let mut rep = ComplianceReport {
        tenant: ensure_tenant(&bin, &p, cfg, !opts.tenant.skip_peer, true)?,
        ..Default::default()
    };
    let pdf = pdf_window(cfg, PDF_EVENTS);
    rep.pdf_window = format!(
        "busiest patient, {} .. {} ({} events)",
        rfc3339(pdf.1),
        rfc3339(pdf.2),
        pdf.3
    );
    let key = new_key(&bin, &p.data, &["--role", "privacy_officer"])?;
    let r = (|| -> Result<()> {
        let (server, open) = Server::start(&bin, &p.data)?;
        rep.tenant.serve_open_secs = Some(open);
        rep.tenant.settle_secs = Some(server.settle());
        eprintln!("recall: the four workflows, {} requests each", opts.repeats);
        rep.scenarios = recall_side(&server, &key, opts.repeats, &pdf);
        for e in rep
            .scenarios
            .iter()
            .filter_map(|s| Some((&s.name, s.error.as_ref()?)))
        {
            eprintln!("not measured: {}: {}", e.0, e.1);
        }
        server.stop()
    })();
    if let Err(e) = r {
        rep.errors.push(format!("recall: {e:#}"));
    }
    rep.recall_data_bytes = disk_usage(&p.data).ok();
    if opts.tenant.skip_peer {
        rep.notes.push("peer skipped (--skip-peer)".into());
    } else if rep.scenarios.len() == 4 {
        // The peer's SQL runs even where recall's side failed: its figure still stands.
        eprintln!("peer: load (if new) and the equivalent SQL");
        let r = peer::locate_bindir()
            .context("PostgreSQL server binaries not found (initdb, pg_ctl)")
            .and_then(|b| peer_side(&b, &p, opts.tenant.keep, opts.repeats, &mut rep));
        if let Err(e) = r {
            rep.errors.push(format!("peer: {e:#}"));
        }
    }
    rep.notes.push("recall: wall clock per request over HTTP on loopback (one client, sequential), after one unmeasured request; CPU ms per request from the server's /proc/<pid>/stat (user + system, all threads) over the measured requests; the PDF scenario runs a third as many requests".into());
    rep.notes.push("the peer: psql \\timing of the SQL (server + transfer, output discarded); its queue query has no review state and no index on purpose (the three indexes of docs/benchmarks.md), and there is no peer PDF".into());
    rep.notes.push("each assessment request opens a new assessment (an event appended to the log), as a privacy officer would".into());
    let failed = rep
        .scenarios
        .iter()
        .filter_map(|s| Some(format!("{}: {}", s.name, s.error.as_ref()?)));
    rep.errors.extend(failed.collect::<Vec<_>>());
    rep.finish();
    println!("{rep}");
    if let Some(path) = &opts.tenant.json {
        crate::report::write_json(path, &rep)?;
    }
    if !opts.tenant.keep {
        remove_tenant(&p);
    }
    if !rep.errors.is_empty() {
        bail!("not everything was measured: {}", rep.errors.join("; "));
    }
    Ok(rep)
}

impl ComplianceReport {
    /// Computes the goals: each scenario's p99 against its goal.
    pub fn finish(&mut self) {
        self.goals = self
            .scenarios
            .iter()
            .map(|s| {
                let v = s.recall.map(|l| l.p99_ms);
                Goal {
                    goal: format!("{}: p99 <= {} ms", s.name, s.goal_ms),
                    value: v,
                    verdict: match v {
                        None => "n/a",
                        Some(x) if x <= s.goal_ms => "PASS",
                        Some(_) => "MISS",
                    },
                }
            })
            .collect();
    }
}

impl std::fmt::Display for ComplianceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.1}"));
        writeln!(f, "{}\n", self.tenant.title("compliance"))?;
        writeln!(
            f,
            "{:<40} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}",
            "workflow", "p50 ms", "p99 ms", "CPU ms", "peer p50", "peer p99", "ratio"
        )?;
        for s in &self.scenarios {
            let (a, p) = (s.recall.map(|l| l.p50_ms), s.peer.map(|l| l.p50_ms));
            let ratio = match (a, p) {
                (Some(a), Some(p)) if p > 0.0 => format!("{:.2}x", a / p),
                _ => "-".into(),
            };
            writeln!(
                f,
                "{:<40} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}",
                s.name,
                ms(a),
                ms(s.recall.map(|l| l.p99_ms)),
                ms(s.cpu_ms),
                ms(p),
                ms(s.peer.map(|l| l.p99_ms)),
                ratio
            )?;
            writeln!(f, "  recall: {} ({} bytes)", s.answer, s.bytes)?;
            if let Some(e) = &s.error {
                writeln!(f, "  recall not measured: {e}")?;
            }
            if let Some(pa) = &s.peer_answer {
                writeln!(f, "  peer:   {pa}")?;
            }
        }
        writeln!(f, "\nPDF window: {}", self.pdf_window)?;
        writeln!(
            f,
            "{}; recall data {} bytes",
            self.tenant,
            self.recall_data_bytes
                .map_or_else(|| "-".into(), |b| thousands(b as f64))
        )?;
        for e in &self.errors {
            writeln!(f, "not measured: {e}")?;
        }
        writeln!(f, "\ngoals")?;
        write_goals(f, &self.goals, 56)?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}
