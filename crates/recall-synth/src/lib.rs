//! recall-synth: the seeded synthetic "hospital" workload shared by the demo, the tests and
//! the benchmark (docs/benchmarks.md describes its shape): deterministic native events for a
//! seed, never real data.
//!
//! One [`Generator`] yields events in arrival order. Sessions give locality (one user, one
//! chart, one workstation, many reads in a row); about 1% of events arrive late, 0.2% break
//! the glass, 2% fail or are denied; times cover the year ending 2026-10-31T23:59:59Z.
//! The same [`Event`] encodes to NDJSON for recall and to CSV for the PostgreSQL peer.

#![forbid(unsafe_code)]

mod encode;
mod roster;
mod shape;
#[cfg(test)]
mod tests;
mod world;

use std::fmt::Write as _;
use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use encode::push_u64_str;
pub use encode::{CSV_COLUMNS, push_rfc3339_millis, write_csv_row, write_json_line};
pub use roster::{RosterCounts, write_patients_csv, write_workforce_csv};
pub use shape::Shape;
use world::{BREAK_GLASS_REASONS, ROLES, User, resource_prefix, scatter27};

/// 2025-11-01T00:00:00Z, the start of the generated year, in Unix milliseconds.
pub const START_MS: i64 = 1_761_955_200_000;
/// 2026-11-01T00:00:00Z, exclusive end: the last event is at most 2026-10-31T23:59:59.999Z.
pub const END_MS: i64 = 1_793_491_200_000;

/// Share of events that arrive late (time earlier than the running clock).
pub const LATE_SHARE: f64 = 0.01;
/// Share of sessions (and so of events) that break the glass (purpose `ETREAT`).
pub const BREAK_GLASS_SHARE: f64 = 0.002;
/// Share of events that are denied; failures add [`FAILURE_SHARE`].
pub const DENIED_SHARE: f64 = 0.012;
/// Share of events that fail.
pub const FAILURE_SHARE: f64 = 0.008;

/// Parameters of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Events to generate.
    pub events: u64,
    /// Seed: the same seed and sizes give the same events.
    pub seed: u64,
    /// Workforce size.
    pub users: usize,
    /// Distinct patients.
    pub patients: u64,
    /// Workstations.
    pub devices: u32,
}

impl Config {
    /// The hospital shape: 8,000 users; patients scale with `events` (N/5, 1,000 to 2M).
    pub fn hospital(events: u64, seed: u64) -> Self {
        Self {
            events,
            seed,
            users: 8_000,
            patients: (events / 5).clamp(1_000, 2_000_000),
            devices: 3_000,
        }
    }
}

/// One generated event, with fields in the shape of wire format v1
/// (docs/design/canonical-event.md §0).
///
/// Empty strings mean "absent" for `resource_id`, `patient_id` and `detail`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// Client event id, `evt-<seed>-<n>`.
    pub id: String,
    /// When the access happened, Unix milliseconds (UTC).
    pub time_ms: i64,
    /// Actor id, `u-NNNNNN`.
    pub actor_id: String,
    /// Workforce role.
    pub actor_role: &'static str,
    /// Invented display name.
    pub actor_name: String,
    /// Actor kind, always `user`.
    pub actor_type: &'static str,
    /// Action (lowercase).
    pub action: &'static str,
    /// FHIR resource type, absent for login events.
    pub resource_type: Option<&'static str>,
    /// Resource id; empty for searches and logins.
    pub resource_id: String,
    /// `MRN-` + digits; empty for logins.
    pub patient_id: String,
    /// `None` (success, omitted), or `success`, `failure`, `denied`.
    pub outcome: Option<&'static str>,
    /// HL7 PurposeOfUse.
    pub purpose: Option<&'static str>,
    /// Justification, present exactly when purpose is `ETREAT`.
    pub reason: Option<&'static str>,
    /// Client IPv4 address (10.x).
    pub source_ip: [u8; 4],
    /// Originating system.
    pub source_system: &'static str,
    /// Workstation, `ws-NNNN`.
    pub source_device: String,
    /// Session id (UUID form).
    pub source_session: String,
    /// A JSON object as text, or empty.
    pub detail: String,
}

impl Event {
    /// The time in RFC 3339 form with milliseconds and `Z`.
    pub fn time_rfc3339(&self) -> String {
        let mut v = Vec::with_capacity(24);
        push_rfc3339_millis(&mut v, self.time_ms);
        String::from_utf8(v).unwrap_or_default()
    }
}

/// The session the generator is in the middle of.
#[derive(Default)]
struct Session {
    user: usize,
    patient: u64,
    remaining: u32,
    login_first: bool,
    device: u32,
    id: String,
    purpose: &'static str,
    reason: Option<&'static str>,
}

/// Deterministic event source for one [`Config`].
pub struct Generator {
    cfg: Config,
    rng: ChaCha8Rng,
    users: Vec<User>,
    clinical: Vec<usize>,
    inpatients: u64,
    n: u64,
    clock_ms: i64,
    session: Session,
}

