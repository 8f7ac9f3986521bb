//! `GET /fhir/AuditEvent` (IHE ITI-81): FHIR search parameters translated into a native
//! search and run through the one search path of `GET /v1/events` (`events::search`), so
//! roles, the lens (a filter on a pseudonymised field takes the pseudonym) and the
//! self-audit record are the same; the page comes back as a searchset Bundle whose `next`
//! link carries the keyed cursor (`_cursor`), so paging never skips or repeats.
//!
//! Supported: `date` (eq/ge/gt/le/lt, repeatable, intersected), `patient`,
//! `patient.identifier`, `agent`, `agent.identifier`, `entity` (a Patient reference is
//! the patient; another `Type/id`, or a bare id, the resource), `type` (the AuditEvent
//! type code, `fhir_type`), `subtype` (recall's action code, a RESTful interaction, or
//! DICOM 110122/110123 for login/logout), `action` (the crude C/R/U/D/E, `fhir_action`),
//! `outcome`, `source`, `purpose`, `_count`, `_sort=date|-date`; `_format` is ignored.
//! Anything else is refused with an OperationOutcome naming it: silently ignoring a
//! filter would return more than was asked for.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use recall_fhir::{searchset, to_audit_event};
use recall_query::SearchParams;
use serde_json::Value;

use crate::auth::Principal;
use crate::routes::events::search;
use crate::routes::fhir::{fhir, from_problem, named_version, outcome};
use crate::state::{AppState, internal};

/// The search parameters this server takes, with their FHIR types (the
/// CapabilityStatement lists them).
pub(crate) const SEARCH_PARAMS: [(&str, &str); 13] = [
    ("date", "date"),
    ("patient", "reference"),
    ("patient.identifier", "token"),
    ("agent", "reference"),
    ("agent.identifier", "token"),
    ("entity", "reference"),
    ("type", "token"),
    ("subtype", "token"),
    ("action", "token"),
    ("outcome", "token"),
    ("source", "reference"),
    ("purpose", "token"),
    ("_sort", "string"),
];

/// A search parameter the request got wrong: its name and what is wrong.
type Bad = (String, String);

fn bad(param: &str, message: &str) -> Bad {
    (param.to_owned(), message.to_owned())
}

/// `GET /fhir/AuditEvent?…`: a searchset Bundle of AuditEvents (R4 unless the Accept
/// header names `fhirVersion=5.0`).
pub async fn search_audit_events(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let version = named_version(&headers, header::ACCEPT).unwrap_or_default();
    let params = match to_params(&pairs) {
        Ok(p) => p,
        Err((param, message)) => {
            return outcome(StatusCode::BAD_REQUEST, "not-supported", &param, &message);
        }
    };
    let found = match search(
        &state,
        &who,
        peer,
        &headers,
        &params,
        "GET /fhir/AuditEvent",
    )
    .await
    {
        Ok(found) => found,
        Err(p) => return from_problem(p),
    };
    let mut resources = Vec::with_capacity(found.page.events.len());
    for hit in &found.page.events {
        let shown = match found.lens.json(&hit.canonical) {
            Ok(bytes) => bytes,
            Err(e) => return from_problem(internal(e)),
        };
        match serde_json::from_slice::<Value>(&shown) {
            Ok(event) => resources.push(to_audit_event(&event, version)),
            Err(e) => return from_problem(internal(e)),
        }
    }
    let next = found
        .page
        .next_cursor
        .as_deref()
        .map(|cursor| link(&pairs, Some(cursor)));
    let bundle = searchset(resources, &link(&pairs, None), next.as_deref());
    fhir(
        StatusCode::OK,
        version,
        serde_json::to_vec(&bundle).unwrap_or_default(),
    )
}

/// This search's URL (relative to the server), with `_cursor` set to `cursor`.
fn link(pairs: &[(String, String)], cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "_cursor") {
        query.append_pair(k, v);
    }
    if let Some(c) = cursor {
        query.append_pair("_cursor", c);
    }
    format!("/fhir/AuditEvent?{}", query.finish())
}

