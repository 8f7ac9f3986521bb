//! Console sign-in through an OpenID provider (`[console.oidc]`): the authorization code
//! flow with PKCE (S256), `state` and `nonce` (OpenID Connect Core 1.0 §3.1, RFC 7636).
//! The ID token is verified by the API's own JWT verifier (`auth::jwt`) against the
//! provider's JWKS — signature, `iss`, `aud` = client id, `exp`, `nbf` — and its claims
//! map to tenant, role and patient exactly as an API JWT's do. Design: console.md.
//!
//! Invariants:
//! - A callback is accepted once, only from the browser that started it (the `state` in
//!   a short-lived cookie must equal the one in the URL and in the server's table), within
//!   [`PENDING_SECS`], and only with the `nonce` that flow sent.
//! - With `require_mfa`, an ID token whose `amr` names no second factor is refused.
//! - The client secret never reaches a log, an error, a page or an event.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::session::{same, token};
use crate::auth::jwt::{
    JwtConfig, JwtVerifier, default_leeway, default_patient_claim, default_role_claim,
    default_tenant_claim,
};
use crate::auth::{Principal, Role};

/// How long a started sign-in may take at the provider.
pub const PENDING_SECS: u64 = 600;
/// Most sign-ins under way at once (older ones are dropped first).
const MAX_PENDING: usize = 10_000;
/// Largest answer read from the provider.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The cookie carrying a started sign-in's `state`.
pub const STATE_COOKIE: &str = "recall_oidc";
/// `amr` values that name a second factor (RFC 8176).
const MFA_AMR: [&str; 4] = ["mfa", "otp", "hwk", "sms"];

/// `[console.oidc]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (its discovery document is under it).
    pub issuer: String,
    /// This console's client id at the provider (the ID token's audience).
    pub client_id: String,
    /// Environment variable holding the client secret (never the secret itself).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (first line).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back: this server's
    /// `…/login/oidc/callback`, as registered at the provider.
    pub redirect_uri: String,
    /// Scopes asked for (`openid` is always asked).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claim naming the tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim naming the role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim naming a patient's id.
    #[serde(default = "default_patient_claim")]
    pub patient_claim: String,
    /// Refuse ID tokens whose `amr` names no second factor (`mfa`, `otp`, `hwk`, `sms`).
    #[serde(default)]
    pub require_mfa: bool,
    /// Clock skew allowed, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

impl OidcConfig {
    /// The checks of an API JWT, with the client id as audience.
    fn jwt(&self) -> JwtConfig {
        JwtConfig {
            issuer: self.issuer.clone(),
            audience: self.client_id.clone(),
            hs256_secret_env: None,
            jwks_file: None,
            tenant_claim: self.tenant_claim.clone(),
            role_claim: self.role_claim.clone(),
            patient_claim: self.patient_claim.clone(),
            leeway_secs: self.leeway_secs,
        }
    }

    /// Checks the settings (not the secret: every command reads the configuration, only
    /// the server needs it); the error names the option.
    pub fn check(&self) -> Result<(), String> {
        if self.issuer.is_empty() || self.client_id.is_empty() || self.redirect_uri.is_empty() {
            return Err("console.oidc: issuer, client_id and redirect_uri must be set".into());
        }
        if self.client_secret_env.is_some() == self.client_secret_file.is_some() {
            return Err(
                "console.oidc: set exactly one of client_secret_env and client_secret_file".into(),
            );
        }
        Ok(())
    }

    /// Reads the client secret; the error names the option, never the secret.
    pub fn secret(&self) -> Result<String, String> {
        let secret = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(var), None) => std::env::var(var)
                .map_err(|_| format!("console.oidc.client_secret_env: {var} is not set"))?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("console.oidc.client_secret_file: {e}"))?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
            _ => {
                return Err(
                    "console.oidc: set exactly one of client_secret_env and client_secret_file"
                        .into(),
                );
            }
        };
        if secret.is_empty() {
            return Err("console.oidc: the client secret is empty".into());
        }
        Ok(secret)
    }
}

