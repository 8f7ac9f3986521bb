//! `recall-bench console`: the privacy officer's console on one large tenant (issue 17's
//! benchmark). A release `recall serve` on the compliance benchmark's tenant (same work
//! dir layout, same build path), a console user made with `recall users create`, and
//! Debian's chromium driven by `console/bench.mjs` (playwright-core) with the HTTP cache
//! off: sign in, then the search page's first page and clicks on patient, actor, action
//! and system values, each page load timed by the server (`Server-Timing`) and by the
//! browser (load event end, largest contentful paint, bytes of the page and its assets).
//! The PostgreSQL peer runs the same searches as SQL.
//!
//! Invariants: every figure comes from a real page load the driver checked (HTTP 200, a
//! `Server-Timing` header, rows shown, the clicked filter applied); a driver failure fails
//! the run instead of shortening a series.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::compliance::{Paths, TenantOptions, ensure_tenant, remove_tenant, start_peer, time_sql};
use crate::generator::{Config, END_MS, START_MS};
use crate::peer;
use crate::recall_cli;
use crate::report::{Goal, thousands, write_goals};
use crate::run::TENANT;
use crate::serve::{Latency, Server, rfc3339};

/// Goal: the server's time for a page, p99, milliseconds.
pub const GOAL_SERVER_MS: f64 = 100.0;
/// Goal: page complete (load event end) in the browser, p99, milliseconds.
pub const GOAL_LOAD_MS: f64 = 500.0;
/// Goal: bytes transferred for a page and all its assets without cache (200 KB).
pub const GOAL_BYTES: u64 = 200_000;
/// Results per page the console shows (its default), for the peer's `LIMIT`.
const PAGE: usize = 50;
/// The series, in report order.
const SERIES: [&str; 6] = [
    "landing",
    "first page",
    "click patient",
    "click actor",
    "click action",
    "click system",
];
/// The console user's password (synthetic; the user lives only in the bench tenant).
const PASSWORD: &str = "benchmark-only-password-17";

/// Options of `console`.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// The tenant (the compliance benchmark's layout; a kept tenant is reused).
    pub tenant: TenantOptions,
    /// Clicks per filter kind (the first page is loaded before each click).
    pub samples: usize,
    /// Where `npm ci` installed playwright-core (default: the console e2e test's dir).
    pub node_dir: Option<PathBuf>,
    /// Skip the PostgreSQL peer.
    pub skip_peer: bool,
}

/// One page load as the driver reported it.
#[derive(Debug, Clone, Deserialize)]
struct Sample {
    series: String,
    /// The page's query (the filter), for the peer's SQL.
    params: BTreeMap<String, String>,
    server_ms: f64,
    ttfb_ms: f64,
    load_ms: f64,
    lcp_ms: Option<f64>,
    driver_ms: f64,
    bytes: u64,
    requests: usize,
    rows: usize,
}

/// The figures of one series of page loads.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    /// `landing` (`/search`, no filter), `first page` (events up to a day), `click KIND`.
    pub name: String,
    /// Server time per page (`Server-Timing: app`), ms.
    pub server: Latency,
    /// Navigation start to the first response byte, ms.
    pub ttfb: Latency,
    /// Navigation start to load event end: the page complete, ms.
    pub load: Latency,
    /// Largest contentful paint, ms.
    pub lcp: Latency,
    /// The driver's clock from `goto`/click to the load state, ms.
    pub driver: Latency,
    /// Bytes transferred for the page and its assets, median and largest.
    pub bytes_p50: u64,
    /// Largest page weight, bytes.
    pub bytes_max: u64,
    /// Requests per page load (document and assets).
    pub requests: usize,
    /// Rows shown, median.
    pub rows_p50: usize,
    /// The peer's timing of the same searches (psql `\timing`), ms.
    pub peer: Option<Latency>,
}

