//! The checkpointer thread: signs a checkpoint of every log that grew, once per interval,
//! off the writer's commit path (signing appends and syncs the checkpoint file, which
//! would otherwise stall every acknowledgement waiting behind it).

use std::collections::HashSet;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use recall_query::Db;

/// Tenants whose logs grew since their last checkpoint (the writer adds, the
/// checkpointer takes).
#[derive(Default)]
pub(super) struct Grown(Mutex<HashSet<String>>);

impl Grown {
    pub(super) fn add(&self, tenant: &str) {
        let mut set = self.lock();
        if !set.contains(tenant) {
            set.insert(tenant.to_string());
        }
    }

    fn take(&self) -> HashSet<String> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Signs every `interval` until `stop` closes (the writer has exited), then once more so
/// the last appends are covered.
pub(super) fn run(db: &Db, grown: &Grown, stop: mpsc::Receiver<()>, interval: Duration) {
    loop {
        let stopping = matches!(
            stop.recv_timeout(interval),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        sign(db, grown);
        if stopping {
            return;
        }
    }
}

fn sign(db: &Db, grown: &Grown) {
    for tenant in grown.take() {
        let started = Instant::now();
        match db.journal().checkpoint(&tenant) {
            Ok(_) => metrics::histogram!("recall_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64()),
            Err(e) => {
                tracing::error!(error = %e, "signing a checkpoint failed");
                grown.add(&tenant);
            }
        }
    }
}