/// The native search the FHIR parameters ask for.
pub(crate) fn to_params(pairs: &[(String, String)]) -> Result<SearchParams, Bad> {
    let mut p = SearchParams::default();
    let (mut from, mut to): (Option<Timestamp>, Option<Timestamp>) = (None, None);
    for (name, value) in pairs {
        match name.as_str() {
            "date" => {
                let (lo, hi) = date_bound(value).ok_or_else(|| {
                    bad(
                        "date",
                        "date must be [eq|ge|gt|le|lt]YYYY[-MM[-DD]] or a dateTime",
                    )
                })?;
                from = from.max(lo);
                to = match (to, hi) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            "patient" | "patient.identifier" => set(&mut p.filter.patient, name, id_of(value))?,
            "agent" | "agent.identifier" => set(&mut p.filter.actor, name, id_of(value))?,
            "entity" => entity(&mut p.filter, value)?,
            "type" => set(&mut p.filter.fhir_type, name, code_of(value))?,
            "subtype" => set(&mut p.filter.action, name, subtype_action(code_of(value)))?,
            "action" => {
                if !recall_query::FHIR_ACTIONS.contains(&value.as_str()) {
                    return Err(bad("action", "action must be C, R, U, D or E"));
                }
                set(&mut p.filter.fhir_action, name, value)?;
            }
            "source" => set(&mut p.filter.system, name, id_of(value))?,
            "purpose" => set(&mut p.filter.purpose, name, code_of(value))?,
            "outcome" => {
                let native = recall_fhir::codes::outcome_of_code(code_of(value))
                    .ok_or_else(|| bad("outcome", "outcome must be 0, 4, 8 or 12"))?;
                set(&mut p.filter.outcome, name, native)?;
            }
            "_count" => {
                let n = value
                    .parse()
                    .map_err(|_| bad("_count", "_count must be a positive integer"))?;
                p.limit = Some(n);
            }
            "_sort" => {
                p.order = Some(match value.as_str() {
                    "date" => "asc".into(),
                    "-date" => "desc".into(),
                    _ => return Err(bad("_sort", "_sort must be date or -date")),
                });
            }
            "_cursor" => p.cursor = Some(value.clone()),
            "_format" => {}
            other => {
                return Err(bad(
                    other,
                    "this search parameter is not supported (see GET /fhir/metadata)",
                ));
            }
        }
    }
    p.filter.from = from.map(|t| t.to_string());
    p.filter.to = to.map(|t| t.to_string());
    Ok(p)
}

/// `entity`: a Patient reference filters on the patient (its index), any other
/// `Type/id` on the resource's type and id, a bare id on the resource id.
fn entity(f: &mut recall_query::FilterParams, value: &str) -> Result<(), Bad> {
    let reference = value.rsplit_once('|').map_or(value, |(_, v)| v);
    match reference.split_once('/') {
        Some(("Patient", id)) => set(&mut f.patient, "entity", id),
        Some((kind, id)) => {
            set(&mut f.resource_type, "entity", kind)?;
            set(&mut f.resource_id, "entity", id)
        }
        None => set(&mut f.resource_id, "entity", reference),
    }
}

/// The native action a `subtype` code names: DICOM's login and logout codes, else the
/// code itself (recall's action code, or a RESTful interaction kept as the action).
fn subtype_action(code: &str) -> &str {
    match code {
        "110122" => "login",
        "110123" => "logout",
        other => other,
    }
}

/// Sets a single-valued filter once; a second, different value is refused (recall's
/// search takes one value per field).
fn set(slot: &mut Option<String>, name: &str, value: &str) -> Result<(), Bad> {
    match slot {
        Some(old) if old != value => Err(bad(name, "only one value per field is supported")),
        _ => {
            *slot = Some(value.to_owned());
            Ok(())
        }
    }
}

/// The id of a reference (`Patient/MRN-1` → `MRN-1`) or of a token (`system|value` →
/// `value`).
fn id_of(value: &str) -> &str {
    let v = value.rsplit_once('|').map_or(value, |(_, v)| v);
    v.rsplit_once('/').map_or(v, |(_, id)| id)
}

/// The code of a token (`system|code` → `code`).
fn code_of(value: &str) -> &str {
    value.rsplit_once('|').map_or(value, |(_, c)| c)
}

/// The bounds `[from, to)` a `date` parameter sets: `eq` both, `ge`/`gt` the lower,
/// `le`/`lt` the upper. A value stands for its whole precision (a day, a month, a year,
/// or a second), in UTC.
fn date_bound(value: &str) -> Option<(Option<Timestamp>, Option<Timestamp>)> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let (lo, hi) = span(rest)?;
    Some(match prefix {
        "eq" => (Some(lo), Some(hi)),
        "ge" => (Some(lo), None),
        "gt" => (Some(hi), None),
        "le" => (None, Some(hi)),
        _ => (None, Some(lo)),
    })
}

