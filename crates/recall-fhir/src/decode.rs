//! AuditEvent → native events, best effort (IHE BALP: an audit repository does not
//! reject an AuditEvent for non-conformance). Each element recall maps is remembered
//! with its FHIR path; the native result is validated like a client's event, and a value
//! the native rules refuse is dropped (or, when required, replaced) and its FHIR path
//! reported as a problem. Elements recall does not map are problems too.
//!
//! The native event is built directly ([`recall_model::Draft`], strings borrowed from the
//! AuditEvent) and checked by recall-model's client-event rules without a JSON round
//! trip; the mapper is generic over where it writes (`native.rs`) so that the tests can
//! run it over the former JSON form too.

use std::borrow::Cow;

use jiff::Timestamp;
use recall_model::{Draft, Event, MAX_ORIGIN_BYTES, Origin};
use serde_json::Value;

use crate::FhirVersion;
use crate::balp;
use crate::codes::*;
use crate::native::{Native, minimal, repair};
use crate::tree::{Borrowed, Node};

/// What an AuditEvent became.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The version it was read as.
    pub version: FhirVersion,
    /// One event per patient named (one event when none is), each with the original.
    pub events: Vec<Event>,
}

/// Why a body is not taken at all (everything else is accepted, best effort).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not well-formed JSON (position only, never the input).
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an AuditEvent resource.
    #[error("the resource is not an AuditEvent")]
    NotAuditEvent,
    /// Larger than recall keeps as an original.
    #[error("the resource is larger than {MAX_ORIGIN_BYTES} bytes")]
    TooLarge,
    /// `POST /fhir` takes a Bundle only.
    #[error("the resource is not a Bundle")]
    NotBundle,
    /// A Bundle that is neither a batch nor a transaction.
    #[error("the Bundle type must be batch or transaction")]
    BundleType,
}

impl DecodeError {
    /// The FHIRPath expression of the element at fault.
    pub fn expression(&self) -> &'static str {
        match self {
            Self::NotAuditEvent | Self::NotBundle => "resourceType",
            Self::BundleType => "Bundle.type",
            _ => "AuditEvent",
        }
    }
}

/// Decodes one AuditEvent. `hint` is the version the request named (media type), if
/// any; else the resource's shape decides, R4 by default. `now` stands in for a time
/// the resource does not give.
pub fn decode(
    bytes: &[u8],
    hint: Option<FhirVersion>,
    now: Timestamp,
) -> Result<Decoded, DecodeError> {
    if bytes.len() > MAX_ORIGIN_BYTES {
        return Err(DecodeError::TooLarge);
    }
    let ae: Borrowed<'_> = serde_json::from_slice(bytes).map_err(not_json)?;
    decode_tree::<_, Draft<'_>>(&ae, bytes, hint, now)
}

fn not_json(e: serde_json::Error) -> DecodeError {
    DecodeError::NotJson(format!("line {} column {}", e.line(), e.column()))
}

/// [`decode`] as it was: through a `serde_json::Value` tree into a JSON object validated
/// by encoding and parsing it (the reference the borrowed tree and the draft are tested
/// against).
#[cfg(test)]
pub(crate) fn decode_value(
    bytes: &[u8],
    hint: Option<FhirVersion>,
    now: Timestamp,
) -> Result<Decoded, DecodeError> {
    let ae: Value = serde_json::from_slice(bytes).map_err(not_json)?;
    decode_tree::<_, serde_json::Map<String, Value>>(&ae, bytes, hint, now)
}

/// Decodes the parsed AuditEvent `ae` whose body is `bytes`, building each native event
/// as an `S`.
fn decode_tree<'a, N: Node, S: Native<'a>>(
    ae: &'a N,
    bytes: &[u8],
    hint: Option<FhirVersion>,
    now: Timestamp,
) -> Result<Decoded, DecodeError> {
    if ae.get("resourceType").and_then(N::text) != Some("AuditEvent") {
        return Err(DecodeError::NotAuditEvent);
    }
    let version = hint.unwrap_or_else(|| shape_version(ae));
    let mut m = Mapper::<'a, S>::default();
    m.map(ae, version, now);
    let patients = std::mem::take(&mut m.patients);
    let base = std::mem::take(&mut m.native);
    // One native event per patient (the mapped one and copies of it), or the one.
    let mut natives = vec![base];
    if patients.len() > 1 {
        natives.resize(patients.len(), natives[0].clone());
    }
    for (native, (id, path)) in natives.iter_mut().zip(patients) {
        native.put("patient.id", id);
        m.from.push(("patient".into(), path));
    }
    let events: Vec<Event> = natives.into_iter().map(|n| m.validate(n, now)).collect();
    m.problems.dedup();
    // Within MAX_ORIGIN_BYTES and with a fixed format code, Origin::mapped cannot fail.
    let origin = Origin::mapped(version.origin_format(), m.problems, bytes)
        .map_err(|_| DecodeError::TooLarge)?;
    let events = events
        .into_iter()
        .map(|mut e| {
            e.origin = Some(origin.clone());
            e
        })
        .collect();
    Ok(Decoded { version, events })
}

