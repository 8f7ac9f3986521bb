//! `recall keys`: create, list and revoke API keys (`auth.db`, stored as
//! HMAC(pepper, key) with the pepper from the keystore), and rotate the key-encryption and
//! checkpoint signing keys. Every change is recorded in the logs it affects, as the
//! operating-system user; `create`, `list` and `revoke` work while the server runs (the
//! record then waits in the outbox for the server).

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use recall_governance::workflows::{self, NewKey};
use recall_governance::{API_KEYS_FILE, Act, ApiKeys, KeyInfo, PEPPER_SECRET, Role, Rotation};

use crate::config::{self, Config};
use crate::operator_cli::{RecordedIn, as_operator, record_everywhere};

/// The `keys` verbs.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; prints the key once (it is stored only as a keyed hash).
    Create {
        /// The tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// writer, auditor, admin, verifier, engineer, privacy_officer or patient.
        #[arg(long)]
        role: Role,
        /// The patient a `patient` key reads about (required for that role only; stored
        /// as a keyed hash, never as the id).
        #[arg(long, required_if_eq("role", "patient"))]
        patient: Option<String>,
        /// What the key is for (1 to 100 characters, shown in lists; no PHI).
        #[arg(long)]
        label: Option<String>,
        /// The tenant may be new: its log starts with this key's record. Without it a
        /// tenant that has no log is refused (a misspelt tenant would otherwise get a
        /// log of its own).
        #[arg(long)]
        new_tenant: bool,
    },
    /// List API keys: id, tenant, role, label, created, revoked (never the key).
    List,
    /// Revoke an API key by id.
    Revoke {
        /// The key id (from `recall keys list`).
        id: String,
    },
    /// Re-wrap every key of the keystore under a new key-encryption key (KEK); bodies,
    /// tiles and checkpoints are untouched, and the old KEK is no longer needed. Needs the
    /// data directory to itself (stop the server first).
    RotateKek {
        /// With `keys.provider = "env"`: the variable holding the new KEK (base64 of 32
        /// bytes). The file provider writes a new KEK file itself.
        #[arg(long)]
        new_kek_env: Option<String>,
    },
    /// Rotate the checkpoint signing key: a new key signs from now on and the old one
    /// co-signs (checkpoints carry both signatures) until `--finish`; old checkpoints
    /// stay verifiable with the old key. Needs the data directory to itself.
    RotateSigning {
        /// End the transition: only the new key signs from now on.
        #[arg(long)]
        finish: bool,
    },
}

/// A `patient` credential's binding (the keyed hash of `patient` under the tenant's index
/// key; `auth.db` and `users.db` never hold the id); `None` for other roles.
pub(crate) fn binding_of(
    data_dir: &Path,
    tenant: &str,
    role: Role,
    patient: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match (role, patient) {
        (Role::Patient, Some(p)) => {
            if p.is_empty() || p.chars().count() > 128 {
                bail!("--patient: 1 to 128 characters");
            }
            let key = open_keystore(data_dir)?.index_key(tenant)?;
            let indexer = recall_crypto::BlindIndexer::new(&key);
            Ok(Some(recall_governance::patient_binding(&indexer, p)))
        }
        (_, Some(_)) => bail!("--patient: only a patient credential is bound to a patient"),
        (_, None) => Ok(None),
    }
}

/// Opens the keystore of the data directory at `data_dir`.
pub(crate) fn open_keystore(data_dir: &Path) -> anyhow::Result<recall_crypto::Keystore> {
    let cfg_path = data_dir.join(config::FILE);
    if !cfg_path.exists() {
        bail!(
            "{} is not a recall data directory (no {}); run `recall init` first",
            data_dir.display(),
            config::FILE
        );
    }
    let cfg = Config::load(&cfg_path)?;
    crate::datadir::open_keystore(data_dir, &cfg)
}

/// Opens the API key database of the data directory at `data_dir`.
pub fn open_api_keys(data_dir: &Path) -> anyhow::Result<ApiKeys> {
    let keystore = open_keystore(data_dir)?;
    let pepper = keystore
        .named_secret(PEPPER_SECRET)
        .context("reading the API key pepper")?;
    let path = data_dir.join(API_KEYS_FILE);
    ApiKeys::open(&path, pepper).with_context(|| format!("opening {}", path.display()))
}

fn line(k: &KeyInfo) -> String {
    let revoked = k.revoked.map_or_else(|| "-".to_string(), |t| t.to_string());
    format!(
        "{}\t{}\t{}\t{}\t{}\t{revoked}",
        k.id,
        k.tenant,
        k.role,
        k.label.as_deref().unwrap_or("-"),
        k.created
    )
}

