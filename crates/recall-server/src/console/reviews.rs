//! The break-glass review page: the queue (open or all) with overdue badges and, for the
//! privacy officer, a review form per access. Reading goes through the API's queue
//! handler (role check, lens, self-audit); a review through its review handler, i.e. the
//! one `recall_governance::reviews` workflow.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use recall_query::{DISPOSITIONS, ReviewParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use super::login::csrf_refused;
use super::pages::{Nav, api_json, html, problem_page, text, when};
use super::session::{Signed, same};
use crate::routes::reviews::{REVIEWERS, list, review};

/// One access in the queue.
pub struct Item {
    seq: u64,
    time: String,
    actor: String,
    patient: String,
    reason: String,
    state: String,
    overdue: bool,
    due: String,
    disposition: String,
}

#[derive(Template)]
#[template(path = "console/reviews.html")]
struct ReviewsPage {
    nav: Option<Nav>,
    items: Vec<Item>,
    all: bool,
    reviewer: bool,
    dispositions: &'static [&'static str],
}

/// `?state=` of the page.
#[derive(Deserialize)]
pub struct Which {
    #[serde(default)]
    state: String,
}

fn item(v: &Value) -> Item {
    Item {
        seq: v["seq"].as_u64().unwrap_or(0),
        time: when(text(v, "time")),
        actor: text(v, "actor.id").to_owned(),
        patient: text(v, "patient.id").to_owned(),
        reason: text(v, "reason").to_owned(),
        state: text(v, "state").to_owned(),
        overdue: v["overdue"].as_bool().unwrap_or(false),
        due: text(v, "due").to_owned(),
        disposition: text(v, "review.disposition").to_owned(),
    }
}

/// `GET /reviews`.
pub async fn page(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(w): Query<Which>,
) -> Response {
    let nav = Nav::of(&s);
    let all = w.state == "all";
    let params = ReviewParams {
        state: Some(if all { "all" } else { "open" }.into()),
        limit: Some(100),
        ..ReviewParams::default()
    };
    let answer = list(
        State(c.app.clone()),
        s.principal(),
        peer,
        headers,
        Ok(Query(params)),
    )
    .await;
    let v = match api_json(answer).await {
        Ok(v) => v,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let items = v["items"]
        .as_array()
        .map(|a| a.iter().map(item).collect())
        .unwrap_or_default();
    html(&ReviewsPage {
        nav: Some(nav),
        items,
        all,
        reviewer: REVIEWERS.contains(&s.session.role),
        dispositions: &DISPOSITIONS,
    })
}

/// The review form.
#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    disposition: String,
    #[serde(default)]
    note: String,
}

/// `POST /reviews/{seq}`: records the review, then back to the queue.
pub async fn submit(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    Path(seq): Path<u64>,
    Form(f): Form<ReviewForm>,
) -> Response {
    if !same(&s.session.csrf, &f.csrf) {
        return csrf_refused();
    }
    let mut body = json!({"disposition": f.disposition});
    if !f.note.trim().is_empty() {
        body["note"] = json!(f.note);
    }
    let body = match serde_json::from_value(body) {
        Ok(b) => b,
        Err(e) => return problem_page(Some(Nav::of(&s)), &crate::state::internal(e)),
    };
    let done = review(
        State(c.app.clone()),
        s.principal(),
        peer,
        Path(seq),
        Ok(Json(body)),
    )
    .await;
    match done {
        Ok(_) => Redirect::to("/reviews?state=all").into_response(),
        Err(p) => problem_page(Some(Nav::of(&s)), &p),
    }
}
