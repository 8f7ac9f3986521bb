//! Who is calling, and what they may do: roles, principals, bearer credentials (API keys
//! and JWTs) and the axum extractor. Design and roles table: docs/design/auth.md.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::problem::Problem;

pub(crate) mod jwt;
mod token_checks;

pub use jwt::{JwtConfig, JwtVerifier};
pub use recall_governance::credentials::{
    API_KEYS_FILE, ApiKeys, CredentialError, KeyInfo, MAX_LABEL_CHARS, PEPPER_SECRET, PREFIX,
    REFRESH, Role, check_label, check_tenant, patient_binding,
};

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant whose data it may touch.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// Who it is, for the audit trail: `key:<key id>` or `jwt:<sub>`; never a secret.
    pub subject: String,
    /// The one patient a `patient` principal may read about.
    pub patient: Option<PatientScope>,
}

/// The patient a `patient` credential is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatientScope {
    /// The patient id itself (a JWT's patient claim).
    Id(String),
    /// An API key's binding: the keyed hash of the patient id ([`patient_binding`]), so
    /// `auth.db` holds no patient identifier.
    Binding(String),
}

impl Principal {
    /// 403 unless the principal's role is one of `allowed`.
    pub fn require(&self, allowed: &[Role]) -> Result<(), Problem> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::forbidden()
                .detail(format!("the {} role may not use this endpoint", self.role)))
        }
    }

    /// 403 unless the principal may read about `patient`: any patient for the roles that
    /// read events, only its own for a `patient` principal. The detail never says whose.
    pub fn require_patient(
        &self,
        patient: Option<&str>,
        indexer: impl FnOnce() -> Option<recall_crypto::BlindIndexer>,
    ) -> Result<(), Problem> {
        if self.role != Role::Patient {
            return Ok(());
        }
        let refuse = || {
            Problem::forbidden()
                .detail("a patient credential reads only its own patient's events")
                .field("patient")
        };
        let asked = patient.filter(|p| !p.is_empty()).ok_or_else(refuse)?;
        let ok = match &self.patient {
            Some(PatientScope::Id(id)) => id == asked,
            Some(PatientScope::Binding(b)) => {
                indexer().is_some_and(|ix| patient_binding(&ix, asked).as_bytes() == b.as_bytes())
            }
            None => false,
        };
        if ok { Ok(()) } else { Err(refuse()) }
    }

    /// 403 unless the principal belongs to `tenant`. The detail is the same whether or not
    /// the tenant exists.
    pub fn require_tenant(&self, tenant: &str) -> Result<(), Problem> {
        if self.tenant == tenant {
            Ok(())
        } else {
            Err(Problem::forbidden().detail("this credential is not valid for that tenant"))
        }
    }
}

/// What went wrong with credentials or their configuration. Never carries a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The credential store failed or refused (unknown role, bad tenant or label, …).
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The JWT configuration is not usable.
    #[error("jwt configuration: {0}")]
    JwtConfig(String),
    /// The JWKS file could not be read or parsed.
    #[error("JWKS file {path}: {reason}")]
    Jwks {
        /// The file.
        path: PathBuf,
        /// Why (never key material).
        reason: String,
    },
    /// A token failed verification; the reason is a fixed phrase (`expired`, `wrong
    /// issuer`, …), never token contents.
    #[error("token rejected: {0}")]
    TokenRejected(&'static str),
}

/// Checks bearer credentials: API keys (`rk_…`) and, when configured, JWTs.
#[derive(Debug)]
pub struct Authenticator {
    keys: Option<ApiKeys>,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// An authenticator over the API keys and the JWT verifier given (either may be
    /// absent; with neither, every request is refused).
    pub fn new(keys: Option<ApiKeys>, jwt: Option<JwtVerifier>) -> Self {
        Self { keys, jwt }
    }

    /// The API keys, if configured (for admin endpoints).
    pub fn api_keys(&self) -> Option<&ApiKeys> {
        self.keys.as_ref()
    }

    /// Authenticates `Authorization: Bearer <api key or JWT>`. A missing or invalid
    /// credential is a 401 problem (with `WWW-Authenticate: Bearer`); an internal failure
    /// a 500.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Problem> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(
                Problem::unauthorized().detail("an Authorization: Bearer credential is required")
            );
        };
        let invalid = || Problem::unauthorized().detail("the credential is not valid");
        let text = value.to_str().map_err(|_| invalid())?;
        let (scheme, token) = text.split_once(' ').ok_or_else(invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Problem::unauthorized()
                .detail("only the Bearer authentication scheme is supported"));
        }
        let token = token.trim();
        if token.starts_with(PREFIX) {
            let keys = self.keys.as_ref().ok_or_else(invalid)?;
            match keys.verify(token) {
                Ok(Some(info)) => Ok(Principal {
                    subject: format!("key:{}", info.id),
                    tenant: info.tenant,
                    role: info.role,
                    patient: info.patient_binding.map(PatientScope::Binding),
                }),
                Ok(None) => Err(invalid()),
                Err(e) => {
                    tracing::error!(error = %e, "API key verification failed");
                    Err(Problem::internal())
                }
            }
        } else {
            let jwt = self.jwt.as_ref().ok_or_else(invalid)?;
            jwt.verify(token).map_err(|e| {
                tracing::debug!(error = %e, "JWT refused");
                match e {
                    AuthError::TokenRejected(why) => {
                        Problem::unauthorized().detail(format!("the token is not valid: {why}"))
                    }
                    _ => invalid(),
                }
            })
        }
    }
}

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let auth = Arc::<Authenticator>::from_ref(state);
        auth.authenticate(&parts.headers)
    }
}

/// `Option<Principal>`: `None` without an `Authorization` header (for endpoints open to
/// anyone, such as public transparency), a 401 for an invalid credential.
impl<S> OptionalFromRequestParts<S> for Principal
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Problem> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        let auth = Arc::<Authenticator>::from_ref(state);
        auth.authenticate(&parts.headers).map(Some)
    }
}
