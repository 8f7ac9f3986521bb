//! `recall retention run`: the retention run on the data directory directly (the server
//! runs the same daily). For each tenant, the months past its retention period are
//! recorded in its log, then their keys are destroyed (docs/design/retention.md).

use jiff::Timestamp;
use recall_query::Db;
use recall_server::holds::Holds;
use recall_server::retention::{Runner, expired, record};
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

/// How a run goes.
pub struct RunOptions<'a> {
    /// The policy.
    pub retention: &'a Retention,
    /// Legal holds: months they keep are never shredded.
    pub holds: Option<&'a Holds>,
    /// Only this tenant (every tenant when `None`).
    pub only: Option<&'a str>,
    /// Record and destroy nothing; say what would be shredded.
    pub dry_run: bool,
    /// The time the run takes as now.
    pub now: Timestamp,
}

/// Opens the legal holds of the data directory at `path`.
pub fn open_holds(path: &std::path::Path) -> anyhow::Result<Holds> {
    Ok(Holds::open(&path.join(recall_server::holds::HOLDS_FILE))?)
}

/// Runs retention; see [`RunOptions`].
pub fn run(db: &Db, opts: &RunOptions<'_>) -> anyhow::Result<Vec<TenantRun>> {
    let RunOptions {
        retention,
        holds,
        only,
        dry_run,
        now,
    } = *opts;
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
        let expired = expired(db, holds, &tenant, retention, now).map_err(anyhow::Error::msg)?;
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
