//! `recall users`: the console's local users (`users.db`, `recall_governance::users`):
//! create, list, disable, reset the TOTP second factor. The password is read from standard
//! input (never an argument: arguments show in `ps`); a TOTP secret is printed once.
//! Every change is recorded in the user's tenant's log (`recall_governance::user_changes`,
//! the same functions as the console's administration page). Works while the server runs
//! (SQLite with a busy timeout; the record then waits in the outbox for the server).

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use recall_governance::Role;
use recall_governance::user_changes;
use recall_governance::users::{NewUser, USERS_FILE, Users};

use crate::keys::{binding_of, open_keystore, outbox_note};
use crate::operator_cli::as_operator;

/// The `users` verbs.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a console user; reads the password (12+ characters) from standard input and
    /// prints the TOTP secret once for roles that read PHI.
    Create {
        /// Sign-in name.
        name: String,
        /// The tenant whose log the user sees.
        #[arg(long)]
        tenant: String,
        /// auditor, admin, verifier, engineer, privacy_officer or patient.
        #[arg(long)]
        role: Role,
        /// The patient a `patient` user reads about (required for that role only; stored
        /// as a keyed hash, never as the id).
        #[arg(long, required_if_eq("role", "patient"))]
        patient: Option<String>,
    },
    /// List users: name, tenant, role, second factor, disabled, locked.
    List,
    /// Disable a user: no more sign-ins; open sessions end at their next request.
    Disable {
        /// Sign-in name.
        name: String,
    },
    /// Give a user a new TOTP secret (printed once) and lift a lockout.
    ResetTotp {
        /// Sign-in name.
        name: String,
    },
}

/// Opens the users file of the data directory at `data` (TOTP secrets sealed under its
/// keystore).
pub fn open(data: &Path) -> anyhow::Result<Users> {
    if !data.join(crate::datadir::KEYSTORE).exists() {
        bail!("{} is not a recall data directory", data.display());
    }
    let keystore = open_keystore(data)?;
    Users::open(&data.join(USERS_FILE), &keystore).context("opening the users file")
}

fn print_totp(uri: &str) {
    println!("totp: {uri}");
    println!("Add this to the user's authenticator app now; it is not shown again.");
}

/// Runs one `users` verb; every change is recorded in the user's tenant's log as the
/// operating-system user (through the outbox while a server runs).
pub fn run(data: &Path, cmd: UsersCommand) -> anyhow::Result<()> {
    let users = open(data)?;
    match cmd {
        UsersCommand::Create {
            name,
            tenant,
            role,
            patient,
        } => {
            let binding = binding_of(data, &tenant, role, patient.as_deref())?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let new = NewUser {
                name: &name,
                tenant: &tenant,
                role,
                password: password.trim_end_matches(['\r', '\n']),
                patient_binding: binding.as_deref(),
                patient: patient.as_deref(),
            };
            let ((_, totp), recorded) = as_operator(data, "recall users create", |by, tenants| {
                user_changes::create_user(&users, by, &new, tenants)
            })?;
            println!(
                "created user {name} ({role}, tenant {tenant}){}",
                outbox_note(recorded)
            );
            if let Some(uri) = totp {
                print_totp(&uri);
            }
        }
        UsersCommand::List => {
            println!("name\ttenant\trole\ttotp\tdisabled\tlocked_until");
            for u in users.list()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    u.name, u.tenant, u.role, u.totp, u.disabled, u.locked_until
                );
            }
        }
        UsersCommand::Disable { name } => {
            let (_, recorded) = as_operator(data, "recall users disable", |by, _| {
                user_changes::disable_user(&users, by, &name, None)
            })?;
            println!("disabled user {name}{}", outbox_note(recorded));
        }
        UsersCommand::ResetTotp { name } => {
            let (uri, _) = as_operator(data, "recall users reset-totp", |by, _| {
                user_changes::reset_totp(&users, by, &name, None)
            })?;
            print_totp(&uri);
        }
    }
    Ok(())
}
