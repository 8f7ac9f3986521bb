//! The one place that builds recall's own audit events: uses of the log (DICOM 110101),
//! credential and hold changes, retention runs, key rotations, reindexing, and the start
//! and stop of recording. Every path (the server, the CLI, the retention run) builds them
//! here, so an auditor finds one shape per kind of act (docs/design/governance.md).
//!
//! These events carry `source.system` `recall` (the server) or `recall-cli` (the CLI);
//! ingest refuses those two names from clients ([`RESERVED_SYSTEMS`]), so `verify` can
//! tell a retention record of recall's from an event a writer sent.

use std::net::IpAddr;

use jiff::Timestamp;
use recall_model::Event;
use recall_store::retention::RetentionRecord;
use serde_json::{Map, Value, json};

use crate::assessment::Assessment;
use crate::credentials::KeyInfo;
use crate::holds::Hold;

pub use recall_model::RESERVED_SYSTEMS;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// `key:<id>`, `jwt:<sub>`, `cli:<os user>` or `recall:<task>`.
    pub id: String,
    /// The credential's role, when a credential acted.
    pub role: Option<String>,
    /// `user`, `service` or `system`.
    pub kind: &'static str,
}

impl Who {
    /// recall itself (a periodic task such as `recall:retention`).
    pub fn system(task: &str) -> Who {
        Who {
            id: format!("recall:{task}"),
            role: None,
            kind: "system",
        }
    }

    /// An operating-system user running the CLI (see [`crate::operator`]).
    pub fn operator(name: &str) -> Who {
        Who {
            id: format!("cli:{name}"),
            role: None,
            kind: "user",
        }
    }
}

/// Through what the act came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `recall` (the server) or `recall-cli`.
    pub system: &'static str,
    /// The endpoint or command, e.g. `POST /v1/holds` or `recall holds create`.
    pub endpoint: String,
    /// The caller's address (HTTP).
    pub ip: Option<IpAddr>,
}

impl Via {
    /// The server, at `endpoint`, called from `ip`.
    pub fn http(endpoint: &str, ip: Option<IpAddr>) -> Via {
        Via {
            system: "recall",
            endpoint: endpoint.to_owned(),
            ip,
        }
    }

    /// The server acting on its own (no request).
    pub fn server(task: &str) -> Via {
        Via {
            system: "recall",
            endpoint: task.to_owned(),
            ip: None,
        }
    }

    /// The CLI running `command` (e.g. `recall keys create`).
    pub fn cli(command: &str) -> Via {
        Via {
            system: "recall-cli",
            endpoint: command.to_owned(),
            ip: None,
        }
    }
}

/// A use of the log: a search or event read (`search`) or a report (`report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseKind {
    /// Searches and event reads.
    Search,
    /// Reports.
    Report,
    /// Exports (`GET /v1/export`, `recall export`, a forwarder's sink).
    Export,
}

/// A change to a credential or a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created (a key) or placed (a hold).
    Create,
    /// Revoked (a key).
    Revoke,
    /// Released (a hold).
    Release,
}

impl Change {
    fn action(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Revoke => "revoke",
            Change::Release => "delete",
        }
    }
}

/// A key-management act on the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The keystore is re-wrapped under a new key-encryption key: recorded before it is
    /// (afterwards the configured KEK may no longer open the data directory), and again
    /// with outcome `failure` if the rotation failed and the old KEK still holds.
    Kek {
        /// The rotation failed; the old KEK still wraps the keystore.
        failed: bool,
    },
    /// A new checkpoint signing key signs; the old one co-signs.
    SigningStarted {
        /// The new key (C2SP vkey, public).
        vkey: String,
    },
    /// The signing rotation ended: only the new key signs.
    SigningFinished {
        /// The key that signs now.
        vkey: String,
        /// Keys retired.
        retired: usize,
    },
}

/// What happened to a console session (`recall_server::console`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAct {
    /// A person signed in.
    Login,
    /// A sign-in was refused (wrong password or code, disabled user, locked user).
    LoginFailed,
    /// A person signed out (the session ended server-side).
    Logout,
    /// Too many failures in a row: the user is locked for a while.
    Lockout,
}

/// A change to a console user (`users.rs`, through `user_changes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Created.
    Create,
    /// Disabled: no more sign-ins.
    Disable,
    /// Given a new TOTP secret (and unlocked).
    ResetTotp,
}

