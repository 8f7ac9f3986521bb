//! Rosters of the hospital shape, for the compliance workflows (access review, breach
//! assessment): the workforce roster (user id, name, role, department, status, dates) and
//! the patient roster (patient id → state of residence), as CSV in the columns `recall
//! roster import` reads.
//!
//! Invariants: deterministic for a [`Config`]; the workforce rows are the generator's own
//! users (same ids, names, roles), so the roster matches the events; about 1% of users are
//! left out (actors unknown to the roster), 2% are terminated and 1% on leave with a date
//! inside the generated year (so some have accesses after it); every patient of the
//! population has a state, skewed so one state holds most of them.

use std::io::{self, Write};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::world::{self, ROLES, scatter27};
use crate::{Config, END_MS, START_MS, mrn_number, push_rfc3339_millis};

/// Departments, picked per user from a hash of its index.
const DEPARTMENTS: &[&str] = &[
    "Medicine",
    "Surgery",
    "Pediatrics",
    "Emergency",
    "Oncology",
    "Radiology",
    "Laboratory",
    "Pharmacy",
    "Administration",
    "Information Technology",
];

/// States of residence with weights in per mille: a regional hospital's catchment.
const STATES: &[(&str, u64)] = &[
    ("MA", 620),
    ("NH", 120),
    ("RI", 90),
    ("CT", 70),
    ("ME", 40),
    ("VT", 30),
    ("NY", 20),
    ("FL", 10),
];

/// Rows written per roster kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RosterCounts {
    /// Workforce rows (active, terminated, leave).
    pub active: u64,
    /// Terminated users.
    pub terminated: u64,
    /// Users on leave.
    pub leave: u64,
    /// Users of the workforce left out of the roster.
    pub missing: u64,
}

/// A stable 64-bit hash of (seed, salt, i), for per-row choices independent of the events.
fn mix(seed: u64, salt: u64, i: u64) -> u64 {
    let mut x = seed ^ salt.rotate_left(17) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

fn date(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_rfc3339_millis(&mut v, ms);
    String::from_utf8_lossy(&v[..10]).into_owned()
}

/// Writes the workforce roster as CSV with a header.
pub fn write_workforce_csv<W: Write>(cfg: Config, out: &mut W) -> io::Result<RosterCounts> {
    // The same world RNG as `Generator::new`, so ids, names and roles match the events.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5752_4c44);
    let users = world::workforce(&mut rng, cfg.users.max(1), cfg.devices.max(1));
    writeln!(
        out,
        "user_id,name,role,department,status,hire_date,status_date"
    )?;
    let mut counts = RosterCounts::default();
    let year = (END_MS - START_MS) as u64;
    for (i, u) in users.iter().enumerate() {
        let h = mix(cfg.seed, 0x726f_7374, i as u64);
        // Hired 2010-01-01 .. 2025-10-31, before the generated year.
        let hired = 1_262_304_000_000 + (h >> 20) as i64 % (START_MS - 1_262_304_000_000);
        let when = date(START_MS + ((h >> 8) % year) as i64);
        let (status, status_date) = match h % 100 {
            0 => {
                counts.missing += 1;
                continue;
            }
            1 | 2 => {
                counts.terminated += 1;
                ("terminated", when)
            }
            3 => {
                counts.leave += 1;
                ("leave", when)
            }
            _ => {
                counts.active += 1;
                ("active", String::new())
            }
        };
        let dept = DEPARTMENTS[(h >> 40) as usize % DEPARTMENTS.len()];
        writeln!(
            out,
            "{},{},{},{dept},{status},{},{status_date}",
            u.id,
            u.name,
            ROLES[u.role as usize].name,
            date(hired)
        )?;
    }
    Ok(counts)
}

/// Writes the patient roster (every patient of the population, with a state) as CSV.
pub fn write_patients_csv<W: Write>(cfg: Config, out: &mut W) -> io::Result<u64> {
    writeln!(out, "patient_id,state")?;
    let total: u64 = STATES.iter().map(|s| s.1).sum();
    for rank in 0..cfg.patients {
        let mut x = mix(cfg.seed, 0x7374_6174, scatter27(rank)) % total;
        let state = STATES
            .iter()
            .find(|(_, w)| {
                let hit = x < *w;
                x = x.saturating_sub(*w);
                hit
            })
            .map_or("MA", |s| s.0);
        writeln!(out, "MRN-{},{state}", mrn_number(rank))?;
    }
    Ok(cfg.patients)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::{Event, Generator};

    fn text(cfg: Config) -> (String, RosterCounts, String) {
        let (mut w, mut p) = (Vec::new(), Vec::new());
        let counts = write_workforce_csv(cfg, &mut w).unwrap();
        write_patients_csv(cfg, &mut p).unwrap();
        (
            String::from_utf8(w).unwrap(),
            counts,
            String::from_utf8(p).unwrap(),
        )
    }

    #[test]
    fn rosters_match_the_events_and_have_every_status() {
        let cfg = Config::hospital(20_000, 3);
        let (w, counts, p) = text(cfg);
        let rows: BTreeMap<&str, Vec<&str>> = w
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), 7, "{l}");
                (f[0], f)
            })
            .collect();
        assert_eq!(
            rows.len() as u64,
            counts.active + counts.terminated + counts.leave
        );
        assert_eq!(rows.len() as u64 + counts.missing, cfg.users as u64);
        assert!(counts.missing > 0 && counts.terminated > 0 && counts.leave > 0);
        let states: BTreeMap<&str, &str> = p
            .lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap())
            .collect();
        assert_eq!(states.len() as u64, cfg.patients);
        let (mut seen, mut unknown) = (BTreeSet::new(), 0);
        let mut ev = Event::default();
        let mut g = Generator::new(cfg);
        while g.next_into(&mut ev) {
            match rows.get(ev.actor_id.as_str()) {
                // Same person as in the events: name and role.
                Some(f) => assert_eq!((f[1], f[2]), (ev.actor_name.as_str(), ev.actor_role)),
                None => unknown += 1,
            }
            if !ev.patient_id.is_empty() {
                assert!(
                    states.contains_key(ev.patient_id.as_str()),
                    "{}",
                    ev.patient_id
                );
            }
            seen.insert(ev.actor_id.clone());
        }
        assert!(unknown > 0, "some actors are not in the roster");
        let home = states.values().filter(|s| **s == "MA").count() as u64;
        assert!(home * 2 > cfg.patients, "one state holds most patients");
        assert_eq!(text(cfg).0, w, "deterministic");
    }
}
