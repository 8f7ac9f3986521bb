//! A summary of a generated workload, to check its shape against the target in
//! docs/benchmarks.md "The workload".

use std::collections::HashMap;
use std::fmt;

use super::{Config, Event, Generator, write_json_line};

/// Counts over one pass of a workload.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Events seen.
    pub events: u64,
    /// Events whose time is earlier than the latest time seen before them.
    pub late: u64,
    /// Events with purpose `ETREAT`.
    pub break_glass: u64,
    /// Events with outcome `failure` or `denied`.
    pub failed: u64,
    /// Distinct patients.
    pub patients: u64,
    /// Distinct actors.
    pub actors: u64,
    /// Distinct sessions.
    pub sessions: u64,
    /// Events of the busiest patient.
    pub top_patient: u64,
    /// Median events per patient (over patients with at least one event).
    pub median_patient: u64,
    /// Patients with at least 2,000 events.
    pub heavy_patients: u64,
    /// Smallest, mean and largest NDJSON line, in bytes (newline included).
    pub bytes_min: usize,
    /// Mean NDJSON line length.
    pub bytes_mean: f64,
    /// Largest NDJSON line.
    pub bytes_max: usize,
    /// Earliest and latest event time (Unix ms).
    pub first_ms: i64,
    /// Latest event time (Unix ms).
    pub last_ms: i64,
}

impl Shape {
    /// Generates the workload of `cfg` and summarises it.
    pub fn measure(cfg: Config) -> Self {
        Self::of(Generator::new(cfg))
    }

    /// Summarises the events of `events`.
    pub fn of(events: impl IntoIterator<Item = Event>) -> Self {
        let mut s = Shape {
            bytes_min: usize::MAX,
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            ..Self::default()
        };
        let mut per_patient: HashMap<String, u64> = HashMap::new();
        let mut actors = std::collections::HashSet::new();
        let mut sessions = std::collections::HashSet::new();
        let (mut clock, mut total_bytes, mut line) = (i64::MIN, 0usize, Vec::new());
        for ev in events {
            s.events += 1;
            if ev.time_ms < clock {
                s.late += 1;
            }
            clock = clock.max(ev.time_ms);
            s.first_ms = s.first_ms.min(ev.time_ms);
            s.last_ms = s.last_ms.max(ev.time_ms);
            s.break_glass += u64::from(ev.purpose == Some("ETREAT"));
            s.failed += u64::from(matches!(ev.outcome, Some("failure" | "denied")));
            if !ev.patient_id.is_empty() {
                *per_patient.entry(ev.patient_id.clone()).or_default() += 1;
            }
            if !actors.contains(&ev.actor_id) {
                actors.insert(ev.actor_id.clone());
            }
            if !sessions.contains(&ev.source_session) {
                sessions.insert(ev.source_session.clone());
            }
            line.clear();
            write_json_line(&ev, &mut line);
            total_bytes += line.len();
            s.bytes_min = s.bytes_min.min(line.len());
            s.bytes_max = s.bytes_max.max(line.len());
        }
        let mut counts: Vec<u64> = per_patient.into_values().collect();
        counts.sort_unstable();
        s.patients = counts.len() as u64;
        s.actors = actors.len() as u64;
        s.sessions = sessions.len() as u64;
        s.top_patient = counts.last().copied().unwrap_or(0);
        s.median_patient = counts.get(counts.len() / 2).copied().unwrap_or(0);
        s.heavy_patients = counts.iter().filter(|&&c| c >= 2_000).count() as u64;
        s.bytes_mean = total_bytes as f64 / s.events.max(1) as f64;
        s
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: u64| 100.0 * x as f64 / self.events.max(1) as f64;
        writeln!(f, "events            {}", self.events)?;
        writeln!(
            f,
            "late arrivals     {} ({:.2}%)",
            self.late,
            pct(self.late)
        )?;
        writeln!(
            f,
            "break-glass       {} ({:.2}%)",
            self.break_glass,
            pct(self.break_glass)
        )?;
        writeln!(
            f,
            "failed/denied     {} ({:.2}%)",
            self.failed,
            pct(self.failed)
        )?;
        writeln!(f, "actors            {}", self.actors)?;
        writeln!(
            f,
            "sessions          {} ({:.1} events each)",
            self.sessions,
            self.events as f64 / self.sessions.max(1) as f64
        )?;
        writeln!(f, "patients          {}", self.patients)?;
        writeln!(
            f,
            "events/patient    median {}, top {}, patients with >= 2000: {}",
            self.median_patient, self.top_patient, self.heavy_patients
        )?;
        write!(
            f,
            "bytes/event       min {}, mean {:.0}, max {}",
            self.bytes_min, self.bytes_mean, self.bytes_max
        )
    }
}
