//! Log entries (the events' commitments) for C2SP entry bundles, read from the batch
//! frames through the `frames` table and checked against the tree's leaf hashes.

use recall_ledger::{Hash, entry_bundle, leaf_hash};
use recall_store::{FRAME_OVERHEAD, Location};

use crate::db::Db;
use crate::error::QueryError;
use crate::keys;

/// Bytes of a batch payload before its commitments: kind, first seq, count.
const BATCH_PREFIX: u64 = 1 + 8 + 4;

impl Db {
    /// The entries of leaves `[start, start + count)` of the tenant's tree.
    pub fn entries(&self, tenant: &str, start: u64, count: u64) -> Result<Vec<Hash>, QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Err(QueryError::Corrupt("no index for this tenant".into()));
        };
        let parts = self.parts();
        let mut out: Vec<Hash> = Vec::with_capacity(count as usize);
        let end = start + count;
        while (out.len() as u64) < count {
            let seq = start + out.len() as u64;
            let lo = keys::cat(&[&t.no.to_be_bytes(), &0u64.to_be_bytes()]);
            let hi = keys::cat(&[&t.no.to_be_bytes(), &seq.to_be_bytes()]);
            let bad = || QueryError::Corrupt("frame table entry".into());
            let (key, value) = parts.frames.range(lo..=hi).next_back().ok_or_else(bad)??;
            let first = u64::from_be_bytes(key[keys::TNO..].try_into().map_err(|_| bad())?);
            let offset = u64::from_be_bytes(
                value
                    .get(..8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            );
            let file = String::from_utf8(value[8..].to_vec()).map_err(|_| bad())?;
            let store = self.journal.store();
            let head = store.read_at(
                tenant,
                &Location {
                    file: file.clone(),
                    offset,
                },
                (FRAME_OVERHEAD as u64 + BATCH_PREFIX) as u32,
            )?;
            let n =
                u32::from_le_bytes(head[head.len() - 4..].try_into().map_err(|_| bad())?) as u64;
            if first + n <= seq {
                return Err(QueryError::Corrupt(format!(
                    "no batch frame holds leaf {seq}"
                )));
            }
            let take = (first + n).min(end) - seq;
            let at = Location {
                file,
                offset: offset + FRAME_OVERHEAD as u64 + BATCH_PREFIX + 32 * (seq - first),
            };
            let bytes = store.read_at(tenant, &at, (32 * take) as u32)?;
            out.extend(
                bytes
                    .chunks_exact(32)
                    .filter_map(|c| Hash::try_from(c).ok()),
            );
        }
        // The frame's bytes are not checksummed on this path: the tiles vouch for them.
        let leaves = self.journal.store().read_hashes(tenant, 0, start, count)?;
        if out.iter().zip(&leaves).any(|(e, l)| leaf_hash(e) != *l) {
            return Err(QueryError::Corrupt(
                "an entry does not match its leaf hash".into(),
            ));
        }
        Ok(out)
    }

    /// The C2SP entry bundle of leaves `[start, start + count)`.
    pub fn entry_bundle(
        &self,
        tenant: &str,
        start: u64,
        count: u64,
    ) -> Result<Vec<u8>, QueryError> {
        let entries = self.entries(tenant, start, count)?;
        let refs: Vec<&[u8]> = entries.iter().map(|e| e.as_slice()).collect();
        Ok(entry_bundle(&refs))
    }
}
