//! The PostgreSQL peer: a throwaway cluster on a Unix socket, the `audit_log` table most
//! teams would build, loaded with COPY (docs/benchmarks.md "Goals").

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::generator::CSV_COLUMNS;

/// The peer's table and its three indexes: (patient, time), (actor, time), (time).
pub const SCHEMA_SQL: &str = "\
CREATE TABLE audit_log (
    id             text,
    time           timestamptz NOT NULL,
    received       timestamptz NOT NULL DEFAULT now(),
    tenant         text,
    actor_id       text NOT NULL,
    actor_role     text,
    actor_name     text,
    actor_type     text,
    action         text NOT NULL,
    resource_type  text,
    resource_id    text,
    patient_id     text,
    outcome        text,
    purpose        text,
    reason         text,
    source_ip      inet,
    source_system  text,
    source_device  text,
    source_session text,
    detail         jsonb
);
CREATE INDEX audit_log_patient_time ON audit_log (patient_id, time);
CREATE INDEX audit_log_actor_time ON audit_log (actor_id, time);
CREATE INDEX audit_log_time ON audit_log (time);
";

/// Server settings of the peer: default durability (fsync, synchronous_commit on), a
/// realistic buffer pool, and checkpoints spaced for a bulk load.
pub const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "1GB"),
    ("fsync", "on"),
    ("synchronous_commit", "on"),
    ("full_page_writes", "on"),
    ("max_wal_size", "8GB"),
    ("checkpoint_timeout", "30min"),
];

/// The COPY statement that loads `csv` (a path the server can read).
pub fn copy_sql(csv: &Path) -> String {
    let path = csv.display().to_string().replace('\'', "''");
    format!(
        "COPY audit_log ({}) FROM '{path}' WITH (FORMAT csv)",
        CSV_COLUMNS.join(", ")
    )
}

/// Finds PostgreSQL's server binaries: `$RECALL_BENCH_PG_BINDIR`, `pg_config --bindir`,
/// then the newest `/usr/lib/postgresql/*/bin`. `None` when there are none.
pub fn locate_bindir() -> Option<PathBuf> {
    let has_initdb = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("RECALL_BENCH_PG_BINDIR").map(PathBuf::from) {
        return has_initdb(&d).then_some(d);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&d) {
            return Some(d);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| has_initdb(d))
        .collect();
    found.sort();
    found.pop().map(|(_, d)| d)
}

