//! What every page shares: the layout's facts (who is signed in, the CSRF token), HTML
//! rendering, the error page, and the home page that sends each role to its first screen.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::session::Signed;
use crate::problem::Problem;

/// The header of every signed-in page.
pub struct Nav {
    /// Sign-in name.
    pub user: String,
    /// Role name.
    pub role: &'static str,
    /// The session's CSRF token (for the logout form and every other POST).
    pub csrf: String,
    /// Whether the role reads events (search, reviews).
    pub reads: bool,
    /// Whether the role sees the integrity page.
    pub watches: bool,
    /// Whether the role reads breach assessments.
    pub assesses: bool,
    /// A failed verification nobody acknowledged yet.
    pub alert: bool,
    /// Whether the role administers (the administration page).
    pub admin: bool,
    /// Whether this is a patient (their own access report only).
    pub patient: bool,
}

impl Nav {
    /// The layout facts of a session.
    pub fn of(s: &Signed) -> Nav {
        let patient = s.session.role == recall_governance::Role::Patient;
        Nav {
            user: s.session.user.clone(),
            role: s.session.role.as_str(),
            csrf: s.session.csrf.clone(),
            reads: s.session.role.reader().is_some() && !patient,
            watches: crate::routes::integrity::WATCHERS.contains(&s.session.role),
            assesses: crate::routes::assessments::READERS.contains(&s.session.role),
            alert: s.alert,
            admin: s.session.role == recall_governance::Role::Admin,
            patient,
        }
    }
}

/// Renders a template as an HTML answer.
pub fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    nav: Option<Nav>,
    title: &'a str,
    detail: &'a str,
}

/// A refusal of the API shown as a page: its status, title and detail (which never hold
/// PHI: the API's problems name fields, not values).
pub fn problem_page(nav: Option<Nav>, p: &Problem) -> Response {
    let mut res = html(&ErrorPage {
        nav,
        title: &p.title,
        detail: p.detail.as_deref().unwrap_or(""),
    });
    *res.status_mut() = p.status;
    res
}

/// `/`: readers go to the search page; other roles see what they may do.
pub async fn home(s: Signed) -> Response {
    match s.session.role {
        recall_governance::Role::Admin => return Redirect::to("/admin").into_response(),
        recall_governance::Role::Patient => return Redirect::to("/my-report").into_response(),
        _ => {}
    }
    if s.session.role.reader().is_some() {
        return Redirect::to("/search").into_response();
    }
    let nav = Nav::of(&s);
    problem_page(
        Some(nav),
        &Problem::new(StatusCode::OK, "Signed in").detail(format!(
            "the {} role sees no event contents in the console",
            s.session.role
        )),
    )
}

/// The JSON answer of an API handler the console called, or its refusal.
pub async fn api_json(res: Result<Response, Problem>) -> Result<serde_json::Value, Problem> {
    let res = res?;
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .map_err(crate::state::internal)?;
    serde_json::from_slice(&bytes).map_err(crate::state::internal)
}

/// What every form POST shares: the CSRF check (403, nothing done), the form turned into
/// the API's body (a refusal shown as a page), then the API handler `call`; its answer,
/// or the page to show instead.
pub async fn form_post<B, F>(
    s: &Signed,
    csrf: &str,
    body: Result<B, Problem>,
    call: impl FnOnce(B) -> F,
) -> Result<Response, Response>
where
    F: Future<Output = Result<Response, Problem>>,
{
    if !super::session::same(&s.session.csrf, csrf) {
        return Err(super::login::csrf_refused());
    }
    let shown = |p: Problem| problem_page(Some(Nav::of(s)), &p);
    call(body.map_err(shown)?).await.map_err(shown)
}

/// A string field of a JSON event (`a.b` paths), or "".
pub fn text<'a>(v: &'a serde_json::Value, path: &str) -> &'a str {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// A time as every console page shows it: `2026-03-04 10:22:01 UTC` (the log keeps UTC
/// and the console has no time-zone setting, so the zone is named). A value that is not
/// RFC 3339 is shown as it is.
pub fn when(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => format!("{} UTC", recall_query::plain::when(t)),
        Err(_) => rfc3339.to_owned(),
    }
}

/// A JSON list of strings (the reports' `actions`, `purposes`), each through `word`,
/// as "a, b".
pub fn listed(v: &serde_json::Value, word: impl Fn(&str) -> String) -> String {
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    let words: Vec<String> = items
        .iter()
        .filter_map(serde_json::Value::as_str)
        .map(word)
        .collect();
    words.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_plain_utc_and_lists_joined() {
        assert_eq!(
            super::when("2026-03-04T10:22:01.123456789Z"),
            "2026-03-04 10:22:01 UTC"
        );
        assert_eq!(super::when("not a time"), "not a time");
        let v = serde_json::json!(["TREAT", "HOPERAT"]);
        assert_eq!(super::listed(&v, str::to_owned), "TREAT, HOPERAT");
    }
}
