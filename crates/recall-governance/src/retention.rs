//! The retention run (docs/design/retention.md), the one used by `recall retention run`
//! and by the server's periodic run: for each tenant, the months past its retention
//! period that no active legal hold keeps are recorded in the tenant's log, then their
//! keys are destroyed.
//!
//! Record first, shred second: a run cut off in between has said what it was about to
//! do, and the next run finishes it (and records again) — never keys destroyed without a
//! record. The holds are read here and nowhere else, so no caller can run retention that
//! skips them.

use std::collections::BTreeSet;

use jiff::Timestamp;
use recall_query::Db;
use recall_store::retention::{
    HeldMonths, Retention, RetentionRecord, epoch_ranges, split_key_epoch,
};

use crate::GovernanceError;
use crate::holds::Holds;
use crate::record::{Act, Via, Who};
use crate::recorder::Recorder;

/// What a run did (or, dry, would do) to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRun {
    /// The tenant.
    pub tenant: String,
    /// Its retention period, years.
    pub years: u32,
    /// Events before this are past retention.
    pub cutoff: Timestamp,
    /// Epochs shredded (dry run: that would be).
    pub epochs: Vec<u32>,
    /// Months past retention that active holds kept.
    pub held: Vec<u32>,
}

/// How a run goes.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    /// The policy.
    pub retention: &'a Retention,
    /// Only this tenant (every tenant with a log when `None`).
    pub only: Option<&'a str>,
    /// Record and destroy nothing; say what would be shredded.
    pub dry_run: bool,
    /// The time the run takes as now.
    pub now: Timestamp,
}

/// Who runs it and where it records.
pub struct Runner<'a> {
    /// The log and its indexes.
    pub db: &'a Db,
    /// The legal holds.
    pub holds: &'a Holds,
    /// Where the run's record goes.
    pub recorder: &'a dyn Recorder,
    /// Who runs it (`recall:retention` or the operator).
    pub who: &'a Who,
    /// The server's task or the CLI command.
    pub via: &'a Via,
}

/// Runs retention over every tenant (or `opts.only`); see the module doc.
pub fn run(runner: &Runner<'_>, opts: &RunOptions<'_>) -> Result<Vec<TenantRun>, GovernanceError> {
    let journal = runner.db.journal();
    let tenants = journal.store().tenants()?;
    let tenants = match opts.only {
        Some(t) if tenants.iter().any(|k| k == t) => vec![t.to_owned()],
        Some(t) => return Err(GovernanceError::UnknownTenant(t.to_owned())),
        None => tenants,
    };
    tenants
        .into_iter()
        .map(|tenant| run_tenant(runner, opts, tenant))
        .collect()
}

fn run_tenant(
    runner: &Runner<'_>,
    opts: &RunOptions<'_>,
    tenant: String,
) -> Result<TenantRun, GovernanceError> {
    let RunOptions { retention, now, .. } = *opts;
    let journal = runner.db.journal();
    let past = journal.expired_epochs(&tenant, retention, now, &|_| false)?;
    let past_months: BTreeSet<u32> = past.iter().map(|e| split_key_epoch(*e).0).collect();
    let mut holds = Vec::new();
    let mut held = BTreeSet::new();
    for hold in runner.holds.active(&tenant)? {
        let months: Vec<u32> = hold
            .months(runner.db)?
            .intersection(&past_months)
            .copied()
            .collect();
        held.extend(months.iter().copied());
        holds.push(HeldMonths {
            id: hold.id,
            months,
        });
    }
    let expired: Vec<u32> = past
        .into_iter()
        .filter(|e| !held.contains(&split_key_epoch(*e).0))
        .collect();
    let mut out = TenantRun {
        years: retention.years(&tenant),
        cutoff: retention.cutoff(&tenant, now),
        tenant,
        epochs: expired,
        held: held.into_iter().collect(),
    };
    if opts.dry_run || out.epochs.is_empty() {
        return Ok(out);
    }
    let record = RetentionRecord {
        years: out.years,
        cutoff: out.cutoff,
        shredded_epochs: out.epochs.clone(),
        previously_shredded: epoch_ranges(&journal.keystore().forgotten_epochs(&out.tenant)?),
        holds: Some(holds),
    };
    let event = Act::RetentionRun(&record).event(runner.who, runner.via, now)?;
    // Record first: keys are never destroyed without a record in the log.
    runner.recorder.record(&out.tenant, event)?;
    out.epochs = journal.shred(&out.tenant, &out.epochs)?;
    Ok(out)
}
