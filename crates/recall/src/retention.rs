//! `recall retention run`: the retention run on the data directory directly (the server
//! runs the same daily). For each tenant, the months past its retention period are
//! recorded in its log, then their keys are destroyed (docs/design/retention.md).

use jiff::Timestamp;
use recall_query::Db;
use recall_server::retention::{Runner, record};
use recall_store::retention::Retention;

use crate::query_cli::{append_event, cli_actor};

/// What a run did (or, dry, would do) to one tenant.
pub struct TenantRun {
    /// The tenant.
    pub tenant: String,
    /// Its retention period, years.
    pub years: u32,
    /// Events before this are past retention.
    pub cutoff: Timestamp,
    /// Epochs shredded (dry run: that would be).
    pub epochs: Vec<u32>,
}

/// Runs retention over `only` (or every tenant); `dry_run` records and destroys nothing.
pub fn run(
    db: &Db,
    retention: &Retention,
    only: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Vec<TenantRun>> {
    let journal = db.journal();
    let tenants = match only {
        Some(t) => {
            crate::query_cli::check_tenant(db, t)?;
            vec![t.to_string()]
        }
        None => journal.store().tenants()?,
    };
    let actor = cli_actor();
    let runner = Runner {
        actor: &actor,
        kind: "user",
        system: "recall-cli",
    };
    let mut out = Vec::new();
    for tenant in tenants {
        let now = Timestamp::now();
        let expired = journal.expired_epochs(&tenant, retention, now, &|_| false)?;
        let epochs = if dry_run || expired.is_empty() {
            expired
        } else {
            // Record first: keys are never destroyed without a record in the log.
            append_event(
                db,
                &tenant,
                &record(&runner, retention, &tenant, now, &expired),
            )?;
            journal.shred(&tenant, &expired)?
        };
        out.push(TenantRun {
            years: retention.years(&tenant),
            cutoff: retention.cutoff(&tenant, now),
            tenant,
            epochs,
        });
    }
    Ok(out)
}