/// Everything `console` measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsoleReport {
    /// Events in the tenant.
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// Whether the tenant was built in this run (else reused from a kept work dir).
    pub built: bool,
    /// Generation, import, rosters, seconds (when done in this run).
    pub generate_secs: Option<f64>,
    /// `recall import`, seconds.
    pub import_secs: Option<f64>,
    /// `recall serve` until listening, seconds.
    pub serve_open_secs: Option<f64>,
    /// Seconds until the server was idle after it listened.
    pub settle_secs: Option<f64>,
    /// Peer load (COPY, CHECKPOINT, ANALYZE), seconds, when done in this run.
    pub peer_load_secs: Option<f64>,
    /// Page loads measured (sign-in not counted).
    pub pages: usize,
    /// The browser session from launch to close, seconds.
    pub browser_secs: Option<f64>,
    /// Server CPU (user + system, all threads) over the browser session per page load, ms.
    pub server_cpu_ms_per_page: Option<f64>,
    /// The series.
    pub series: Vec<Series>,
    /// Goals and verdicts.
    pub goals: Vec<Goal>,
    /// What could not be measured.
    pub errors: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
}

/// `recall users create` of a privacy officer (password on stdin); returns (name, the
/// otpauth URI it printed). A fresh name per run, so a kept tenant can be measured again.
fn console_user(bin: &Path, data: &Path) -> Result<(String, String)> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let name = format!("bench-po-{secs}");
    let mut child = Command::new(bin)
        .arg("--data")
        .arg(data)
        .args(["users", "create", &name, "--tenant", TENANT])
        .args(["--role", "privacy_officer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    writeln!(child.stdin.take().context("stdin")?, "{PASSWORD}")?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "recall users create: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let uri = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("totp: ").map(str::to_owned))
        .context("recall users create printed no TOTP secret")?;
    Ok((name, uri))
}

/// The driver script and the directory with its node packages.
fn driver_paths(node_dir: Option<&Path>) -> Result<(PathBuf, PathBuf)> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = crate_dir.join("console/bench.mjs");
    let node_dir =
        node_dir.map_or_else(|| crate_dir.join("../recall/tests/console"), Path::to_owned);
    if !node_dir.join("node_modules/playwright-core").exists() {
        bail!(
            "playwright-core not found under {}: run `npm ci` there (or pass --node-dir)",
            node_dir.display()
        );
    }
    Ok((script, node_dir))
}

