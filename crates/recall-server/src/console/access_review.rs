//! The access review page: the periodic review of who accessed what (per role and
//! department, flagged actors, credentials) for a period, and the sign-off form. The
//! review is the API's (`routes::access_review::access_review`, JSON: role, lens,
//! self-audit, `recall_governance::access_review`); the sign-off goes through the API's
//! sign-off handler and names the SHA-256 of exactly the JSON this page showed.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use serde_json::Value;

use super::Console;
use super::pages::{Nav, api_json, form_post, html, problem_page, text, when};
use super::search::{percent, utc_day};
use super::session::Signed;
use crate::problem::Problem;
use crate::routes::access_review::{
    DIGEST_HEADER, ReviewParams, SIGNERS, SignoffBody, access_review, signoff,
};

/// `?from=&to=` (dates, `to` inclusive) and `signed` after a sign-off.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Period {
    from: String,
    to: String,
    signed: String,
}

/// One actor's line.
pub struct Line {
    role: String,
    department: String,
    actor: String,
    name: String,
    events: u64,
    patients: u64,
    break_glass: u64,
    denied: u64,
    failed: u64,
    last: String,
}

#[derive(Template)]
#[template(path = "console/access_review.html")]
struct ReviewPage {
    nav: Option<Nav>,
    from: String,
    to: String,
    from_ts: String,
    to_ts: String,
    sha256: String,
    totals: Vec<(&'static str, u64)>,
    lines: Vec<Line>,
    flagged: Vec<(&'static str, String)>,
    credentials: Vec<(String, String, u64, String)>,
    signer: bool,
    user: String,
    signed: bool,
}

impl Period {
    /// The dates shown (the last 30 days by default) and the API's RFC 3339 bounds.
    fn bounds(&self) -> Result<(String, String, String, String), Problem> {
        let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let or = |s: &str, d: jiff::civil::Date| {
            if s.trim().is_empty() {
                d.to_string()
            } else {
                s.trim().to_owned()
            }
        };
        let from = or(&self.from, today.checked_sub(30.days()).unwrap_or(today));
        let to = or(&self.to, today);
        Ok((utc_day("from", &from, 0)?, utc_day("to", &to, 1)?, from, to))
    }
}

fn line(group: &Value, a: &Value) -> Line {
    let n = |k: &str| a[k].as_u64().unwrap_or(0);
    Line {
        role: text(group, "role").to_owned(),
        department: text(group, "department").to_owned(),
        actor: text(a, "actor_id").to_owned(),
        name: text(a, "actor_name").to_owned(),
        events: n("events"),
        patients: n("patients"),
        break_glass: n("break_glass"),
        denied: n("denied"),
        failed: n("failed"),
        last: when(text(a, "last")),
    }
}

fn flagged(v: &Value) -> Vec<(&'static str, String)> {
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for x in list("not_in_roster") {
        out.push(("not in the roster", x.as_str().unwrap_or("").to_owned()));
    }
    for x in list("after_status") {
        let why = format!("{} since {}", text(&x, "status"), text(&x, "status_date"));
        out.push((
            "access after status change",
            format!("{} ({why})", text(&x, "user_id")),
        ));
    }
    for x in list("dormant") {
        out.push(("dormant account", text(&x, "user_id").to_owned()));
    }
    out
}

/// `GET /access-review`.
pub async fn page(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(p): Query<Period>,
) -> Response {
    let nav = Nav::of(&s);
    let (from_ts, to_ts, from, to) = match p.bounds() {
        Ok(b) => b,
        Err(e) => return problem_page(Some(nav), &e),
    };
    let params = ReviewParams {
        from: Some(from_ts.clone()),
        to: Some(to_ts.clone()),
        format: Some("json".into()),
    };
    let answer = access_review(
        State(c.app.clone()),
        s.principal(),
        peer,
        headers,
        Ok(Query(params)),
    )
    .await;
    let sha256 = answer
        .as_ref()
        .ok()
        .and_then(|r| r.headers().get(DIGEST_HEADER))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let v = match api_json(answer).await {
        Ok(v) => v,
        Err(e) => return problem_page(Some(nav), &e),
    };
    let totals = ["actors", "events", "break_glass", "denied", "failed"]
        .map(|k| (k, v["totals"][k].as_u64().unwrap_or(0)))
        .to_vec();
    let mut lines = Vec::new();
    for g in v["groups"].as_array().into_iter().flatten() {
        for a in g["actors"].as_array().into_iter().flatten() {
            lines.push(line(g, a));
        }
    }
    let credentials = v["credentials"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let role = text(c, "role").to_owned();
            (
                text(c, "credential").to_owned(),
                role,
                c["uses"].as_u64().unwrap_or(0),
                when(text(c, "last_use")),
            )
        })
        .collect();
    html(&ReviewPage {
        signer: SIGNERS.contains(&s.session.role),
        user: s.session.user.clone(),
        signed: p.signed == "1",
        flagged: flagged(&v),
        nav: Some(nav),
        from,
        to,
        from_ts,
        to_ts,
        sha256,
        totals,
        lines,
        credentials,
    })
}

/// The sign-off form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignForm {
    csrf: String,
    reviewer: String,
    from: String,
    to: String,
    sha256: String,
    from_day: String,
    to_day: String,
}

/// `POST /access-review/signoff`: records the sign-off, then back to the review.
pub async fn sign(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    Form(f): Form<SignForm>,
) -> Response {
    let back = format!(
        "/access-review?from={}&to={}&signed=1",
        percent(&f.from_day),
        percent(&f.to_day)
    );
    let body = SignoffBody {
        reviewer: f.reviewer,
        from: f.from,
        to: f.to,
        sha256: f.sha256,
    };
    let done = form_post(&s, &f.csrf, Ok(body), |body| {
        signoff(State(c.app.clone()), s.principal(), peer, Ok(Json(body)))
    })
    .await;
    match done {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(page) => page,
    }
}
