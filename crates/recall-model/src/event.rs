//! The normalised event types.

use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;

/// A validated, normalised audit event as a client sent it (no server fields yet).
///
/// Optional fields that were absent or `null` are `None`; the canonical form omits them.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Client event id (≤ 128 chars): the idempotency key within a tenant.
    pub id: Option<String>,
    /// When the access happened, normalised to UTC.
    pub time: Timestamp,
    /// Tenant named by the client, if any (must match the caller's tenant).
    pub tenant: Option<String>,
    /// Who acted.
    pub actor: Actor,
    /// What was done: lowercase, open set (`read`, `update`, `login`, …).
    pub action: String,
    /// What was touched.
    pub resource: Option<Resource>,
    /// Whose data was touched (one patient per event, as IHE BALP).
    pub patient: Option<Patient>,
    /// How it ended; `success` when the client said nothing.
    pub outcome: Outcome,
    /// HL7 PurposeOfUse code; `ETREAT` marks emergency (break-glass) access.
    pub purpose: Option<String>,
    /// Free-text justification; required when `purpose` is `ETREAT`.
    pub reason: Option<String>,
    /// Where the access came from.
    pub source: Option<Source>,
    /// Free-form object (≤ 16 KiB in canonical form).
    pub detail: Option<serde_json::Map<String, serde_json::Value>>,
    /// The original record recall decoded this event from (FHIR, ATNA); set only by
    /// recall's decoders, never read from a client's native event.
    pub origin: Option<crate::Origin>,
}

/// The person, system or device that acted.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// Required identifier of the actor.
    pub id: String,
    /// Workforce role, e.g. `nurse`.
    pub role: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Kind of actor (`user`, `system`, `device`, …); the wire name is `type`.
    pub kind: Option<String>,
}

/// The resource that was touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Resource type (e.g. a FHIR resource type such as `Observation`); wire name `type`.
    pub kind: String,
    /// Resource identifier.
    pub id: Option<String>,
}

/// The patient whose data was touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    /// Patient identifier (e.g. an MRN).
    pub id: String,
}

/// Where the access came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Source {
    /// Client IP address, normalised to its canonical text form.
    pub ip: Option<IpAddr>,
    /// Originating system, e.g. `ehr-prod`.
    pub system: Option<String>,
    /// Workstation or device.
    pub device: Option<String>,
    /// Session identifier.
    pub session: Option<String>,
}

/// How the access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// The action succeeded.
    #[default]
    Success,
    /// The action was attempted and failed.
    Failure,
    /// The action was refused by access control.
    Denied,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event as the log holds it: the client's event plus the server's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The normalised client event (its `tenant` field is ignored in favour of `tenant` below).
    pub event: Event,
    /// The tenant whose log holds the event.
    pub tenant: String,
    /// Position in the tenant's log, from 0.
    pub seq: u64,
    /// Server time when the event was accepted.
    pub received: Timestamp,
    /// The credential that appended the event (set by recall, never by the client):
    /// `key:<id>`, `jwt:<sub>`, `import:<os user>`, or `recall:…` for recall's own records.
    /// `None` only for events of canonical format v1, appended before recall recorded it.
    pub appended_by: Option<String>,
}

/// A key epoch: the calendar month (UTC) of an event's `time`, as `yyyymm`.
///
/// Data keys and commitment secrets are per tenant and per epoch, so an epoch can be
/// destroyed (retention) without touching any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u32);

impl Epoch {
    /// The epoch holding `time`.
    pub fn of(time: Timestamp) -> Self {
        let dt = time.to_zoned(jiff::tz::TimeZone::UTC);
        // Years are 1..=9999 for a jiff Timestamp, so this never overflows.
        Self(dt.year().unsigned_abs() as u32 * 100 + dt.month().unsigned_abs() as u32)
    }

    /// Parses `yyyy-mm` (the Display form).
    pub fn parse(text: &str) -> Option<Self> {
        let (y, m) = text.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let (y, m): (u32, u32) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&m).then_some(Self(y * 100 + m))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.0 / 100, self.0 % 100)
    }
}
