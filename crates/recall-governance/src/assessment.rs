//! A breach impact assessment (the HIPAA Breach Notification Rule's path): its state,
//! the checks on what an officer sends, and the rules recall applies — the notification
//! deadlines and the media-notice test (docs/design/governance.md, "Breach assessments").
//!
//! Invariants:
//! - A state is complete on its own: every change event carries the whole of it, so one
//!   event says what the assessment was after that change.
//! - Deadlines derive only from the discovery date and the figures: individuals within
//!   60 days; HHS within 60 days when 500 or more are affected, otherwise in the annual
//!   log due 60 days after the end of the calendar year of discovery; the media when more
//!   than 500 residents of one state are affected.
//! - A patient's state of residence comes only through [`PatientStates`]; without a
//!   roster it is "unknown", and the media test says "unknown" rather than guess.

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use recall_query::IncidentScope;
use serde::{Deserialize, Serialize};

use crate::GovernanceError;

/// Days within which individuals (and HHS and the media, when they must be told) are
/// notified after discovery.
pub const NOTICE_DAYS: i64 = 60;
/// Affected individuals from which HHS is told within 60 days instead of the annual log.
pub const HHS_IMMEDIATE: u64 = 500;
/// More residents of one state than this: the media must be told.
pub const MEDIA_OVER: u64 = 500;
/// The state name of patients whose residence is not known.
pub const UNKNOWN_STATE: &str = "unknown";
/// Longest description, factor text or reason, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most values in a scope, all lists together (the state must fit one event).
pub const MAX_SCOPE_VALUES: usize = 32;

/// Where a patient lives, for the media test: the roster's answer, `None` when unknown.
pub trait PatientStates: Send + Sync {
    /// The state of residence of each of `patients` of `tenant`, in order.
    fn states(
        &self,
        tenant: &str,
        patients: &[String],
    ) -> Result<Vec<Option<String>>, GovernanceError>;
}

/// No patient roster: every state is unknown.
pub struct NoRoster;

impl PatientStates for NoRoster {
    fn states(&self, _: &str, patients: &[String]) -> Result<Vec<Option<String>>, GovernanceError> {
        Ok(vec![None; patients.len()])
    }
}

/// The incident's scope as sent and as stored (identifiers as given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDoc {
    /// `actor.id` any of.
    #[serde(default)]
    pub actors: Vec<String>,
    /// `source.ip` any of.
    #[serde(default)]
    pub ips: Vec<String>,
    /// `source.system` any of.
    #[serde(default)]
    pub systems: Vec<String>,
    /// `resource.type` any of.
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// `patient.id` any of.
    #[serde(default)]
    pub patients: Vec<String>,
    /// Window start (RFC 3339, inclusive).
    pub from: String,
    /// Window end (RFC 3339, exclusive).
    pub to: String,
}

/// What recall computed from the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Accesses in scope.
    pub events: u64,
    /// Distinct affected patients.
    pub patients: u64,
    /// Evidence for "acquired or viewed": accesses by outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// And by action.
    pub by_action: BTreeMap<String, u64>,
    /// Affected patients by state of residence (`unknown` without a roster).
    pub by_state: BTreeMap<String, u64>,
    /// Seqs below this were considered (the log's size when computed).
    pub horizon: u64,
}

/// The notification deadlines (dates, inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// Individuals: discovery + 60 days.
    pub individuals: String,
    /// HHS: the date.
    pub hhs: String,
    /// `within_60_days` (500 or more affected) or `annual_log`.
    pub hhs_route: String,
    /// `yes`, `no` or `unknown` (residence not known for enough patients).
    pub media_required: String,
    /// States with more than 500 affected residents.
    pub media_states: Vec<String>,
    /// Media notice due (when it is or may be required).
    pub media: Option<String>,
}

/// The four factors of the risk assessment (45 CFR 164.402(2)), the officer's text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factors {
    /// Nature and extent of the PHI involved.
    pub nature: Option<String>,
    /// The unauthorised person who used it or to whom it was disclosed.
    pub unauthorized_person: Option<String>,
    /// Whether the PHI was actually acquired or viewed.
    pub acquired_or_viewed: Option<String>,
    /// The extent to which the risk has been mitigated.
    pub mitigation: Option<String>,
}