/// R5 by its own elements, else R4.
fn shape_version<N: Node>(ae: &N) -> FhirVersion {
    let r5 = [
        "category",
        "code",
        "occurredDateTime",
        "occurredPeriod",
        "patient",
        "authorization",
    ]
    .iter()
    .any(|k| ae.get(k).is_some())
        || ae.get("outcome").is_some_and(N::is_object);
    if r5 { FhirVersion::R5 } else { FhirVersion::R4 }
}

/// Top-level elements recall reads (or that say nothing about the access).
const KNOWN_R4: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "text",
    "extension",
    "type",
    "subtype",
    "action",
    "period",
    "recorded",
    "outcome",
    "outcomeDesc",
    "purposeOfEvent",
    "agent",
    "source",
    "entity",
];
const KNOWN_R5: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "text",
    "extension",
    "category",
    "code",
    "action",
    "occurredDateTime",
    "occurredPeriod",
    "recorded",
    "outcome",
    "authorization",
    "patient",
    "agent",
    "source",
    "entity",
];

#[derive(Default)]
struct Mapper<'a, S> {
    native: S,
    /// Native field → the FHIR path its value came from.
    from: Vec<(String, String)>,
    patients: Vec<(Cow<'a, str>, String)>,
    problems: Vec<String>,
}

fn st<'a, N: Node>(v: &'a N, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.text()
}

/// The array `v[key]`, borrowed (empty when absent or not an array).
fn arr<'a, N: Node>(v: &'a N, key: &str) -> &'a [N] {
    v.get(key).and_then(N::items).unwrap_or_default()
}

