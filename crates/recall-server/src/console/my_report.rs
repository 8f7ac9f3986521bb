//! A patient's own page: the patient access report of the one patient a `patient` console
//! user is bound to, and its PDF. Both go through the API's report handler with the
//! session's principal (bound like a `patient` API key), so the binding check, the lens
//! and the self-audit record are the API's. Every other console page refuses a patient
//! session (`session.rs`).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use recall_query::plain;
use serde_json::{Value, json};

use super::Console;
use super::admin::refusal;
use super::pages::{Nav, api_json, html, listed, text, when};
use super::session::Signed;
use crate::auth::PatientScope;
use crate::problem::Problem;
use crate::routes::reports::patient_access;

/// One person who accessed the patient's record.
pub struct Person {
    name: String,
    role: String,
    purposes: String,
    actions: String,
    count: u64,
    first: String,
    last: String,
}

#[derive(Template)]
#[template(path = "console/my_report.html")]
struct MyReport {
    nav: Option<Nav>,
    people: Vec<Person>,
    count: u64,
}

/// One summary row in the words of the patient PDF (`recall_query::plain`): purposes
/// spelled out, and what was done to which kind of record, from `events` (the report's
/// events as the patient's lens shows them) by this person.
fn person(v: &Value, events: &[Value]) -> Person {
    // The patient's lens may withhold both (recall's own records, such as this report's).
    let name = match (text(v, "actor_name"), text(v, "actor_id")) {
        ("", "") => "(name not shown)".to_owned(),
        ("", id) => id.to_owned(),
        (name, _) => name.to_owned(),
    };
    Person {
        name,
        role: plain::role(text(v, "actor_role")),
        purposes: listed(&v["purposes"], plain::purpose),
        actions: done_by(who(v, "actor_id", "actor_name"), &v["actions"], events),
        count: v["count"].as_u64().unwrap_or(0),
        first: when(text(v, "first")),
        last: when(text(v, "last")),
    }
}

/// Who a row or an event names: the actor id, or the name where the lens withholds the id.
fn who<'a>(v: &'a Value, id: &str, name: &str) -> &'a str {
    match text(v, id) {
        "" => text(v, name),
        id => id,
    }
}

/// What `actor` did (`viewed: prescription, changed: visit`), from the events naming it;
/// where the lens withholds the actor, its actions alone (`viewed`).
fn done_by(actor: &str, actions: &Value, events: &[Value]) -> String {
    let by: BTreeSet<String> = events
        .iter()
        .filter(|e| !actor.is_empty() && who(e, "actor.id", "actor.name") == actor)
        .map(|e| plain::what(text(e, "action"), text(e, "resource.type")))
        .collect();
    if by.is_empty() {
        return listed(actions, |a| plain::action(a).to_owned());
    }
    by.into_iter().collect::<Vec<_>>().join(", ")
}

/// A local patient user's patient id, opened from `users.db`.
async fn local_patient(c: &Console, name: &str) -> Result<String, Problem> {
    let Some(users) = c.users.clone() else {
        return Err(Problem::not_found().detail("console users are not enabled"));
    };
    let name = name.to_owned();
    crate::state::blocking(move || users.patient_of(&name).map_err(crate::state::internal))
        .await?
        .ok_or_else(|| Problem::forbidden().detail("this user is bound to no patient"))
}

/// The report of the session's patient in `format`, as the API answers it.
async fn report(
    c: &Console,
    s: &Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    format: &str,
) -> Result<Response, Problem> {
    let patient = match &s.session.patient {
        // A patient vouched for by an OpenID provider: the id came in the ID token.
        Some(PatientScope::Id(id)) => id.clone(),
        Some(PatientScope::Binding(_)) => local_patient(c, &s.session.user).await?,
        None => {
            return Err(Problem::forbidden()
                .detail("only a patient user has an access report of their own"));
        }
    };
    let params = serde_json::from_value(json!({"patient": patient, "format": format}))
        .map_err(crate::state::internal)?;
    let app = State(c.app.clone());
    patient_access(app, s.principal(), peer, headers, Ok(Query(params))).await
}

/// `GET /my-report`: who accessed my record, grouped by person.
pub async fn page(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let v = match api_json(report(&c, &s, peer, headers, "json").await).await {
        Ok(v) => v,
        Err(p) => return refusal(&s, p),
    };
    let events = v["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let people = v["summary"]
        .as_array()
        .map(|a| a.iter().map(|p| person(p, events)).collect())
        .unwrap_or_default();
    html(&MyReport {
        nav: Some(Nav::of(&s)),
        people,
        count: v["count"].as_u64().unwrap_or(0),
    })
}

/// `GET /my-report/pdf`: the same report as the API's PDF.
pub async fn pdf(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match report(&c, &s, peer, headers, "pdf").await {
        Ok(res) => res,
        Err(p) => refusal(&s, p),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The patient read HL7 codes (TREAT, HOPERAT) and bare actions; now the PDF's words.
    #[test]
    fn a_patient_reads_plain_words() {
        let row = json!({"actor_id": "u-1", "actor_name": "Dr A", "actor_role": "attending_physician",
            "actions": ["read", "update"], "purposes": ["TREAT", "HOPERAT"], "count": 3,
            "first": "2026-03-04T10:22:01.5Z", "last": "2026-03-04T11:00:00Z"});
        let events = [
            json!({"actor": {"id": "u-1"}, "action": "read", "resource": {"type": "MedicationRequest"}}),
            json!({"actor": {"id": "u-1"}, "action": "update", "resource": {"type": "Encounter"}}),
            json!({"actor": {"id": "u-2"}, "action": "delete", "resource": {"type": "Encounter"}}),
        ];
        let p = super::person(&row, &events);
        assert_eq!(p.role, "attending physician");
        assert_eq!(
            p.purposes,
            "treatment (TREAT), health care operations (HOPERAT)"
        );
        assert_eq!(p.actions, "changed: visit, viewed: prescription");
        assert_eq!(p.first, "2026-03-04 10:22:01 UTC");
        // An actor the lens withholds: the actions alone, in words.
        let hidden = json!({"actions": ["read"], "purposes": ["ETREAT"]});
        let p = super::person(&hidden, &events);
        assert_eq!(p.actions, "viewed");
        assert_eq!(p.purposes, "emergency (break-glass) treatment (ETREAT)");
    }
}
