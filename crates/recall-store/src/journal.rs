//! The journal: turns validated events into sealed batches and appends them through a
//! [`Store`]; signs and persists checkpoints; reads bodies back.
//!
//! Backend-independent: everything here works over `dyn Store`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use recall_crypto::{EpochKeys, Keystore, SaltDeriver, commitment, open_block, seal_block};
use recall_ledger::{Checkpoint, Hash, Note, Signer, Verifier};
use recall_model::{Epoch, Event, Stamp, canonical_parts_into};

use crate::error::{Result, StoreError};
use crate::format::{SealedBatch, SealedBlock};
use crate::store::{Location, Reserve, Store};

/// Plaintext bytes after which a body block is closed (bounded read cost per event).
/// 32 KiB keeps a random read (one block per hit) near 30 µs at ~8% more bytes per event
/// than 256 KiB blocks (measured on the hospital workload: 114.7 vs 106.2 bytes/event).
pub const BLOCK_BYTES: usize = 32 << 10;
/// Largest plaintext of one block: the close threshold plus one maximal event (its
/// native part under twice the input limit, plus the largest original record it keeps).
pub const MAX_BLOCK_PLAIN: usize =
    BLOCK_BYTES + recall_model::MAX_EVENT_BYTES * 2 + recall_model::MAX_RECORDED_BYTES + 8;
/// zstd level of body blocks: level 1 is both faster and, on audit events, smaller than 3.
pub const ZSTD_LEVEL: i32 = 1;
/// Domain prefix of a block's AAD.
const BLOCK_AAD_DOMAIN: &[u8] = b"recall/block/v1\0";

/// What a client gets back for an appended event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Position in the tenant's log.
    pub seq: u64,
    /// RFC 9162 leaf hash of the event's entry (its commitment).
    pub leaf_hash: Hash,
}

/// A committed batch: its receipts and where its frame lies.
#[derive(Debug, Clone)]
pub struct Committed {
    /// One receipt per event, in seq order.
    pub receipts: Vec<Receipt>,
    /// Where the batch's frame starts.
    pub location: Location,
}

/// Everything needed to read and open one body block without its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRef {
    /// Where the block's sealed bytes start.
    pub at: Location,
    /// Their length.
    pub len: u32,
    /// Key epoch of the block.
    pub epoch: u32,
    /// First seq of the batch (part of the block's AAD).
    pub first_seq: u64,
    /// Position of the block in its batch (part of the AAD).
    pub index: u16,
}

impl BlockRef {
    /// References to every block of `batch`, whose frame starts at `frame`.
    pub fn all(batch: &SealedBatch, frame: &Location) -> Vec<BlockRef> {
        crate::format::block_spans(batch)
            .into_iter()
            .zip(&batch.blocks)
            .enumerate()
            .map(|(i, ((off, len), block))| BlockRef {
                at: Location {
                    file: frame.file.clone(),
                    offset: frame.offset + off,
                },
                len,
                epoch: block.epoch,
                first_seq: batch.first_seq,
                index: i as u16,
            })
            .collect()
    }
}

/// The journal over a store, a keystore and the checkpoint signer.
pub struct Journal {
    store: Arc<dyn Store>,
    keystore: Arc<Keystore>,
    signer: Signer,
    /// Keys that sign every checkpoint beside `signer` (during a signing-key rotation).
    cosigners: Vec<Signer>,
    /// Actions with a retention period of their own, in years: their events get key
    /// epochs of their own (`retention::key_epoch`).
    action_years: std::collections::BTreeMap<String, u32>,
    verifiers: Vec<Verifier>,
    origin_prefix: String,
    last_checkpoint: Mutex<HashMap<String, Instant>>,
}

/// The AAD binding a block to its tenant, epoch, batch and position.
pub fn block_aad(tenant: &str, epoch: u32, first_seq: u64, block: u16) -> Vec<u8> {
    let mut aad = Vec::with_capacity(BLOCK_AAD_DOMAIN.len() + tenant.len() + 15);
    aad.extend_from_slice(BLOCK_AAD_DOMAIN);
    aad.push(tenant.len() as u8);
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad.extend_from_slice(&first_seq.to_be_bytes());
    aad.extend_from_slice(&block.to_be_bytes());
    aad
}