impl<'a, S: Native<'a>> Mapper<'a, S> {
    fn set(&mut self, native: &str, value: impl Into<Cow<'a, str>>, fhir: String) {
        self.native.put(native, value.into());
        self.from.push((native.into(), fhir));
    }

    fn problem(&mut self, path: impl Into<String>) {
        let p = path.into();
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    fn map<N: Node>(&mut self, ae: &'a N, v: FhirVersion, now: Timestamp) {
        let known = if v == FhirVersion::R4 {
            KNOWN_R4
        } else {
            KNOWN_R5
        };
        for k in ae.keys().into_iter().filter(|k| !known.contains(k)) {
            self.problem(k);
        }
        self.time(ae, v, now);
        self.action(ae, v);
        self.outcome(ae, v);
        let purpose_key = if v == FhirVersion::R4 {
            "purposeOfEvent"
        } else {
            "authorization"
        };
        if let Some(p) = arr(ae, purpose_key).first() {
            if let Some(code) = arr(p, "coding").first().and_then(|c| st(c, &["code"])) {
                self.set("purpose", code, format!("{purpose_key}[0].coding[0].code"));
            }
            if let Some(text) = st(p, &["text"]) {
                self.set("reason", text, format!("{purpose_key}[0].text"));
            }
        }
        let actor = self.agent(ae, v);
        self.other_agents(ae, actor);
        let observer = |k: &[&str]| {
            let o = ae.get("source")?.get("observer")?;
            st(o, k)
        };
        let system = observer(&["identifier", "value"])
            .map(|s| (s, "source.observer.identifier.value"))
            .or_else(|| observer(&["reference"]).map(|s| (s, "source.observer.reference")))
            .or_else(|| observer(&["display"]).map(|s| (s, "source.observer.display")));
        if let Some((s, path)) = system {
            self.set("source.system", s, path.into());
        }
        self.extensions(ae);
        self.entities(ae, v);
    }

    fn time<N: Node>(&mut self, ae: &'a N, v: FhirVersion, now: Timestamp) {
        let candidates: &[(&[&str], &str)] = match v {
            FhirVersion::R4 => &[
                (&["period", "start"], "period.start"),
                (&["recorded"], "recorded"),
            ],
            FhirVersion::R5 => &[
                (&["occurredDateTime"], "occurredDateTime"),
                (&["occurredPeriod", "start"], "occurredPeriod.start"),
                (&["recorded"], "recorded"),
            ],
        };
        match candidates
            .iter()
            .find_map(|(p, name)| st(ae, p).map(|t| (t, *name)))
        {
            Some((t, name)) => self.set("time", t, name.into()),
            None => {
                self.problem("recorded");
                self.native.put("time", now.to_string().into());
            }
        }
    }

    fn action<N: Node>(&mut self, ae: &'a N, v: FhirVersion) {
        let (codes, path) = match v {
            FhirVersion::R4 => (arr(ae, "subtype"), "subtype"),
            FhirVersion::R5 => (
                ae.get("code").map(|c| arr(c, "coding")).unwrap_or_default(),
                "code.coding",
            ),
        };
        let find = |system: &str| {
            codes.iter().enumerate().find_map(|(i, c)| {
                (st(c, &["system"]) == Some(system)).then(|| st(c, &["code"]).map(|x| (i, x)))?
            })
        };
        let picked = find(ACTION_SYSTEM)
            .or_else(|| find(RESTFUL_INTERACTION))
            .map(|(i, code)| (code, format!("{path}[{i}].code")))
            .or_else(|| match find(DICOM) {
                Some((i, "110122")) => Some(("login", format!("{path}[{i}].code"))),
                Some((i, "110123")) => Some(("logout", format!("{path}[{i}].code"))),
                _ => None,
            })
            .or_else(|| {
                let code = st(ae, &["action"])?;
                action_of_crude(code).map(|a| (a, "action".to_string()))
            });
        match picked {
            Some((code, from)) => self.set("action", code, from),
            None => {
                self.problem("action");
                self.native.put("action", "execute".into());
            }
        }
    }

    fn outcome<N: Node>(&mut self, ae: &'a N, v: FhirVersion) {
        let (code, path) = match v {
            FhirVersion::R4 => (st(ae, &["outcome"]), "outcome"),
            FhirVersion::R5 => (st(ae, &["outcome", "code", "code"]), "outcome.code.code"),
        };
        let Some(code) = code else { return };
        match outcome_of_code(code) {
            Some(o) => self.set("outcome", o, path.into()),
            None => self.problem(path),
        }
    }

    /// The requesting agent is the actor (the first agent when none says it requested);
    /// its index.
    fn agent<N: Node>(&mut self, ae: &'a N, v: FhirVersion) -> Option<usize> {
        let agents = arr(ae, "agent");
        let requestor = agents
            .iter()
            .position(|a| a.get("requestor").is_some_and(N::is_true));
        let i = match requestor {
            Some(i) => i,
            None if !agents.is_empty() => {
                self.problem("agent.requestor");
                0
            }
            None => {
                self.problem("agent");
                self.native.unknown_actor();
                return None;
            }
        };
        let a = &agents[i];
        let at = |p: &str| format!("agent[{i}].{p}");
        match st(a, &["who", "identifier", "value"])
            .map(|id| (id, at("who.identifier.value")))
            .or_else(|| st(a, &["who", "reference"]).map(|id| (id, at("who.reference"))))
        {
            Some((id, from)) => self.set("actor.id", id, from),
            None => {
                self.problem(at("who"));
                self.native.unknown_actor();
            }
        }
        if let Some(name) = st(a, &["who", "display"]) {
            self.set("actor.name", name, at("who.display"));
        } else if let Some(name) = st(a, &["name"]) {
            self.set("actor.name", name, at("name"));
        }
        if let Some(role) = arr(a, "role").first() {
            let coded = || {
                let c = role.get("coding")?.item(0)?;
                st(c, &["display"]).or(st(c, &["code"]))
            };
            let text = st(role, &["text"])
                .map(|t| (t, "role[0].text"))
                .or_else(|| coded().map(|t| (t, "role[0].coding[0]")));
            if let Some((t, p)) = text {
                self.set("actor.role", t, at(p));
            }
        }
        let kinds = a.get("type").map(|t| arr(t, "coding")).unwrap_or_default();
        let kind = kinds
            .iter()
            .find(|c| st(*c, &["system"]) == Some(ACTOR_TYPE_SYSTEM))
            .and_then(|k| st(k, &["code"]));
        if let Some(code) = kind {
            self.set("actor.type", code, at("type.coding"));
        }
        let ip = match v {
            FhirVersion::R4 => st(a, &["network", "address"]).map(|x| (x, "network.address")),
            FhirVersion::R5 => st(a, &["networkString"]).map(|x| (x, "networkString")),
        };
        if let Some((ip, p)) = ip {
            self.set("source.ip", ip, at(p));
        }
        Some(i)
    }

    /// Agents besides the requestor: BALP's client (its identifier is `source.device`,
    /// its address `source.ip`) and server (the observer again) are understood when they
    /// say nothing else; any other agent is a problem.
    fn other_agents<N: Node>(&mut self, ae: &'a N, actor: Option<usize>) {
        let agents = arr(ae, "agent");
        let roles = self.native.get("action").and_then(balp::roles);
        let observer = st(ae, &["source", "observer", "identifier", "value"]);
        for (k, a) in agents.iter().enumerate() {
            if Some(k) == actor {
                continue;
            }
            let at = |p: &str| format!("agent[{k}].{p}");
            let is = |c: balp::Code| {
                let codes = a.get("type").map(|t| arr(t, "coding"));
                codes
                    .unwrap_or_default()
                    .iter()
                    .any(|x| st(x, &["system"]) == Some(c.0) && st(x, &["code"]) == Some(c.1))
            };
            let id = st(a, &["who", "identifier", "value"]);
            let addr = st(a, &["network", "address"]);
            match roles {
                Some(r) if is(r.client) => {
                    match id {
                        Some(d) => self.once("source.device", d, at("who.identifier.value")),
                        // A client named otherwise (reference, display) is not mapped.
                        None if a.get("who").is_some_and(|w| w.get("extension").is_none()) => {
                            self.problem(at("who"))
                        }
                        None => {}
                    }
                    if let Some(ip) = addr {
                        self.once("source.ip", ip, at("network.address"));
                    }
                }
                Some(r) if is(r.server) && addr.is_none() && (id.is_none() || id == observer) => {}
                _ => self.problem(format!("agent[{k}]")),
            }
        }
    }

    /// Sets a native field from a second place unless the first already gave it: a
    /// different value there is a problem, not an overwrite.
    /// (A top-level field is set from its last place.)
    fn once(&mut self, native: &str, value: &'a str, fhir: String) {
        let had = native
            .contains('.')
            .then(|| self.native.get(native))
            .flatten();
        match had.map(|v| v == value) {
            None => self.set(native, value, fhir),
            Some(true) => {}
            Some(false) => self.problem(fhir),
        }
    }

    fn extensions<N: Node>(&mut self, ae: &'a N) {
        for (i, e) in arr(ae, "extension").iter().enumerate() {
            let value = st(e, &["valueString"]);
            let path = format!("extension[{i}]");
            let field = match st(e, &["url"]) {
                Some(EXT_EVENT_ID) => "id",
                Some(EXT_DEVICE) => "source.device",
                Some(EXT_SESSION) => "source.session",
                Some(EXT_DETAIL) => {
                    match value.and_then(|t| serde_json::from_str::<Value>(t).ok()) {
                        Some(Value::Object(d)) => {
                            self.native.set_detail(d);
                            self.from.push(("detail".into(), path));
                        }
                        _ => self.problem(path),
                    }
                    continue;
                }
                // recall's server fields: set by the recall that wrote them, not taken.
                Some(EXT_APPENDED_BY | EXT_RECEIVED | EXT_UNDERSTOOD) => continue,
                _ => {
                    self.problem(path);
                    continue;
                }
            };
            match value {
                Some(v) => self.once(field, v, format!("{path}.valueString")),
                None => self.problem(path),
            }
        }
    }

    /// Patients (one event each) and the resource touched.
    fn entities<N: Node>(&mut self, ae: &'a N, v: FhirVersion) {
        if v == FhirVersion::R5 {
            if let Some(id) = st(ae, &["patient", "identifier", "value"]) {
                self.patients
                    .push((id.into(), "patient.identifier.value".into()));
            } else if let Some(id) =
                st(ae, &["patient", "reference"]).map(|r| r.trim_start_matches("Patient/"))
            {
                self.patients.push((id.into(), "patient.reference".into()));
            }
        }
        let mut resource_done = false;
        let mut patient_ref = None;
        for (i, e) in arr(ae, "entity").iter().enumerate() {
            let reference = st(e, &["what", "reference"]);
            // R4 `type` is a Coding, R5 `role` a CodeableConcept: code "1" is a patient.
            let one = |k: &str| {
                let code = st(e, &[k, "code"])
                    .or_else(|| e.get(k)?.get("coding")?.item(0)?.get("code")?.text());
                code == Some("1")
            };
            if let Some(q) = e.get("query") {
                self.query(e, q, i);
                continue;
            }
            let is_patient = reference.is_some_and(|r| r.starts_with("Patient/"))
                || (one("type") && one("role"))
                || (v == FhirVersion::R5 && one("role"));
            if is_patient {
                let by_ref = reference.and_then(|r| r.strip_prefix("Patient/"));
                if let Some(r) = by_ref {
                    patient_ref = Some((r, i));
                }
                let id = match st(e, &["what", "identifier", "value"]) {
                    Some(x) => Some((x, format!("entity[{i}].what.identifier.value"))),
                    None => by_ref.map(|r| (r, format!("entity[{i}].what.reference"))),
                };
                match id {
                    Some((id, path)) if !self.patients.iter().any(|(p, _)| p == id) => {
                        self.patients.push((id.into(), path))
                    }
                    Some(_) => {}
                    None => self.problem(format!("entity[{i}].what")),
                }
                continue;
            }
            if resource_done {
                self.problem(format!("entity[{i}]"));
                continue;
            }
            resource_done = self.resource(e, i);
        }
        if !resource_done && let Some((id, i)) = patient_ref {
            self.set(
                "resource.type",
                "Patient",
                format!("entity[{i}].what.reference"),
            );
            self.set("resource.id", id, format!("entity[{i}].what.reference"));
        }
    }

    /// BALP's query entity (role 24): its query becomes `detail.query` unless `detail`
    /// (recall's extension, read before the entities) already holds one.
    fn query<N: Node>(&mut self, e: &N, q: &N, i: usize) {
        use base64::Engine as _;
        let path = format!("entity[{i}].query");
        let role = st(e, &["role", "code"])
            .or_else(|| e.get("role")?.get("coding")?.item(0)?.get("code")?.text());
        let text = q
            .text()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        match (role, text) {
            (Some(QUERY_ROLE), Some(text)) => {
                if self.native.put_detail("query", Value::String(text)) {
                    self.from.push(("detail.query".into(), path));
                }
            }
            _ => self.problem(path),
        }
    }

    /// The resource of one entity; false when it names none.
    fn resource<N: Node>(&mut self, e: &'a N, i: usize) -> bool {
        let split = st(e, &["what", "reference"]).and_then(|r| r.split_once('/'));
        let kind = st(e, &["what", "type"]).or(split.map(|s| s.0));
        let Some(kind) = kind else {
            self.problem(format!("entity[{i}].what"));
            return false;
        };
        self.set("resource.type", kind, format!("entity[{i}].what"));
        let id = st(e, &["what", "identifier", "value"]).or(split.map(|s| s.1));
        if let Some(id) = id {
            self.set("resource.id", id, format!("entity[{i}].what"));
        }
        true
    }

    /// The native event, validated like a client's; refused values dropped or replaced.
    fn validate(&mut self, mut native: S, now: Timestamp) -> Event {
        for _ in 0..32 {
            let err = match native.validate(now) {
                Ok(e) => return e,
                Err(err) => err,
            };
            let path = self
                .from
                .iter()
                .rev()
                .find(|(n, _)| {
                    err.field == *n
                        || (err.field.starts_with(n.as_str())
                            && err.field.as_bytes().get(n.len()) == Some(&b'.'))
                })
                .map(|(_, f)| f.clone())
                .unwrap_or_else(|| err.field.clone());
            self.problem(path);
            repair(&mut native, &err.field, now);
        }
        // Unreachable in practice: each repair removes or fixes one field.
        minimal::<S>(now)
    }
}
