//! Facet counts from posting lists: every position of a patient, actor or time list
//! carries its event's combination code (`combos.rs`), so a filter of patient, actor,
//! action, outcome, system and time is counted whole from the lists of its driving
//! identifier, without reading an event body. The console's patient and actor clicks
//! use it, and the facet cube for the hours it cannot answer from cells.
//!
//! Invariants:
//! - The same positions a search walks (driving lists, window, horizon), so counts agree
//!   with the pages a search gives; a filter naming both a patient and an actor counts
//!   the patient's positions that are also the actor's.
//! - Codes of a key epoch whose keys are destroyed are skipped, as search skips their
//!   blocks; the lens applies when the counts are read, as for the cube.
//! - Identifiers are matched by their index token (8 bytes of HMAC), not against the
//!   decrypted event as a search hit is: two identifiers of one tenant sharing a token
//!   (odds about n² / 2^65 for n identifiers) would be counted together.

use std::collections::{HashMap, HashSet};

use crate::cube::take_combo;
use crate::db::{Db, Tenant};
use crate::disclose::Lens;
use crate::error::QueryError;
use crate::facets::Facets;
use crate::search::{Compiled, Driver, Order, Prepared, postings};

impl Db {
    /// The facets of the events `filter` ([`crate::cube::lists_answer`] accepts it)
    /// matches below `horizon`, every match counted.
    pub(crate) fn list_facets(
        &self,
        p: &Prepared,
        t: &Tenant,
        filter: &Compiled,
        horizon: u64,
    ) -> Result<Facets, QueryError> {
        let parts = self.parts();
        let driver = Driver::of(&filter.f);
        // A patient and an actor: the patient's lists drive (as in a search), and a
        // position counts when the actor's lists hold its seq too.
        let also: Option<HashSet<u64>> = match (driver, &filter.f.actor) {
            (Driver::Patient, Some(_)) => Some(
                postings(t, filter, Driver::Actor, Order::Asc, None, &parts)
                    .map(|r| r.map(|((_, seq), _)| seq))
                    .collect::<Result<_, _>>()?,
            ),
            _ => None,
        };
        let mut by_code: Vec<u64> = Vec::new();
        for posting in postings(t, filter, driver, Order::Asc, None, &parts) {
            let ((_, seq), code) = posting?;
            if seq >= horizon || also.as_ref().is_some_and(|a| !a.contains(&seq)) {
                continue;
            }
            let i = code as usize;
            if i >= by_code.len() {
                by_code.resize(i + 1, 0);
            }
            by_code[i] += 1;
        }
        let mut out = Facets {
            complete: true,
            ..Facets::default()
        };
        if by_code.is_empty() {
            return Ok(out);
        }
        let entries = parts.codes.entries(&parts.facets, t.no, by_code.len())?;
        let full = Lens::full();
        let lens = filter.f.lens.as_ref().unwrap_or(&full);
        let mut readable = HashMap::new();
        for (e, &n) in entries.iter().zip(&by_code).filter(|(_, n)| **n > 0) {
            if !self.epoch_readable(&p.tenant, e.epoch, &mut readable)? {
                continue;
            }
            let v = take_combo(&mut e.combo.as_slice())
                .ok_or_else(|| QueryError::Corrupt("combination code".into()))?;
            out.count_matching(filter, lens, &v, n);
        }
        Ok(out)
    }
}
