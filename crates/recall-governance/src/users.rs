//! The console's local users (`users.db`): a name bound to one tenant and one role, an
//! argon2id password hash, and, for roles that read PHI, a TOTP second factor. The CLI
//! (`recall users …`) manages them; the server's console signs people in against them.
//!
//! Invariants:
//! - No password is stored, only its argon2id PHC string; a password or TOTP code never
//!   reaches an error, a log line or an event.
//! - A TOTP step is accepted once (RFC 6238 §5.2): the last accepted step is kept.
//! - After [`LOCK_AFTER`] failures in a row a user is locked for [`LOCK_SECS`]; while
//!   locked even the right password fails, so guessing gains nothing.
//! - TOTP secrets are sealed under a key of the keystore (`users_secret.rs`); the file
//!   alone gives nobody a second factor.
//! - A `patient` user carries the same binding as a `patient` API key (the keyed hash of
//!   the patient id), never the id.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use recall_crypto::{DataKey, Keystore, random_array};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Mutex;
use totp_rs::{Builder, Secret, Totp};

use crate::credentials::{Role, check_tenant};
use crate::sqlite::{OpenError, open_private};
use crate::users_secret::{self, What};

/// The users file in a data directory.
pub const USERS_FILE: &str = "users.db";
/// Failures in a row that lock a user.
pub const LOCK_AFTER: u32 = 5;
/// How long a lock lasts, in seconds.
pub const LOCK_SECS: i64 = 15 * 60;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

const SCHEMA: &str = "PRAGMA secure_delete = ON;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL,
    password TEXT NOT NULL, totp BLOB, totp_step INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL,
    totp_sealed INTEGER NOT NULL DEFAULT 0, binding TEXT, patient BLOB);";

/// Why a user operation failed. Never carries a password or a TOTP secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// A field is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// No such user.
    #[error("no such user")]
    Unknown,
    /// The name is taken.
    #[error("a user of that name exists")]
    Exists,
    /// The file could not be opened or written.
    #[error("users file: {0}")]
    Store(String),
    /// The keystore failed, or a sealed TOTP secret did not open (damaged or moved).
    #[error("users file: {0}")]
    Crypto(#[from] recall_crypto::CryptoError),
}

impl From<rusqlite::Error> for UserError {
    fn from(e: rusqlite::Error) -> Self {
        UserError::Store(e.to_string())
    }
}

/// A user's public facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    /// Sign-in name.
    pub name: String,
    /// The tenant whose log the user sees.
    pub tenant: String,
    /// What the user may do (the same roles as API keys).
    pub role: Role,
    /// Whether a TOTP second factor is set.
    pub totp: bool,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// Unix time until which the user is locked (0: not locked).
    pub locked_until: i64,
    /// A `patient` user's binding (keyed hash of the patient id); never shown.
    #[serde(skip)]
    pub patient_binding: Option<String>,
}

/// A user to create.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    /// Sign-in name.
    pub name: &'a str,
    /// The tenant.
    pub tenant: &'a str,
    /// The role.
    pub role: Role,
    /// The password (hashed at once; never stored).
    pub password: &'a str,
    /// A `patient` user's binding ([`crate::patient_binding`]); required for that role
    /// only.
    pub patient_binding: Option<&'a str>,
    /// A `patient` user's patient id, kept sealed so the console can ask for that
    /// patient's report; required with the binding.
    pub patient: Option<&'a str>,
}

/// The verdict of a sign-in attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Password (and TOTP, when set) right.
    Accepted(UserInfo),
    /// Wrong password or code, unknown or disabled user. `locked_now` when this failure
    /// locked the user; `user` the known user's facts (None for an unknown name).
    Refused {
        /// The user, when the name is known.
        user: Option<UserInfo>,
        /// This failure locked the user.
        locked_now: bool,
    },
    /// The user is locked; nothing was checked.
    Locked(UserInfo),
}

/// The users file.
pub struct Users {
    conn: Mutex<Connection>,
    key: DataKey,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Users")
    }
}

