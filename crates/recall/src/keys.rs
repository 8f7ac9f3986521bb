//! `recall keys`: create, list and revoke API keys (`auth.db`, stored as
//! HMAC(pepper, key) with the pepper from the keystore). Opens only the keystore and
//! `auth.db`, never the log, so it works while the server runs.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use recall_server::auth::{API_KEYS_FILE, ApiKeys, KeyInfo, PEPPER_SECRET, Role};

use crate::config::{self, Config};

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

/// Opens the keystore of the data directory at `data_dir`.
fn open_keystore(data_dir: &Path) -> anyhow::Result<recall_crypto::Keystore> {
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
        } => {
            let binding = match (role, patient) {
                (Role::Patient, Some(p)) => {
                    if p.is_empty() || p.chars().count() > 128 {
                        bail!("--patient: 1 to 128 characters");
                    }
                    let key = open_keystore(data_dir)?.index_key(&tenant)?;
                    let indexer = recall_crypto::BlindIndexer::new(&key);
                    Some(recall_server::auth::patient_binding(&indexer, &p))
                }
                (_, Some(_)) => bail!("--patient: only a patient key is bound to a patient"),
                (_, None) => None,
            };
            let (info, text) =
                keys()?.create_bound(&tenant, role, label.as_deref(), binding.as_deref())?;
            println!("{text}");
            eprintln!(
                "created key {} ({} for tenant {}); it is shown only this once",
                info.id, info.role, info.tenant
            );
        }
        KeysCommand::List => {
            println!("id\ttenant\trole\tlabel\tcreated\trevoked");
            for k in keys()?.list()? {
                println!("{}", line(&k));
            }
        }
        KeysCommand::Revoke { id } => {
            let keys = keys()?;
            if keys.revoke(&id)? {
                println!("revoked {id}");
            } else if keys.list()?.iter().any(|k| k.id == id) {
                println!("{id} was already revoked");
            } else {
                bail!("no API key with id {id}");
            }
        }
    }
    Ok(())
}

fn rotate_kek(data_dir: &Path, new_env: Option<&str>) -> anyhow::Result<()> {
    let done = crate::datadir::rotate_kek(data_dir, new_env)?;
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