/// Runs the browser driver against `url`; returns its samples.
fn drive(
    url: &str,
    user: &(String, String),
    samples: usize,
    node: &(PathBuf, PathBuf),
) -> Result<Vec<Sample>> {
    let day = |ms: i64| rfc3339(ms)[..10].to_owned();
    let out = Command::new("node")
        .arg(&node.0)
        .env("RECALL_URL", url)
        .env("CONSOLE_USER", &user.0)
        .env("PASSWORD", PASSWORD)
        .env("TOTP_URI", &user.1)
        .env("SAMPLES", samples.to_string())
        .env("FIRST_DAY", day(START_MS))
        .env("LAST_DAY", day(END_MS - 1))
        .env("NODE_DIR", &node.1)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("run node (the console driver)")?;
    if !out.status.success() {
        bail!("the browser driver failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("driver line: {l}")))
        .collect()
}

/// The peer's SQL for the search a page showed: the console's filter, newest first, one page.
fn peer_sql(params: &BTreeMap<String, String>) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let mut conds = Vec::new();
    for (param, column) in [
        ("patient", "patient_id"),
        ("actor", "actor_id"),
        ("action", "action"),
        ("system", "source_system"),
    ] {
        if let Some(v) = params.get(param) {
            conds.push(format!("{column} = {}", quote(v)));
        }
    }
    if let Some(d) = params.get("to") {
        let end = quote(&format!("{d}T00:00:00Z"));
        conds.push(format!("time < timestamptz {end} + interval '1 day'"));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    format!("SELECT * FROM audit_log{filter} ORDER BY time DESC LIMIT {PAGE};")
}

/// Times every sample's search on the peer (one unmeasured pass first); ms per sample.
fn peer_side(
    p: &Paths,
    keep: bool,
    samples: &[Sample],
    rep: &mut ConsoleReport,
) -> Result<Vec<f64>> {
    let bindir =
        peer::locate_bindir().context("PostgreSQL server binaries not found (initdb, pg_ctl)")?;
    let (cluster, load) = start_peer(&bindir, p, keep)?;
    rep.peer_load_secs = load;
    let sql: Vec<String> = samples.iter().map(|s| peer_sql(&s.params)).collect();
    time_sql(&cluster, &sql)?;
    time_sql(&cluster, &sql)
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> Option<T> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Groups the samples into the series (with the peer's timings per sample, if any).
fn series(samples: &[Sample], peer: Option<&[f64]>) -> Vec<Series> {
    SERIES
        .iter()
        .map(|name| {
            let idx: Vec<usize> = (0..samples.len())
                .filter(|&i| samples[i].series == *name)
                .collect();
            let of = |f: &dyn Fn(&Sample) -> f64| {
                Latency::of(idx.iter().map(|&i| f(&samples[i])).collect())
            };
            Series {
                name: (*name).into(),
                server: of(&|s| s.server_ms),
                ttfb: of(&|s| s.ttfb_ms),
                load: of(&|s| s.load_ms),
                lcp: Latency::of(idx.iter().filter_map(|&i| samples[i].lcp_ms).collect()),
                driver: of(&|s| s.driver_ms),
                bytes_p50: median(idx.iter().map(|&i| samples[i].bytes).collect()).unwrap_or(0),
                bytes_max: idx.iter().map(|&i| samples[i].bytes).max().unwrap_or(0),
                requests: idx.iter().map(|&i| samples[i].requests).max().unwrap_or(0),
                rows_p50: median(idx.iter().map(|&i| samples[i].rows).collect()).unwrap_or(0),
                peer: peer.map(|t| Latency::of(idx.iter().map(|&i| t[i]).collect())),
            }
        })
        .collect()
}

/// Signs in and drives the browser against a fresh server on the tenant; fills the
/// server-side figures of `rep` and returns the samples.
fn recall_side(
    bin: &Path,
    p: &Paths,
    opts: &ConsoleOptions,
    rep: &mut ConsoleReport,
) -> Result<Vec<Sample>> {
    let node = driver_paths(opts.node_dir.as_deref())?;
    let user = console_user(bin, &p.data)?;
    let (server, open) = Server::start(bin, &p.data)?;
    rep.serve_open_secs = Some(open);
    rep.settle_secs = Some(server.settle());
    eprintln!(
        "browser: sign in, then {} clicks per filter kind",
        opts.samples
    );
    let (cpu0, t) = (server.cpu_secs(), Instant::now());
    let samples = drive(&server.url, &user, opts.samples, &node);
    rep.browser_secs = Some(t.elapsed().as_secs_f64());
    let cpu = server.cpu_secs().zip(cpu0).map(|(b, a)| b - a);
    server.stop()?;
    let samples = samples?;
    rep.pages = samples.len();
    rep.server_cpu_ms_per_page = cpu.map(|c| c * 1e3 / samples.len().max(1) as f64);
    Ok(samples)
}

/// Runs the console benchmark; prints the table and returns the report.
pub fn console(opts: &ConsoleOptions) -> Result<ConsoleReport> {
    if opts.tenant.events == 0 || opts.samples == 0 {
        bail!("--events and --samples must be at least 1");
    }
    let bin = recall_cli::locate(opts.tenant.recall.as_deref())?;
    fs::create_dir_all(&opts.tenant.workdir)?;
    let p = Paths::new(&opts.tenant.workdir.canonicalize()?);
    let cfg = Config::hospital(opts.tenant.events, opts.tenant.seed);
    // The console needs no rosters (a later `compliance` run on this work dir adds them).
    let b = ensure_tenant(&bin, &p, cfg, !opts.skip_peer, false)?;
    let mut rep = ConsoleReport {
        events: opts.tenant.events,
        seed: opts.tenant.seed,
        built: b.built,
        generate_secs: b.generate_secs,
        import_secs: b.import_secs,
        ..Default::default()
    };
    let samples = recall_side(&bin, &p, opts, &mut rep);
    let samples = match samples {
        Ok(s) => s,
        Err(e) => {
            rep.errors.push(format!("recall: {e:#}"));
            Vec::new()
        }
    };
    let peer = if opts.skip_peer || samples.is_empty() {
        rep.notes.push("peer not run".into());
        None
    } else {
        eprintln!("peer: load (if new) and the same searches as SQL");
        peer_side(&p, opts.tenant.keep, &samples, &mut rep)
            .map_err(|e| rep.errors.push(format!("peer: {e:#}")))
            .ok()
    };
    rep.series = series(&samples, peer.as_deref());
    rep.notes.push(format!("{} page loads; the HTTP cache is off (CDP Network.setCacheDisabled), so every load fetches the page and all its assets; server = its Server-Timing header (request in, page rendered: search, lens, self-audit commit, template); load = navigation start to load event end; first page = /search?range=custom&to=DAY (the events up to a day, days spread over the workload's year), each followed by one click on a value of its rows; landing = /search (all time, where the benchmark's own self-audit records are the newest)", rep.pages));
    rep.notes.push("server CPU per page: over the whole browser session (sign-in included: one argon2id check), divided by the page loads".into());
    rep.notes.push(format!("the peer: SELECT * FROM audit_log WHERE <the filter> ORDER BY time DESC LIMIT {PAGE}, psql \\timing, after one unmeasured pass; it writes no self-audit record and renders no page"));
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

impl ConsoleReport {
    /// Computes the goals: per series server p99, load p99, largest page weight.
    pub fn finish(&mut self) {
        let goal = |goal: String, value: Option<f64>, max: f64| Goal {
            goal,
            value,
            verdict: match value {
                None => "n/a",
                Some(v) if v <= max => "PASS",
                Some(_) => "MISS",
            },
        };
        self.goals = self
            .series
            .iter()
            .filter(|s| s.server.n > 0)
            .flat_map(|s| {
                [
                    goal(
                        format!("{}: server p99 <= {GOAL_SERVER_MS} ms", s.name),
                        Some(s.server.p99_ms),
                        GOAL_SERVER_MS,
                    ),
                    goal(
                        format!("{}: page complete p99 <= {GOAL_LOAD_MS} ms", s.name),
                        Some(s.load.p99_ms),
                        GOAL_LOAD_MS,
                    ),
                    goal(
                        format!(
                            "{}: page weight <= {} bytes",
                            s.name,
                            thousands(GOAL_BYTES as f64)
                        ),
                        Some(s.bytes_max as f64),
                        GOAL_BYTES as f64,
                    ),
                ]
            })
            .collect();
    }
}

impl std::fmt::Display for ConsoleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.1}"));
        let pair = |l: &Latency| format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms);
        writeln!(
            f,
            "recall-bench console: {} events, seed {}\n",
            thousands(self.events as f64),
            self.seed
        )?;
        writeln!(
            f,
            "{:<14} {:>4} {:>15} {:>15} {:>15} {:>15} {:>17} {:>5} {:>15}",
            "series",
            "n",
            "server p50/p99",
            "ttfb p50/p99",
            "load p50/p99",
            "LCP p50/p99",
            "bytes p50/max",
            "rows",
            "peer p50/p99"
        )?;
        for s in &self.series {
            writeln!(
                f,
                "{:<14} {:>4} {:>15} {:>15} {:>15} {:>15} {:>17} {:>5} {:>15}",
                s.name,
                s.server.n,
                pair(&s.server),
                pair(&s.ttfb),
                pair(&s.load),
                pair(&s.lcp),
                format!(
                    "{} / {}",
                    thousands(s.bytes_p50 as f64),
                    thousands(s.bytes_max as f64)
                ),
                s.rows_p50,
                s.peer.as_ref().map_or_else(|| "-".into(), pair),
            )?;
        }
        writeln!(
            f,
            "\ntenant built here: {}; generate {} s; import {} s; serve open {} s, idle after {} s; peer load {} s; browser session {} s; server CPU {} ms per page",
            self.built,
            opt(self.generate_secs),
            opt(self.import_secs),
            opt(self.serve_open_secs),
            opt(self.settle_secs),
            opt(self.peer_load_secs),
            opt(self.browser_secs),
            opt(self.server_cpu_ms_per_page),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn peer_sql_is_the_console_filter_newest_first() {
        assert_eq!(
            peer_sql(&params(&[])),
            "SELECT * FROM audit_log ORDER BY time DESC LIMIT 50;"
        );
        assert_eq!(
            peer_sql(&params(&[
                ("range", "custom"),
                ("to", "2026-03-01"),
                ("actor", "u'1"),
                ("system", "pacs"),
            ])),
            "SELECT * FROM audit_log WHERE actor_id = 'u''1' AND source_system = 'pacs' \
             AND time < timestamptz '2026-03-01T00:00:00Z' + interval '1 day' \
             ORDER BY time DESC LIMIT 50;"
        );
    }
}
