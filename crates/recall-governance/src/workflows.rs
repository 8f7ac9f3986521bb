//! Changes to credentials and holds, each with its record in the tenant's log: one
//! function per change, called by the HTTP routes and the CLI alike. A change whose record
//! cannot be written is taken back (a key revoked, a hold released), so nothing stays in
//! force off the record.

use jiff::Timestamp;

use crate::GovernanceError;
use crate::credentials::{ApiKeys, CredentialError, KeyInfo, Role};
use crate::holds::{Hold, Holds, Scope};
use crate::record::{Act, Change, Via, Who};
use crate::recorder::Recorder;

/// Who changes what, and where the record goes.
pub struct Actor<'a> {
    /// Who acts.
    pub who: &'a Who,
    /// Through what.
    pub via: &'a Via,
    /// Where the record goes.
    pub recorder: &'a dyn Recorder,
}

impl Actor<'_> {
    pub(crate) fn record(&self, tenant: &str, act: Act<'_>) -> Result<(), GovernanceError> {
        let event = act.event(self.who, self.via, Timestamp::now())?;
        self.recorder.record(tenant, event)
    }
}

/// A new API key: what to create.
pub struct NewKey<'a> {
    /// The tenant it acts for.
    pub tenant: &'a str,
    /// Its role.
    pub role: Role,
    /// What it is for (no PHI).
    pub label: Option<&'a str>,
    /// A `patient` key's binding ([`crate::patient_binding`]).
    pub patient_binding: Option<&'a str>,
    /// The tenant may be new: its log starts with this key's record. Without it, a tenant
    /// that has no log is refused ([`crate::CredentialError::UnknownTenant`]).
    pub new_tenant: bool,
}

/// Creates an API key and records it; returns its facts and the key text (shown once).
/// `tenants` are the tenants that have a log (a tenant exists once its log does: its first
/// event, or the record of its first key, starts it).
pub fn create_key(
    keys: &ApiKeys,
    by: &Actor<'_>,
    new: &NewKey<'_>,
    tenants: &[String],
) -> Result<(KeyInfo, String), GovernanceError> {
    if !new.new_tenant && !tenants.iter().any(|t| t == new.tenant) {
        return Err(CredentialError::UnknownTenant.into());
    }
    let (info, text) = keys.create_bound(new.tenant, new.role, new.label, new.patient_binding)?;
    let act = Act::KeyChanged {
        change: Change::Create,
        key: &info,
    };
    if let Err(e) = by.record(new.tenant, act) {
        // A key whose creation is not on record must not stay valid.
        keys.revoke_for(new.tenant, &info.id)?;
        return Err(e);
    }
    Ok((info, text))
}

/// Revokes key `id` of `tenant` and records it (once: revoking a revoked key records
/// nothing). `None` when the tenant has no such key.
pub fn revoke_key(
    keys: &ApiKeys,
    by: &Actor<'_>,
    tenant: &str,
    id: &str,
) -> Result<Option<(KeyInfo, bool)>, GovernanceError> {
    let Some((info, changed)) = keys.revoke_for(tenant, id)? else {
        return Ok(None);
    };
    if changed {
        let act = Act::KeyChanged {
            change: Change::Revoke,
            key: &info,
        };
        by.record(tenant, act)?;
    }
    Ok(Some((info, changed)))
}

/// A hold to place: its scope and, for the record, the identifier it was made from.
pub struct NewHold<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// What it covers.
    pub scope: Scope,
    /// The legal matter.
    pub matter: &'a str,
    /// The held patient (a patient hold), recorded as the event's patient.
    pub patient: Option<&'a str>,
    /// The held actor (an actor hold), recorded in the event's detail.
    pub actor: Option<&'a str>,
}

/// Places a hold and records it; a hold whose record fails is released again.
pub fn place_hold(
    holds: &Holds,
    by: &Actor<'_>,
    new: NewHold<'_>,
) -> Result<Hold, GovernanceError> {
    let hold = holds.create(new.tenant, new.scope, new.matter, &by.who.id)?;
    let act = Act::HoldChanged {
        change: Change::Create,
        hold: &hold,
        patient: new.patient,
        actor: new.actor,
    };
    if let Err(e) = by.record(new.tenant, act) {
        // A hold not on record must not stay in force silently.
        holds.release(new.tenant, &hold.id, &by.who.id)?;
        return Err(e);
    }
    Ok(hold)
}

/// Releases a hold, recorded first (once): a release whose record fails leaves the hold in
/// force. `None` when the tenant has no such hold.
pub fn release_hold(
    holds: &Holds,
    by: &Actor<'_>,
    tenant: &str,
    id: &str,
) -> Result<Option<(Hold, bool)>, GovernanceError> {
    let Some(current) = holds.list(tenant)?.into_iter().find(|h| h.id == id) else {
        return Ok(None);
    };
    if current.released.is_some() {
        return Ok(Some((current, false)));
    }
    let mut released = current;
    released.released = Some((Timestamp::now(), by.who.id.clone()));
    let act = Act::HoldChanged {
        change: Change::Release,
        hold: &released,
        patient: None,
        actor: None,
    };
    by.record(tenant, act)?;
    Ok(holds.release(tenant, id, &by.who.id)?)
}

/// Records an act that touched every tenant's log (a key rotation, a reindex) in each.
pub fn record_everywhere(
    tenants: &[String],
    by: &Actor<'_>,
    act: &Act<'_>,
) -> Result<(), GovernanceError> {
    for t in tenants {
        by.record(t, act.clone())?;
    }
    Ok(())
}
