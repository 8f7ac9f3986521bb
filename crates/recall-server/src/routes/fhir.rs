//! The FHIR face of the log (IHE BALP / ITI-20 feed): `POST /fhir/AuditEvent`,
//! `POST /fhir` (batch or transaction Bundle), `GET /fhir/AuditEvent/{id}`,
//! `GET /fhir/metadata`.
//!
//! Invariants:
//! - Ingest goes through the same writer as `POST /v1/events` (`Ingestor::submit`), with
//!   the same tenant and retention checks; each event carries the AuditEvent as sent.
//! - Reads go through the same lookup, lens and self-audit as `GET /v1/events/{t}/{seq}`
//!   (`events::read_event`): the record is durable before the answer leaves.
//! - Errors are OperationOutcomes (`application/fhir+json`) naming the element at fault
//!   (`expression`), never quoting the input.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use recall_fhir::{BundleKind, FhirVersion, batch_response, decode, split_bundle, to_audit_event};
use recall_model::Event;
use serde_json::{Map, Value, json};

use crate::auth::{Principal, Role};
use crate::problem::Problem;
use crate::routes::events::{Asked, check_events, ingest_problem, read_event};
use crate::state::{AppState, internal};

/// The answer of a FHIR interaction: a resource in this version's media type.
pub(crate) fn fhir(status: StatusCode, version: FhirVersion, body: Vec<u8>) -> Response {
    let media = version.media_type();
    (status, [(header::CONTENT_TYPE, media)], body).into_response()
}

/// An OperationOutcome with one issue about `expression`.
pub(crate) fn outcome(status: StatusCode, code: &str, expression: &str, text: &str) -> Response {
    let oo = json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": if status.is_success() { "information" } else { "error" },
            "code": code,
            "diagnostics": text,
            "expression": [expression],
        }]
    });
    let body = serde_json::to_vec(&oo).unwrap_or_default();
    fhir(status, FhirVersion::R4, body)
}

/// A problem of the shared paths (roles, storage) as an OperationOutcome.
pub(crate) fn from_problem(p: Problem) -> Response {
    let mut r = p.into_response();
    // Roles, overload and storage answers keep their problem document: clients of both
    // faces handle them alike (RFC 9457 is also what FHIR servers send for transport
    // errors).
    r.headers_mut().remove(header::CONTENT_LENGTH);
    r
}

/// The version a request names in its Content-Type or Accept header.
pub(crate) fn named_version(headers: &HeaderMap, name: header::HeaderName) -> Option<FhirVersion> {
    let value = headers.get(name)?.to_str().ok()?;
    FhirVersion::from_media_type(value)
}

/// `POST /fhir/AuditEvent`: one AuditEvent (R4 or R5), one native event per patient.
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hint = match feed_prelude(&who, &headers) {
        Ok(hint) => hint,
        Err(r) => return r,
    };
    let decoded = match decode(&body, hint, Timestamp::now()) {
        Ok(d) => d,
        Err(e) => return malformed(&e),
    };
    if let Err(p) = check_events(&state, &who, &decoded.events) {
        return from_problem(p);
    }
    metrics::counter!("recall_fhir_ingest_total", "version" => decoded.version.to_string())
        .increment(1);
    let receipts = match state
        .ingest
        .submit(&who.tenant, &who.subject, decoded.events)
        .await
    {
        Ok(r) => r,
        Err(e) => return from_problem(ingest_problem(e)),
    };
    let seqs: Vec<String> = receipts.iter().map(|r| r.seq.to_string()).collect();
    let location = format!("/fhir/AuditEvent/{}", seqs[0]);
    let text = format!("recorded as event(s) {}", seqs.join(", "));
    let mut r = outcome(StatusCode::CREATED, "informational", "AuditEvent", &text);
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// What both feed interactions check first: a writer's credential, then a FHIR media
/// type; the version the media type names, or the answer refusing the request.
fn feed_prelude(who: &Principal, headers: &HeaderMap) -> Result<Option<FhirVersion>, Response> {
    who.require(&[Role::Writer]).map_err(from_problem)?;
    fhir_media(headers)
}

/// The 400 answer for a body that is not an AuditEvent (or Bundle), naming the element.
fn malformed(e: &recall_fhir::DecodeError) -> Response {
    outcome(
        StatusCode::BAD_REQUEST,
        "structure",
        e.expression(),
        &e.to_string(),
    )
}

/// The version named by a FHIR request's Content-Type, or the 415 answer.
fn fhir_media(headers: &HeaderMap) -> Result<Option<FhirVersion>, Response> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = media.split(';').next().unwrap_or("").trim();
    if !matches!(essence, "application/fhir+json" | "application/json") {
        return Err(outcome(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "Content-Type",
            "Content-Type must be application/fhir+json",
        ));
    }
    Ok(FhirVersion::from_media_type(media))
}

