//! The OpenID sign-in's two pages: `GET /login/oidc` sends the browser to the provider,
//! `GET /login/oidc/callback` takes it back (`oidc.rs` does the protocol). A sign-in is
//! recorded in the tenant's log like a local one (`ConsoleSession`, actor `jwt:<sub>`).
//!
//! Invariants:
//! - The `state` cookie is `SameSite=Lax` (it must come back on the provider's redirect,
//!   a cross-site navigation), `HttpOnly`, scoped to `/login/oidc`, and lives
//!   [`PENDING_SECS`](super::oidc::PENDING_SECS); the session cookie stays `Strict`.
//! - After the callback the browser moves on by a page of this origin (a meta refresh),
//!   so the `Strict` session cookie is sent on the next request.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use recall_governance::{Act, SessionAct, Via};
use serde::Deserialize;

use super::Console;
use super::login::login_page;
use super::oidc::{PENDING_SECS, STATE_COOKIE};
use super::pages::html;
use super::session::{COOKIE, cookie, set_cookie};
use crate::audit::{self, record_act};

/// The `state` cookie (Lax, see the module's invariants); `max_age` 0 deletes it.
fn state_cookie(value: &str, tls: bool, max_age: u64) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{STATE_COOKIE}={value}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// `GET /login/oidc`: to the provider, with a fresh state, nonce and PKCE challenge.
pub async fn start(State(c): State<Console>) -> Response {
    let Some(cfg) = c.app.cfg.console.oidc.clone() else {
        return login_page(
            &c,
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured.",
        );
    };
    match c.flows.start(&cfg).await {
        Ok(s) => {
            let mut res = Redirect::to(&s.location).into_response();
            let v = state_cookie(&s.state, c.app.cfg.tls(), PENDING_SECS);
            if let Ok(v) = v.parse() {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => {
            tracing::warn!(error = %e, "OpenID sign-in could not start");
            login_page(
                &c,
                StatusCode::BAD_GATEWAY,
                "The sign-on provider cannot be reached.",
            )
        }
    }
}

/// The provider's answer.
#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

#[derive(Template)]
#[template(path = "console/signed_in.html")]
struct SignedIn;

/// `GET /login/oidc/callback`: redeems the code, verifies the ID token, starts a session.
pub async fn callback(
    State(c): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let Some(cfg) = c.app.cfg.console.oidc.clone() else {
        return login_page(
            &c,
            StatusCode::NOT_FOUND,
            "Single sign-on is not configured.",
        );
    };
    let tls = c.app.cfg.tls();
    let refused = |c: &Console, why: &str| {
        metrics::counter!("recall_console_logins_total", "result" => "refused").increment(1);
        let mut res = login_page(c, StatusCode::UNAUTHORIZED, why);
        if let Ok(v) = state_cookie("", tls, 0).parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    };
    if !q.error.is_empty() {
        return refused(&c, "The sign-on provider did not sign you in.");
    }
    let browser = cookie(&headers, STATE_COOKIE).unwrap_or("");
    let who = match c.flows.finish(&cfg, &q.state, browser, &q.code).await {
        Ok(who) => who,
        Err(e) => {
            tracing::warn!(error = %e, "OpenID sign-in refused");
            return refused(&c, "Single sign-on failed. Please try again.");
        }
    };
    let via = Via::http("GET /login/oidc/callback", Some(peer.ip()));
    let act = Act::ConsoleSession(SessionAct::Login);
    if record_act(&c.app, &who.tenant, &act, &audit::who(&who), &via)
        .await
        .is_err()
    {
        let msg = "Sign-in could not be recorded. Try again.";
        return login_page(&c, StatusCode::SERVICE_UNAVAILABLE, msg);
    }
    metrics::counter!("recall_console_logins_total", "result" => "accepted").increment(1);
    let id = c.sessions.start_verified(&who);
    let mut res = html(&SignedIn);
    let h = res.headers_mut();
    for v in [set_cookie(COOKIE, &id, tls, None), state_cookie("", tls, 0)] {
        if let Ok(v) = v.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}