/// Runs one `keys` verb.
pub fn run(data_dir: &Path, cmd: KeysCommand) -> anyhow::Result<()> {
    let keys = || open_api_keys(data_dir);
    match cmd {
        KeysCommand::RotateKek { new_kek_env } => rotate_kek(data_dir, new_kek_env.as_deref())?,
        KeysCommand::RotateSigning { finish } => {
            let done = crate::datadir::rotate_signing(data_dir, finish)?;
            let rotation = if finish {
                Rotation::SigningFinished {
                    vkey: done.vkey.clone(),
                    retired: done.retired,
                }
            } else {
                Rotation::SigningStarted {
                    vkey: done.vkey.clone(),
                }
            };
            let command = if finish {
                "recall keys rotate-signing --finish"
            } else {
                "recall keys rotate-signing"
            };
            record_everywhere(data_dir, command, &Act::Rotated(&rotation))?;
            println!("{}", done.vkey);
            if finish {
                eprintln!(
                    "rotation finished: only this key signs now ({} retired; old checkpoints verify with {})",
                    done.retired,
                    crate::datadir::VKEY_PREVIOUS
                );
            } else {
                eprintln!(
                    "new checkpoint key above (publish it; also in {}); the old key co-signs until `recall keys rotate-signing --finish`",
                    crate::datadir::VKEY
                );
            }
        }
        KeysCommand::Create {
            tenant,
            role,
            patient,
            label,
            new_tenant,
        } => {
            let binding = binding_of(data_dir, &tenant, role, patient.as_deref())?;
            let keys = keys()?;
            let new = NewKey {
                tenant: &tenant,
                role,
                label: label.as_deref(),
                patient_binding: binding.as_deref(),
                new_tenant,
            };
            let ((info, text), recorded) =
                as_operator(data_dir, "recall keys create", |by, tenants| {
                    workflows::create_key(&keys, by, &new, tenants)
                })?;
            println!("{text}");
            eprintln!(
                "created key {} ({} for tenant {}); it is shown only this once{}",
                info.id,
                info.role,
                info.tenant,
                outbox_note(recorded)
            );
        }
        KeysCommand::List => {
            let keys = keys()?;
            println!("id\ttenant\trole\tlabel\tcreated\trevoked");
            for k in keys.list()? {
                println!("{}", line(&k));
            }
            for id in keys.tampered() {
                eprintln!(
                    "warning: key {id} was changed in auth.db outside recall; it authenticates nothing (revoke it and create a new one)"
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let keys = keys()?;
            let Some(tenant) = keys
                .list()?
                .into_iter()
                .find(|k| k.id == id)
                .map(|k| k.tenant)
            else {
                bail!("no API key with id {id}");
            };
            let (revoked, recorded) = as_operator(data_dir, "recall keys revoke", |by, _| {
                workflows::revoke_key(&keys, by, &tenant, &id)
            })?;
            match revoked {
                Some((_, true)) => println!("revoked {id}{}", outbox_note(recorded)),
                _ => println!("{id} was already revoked"),
            }
        }
    }
    Ok(())
}

/// What to tell the operator when the record waits for the server.
pub(crate) fn outbox_note(recorded: RecordedIn) -> &'static str {
    match recorded {
        RecordedIn::Log => "",
        RecordedIn::Outbox => " (the running server records it in the tenant's log)",
    }
}

fn rotate_kek(data_dir: &Path, new_env: Option<&str>) -> anyhow::Result<()> {
    let command = "recall keys rotate-kek";
    // Recorded first: afterwards the configured KEK may no longer open the directory (an
    // environment provider's variable is pointed at the new one only later).
    record_everywhere(
        data_dir,
        command,
        &Act::Rotated(&Rotation::Kek { failed: false }),
    )?;
    let done = match crate::datadir::rotate_kek(data_dir, new_env) {
        Ok(done) => done,
        Err(e) => {
            // The old KEK still holds: say so in the logs too.
            let failed = Act::Rotated(&Rotation::Kek { failed: true });
            if let Err(again) = record_everywhere(data_dir, command, &failed) {
                eprintln!("warning: recording the failed rotation: {again:#}");
            }
            return Err(e);
        }
    };
    println!(
        "re-wrapped {} secrets under the new key-encryption key",
        done.secrets
    );
    match done.kek_file {
        Some(f) => eprintln!(
            "{} now holds the new KEK; the old one is no longer needed (destroy every copy of it)",
            f.display()
        ),
        None => eprintln!(
            "point keys.kek_env's variable at the new KEK before the next start; the old one is no longer needed"
        ),
    }
    Ok(())
}
