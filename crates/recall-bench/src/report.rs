//! Figures of one run, ratios, goals, and their rendering as a table or JSON.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::peer::PeerFigures;
use crate::recall_cli::RecallFigures;

/// Goal: recall imports at least this many events per second.
pub const GOAL_IMPORT_EPS: f64 = 300_000.0;
/// Goal: recall imports at least this many times faster than the peer's COPY.
pub const GOAL_IMPORT_RATIO: f64 = 5.0;
/// Goal: the log takes at most this share of the peer's bytes per event.
pub const GOAL_BYTES_RATIO: f64 = 0.3;
/// Goal: `recall verify` checks at least this many events per second.
pub const GOAL_VERIFY_EPS: f64 = 1_000_000.0;

/// Everything one `recall-bench run` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Events in the workload.
    pub events: u64,
    /// Workload seed.
    pub seed: u64,
    /// Size of the NDJSON input.
    pub ndjson_bytes: u64,
    /// Size of the peer's CSV input.
    pub csv_bytes: u64,
    /// Time to generate both inputs (excluded from every measurement), seconds.
    pub generate_secs: f64,
    /// The recall side, if it ran and succeeded.
    pub recall: Option<RecallFigures>,
    /// Why the recall side has no figures.
    pub recall_error: Option<String>,
    /// The PostgreSQL peer, if it ran and succeeded.
    pub peer: Option<PeerFigures>,
    /// Why the peer has no figures.
    pub peer_error: Option<String>,
    /// Derived rates, sizes and ratios.
    pub derived: Derived,
    /// Each goal of this step and its verdict.
    pub goals: Vec<Goal>,
    /// Caveats of the method.
    pub notes: Vec<String>,
}

/// Rates, per-event sizes and ratios computed from the raw figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Derived {
    /// recall import, events/s.
    pub recall_import_eps: Option<f64>,
    /// recall verify, events/s.
    pub recall_verify_eps: Option<f64>,
    /// Log alone, bytes/event.
    pub recall_log_bytes_per_event: Option<f64>,
    /// Whole data dir, bytes/event.
    pub recall_data_bytes_per_event: Option<f64>,
    /// Peer COPY, events/s.
    pub peer_copy_eps: Option<f64>,
    /// Peer table + indexes, bytes/event.
    pub peer_bytes_per_event: Option<f64>,
    /// recall import rate / peer COPY rate (higher is better).
    pub import_ratio: Option<f64>,
    /// recall log bytes / peer bytes (lower is better).
    pub log_bytes_ratio: Option<f64>,
    /// recall data dir bytes / peer bytes (lower is better).
    pub data_bytes_ratio: Option<f64>,
}

/// One goal and how the run did against it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is measured, with its threshold.
    pub goal: String,
    /// The measured value, if both sides needed were measured.
    pub value: Option<f64>,
    /// `PASS`, `MISS`, or `n/a` when not measured.
    pub verdict: &'static str,
}

