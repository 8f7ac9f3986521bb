//! `recall serve`: the HTTP service over an opened data directory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use recall_query::Db;
use recall_server::auth::{ApiKeys, Authenticator, JwtVerifier};

use crate::datadir::{self, DataDir};

/// `recall serve`: serves the data directory until SIGINT or SIGTERM.
pub fn run(data: &std::path::Path, listen: Option<String>) -> anyhow::Result<()> {
    let dir = DataDir::open(data, false)?;
    let db = open_db(&dir)?;
    serve(dir, db, listen, |addr| {
        eprintln!("recall listening on {addr}");
    })
}

/// What the server holds beyond the budgets its configuration sets (`server.cache_mb`,
/// `[index]`), MiB: code and threads, tokio and hyper buffers, SQLite, the block-table
/// run cache, Bloom and id filters and block indexes (these grow by ~4 MiB a million
/// events), a log segment's scan window, and allocator slack. Measured on a 2.9M-event
/// data directory (docs/design/service.md, "Memory"); the soak test asserts it.
pub const MEMORY_ALLOWANCE_MB: u64 = 304;

/// The server's memory bound, MiB: its configured budgets plus [`MEMORY_ALLOWANCE_MB`].
pub fn memory_budget_mb(cache_mb: usize, index: &recall_query::IndexMemory) -> u64 {
    cache_mb as u64 + index.total_mb() + MEMORY_ALLOWANCE_MB
}

/// Opens the indexes of a data directory, catching them up with the logs, and appends
/// the records that waited in the outbox while a server held the directory.
pub fn open_db(dir: &DataDir) -> anyhow::Result<Arc<Db>> {
    let cache = dir.config.server.cache_mb.saturating_mul(1 << 20);
    let index = dir.config.index;
    let db = Db::open_with(
        dir.journal.clone(),
        &dir.path.join(datadir::INDEX),
        cache,
        index,
    )
    .context("opening the indexes")?;
    crate::operator_cli::drain_outbox(dir, &db).context("appending the outbox")?;
    Ok(Arc::new(db))
}

/// The API-key table of a data directory.
pub fn api_keys(dir: &DataDir) -> anyhow::Result<ApiKeys> {
    let pepper = dir
        .journal
        .keystore()
        .named_secret(recall_governance::PEPPER_SECRET)
        .context("reading the API-key pepper")?;
    ApiKeys::open(&dir.path.join(recall_governance::API_KEYS_FILE), pepper)
        .context("opening the API-key table")
}

fn authenticator(dir: &DataDir) -> anyhow::Result<Authenticator> {
    let jwt = match &dir.config.server.jwt {
        Some(cfg) => Some(JwtVerifier::from_config(cfg).context("configuring JWT verification")?),
        None => None,
    };
    Ok(Authenticator::new(Some(api_keys(dir)?), jwt))
}

/// Serves until SIGINT or SIGTERM, then drains the writer (everything acknowledged is
/// durable, a final checkpoint is signed) and returns. `on_bound` learns the address.
pub fn serve(
    dir: DataDir,
    db: Arc<Db>,
    listen: Option<String>,
    on_bound: impl FnOnce(SocketAddr) + Send + 'static,
) -> anyhow::Result<()> {
    let mut cfg = dir.config.server.clone();
    if let Some(l) = listen {
        cfg.listen = l;
    }
    cfg.data_dir = Some(dir.path.clone());
    cfg.policy = dir.config.disclosure()?;
    cfg.retention = dir.config.retention.policy();
    cfg.reviews = dir.config.reviews.deadlines();
    cfg.console = dir.config.console.clone();
    cfg.verify_interval = dir
        .config
        .integrity
        .interval()
        .map_err(anyhow::Error::msg)?;
    recall_server::telemetry::init_logging();
    let metrics = recall_server::telemetry::install_metrics();
    let auth = authenticator(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("recall-http")
        .build()?;
    let state = recall_server::state(db, auth, cfg.clone(), Some(metrics.clone()))?;
    let app = recall_server::app(state.clone());
    let marker = runtime
        .block_on(recall_server::governance::start_recording(&state))
        .context("recording the start in every tenant's log")?;
    let listeners = runtime
        .block_on(recall_server::syslog::start(
            &state,
            &dir.config.sources,
            |name, kind, addr| eprintln!("recall syslog {name} {kind:?} listening on {addr}"),
        ))
        .context("starting the syslog sources")?;
    let sinks = {
        let _in_runtime = runtime.enter();
        recall_server::forward::start(&state, &dir.config.sinks).context("starting the sinks")?
    };
    {
        let _in_runtime = runtime.enter();
        recall_server::governance::spawn_periodic(state.clone());
        recall_server::governance::spawn_outbox_drain(state.clone());
        recall_server::integrity::spawn_scheduled(state.clone());
        recall_server::telemetry::spawn_upkeep(metrics);
    }
    let stop = shutdown_signal(&runtime)?;
    let served = runtime.block_on(recall_server::listen::serve(app, &cfg, on_bound, stop));
    state.ready.store(false, Ordering::Release);
    // No syslog message is taken after the stop is recorded.
    listeners.iter().for_each(tokio::task::JoinHandle::abort);
    sinks.iter().for_each(tokio::task::JoinHandle::abort);
    tracing::info!("stopping: recording the stop, draining the writer");
    if let Err(e) = runtime.block_on(recall_server::governance::stop_recording(&state, marker)) {
        // The next start records that this run ended without its stop record.
        tracing::error!(error = %e, "recording the stop failed");
    }
    state.ingest.shutdown();
    drop(runtime);
    served.context("serving")?;
    Ok(())
}

/// Resolves at SIGINT or SIGTERM. The handlers are installed here, before the address
/// is announced: a signal that came before them would kill the process without its
/// stop record and final checkpoint.
fn shutdown_signal(
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let _in_runtime = runtime.enter();
    let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