/// Splits a decrypted, decompressed block into its events (`u32le len ‖ bytes` each).
pub fn split_block(plain: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < plain.len() {
        let len = u32::from_le_bytes(plain.get(at..at + 4)?.try_into().ok()?) as usize;
        out.push(plain.get(at + 4..at + 4 + len)?);
        at += 4 + len;
    }
    Some(out)
}

impl Journal {
    /// A journal over `store`. `verifiers` are the checkpoint keys to accept (the
    /// signer's own is added).
    pub fn new(
        store: Arc<dyn Store>,
        keystore: Arc<Keystore>,
        signer: Signer,
        mut verifiers: Vec<Verifier>,
        origin_prefix: &str,
    ) -> Self {
        verifiers.push(signer.verifier());
        Self {
            store,
            keystore,
            signer,
            cosigners: Vec::new(),
            action_years: std::collections::BTreeMap::new(),
            verifiers,
            origin_prefix: origin_prefix.trim_end_matches('/').to_string(),
            last_checkpoint: Mutex::default(),
        }
    }

    /// Adds keys that sign every new checkpoint beside the signer (a signing-key rotation
    /// in progress: verifiers holding either the old or the new key accept the notes).
    pub fn with_cosigners(mut self, cosigners: Vec<Signer>) -> Self {
        self.verifiers
            .extend(cosigners.iter().map(Signer::verifier));
        self.cosigners = cosigners;
        self
    }

    /// Gives events of these actions key epochs of their own, carrying their retention
    /// period in years (docs/design/retention.md).
    pub fn with_action_retention(
        mut self,
        action_years: std::collections::BTreeMap<String, u32>,
    ) -> Self {
        self.action_years = action_years;
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The keystore (epoch keys, blind-index keys).
    pub fn keystore(&self) -> &Arc<Keystore> {
        &self.keystore
    }

    /// The checkpoint verifier keys this journal accepts.
    pub fn verifiers(&self) -> &[Verifier] {
        &self.verifiers
    }

    /// The checkpoint origin of a tenant's log.
    pub fn origin(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.origin_prefix)
    }

    /// Keys of `(tenant, epoch)`, created on first use (the keystore caches them).
    pub fn epoch_keys(&self, tenant: &str, epoch: u32) -> Result<EpochKeys> {
        Ok(self.keystore.epoch_keys(tenant, epoch)?)
    }

    /// Keys of `(tenant, epoch)` if they exist; never creates.
    pub fn existing_epoch_keys(&self, tenant: &str, epoch: u32) -> Result<Option<EpochKeys>> {
        Ok(self.keystore.existing_epoch_keys(tenant, epoch)?)
    }

