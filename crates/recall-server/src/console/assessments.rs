//! Breach assessments in the console: the list, a new one opened from the search page's
//! current filter (its actor, IP, system and patient become the scope, its dates the
//! window), and one assessment's page where the officer walks the four factors and
//! records the decision, with the affected counts and deadlines recall computed. Every
//! read and change goes through the API's handlers (`routes::assessments`, i.e.
//! `recall_governance::assessments`): role checks, lens, self-audit, and each change a
//! new version in the log.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use jiff::Timestamp;
use recall_governance::assessment::{Decision, Factors, OpenRequest, ScopeDoc, UpdateRequest};
use recall_governance::assessment_pdf::FACTORS;
use serde::Deserialize;
use serde_json::Value;

use super::Console;
use super::pages::{Nav, api_json, form_post, html, problem_page, text, when};
use super::search::{Filter, percent, utc_day};
use super::session::Signed;
use crate::problem::Problem;
use crate::routes::assessments::{OFFICERS, OneParams, get_one, list, open, update};

#[derive(Template)]
#[template(path = "console/assessments.html")]
struct ListPage {
    nav: Option<Nav>,
    items: Vec<(String, String, String, String, String)>,
    officer: bool,
}

/// `GET /assessments`.
pub async fn index(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let nav = Nav::of(&s);
    let v = match api_json(list(State(c.app.clone()), s.principal(), peer, headers).await).await {
        Ok(v) => v,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let items = v["assessments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let decision = match a["decision"]["breach"].as_bool() {
                Some(true) => "breach",
                Some(false) => "no breach",
                None => "open",
            };
            (
                text(a, "id").to_owned(),
                text(a, "description").to_owned(),
                text(a, "discovered").to_owned(),
                a["figures"]["patients"].as_u64().unwrap_or(0).to_string(),
                decision.to_owned(),
            )
        })
        .collect();
    html(&ListPage {
        officer: OFFICERS.contains(&s.session.role),
        nav: Some(nav),
        items,
    })
}

#[derive(Template)]
#[template(path = "console/assessment_new.html")]
struct NewPage {
    nav: Option<Nav>,
    f: Filter,
    from: String,
    to: String,
    today: String,
    ignored: Vec<&'static str>,
}

/// `GET /assessments/new?{search filter}`: the form, filled from the filter.
pub async fn new(s: Signed, Query(f): Query<Filter>) -> Response {
    let nav = Nav::of(&s);
    let now = Timestamp::now();
    let (from, to) = match f.params(now) {
        Ok(p) => (
            day_of(p.filter.from.as_deref()),
            day_of(p.filter.to.as_deref()),
        ),
        Err(p) => return problem_page(Some(nav), &p),
    };
    // `to` of the search is exclusive midnight; the form's date is the last day included.
    let to = to.and_then(|d| d.parse::<jiff::civil::Date>().ok()?.yesterday().ok());
    let ignored = [
        ("action", &f.action),
        ("outcome", &f.outcome),
        ("purpose", &f.purpose),
        ("break_glass", &f.break_glass),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, _)| k)
    .collect();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    html(&NewPage {
        nav: Some(nav),
        from: from.unwrap_or_default(),
        to: to.map(|d| d.to_string()).unwrap_or_else(|| today.clone()),
        today,
        ignored,
        f,
    })
}

fn day_of(ts: Option<&str>) -> Option<String> {
    Some(ts?.get(..10)?.to_owned())
}

/// The form that opens an assessment (lists comma-separated, dates `YYYY-MM-DD`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OpenForm {
    csrf: String,
    description: String,
    discovered: String,
    actors: String,
    ips: String,
    systems: String,
    patients: String,
    from: String,
    to: String,
}

