//! How the CLI records what an operator does to a data directory: as the operating-system
//! user (`recall_governance::operator`), appended to the log directly when this process can
//! take the data directory, or left in the outbox for the server that holds it (which
//! appends it within seconds; docs/design/governance.md).

use std::path::Path;

use recall_governance::outbox::{OUTBOX_FILE, Outbox};
use recall_governance::workflows::{self, Actor};
use recall_governance::{Act, Direct, GovernanceError, Via, operator};
use recall_store::StoreError;

use crate::datadir::DataDir;

/// Where an operator's record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedIn {
    /// Appended to the log.
    Log,
    /// Left in the outbox: a running server appends it.
    Outbox,
}

/// Runs `f` as the operator through `command`, with a recorder that appends to the log
/// when the data directory is free, else to the outbox.
pub fn as_operator<T>(
    data_dir: &Path,
    command: &str,
    f: impl FnOnce(&Actor<'_>, &[String]) -> Result<T, GovernanceError>,
) -> anyhow::Result<(T, RecordedIn)> {
    with_recorder(data_dir, command, true, f)
}

fn with_recorder<T>(
    data_dir: &Path,
    command: &str,
    outbox_allowed: bool,
    f: impl FnOnce(&Actor<'_>, &[String]) -> Result<T, GovernanceError>,
) -> anyhow::Result<(T, RecordedIn)> {
    let who = operator::current();
    let via = Via::cli(command);
    match DataDir::open(data_dir, false) {
        Ok(dir) => {
            let db = crate::serve::open_db(&dir)?;
            let tenants = dir.journal.store().tenants()?;
            let recorder = Direct::new(&db);
            let by = Actor {
                who: &who,
                via: &via,
                recorder: &recorder,
            };
            Ok((f(&by, &tenants)?, RecordedIn::Log))
        }
        Err(e)
            if outbox_allowed
                && matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Locked(_))) =>
        {
            let outbox = Outbox::open(&data_dir.join(OUTBOX_FILE))?;
            let tenants = tenants_on_disk(data_dir)?;
            let by = Actor {
                who: &who,
                via: &via,
                recorder: &outbox,
            };
            Ok((f(&by, &tenants)?, RecordedIn::Outbox))
        }
        Err(e) => Err(e),
    }
}

/// Records `act`, which touched every tenant's log (a key rotation, a reindex), in each.
/// Needs the data directory to itself (these acts do too): refused while a server runs.
pub fn record_everywhere(data_dir: &Path, command: &str, act: &Act<'_>) -> anyhow::Result<()> {
    with_recorder(data_dir, command, false, |by, tenants| {
        workflows::record_everywhere(tenants, by, act)
    })?;
    Ok(())
}

/// The tenants with a log, read from the directory tree (the store is held elsewhere).
fn tenants_on_disk(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir.join(crate::datadir::TENANTS))? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Some(name) = entry.file_name().to_str()
            && recall_model::validate_tenant(name).is_ok()
        {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Appends whatever waits in the outbox (records left while a server held the directory).
pub fn drain_outbox(dir: &DataDir, db: &recall_query::Db) -> anyhow::Result<usize> {
    let path = dir.path.join(OUTBOX_FILE);
    if !path.exists() {
        return Ok(0);
    }
    Ok(Outbox::open(&path)?.drain(&Direct::new(db))?)
}
