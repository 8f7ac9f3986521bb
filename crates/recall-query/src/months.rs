//! Which months (`yyyymm`, the key epochs) a patient's or an actor's events fall in, from
//! the index keys alone: what a legal hold on that patient or actor must keep.

use std::collections::BTreeSet;

use recall_crypto::BlindIndexer;
use recall_model::Epoch;

use crate::db::Db;
use crate::error::QueryError;
use crate::keys;
use crate::postings::hours_of;

/// An identifier whose months are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `patient.id`
    Patient,
    /// `actor.id`
    Actor,
}

impl Subject {
    /// The field name its index tokens are keyed with.
    pub fn field(self) -> &'static str {
        match self {
            Subject::Patient => "patient",
            Subject::Actor => "actor",
        }
    }
}

impl Db {
    /// The index token of `value` as a `subject` of `tenant` (a keyed hash, never the
    /// value): what a hold stores to find the subject's months later.
    pub fn subject_token(
        &self,
        tenant: &str,
        subject: Subject,
        value: &str,
    ) -> Result<[u8; 32], QueryError> {
        let key = self.journal.keystore().index_key(tenant)?;
        Ok(BlindIndexer::new(&key).token(subject.field(), value))
    }

    /// The months holding events of the subject whose index token is `token`, as far as
    /// the index has caught up with the log.
    pub fn months_of(
        &self,
        tenant: &str,
        subject: Subject,
        token: &[u8; 32],
    ) -> Result<BTreeSet<u32>, QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(BTreeSet::new());
        };
        let parts = self.parts();
        let part = match subject {
            Subject::Patient => &parts.patient,
            Subject::Actor => &parts.actor,
        };
        let prefix = keys::ident(t.no, token);
        Ok(hours_of(part, &prefix)?
            .into_iter()
            .map(|h| Epoch::of(h).0)
            .collect())
    }
}
