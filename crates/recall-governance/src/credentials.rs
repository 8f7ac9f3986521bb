//! Credentials: the roles, and API keys for services — `rk_<id>_<secret>`, stored only as
//! HMAC-SHA256(pepper, key) in an SQLite file (`auth.db`, layout in docs/design/auth.md),
//! verified from an in-memory copy. Creating or revoking a key goes through
//! [`crate::workflows`], which records it in the tenant's log.
//!
//! The pepper is a keystore named secret ([`PEPPER_SECRET`]), so a stolen `auth.db`
//! without the KEK allows no offline guessing. Another process (`recall keys revoke`)
//! changing the file is noticed within [`REFRESH`]: the cache checks SQLite's
//! `data_version` at most that often, never once per request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use recall_crypto::{SecretBytes, random_array};
use recall_query::Reader;
use rusqlite::{Connection, OptionalExtension, params};

use crate::sqlite::{OpenError, open_private};

/// The API key database's usual file name inside a data directory.
pub const API_KEYS_FILE: &str = "auth.db";
/// The keystore named secret used as the HMAC key (pepper) of API keys.
pub const PEPPER_SECRET: &str = "api-key-pepper";
/// Every API key starts with this.
pub const PREFIX: &str = "rk_";
/// How stale the in-memory copy may get relative to changes by other processes.
pub const REFRESH: Duration = Duration::from_secs(2);

const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// Longest key label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id      TEXT PRIMARY KEY,
    tenant  TEXT NOT NULL,
    role    TEXT NOT NULL,
    mac     BLOB NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT,
    label   TEXT,
    patient TEXT
) STRICT;
";

/// What a credential may do (minimum necessary; the table is in docs/design/auth.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Appends events; reads nothing.
    Writer,
    /// Searches, reads events, runs reports; `detail` only with a justification.
    Auditor,
    /// Manages keys and settings; sees no event contents.
    Admin,
    /// Reads the transparency endpoints (checkpoints, tiles, proofs) only.
    Verifier,
    /// Searches and reads pseudonymised events, without free text (debugging without PHI).
    Engineer,
    /// Searches, reads events and runs reports with every field.
    PrivacyOfficer,
    /// One patient: the accesses to their own data.
    Patient,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Writer,
        Role::Auditor,
        Role::Admin,
        Role::Verifier,
        Role::Engineer,
        Role::PrivacyOfficer,
        Role::Patient,
    ];

    /// The name (`writer`, `privacy_officer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Verifier => "verifier",
            Role::Engineer => "engineer",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Patient => "patient",
        }
    }

    /// How the role reads events (`None`: it reads no event contents).
    pub fn reader(self) -> Option<Reader> {
        match self {
            Role::Auditor => Some(Reader::Auditor),
            Role::Engineer => Some(Reader::Engineer),
            Role::PrivacyOfficer => Some(Reader::PrivacyOfficer),
            Role::Patient => Some(Reader::Patient),
            Role::Writer | Role::Admin | Role::Verifier => None,
        }
    }

    /// Whether a key of this role reads PHI: every role that reads event contents (even
    /// an engineer's pseudonymised events carry dates of care, an identifier under HIPAA's
    /// Safe Harbor rule). Creating or revoking such a key is flagged in its record and
    /// counted, so that it can raise an alert (docs/design/auth.md).
    pub fn reads_phi(self) -> bool {
        self.reader().is_some()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = CredentialError;
    fn from_str(s: &str) -> Result<Self, CredentialError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(CredentialError::UnknownRole)
    }
}

/// The binding an API key stores for a patient: hex of the tenant's keyed hash of the id
/// in the `patient-key` domain (apart from the index's own tokens).
pub fn patient_binding(indexer: &recall_crypto::BlindIndexer, patient: &str) -> String {
    hex::encode(indexer.token("patient-key", patient))
}

/// Checks a tenant name with the event format's rules.
pub fn check_tenant(tenant: &str) -> Result<(), CredentialError> {
    recall_model::validate_tenant(tenant)
        .map_err(|e| CredentialError::InvalidTenant { reason: e.message })
}

