//! Console sessions: opaque random ids in an `HttpOnly; SameSite=Strict` cookie, the state
//! in memory on the server (a restart signs everyone out), an idle and an absolute
//! lifetime, a CSRF token per session.
//!
//! Invariants:
//! - The store is keyed by the SHA-256 of the id, so a lookup's timing says nothing about
//!   the ids held; the id itself is never logged.
//! - An expired or ended session is gone from the store before the request goes on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use recall_governance::Role;
use recall_governance::users::UserInfo;

use super::pages::{Nav, problem_page};
use super::{Console, ConsoleConfig};
use crate::auth::{PatientScope, Principal};
use crate::problem::Problem;

/// The session cookie's name.
pub const COOKIE: &str = "recall_session";
/// The only pages a `patient` session may open.
const PATIENT_PAGES: [&str; 4] = ["/", "/my-report", "/my-report/pdf", "/logout"];

/// The pre-sign-in cookie that carries the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "recall_login";

/// One signed-in person.
#[derive(Clone, Debug)]
pub struct Session {
    /// Sign-in name (a local user's name, or the OpenID subject).
    pub user: String,
    /// Who acts, as the API names principals: `user:<name>` or `jwt:<sub>`.
    pub subject: String,
    /// Tenant and role, as on the user at sign-in.
    pub tenant: String,
    /// The role.
    pub role: Role,
    /// A `patient` session reads about that patient only, as a `patient` API key (a local
    /// user's binding) or a `patient` JWT (the id from the ID token) does.
    pub patient: Option<PatientScope>,
    /// A local user (`users.db`), whose sessions end when the user is disabled.
    pub local: bool,
    /// The token every state-changing form must carry.
    pub csrf: String,
    created: Instant,
    seen: Instant,
}

impl Session {
    /// The principal the API would see for an API key of this user's tenant and role.
    pub fn principal(&self) -> Principal {
        Principal {
            tenant: self.tenant.clone(),
            role: self.role,
            subject: self.subject.clone(),
            patient: self.patient.clone(),
        }
    }
}

/// Who a new session is for.
struct Identity<'a> {
    user: &'a str,
    subject: String,
    tenant: &'a str,
    role: Role,
    patient: Option<PatientScope>,
    local: bool,
}

/// The server-side session store.
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    absolute: Duration,
}

/// A fresh random token (256 bits, URL-safe base64).
pub fn token() -> String {
    B64.encode(recall_crypto::random_array::<32>())
}

fn key(id: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict`, `Secure` under TLS; `max_age`
/// 0 deletes it.
pub fn set_cookie(name: &str, value: &str, tls: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if tls {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

impl Sessions {
    /// An empty store with the configured lifetimes.
    pub fn new(cfg: &ConsoleConfig) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle: Duration::from_secs(cfg.idle_timeout_secs),
            absolute: Duration::from_secs(cfg.absolute_timeout_secs),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session of a local user; returns its id (the cookie value).
    pub fn start(&self, user: &UserInfo) -> String {
        let patient = user.patient_binding.clone().map(PatientScope::Binding);
        let subject = format!("user:{}", user.name);
        self.insert(Identity {
            user: &user.name,
            subject,
            tenant: &user.tenant,
            role: user.role,
            patient,
            local: true,
        })
    }

    /// Starts a session of a person an OpenID provider vouched for, with the principal
    /// its ID token maps to (as a JWT of the API would); returns the id.
    pub fn start_verified(&self, who: &Principal) -> String {
        self.insert(Identity {
            user: who.subject.strip_prefix("jwt:").unwrap_or(&who.subject),
            subject: who.subject.clone(),
            tenant: &who.tenant,
            role: who.role,
            patient: who.patient.clone(),
            local: false,
        })
    }

    fn insert(&self, who: Identity<'_>) -> String {
        let id = token();
        let now = Instant::now();
        let session = Session {
            user: who.user.to_owned(),
            subject: who.subject,
            tenant: who.tenant.to_owned(),
            role: who.role,
            patient: who.patient,
            local: who.local,
            csrf: token(),
            created: now,
            seen: now,
        };
        let mut map = self.map();
        // Expired sessions go when someone signs in, so the store stays bounded by the
        // sessions alive within one idle period.
        map.retain(|_, s| self.alive(s, now));
        map.insert(key(&id), session);
        id
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.seen) < self.idle && now.duration_since(s.created) < self.absolute
    }

    /// The live session of `id`, touched; an expired one is removed and `None`.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let k = key(id);
        let now = Instant::now();
        let mut map = self.map();
        let s = map.get_mut(&k)?;
        if !self.alive(s, now) {
            map.remove(&k);
            return None;
        }
        s.seen = now;
        Some(s.clone())
    }

    /// Ends the session of `id`.
    pub fn end(&self, id: &str) -> Option<Session> {
        self.map().remove(&key(id))
    }
}

/// A request from a signed-in person; without a live session, a redirect to `/login`.
pub struct Signed {
    /// The session.
    pub session: Session,
    /// Its id (to end it at logout).
    pub id: String,
    /// Whether the tenant has an unacknowledged failed verification the role may see
    /// (every page's header shows it until it is acknowledged).
    pub alert: bool,
}

impl Signed {
    /// The API principal of this session.
    pub fn principal(&self) -> Principal {
        self.session.principal()
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Response> {
        let to_login = |why: &str| Redirect::to(&format!("/login?why={why}")).into_response();
        let id = cookie(&parts.headers, COOKIE).ok_or_else(|| to_login("signin"))?;
        let session = c.sessions.touch(id).ok_or_else(|| to_login("expired"))?;
        // A local user disabled since sign-in is signed out at the next request.
        let enabled = !session.local
            || c.users
                .as_ref()
                .and_then(|u| u.get(&session.user).ok().flatten())
                .is_some_and(|u| !u.disabled);
        if !enabled {
            c.sessions.end(id);
            return Err(to_login("expired"));
        }
        let alert = super::integrity::unacknowledged(c, &session);
        let signed = Signed {
            session,
            id: id.to_owned(),
            alert,
        };
        // A patient sees their own access report and nothing else.
        if signed.session.patient.is_some() && !PATIENT_PAGES.contains(&parts.uri.path()) {
            let no = Problem::forbidden().detail("a patient sees only their own access report");
            return Err(problem_page(Some(Nav::of(&signed)), &no));
        }
        Ok(signed)
    }
}
