//! The integrity page: per tenant the latest signed checkpoint and its history, and the
//! verdicts of the scheduled verification (result, time, what failed); a run asked for
//! now; the acknowledgement of failures. Everything goes through the API's handlers
//! (`routes::integrity`: roles, the acknowledgement recorded in the log before the
//! answer); no event contents are shown, so there is no self-audit record (as for
//! `GET /v1/integrity`). [`unacknowledged`] is what puts a failure in every page's header.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::Console;
use super::pages::{Nav, api_json, form_post, html, problem_page, when};
use super::session::{Session, Signed};
use crate::problem::Problem;
use crate::routes::integrity::{ACKNOWLEDGERS, WATCHERS, acknowledge, status, verify};

/// Whether the session's tenant has a failed verification nobody acknowledged, for a
/// role that watches integrity (a small SQLite count; an unreadable store is no alert
/// here: the integrity page and `/metrics` report it).
pub fn unacknowledged(c: &Console, s: &Session) -> bool {
    if !WATCHERS.contains(&s.role) {
        return false;
    }
    crate::integrity::verdicts(&c.app)
        .ok()
        .flatten()
        .and_then(|v| v.unacknowledged(&s.tenant).ok())
        .is_some_and(|n| n > 0)
}

#[derive(Template)]
#[template(path = "console/integrity.html")]
struct IntegrityPage {
    nav: Option<Nav>,
    t: Value,
    last: Value,
    /// Whether the last verification passed.
    last_ok: bool,
    verifications: Vec<Value>,
    checkpoints: Vec<Value>,
    interval: String,
    acknowledger: bool,
}

/// A verdict with its times as every console page shows them (`pages::when`).
fn timed(mut v: Value) -> Value {
    for path in [&["started"][..], &["acknowledged", "at"]] {
        if let Some(Value::String(t)) = path.iter().try_fold(&mut v, |v, k| v.get_mut(*k)) {
            *t = when(t);
        }
    }
    v
}

/// `GET /integrity`.
pub async fn page(State(c): State<Console>, s: Signed) -> Response {
    let nav = Nav::of(&s);
    let v = match api_json(status(State(c.app.clone()), s.principal()).await).await {
        Ok(v) => v,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let t = v["tenants"][0].clone();
    let list = |k: &str| t[k].as_array().cloned().unwrap_or_default();
    html(&IntegrityPage {
        acknowledger: ACKNOWLEDGERS.contains(&s.session.role),
        nav: Some(nav),
        verifications: list("verifications").into_iter().map(timed).collect(),
        last: timed(t["last_verification"].clone()),
        last_ok: t["last_verification"]["result"] == "ok",
        // Newest first, like the verdicts.
        checkpoints: list("checkpoints").into_iter().rev().collect(),
        t,
        interval: v["verify_interval_hours"].to_string(),
    })
}

/// A POST form carrying only the CSRF token.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Csrf {
    csrf: String,
}

/// `POST /integrity/{what}`: `verify` (a run now) or `acknowledge`; back to the page.
pub async fn act(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    Path(what): Path<String>,
    Form(f): Form<Csrf>,
) -> Response {
    let (state, who) = (State(c.app.clone()), s.principal());
    let tenant = Path(s.session.tenant.clone());
    let done = form_post(&s, &f.csrf, Ok(()), |()| async move {
        match what.as_str() {
            "verify" => verify(state, who).await,
            "acknowledge" => acknowledge(state, who, peer, tenant).await,
            _ => Err(Problem::not_found().detail("no such integrity action")),
        }
    })
    .await;
    match done {
        Ok(_) => Redirect::to("/integrity").into_response(),
        Err(page) => page,
    }
}
