//! The OpenID sign-in's two pages: `GET /login/oidc` sends the browser to the provider,
//! `GET /login/oidc/callback` takes it back (`oidc.rs` does the protocol). A sign-in is
//! recorded in the tenant's log like a local one (`ConsoleSession`, actor `jwt:<sub>`),
//! and so is a refused callback (`record_refusal`).
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
use recall_governance::{Act, SessionAct, Via, Who};
use serde::Deserialize;

use super::Console;
use super::login::login_page;
use super::oidc::{PENDING_SECS, STATE_COOKIE};
use super::pages::html;
use super::session::{COOKIE, cookie, set_cookie};
use crate::audit::{self, record_act};
use crate::auth::Principal;

/// The actor of a refused callback whose ID token did not verify (no subject is known).
pub const UNVERIFIED: &str = "jwt:(unverified)";

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

/// Records a refused callback like a refused password sign-in (`LoginFailed`, outcome
/// failure): in the tenant of the subject the provider vouched for when its ID token
/// verified; else no tenant is known, and it goes to every tenant of this server as actor
/// [`UNVERIFIED`]. Only the endpoint and the address: never a code, state or token.
async fn record_refusal(c: &Console, who: Option<&Principal>, via: &Via) {
    let act = Act::ConsoleSession(SessionAct::LoginFailed);
    let (tenants, who) = match who {
        Some(p) => (vec![p.tenant.clone()], audit::who(p)),
        None => {
            let store = c.app.db.journal().store();
            let unverified = Who {
                id: UNVERIFIED.to_owned(),
                role: None,
                kind: "user",
            };
            (store.tenants().unwrap_or_default(), unverified)
        }
    };
    for t in tenants {
        if record_act(&c.app, &t, &act, &who, via).await.is_err() {
            tracing::warn!("a refused OpenID sign-in could not be recorded");
        }
    }
}

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
    let via = Via::http("GET /login/oidc/callback", Some(peer.ip()));
    // Attempts count against the address like password ones (a flood of forged
    // callbacks must not flood the logs it is recorded in).
    if !c
        .limiter
        .allow(peer.ip(), c.app.cfg.console.login_attempts_per_minute)
    {
        metrics::counter!("recall_console_logins_total", "result" => "limited").increment(1);
        let msg = "Too many attempts from this address. Wait a minute.";
        return login_page(&c, StatusCode::TOO_MANY_REQUESTS, msg);
    }
    if !q.error.is_empty() {
        record_refusal(&c, None, &via).await;
        return refused(&c, "The sign-on provider did not sign you in.");
    }
    let browser = cookie(&headers, STATE_COOKIE).unwrap_or("");
    let who = match c.flows.finish(&cfg, &q.state, browser, &q.code).await {
        Ok(who) => who,
        Err(r) => {
            tracing::warn!(error = %r.why, "OpenID sign-in refused");
            record_refusal(&c, r.who.as_ref(), &via).await;
            return refused(&c, "Single sign-on failed. Please try again.");
        }
    };
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