    /// Seals `events` as the batch starting at `first_seq`: canonical form, salted
    /// commitments, compressed and encrypted blocks (one epoch per block). `appended_by[i]`
    /// names the credential that appended `events[i]` (canonical-event.md). CPU-bound and
    /// independent of other batches, so callers may prepare batches in parallel.
    pub fn prepare(
        &self,
        tenant: &str,
        events: &[Event],
        appended_by: &[&str],
        first_seq: u64,
        received: Timestamp,
    ) -> Result<SealedBatch> {
        let n = events.len();
        if appended_by.len() != n {
            return Err(StoreError::OutOfRange(
                "one appending credential per event".into(),
            ));
        }
        let mut commitments = vec![[0u8; 32]; n];
        // Group by key epoch, keeping seq order within each group.
        let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let years = self.action_years.get(&e.action).copied().unwrap_or(0);
            let epoch = crate::retention::key_epoch(Epoch::of(e.time).0, years);
            match groups.iter_mut().find(|(g, _)| *g == epoch) {
                Some((_, ix)) => ix.push(i as u32),
                None => groups.push((epoch, vec![i as u32])),
            }
        }
        let mut blocks = Vec::new();
        let mut plain = Vec::with_capacity(BLOCK_BYTES + 64 * 1024);
        for (epoch, indices) in groups {
            let keys = self.epoch_keys(tenant, epoch)?;
            let salts = SaltDeriver::new(&keys.commit);
            let mut members = Vec::new();
            plain.clear();
            for (k, &i) in indices.iter().enumerate() {
                let seq = first_seq + i as u64;
                // Canonical bytes go straight into the block, behind their length.
                let at = plain.len();
                plain.extend_from_slice(&[0; 4]);
                let stamp = Stamp {
                    tenant,
                    seq,
                    received,
                    appended_by: Some(appended_by[i as usize]),
                };
                canonical_parts_into(&events[i as usize], &stamp, &mut plain);
                let len = (plain.len() - at - 4) as u32;
                plain[at..at + 4].copy_from_slice(&len.to_le_bytes());
                commitments[i as usize] = commitment(&salts.salt(tenant, seq), &plain[at + 4..]);
                members.push(i);
                if plain.len() >= BLOCK_BYTES || k + 1 == indices.len() {
                    let index = u16::try_from(blocks.len())
                        .map_err(|_| StoreError::OutOfRange("batch too large".into()))?;
                    let members = std::mem::take(&mut members);
                    blocks.push(
                        self.seal(tenant, epoch, first_seq, index, &plain, members, n, &keys)?,
                    );
                    plain.clear();
                }
            }
        }
        Ok(SealedBatch {
            first_seq,
            commitments,
            blocks,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn seal(
        &self,
        tenant: &str,
        epoch: u32,
        first_seq: u64,
        index: u16,
        plain: &[u8],
        members: Vec<u32>,
        batch_len: usize,
        keys: &EpochKeys,
    ) -> Result<SealedBlock> {
        let compressed = crate::codec::compress(plain, ZSTD_LEVEL)?;

        let sealed = seal_block(
            &keys.data,
            &block_aad(tenant, epoch, first_seq, index),
            &compressed,
        )?;
        let whole =
            members.len() == batch_len && members.iter().enumerate().all(|(k, &i)| k as u32 == i);
        Ok(SealedBlock {
            epoch,
            indices: (!whole).then_some(members),
            sealed,
        })
    }

    /// Appends a prepared client batch; durable on return. Returns a receipt per event
    /// and where the batch went.
    pub fn commit(&self, tenant: &str, batch: &SealedBatch) -> Result<Committed> {
        self.commit_with(tenant, batch, Reserve::Keep)
    }

    /// [`Journal::commit`], saying whether the batch may use the store's reserve of space
    /// (recall's own records).
    pub fn commit_with(
        &self,
        tenant: &str,
        batch: &SealedBatch,
        reserve: Reserve,
    ) -> Result<Committed> {
        let appended = self.store.append_with(tenant, batch, reserve)?;
        let receipts = batch
            .commitments
            .iter()
            .enumerate()
            .map(|(i, c)| Receipt {
                seq: batch.first_seq + i as u64,
                leaf_hash: recall_ledger::leaf_hash(c),
            })
            .collect();
        Ok(Committed {
            receipts,
            location: appended.location,
        })
    }

    /// Reads, authenticates, decrypts and decompresses one block: its events' canonical
    /// bytes in block order (see [`split_block`]). `None` when the epoch's keys are gone.
    pub fn read_block(&self, tenant: &str, block: &BlockRef) -> Result<Option<Vec<u8>>> {
        let Some(keys) = self.existing_epoch_keys(tenant, block.epoch)? else {
            return Ok(None);
        };
        let sealed = self.store.read_at(tenant, &block.at, block.len)?;
        let compressed = open_block(
            &keys.data,
            &block_aad(tenant, block.epoch, block.first_seq, block.index),
            &sealed,
        )?;
        let mut out = Vec::new();
        crate::codec::decompress_into(&compressed, &mut out, MAX_BLOCK_PLAIN)?;
        // Readers keep blocks (the read cache): a frame that declared no size reserved
        // the limit, which the block must not hold on to.
        out.shrink_to_fit();
        Ok(Some(out))
    }

    /// Prepares and commits in one call (for callers that do not pipeline), every event
    /// appended by the credential `appended_by`.
    pub fn append(
        &self,
        tenant: &str,
        events: Vec<Event>,
        appended_by: &str,
        received: Timestamp,
    ) -> Result<Vec<Receipt>> {
        self.store.ensure_tenant(tenant)?;
        let by = vec![appended_by; events.len()];
        let first = self.store.size(tenant)?;
        let batch = self.prepare(tenant, &events, &by, first, received)?;
        Ok(self.commit(tenant, &batch)?.receipts)
    }

    /// Decrypts a batch's blocks: `(seq, canonical bytes)` for every event, seq order.
    pub fn open_batch(&self, tenant: &str, batch: &SealedBatch) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::with_capacity(batch.commitments.len());
        for (k, block) in batch.blocks.iter().enumerate() {
            let keys = self
                .existing_epoch_keys(tenant, block.epoch)?
                .ok_or_else(|| {
                    StoreError::Malformed(format!("no keys for epoch {}", block.epoch))
                })?;
            let plain = decrypt_block(tenant, batch.first_seq, k as u16, block, &keys)?;
            let events = split_block(&plain)
                .ok_or_else(|| StoreError::Malformed("block does not split into events".into()))?;
            let seqs = block_seqs(block, batch);
            for (seq, bytes) in seqs.zip(events) {
                out.push((seq, bytes.to_vec()));
            }
        }
        out.sort_by_key(|(s, _)| *s);
        Ok(out)
    }

    /// Opens (creating) a tenant's log for writing and checks that it extends its latest
    /// signed checkpoint: a log restored from an old backup, truncated or forked is refused
    /// before anything is appended to it.
    pub fn open_tenant(&self, tenant: &str) -> Result<()> {
        self.store.ensure_tenant(tenant)?;
        if let Some(note) = self.latest_checkpoint(tenant)? {
            let cp = self.parse_checkpoint(&note)?;
            self.check_extends(tenant, &cp, self.store.size(tenant)?)?;
        }
        Ok(())
    }

    /// The latest persisted checkpoint note of a tenant.
    pub fn latest_checkpoint(&self, tenant: &str) -> Result<Option<String>> {
        self.store.latest_checkpoint(tenant)
    }

    /// Signs, persists and returns a checkpoint of the tenant's current tree, unless the
    /// latest one already covers it. Refuses to sign when the log does not extend the
    /// latest checkpoint (never two inconsistent checkpoints).
    pub fn checkpoint(&self, tenant: &str) -> Result<String> {
        // Size and root together: the server signs while its writer appends.
        let (size, root) = self.store.head(tenant)?;
        let latest = self.latest_checkpoint(tenant)?;
        if let Some(note) = &latest {
            let cp = self.parse_checkpoint(note)?;
            self.check_extends(tenant, &cp, size)?;
            if cp.size == size {
                return Ok(note.clone());
            }
        }
        let cp = Checkpoint {
            origin: self.origin(tenant),
            size,
            root,
            extensions: vec![],
        };
        let signers: Vec<&Signer> = std::iter::once(&self.signer)
            .chain(&self.cosigners)
            .collect();
        let note = Note::sign(&cp.to_body(), &signers)?;
        self.store.append_checkpoint(tenant, &note)?;
        self.last_checkpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.to_string(), Instant::now());
        Ok(note)
    }

