//! `recall retention run`: the retention run of `recall_governance::retention` (the one
//! the server runs daily) on the data directory directly, as the operating-system user.

use jiff::Timestamp;
use recall_governance::retention::{RunOptions, Runner, TenantRun};
use recall_governance::{Direct, Holds, Via, operator};
use recall_query::Db;
use recall_store::retention::Retention;

/// Opens the legal holds of the data directory at `path`.
pub fn open_holds(path: &std::path::Path) -> anyhow::Result<Holds> {
    Ok(Holds::open(&path.join(recall_governance::HOLDS_FILE))?)
}

/// Runs retention over `only` (or every tenant) as of `now`; `dry_run` changes nothing.
pub fn run(
    path: &std::path::Path,
    db: &Db,
    retention: &Retention,
    only: Option<&str>,
    dry_run: bool,
    now: Timestamp,
) -> anyhow::Result<Vec<TenantRun>> {
    if let Some(t) = only {
        crate::query_cli::check_tenant(db, t)?;
    }
    let holds = open_holds(path)?;
    let runner = Runner {
        db,
        holds: &holds,
        recorder: &Direct::new(db),
        who: &operator::current(),
        via: &Via::cli("recall retention run"),
    };
    let opts = RunOptions {
        retention,
        only,
        dry_run,
        now,
    };
    Ok(recall_governance::retention::run(&runner, &opts)?)
}
