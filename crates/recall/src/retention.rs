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

/// The `retention` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Record, then destroy, the keys of every month past its tenant's retention period
    /// that no legal hold keeps (the server does this daily). Needs the data directory to
    /// itself.
    Run {
        /// Only this tenant (all when absent).
        #[arg(long)]
        tenant: Option<String>,
        /// Print what would be shredded; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `recall retention run`: runs retention now and prints what it did to each tenant.
pub fn run_cli(data: &std::path::Path, cmd: RetentionCommand) -> anyhow::Result<()> {
    let RetentionCommand::Run { tenant, dry_run } = cmd;
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    let policy = dir.config.retention.policy();
    let runs = run(
        &dir.path,
        &db,
        &policy,
        tenant.as_deref(),
        dry_run,
        Timestamp::now(),
    )?;
    for r in runs {
        let verb = if dry_run { "would shred" } else { "shredded" };
        let what = if r.epochs.is_empty() {
            "nothing past retention".to_string()
        } else {
            let list: Vec<String> = r.epochs.iter().map(u32::to_string).collect();
            format!("{verb} epochs {}", list.join(", "))
        };
        let held = if r.held.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = r.held.iter().map(u32::to_string).collect();
            format!("; kept by legal holds: {}", list.join(", "))
        };
        println!(
            "tenant {}: retention {} years (events before {}): {what}{held}",
            r.tenant, r.years, r.cutoff
        );
    }
    Ok(())
}