    /// Signs a checkpoint if the last one is older than `interval` (at most one a second
    /// while the log grows; docs/goals.md "Verification", docs/design/storage-format.md).
    pub fn checkpoint_if_due(&self, tenant: &str, interval: Duration) -> Result<Option<String>> {
        let due = self
            .last_checkpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .is_none_or(|t| t.elapsed() >= interval);
        if due {
            self.checkpoint(tenant).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Verifies a note's signature with the accepted keys and parses its checkpoint.
    pub fn parse_checkpoint(&self, note: &str) -> Result<Checkpoint> {
        let (note, _) = Note::open(note, &self.verifiers)?;
        Checkpoint::parse_body(&note.text)
            .map_err(|e| StoreError::Malformed(format!("checkpoint: {e}")))
    }

    /// Checks that the tree of `size` leaves extends checkpoint `cp` (same root at its size).
    pub fn check_extends(&self, tenant: &str, cp: &Checkpoint, size: u64) -> Result<()> {
        if cp.size > size {
            return Err(StoreError::Rollback {
                tenant: tenant.to_string(),
                reason: format!(
                    "the log holds {size} events but checkpoint size {} was signed: truncated or rolled back",
                    cp.size
                ),
            });
        }
        let root = self.root_at(tenant, cp.size)?;
        if root != cp.root {
            return Err(StoreError::Rollback {
                tenant: tenant.to_string(),
                reason: format!(
                    "the log's root at size {} differs from the signed checkpoint: forked or altered",
                    cp.size
                ),
            });
        }
        Ok(())
    }

    /// Complete-subtree hashes of a tenant's tree, read from its tiles.
    pub fn hash_source(&self, tenant: &str) -> TileSource<'_> {
        TileSource {
            store: self.store.as_ref(),
            tenant: tenant.to_string(),
        }
    }

    /// Leaf hash of `seq` from the tiles.
    pub fn leaf(&self, tenant: &str, seq: u64) -> Result<Hash> {
        Ok(self.store.read_hashes(tenant, 0, seq, 1)?[0])
    }

    /// RFC 9162 inclusion proof of `seq` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, tenant: &str, seq: u64, size: u64) -> Result<Vec<Hash>> {
        self.with_tree(tenant, |src| recall_ledger::inclusion_proof(seq, size, src))
    }