fn per(x: Option<f64>, events: u64) -> Option<f64> {
    x.map(|x| x / events.max(1) as f64)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

impl Report {
    /// Fills `derived` and `goals` from the raw figures.
    pub fn finish(&mut self) {
        let n = self.events.max(1) as f64;
        let r = self.recall.as_ref();
        let p = self.peer.as_ref();
        let d = Derived {
            recall_import_eps: r.map(|r| n / r.import_secs),
            recall_verify_eps: r.map(|r| n / r.verify_secs),
            recall_log_bytes_per_event: per(
                r.and_then(|r| r.log_bytes.map(|b| b as f64)),
                self.events,
            ),
            recall_data_bytes_per_event: per(r.map(|r| r.data_dir_bytes as f64), self.events),
            peer_copy_eps: p.map(|p| n / p.copy_secs),
            peer_bytes_per_event: per(p.map(|p| p.total_bytes as f64), self.events),
            ..Derived::default()
        };
        let d = Derived {
            import_ratio: ratio(d.recall_import_eps, d.peer_copy_eps),
            log_bytes_ratio: ratio(d.recall_log_bytes_per_event, d.peer_bytes_per_event),
            data_bytes_ratio: ratio(d.recall_data_bytes_per_event, d.peer_bytes_per_event),
            ..d
        };
        let goal = |goal: String, value: Option<f64>, pass: fn(f64) -> bool| Goal {
            goal,
            value,
            verdict: match value {
                None => "n/a",
                Some(v) if pass(v) => "PASS",
                Some(_) => "MISS",
            },
        };
        self.goals = vec![
            goal(
                format!("import >= {} events/s", thousands(GOAL_IMPORT_EPS)),
                d.recall_import_eps,
                |v| v >= GOAL_IMPORT_EPS,
            ),
            goal(
                format!("import >= {GOAL_IMPORT_RATIO}x the peer's COPY"),
                d.import_ratio,
                |v| v >= GOAL_IMPORT_RATIO,
            ),
            goal(
                format!("log bytes/event <= {GOAL_BYTES_RATIO}x the peer's"),
                d.log_bytes_ratio,
                |v| v <= GOAL_BYTES_RATIO,
            ),
            goal(
                format!("verify >= {} events/s", thousands(GOAL_VERIFY_EPS)),
                d.recall_verify_eps,
                |v| v >= GOAL_VERIFY_EPS,
            ),
        ];
        self.derived = d;
    }
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

fn cell(x: Option<f64>, f: fn(f64) -> String) -> String {
    x.map(f).unwrap_or_else(|| "-".into())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.derived;
        let n = self.events.max(1) as f64;
        let eps = |x: f64| thousands(x);
        let b = |x: f64| format!("{x:.1}");
        let x2 = |x: f64| format!("{x:.2}x");
        let secs = |x: f64| format!("{x:.2}");
        let mut t = String::new();
        let mut row = |name: &str, a: String, p: String, r: String, hint: &str| {
            let line = format!("{name:<30} {a:>14} {p:>16} {r:>9}  {hint}");
            let _ = writeln!(t, "{}", line.trim_end());
        };
        row(
            "measure",
            "recall".into(),
            "peer (postgres)".into(),
            "ratio".into(),
            "",
        );
        row("events", thousands(n), thousands(n), String::new(), "");
        row(
            "import events/s",
            cell(d.recall_import_eps, eps),
            cell(d.peer_copy_eps, eps),
            cell(d.import_ratio, x2),
            "recall/peer, higher is better",
        );
        row(
            "  wall clock, s",
            cell(self.recall.as_ref().map(|r| r.import_secs), secs),
            cell(self.peer.as_ref().map(|p| p.copy_secs), secs),
            String::new(),
            "",
        );
        row(
            "bytes/event, log alone",
            cell(d.recall_log_bytes_per_event, b),
            cell(d.peer_bytes_per_event, b),
            cell(d.log_bytes_ratio, x2),
            "recall/peer, lower is better",
        );
        row(
            "bytes/event, data dir total",
            cell(d.recall_data_bytes_per_event, b),
            cell(d.peer_bytes_per_event, b),
            cell(d.data_bytes_ratio, x2),
            "recall/peer, lower is better",
        );
        row(
            "verify events/s",
            cell(d.recall_verify_eps, eps),
            "-".into(),
            String::new(),
            "",
        );
        writeln!(
            f,
            "recall-bench: {} events, seed {}, input {:.0} B/event NDJSON, {:.0} B/event CSV, generated in {:.1} s (excluded)\n",
            thousands(n),
            self.seed,
            self.ndjson_bytes as f64 / n,
            self.csv_bytes as f64 / n,
            self.generate_secs
        )?;
        write!(f, "{t}")?;
        if let Some(p) = &self.peer {
            writeln!(
                f,
                "peer detail: table {:.1} B/event, indexes {:.1} B/event, WAL written by COPY {:.1} B/event",
                p.table_bytes as f64 / n,
                p.index_bytes as f64 / n,
                p.wal_bytes as f64 / n
            )?;
        }
        if let Some(r) = &self.recall {
            writeln!(
                f,
                "recall import said: {}\nrecall verify said: {}",
                r.import_said, r.verify_said
            )?;
        }
        for (side, err) in [("recall", &self.recall_error), ("peer", &self.peer_error)] {
            if let Some(e) = err {
                writeln!(f, "{side} side not measured: {e}")?;
            }
        }
        writeln!(f, "\ngoals of this step")?;
        write_goals(f, &self.goals, 42)?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// Writes `report` as pretty JSON to `path` (the `--json` option of both benchmarks).
pub fn write_json<T: Serialize>(path: &std::path::Path, report: &T) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut f = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut f, report)?;
    writeln!(f)?;
    f.flush()?;
    Ok(())
}

/// The goal table: each goal, its measured value and its verdict.
pub fn write_goals(f: &mut fmt::Formatter<'_>, goals: &[Goal], width: usize) -> fmt::Result {
    for g in goals {
        let v = match g.value {
            Some(v) if v < 100.0 => format!("{v:.2}"),
            Some(v) => thousands(v),
            None => "-".into(),
        };
        writeln!(f, "  {:<width$} {v:>14}  {}", g.goal, g.verdict)?;
    }
    Ok(())
}

/// A run's work directory: `given` (created if missing), or a fresh temp dir named
/// `prefix…` that other users can traverse (the server may run as another user).
pub fn workdir(
    given: Option<&std::path::Path>,
    prefix: &str,
) -> anyhow::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    use anyhow::Context as _;
    use std::os::unix::fs::PermissionsExt as _;
    match given {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
            Ok((d.canonicalize()?, None))
        }
        None => {
            let t = tempfile::Builder::new().prefix(prefix).tempdir()?;
            std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755))?;
            Ok((t.path().to_owned(), Some(t)))
        }
    }
}

