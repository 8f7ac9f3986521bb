//! `recall holds`: place, list and release legal holds on the data directory directly,
//! recorded in the tenant's log like the API's (docs/design/retention.md).

use anyhow::bail;
use jiff::Timestamp;
use recall_query::{Db, Subject};
use recall_server::holds::{Hold, Scope};
use serde_json::json;

use crate::query_cli::{append_event, check_tenant, cli_actor};
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

/// Runs one `holds` verb on the data directory at `path` (with its index `db`).
pub fn run(path: &std::path::Path, db: &Db, cmd: HoldsCommand) -> anyhow::Result<()> {
    let holds = open_holds(path)?;
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
            let hold = holds.create(&tenant, scope, &matter, &cli_actor())?;
            record(
                db,
                &tenant,
                "create",
                &hold,
                patient.as_deref(),
                actor.as_deref(),
            )?;
            println!("{}", hold.json());
        }
        HoldsCommand::List { tenant } => {
            for h in holds.list(&tenant)? {
                println!("{}", h.json());
            }
        }
        HoldsCommand::Release { tenant, id } => match holds.release(&tenant, &id, &cli_actor())? {
            None => bail!("tenant {tenant} has no hold {id}"),
            Some((hold, changed)) => {
                if changed {
                    record(db, &tenant, "delete", &hold, None, None)?;
                }
                println!("{}", hold.json());
            }
        },
    }
    Ok(())
}

/// Appends the record of a hold placed or released (the API's shape, the CLI's actor).
fn record(
    db: &Db,
    tenant: &str,
    action: &str,
    hold: &Hold,
    patient: Option<&str>,
    actor: Option<&str>,
) -> anyhow::Result<()> {
    let mut detail = hold.json();
    if let Some(a) = actor {
        detail["actor"] = json!(a);
    }
    let mut event = json!({
        "time": Timestamp::now().to_string(),
        "actor": {"id": cli_actor(), "type": "user"},
        "action": action,
        "resource": {"type": "LegalHold", "id": hold.id},
        "purpose": "HOPERAT",
        "source": {"system": "recall-cli"},
        "detail": {"endpoint": "recall holds", "hold": detail},
    });
    if let Some(p) = patient {
        event["patient"] = json!({ "id": p });
    }
    append_event(db, tenant, &event)
}
