//! The privacy officer's console: server-rendered pages (askama templates, htmx) on the
//! API's listener. Design: docs/design/console.md.
//!
//! Invariants:
//! - Every asset is embedded in the binary; a page loads nothing from another host, and
//!   the CSP allows scripts only from this origin (no inline script).
//! - A signed-in session yields the same [`Principal`](crate::Principal) an API key of the
//!   user's role and tenant would; pages call the API's own handlers with it, so role
//!   checks, lens and self-audit are the API's.
//! - Every state-changing request carries the session's CSRF token.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use recall_governance::users::{USERS_FILE, Users};

use crate::state::AppState;

mod access_review;
mod admin;
mod admin_users;
mod assessments;
mod assets;
mod chart;
mod event;
mod export;
mod facets;
mod integrity;
mod login;
mod my_report;
mod oidc;
mod pages;
mod patient;
mod reviews;
mod search;
mod session;
mod sso;
mod timing;

pub use oidc::OidcConfig;
pub use session::Sessions;

/// `[console]`: session lifetimes and sign-in limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A session ends after this many seconds without a request.
    pub idle_timeout_secs: u64,
    /// A session ends this many seconds after sign-in, however busy.
    pub absolute_timeout_secs: u64,
    /// Sign-in attempts one address may make per minute; more get 429.
    pub login_attempts_per_minute: u32,
    /// Single sign-on through an OpenID provider (`[console.oidc]`), besides local users.
    pub oidc: Option<OidcConfig>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 15 * 60,
            absolute_timeout_secs: 12 * 3600,
            login_attempts_per_minute: 10,
            oidc: None,
        }
    }
}

impl ConsoleConfig {
    /// Checks values that parse but make no sense; the error names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.idle_timeout_secs == 0 || self.idle_timeout_secs > self.absolute_timeout_secs {
            return Err(
                "console.idle_timeout_secs: must be 1..=console.absolute_timeout_secs".into(),
            );
        }
        if self.login_attempts_per_minute == 0 {
            return Err("console.login_attempts_per_minute: must be at least 1".into());
        }
        if let Some(o) = &self.oidc {
            o.check()?;
        }
        Ok(())
    }
}

/// The console's state: the API's, the users file and the session store.
#[derive(Clone)]
pub struct Console {
    /// The API's state (handlers are called with it).
    pub app: AppState,
    /// Local users (`None` without a data directory: every sign-in fails).
    pub users: Option<Arc<Users>>,
    /// Signed-in sessions.
    pub sessions: Arc<Sessions>,
    /// Sign-in attempts per address.
    limiter: Arc<login::Limiter>,
    /// OpenID sign-ins under way.
    flows: Arc<oidc::Flows>,
}

/// The console's routes, to merge into the API router.
pub fn router(app: AppState) -> Router<AppState> {
    let users = app.cfg.data_dir.as_ref().and_then(|dir| {
        Users::open(&dir.join(USERS_FILE), app.db.journal().keystore())
            .map_err(|e| tracing::error!(error = %e, "console users file unusable"))
            .ok()
            .map(Arc::new)
    });
    if let Some(Err(e)) = app.cfg.console.oidc.as_ref().map(OidcConfig::secret) {
        // Every command reads the configuration; only the server needs the secret.
        tracing::error!(error = %e, "single sign-on will fail: no client secret");
    }
    let sessions = Arc::new(Sessions::new(&app.cfg.console));
    let console = Console {
        app,
        users,
        sessions,
        limiter: Arc::default(),
        flows: Arc::default(),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/login/oidc", get(sso::start))
        .route("/login/oidc/callback", get(sso::callback))
        .route("/search", get(search::page))
        .route("/export/{format}", get(export::export))
        .route("/event/{seq}", get(event::page))
        .route("/console/proof/{seq}", get(event::proof))
        .route("/patient", get(patient::page))
        .route("/access-review", get(access_review::page))
        .route("/access-review/signoff", post(access_review::sign))
        .route(
            "/assessments",
            get(assessments::index).post(assessments::create),
        )
        .route("/assessments/new", get(assessments::new))
        .route(
            "/assessments/{id}",
            get(assessments::one).post(assessments::change),
        )
        .route("/integrity", get(integrity::page))
        .route("/integrity/{what}", post(integrity::act))
        .route("/reviews", get(reviews::page))
        .route("/reviews/{seq}", post(reviews::submit))
        .route("/assets/{name}", get(assets::asset))
        .route("/my-report", get(my_report::page))
        .route("/my-report/pdf", get(my_report::pdf))
        .route("/admin", get(admin::page))
        .route("/admin/keys", post(admin::new_key))
        .route("/admin/holds", post(admin::place_hold))
        .route("/admin/users", post(admin_users::create))
        .route("/admin/{what}/{id}/{verb}", post(admin::item))
        .layer(axum::middleware::map_response_with_state(
            console.app.cfg.tls(),
            security_headers,
        ))
        .layer(axum::middleware::from_fn(timing::server_timing))
        .with_state(console)
}

/// CSP without inline script, no framing, no referrer, HSTS under TLS; no caching of
/// pages that may show event contents.
async fn security_headers(
    axum::extract::State(tls): axum::extract::State<bool>,
    mut res: Response,
) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    if tls {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    res.into_response()
}
