//! JWT bearer tokens for people (OIDC access tokens): HS256 with a secret from the
//! environment, or RS/PS/ES/EdDSA keys from a JWKS file. Verifies signature, `iss`, `aud`,
//! `exp`, `nbf`; requires `sub`, a tenant claim and a role claim.

use std::path::PathBuf;
use std::str::FromStr;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, PatientScope, Principal, Role, check_tenant};

/// Largest JWKS file read.
const MAX_JWKS_BYTES: u64 = 1 << 20;
/// Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
const MIN_SECRET_BYTES: usize = 32;

/// `[server.jwt]`: how tokens are checked. Exactly one of `hs256_secret_env` and
/// `jwks_file` must be set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (one of the token's audiences).
    pub audience: String,
    /// Name of the environment variable holding the HS256 secret (never the secret).
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
    /// A JWKS (JSON Web Key Set) file with the issuer's public keys.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Claim naming the tenant (required in every token).
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim naming the role (`writer`, `auditor`, `admin`, `verifier`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim naming the patient of a `patient` token (required in those).
    #[serde(default = "default_patient_claim")]
    pub patient_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

pub(crate) fn default_tenant_claim() -> String {
    "tenant".into()
}
pub(crate) fn default_role_claim() -> String {
    "role".into()
}
pub(crate) fn default_patient_claim() -> String {
    "patient".into()
}
pub(crate) fn default_leeway() -> u64 {
    30
}

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies JWTs against one configuration.
pub struct JwtVerifier {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    tenant_claim: String,
    role_claim: String,
    patient_claim: String,
    leeway: u64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn config_error(msg: impl Into<String>) -> AuthError {
    AuthError::JwtConfig(msg.into())
}

fn hs256_key(var: &str) -> Result<Vec<Key>, AuthError> {
    let secret = std::env::var_os(var)
        .ok_or_else(|| {
            config_error(format!(
                "environment variable {var} (hs256_secret_env) is not set"
            ))
        })?
        .into_encoded_bytes();
    hs256_secret(&secret)
}

fn hs256_secret(secret: &[u8]) -> Result<Vec<Key>, AuthError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(config_error(format!(
            "the HS256 secret must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    Ok(vec![Key {
        kid: None,
        alg: Algorithm::HS256,
        key: DecodingKey::from_secret(secret),
    }])
}

/// The algorithm a JWK is used with: its `alg` when given (it must fit the key type),
/// else the one its key type implies. Symmetric keys are refused.
fn jwk_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Result<Algorithm, String> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("unsupported elliptic curve".into()),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKeyPair(_) => return Err("unsupported OKP curve".into()),
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric keys are not accepted in a JWKS file".into());
        }
    };
    let Some(declared) = jwk.common.key_algorithm else {
        return Ok(implied);
    };
    let alg = Algorithm::from_str(&declared.to_string())
        .map_err(|_| format!("unsupported alg {declared}"))?;
    let same_family = match implied {
        Algorithm::RS256 => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        other => alg == other,
    };
    if same_family {
        Ok(alg)
    } else {
        Err(format!("alg {declared} does not fit the key type"))
    }
}

fn jwks_keys(path: &std::path::Path) -> Result<Vec<Key>, AuthError> {
    let fail = |reason: String| AuthError::Jwks {
        path: path.to_owned(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if len > MAX_JWKS_BYTES {
        return Err(fail(format!("larger than {MAX_JWKS_BYTES} bytes")));
    }
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    parse_jwks(&text).map_err(fail)
}

/// The keys of a JWK set (a file's, or an OpenID provider's `jwks_uri`).
fn parse_jwks(text: &[u8]) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("not a JWK set: {e}"))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for (i, jwk) in set.keys.iter().enumerate() {
        let alg = jwk_algorithm(jwk).map_err(|r| format!("key {i}: {r}"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {i}: {e}"))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err("holds no keys".into());
    }
    Ok(keys)
}

/// A fixed phrase for a verification failure (never token contents).
fn rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm => "algorithm not accepted",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed",
    }
}

