//! A patient's own page: the patient access report of the one patient a `patient` console
//! user is bound to, and its PDF. Both go through the API's report handler with the
//! session's principal (bound like a `patient` API key), so the binding check, the lens
//! and the self-audit record are the API's. Every other console page refuses a patient
//! session (`session.rs`).

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::Console;
use super::admin::refusal;
use super::pages::{Nav, api_json, html, text};
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

/// A JSON list of strings, comma-joined.
fn joined(v: &Value, key: &str) -> String {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn person(v: &Value) -> Person {
    // The patient's lens may withhold both (recall's own records, such as this report's).
    let name = match (text(v, "actor_name"), text(v, "actor_id")) {
        ("", "") => "(name not shown)".to_owned(),
        ("", id) => id.to_owned(),
        (name, _) => name.to_owned(),
    };
    Person {
        name,
        role: text(v, "actor_role").to_owned(),
        purposes: joined(v, "purposes"),
        actions: joined(v, "actions"),
        count: v["count"].as_u64().unwrap_or(0),
        first: text(v, "first").to_owned(),
        last: text(v, "last").to_owned(),
    }
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
    let people = v["summary"]
        .as_array()
        .map(|a| a.iter().map(person).collect())
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
