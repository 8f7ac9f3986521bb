//! The administration page (admin role): the tenant's API keys, console users, legal
//! holds, and the retention settings (read-only: configuration owns them).
//!
//! Invariants:
//! - Every change goes through the API's own handlers (keys, holds) or the one
//!   `recall_governance::user_changes` workflow the CLI uses (users), so it is recorded
//!   in the tenant's log exactly as there; nothing here writes a store itself.
//! - The page shows no event contents: key and user facts, hold scopes (kinds, never the
//!   held patient), settings.
//! - A new key or TOTP secret is shown once, in the answer to the POST that made it.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use super::admin_users::{self, UserRow, user_rows};
use super::login::csrf_refused;
use super::pages::{Nav, api_json, html, problem_page, text, when};
use super::session::{Signed, same};
use crate::problem::Problem;
use crate::routes::admin::{ADMINS, create_key, list_keys, revoke_key, settings};
use crate::routes::holds::{create_hold, list_holds, release_hold};

/// Roles an administrator may give a key; a console user any but the last (`writer`).
pub static ROLES: [&str; 7] = [
    "auditor",
    "privacy_officer",
    "engineer",
    "verifier",
    "admin",
    "patient",
    "writer",
];

/// One API key row.
pub struct KeyRow {
    id: String,
    role: String,
    label: String,
    created: String,
    revoked: String,
}

/// One hold row.
pub struct HoldRow {
    id: String,
    kind: String,
    matter: String,
    created: String,
    released: String,
}

#[derive(Template)]
#[template(path = "console/admin.html")]
struct AdminPage {
    nav: Option<Nav>,
    csrf: String,
    tenant: String,
    keys: Vec<KeyRow>,
    users: Vec<UserRow>,
    holds: Vec<HoldRow>,
    retention_years: u32,
    retention_actions: Vec<(String, u32)>,
    retention_every: String,
    roles: &'static [&'static str],
    user_roles: &'static [&'static str],
}

/// A secret shown once (a new API key, a TOTP URI).
#[derive(Template)]
#[template(path = "console/admin_done.html")]
struct Done<'a> {
    nav: Option<Nav>,
    title: &'a str,
    what: &'a str,
    secret: &'a str,
}

/// The answer (201) to a change that made a secret: `what` it is, and the secret, once.
pub fn shown_once(s: &Signed, title: &str, what: &str, secret: &str) -> Response {
    let mut res = html(&Done {
        nav: Some(Nav::of(s)),
        title,
        what,
        secret,
    });
    *res.status_mut() = StatusCode::CREATED;
    res
}

fn rows<T>(v: &Value, list: &str, row: impl Fn(&Value) -> T) -> Vec<T> {
    v[list]
        .as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default()
}

fn key_row(v: &Value) -> KeyRow {
    KeyRow {
        id: text(v, "id").to_owned(),
        role: text(v, "role").to_owned(),
        label: text(v, "label").to_owned(),
        created: when(text(v, "created")),
        revoked: when(text(v, "revoked")),
    }
}

fn hold_row(v: &Value) -> HoldRow {
    let kind = match (text(v, "kind"), text(v, "from"), text(v, "to")) {
        ("time", from, to) => format!("events from {} to {}", when(from), when(to)),
        (kind, _, _) => format!("every event of one {kind}"),
    };
    HoldRow {
        id: text(v, "id").to_owned(),
        kind,
        matter: text(v, "matter").to_owned(),
        created: when(text(v, "created")),
        released: when(text(v, "released")),
    }
}

/// A refusal as a page, naming the field at fault.
pub fn refusal(s: &Signed, mut p: Problem) -> Response {
    if let (Some(field), Some(detail)) = (&p.field, &p.detail) {
        p.detail = Some(format!("{field}: {detail}"));
    }
    problem_page(Some(Nav::of(s)), &p)
}