/// The durations psql printed with `\timing on` (lines `Time: 12.345 ms`), in order.
pub fn timings(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A running throwaway cluster; stopped (and deleted unless kept) when dropped.
pub struct Cluster {
    bindir: PathBuf,
    root: PathBuf,
    /// Run server commands through `runuser -u postgres --` (we are root).
    as_postgres: bool,
    running: bool,
    keep: bool,
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn postgres_ids() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .context("run id")?;
        if !out.status.success() {
            bail!("running as root needs a `postgres` user to run PostgreSQL as");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

/// Fails unless every ancestor of `path` can be traversed by other users (the server runs
/// as `postgres` and must reach its data dir and the CSV file).
pub fn check_traversable(path: &Path) -> Result<()> {
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let mode = match fs::metadata(dir) {
            Ok(m) => m.permissions().mode(),
            // Not created yet: create_dir_all will make it traversable (umask permitting).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("stat {}", dir.display())),
        };
        if mode & 0o001 == 0 {
            bail!(
                "{} is not traversable by the postgres user; choose another --workdir",
                dir.display()
            );
        }
    }
    Ok(())
}

impl Cluster {
    /// Creates a cluster under `root` and starts it; a cluster kept there before is
    /// started as it is.
    pub fn start(bindir: &Path, root: &Path, keep: bool) -> Result<Self> {
        let as_postgres = is_root();
        if as_postgres {
            check_traversable(&std::path::absolute(root)?)?;
        }
        fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
        let root = root.canonicalize()?;
        if as_postgres {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))?;
        }
        let mut c = Self {
            bindir: bindir.to_owned(),
            root,
            as_postgres,
            running: false,
            keep,
        };
        let data = c.root.join("data");
        // A kept cluster (`--keep`) is started again as it is.
        if !data.join("PG_VERSION").exists() {
            c.initdb(&data)?;
        }
        c.launch(&data)?;
        Ok(c)
    }

    fn initdb(&self, data: &Path) -> Result<()> {
        self.server_cmd("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "-D",
            ])
            .arg(data)
            .checked("initdb")?;
        Ok(())
    }

    fn launch(&mut self, data: &Path) -> Result<()> {
        let c = self;
        let mut opts = format!("-c listen_addresses='' -k {}", c.root.display());
        for (k, v) in SERVER_SETTINGS {
            opts.push_str(&format!(" -c {k}={v}"));
        }
        c.server_cmd("pg_ctl")
            .args(["-w", "-t", "120", "-D"])
            .arg(data)
            .arg("-l")
            .arg(c.root.join("server.log"))
            .args(["-o", &opts, "start"])
            .checked("pg_ctl start")?;
        c.running = true;
        Ok(())
    }

    /// The cluster's directory (data dir, socket, server log).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn server_cmd(&self, program: &str) -> Command {
        let exe = self.bindir.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.current_dir(&self.root).stdin(Stdio::null());
        cmd
    }

    /// Runs `sql` with psql over the socket; returns the unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let out = self.psql_cmd(sql).checked("psql")?;
        Ok(out.trim().to_owned())
    }

    /// Runs a psql script (backslash commands allowed) fed on standard input; returns
    /// everything psql printed on standard output.
    pub fn psql_script(&self, script: &str) -> Result<String> {
        use std::io::Write;
        let mut cmd = self.server_cmd("psql");
        cmd.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-h",
        ])
        .arg(&self.root)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("run psql")?;
        let mut stdin = child.stdin.take().context("psql stdin")?;
        let script = script.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
        let out = child.wait_with_output().context("run psql")?;
        let _ = writer.join();
        if !out.status.success() {
            bail!(
                "psql script failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn psql_cmd(&self, sql: &str) -> Command {
        let mut cmd = self.server_cmd("psql");
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-h",
        ])
        .arg(&self.root)
        .args(["-c", sql]);
        cmd
    }

    /// Stops the server at once (`-m immediate`).
    pub fn stop(&mut self) -> Result<()> {
        if self.running {
            self.running = false;
            self.server_cmd("pg_ctl")
                .args(["-m", "immediate", "-D"])
                .arg(self.root.join("data"))
                .arg("stop")
                .checked("pg_ctl stop")?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the PostgreSQL peer: {e:#}");
        }
        if !self.keep {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

trait Checked {
    fn checked(&mut self, what: &str) -> Result<String>;
}

impl Checked for Command {
    fn checked(&mut self, what: &str) -> Result<String> {
        let out = self.output().with_context(|| format!("run {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// What the peer measured.
#[derive(Debug, Clone, Serialize)]
pub struct PeerFigures {
    /// Rows in `audit_log` after the load.
    pub rows: u64,
    /// Wall clock of the COPY (psql process, commit included), seconds.
    pub copy_secs: f64,
    /// Heap + TOAST + free-space and visibility maps (`pg_table_size`).
    pub table_bytes: u64,
    /// The three indexes (`pg_indexes_size`).
    pub index_bytes: u64,
    /// Table and indexes (`pg_total_relation_size`).
    pub total_bytes: u64,
    /// WAL written by the COPY (LSN difference).
    pub wal_bytes: u64,
}

/// Loads `csv` (readable by the server) into a fresh cluster under `root` and measures it.
pub fn measure(bindir: &Path, root: &Path, csv: &Path, keep: bool) -> Result<PeerFigures> {
    let mut cluster = Cluster::start(bindir, root, keep)?;
    cluster.psql(SCHEMA_SQL)?;
    let lsn0 = cluster.psql("SELECT pg_current_wal_lsn()")?;
    let started = Instant::now();
    cluster.psql(&copy_sql(csv))?;
    let copy_secs = started.elapsed().as_secs_f64();
    let wal = cluster.psql(&format!(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')::bigint"
    ))?;
    cluster.psql("CHECKPOINT")?;
    let sizes = cluster.psql(
        "SELECT count(*), pg_table_size('audit_log'), pg_indexes_size('audit_log'), \
         pg_total_relation_size('audit_log') FROM audit_log",
    )?;
    let n: Vec<u64> = sizes
        .split('|')
        .map(|x| x.trim().parse())
        .collect::<Result<_, _>>()?;
    if n.len() != 4 {
        bail!("unexpected size query output: {sizes}");
    }
    cluster.stop()?;
    Ok(PeerFigures {
        rows: n[0],
        copy_secs,
        table_bytes: n[1],
        index_bytes: n[2],
        total_bytes: n[3],
        wal_bytes: wal.parse()?,
    })
}