/// What went wrong with the credential store. Never carries a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A role name is not one of the roles.
    #[error(
        "unknown role (expected writer, auditor, admin, verifier, engineer, privacy_officer or patient)"
    )]
    UnknownRole,
    /// A tenant name is not valid (see the event format's tenant rules).
    #[error("invalid tenant: {reason}")]
    InvalidTenant {
        /// Why.
        reason: String,
    },
    /// The API key database could not be created or opened.
    #[error("API key database {path}: {source}")]
    KeysIo {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An SQLite error in the API key database.
    #[error("API key database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored API key row is damaged (bad role, timestamp or MAC length).
    #[error("API key {id} is damaged in the database: {reason}")]
    KeyDamaged {
        /// The key id.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `patient` key was asked for without its patient, or another role with one.
    #[error("a patient key is bound to exactly one patient; other roles to none")]
    PatientBinding,
    /// A key label is not acceptable.
    #[error("invalid label: {0}")]
    InvalidLabel(String),
    /// A key for a tenant that has no log yet, without asking to start one: most likely
    /// a misspelt tenant, whose key would write and read a log nobody else uses.
    #[error(
        "tenant: this data directory has no tenant of that name (a key for a new tenant must say so: --new-tenant)"
    )]
    UnknownTenant,
}

/// The public facts of an API key (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// Key id (16 hex digits), the middle part of the key text.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: String,
    /// Its role.
    pub role: Role,
    /// When it was created.
    pub created: Timestamp,
    /// When it was revoked, if it was.
    pub revoked: Option<Timestamp>,
    /// What the key is for, as its creator described it (not secret; no PHI).
    pub label: Option<String>,
    /// A `patient` key's binding to its patient (a keyed hash, never the id; not shown).
    #[serde(skip)]
    pub patient_binding: Option<String>,
}

struct Stored {
    info: KeyInfo,
    mac: Vec<u8>,
}

struct Cache {
    keys: HashMap<String, Stored>,
    /// Ids of rows whose row MAC does not verify (edited outside recall): never accepted.
    tampered: Vec<String>,
    data_version: i64,
    checked: Instant,
}

/// The API key database with an in-memory copy for verification.
pub struct ApiKeys {
    path: PathBuf,
    pepper: hmac::Key,
    conn: Mutex<Connection>,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn now_text() -> String {
    Timestamp::now().to_string()
}

/// The row MAC of a key: HMAC(pepper) over every stored column but the MACs, so editing a
/// key's role, tenant, patient binding, label or revocation in `auth.db` (without the
/// pepper, which only the keystore holds) makes the row refuse to authenticate.
fn row_mac(pepper: &hmac::Key, row: &RowFacts<'_>) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(pepper);
    ctx.update(b"recall api key row v1\0");
    for field in [
        Some(row.id),
        Some(row.tenant),
        Some(row.role),
        Some(row.created),
        row.revoked,
        row.label,
        row.patient,
    ] {
        match field {
            Some(v) => {
                ctx.update(&[1]);
                ctx.update(&(v.len() as u64).to_be_bytes());
                ctx.update(v.as_bytes());
            }
            None => ctx.update(&[0]),
        }
    }
    ctx.sign().as_ref().to_vec()
}

/// A key row's columns as stored (text), for [`row_mac`].
struct RowFacts<'a> {
    id: &'a str,
    tenant: &'a str,
    role: &'a str,
    created: &'a str,
    revoked: Option<&'a str>,
    label: Option<&'a str>,
    patient: Option<&'a str>,
}