/// `GET /admin`.
pub async fn page(State(c): State<Console>, s: Signed) -> Response {
    let who = s.principal();
    if let Err(p) = who.require(ADMINS) {
        return refusal(&s, p);
    }
    let app = || State(c.app.clone());
    let keys = api_json(list_keys(app(), who.clone()).await).await;
    let holds = api_json(list_holds(app(), who.clone()).await).await;
    let config = api_json(settings(app(), who.clone()).await).await;
    let users = user_rows(&c, &who.tenant).await;
    let (keys, holds, config, users) = match (keys, holds, config, users) {
        (Ok(k), Ok(h), Ok(c), Ok(u)) => (k, h, c, u),
        (Err(p), ..) | (_, Err(p), ..) | (_, _, Err(p), _) | (.., Err(p)) => {
            return refusal(&s, p);
        }
    };
    let retention = &c.app.cfg.retention;
    let years = retention.tenants.get(&who.tenant).copied();
    html(&AdminPage {
        nav: Some(Nav::of(&s)),
        csrf: s.session.csrf.clone(),
        tenant: who.tenant.clone(),
        keys: rows(&keys, "keys", key_row),
        users,
        holds: rows(&holds, "holds", hold_row),
        retention_years: years.unwrap_or(retention.default_years),
        retention_actions: retention
            .actions
            .iter()
            .map(|(a, y)| (a.clone(), *y))
            .collect(),
        retention_every: config["retention_interval_secs"].to_string(),
        roles: &ROLES,
        user_roles: &ROLES[..6],
    })
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// The new-key form.
#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    patient: String,
}

/// A non-empty form value as JSON, else nothing.
fn given(v: &str) -> Value {
    match v.trim() {
        "" => Value::Null,
        t => json!(t),
    }
}

/// A form turned into the API's JSON body (serde names the field a bad value is in).
fn body<T: serde::de::DeserializeOwned>(v: Value, field: &str) -> Result<T, Problem> {
    serde_json::from_value(v).map_err(|e| Problem::bad_request(e.to_string()).field(field))
}

/// `POST /admin/keys`: a new key, shown once.
pub async fn new_key(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    Form(f): Form<KeyForm>,
) -> Response {
    if !same(&s.session.csrf, &f.csrf) {
        return csrf_refused();
    }
    let req = json!({"role": f.role, "label": given(&f.label), "patient": given(&f.patient)});
    let made = match body(req, "role") {
        Ok(b) => create_key(State(c.app.clone()), s.principal(), peer, Ok(Json(b))).await,
        Err(p) => Err(p),
    };
    match api_json(made).await {
        Ok(v) => shown_once(
            &s,
            "API key created",
            "The key (shown only this once; it is stored as a keyed hash):",
            text(&v, "key"),
        ),
        Err(p) => refusal(&s, p),
    }
}

/// The place-a-hold form: `kind` says which of the other fields counts.
#[derive(Deserialize)]
pub struct HoldForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    matter: String,
}

/// `POST /admin/holds`: `POST /v1/holds` with the form's values.
pub async fn place_hold(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    Form(f): Form<HoldForm>,
) -> Response {
    if !same(&s.session.csrf, &f.csrf) {
        return csrf_refused();
    }
    let mut req = json!({"matter": f.matter});
    match f.kind.as_str() {
        "patient" | "actor" => req[f.kind.as_str()] = json!(f.subject.trim()),
        _ => {
            req["from"] = json!(f.from.trim());
            req["to"] = json!(f.to.trim());
        }
    }
    let placed = match body(req, "body") {
        Ok(b) => create_hold(State(c.app.clone()), s.principal(), peer, Ok(Json(b))).await,
        Err(p) => Err(p),
    };
    match placed {
        Ok(_) => Redirect::to("/admin#holds").into_response(),
        Err(p) => refusal(&s, p),
    }
}

/// `POST /admin/{what}/{id}/{verb}`: revoke a key, release a hold (the API's handlers),
/// disable a user or give it a new second factor (`admin_users.rs`); back to the page, or
/// the new secret shown once.
pub async fn item(
    State(c): State<Console>,
    s: Signed,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((what, id, verb)): Path<(String, String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !f.valid(&s) {
        return csrf_refused();
    }
    let (app, who, from) = (State(c.app.clone()), s.principal(), ConnectInfo(peer));
    let done = match (what.as_str(), verb.as_str()) {
        ("keys", "revoke") => revoke_key(app, who, from, Path(id)).await.map(|_| None),
        ("holds", "release") => release_hold(app, who, from, Path(id)).await.map(|_| None),
        ("users", "disable") => admin_users::disable(&c, &s, peer, id).await.map(|_| None),
        ("users", "reset-totp") => admin_users::reset_totp(&c, &s, peer, id).await.map(Some),
        _ => Err(Problem::not_found()),
    };
    match done {
        Ok(None) => Redirect::to(&format!("/admin#{what}")).into_response(),
        Ok(Some(uri)) => shown_once(&s, "Second factor reset", admin_users::TOTP_SHOWN, &uri),
        Err(p) => refusal(&s, p),
    }
}

impl CsrfForm {
    /// Whether the form carries the session's token.
    pub fn valid(&self, s: &Signed) -> bool {
        same(&s.session.csrf, &self.csrf)
    }
}