fn list_of(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

impl OpenForm {
    fn request(self) -> Result<OpenRequest, Problem> {
        Ok(OpenRequest {
            description: self.description,
            discovered: self.discovered,
            scope: ScopeDoc {
                actors: list_of(&self.actors),
                ips: list_of(&self.ips),
                systems: list_of(&self.systems),
                resource_types: Vec::new(),
                patients: list_of(&self.patients),
                from: utc_day("scope.from", &self.from, 0)?,
                to: utc_day("scope.to", &self.to, 1)?,
            },
        })
    }
}

/// `POST /assessments`: opens it, then to its page.
pub async fn create(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<OpenForm>,
) -> Response {
    let csrf = f.csrf.clone();
    let opened = form_post(&s, &csrf, f.request(), |req| {
        open(
            State(c.app.clone()),
            s.principal(),
            peer,
            headers,
            Ok(Json(req)),
        )
    })
    .await;
    let answer = match opened {
        Ok(res) => api_json(Ok(res)).await,
        Err(page) => return page,
    };
    match answer {
        Ok(v) => Redirect::to(&format!("/assessments/{}", percent(text(&v, "id")))).into_response(),
        Err(p) => problem_page(Some(Nav::of(&s)), &p),
    }
}

/// One factor on the page.
pub struct Factor {
    key: &'static str,
    title: &'static str,
    text: String,
}

#[derive(Template)]
#[template(path = "console/assessment.html")]
struct OnePage {
    nav: Option<Nav>,
    id: String,
    a: Value,
    factors: Vec<Factor>,
    counts: Vec<(&'static str, Vec<(String, u64)>)>,
    history: Vec<(u64, String, String, String)>,
    officer: bool,
}

fn counts(v: &Value) -> Vec<(String, u64)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
        .collect()
}

/// `GET /assessments/{id}`.
pub async fn one(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let nav = Nav::of(&s);
    let answer = get_one(
        State(c.app.clone()),
        s.principal(),
        peer,
        headers,
        Path(id.clone()),
        Ok(Query(OneParams::default())),
    )
    .await;
    let v = match api_json(answer).await {
        Ok(v) => v,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let a = v["assessment"].clone();
    let factors = FACTORS
        .iter()
        .map(|(key, title)| Factor {
            key,
            title,
            text: text(&a["factors"], key).to_owned(),
        })
        .collect();
    let figures = &a["figures"];
    let history = v["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let changed = h["changed"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            (
                h["version"].as_u64().unwrap_or(0),
                when(text(h, "at")),
                text(h, "by").to_owned(),
                changed,
            )
        })
        .collect();
    html(&OnePage {
        officer: OFFICERS.contains(&s.session.role),
        nav: Some(nav),
        counts: vec![
            ("By outcome", counts(&figures["by_outcome"])),
            ("By action", counts(&figures["by_action"])),
            ("Affected patients by state", counts(&figures["by_state"])),
        ],
        factors,
        history,
        id,
        a,
    })
}

/// The factor and decision form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateForm {
    csrf: String,
    nature: String,
    unauthorized_person: String,
    acquired_or_viewed: String,
    mitigation: String,
    /// `breach`, `no-breach` or empty (no decision yet).
    decision: String,
    reason: String,
}

impl UpdateForm {
    fn request(self) -> Result<UpdateRequest, Problem> {
        let some = |s: String| (!s.trim().is_empty()).then_some(s);
        let decision = match self.decision.as_str() {
            "" => None,
            "breach" | "no-breach" => Some(Decision {
                breach: self.decision == "breach",
                reason: self.reason,
            }),
            _ => {
                return Err(
                    Problem::bad_request("decision must be breach or no-breach").field("decision")
                );
            }
        };
        Ok(UpdateRequest {
            factors: Some(Factors {
                nature: some(self.nature),
                unauthorized_person: some(self.unauthorized_person),
                acquired_or_viewed: some(self.acquired_or_viewed),
                mitigation: some(self.mitigation),
            }),
            decision,
            ..UpdateRequest::default()
        })
    }
}

/// `POST /assessments/{id}`: records the factors (and decision), then back to the page.
pub async fn change(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<UpdateForm>,
) -> Response {
    let csrf = f.csrf.clone();
    let path = Path(id.clone());
    let done = form_post(&s, &csrf, f.request(), |req| {
        update(
            State(c.app.clone()),
            s.principal(),
            peer,
            headers,
            path,
            Ok(Json(req)),
        )
    })
    .await;
    match done {
        Ok(_) => Redirect::to(&format!("/assessments/{}", percent(&id))).into_response(),
        Err(page) => page,
    }
}