    /// RFC 9162 consistency proof between two sizes.
    pub fn consistency_proof(&self, tenant: &str, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.with_tree(tenant, |src| {
            recall_ledger::consistency_proof(old, new, src)
        })
    }

    /// Tree root at `size`, from the tiles.
    pub fn root_at(&self, tenant: &str, size: u64) -> Result<Hash> {
        self.with_tree(tenant, |src| recall_ledger::root_at(size, src))
    }

    /// Runs a proof computation over the tenant's tiles.
    fn with_tree<T>(
        &self,
        tenant: &str,
        f: impl FnOnce(
            &dyn recall_ledger::HashSource,
        ) -> std::result::Result<T, recall_ledger::ProofError>,
    ) -> Result<T> {
        let tiles = self.hash_source(tenant);
        Ok(f(&recall_ledger::TiledHashSource(&tiles))?)
    }
}

/// Reads tile hashes of one tenant through the store.
pub struct TileSource<'a> {
    store: &'a dyn Store,
    tenant: String,
}

impl recall_ledger::StoredHashes for TileSource<'_> {
    fn read(&self, level: u8, start: u64, count: u64) -> std::result::Result<Vec<Hash>, String> {
        self.store
            .read_hashes(&self.tenant, level, start, count)
            .map_err(|e| e.to_string())
    }
}

/// Seqs of a block's events, in block order.
pub fn block_seqs<'a>(
    block: &'a SealedBlock,
    batch: &'a SealedBatch,
) -> Box<dyn Iterator<Item = u64> + 'a> {
    let first = batch.first_seq;
    match &block.indices {
        None => Box::new((0..batch.commitments.len() as u64).map(move |i| first + i)),
        Some(ix) => Box::new(ix.iter().map(move |&i| first + i as u64)),
    }
}

/// Decrypts and decompresses one block.
pub fn decrypt_block(
    tenant: &str,
    first_seq: u64,
    index: u16,
    block: &SealedBlock,
    keys: &EpochKeys,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decrypt_block_into(tenant, first_seq, index, block, keys, &mut out)?;
    Ok(out)
}

/// Decrypts and decompresses one block into `out` (reused across calls).
pub fn decrypt_block_into(
    tenant: &str,
    first_seq: u64,
    index: u16,
    block: &SealedBlock,
    keys: &EpochKeys,
    out: &mut Vec<u8>,
) -> Result<()> {
    let compressed = open_block(
        &keys.data,
        &block_aad(tenant, block.epoch, first_seq, index),
        &block.sealed,
    )?;
    // Authenticated before decompression, and capped: a block never exceeds this.
    crate::codec::decompress_into(&compressed, out, MAX_BLOCK_PLAIN)
}