/// Every key row; rows whose row MAC does not verify are left out and named in the second
/// list (tampered with outside recall).
fn load(
    conn: &Connection,
    pepper: &hmac::Key,
) -> Result<(HashMap<String, Stored>, Vec<String>), CredentialError> {
    let mut stmt = conn.prepare(
        "SELECT id, tenant, role, mac, created, revoked, label, patient, row_mac FROM api_keys",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Vec<u8>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<Vec<u8>>>(8)?,
        ))
    })?;
    let mut keys = HashMap::new();
    let mut tampered = Vec::new();
    for row in rows {
        let (id, tenant, role, mac, created, revoked, label, patient_binding, stored_mac) = row?;
        let facts = RowFacts {
            id: &id,
            tenant: &tenant,
            role: &role,
            created: &created,
            revoked: revoked.as_deref(),
            label: label.as_deref(),
            patient: patient_binding.as_deref(),
        };
        let expected = row_mac(pepper, &facts);
        let intact = stored_mac.is_some_and(|m| {
            aws_lc_rs::constant_time::verify_slices_are_equal(&m, &expected).is_ok()
        });
        if !intact {
            tampered.push(id);
            continue;
        }
        let damaged = |reason| CredentialError::KeyDamaged {
            id: id.clone(),
            reason,
        };
        let role = role.parse().map_err(|_| damaged("unknown role"))?;
        let created = created.parse().map_err(|_| damaged("bad created time"))?;
        let revoked = match revoked {
            Some(t) => Some(t.parse().map_err(|_| damaged("bad revoked time"))?),
            None => None,
        };
        if mac.len() != 32 {
            return Err(damaged("MAC is not 32 bytes"));
        }
        if (role == Role::Patient) != patient_binding.is_some() {
            return Err(damaged(
                "a patient key needs its patient binding, others none",
            ));
        }
        let info = KeyInfo {
            id: id.clone(),
            tenant,
            role,
            created,
            revoked,
            label,
            patient_binding,
        };
        keys.insert(id, Stored { info, mac });
    }
    tampered.sort();
    Ok((keys, tampered))
}