/// The instants `[start, end)` a FHIR date or dateTime covers.
fn span(text: &str) -> Option<(Timestamp, Timestamp)> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some((t, t.checked_add(SignedDuration::from_secs(1)).ok()?));
    }
    let utc = |d: jiff::civil::Date| d.to_zoned(jiff::tz::TimeZone::UTC).ok();
    let (start, end) = match text.len() {
        4 => {
            let d = jiff::civil::date(text.parse().ok()?, 1, 1);
            (d, d.checked_add(jiff::Span::new().years(1)).ok()?)
        }
        7 => {
            let d = format!("{text}-01").parse::<jiff::civil::Date>().ok()?;
            (d, d.checked_add(jiff::Span::new().months(1)).ok()?)
        }
        10 => {
            let d = text.parse::<jiff::civil::Date>().ok()?;
            (d, d.checked_add(jiff::Span::new().days(1)).ok()?)
        }
        _ => return None,
    };
    Some((utc(start)?.timestamp(), utc(end)?.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Result<SearchParams, Bad> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        to_params(&pairs)
    }

    #[test]
    fn dates_intersect_and_cover_their_precision() {
        let p = params(&[("date", "ge2026-03"), ("date", "lt2026-03-15")]).unwrap();
        assert_eq!(p.filter.from.as_deref(), Some("2026-03-01T00:00:00Z"));
        assert_eq!(p.filter.to.as_deref(), Some("2026-03-15T00:00:00Z"));
        let p = params(&[("date", "2026-03-15")]).unwrap();
        assert_eq!(p.filter.from.as_deref(), Some("2026-03-15T00:00:00Z"));
        assert_eq!(p.filter.to.as_deref(), Some("2026-03-16T00:00:00Z"));
        let p = params(&[("date", "gt2026"), ("date", "le2027-02-01T10:00:00Z")]).unwrap();
        assert_eq!(p.filter.from.as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(p.filter.to.as_deref(), Some("2027-02-01T10:00:01Z"));
        assert_eq!(params(&[("date", "ge03/2026")]).unwrap_err().0, "date");
    }

    #[test]
    fn references_tokens_and_codes_become_native_filters() {
        let p = params(&[
            ("patient", "Patient/MRN-1"),
            ("agent.identifier", "urn:oid:1.2|u-7"),
            ("subtype", "urn:recall:fhir:action|read"),
            ("outcome", "4"),
            ("source", "ehr-1"),
            ("purpose", "TREAT"),
            ("_count", "20"),
            ("_sort", "-date"),
        ])
        .unwrap();
        let f = &p.filter;
        assert_eq!(f.patient.as_deref(), Some("MRN-1"));
        assert_eq!(f.actor.as_deref(), Some("u-7"));
        assert_eq!(f.action.as_deref(), Some("read"));
        assert_eq!(f.outcome.as_deref(), Some("denied"));
        assert_eq!(f.system.as_deref(), Some("ehr-1"));
        assert_eq!(f.purpose.as_deref(), Some("TREAT"));
        assert_eq!((p.limit, p.order.as_deref()), (Some(20), Some("desc")));
    }

    #[test]
    fn entity_type_action_and_dicom_subtypes_become_native_filters() {
        let p = params(&[
            ("entity", "Observation/obs-1"),
            ("type", "rest"),
            ("action", "R"),
        ]);
        let f = p.unwrap().filter;
        assert_eq!(f.resource_type.as_deref(), Some("Observation"));
        assert_eq!(f.resource_id.as_deref(), Some("obs-1"));
        assert_eq!(f.fhir_type.as_deref(), Some("rest"));
        assert_eq!(f.fhir_action.as_deref(), Some("R"));
        let f = params(&[("entity", "Patient/MRN-1"), ("subtype", "DCM|110122")]);
        let f = f.unwrap().filter;
        assert_eq!(f.patient.as_deref(), Some("MRN-1"));
        assert_eq!(f.action.as_deref(), Some("login"));
        assert_eq!(f.resource_type, None);
        let f = params(&[("entity", "obs-2"), ("type", "DCM|110114")])
            .unwrap()
            .filter;
        assert_eq!(
            (f.resource_id.as_deref(), f.resource_type),
            (Some("obs-2"), None)
        );
        assert_eq!(f.fhir_type.as_deref(), Some("110114"));
    }

    #[test]
    fn unsupported_or_conflicting_parameters_are_refused_by_name() {
        assert_eq!(params(&[("action", "X")]).unwrap_err().0, "action");
        assert_eq!(
            params(&[("entity-type", "2")]).unwrap_err().0,
            "entity-type"
        );
        let two = params(&[("patient", "MRN-1"), ("entity", "Patient/MRN-2")]);
        assert_eq!(two.unwrap_err().0, "entity");
        assert_eq!(params(&[("outcome", "2")]).unwrap_err().0, "outcome");
        let two = params(&[("patient", "MRN-1"), ("patient.identifier", "MRN-2")]);
        assert_eq!(two.unwrap_err().0, "patient.identifier");
        assert!(params(&[("patient", "MRN-1"), ("patient.identifier", "x|MRN-1")]).is_ok());
    }

    #[test]
    fn next_links_replace_the_cursor_and_keep_the_filter() {
        let pairs = vec![
            ("patient".to_string(), "MRN 1".to_string()),
            ("_cursor".to_string(), "old".to_string()),
        ];
        assert_eq!(
            link(&pairs, Some("c2")),
            "/fhir/AuditEvent?patient=MRN+1&_cursor=c2"
        );
    }
}