pub(crate) fn mrn_number(rank: u64) -> u64 {
    100_000_000 + scatter27(rank)
}

fn device_ip(device: u32) -> [u8; 4] {
    [
        10,
        (10 + device / 250) as u8,
        (device % 250 + 1) as u8,
        ((device * 37) % 250 + 2) as u8,
    ]
}

impl Generator {
    /// A generator for `cfg`; the workforce is derived from the seed.
    pub fn new(cfg: Config) -> Self {
        let mut world_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5752_4c44);
        let users = world::workforce(&mut world_rng, cfg.users.max(1), cfg.devices.max(1));
        let clinical = (0..users.len())
            .filter(|&i| ROLES[users[i].role as usize].clinical)
            .collect();
        Self {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            users,
            clinical,
            inpatients: (cfg.patients / 10).max(1),
            n: 0,
            clock_ms: START_MS,
            session: Session::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Overwrites `ev` with the next event; false once `cfg.events` have been produced.
    pub fn next_into(&mut self, ev: &mut Event) -> bool {
        if self.n >= self.cfg.events {
            return false;
        }
        ev.id.clear();
        ev.id.push_str("evt-");
        push_u64_str(&mut ev.id, self.cfg.seed, 1);
        ev.id.push('-');
        push_u64_str(&mut ev.id, self.n, 1);
        if self.rng.random_bool(LATE_SHARE) {
            self.late_event(ev);
        } else {
            if self.session.remaining == 0 {
                self.start_session();
            }
            self.session_event(ev);
            // On-time events advance the clock: slot n of N over the year, jittered inside it.
            let span = (END_MS - START_MS) as u128;
            let n = self.cfg.events as u128;
            let base = START_MS + (span * self.n as u128 / n) as i64;
            let next = START_MS + (span * (self.n as u128 + 1) / n) as i64;
            let t = base + self.rng.random_range(0..(next - base).max(1));
            self.clock_ms = self.clock_ms.max(t);
            ev.time_ms = t;
        }
        self.n += 1;
        true
    }

    fn pick_user(&mut self, clinical: bool) -> usize {
        // Mildly heavy-tailed activity: low indexes work more.
        let u: f64 = self.rng.random();
        if clinical && !self.clinical.is_empty() {
            self.clinical[(u.powf(1.3) * self.clinical.len() as f64) as usize % self.clinical.len()]
        } else {
            (u.powf(1.3) * self.users.len() as f64) as usize % self.users.len()
        }
    }

    fn pick_patient(&mut self) -> u64 {
        let u: f64 = self.rng.random();
        if self.rng.random_bool(0.15) {
            // Long stays: a power law over the inpatient ranks, rank 0 heaviest.
            ((u * u * u) * self.inpatients as f64) as u64 % self.inpatients
        } else {
            (u * self.cfg.patients as f64) as u64 % self.cfg.patients
        }
    }

    fn start_session(&mut self) {
        let glass = self.rng.random_bool(BREAK_GLASS_SHARE);
        let user = self.pick_user(glass);
        let role = &ROLES[self.users[user].role as usize];
        let mean = if glass { 8.0 } else { role.session_mean };
        // Geometric length with the role's mean, capped.
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let len = 1 + (u.ln() / (1.0 - 1.0 / mean).ln()) as u32;
        let s = &mut self.session;
        s.user = user;
        s.remaining = len.min(80);
        s.login_first = self.rng.random_bool(0.15);
        s.device = if self.rng.random_bool(0.85) {
            self.users[user].device
        } else {
            self.rng.random_range(1..=self.cfg.devices.max(1))
        };
        s.purpose = role.purpose;
        s.reason = None;
        if glass {
            s.purpose = "ETREAT";
            s.reason =
                Some(BREAK_GLASS_REASONS[self.rng.random_range(0..BREAK_GLASS_REASONS.len())]);
        } else if role.clinical && self.rng.random_bool(0.03) {
            s.purpose = "HOPERAT";
        }
        self.session.patient = self.pick_patient();
        self.new_session_id();
    }

    fn new_session_id(&mut self) {
        let (a, b): (u64, u64) = (self.rng.random(), self.rng.random());
        self.session.id.clear();
        let _ = write!(
            self.session.id,
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        );
    }

    fn late_event(&mut self, ev: &mut Event) {
        // A standalone event synced late (offline device, batch interface): one user, one
        // patient, stamped minutes to days before the running clock.
        let saved = std::mem::take(&mut self.session);
        self.start_session();
        self.session.login_first = false;
        self.session_event(ev);
        self.session = saved;
        let delay_s = (120f64.ln() + self.rng.random::<f64>() * (259_200f64 / 120.0).ln()).exp();
        let delay_ms = (delay_s * 1000.0) as i64 + self.rng.random_range(0..1000);
        ev.time_ms = (self.clock_ms - delay_ms).max(START_MS);
    }

    fn session_event(&mut self, ev: &mut Event) {
        let s = &mut self.session;
        s.remaining = s.remaining.saturating_sub(1);
        let user = &self.users[s.user];
        let role = &ROLES[user.role as usize];
        ev.actor_id.clone_from(&user.id);
        ev.actor_role = role.name;
        ev.actor_name.clone_from(&user.name);
        ev.actor_type = "user";
        ev.source_ip = device_ip(s.device);
        ev.source_device.clear();
        ev.source_device.push_str("ws-");
        push_u64_str(&mut ev.source_device, u64::from(s.device), 4);
        ev.source_session.clone_from(&s.id);
        ev.resource_id.clear();
        ev.patient_id.clear();
        ev.detail.clear();
        ev.source_system = role.system;
        if s.login_first {
            s.login_first = false;
            ev.action = "login";
            ev.resource_type = None;
            ev.purpose = None;
            ev.reason = None;
        } else {
            let mrn = mrn_number(s.patient);
            ev.patient_id.push_str("MRN-");
            push_u64_str(&mut ev.patient_id, mrn, 1);
            ev.purpose = Some(s.purpose);
            ev.reason = s.reason;
            let action = role.actions.pick(&mut self.rng);
            let kind = role.resources.pick(&mut self.rng);
            ev.action = action;
            ev.resource_type = Some(kind);
            if kind == "ImagingStudy" {
                ev.source_system = "pacs";
            }
            match (action, kind) {
                ("search", "Patient") => {
                    let w = world::invented_name(&mut self.rng);
                    let stem: String = w.chars().take(3).collect::<String>().to_lowercase();
                    let _ = write!(ev.detail, r#"{{"query":"Patient?name={stem}*&_count=20"}}"#);
                }
                ("search", _) => {
                    let _ = write!(
                        ev.detail,
                        r#"{{"query":"{kind}?patient=MRN-{mrn}&_sort=-date&_count=50"}}"#
                    );
                }
                (_, "Patient") => {
                    ev.resource_id.push_str("pat-");
                    push_u64_str(&mut ev.resource_id, mrn, 1);
                }
                _ => {
                    let k: u64 = self.rng.random_range(1..2_000);
                    ev.resource_id.push_str(resource_prefix(kind));
                    ev.resource_id.push('-');
                    push_u64_str(&mut ev.resource_id, mrn, 1);
                    ev.resource_id.push('-');
                    push_u64_str(&mut ev.resource_id, k, 1);
                }
            }
            match action {
                "export" => {
                    let pages: u32 = self.rng.random_range(1..40);
                    let _ = write!(ev.detail, r#"{{"format":"pdf","pages":{pages}}}"#);
                }
                "print" => {
                    let p: u32 = self.rng.random_range(1..60);
                    let _ = write!(ev.detail, r#"{{"printer":"prn-{p:02}","copies":1}}"#);
                }
                _ => {}
            }
        }
        let u: f64 = self.rng.random();
        ev.outcome = if u < DENIED_SHARE {
            Some("denied")
        } else if u < DENIED_SHARE + FAILURE_SHARE {
            Some("failure")
        } else if u < 0.1 {
            Some("success")
        } else {
            None
        };
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let mut ev = Event::default();
        self.next_into(&mut ev).then_some(ev)
    }
}

/// What a generation pass wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Events written.
    pub events: u64,
    /// NDJSON bytes written.
    pub json_bytes: u64,
    /// CSV bytes written (0 when no CSV was asked for).
    pub csv_bytes: u64,
}

/// Writes the workload as NDJSON to `json` and, if given, the same events as CSV to `csv`.
pub fn write_workload<J: Write, C: Write>(
    cfg: Config,
    json: &mut J,
    mut csv: Option<(&mut C, &str)>,
) -> io::Result<Written> {
    let mut generator = Generator::new(cfg);
    let mut ev = Event::default();
    let (mut jbuf, mut cbuf) = (Vec::with_capacity(1 << 16), Vec::with_capacity(1 << 16));
    let mut w = Written::default();
    while generator.next_into(&mut ev) {
        write_json_line(&ev, &mut jbuf);
        if let Some((_, tenant)) = csv.as_ref() {
            write_csv_row(&ev, tenant, &mut cbuf);
        }
        w.events += 1;
        if jbuf.len() >= 1 << 16 {
            flush(json, &mut jbuf, &mut w.json_bytes)?;
            if let Some((c, _)) = csv.as_mut() {
                flush(*c, &mut cbuf, &mut w.csv_bytes)?;
            }
        }
    }
    flush(json, &mut jbuf, &mut w.json_bytes)?;
    if let Some((c, _)) = csv.as_mut() {
        flush(*c, &mut cbuf, &mut w.csv_bytes)?;
    }
    Ok(w)
}

fn flush<W: Write + ?Sized>(w: &mut W, buf: &mut Vec<u8>, count: &mut u64) -> io::Result<()> {
    w.write_all(buf)?;
    *count += buf.len() as u64;
    buf.clear();
    Ok(())
}