impl JwtVerifier {
    /// Loads the key (secret from the environment, or the JWKS file) named by `cfg`.
    pub fn from_config(cfg: &JwtConfig) -> Result<Self, AuthError> {
        let keys = match (&cfg.hs256_secret_env, &cfg.jwks_file) {
            (Some(var), None) => hs256_key(var)?,
            (None, Some(path)) => jwks_keys(path)?,
            _ => {
                return Err(config_error(
                    "set exactly one of hs256_secret_env and jwks_file",
                ));
            }
        };
        Self::with_keys(cfg, keys)
    }

    /// Like [`JwtVerifier::from_config`] with the keys of a JWK set given as JSON (an
    /// OpenID provider's `jwks_uri`); `hs256_secret_env` and `jwks_file` are ignored.
    pub fn from_jwks_json(cfg: &JwtConfig, jwks: &[u8]) -> Result<Self, AuthError> {
        let keys = parse_jwks(jwks).map_err(|r| config_error(format!("JWK set: {r}")))?;
        Self::with_keys(cfg, keys)
    }

    /// Like [`JwtVerifier::from_config`] with the HS256 secret given directly (for
    /// embedding and tests); `hs256_secret_env` and `jwks_file` are ignored.
    pub fn with_hs256_secret(cfg: &JwtConfig, secret: &[u8]) -> Result<Self, AuthError> {
        Self::with_keys(cfg, hs256_secret(secret)?)
    }

    fn with_keys(cfg: &JwtConfig, keys: Vec<Key>) -> Result<Self, AuthError> {
        if cfg.issuer.is_empty() || cfg.audience.is_empty() {
            return Err(config_error("issuer and audience must be set"));
        }
        if cfg.tenant_claim.is_empty() || cfg.role_claim.is_empty() || cfg.patient_claim.is_empty()
        {
            return Err(config_error(
                "tenant_claim, role_claim and patient_claim must not be empty",
            ));
        }
        Ok(Self {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            tenant_claim: cfg.tenant_claim.clone(),
            role_claim: cfg.role_claim.clone(),
            patient_claim: cfg.patient_claim.clone(),
            leeway: cfg.leeway_secs,
        })
    }

    fn key_for(&self, kid: Option<&str>) -> Result<&Key, AuthError> {
        match (kid, self.keys.as_slice()) {
            (Some(kid), keys) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .or_else(|| {
                    keys.iter()
                        .find(|k| k.kid.is_none())
                        .filter(|_| keys.len() == 1)
                })
                .ok_or(AuthError::TokenRejected("unknown key id")),
            (None, [only]) => Ok(only),
            (None, _) => Err(AuthError::TokenRejected("no key id")),
        }
    }

    /// Verifies `token` and returns who it names.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_claims(token).map(|(who, _)| who)
    }

    /// Verifies `token`; returns who it names and all its claims (an ID token's `nonce`
    /// and `amr` are checked by the console's OIDC sign-in).
    pub fn verify_claims(&self, token: &str) -> Result<(Principal, Map<String, Value>), AuthError> {
        refuse_critical_extensions(token)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::TokenRejected(rejection(e.kind())))?;
        let key = self.key_for(header.kid.as_deref())?;
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| AuthError::TokenRejected(rejection(e.kind())))?;
        let claims = data.claims;
        let text = |name: &str, missing: &'static str| match claims.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
            _ => Err(AuthError::TokenRejected(missing)),
        };
        let sub = text("sub", "missing sub claim")?;
        check_subject(sub)?;
        let tenant = text(&self.tenant_claim, "missing tenant claim")?;
        check_tenant(tenant).map_err(|_| AuthError::TokenRejected("invalid tenant claim"))?;
        let role: Role = text(&self.role_claim, "missing role claim")?
            .parse()
            .map_err(|_| AuthError::TokenRejected("unknown role"))?;
        let patient = if role == Role::Patient {
            let id = text(&self.patient_claim, "missing patient claim")?;
            Some(PatientScope::Id(id.to_owned()))
        } else {
            None
        };
        let who = Principal {
            tenant: tenant.to_owned(),
            role,
            subject: format!("jwt:{sub}"),
            patient,
        };
        Ok((who, claims))
    }
}

fn check_subject(sub: &str) -> Result<(), AuthError> {
    super::token_checks::check_subject(sub).map_err(AuthError::TokenRejected)
}

fn refuse_critical_extensions(token: &str) -> Result<(), AuthError> {
    super::token_checks::refuse_critical_extensions(token).map_err(AuthError::TokenRejected)
}