/// Ends a run's work directory: a temp dir is kept only with `--keep`; in a given work dir
/// only what the run created (`created`) is removed, unless `--keep`.
pub fn finish_workdir(
    temp: Option<tempfile::TempDir>,
    workdir: &std::path::Path,
    keep: bool,
    created: &[&std::path::Path],
) {
    match temp {
        Some(t) if keep => println!("kept work directory {}", t.keep().display()),
        Some(t) => drop(t),
        None if !keep => {
            for p in created {
                let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
            }
        }
        None => println!("kept work directory {}", workdir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(recall: Option<RecallFigures>, peer: Option<PeerFigures>) -> Report {
        let mut r = Report {
            events: 1_000_000,
            seed: 1,
            ndjson_bytes: 400_000_000,
            csv_bytes: 230_000_000,
            generate_secs: 1.0,
            recall,
            recall_error: None,
            peer,
            peer_error: None,
            derived: Derived::default(),
            goals: Vec::new(),
            notes: vec![],
        };
        r.finish();
        r
    }

    fn recall(import_secs: f64, log_bytes: u64, verify_secs: f64) -> RecallFigures {
        RecallFigures {
            import_secs,
            data_dir_bytes: log_bytes + 10_000_000,
            log_bytes: Some(log_bytes),
            verify_secs,
            import_said: String::new(),
            verify_said: String::new(),
        }
    }

    fn peer() -> PeerFigures {
        PeerFigures {
            rows: 1_000_000,
            copy_secs: 10.0,
            table_bytes: 250_000_000,
            index_bytes: 150_000_000,
            total_bytes: 400_000_000,
            wal_bytes: 500_000_000,
        }
    }

    fn verdicts(r: &Report) -> Vec<&'static str> {
        r.goals.iter().map(|g| g.verdict).collect()
    }

    #[test]
    fn ratios_and_verdicts() {
        let r = report(Some(recall(2.0, 100_000_000, 0.5)), Some(peer()));
        assert_eq!(r.derived.recall_import_eps, Some(500_000.0));
        assert_eq!(r.derived.peer_copy_eps, Some(100_000.0));
        assert_eq!(r.derived.import_ratio, Some(5.0));
        assert_eq!(r.derived.log_bytes_ratio, Some(0.25));
        assert_eq!(r.derived.peer_bytes_per_event, Some(400.0));
        assert_eq!(verdicts(&r), ["PASS", "PASS", "PASS", "PASS"]);

        let r = report(Some(recall(4.0, 200_000_000, 2.0)), Some(peer()));
        assert_eq!(verdicts(&r), ["MISS", "MISS", "MISS", "MISS"]);
    }

    #[test]
    fn missing_sides_are_not_applicable() {
        let r = report(None, Some(peer()));
        assert_eq!(verdicts(&r), ["n/a", "n/a", "n/a", "n/a"]);
        let r = report(Some(recall(2.0, 100_000_000, 0.5)), None);
        assert_eq!(verdicts(&r), ["PASS", "n/a", "n/a", "PASS"]);
        let text = r.to_string();
        assert!(
            text.contains("import >= 300,000 events/s") && text.contains("PASS"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["derived"]["recall_import_eps"], 500_000.0);
        assert!(json["peer"].is_null());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }
}
