//! The keystore: wrapped keys in SQLite with `secure_delete`.
//!
//! Layout and invariants: docs/design/keystore.md. Every secret is stored wrapped
//! (AES-KWP) under the KEK and bound to its row (see [`context`]); unwrapped epoch and
//! index keys are cached in memory and zeroized when the keystore is dropped.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::kek::sync_parent;
use crate::{
    CommitSecret, CryptoError, DataKey, EpochKeys, IndexKey, Kek, SecretBytes, random_array,
};

mod named;
mod rotate;
mod schema;
mod signing;

/// The keystore's usual file name inside a data directory.
pub const KEYSTORE_FILE: &str = "keystore.db";

/// A checkpoint signing key as stored.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// Key name used in signed notes.
    pub name: String,
    /// The Ed25519 seed (unwrapped).
    pub seed: SecretBytes,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

/// Unwrapped keys already read, so the hot path does not touch SQLite.
#[derive(Default)]
struct Cache {
    epochs: HashMap<String, HashMap<u32, EpochKeys>>,
    index: HashMap<String, IndexKey>,
}

/// Wrapped keys in a SQLite database (`keystore.db`).
///
/// Safe to share between threads: the connection and the cache sit behind mutexes
/// (always locked in that order).
pub struct Keystore {
    path: PathBuf,
    kek: Kek,
    conn: Mutex<Connection>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What a wrapped secret is bound to: `kind`, an owner (tenant or key name) and a number
/// (epoch or row id). Unwrapping under another context fails.
pub(crate) fn context(kind: &str, owner: &str, n: u64) -> Vec<u8> {
    let mut c = Vec::with_capacity(64 + owner.len());
    c.extend_from_slice(b"recall/keystore/v1\0");
    for part in [kind, owner] {
        // Callers validate owners to at most 255 bytes; kinds are constants.
        c.push(part.len().min(255) as u8);
        c.extend_from_slice(part.as_bytes());
    }
    c.extend_from_slice(&n.to_be_bytes());
    c
}

fn check_tenant(tenant: &str) -> Result<(), CryptoError> {
    match tenant.len() {
        1..=255 => Ok(()),
        len => Err(CryptoError::InvalidTenant { len }),
    }
}

/// A key epoch is `years × 1,000,000 + yyyymm`: the month, and a retention period fixed
/// when its events were written (0: the tenant's period; docs/design/retention.md).
fn check_epoch(epoch: u32) -> Result<(), CryptoError> {
    let (years, month_epoch) = (epoch / 1_000_000, epoch % 1_000_000);
    let (year, month) = (month_epoch / 100, month_epoch % 100);
    if years <= 100 && (1..=9999).contains(&year) && (1..=12).contains(&month) {
        Ok(())
    } else {
        Err(CryptoError::InvalidEpoch { epoch })
    }
}

impl Keystore {
    /// Creates a new keystore at `path` (refuses an existing file) under `kek`.
    pub fn create(path: &Path, kek: Kek) -> Result<Self, CryptoError> {
        let exists = |p: &Path| CryptoError::KeystoreExists { path: p.to_owned() };
        // A stale WAL next to a fresh database file could be replayed into it.
        let wal = schema::sidecar(path, "-wal");
        if wal.exists() {
            return Err(exists(&wal));
        }
        // O_EXCL + 0600: never clobber a keystore, and keep it private (SQLite gives the
        // -wal and -shm files the database file's mode).
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists(path)),
            Err(source) => {
                return Err(CryptoError::KeystoreIo {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let made = Self::connect(path)
            .and_then(|conn| schema::configure(&conn, path).map(|()| conn))
            .and_then(|conn| schema::initialise(&conn, &kek).map(|()| conn))
            .and_then(|conn| {
                sync_parent(path).map_err(|source| CryptoError::KeystoreIo {
                    path: path.to_owned(),
                    source,
                })?;
                Ok(conn)
            });
        match made {
            Ok(conn) => Ok(Self::with_conn(path, kek, conn)),
            Err(e) => {
                // Leave nothing half-made behind: a retry would refuse the file.
                for p in [path.to_owned(), wal, schema::sidecar(path, "-shm")] {
                    let _ = std::fs::remove_file(p);
                }
                Err(e)
            }
        }
    }

    /// Opens an existing keystore; fails with a clear error when `kek` is not the one the
    /// keystore was created with.
    pub fn open(path: &Path, kek: Kek) -> Result<Self, CryptoError> {
        // SQLite would say only "unable to open database file".
        std::fs::metadata(path).map_err(|source| CryptoError::KeystoreIo {
            path: path.to_owned(),
            source,
        })?;
        let conn = Self::connect(path)?;
        // Check before configuring: switching a foreign database to WAL would change it.
        schema::check(&conn, &kek, path)?;
        schema::configure(&conn, path)?;
        schema::add_missing_tables(&conn)?;
        Ok(Self::with_conn(path, kek, conn))
    }

    fn connect(path: &Path) -> Result<Connection, CryptoError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    fn with_conn(path: &Path, kek: Kek, conn: Connection) -> Self {
        Self {
            path: path.to_owned(),
            kek,
            conn: Mutex::new(conn),
            cache: Mutex::new(Cache::default()),
        }
    }

    // A panic while holding a lock leaves SQLite consistent (an open transaction rolls
    // back when dropped) and the cache only ever holds correct keys, so poisoning is
    // safe to ignore.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keystore file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys of `(tenant, epoch)`, created and persisted on first use.
    ///
    /// Fails with [`CryptoError::EpochForgotten`] once the epoch was forgotten: a
    /// shredded epoch never gets new keys.
    pub fn epoch_keys(&self, tenant: &str, epoch: u32) -> Result<EpochKeys, CryptoError> {
        self.epoch_keys_inner(tenant, epoch, true)?
            .ok_or_else(|| CryptoError::EpochForgotten {
                tenant: tenant.to_owned(),
                epoch,
            })
    }

    /// The keys of `(tenant, epoch)` if they exist (never creates).
    pub fn existing_epoch_keys(
        &self,
        tenant: &str,
        epoch: u32,
    ) -> Result<Option<EpochKeys>, CryptoError> {
        self.epoch_keys_inner(tenant, epoch, false)
    }

    fn epoch_keys_inner(
        &self,
        tenant: &str,
        epoch: u32,
        create: bool,
    ) -> Result<Option<EpochKeys>, CryptoError> {
        check_tenant(tenant)?;
        check_epoch(epoch)?;
        if let Some(keys) = self.cache().epochs.get(tenant).and_then(|m| m.get(&epoch)) {
            return Ok(Some(keys.clone()));
        }
        let (data_ctx, commit_ctx) = (
            context("epoch-data", tenant, epoch.into()),
            context("epoch-commit", tenant, epoch.into()),
        );
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock before reading, so two processes cannot both
        // find no row and create different keys.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(Vec<u8>, Vec<u8>)> = tx
            .query_row(
                "SELECT data_key, commit_secret FROM epoch_keys WHERE tenant = ?1 AND epoch = ?2",
                params![tenant, epoch],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let keys = match row {
            Some((data, commit)) => EpochKeys {
                data: DataKey(self.kek.unwrap_bound(&data, &data_ctx, "data key")?),
                commit: CommitSecret(self.kek.unwrap_bound(
                    &commit,
                    &commit_ctx,
                    "commit secret",
                )?),
            },
            None if !create || schema::is_forgotten(&tx, tenant, epoch)? => return Ok(None),
            None => {
                let keys = EpochKeys {
                    data: DataKey(SecretBytes(random_array())),
                    commit: CommitSecret(SecretBytes(random_array())),
                };
                tx.execute(
                    "INSERT INTO epoch_keys (tenant, epoch, data_key, commit_secret, created) \
                     VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    params![
                        tenant,
                        epoch,
                        self.kek.wrap_bound(&keys.data.0, &data_ctx)?,
                        self.kek.wrap_bound(&keys.commit.0, &commit_ctx)?,
                    ],
                )?;
                tx.commit()?; // synchronous=FULL: durable once this returns
                keys
            }
        };
        let mut cache = self.cache();
        cache
            .epochs
            .entry(tenant.to_owned())
            .or_default()
            .insert(epoch, keys.clone());
        Ok(Some(keys))
    }

    /// The tenant's blind-index key, created on first use.
    pub fn index_key(&self, tenant: &str) -> Result<IndexKey, CryptoError> {
        const KIND: &str = "blind-index";
        check_tenant(tenant)?;
        if let Some(key) = self.cache().index.get(tenant) {
            return Ok(key.clone());
        }
        let ctx = context(KIND, tenant, 0);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let wrapped: Option<Vec<u8>> = tx
            .query_row(
                "SELECT wrapped FROM tenant_keys WHERE tenant = ?1 AND kind = ?2",
                params![tenant, KIND],
                |r| r.get(0),
            )
            .optional()?;
        let key = match wrapped {
            Some(w) => IndexKey(self.kek.unwrap_bound(&w, &ctx, "blind-index key")?),
            None => {
                let key = IndexKey(SecretBytes(random_array()));
                tx.execute(
                    "INSERT INTO tenant_keys (tenant, kind, wrapped, created) \
                     VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    params![tenant, KIND, self.kek.wrap_bound(&key.0, &ctx)?],
                )?;
                tx.commit()?;
                key
            }
        };
        self.cache().index.insert(tenant.to_owned(), key.clone());
        Ok(key)
    }

    /// Every tenant holding an epoch key or a blind-index key, sorted.
    pub fn tenants(&self) -> Result<Vec<String>, CryptoError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT tenant FROM epoch_keys UNION SELECT tenant FROM tenant_keys ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The epochs (`yyyymm`) of `tenant` that have keys, ascending.
    pub fn epochs(&self, tenant: &str) -> Result<Vec<u32>, CryptoError> {
        self.epoch_list(
            "SELECT epoch FROM epoch_keys WHERE tenant = ?1 ORDER BY epoch",
            tenant,
        )
    }

    /// The epochs of `tenant` that were forgotten with [`Keystore::forget_epoch`], ascending.
    pub fn forgotten_epochs(&self, tenant: &str) -> Result<Vec<u32>, CryptoError> {
        self.epoch_list(
            "SELECT epoch FROM forgotten_epochs WHERE tenant = ?1 ORDER BY epoch",
            tenant,
        )
    }

    /// The forgotten epochs of `tenant` with when each was forgotten (RFC 3339 UTC),
    /// ascending by epoch.
    pub fn forgotten_epochs_at(&self, tenant: &str) -> Result<Vec<(u32, String)>, CryptoError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT epoch, forgotten FROM forgotten_epochs WHERE tenant = ?1 ORDER BY epoch",
        )?;
        let rows = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn epoch_list(&self, sql: &str, tenant: &str) -> Result<Vec<u32>, CryptoError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([tenant], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Destroys the keys of `(tenant, epoch)` (crypto-shredding); returns whether they
    /// existed.
    ///
    /// Deletes the row (with `secure_delete`, SQLite zeroes the freed bytes), records the
    /// epoch as forgotten so it never gets new keys, drops the cached copy, then runs
    /// `PRAGMA wal_checkpoint(TRUNCATE)` so the old page images in the WAL are gone too.
    /// Copies already handed out to callers are theirs to drop.
    pub fn forget_epoch(&self, tenant: &str, epoch: u32) -> Result<bool, CryptoError> {
        check_tenant(tenant)?;
        check_epoch(epoch)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = tx.execute(
            "DELETE FROM epoch_keys WHERE tenant = ?1 AND epoch = ?2",
            params![tenant, epoch],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO forgotten_epochs (tenant, epoch, forgotten) \
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![tenant, epoch],
        )?;
        tx.commit()?;
        if let Some(m) = self.cache().epochs.get_mut(tenant) {
            m.remove(&epoch); // EpochKeys zeroize on drop
        }
        schema::checkpoint_truncate(&conn)?;
        Ok(deleted > 0)
    }
}