/// Gives rows written before row MACs existed their MAC (trusted on the first open by a
/// version that checks them; documented in docs/design/governance.md).
fn seal_legacy_rows(conn: &mut Connection, pepper: &hmac::Key) -> Result<(), CredentialError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let rows: Vec<[Option<String>; 7]> = {
        let mut stmt = tx.prepare(
            "SELECT id, tenant, role, created, revoked, label, patient FROM api_keys \
             WHERE row_mac IS NULL",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok([
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ])
        })?;
        rows.collect::<Result<_, _>>()?
    };
    for [id, tenant, role, created, revoked, label, patient] in &rows {
        let facts = RowFacts {
            id: id.as_deref().unwrap_or_default(),
            tenant: tenant.as_deref().unwrap_or_default(),
            role: role.as_deref().unwrap_or_default(),
            created: created.as_deref().unwrap_or_default(),
            revoked: revoked.as_deref(),
            label: label.as_deref(),
            patient: patient.as_deref(),
        };
        tx.execute(
            "UPDATE api_keys SET row_mac = ?2 WHERE id = ?1",
            params![facts.id, row_mac(pepper, &facts)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Adds the `label`, `patient` and `row_mac` columns to a database created before them. In one immediate
/// transaction so that two processes opening the file at once do not both add it.
fn migrate(conn: &mut Connection) -> Result<(), CredentialError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (column, kind) in [("label", "TEXT"), ("patient", "TEXT"), ("row_mac", "BLOB")] {
        let has: bool = tx.query_row(
            "SELECT count(*) FROM pragma_table_info('api_keys') WHERE name = ?1",
            [column],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has {
            tx.execute_batch(&format!("ALTER TABLE api_keys ADD COLUMN {column} {kind}"))?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Checks a key label: 1 to [`MAX_LABEL_CHARS`] characters, no control characters (it is
/// printed in tab-separated lists).
pub fn check_label(label: &str) -> Result<(), CredentialError> {
    let n = label.chars().count();
    if n == 0 || n > MAX_LABEL_CHARS {
        return Err(CredentialError::InvalidLabel(format!(
            "must be 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(CredentialError::InvalidLabel(
            "must not contain control characters".into(),
        ));
    }
    Ok(())
}

fn data_version(conn: &Connection) -> Result<i64, CredentialError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// Splits `rk_<16 hex>_<43 base64url>` into its id; `None` for anything else.
fn key_id(presented: &str) -> Option<&str> {
    let (id, secret) = presented.strip_prefix(PREFIX)?.split_once('_')?;
    let id_ok =
        id.len() == 2 * ID_BYTES && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

impl ApiKeys {
    /// Opens (creating if missing, mode 0600) the database at `path`; `pepper` is the
    /// HMAC key keys are stored under.
    pub fn open(path: &Path, pepper: SecretBytes) -> Result<Self, CredentialError> {
        let mut conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(source) => CredentialError::KeysIo {
                path: path.to_owned(),
                source,
            },
            OpenError::Sqlite(e) => CredentialError::Sqlite(e),
        })?;
        migrate(&mut conn)?;
        let pepper = hmac::Key::new(hmac::HMAC_SHA256, pepper.expose());
        seal_legacy_rows(&mut conn, &pepper)?;
        let (keys, tampered) = load(&conn, &pepper)?;
        let cache = Cache {
            keys,
            tampered,
            data_version: data_version(&conn)?,
            checked: Instant::now(),
        };
        Ok(Self {
            path: path.to_owned(),
            pepper,
            conn: Mutex::new(conn),
            cache: RwLock::new(cache),
        })
    }

    // Poisoning is safe to ignore: SQLite rolls back an unfinished transaction and the
    // cache is only ever replaced whole.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reloads the copy from `conn` (after a change through it).
    fn reload(&self, conn: &Connection) -> Result<(), CredentialError> {
        let (keys, tampered) = load(conn, &self.pepper)?;
        let version = data_version(conn)?;
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache.keys = keys;
        cache.tampered = tampered;
        cache.data_version = version;
        cache.checked = Instant::now();
        Ok(())
    }

    /// Reloads when another connection changed the file, checking at most every
    /// [`REFRESH`].
    fn refresh_if_stale(&self) -> Result<(), CredentialError> {
        let fresh = |c: &Cache| c.checked.elapsed() < REFRESH;
        if fresh(&self.cache.read().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(());
        }
        let conn = self.conn();
        let (stale_version, fresh_now) = {
            let c = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            (c.data_version, fresh(&c))
        };
        if fresh_now {
            return Ok(()); // another thread refreshed meanwhile
        }
        if data_version(&conn)? != stale_version {
            self.reload(&conn)
        } else {
            let mut c = self.cache.write().unwrap_or_else(PoisonError::into_inner);
            c.checked = Instant::now();
            Ok(())
        }
    }

    /// Creates a key for `(tenant, role)`; returns its public facts and the key text,
    /// which is shown once and stored only as HMAC-SHA256(pepper, key text).
    pub fn create(&self, tenant: &str, role: Role) -> Result<(KeyInfo, String), CredentialError> {
        self.create_labeled(tenant, role, None)
    }

    /// [`ApiKeys::create`] with an optional label (see [`check_label`]).
    pub fn create_labeled(
        &self,
        tenant: &str,
        role: Role,
        label: Option<&str>,
    ) -> Result<(KeyInfo, String), CredentialError> {
        self.create_bound(tenant, role, label, None)
    }

    /// Creates a key; a `patient` key takes the binding of its patient
    /// ([`patient_binding`]), every other role none.
    pub fn create_bound(
        &self,
        tenant: &str,
        role: Role,
        label: Option<&str>,
        patient_binding: Option<&str>,
    ) -> Result<(KeyInfo, String), CredentialError> {
        check_tenant(tenant)?;
        if (role == Role::Patient) != patient_binding.is_some() {
            return Err(CredentialError::PatientBinding);
        }
        if let Some(l) = label {
            check_label(l)?;
        }
        let id = hex::encode(random_array::<ID_BYTES>());
        let secret = URL_SAFE_NO_PAD.encode(random_array::<SECRET_BYTES>());
        let text = format!("{PREFIX}{id}_{secret}");
        let mac = hmac::sign(&self.pepper, text.as_bytes());
        let created = Timestamp::now();
        let conn = self.conn();
        let created_text = created.to_string();
        let facts = RowFacts {
            id: &id,
            tenant,
            role: role.as_str(),
            created: &created_text,
            revoked: None,
            label,
            patient: patient_binding,
        };
        conn.execute(
            "INSERT INTO api_keys (id, tenant, role, mac, created, revoked, label, patient, \
             row_mac) VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8)",
            params![
                id,
                tenant,
                role.as_str(),
                mac.as_ref(),
                created_text,
                label,
                patient_binding,
                row_mac(&self.pepper, &facts)
            ],
        )?;
        self.reload(&conn)?;
        let info = KeyInfo {
            id,
            tenant: tenant.to_owned(),
            role,
            created,
            revoked: None,
            label: label.map(str::to_owned),
            patient_binding: patient_binding.map(str::to_owned),
        };
        Ok((info, text))
    }

    /// Every key, oldest first (read from the file, not the cache).
    pub fn list(&self) -> Result<Vec<KeyInfo>, CredentialError> {
        let conn = self.conn();
        let mut keys: Vec<KeyInfo> = load(&conn, &self.pepper)?
            .0
            .into_values()
            .map(|s| s.info)
            .collect();
        keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(keys)
    }

    /// The keys of one tenant, oldest first (read from the file, not the cache).
    pub fn list_tenant(&self, tenant: &str) -> Result<Vec<KeyInfo>, CredentialError> {
        let mut keys = self.list()?;
        keys.retain(|k| k.tenant == tenant);
        Ok(keys)
    }

    /// Revokes key `id` if it belongs to `tenant`; returns its facts afterwards and whether
    /// this call revoked it (false when it already was), or `None` when the tenant has no
    /// such key — the same answer whether or not another tenant has it.
    pub fn revoke_for(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(KeyInfo, bool)>, CredentialError> {
        let mut conn = self.conn();
        let changed = self.set_revoked(&mut conn, id, Some(tenant))?;
        self.reload(&conn)?;
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        Ok(cache
            .keys
            .get(id)
            .filter(|s| s.info.tenant == tenant)
            .map(|s| (s.info.clone(), changed)))
    }

    /// Revokes key `id`; returns whether this call revoked it (false for an unknown or
    /// already revoked key). Takes effect at once in this process.
    pub fn revoke(&self, id: &str) -> Result<bool, CredentialError> {
        let mut conn = self.conn();
        let changed = self.set_revoked(&mut conn, id, None)?;
        self.reload(&conn)?;
        Ok(changed)
    }

    /// Marks key `id` (of `tenant`, when given) revoked now and reseals its row MAC, in one
    /// transaction; false when there is no such unrevoked key.
    fn set_revoked(
        &self,
        conn: &mut Connection,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<bool, CredentialError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT tenant, role, created, label, patient FROM api_keys \
                 WHERE id = ?1 AND revoked IS NULL",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((row_tenant, role, created, label, patient)) = row else {
            return Ok(false);
        };
        if tenant.is_some_and(|t| t != row_tenant) {
            return Ok(false);
        }
        let revoked = now_text();
        let facts = RowFacts {
            id,
            tenant: &row_tenant,
            role: &role,
            created: &created,
            revoked: Some(&revoked),
            label: label.as_deref(),
            patient: patient.as_deref(),
        };
        tx.execute(
            "UPDATE api_keys SET revoked = ?2, row_mac = ?3 WHERE id = ?1",
            params![id, revoked, row_mac(&self.pepper, &facts)],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Ids of keys whose stored row was changed outside recall (its row MAC does not
    /// verify): they authenticate nothing until an operator removes or re-creates them.
    pub fn tampered(&self) -> Vec<String> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .tampered
            .clone()
    }

    /// The key's facts when `presented` is a valid, unrevoked key; `None` otherwise. The
    /// MAC comparison is constant-time (aws-lc-rs `hmac::verify`).
    pub fn verify(&self, presented: &str) -> Result<Option<KeyInfo>, CredentialError> {
        let Some(id) = key_id(presented) else {
            return Ok(None);
        };
        self.refresh_if_stale()?;
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        let Some(stored) = cache.keys.get(id) else {
            return Ok(None);
        };
        if hmac::verify(&self.pepper, presented.as_bytes(), &stored.mac).is_err() {
            return Ok(None);
        }
        Ok(stored.info.revoked.is_none().then(|| stored.info.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> SecretBytes {
        SecretBytes::from_bytes([7; 32])
    }

    #[test]
    fn a_row_edited_outside_recall_authenticates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(API_KEYS_FILE);
        let keys = ApiKeys::open(&path, pepper()).unwrap();
        let (w, w_text) = keys.create("a", Role::Writer).unwrap();
        let (r, r_text) = keys.create("a", Role::Auditor).unwrap();
        let (_, x_text) = keys.create("a", Role::Writer).unwrap();
        assert!(keys.revoke(&r.id).unwrap());
        drop(keys);
        // An intruder with write access to auth.db but not the keystore's pepper.
        let edit = |sql: &str| Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        edit(&format!(
            "UPDATE api_keys SET role = 'privacy_officer', tenant = 'b' WHERE id = '{}'",
            w.id
        ));
        edit(&format!(
            "UPDATE api_keys SET revoked = NULL WHERE id = '{}'",
            r.id
        ));
        let keys = ApiKeys::open(&path, pepper()).unwrap();
        assert_eq!(keys.verify(&w_text).unwrap(), None, "escalated key refused");
        assert_eq!(
            keys.verify(&r_text).unwrap(),
            None,
            "un-revoked key refused"
        );
        assert!(
            keys.verify(&x_text).unwrap().is_some(),
            "untouched key works"
        );
        let mut expected = vec![w.id.clone(), r.id.clone()];
        expected.sort();
        assert_eq!(keys.tampered(), expected);
        assert!(
            keys.list()
                .unwrap()
                .iter()
                .all(|k| k.id != w.id && k.id != r.id)
        );
    }

    #[test]
    fn a_database_without_labels_gains_the_column_and_keeps_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(API_KEYS_FILE);
        // The schema before labels, with one key.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE api_keys (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, \
             role TEXT NOT NULL, mac BLOB NOT NULL, created TEXT NOT NULL, revoked TEXT) STRICT",
        )
        .unwrap();
        let text = format!("rk_{}_{}", "0123456789abcdef", "A".repeat(43));
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, pepper().expose()),
            text.as_bytes(),
        );
        conn.execute(
            "INSERT INTO api_keys VALUES ('0123456789abcdef', 't', 'writer', ?1, ?2, NULL)",
            params![mac.as_ref(), now_text()],
        )
        .unwrap();
        drop(conn);
        let keys = ApiKeys::open(&path, pepper()).unwrap();
        assert_eq!(keys.verify(&text).unwrap().unwrap().label, None);
        let (made, _) = keys
            .create_labeled("t", Role::Auditor, Some("ops"))
            .unwrap();
        drop(keys);
        let keys = ApiKeys::open(&path, pepper()).unwrap();
        let listed = keys.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&made), "{listed:?}");
    }

    #[test]
    fn labels_are_checked_and_revocation_is_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ApiKeys::open(&dir.path().join(API_KEYS_FILE), pepper()).unwrap();
        for bad in ["", "a\tb", "line\n", &"x".repeat(MAX_LABEL_CHARS + 1)] {
            assert!(
                matches!(
                    keys.create_labeled("t", Role::Writer, Some(bad)),
                    Err(CredentialError::InvalidLabel(_))
                ),
                "{bad:?}"
            );
        }
        let (a, a_text) = keys
            .create_labeled("a", Role::Writer, Some(&"é".repeat(MAX_LABEL_CHARS)))
            .unwrap();
        assert_eq!(keys.list_tenant("b").unwrap(), vec![]);
        assert_eq!(keys.list_tenant("a").unwrap(), vec![a.clone()]);
        assert_eq!(keys.revoke_for("b", &a.id).unwrap(), None, "not b's key");
        assert!(keys.verify(&a_text).unwrap().is_some());
        let (revoked, changed) = keys.revoke_for("a", &a.id).unwrap().unwrap();
        assert!(changed && revoked.revoked.is_some());
        assert_eq!(keys.verify(&a_text).unwrap(), None);
        assert_eq!(
            keys.revoke_for("a", &a.id).unwrap(),
            Some((revoked, false)),
            "the first revocation stands"
        );
        assert_eq!(keys.revoke_for("a", "0000000000000000").unwrap(), None);
    }

    #[test]
    fn key_text_shape() {
        let ok = format!("rk_{}_{}", "0123456789abcdef", "A".repeat(43));
        assert_eq!(key_id(&ok), Some("0123456789abcdef"));
        assert_eq!(
            key_id(&format!("rk_{}_{}", "0123456789abcdef", "_".repeat(43))),
            Some("0123456789abcdef")
        );
        for bad in [
            "",
            "rk_",
            "rk_0123456789abcdef",
            &format!("rk_{}_{}", "0123456789ABCDEF", "A".repeat(43)),
            &format!("rk_{}_{}", "0123456789abcde", "A".repeat(43)),
            &format!("rk_{}_{}", "0123456789abcdef", "A".repeat(42)),
            &format!("rk_{}_{}", "0123456789abcdef", "A=".repeat(22)),
        ] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
    }
}
