//! The static shape of the synthetic hospital: roles, what each role does, the workforce.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A weighted table: items with integer weights, sampled by one draw.
pub(crate) struct Weighted<T: 'static> {
    items: &'static [(T, u32)],
    total: u32,
}

impl<T: Copy> Weighted<T> {
    pub(crate) const fn new(items: &'static [(T, u32)]) -> Self {
        let mut total = 0;
        let mut i = 0;
        while i < items.len() {
            total += items[i].1;
            i += 1;
        }
        Self { items, total }
    }

    pub(crate) fn pick(&self, rng: &mut ChaCha8Rng) -> T {
        let mut x = rng.random_range(0..self.total);
        for &(item, w) in self.items {
            if x < w {
                return item;
            }
            x -= w;
        }
        self.items[self.items.len() - 1].0
    }
}

/// What a role does: its share of the workforce, actions, resources, system, purpose.
pub(crate) struct Role {
    pub name: &'static str,
    /// Share of the workforce, in per mille.
    pub share: u32,
    pub actions: Weighted<&'static str>,
    pub resources: Weighted<&'static str>,
    /// The system the role's sessions usually run in.
    pub system: &'static str,
    /// Default PurposeOfUse.
    pub purpose: &'static str,
    /// Mean events per session (geometric).
    pub session_mean: f64,
    /// Whether the role treats patients (may break the glass).
    pub clinical: bool,
}

const CLINICAL_ACTIONS: &[(&str, u32)] = &[
    ("read", 66),
    ("search", 10),
    ("create", 10),
    ("update", 8),
    ("print", 4),
    ("export", 2),
];
const PHYSICIAN_RESOURCES: &[(&str, u32)] = &[
    ("Observation", 18),
    ("DiagnosticReport", 16),
    ("MedicationRequest", 14),
    ("DocumentReference", 14),
    ("Condition", 10),
    ("Encounter", 8),
    ("Procedure", 6),
    ("ImagingStudy", 6),
    ("Patient", 4),
    ("ServiceRequest", 4),
];

/// The workforce roles of the hospital shape.
pub(crate) static ROLES: &[Role] = &[
    Role {
        name: "nurse",
        share: 320,
        actions: Weighted::new(&[
            ("read", 72),
            ("search", 6),
            ("update", 10),
            ("create", 10),
            ("print", 2),
        ]),
        resources: Weighted::new(&[
            ("Observation", 30),
            ("MedicationAdministration", 18),
            ("Encounter", 10),
            ("Patient", 8),
            ("DocumentReference", 10),
            ("Condition", 6),
            ("AllergyIntolerance", 6),
            ("CarePlan", 6),
            ("MedicationRequest", 6),
        ]),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 7.0,
        clinical: true,
    },
    Role {
        name: "physician",
        share: 140,
        actions: Weighted::new(CLINICAL_ACTIONS),
        resources: Weighted::new(PHYSICIAN_RESOURCES),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 10.0,
        clinical: true,
    },
    Role {
        name: "resident",
        share: 100,
        actions: Weighted::new(CLINICAL_ACTIONS),
        resources: Weighted::new(PHYSICIAN_RESOURCES),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 12.0,
        clinical: true,
    },
    Role {
        name: "pharmacist",
        share: 40,
        actions: Weighted::new(&[("read", 60), ("update", 15), ("create", 20), ("search", 5)]),
        resources: Weighted::new(&[
            ("MedicationRequest", 45),
            ("MedicationDispense", 25),
            ("AllergyIntolerance", 10),
            ("Observation", 10),
            ("Patient", 10),
        ]),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 6.0,
        clinical: true,
    },
    Role {
        name: "registrar",
        share: 80,
        actions: Weighted::new(&[
            ("read", 45),
            ("update", 25),
            ("create", 15),
            ("search", 10),
            ("print", 5),
        ]),
        resources: Weighted::new(&[
            ("Patient", 40),
            ("Coverage", 20),
            ("Appointment", 25),
            ("Encounter", 15),
        ]),
        system: "adt",
        purpose: "HOPERAT",
        session_mean: 3.0,
        clinical: false,
    },
    Role {
        name: "billing",
        share: 70,
        actions: Weighted::new(&[
            ("read", 55),
            ("search", 10),
            ("update", 10),
            ("export", 15),
            ("print", 10),
        ]),
        resources: Weighted::new(&[
            ("Claim", 30),
            ("Coverage", 20),
            ("Encounter", 20),
            ("Procedure", 15),
            ("Account", 15),
        ]),
        system: "billing",
        purpose: "HPAYMT",
        session_mean: 5.0,
        clinical: false,
    },
    Role {
        name: "lab-tech",
        share: 60,
        actions: Weighted::new(&[("create", 35), ("update", 25), ("read", 35), ("search", 5)]),
        resources: Weighted::new(&[
            ("Observation", 45),
            ("Specimen", 25),
            ("DiagnosticReport", 20),
            ("ServiceRequest", 10),
        ]),
        system: "lis",
        purpose: "TREAT",
        session_mean: 8.0,
        clinical: false,
    },
    Role {
        name: "radiology-tech",
        share: 40,
        actions: Weighted::new(&[("read", 45), ("create", 25), ("update", 20), ("search", 10)]),
        resources: Weighted::new(&[
            ("ImagingStudy", 50),
            ("DiagnosticReport", 20),
            ("ServiceRequest", 20),
            ("Patient", 10),
        ]),
        system: "pacs",
        purpose: "TREAT",
        session_mean: 6.0,
        clinical: false,
    },
    Role {
        name: "medical-assistant",
        share: 60,
        actions: Weighted::new(&[("read", 65), ("update", 15), ("create", 15), ("search", 5)]),
        resources: Weighted::new(&[
            ("Observation", 35),
            ("Appointment", 20),
            ("Patient", 15),
            ("AllergyIntolerance", 10),
            ("Encounter", 20),
        ]),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 5.0,
        clinical: true,
    },
    Role {
        name: "therapist",
        share: 40,
        actions: Weighted::new(&[("read", 65), ("create", 20), ("update", 15)]),
        resources: Weighted::new(&[
            ("Observation", 30),
            ("CarePlan", 30),
            ("DocumentReference", 25),
            ("Encounter", 15),
        ]),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 6.0,
        clinical: true,
    },
    Role {
        name: "social-worker",
        share: 30,
        actions: Weighted::new(&[("read", 75), ("create", 15), ("update", 10)]),
        resources: Weighted::new(&[
            ("DocumentReference", 40),
            ("Patient", 20),
            ("Encounter", 20),
            ("CarePlan", 20),
        ]),
        system: "ehr-prod",
        purpose: "TREAT",
        session_mean: 4.0,
        clinical: false,
    },
    Role {
        name: "it-admin",
        share: 20,
        actions: Weighted::new(&[
            ("read", 40),
            ("search", 30),
            ("update", 15),
            ("execute", 15),
        ]),
        resources: Weighted::new(&[("Patient", 50), ("Encounter", 20), ("Account", 30)]),
        system: "ehr-prod",
        purpose: "HOPERAT",
        session_mean: 3.0,
        clinical: false,
    },
];