fn totp_of(secret: &[u8], name: &str) -> Result<Totp, UserError> {
    Builder::new()
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .with_account_name(name)
        .with_issuer(Some("recall"))
        .build()
        .map_err(|_| UserError::Store("stored TOTP secret unusable".into()))
}

fn hash_password(password: &str) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::Invalid {
            field: "password",
            message: format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        });
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| UserError::Store("hashing the password failed".into()))
}

/// Writers are services, never people; a `patient` user needs a binding and no other
/// role may have one.
fn check_role(role: Role, binding: Option<&str>) -> Result<(), UserError> {
    if role == Role::Writer {
        return Err(UserError::Invalid {
            field: "role",
            message:
                "console users are auditor, admin, verifier, engineer, privacy_officer or patient"
                    .into(),
        });
    }
    if (role == Role::Patient) != binding.is_some() {
        return Err(UserError::Invalid {
            field: "patient",
            message: "a patient user is bound to one patient; other roles to none".into(),
        });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid {
            field: "name",
            message: "1 to 64 characters of A-Z a-z 0-9 . _ - @".into(),
        })
    }
}

/// A new TOTP secret and its `otpauth://` URI (what an authenticator app scans).
fn new_totp(name: &str) -> Result<(Vec<u8>, String), UserError> {
    let secret = random_array::<20>().to_vec();
    let uri = totp_of(&secret, name)?
        .to_url()
        .map_err(|_| UserError::Store("encoding the TOTP URI failed".into()))?;
    Ok((secret, uri))
}

const COLUMNS: &str = "name, tenant, role, totp IS NOT NULL, disabled, locked_until, binding";