/// A sign-in under way at the provider.
struct Pending {
    nonce: String,
    verifier: String,
    started: Instant,
}

/// Sign-ins under way, keyed by their `state`.
#[derive(Default)]
pub struct Flows(Mutex<HashMap<String, Pending>>);

/// Where to send the browser, and the `state` for its cookie.
pub struct Start {
    /// The provider's authorization URL with every parameter.
    pub location: String,
    /// The flow's `state`.
    pub state: String,
}

/// What went wrong in a sign-in: a fixed phrase (never a token, code or secret).
#[derive(Debug, thiserror::Error)]
#[error("OpenID sign-in: {0}")]
pub struct OidcError(pub &'static str);

/// A refused callback: why, and the principal the provider vouched for when the ID token
/// itself verified and a later check refused it (nonce, second factor, writer); only then
/// is the refusal's tenant known.
#[derive(Debug)]
pub struct Refusal {
    /// Why (a fixed phrase).
    pub why: OidcError,
    /// The verified ID token's principal, if it got that far.
    pub who: Option<Principal>,
}

impl From<OidcError> for Refusal {
    fn from(why: OidcError) -> Self {
        Refusal { why, who: None }
    }
}

/// The endpoints of the provider's discovery document.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

fn http() -> Result<reqwest::Client, OidcError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| OidcError("no HTTP client"))
}

async fn body(res: reqwest::Response, what: &'static str) -> Result<Vec<u8>, OidcError> {
    if !res.status().is_success() {
        tracing::warn!(status = %res.status(), what, "OpenID provider refused");
        return Err(OidcError(what));
    }
    let bytes = res.bytes().await.map_err(|_| OidcError(what))?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(OidcError(what));
    }
    Ok(bytes.to_vec())
}

async fn discover(cfg: &OidcConfig) -> Result<Discovery, OidcError> {
    let what = "the provider's discovery document is unusable";
    let url = format!(
        "{}/.well-known/openid-configuration",
        cfg.issuer.trim_end_matches('/')
    );
    let res = http()?.get(url).send().await.map_err(|_| OidcError(what))?;
    let d: Discovery =
        serde_json::from_slice(&body(res, what).await?).map_err(|_| OidcError(what))?;
    // OpenID Connect Discovery §4.3: the document's issuer is the one configured.
    if d.issuer != cfg.issuer {
        return Err(OidcError("the provider names another issuer"));
    }
    Ok(d)
}

/// `BASE64URL(SHA-256(verifier))` (RFC 7636 §4.2).
fn challenge(verifier: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl Flows {
    /// Starts a sign-in: a fresh `state`, `nonce` and PKCE verifier, kept here.
    pub async fn start(&self, cfg: &OidcConfig) -> Result<Start, OidcError> {
        let d = discover(cfg).await?;
        let (state, nonce, verifier) = (token(), token(), token());
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(cfg.scopes.iter().filter(|s| *s != "openid").cloned());
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &cfg.client_id)
            .append_pair("redirect_uri", &cfg.redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!("{}{sep}{query}", d.authorization_endpoint);
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| now.duration_since(p.started).as_secs() < PENDING_SECS);
        if map.len() >= MAX_PENDING {
            return Err(OidcError("too many sign-ins under way"));
        }
        let pending = Pending {
            nonce,
            verifier,
            started: now,
        };
        map.insert(state.clone(), pending);
        Ok(Start { location, state })
    }

    /// Takes the flow of `state` (once), if the browser's cookie names it and it is fresh.
    fn take(&self, state: &str, cookie: &str) -> Result<Pending, OidcError> {
        if state.is_empty() || !same(state, cookie) {
            return Err(OidcError("the sign-in was not started in this browser"));
        }
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let p = map
            .remove(state)
            .ok_or(OidcError("unknown or used sign-in"))?;
        if p.started.elapsed().as_secs() >= PENDING_SECS {
            return Err(OidcError("the sign-in took too long"));
        }
        Ok(p)
    }

    /// Finishes a sign-in: redeems `code` with the PKCE verifier and the client secret,
    /// verifies the ID token and its `nonce` (and `amr` with `require_mfa`); returns the
    /// principal its claims map to.
    pub async fn finish(
        &self,
        cfg: &OidcConfig,
        state: &str,
        cookie: &str,
        code: &str,
    ) -> Result<Principal, Refusal> {
        let pending = self.take(state, cookie)?;
        let secret = cfg.secret().map_err(|_| OidcError("no client secret"))?;
        let d = discover(cfg).await?;
        let what = "the provider refused the code";
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", cfg.redirect_uri.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let res = http()?
            .post(&d.token_endpoint)
            .basic_auth(&cfg.client_id, Some(&secret))
            .form(&form)
            .send()
            .await
            .map_err(|_| OidcError(what))?;
        let answer: Map<String, Value> =
            serde_json::from_slice(&body(res, what).await?).map_err(|_| OidcError(what))?;
        let id_token = answer
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or(OidcError("the provider sent no ID token"))?;
        let what = "the provider's keys are unusable";
        let res = http()?
            .get(&d.jwks_uri)
            .send()
            .await
            .map_err(|_| OidcError(what))?;
        let verifier = JwtVerifier::from_jwks_json(&cfg.jwt(), &body(res, what).await?)
            .map_err(|_| OidcError(what))?;
        let (who, claims) = verifier.verify_claims(id_token).map_err(|e| {
            tracing::warn!(error = %e, "ID token refused");
            OidcError("the ID token was refused")
        })?;
        match check_claims(cfg, &claims, &pending.nonce, who.role) {
            Ok(()) => Ok(who),
            Err(why) => Err(Refusal {
                why,
                who: Some(who),
            }),
        }
    }
}

