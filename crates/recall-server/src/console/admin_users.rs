//! Console users on the administration page: list, create, disable, reset the second
//! factor — each through `recall_governance::user_changes`, the functions `recall users`
//! calls, so each change is recorded in the tenant's log the same way (as the signed-in
//! administrator, `user:<name>`, through the server's writer).
//!
//! Invariants:
//! - An administrator sees and changes only the users of the session's tenant; a user of
//!   another tenant is answered like an unknown one.
//! - A password is read from the form and hashed; it never reaches a page, log or event.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use recall_governance::users::{NewUser, UserInfo, Users};
use recall_governance::workflows::Actor;
use recall_governance::{GovernanceError, Role, Via, user_changes};
use serde::Deserialize;

use super::Console;
use super::admin::{refusal, shown_once};
use super::login::csrf_refused;
use super::session::{Signed, same};
use crate::audit;
use crate::governance::as_caller;
use crate::problem::Problem;
use crate::routes::admin::{ADMINS, patient_binding};
use crate::state::{blocking, internal};

/// One user row.
pub struct UserRow {
    /// Sign-in name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Whether a TOTP second factor is set.
    pub totp: bool,
    /// Disabled.
    pub disabled: bool,
    /// Locked now.
    pub locked: bool,
}

fn users_of(c: &Console) -> Result<Arc<Users>, Problem> {
    c.users
        .clone()
        .ok_or_else(|| Problem::not_found().detail("console users are not enabled"))
}

/// The users of `tenant`, by name.
pub async fn user_rows(c: &Console, tenant: &str) -> Result<Vec<UserRow>, Problem> {
    let users = users_of(c)?;
    let tenant = tenant.to_owned();
    let now = jiff::Timestamp::now().as_second();
    blocking(move || {
        let all = users.list().map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|u| u.tenant == tenant)
            .map(|u| UserRow {
                role: u.role.to_string(),
                totp: u.totp,
                disabled: u.disabled,
                locked: u.locked_until > now,
                name: u.name,
            })
            .collect())
    })
    .await
}

/// Runs a user change as the session's administrator, recorded through the server.
async fn as_admin<T: Send + 'static>(
    c: &Console,
    s: &Signed,
    endpoint: &str,
    peer: SocketAddr,
    f: impl FnOnce(&Users, &Actor<'_>, &[String]) -> Result<T, GovernanceError> + Send + 'static,
) -> Result<T, Problem> {
    let who = s.principal();
    who.require(ADMINS)?;
    let users = users_of(c)?;
    let via = Via::http(endpoint, Some(peer.ip()));
    as_caller(&c.app, &who, via, move |state, by| {
        let tenants = state.db.journal().store().tenants().map_err(internal)?;
        f(&users, by, &tenants).map_err(audit::problem)
    })
    .await
}

/// The new-user form.
#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    patient: String,
}

/// What the page says for a role without a second factor.
const NO_TOTP: &str = "This role reads no event contents: no second factor is needed.";

/// What a TOTP URI is, on the page that shows it once.
pub const TOTP_SHOWN: &str =
    "The second factor (an otpauth:// URI for the user's authenticator app; shown only this once):";

/// `POST /admin/users`: creates a user of the administrator's tenant.
pub async fn create(
    State(c): State<Console>,
    s: Signed,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<UserForm>,
) -> Response {
    if !same(&s.session.csrf, &f.csrf) {
        return csrf_refused();
    }
    let Ok(role) = f.role.parse::<Role>() else {
        return refusal(&s, Problem::bad_request("not a role").field("role"));
    };
    let tenant = s.session.tenant.clone();
    let patient = Some(f.patient.trim()).filter(|p| !p.is_empty());
    let binding = match patient_binding(&c.app, &tenant, role, patient) {
        Ok(b) => b,
        Err(p) => return refusal(&s, p),
    };
    let patient = patient.map(str::to_owned);
    let made = as_admin(
        &c,
        &s,
        "POST /admin/users",
        peer,
        move |users, by, tenants| {
            let new = NewUser {
                name: f.name.trim(),
                tenant: &tenant,
                role,
                password: &f.password,
                patient_binding: binding.as_deref(),
                patient: patient.as_deref(),
            };
            user_changes::create_user(users, by, &new, tenants)
        },
    )
    .await;
    match made {
        Ok((_, Some(uri))) => shown_once(&s, "Console user created", TOTP_SHOWN, &uri),
        Ok((_, None)) => shown_once(&s, "Console user created", NO_TOTP, ""),
        Err(p) => refusal(&s, p),
    }
}

/// Disables user `name` of the session's tenant.
pub async fn disable(
    c: &Console,
    s: &Signed,
    peer: SocketAddr,
    name: String,
) -> Result<UserInfo, Problem> {
    let tenant = s.session.tenant.clone();
    as_admin(
        c,
        s,
        "POST /admin/users/{name}/disable",
        peer,
        move |users, by, _| user_changes::disable_user(users, by, &name, Some(&tenant)),
    )
    .await
}

/// Gives user `name` of the session's tenant a new second factor; returns its URI.
pub async fn reset_totp(
    c: &Console,
    s: &Signed,
    peer: SocketAddr,
    name: String,
) -> Result<String, Problem> {
    let tenant = s.session.tenant.clone();
    as_admin(
        c,
        s,
        "POST /admin/users/{name}/reset-totp",
        peer,
        move |users, by, _| user_changes::reset_totp(users, by, &name, Some(&tenant)),
    )
    .await
}
