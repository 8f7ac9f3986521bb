//! Sign-in and sign-out. The login form carries a CSRF token bound to a pre-sign-in cookie;
//! attempts are limited per address and per user (lockout, in `recall_governance::users`);
//! every sign-in, refused sign-in, lockout and sign-out is appended to the user's tenant's
//! log as `recall:server`'s record, without password or code.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use recall_governance::users::{SignIn, UserInfo};
use recall_governance::{Act, SessionAct, Via, Who};
use serde::Deserialize;

use super::Console;
use super::pages::{Nav, html};
use super::session::{COOKIE, LOGIN_COOKIE, Signed, cookie, same, set_cookie, token};
use crate::audit::{self, record_act};

/// Sign-in attempts per address in the current minute.
#[derive(Default)]
pub struct Limiter(Mutex<HashMap<IpAddr, (Instant, u32)>>);

impl Limiter {
    /// Counts an attempt from `ip`; false when it is over `per_minute`.
    pub(super) fn allow(&self, ip: IpAddr, per_minute: u32) -> bool {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        let entry = map.entry(ip).or_insert((now, 0));
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    nav: Option<Nav>,
    csrf: &'a str,
    message: &'a str,
    /// `[console.oidc]` is configured: offer single sign-on.
    sso: bool,
}

/// `?why=` on the login page: why the person is there.
#[derive(Deserialize)]
pub struct Why {
    why: Option<String>,
}

/// The sign-in page with `message`, answered with `status` (and a fresh form token).
pub fn login_page(c: &Console, status: StatusCode, message: &str) -> Response {
    let tls = c.app.cfg.tls();
    let csrf = token();
    let mut res = html(&LoginPage {
        nav: None,
        csrf: &csrf,
        message,
        sso: c.app.cfg.console.oidc.is_some(),
    });
    *res.status_mut() = status;
    if let Ok(v) = set_cookie(LOGIN_COOKIE, &csrf, tls, Some(600)).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `GET /login`.
pub async fn form(State(c): State<Console>, Query(w): Query<Why>) -> Response {
    let message = match w.why.as_deref() {
        Some("expired") => "Your session has ended. Please sign in again.",
        Some("signedout") => "You are signed out.",
        _ => "",
    };
    login_page(&c, StatusCode::OK, message)
}

/// The login form.
#[derive(Deserialize)]
pub struct Credentials {
    user: String,
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    csrf: String,
}

fn session_who(u: &UserInfo) -> Who {
    Who {
        id: format!("user:{}", u.name),
        role: Some(u.role.to_string()),
        kind: "user",
    }
}

/// Appends a session act to the user's tenant's log.
async fn record(c: &Console, u: &UserInfo, what: SessionAct, endpoint: &str, ip: IpAddr) -> bool {
    let via = Via::http(endpoint, Some(ip));
    let act = Act::ConsoleSession(what);
    record_act(&c.app, &u.tenant, &act, &session_who(u), &via)
        .await
        .is_ok()
}

/// `POST /login`.
pub async fn submit(
    State(c): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<Credentials>,
) -> Response {
    let tls = c.app.cfg.tls();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf) {
        return login_page(
            &c,
            StatusCode::FORBIDDEN,
            "The form had expired. Please try again.",
        );
    }
    if !c
        .limiter
        .allow(peer.ip(), c.app.cfg.console.login_attempts_per_minute)
    {
        metrics::counter!("recall_console_logins_total", "result" => "limited").increment(1);
        return login_page(
            &c,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts from this address. Wait a minute.",
        );
    }
    let Some(users) = c.users.clone() else {
        return login_page(
            &c,
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not available.",
        );
    };
    let now = jiff::Timestamp::now().as_second();
    let verdict =
        tokio::task::spawn_blocking(move || users.sign_in(&f.user, &f.password, &f.totp, now))
            .await;
    let refused = |msg: &str| login_page(&c, StatusCode::UNAUTHORIZED, msg);
    let bad = "The name, password or code is not right.";
    let ip = peer.ip();
    match verdict {
        Ok(Ok(SignIn::Accepted(u))) => {
            if !record(&c, &u, SessionAct::Login, "POST /login", ip).await {
                return login_page(
                    &c,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in could not be recorded. Try again.",
                );
            }
            metrics::counter!("recall_console_logins_total", "result" => "accepted").increment(1);
            let id = c.sessions.start(&u);
            let mut res = Redirect::to("/").into_response();
            let h = res.headers_mut();
            for v in [
                set_cookie(COOKIE, &id, tls, None),
                set_cookie(LOGIN_COOKIE, "", tls, Some(0)),
            ] {
                if let Ok(v) = v.parse() {
                    h.append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Ok(Ok(SignIn::Refused { user, locked_now })) => {
            metrics::counter!("recall_console_logins_total", "result" => "refused").increment(1);
            // An unknown name has no tenant to record in; it is counted, never logged
            // (a name typed by mistake may be anything).
            if let Some(u) = user {
                record(&c, &u, SessionAct::LoginFailed, "POST /login", ip).await;
                if locked_now {
                    record(&c, &u, SessionAct::Lockout, "POST /login", ip).await;
                }
            }
            refused(bad)
        }
        Ok(Ok(SignIn::Locked(u))) => {
            metrics::counter!("recall_console_logins_total", "result" => "locked").increment(1);
            record(&c, &u, SessionAct::LoginFailed, "POST /login", ip).await;
            refused(
                "This user is locked after too many failed attempts. Try again later or ask an administrator.",
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "console sign-in failed");
            login_page(&c, StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed.")
        }
        Err(e) => {
            tracing::error!(error = %e, "console sign-in task failed");
            login_page(&c, StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed.")
        }
    }
}

/// The logout form.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session server-side (CSRF token required).
pub async fn logout(
    State(c): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    s: Signed,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if !same(&s.session.csrf, &f.csrf) {
        return csrf_refused();
    }
    c.sessions.end(&s.id);
    let (tenant, who) = (&s.session.tenant, audit::who(&s.principal()));
    let via = Via::http("POST /logout", Some(peer.ip()));
    let act = Act::ConsoleSession(SessionAct::Logout);
    let _ = record_act(&c.app, tenant, &act, &who, &via).await;
    let mut res = Redirect::to("/login?why=signedout").into_response();
    if let Ok(v) = set_cookie(COOKIE, "", c.app.cfg.tls(), Some(0)).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// 403 for a state-changing request without the session's CSRF token.
pub fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "refused: the form's CSRF token is missing or wrong",
    )
        .into_response()
}