/// `POST /fhir`: a batch (each entry answered on its own) or transaction (all or
/// nothing) Bundle of AuditEvents. The accepted entries go to the writer as one
/// submission, so a transaction is one batch frame.
pub async fn bundle(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hint = match feed_prelude(&who, &headers) {
        Ok(hint) => hint,
        Err(r) => return r,
    };
    let bundle = match split_bundle(&body) {
        Ok(b) => b,
        Err(e) => return malformed(&e),
    };
    let now = Timestamp::now();
    // Per entry: how many events it became, or why it was refused (FHIRPath, message);
    // the events themselves go straight into the one submission.
    let mut decoded: Vec<Result<usize, (String, String)>> = Vec::new();
    let mut events: Vec<Event> = Vec::with_capacity(bundle.entries.len());
    for (i, entry) in bundle.entries.iter().enumerate() {
        let one = match entry {
            None => Err((entry_path(i), "the entry holds no resource".to_string())),
            Some(bytes) => decode(bytes, hint, now)
                .map(|d| {
                    let n = d.events.len();
                    events.extend(d.events);
                    n
                })
                .map_err(|e| {
                    (
                        format!("{}.{}", entry_path(i), e.expression()),
                        e.to_string(),
                    )
                }),
        };
        if let (BundleKind::Transaction, Err((path, text))) = (bundle.kind, &one) {
            return outcome(StatusCode::BAD_REQUEST, "structure", path, text);
        }
        decoded.push(one);
    }
    if let Err(p) = check_events(&state, &who, &events) {
        return from_problem(p);
    }
    let receipts = match events.is_empty() {
        true => Vec::new(),
        false => match state.ingest.submit(&who.tenant, &who.subject, events).await {
            Ok(r) => r,
            Err(e) => return from_problem(ingest_problem(e)),
        },
    };
    metrics::counter!("recall_fhir_bundles_total", "type" => bundle.kind.as_str()).increment(1);
    let mut next = receipts.iter();
    let responses = decoded
        .into_iter()
        .map(|d| match d {
            Ok(n) => {
                let seqs: Vec<u64> = next.by_ref().take(n).map(|r| r.seq).collect();
                let location = seqs.first().map(|s| format!("AuditEvent/{s}"));
                ("201 Created".to_string(), location, None)
            }
            Err((path, text)) => {
                let issue = json!({"severity": "error", "code": "structure",
                    "diagnostics": text, "expression": [path]});
                let oo = json!({"resourceType": "OperationOutcome", "issue": [issue]});
                ("400 Bad Request".to_string(), None, Some(oo))
            }
        })
        .collect();
    let answer = batch_response(bundle.kind.as_str(), responses);
    fhir(
        StatusCode::OK,
        FhirVersion::R4,
        serde_json::to_vec(&answer).unwrap_or_default(),
    )
}

/// The FHIRPath of entry `i`'s resource.
fn entry_path(i: usize) -> String {
    format!("Bundle.entry[{i}].resource")
}

/// `GET /fhir/AuditEvent/{id}`: the event `id` (its seq in the caller's tenant) as an
/// AuditEvent. A reader whose lens shows the original gets it byte for byte when it is
/// of the version asked for (`Accept: …; fhirVersion=`, R4 by default).
pub async fn read(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Ok(seq) = id.parse::<u64>() else {
        return outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            "id",
            "no AuditEvent with this id",
        );
    };
    let version = named_version(&headers, header::ACCEPT).unwrap_or_default();
    let mut query = Map::new();
    query.insert("seq".into(), json!(seq));
    query.insert("fhir".into(), json!(version.number()));
    let asked = Asked {
        endpoint: "GET /fhir/AuditEvent/{id}",
        query,
        client: peer.ip(),
    };
    let tenant = who.tenant.clone();
    let (read, found) = match read_event(&state, &who, &headers, &tenant, seq, asked).await {
        Ok(x) => x,
        Err(p) => return from_problem(p),
    };
    let shown = match read.lens.json(&found.canonical) {
        Ok(bytes) => bytes,
        Err(e) => return from_problem(internal(e)),
    };
    let event: Value = match serde_json::from_slice(&shown) {
        Ok(v) => v,
        Err(e) => return from_problem(internal(e)),
    };
    if let Some(original) = as_sent(&event, version) {
        return fhir(StatusCode::OK, version, original.into_bytes());
    }
    let ae = to_audit_event(&event, version);
    fhir(
        StatusCode::OK,
        version,
        serde_json::to_vec(&ae).unwrap_or_default(),
    )
}

/// The original text, when the lens shows it and it is of `version`.
fn as_sent(event: &Value, version: FhirVersion) -> Option<String> {
    let origin = event.get("origin")?;
    (origin.get("format")?.as_str()? == version.origin_format())
        .then(|| origin.get("text")?.as_str().map(str::to_owned))?
}

/// `GET /fhir/metadata`: the CapabilityStatement (no event contents; any credential).
pub async fn metadata(headers: HeaderMap) -> Response {
    let version = named_version(&headers, header::ACCEPT).unwrap_or_default();
    let cs = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "software": { "name": "recall", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "recall tamper-evident audit repository" },
        "fhirVersion": version.number(),
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": [{
                "type": "AuditEvent",
                "interaction": [{ "code": "create" }, { "code": "read" }, { "code": "search-type" }],
                "searchParam": crate::routes::fhir_search::SEARCH_PARAMS
                    .iter()
                    .map(|(name, kind)| json!({ "name": name, "type": kind }))
                    .collect::<Vec<_>>(),
            }],
        }],
    });
    fhir(
        StatusCode::OK,
        version,
        serde_json::to_vec(&cs).unwrap_or_default(),
    )
}
