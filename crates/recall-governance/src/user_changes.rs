//! Changes to console users, each recorded in the user's tenant's log: one function per
//! change, called by `recall users` and by the console's administration page alike.
//!
//! Invariants:
//! - A creation whose record cannot be written is taken back (the user is deleted).
//! - Disabling and resetting a second factor are recorded first: when the record fails,
//!   nothing changed. A user already disabled is not recorded again.
//! - A user is created only in a tenant that has a log (a misspelt tenant would otherwise
//!   get a log of its own), and changed only by someone acting for that tenant when
//!   `tenant` is given (an administrator signed in to the console).
//! - No record carries a password or a TOTP secret.

use crate::GovernanceError;
use crate::credentials::CredentialError;
use crate::record::{Act, UserChange};
use crate::users::{NewUser, UserError, UserInfo, Users};
use crate::workflows::Actor;

/// Creates a console user and records it; returns its facts and, for roles that read
/// PHI, the `otpauth://` URI of its second factor (shown once).
pub fn create_user(
    users: &Users,
    by: &Actor<'_>,
    new: &NewUser<'_>,
    tenants: &[String],
) -> Result<(UserInfo, Option<String>), GovernanceError> {
    if !tenants.iter().any(|t| t == new.tenant) {
        return Err(CredentialError::UnknownTenant.into());
    }
    let uri = users.create(new)?;
    let info = users.get(new.name)?.ok_or(UserError::Unknown)?;
    let act = Act::UserChanged {
        change: UserChange::Create,
        user: &info,
    };
    if let Err(e) = by.record(new.tenant, act) {
        // A user whose creation is not on record must not be able to sign in.
        users.delete(new.name)?;
        return Err(e);
    }
    Ok((info, uri))
}

/// The user `name`, if it exists and (with `tenant`) belongs to that tenant.
fn user_of(users: &Users, name: &str, tenant: Option<&str>) -> Result<UserInfo, GovernanceError> {
    match users.get(name)? {
        Some(u) if tenant.is_none_or(|t| t == u.tenant) => Ok(u),
        _ => Err(UserError::Unknown.into()),
    }
}

/// Disables user `name` (recorded first, once); its sessions end at their next request.
pub fn disable_user(
    users: &Users,
    by: &Actor<'_>,
    name: &str,
    tenant: Option<&str>,
) -> Result<UserInfo, GovernanceError> {
    let mut user = user_of(users, name, tenant)?;
    if user.disabled {
        return Ok(user);
    }
    user.disabled = true;
    let act = Act::UserChanged {
        change: UserChange::Disable,
        user: &user,
    };
    by.record(&user.tenant, act)?;
    users.disable(name)?;
    Ok(user)
}

/// Gives user `name` a new TOTP secret and lifts a lock (recorded first); returns the
/// new secret's URI (shown once).
pub fn reset_totp(
    users: &Users,
    by: &Actor<'_>,
    name: &str,
    tenant: Option<&str>,
) -> Result<String, GovernanceError> {
    let user = user_of(users, name, tenant)?;
    let act = Act::UserChanged {
        change: UserChange::ResetTotp,
        user: &user,
    };
    by.record(&user.tenant, act)?;
    Ok(users.reset_totp(name)?)
}