fn info(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserInfo> {
    let role: String = r.get(2)?;
    Ok(UserInfo {
        name: r.get(0)?,
        tenant: r.get(1)?,
        role: role.parse().unwrap_or(Role::Verifier),
        totp: r.get(3)?,
        disabled: r.get(4)?,
        locked_until: r.get(5)?,
        patient_binding: r.get(6)?,
    })
}

impl Users {
    /// Opens (creating, mode 0600) the users file; TOTP secrets are sealed under a key
    /// of `keystore`, and secrets an older file kept in clear are sealed now.
    pub fn open(path: &Path, keystore: &Keystore) -> Result<Self, UserError> {
        let mut conn = open_private(path, SCHEMA).map_err(|e| match e {
            OpenError::Io(e) => UserError::Store(e.to_string()),
            OpenError::Sqlite(e) => e.into(),
        })?;
        let key = users_secret::key(keystore)?;
        users_secret::migrate(&mut conn, &key)?;
        Ok(Self {
            conn: Mutex::new(conn),
            key,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a user; returns the `otpauth://` URI of its TOTP secret when the role reads
    /// PHI (the second factor is then required).
    pub fn create(&self, new: &NewUser<'_>) -> Result<Option<String>, UserError> {
        let name = new.name;
        check_name(name)?;
        check_tenant(new.tenant).map_err(|e| UserError::Invalid {
            field: "tenant",
            message: e.to_string(),
        })?;
        check_role(new.role, new.patient_binding)?;
        if new.patient_binding.is_some() != new.patient.is_some() {
            return Err(UserError::Invalid {
                field: "patient",
                message: "a patient user needs both its patient id and its binding".into(),
            });
        }
        let hash = hash_password(new.password)?;
        let totp = new.role.reads_phi().then(|| new_totp(name)).transpose()?;
        let sealed = match &totp {
            Some((secret, _)) => Some(users_secret::seal(&self.key, What::Totp, name, secret)?),
            None => None,
        };
        let patient = new
            .patient
            .map(|p| users_secret::seal(&self.key, What::Patient, name, p.as_bytes()))
            .transpose()?;
        let now = jiff::Timestamp::now().to_string();
        let conn = self.conn();
        let n = conn.execute(
            "INSERT OR IGNORE INTO users (name, tenant, role, password, totp, totp_sealed, binding, patient, created) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)",
            params![name, new.tenant, new.role.as_str(), hash, sealed, new.patient_binding, patient, now],
        )?;
        if n == 0 {
            return Err(UserError::Exists);
        }
        Ok(totp.map(|t| t.1))
    }

    /// A `patient` user's patient id (opened from its sealed copy); `None` for others.
    pub fn patient_of(&self, name: &str) -> Result<Option<String>, UserError> {
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row("SELECT patient FROM users WHERE name = ?1", [name], |r| {
                r.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()?
            .flatten();
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = users_secret::open(&self.key, What::Patient, name, &sealed)?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| UserError::Store("a sealed patient id is not text".into()))
    }

    /// Removes a user (a creation whose record could not be written is taken back).
    pub fn delete(&self, name: &str) -> Result<(), UserError> {
        self.conn()
            .execute("DELETE FROM users WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Every user, by name.
    pub fn list(&self) -> Result<Vec<UserInfo>, UserError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))?;
        let rows = st.query_map([], info)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One user.
    pub fn get(&self, name: &str) -> Result<Option<UserInfo>, UserError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM users WHERE name = ?1"),
                [name],
                info,
            )
            .optional()?)
    }

    /// Disables a user (it can no longer sign in; its sessions end at their next request).
    pub fn disable(&self, name: &str) -> Result<(), UserError> {
        let n = self
            .conn()
            .execute("UPDATE users SET disabled = 1 WHERE name = ?1", [name])?;
        if n == 0 {
            Err(UserError::Unknown)
        } else {
            Ok(())
        }
    }

    /// Gives a user a new TOTP secret (a lost phone) and lifts a lock; returns its URI.
    pub fn reset_totp(&self, name: &str) -> Result<String, UserError> {
        let (secret, uri) = new_totp(name)?;
        let secret = users_secret::seal(&self.key, What::Totp, name, &secret)?;
        let n = self.conn().execute(
            "UPDATE users SET totp = ?2, totp_sealed = 1, totp_step = 0, failures = 0, locked_until = 0 WHERE name = ?1",
            params![name, secret],
        )?;
        if n == 0 {
            Err(UserError::Unknown)
        } else {
            Ok(uri)
        }
    }

    /// Checks a sign-in at unix time `now`: counts failures, locks after [`LOCK_AFTER`].
    pub fn sign_in(
        &self,
        name: &str,
        password: &str,
        code: &str,
        now: i64,
    ) -> Result<SignIn, UserError> {
        type Row = (UserInfo, String, Option<Vec<u8>>, i64, u32);
        let conn = self.conn();
        let row: Option<Row> = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS}, password, totp, totp_step, failures FROM users WHERE name = ?1"
                ),
                [name],
                |r| Ok((info(r)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?)),
            )
            .optional()?;
        let Some((user, hash, totp, last_step, failures)) = row else {
            // The same work as a known user, so timing does not tell names apart.
            let _ = hash_password("a password that is never stored");
            return Ok(SignIn::Refused {
                user: None,
                locked_now: false,
            });
        };
        if user.locked_until > now {
            return Ok(SignIn::Locked(user));
        }
        let password_ok = PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        let step = match &totp {
            Some(sealed) => totp_of(
                &users_secret::open(&self.key, What::Totp, name, sealed)?,
                name,
            )?
            .check(code.trim(), now.max(0) as u64)
            .filter(|s| *s as i64 > last_step),
            None => Some(0),
        };
        if password_ok && !user.disabled && step.is_some() {
            let step = step.unwrap_or(0) as i64;
            conn.execute(
                "UPDATE users SET failures = 0, totp_step = MAX(totp_step, ?2) WHERE name = ?1",
                params![name, step],
            )?;
            return Ok(SignIn::Accepted(user));
        }
        let failures = failures + 1;
        let locked_now = failures >= LOCK_AFTER;
        let until = if locked_now { now + LOCK_SECS } else { 0 };
        conn.execute(
            "UPDATE users SET failures = ?2, locked_until = ?3 WHERE name = ?1",
            params![name, if locked_now { 0 } else { failures }, until],
        )?;
        Ok(SignIn::Refused {
            user: Some(user),
            locked_now,
        })
    }
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