/// One of recall's own acts, to be recorded in a tenant's log.
#[derive(Debug, Clone)]
pub enum Act<'a> {
    /// Someone searched, read or reported on the log (DICOM 110101 "Audit Log Used").
    LogUsed {
        /// Search or report.
        kind: UseKind,
        /// The patient asked about, if any.
        patient: Option<&'a str>,
        /// The other parameters of the question.
        query: Map<String, Value>,
        /// Why the caller needs fields kept behind a justification, when it said so.
        justification: Option<&'a str>,
        /// The request was refused (outcome `denied`): a patient credential asking about
        /// another patient, recorded because probing is what a privacy officer looks for.
        refused: bool,
    },
    /// An API key created or revoked (DICOM 110113 "Security Alert", 110136 "Security
    /// Roles Changed": granting a role is granting access).
    KeyChanged {
        /// Create or revoke.
        change: Change,
        /// The key's public facts.
        key: &'a KeyInfo,
    },
    /// A legal hold placed or released.
    HoldChanged {
        /// Create or release.
        change: Change,
        /// The hold.
        hold: &'a Hold,
        /// The held patient (placing a patient hold), so the hold shows in that patient's
        /// access report.
        patient: Option<&'a str>,
        /// The held actor (placing an actor hold).
        actor: Option<&'a str>,
    },
    /// A retention run about to destroy the keys of the months it names.
    RetentionRun(&'a RetentionRecord),
    /// A key rotation (DICOM 110113, 110129 "Security Configuration").
    Rotated(&'a Rotation),
    /// The indexes were rebuilt from the logs.
    Reindexed {
        /// Events indexed.
        events: u64,
    },
    /// The server started recording (DICOM 110113, 110134 "Audit Recording Started").
    RecordingStarted {
        /// The previous run ended without its stop record (a crash or `kill -9`); when it
        /// started, if known.
        unclean_previous: Option<Option<Timestamp>>,
    },
    /// The server stops recording (DICOM 110113, 110133 "Audit Recording Stopped").
    RecordingStopped,
    /// A break-glass access reviewed (`reviews.rs`): names the access's seq and leaf hash.
    BreakGlassReviewed(&'a crate::reviews::ReviewRecord<'a>),
    /// A roster was imported (replaced): counts only, never its rows.
    RosterImported(&'a crate::roster::Counts),
    /// A periodic access review was signed off: who reviewed which period, and the
    /// SHA-256 of the exact report (its JSON form) they reviewed.
    AccessReviewSignedOff(&'a crate::access_review::Signoff),
    /// A breach impact assessment opened or changed: the event carries its whole state.
    AssessmentChanged {
        /// The state after the change.
        assessment: &'a Assessment,
        /// The fields the change set (`opened` when opened).
        changed: &'a [&'a str],
        /// The event's id, under which this version is found again (`assessments.rs`).
        event_id: &'a str,
    },
    /// A console sign-in, failed sign-in, sign-out or lockout (DICOM 110114 "User
    /// Authentication"; a lockout is a 110113 security alert). Never carries a password or
    /// a code; the actor is the user (`user:<name>`).
    ConsoleSession(SessionAct),
    /// A console user created, disabled or given a new second factor (DICOM 110113,
    /// 110136 "Security Roles Changed", like an API key). Never carries the password or
    /// the TOTP secret; the resource id is the sign-in name.
    UserChanged {
        /// What changed.
        change: UserChange,
        /// The user's public facts.
        user: &'a crate::users::UserInfo,
    },
    /// Failed integrity verifications of the tenant's log acknowledged (`integrity.rs`).
    IntegrityAcknowledged {
        /// Failures acknowledged.
        failures: u64,
        /// The newest verdict then (its number in `integrity.db`).
        latest_verdict: i64,
    },
}

/// The change a record of [`Act::KeyChanged`] flags as granting or ending PHI access
/// (`detail.reads_phi`), with the key's role: what the server counts for alerting
/// (`recall_phi_key_changes_total`). `None` for every other event. The role is parsed,
/// so a metric label built from it takes only the seven role names.
pub fn phi_key_change(e: &Event) -> Option<(&'static str, crate::credentials::Role)> {
    let detail = e.detail.as_ref()?;
    if e.resource.as_ref()?.kind != "ApiKey" || detail.get("reads_phi") != Some(&json!(true)) {
        return None;
    }
    let change = match e.action.as_str() {
        "create" => "create",
        "revoke" => "revoke",
        _ => return None,
    };
    let role = detail.get("role")?.as_str()?.parse().ok()?;
    Some((change, role))
}

/// A DICOM event id and, for security alerts, its type.
type Codes = Option<(&'static str, Option<&'static str>)>;

/// Why an act could not become an event (a bug in this module: tested for every act).
#[derive(Debug, thiserror::Error)]
#[error("recall's own audit event is invalid: {field}: {message}")]
pub struct InvalidRecord {
    /// The field the event format refused.
    pub field: String,
    /// Why.
    pub message: String,
}

impl Act<'_> {
    /// The event recording this act by `who` through `via` at `time`, validated by the event
    /// format's own parser.
    pub fn event(&self, who: &Who, via: &Via, time: Timestamp) -> Result<Event, InvalidRecord> {
        let mut actor = json!({"id": who.id, "type": who.kind});
        if let Some(r) = &who.role {
            actor["role"] = json!(r);
        }
        let mut source = json!({"system": via.system});
        if let Some(ip) = via.ip {
            source["ip"] = json!(ip.to_string());
        }
        let mut e = json!({
            "time": time.to_string(),
            "actor": actor,
            "outcome": "success",
            "source": source,
        });
        let mut detail = Map::new();
        detail.insert("endpoint".into(), json!(via.endpoint));
        self.fill(&mut e, &mut detail);
        self.fill_detail(&mut e, &mut detail);
        if let Act::Rotated(Rotation::Kek { failed: true }) = self {
            e["outcome"] = json!("failure");
        }
        if let Act::LogUsed { refused: true, .. } = self {
            e["outcome"] = json!("denied");
        }
        if let Act::ConsoleSession(SessionAct::LoginFailed) = self {
            e["outcome"] = json!("failure");
        }
        e["detail"] = Value::Object(detail);
        let bytes = serde_json::to_vec(&e).unwrap_or_default();
        recall_model::parse_event(&bytes, time.max(Timestamp::now())).map_err(|e| InvalidRecord {
            field: e.field,
            message: e.message,
        })
    }

    /// Action, resource, purpose and DICOM codes.
    fn fill(&self, e: &mut Value, detail: &mut Map<String, Value>) {
        let (action, resource, purpose, codes): (&str, &str, &str, Codes) = match self {
            Act::LogUsed { kind, .. } => {
                let action = match kind {
                    UseKind::Search => "search",
                    UseKind::Report => "report",
                    UseKind::Export => "export",
                };
                (action, "AuditEvent", "HCOMPL", Some(("110101", None)))
            }
            Act::KeyChanged { change, .. } => (
                change.action(),
                "ApiKey",
                "HSYSADMIN",
                Some(("110113", Some("110136"))),
            ),
            // HIPAA counts legal services among health care operations.
            Act::HoldChanged { change, .. } => (change.action(), "LegalHold", "HOPERAT", None),
            Act::RetentionRun(_) => ("delete", "AuditEvent", "HSYSADMIN", None),
            Act::Rotated(r) => {
                let what = match r {
                    Rotation::Kek { .. } => "KeyEncryptionKey",
                    _ => "CheckpointSigningKey",
                };
                (
                    "update",
                    what,
                    "HSYSADMIN",
                    Some(("110113", Some("110129"))),
                )
            }
            Act::Reindexed { .. } => ("update", "Index", "HSYSADMIN", None),
            Act::RecordingStarted { .. } => (
                "start",
                "AuditLog",
                "HSYSADMIN",
                Some(("110113", Some("110134"))),
            ),
            Act::RecordingStopped => (
                "stop",
                "AuditLog",
                "HSYSADMIN",
                Some(("110113", Some("110133"))),
            ),
            Act::BreakGlassReviewed(_) => (
                recall_query::REVIEW_ACTION,
                recall_query::REVIEW_RESOURCE,
                "HCOMPL",
                None,
            ),
            Act::RosterImported(_) => ("update", "Roster", "HOPERAT", None),
            Act::AccessReviewSignedOff(_) => ("approve", "AccessReview", "HCOMPL", None),
            Act::AssessmentChanged { assessment, .. } => {
                let action = if assessment.version == 1 {
                    "create"
                } else {
                    "update"
                };
                (action, "BreachAssessment", "HCOMPL", None)
            }
            Act::ConsoleSession(what) => match what {
                SessionAct::Login | SessionAct::LoginFailed => (
                    "login",
                    "ConsoleSession",
                    "HSYSADMIN",
                    Some(("110114", Some("110122"))),
                ),
                SessionAct::Logout => (
                    "logout",
                    "ConsoleSession",
                    "HSYSADMIN",
                    Some(("110114", Some("110123"))),
                ),
                SessionAct::Lockout => (
                    "lock",
                    "ConsoleUser",
                    "HSYSADMIN",
                    Some(("110113", Some("110137"))),
                ),
            },
            Act::IntegrityAcknowledged { .. } => {
                ("acknowledge", "IntegrityVerification", "HSYSADMIN", None)
            }
            Act::UserChanged { change, .. } => {
                let action = match change {
                    UserChange::Create => "create",
                    UserChange::Disable => "disable",
                    UserChange::ResetTotp => "reset_totp",
                };
                (
                    action,
                    "ConsoleUser",
                    "HSYSADMIN",
                    Some(("110113", Some("110136"))),
                )
            }
        };
        e["action"] = json!(action);
        e["purpose"] = json!(purpose);
        e["resource"] = json!({ "type": resource });
        match self {
            Act::KeyChanged { key, .. } => e["resource"]["id"] = json!(key.id),
            Act::HoldChanged { hold, .. } => e["resource"]["id"] = json!(hold.id),
            Act::BreakGlassReviewed(r) => e["resource"]["id"] = json!(r.seq.to_string()),
            Act::RosterImported(c) => e["resource"]["id"] = json!(c.kind),
            Act::AssessmentChanged {
                assessment: a,
                event_id,
                ..
            } => {
                e["resource"]["id"] = json!(a.id);
                e["id"] = json!(event_id);
            }
            Act::IntegrityAcknowledged { latest_verdict, .. } => {
                e["resource"]["id"] = json!(latest_verdict.to_string());
            }
            Act::UserChanged { user, .. } => e["resource"]["id"] = json!(user.name),
            _ => {}
        }
        if let Some((event, kind)) = codes {
            detail.insert("dicom_event".into(), json!(event));
            if let Some(k) = kind {
                detail.insert("dicom_type".into(), json!(k));
            }
        }
    }

    /// The act's own facts: `detail` and, where the act concerns one, the patient.
    fn fill_detail(&self, e: &mut Value, detail: &mut Map<String, Value>) {
        match self {
            Act::LogUsed {
                patient,
                query,
                justification,
                ..
            } => {
                detail.insert("query".into(), Value::Object(query.clone()));
                if let Some(j) = justification {
                    detail.insert("justification".into(), json!(j));
                }
                if let Some(p) = patient {
                    e["patient"] = json!({ "id": p });
                }
            }
            Act::KeyChanged { key, .. } => {
                detail.insert("role".into(), json!(key.role));
                // The flag an alert rule matches: this change grants or ends PHI access.
                if key.role.reads_phi() {
                    detail.insert("reads_phi".into(), json!(true));
                }
                if let Some(l) = &key.label {
                    detail.insert("label".into(), json!(l));
                }
            }
            Act::HoldChanged {
                hold,
                patient,
                actor,
                ..
            } => {
                let mut h = hold.json();
                if let Some(a) = actor {
                    h["actor"] = json!(a);
                }
                detail.insert("hold".into(), h);
                if let Some(p) = patient {
                    e["patient"] = json!({ "id": p });
                }
            }
            Act::RetentionRun(record) => {
                detail.insert("retention".into(), json!(record));
            }
            Act::Rotated(r) => {
                let v = match r {
                    Rotation::Kek { failed } => json!({"kek": {"failed": failed}}),
                    Rotation::SigningStarted { vkey } => {
                        json!({"signing": {"phase": "started", "vkey": vkey}})
                    }
                    Rotation::SigningFinished { vkey, retired } => {
                        json!({"signing": {"phase": "finished", "vkey": vkey, "retired": retired}})
                    }
                };
                detail.insert("rotation".into(), v);
            }
            Act::Reindexed { events } => {
                detail.insert("reindexed_events".into(), json!(events));
            }
            Act::RecordingStarted { unclean_previous } => {
                if let Some(started) = unclean_previous {
                    let mut prev = json!({"ended_without_stop": true});
                    if let Some(t) = started {
                        prev["started"] = json!(t.to_string());
                    }
                    detail.insert("previous_run".into(), prev);
                }
            }
            Act::RecordingStopped | Act::ConsoleSession(_) => {}
            Act::BreakGlassReviewed(r) => r.fill(e, detail),
            Act::RosterImported(c) => {
                detail.insert("roster".into(), json!(c));
            }
            Act::AccessReviewSignedOff(s) => {
                detail.insert("access_review".into(), json!(s));
            }
            Act::AssessmentChanged {
                assessment,
                changed,
                ..
            } => {
                detail.insert("assessment".into(), json!(assessment));
                detail.insert("changed".into(), json!(changed));
            }
            Act::IntegrityAcknowledged { failures, .. } => {
                detail.insert("acknowledged_failures".into(), json!(failures));
            }
            Act::UserChanged { user, .. } => {
                detail.insert("role".into(), json!(user.role));
                if user.role.reads_phi() {
                    detail.insert("reads_phi".into(), json!(true));
                }
            }
        }
    }
}