/// The officer's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// A breach (notifications due) or not.
    pub breach: bool,
    /// Why.
    pub reason: String,
}

/// An assessment after its latest change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Random id (16 hex digits).
    pub id: String,
    /// 1 when opened, +1 per change.
    pub version: u32,
    /// What happened (the officer's text).
    pub description: String,
    /// Date of discovery (YYYY-MM-DD).
    pub discovered: String,
    /// The incident's scope.
    pub scope: ScopeDoc,
    /// Computed when opened.
    pub figures: Figures,
    /// From `discovered` and the figures.
    pub deadlines: Deadlines,
    /// The four factors.
    pub factors: Factors,
    /// The decision, once made.
    pub decision: Option<Decision>,
    /// When and by whom opened.
    pub opened: String,
    /// See `opened`.
    pub opened_by: String,
    /// When and by whom last changed.
    pub updated: String,
    /// See `updated`.
    pub updated_by: String,
}

/// `POST /v1/assessments` (and `recall assessments open`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// What happened.
    pub description: String,
    /// Date of discovery (YYYY-MM-DD).
    pub discovered: String,
    /// The incident's scope.
    pub scope: ScopeDoc,
}

/// `PATCH /v1/assessments/{id}`: each field given replaces the current one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// New description.
    pub description: Option<String>,
    /// Corrected discovery date (the deadlines follow).
    pub discovered: Option<String>,
    /// Factors to set (those absent keep their text).
    pub factors: Option<Factors>,
    /// The decision.
    pub decision: Option<Decision>,
}