/// The ID token's `nonce` is the flow's; a second factor when required; not a writer.
fn check_claims(
    cfg: &OidcConfig,
    claims: &Map<String, Value>,
    nonce: &str,
    role: Role,
) -> Result<(), OidcError> {
    let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !same(sent, nonce) {
        return Err(OidcError("the ID token's nonce is not this sign-in's"));
    }
    if cfg.require_mfa {
        let amr = claims.get("amr").and_then(Value::as_array);
        let mfa = amr.is_some_and(|a| {
            a.iter()
                .any(|v| v.as_str().is_some_and(|m| MFA_AMR.contains(&m)))
        });
        if !mfa {
            return Err(OidcError("the provider reports no second factor (amr)"));
        }
    }
    if role == Role::Writer {
        return Err(OidcError("a writer is a service, not a person"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn nonce_mfa_and_writers_are_checked() {
        let cfg: OidcConfig = toml_cfg("require_mfa = true");
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        let ok = claims(serde_json::json!({"nonce": "n1", "amr": ["pwd", "otp"]}));
        assert!(check_claims(&cfg, &ok, "n1", Role::Auditor).is_ok());
        assert!(check_claims(&cfg, &ok, "n2", Role::Auditor).is_err());
        assert!(check_claims(&cfg, &ok, "n1", Role::Writer).is_err());
        let pwd = claims(serde_json::json!({"nonce": "n1", "amr": ["pwd"]}));
        assert!(check_claims(&cfg, &pwd, "n1", Role::Auditor).is_err());
        let lax: OidcConfig = toml_cfg("");
        assert!(check_claims(&lax, &pwd, "n1", Role::Auditor).is_ok());
    }

    #[test]
    fn a_flow_is_taken_once_and_only_with_its_cookie() {
        let flows = Flows::default();
        let pending = Pending {
            nonce: "n".into(),
            verifier: "v".into(),
            started: Instant::now(),
        };
        flows.0.lock().unwrap().insert("s1".into(), pending);
        assert!(flows.take("s1", "other").is_err());
        assert!(flows.take("s1", "s1").is_ok());
        assert!(flows.take("s1", "s1").is_err(), "used");
    }

    fn toml_cfg(extra: &str) -> OidcConfig {
        let text = format!(
            "issuer = \"http://127.0.0.1:1\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\nredirect_uri = \"http://127.0.0.1:2/login/oidc/callback\"\n{extra}"
        );
        toml::from_str(&text).unwrap()
    }
}
