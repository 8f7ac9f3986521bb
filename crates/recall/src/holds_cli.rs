//! `recall holds`: place, list and release legal holds on the data directory directly,
//! recorded in the tenant's log like the API's (docs/design/retention.md).

use anyhow::bail;
use jiff::Timestamp;
use recall_governance::workflows::{self, NewHold};
use recall_governance::{Direct, Scope, Via, operator};
use recall_query::{Db, Subject};

use crate::query_cli::check_tenant;
use crate::retention::open_holds;

/// The `holds` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum HoldsCommand {
    /// Place a hold: on a patient, an actor, or an event time range. Months holding
    /// events it covers are never shredded while it is active.
    Create {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Hold every event of this patient.
        #[arg(long, conflicts_with_all = ["actor", "from", "to"])]
        patient: Option<String>,
        /// Hold every event of this actor.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        actor: Option<String>,
        /// Hold events from this time (RFC 3339, inclusive); with --to.
        #[arg(long, requires = "to")]
        from: Option<Timestamp>,
        /// Until this time (RFC 3339, exclusive); with --from.
        #[arg(long, requires = "from")]
        to: Option<Timestamp>,
        /// The legal matter (case name or number; no PHI), 1 to 100 characters.
        #[arg(long)]
        matter: String,
    },
    /// List a tenant's holds, active and released.
    List {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Release a hold by id.
    Release {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The hold id (from `recall holds list`).
        id: String,
    },
}

/// `recall holds …` on the data directory at `data`.
pub fn run_cli(data: &std::path::Path, cmd: HoldsCommand) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    run(&dir.path, &db, cmd)
}

/// Runs one `holds` verb on the data directory at `path` (with its index `db`).
pub fn run(path: &std::path::Path, db: &Db, cmd: HoldsCommand) -> anyhow::Result<()> {
    let holds = open_holds(path)?;
    let who = operator::current();
    let recorder = Direct::new(db);
    let by = |command: &'static str| (Via::cli(command), &who, &recorder);
    match cmd {
        HoldsCommand::Create {
            tenant,
            patient,
            actor,
            from,
            to,
            matter,
        } => {
            check_tenant(db, &tenant)?;
            let token = |s, v: &str| db.subject_token(&tenant, s, v);
            let scope = match (&patient, &actor, from, to) {
                (Some(p), None, None, None) => Scope::Patient(token(Subject::Patient, p)?),
                (None, Some(a), None, None) => Scope::Actor(token(Subject::Actor, a)?),
                (None, None, Some(from), Some(to)) => Scope::Time { from, to },
                _ => bail!("give one of --patient, --actor, or --from with --to"),
            };
            let (via, who, recorder) = by("recall holds create");
            let actor_of = workflows::Actor {
                who,
                via: &via,
                recorder,
            };
            let new = NewHold {
                tenant: &tenant,
                scope,
                matter: &matter,
                patient: patient.as_deref(),
                actor: actor.as_deref(),
            };
            let hold = workflows::place_hold(&holds, &actor_of, new)?;
            println!("{}", hold.json());
        }
        HoldsCommand::List { tenant } => {
            for h in holds.list(&tenant)? {
                println!("{}", h.json());
            }
        }
        HoldsCommand::Release { tenant, id } => {
            let (via, who, recorder) = by("recall holds release");
            let actor_of = workflows::Actor {
                who,
                via: &via,
                recorder,
            };
            match workflows::release_hold(&holds, &actor_of, &tenant, &id)? {
                None => bail!("tenant {tenant} has no hold {id}"),
                Some((hold, _)) => println!("{}", hold.json()),
            }
        }
    }
    Ok(())
}