/// A request that cannot be applied; names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field at fault (JSON path, e.g. `scope.ips`).
    pub field: &'static str,
    /// Why (never echoing the value).
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Checks free text: 1 to 2000 characters; line breaks and tabs allowed.
pub fn check_text(field: &'static str, text: &str) -> Result<(), Invalid> {
    let n = text.trim().chars().count();
    let control = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'));
    if n == 0 || text.chars().count() > MAX_TEXT_CHARS || control {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_TEXT_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

/// Parses a discovery date (YYYY-MM-DD), not later than tomorrow (UTC).
pub fn discovery_date(text: &str, now: Timestamp) -> Result<Date, Invalid> {
    let date: Date = text
        .parse()
        .map_err(|_| invalid("discovered", "must be a date, YYYY-MM-DD"))?;
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    if date > today.saturating_add(1.day()) || date.year() < 1990 {
        return Err(invalid(
            "discovered",
            "must not lie in the future, nor before 1990",
        ));
    }
    Ok(date)
}

impl ScopeDoc {
    /// The checked scope the index walks.
    pub fn compile(&self) -> Result<IncidentScope, Invalid> {
        let time = |field, v: &str| {
            v.parse::<Timestamp>()
                .map_err(|_| invalid(field, "must be an RFC 3339 timestamp"))
        };
        let (from, to) = (time("scope.from", &self.from)?, time("scope.to", &self.to)?);
        if from >= to {
            return Err(invalid("scope.to", "must be later than scope.from"));
        }
        let lists: [(&'static str, &Vec<String>); 5] = [
            ("scope.actors", &self.actors),
            ("scope.ips", &self.ips),
            ("scope.systems", &self.systems),
            ("scope.resource_types", &self.resource_types),
            ("scope.patients", &self.patients),
        ];
        for (field, list) in lists {
            if list
                .iter()
                .any(|v| v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control))
            {
                return Err(invalid(field, "each value must be 1 to 128 characters"));
            }
        }
        let total: usize = lists.iter().map(|(_, l)| l.len()).sum();
        if total > MAX_SCOPE_VALUES {
            return Err(invalid(
                "scope",
                format!("at most {MAX_SCOPE_VALUES} values in all lists together"),
            ));
        }
        let ips = self
            .ips
            .iter()
            .map(|s| s.parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("scope.ips", "each must be an IPv4 or IPv6 address"))?;
        Ok(IncidentScope {
            actors: self.actors.clone(),
            ips,
            systems: self.systems.clone(),
            resource_types: self.resource_types.clone(),
            patients: self.patients.clone(),
            from,
            to,
        })
    }
}

impl OpenRequest {
    /// Checks every field; the compiled scope and the discovery date.
    pub fn check(&self, now: Timestamp) -> Result<(IncidentScope, Date), Invalid> {
        check_text("description", &self.description)?;
        let date = discovery_date(&self.discovered, now)?;
        Ok((self.scope.compile()?, date))
    }
}

impl UpdateRequest {
    /// Checks every field given; refuses an empty change.
    pub fn check(&self, now: Timestamp) -> Result<(), Invalid> {
        let f = self.factors.clone().unwrap_or_default();
        let texts = [
            ("description", &self.description),
            ("factors.nature", &f.nature),
            ("factors.unauthorized_person", &f.unauthorized_person),
            ("factors.acquired_or_viewed", &f.acquired_or_viewed),
            ("factors.mitigation", &f.mitigation),
        ];
        for (field, text) in texts {
            if let Some(t) = text {
                check_text(field, t)?;
            }
        }
        if let Some(d) = &self.discovered {
            discovery_date(d, now)?;
        }
        if let Some(d) = &self.decision {
            check_text("decision.reason", &d.reason)?;
        }
        let nothing = self.description.is_none()
            && self.discovered.is_none()
            && self.decision.is_none()
            && texts[1..].iter().all(|(_, t)| t.is_none());
        if nothing {
            return Err(invalid("body", "names nothing to change"));
        }
        Ok(())
    }

    /// Applies the (checked) change; the names of the fields it changed.
    pub fn apply(&self, a: &mut Assessment) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut set = |name, slot: &mut Option<String>, v: &Option<String>| {
            if v.is_some() && slot != v {
                slot.clone_from(v);
                changed.push(name);
            }
        };
        if let Some(f) = &self.factors {
            set("factors.nature", &mut a.factors.nature, &f.nature);
            set(
                "factors.unauthorized_person",
                &mut a.factors.unauthorized_person,
                &f.unauthorized_person,
            );
            set(
                "factors.acquired_or_viewed",
                &mut a.factors.acquired_or_viewed,
                &f.acquired_or_viewed,
            );
            set(
                "factors.mitigation",
                &mut a.factors.mitigation,
                &f.mitigation,
            );
        }
        if let Some(d) = self.description.as_ref().filter(|d| **d != a.description) {
            a.description.clone_from(d);
            changed.push("description");
        }
        if let Some(d) = self.discovered.as_ref().filter(|d| **d != a.discovered) {
            a.discovered.clone_from(d);
            changed.push("discovered");
        }
        if self.decision.is_some() && self.decision != a.decision {
            a.decision.clone_from(&self.decision);
            changed.push("decision");
        }
        changed
    }
}

/// The deadlines for an incident discovered on `discovered` with these figures.
pub fn deadlines(discovered: Date, affected: u64, by_state: &BTreeMap<String, u64>) -> Deadlines {
    let plus = |d: Date| d.saturating_add(NOTICE_DAYS.days()).to_string();
    let (hhs, hhs_route) = if affected >= HHS_IMMEDIATE {
        (plus(discovered), "within_60_days")
    } else {
        let year_end = jiff::civil::date(discovered.year(), 12, 31);
        (plus(year_end), "annual_log")
    };
    let media_states: Vec<String> = by_state
        .iter()
        .filter(|(s, n)| s.as_str() != UNKNOWN_STATE && **n > MEDIA_OVER)
        .map(|(s, _)| s.clone())
        .collect();
    let unknown = by_state.get(UNKNOWN_STATE).copied().unwrap_or(0);
    // Unknown residents could tip a state over 500 only when more than 500 are affected.
    let media_required = if !media_states.is_empty() {
        "yes"
    } else if unknown > 0 && affected > MEDIA_OVER {
        "unknown"
    } else {
        "no"
    };
    Deadlines {
        individuals: plus(discovered),
        hhs,
        hhs_route: hhs_route.into(),
        media_required: media_required.into(),
        media_states,
        media: (media_required != "no").then(|| plus(discovered)),
    }
}

#[cfg(test)]
#[path = "assessment_tests.rs"]
mod tests;