/// Short id prefix for a FHIR resource type.
pub(crate) fn resource_prefix(kind: &str) -> &'static str {
    match kind {
        "Observation" => "obs",
        "MedicationAdministration" => "mad",
        "MedicationRequest" => "mrq",
        "MedicationDispense" => "mdi",
        "Encounter" => "enc",
        "Patient" => "pat",
        "DocumentReference" => "doc",
        "Condition" => "cnd",
        "AllergyIntolerance" => "alg",
        "CarePlan" => "cpl",
        "DiagnosticReport" => "dxr",
        "Procedure" => "prc",
        "ImagingStudy" => "img",
        "ServiceRequest" => "srq",
        "Coverage" => "cov",
        "Appointment" => "apt",
        "Claim" => "clm",
        "Account" => "acc",
        "Specimen" => "spc",
        _ => "res",
    }
}

/// Justifications given when breaking the glass.
pub(crate) static BREAK_GLASS_REASONS: &[&str] = &[
    "code blue",
    "rapid response team called",
    "trauma activation in emergency department",
    "patient unresponsive, no consent possible",
    "emergency surgery consult",
    "covering physician overnight, treating team unavailable",
];

/// A member of the workforce.
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub role: u8,
    /// Home workstation number.
    pub device: u32,
}

// Syllables chosen to read as obviously invented names.
const ONSETS: &[&str] = &[
    "zor", "qua", "vex", "lim", "dru", "pli", "kel", "mor", "tav", "bri", "fen", "yos", "gra",
    "nul", "xan", "ost", "wim", "hep", "sar", "tol",
];
const CODAS: &[&str] = &[
    "ak", "imon", "ella", "ux", "orin", "abel", "iq", "onda", "ust", "ivar", "ette", "ozz", "una",
    "eth", "ambo", "ix",
];

fn invented_word(rng: &mut ChaCha8Rng, parts: usize) -> String {
    let mut w = String::with_capacity(12);
    for _ in 0..parts {
        w.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
    }
    w.push_str(CODAS[rng.random_range(0..CODAS.len())]);
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => w,
    }
}

/// An obviously fake person name such as "Vexak Quazorimon".
pub(crate) fn invented_name(rng: &mut ChaCha8Rng) -> String {
    let first = invented_word(rng, 1);
    let parts = rng.random_range(1..=2);
    let last = invented_word(rng, parts);
    format!("{first} {last}")
}

/// Builds the workforce: `count` users, roles drawn by share, ids unique.
pub(crate) fn workforce(rng: &mut ChaCha8Rng, count: usize, devices: u32) -> Vec<User> {
    let total: u32 = ROLES.iter().map(|r| r.share).sum();
    (0..count)
        .map(|i| {
            let mut x = rng.random_range(0..total);
            let mut role = 0;
            for (k, r) in ROLES.iter().enumerate() {
                if x < r.share {
                    role = k;
                    break;
                }
                x -= r.share;
            }
            User {
                // Employee numbers: spread out, unique (7,919 is prime to 900,000).
                id: format!("u-{:06}", 100_000 + (i as u64 * 7_919) % 900_000),
                name: invented_name(rng),
                role: role as u8,
                device: rng.random_range(1..=devices),
            }
        })
        .collect()
}

/// A bijection on [0, 2^27): scatters patient ranks over the MRN space.
pub(crate) fn scatter27(mut x: u64) -> u64 {
    const MASK: u64 = (1 << 27) - 1;
    x = x.wrapping_mul(0x5bd1_e995).wrapping_add(0x2f1d) & MASK;
    x ^= x >> 13;
    x = x.wrapping_mul(0x0001_9a3b_c7d1 | 1) & MASK;
    x ^= x >> 11;
    x
}
