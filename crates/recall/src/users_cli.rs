//! `recall users`: the console's local users (`users.db`, `recall_governance::users`):
//! create, list, disable, reset the TOTP second factor. The password is read from standard
//! input (never an argument: arguments show in `ps`); a TOTP secret is printed once.
//! Works while the server runs (SQLite with a busy timeout).

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use recall_governance::Role;
use recall_governance::users::{USERS_FILE, Users};

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
        /// auditor, admin, verifier, engineer or privacy_officer.
        #[arg(long)]
        role: Role,
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

fn open(data: &Path) -> anyhow::Result<Users> {
    if !data.join(crate::datadir::KEYSTORE).exists() {
        bail!("{} is not a recall data directory", data.display());
    }
    Users::open(&data.join(USERS_FILE)).context("opening the users file")
}

fn print_totp(uri: &str) {
    println!("totp: {uri}");
    println!("Add this to the user's authenticator app now; it is not shown again.");
}

/// Runs one `users` verb.
pub fn run(data: &Path, cmd: UsersCommand) -> anyhow::Result<()> {
    let users = open(data)?;
    match cmd {
        UsersCommand::Create { name, tenant, role } => {
            if matches!(role, Role::Patient | Role::Writer) {
                bail!(
                    "--role: console users are auditor, admin, verifier, engineer or privacy_officer"
                );
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let totp = users.create(&name, &tenant, role, password)?;
            println!("created user {name} ({role}, tenant {tenant})");
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
            users.disable(&name)?;
            println!("disabled user {name}");
        }
        UsersCommand::ResetTotp { name } => print_totp(&users.reset_totp(&name)?),
    }
    Ok(())
}
