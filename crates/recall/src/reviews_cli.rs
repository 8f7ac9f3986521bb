//! `recall reviews break-glass …`: the break-glass review queue on the data directory
//! directly. Listing and showing go through the same index reads and lens as the API's
//! `GET /v1/reviews/break-glass` and are audited like them; `review` calls the same
//! governance workflow as `POST /v1/reviews/break-glass/{seq}`, recorded as the
//! operating-system user (`cli:<user>`), appended by `recall:cli`.

use std::io::Write;

use anyhow::Context;
use jiff::Timestamp;
use recall_governance::reviews::{ReviewRequest, review_break_glass};
use recall_governance::{Direct, UseKind, Via, operator, workflows};
use recall_query::{Db, Deadlines, MAX_QUEUE_LIMIT, Policy, ReviewParams};
use serde_json::json;

use crate::query_cli::{ViewArgs, audit, check_tenant};

/// `recall reviews …`.
#[derive(Debug, clap::Subcommand)]
pub enum ReviewsCommand {
    /// The break-glass review queue.
    #[command(subcommand)]
    BreakGlass(BreakGlassCommand),
}

/// `recall reviews break-glass …`.
#[derive(Debug, clap::Subcommand)]
pub enum BreakGlassCommand {
    /// List break-glass accesses, newest first (NDJSON); audited like the API.
    List(ListArgs),
    /// One access with every review of it (JSON); audited like the API.
    Show {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The access's seq.
        seq: u64,
        /// Whose view.
        #[command(flatten)]
        view: QueueView,
    },
    /// Record a review of a break-glass access (never edited: a later one supersedes).
    Review {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The access's seq.
        seq: u64,
        /// appropriate, inappropriate, needs-follow-up or education.
        #[arg(long)]
        disposition: String,
        /// The reviewer's note.
        #[arg(long)]
        note: Option<String>,
    },
}

/// The roles that read the queue, as the API allows them.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueView {
    /// The role whose view to print: auditor or privacy_officer.
    #[arg(long = "as", default_value = "auditor", value_parser = ["auditor", "privacy_officer"])]
    pub view: String,
    /// Why the fields kept behind a justification are needed (recorded in the audit event).
    #[arg(long)]
    pub justification: Option<String>,
}

impl QueueView {
    fn args(&self) -> ViewArgs {
        ViewArgs {
            view: self.view.clone(),
            justification: self.justification.clone(),
        }
    }
}

/// `recall reviews break-glass list` flags (the API's parameters).
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// open, reviewed or all.
    #[arg(long, default_value = "open", value_parser = ["open", "reviewed", "all"])]
    pub state: String,
    /// Event time from (RFC 3339, inclusive).
    #[arg(long)]
    pub from: Option<Timestamp>,
    /// Event time until (RFC 3339, exclusive).
    #[arg(long)]
    pub to: Option<Timestamp>,
    /// actor.id of the access.
    #[arg(long)]
    pub actor: Option<String>,
    /// At most this many items (all when absent).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Whose view.
    #[command(flatten)]
    pub view: QueueView,
}

/// `recall reviews …` on the data directory at `data`.
pub fn run_cli(data: &std::path::Path, cmd: ReviewsCommand) -> anyhow::Result<()> {
    let ReviewsCommand::BreakGlass(cmd) = cmd;
    let endpoint = match &cmd {
        BreakGlassCommand::List(_) => "GET /v1/reviews/break-glass",
        BreakGlassCommand::Show { .. } => "GET /v1/reviews/break-glass/{seq}",
        BreakGlassCommand::Review { .. } => "POST /v1/reviews/break-glass/{seq}",
    };
    let dir = crate::datadir::DataDir::open_or_use(data, endpoint)?;
    let db = crate::serve::open_db(&dir)?;
    let policy = dir.config.disclosure()?;
    let deadlines = dir.config.reviews.deadlines();
    let out = &mut std::io::stdout().lock();
    match cmd {
        BreakGlassCommand::List(args) => {
            let n = list(&db, &policy, &deadlines, &args, out)?;
            eprintln!("{n} items");
        }
        BreakGlassCommand::Show { tenant, seq, view } => {
            show(&db, &policy, &deadlines, &tenant, seq, &view, out)?;
        }
        BreakGlassCommand::Review {
            tenant,
            seq,
            disposition,
            note,
        } => {
            check_tenant(&db, &tenant)?;
            let who = operator::current();
            let via = Via::cli("recall reviews break-glass review");
            let recorder = Direct::new(&db);
            let by = workflows::Actor {
                who: &who,
                via: &via,
                recorder: &recorder,
            };
            let req = ReviewRequest {
                tenant: &tenant,
                seq,
                disposition: &disposition,
                note: note.as_deref(),
            };
            review_break_glass(&db, &by, &req)?;
            writeln!(out, "{}", json!({"seq": seq, "disposition": disposition}))?;
        }
    }
    Ok(())
}

/// Prints the queue's items as NDJSON, every page; returns how many.
pub fn list(
    db: &Db,
    policy: &Policy,
    deadlines: &Deadlines,
    args: &ListArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    check_tenant(db, &args.tenant)?;
    let view = args.view.args();
    let lens = view.lens(db, &args.tenant, policy)?;
    let horizon = db.journal().store().size(&args.tenant)?;
    let params = ReviewParams {
        state: Some(args.state.clone()),
        from: args.from.map(|t| t.to_string()),
        to: args.to.map(|t| t.to_string()),
        actor: args.actor.clone(),
        limit: Some(MAX_QUEUE_LIMIT),
        cursor: None,
    };
    let mut query = params.query(&lens).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut recorded = params.recorded();
    view.record(&mut recorded);
    let command = "recall reviews break-glass list";
    let justification = view.justification.as_deref();
    audit(
        db,
        &args.tenant,
        UseKind::Search,
        command,
        None,
        recorded,
        justification,
    )?;
    let (now, deadline) = (Timestamp::now(), deadlines.for_tenant(&args.tenant));
    let mut printed = 0;
    loop {
        let page = db
            .break_glass_page(&args.tenant, &query, horizon)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for item in &page.items {
            if args.limit.is_some_and(|m| printed >= m) {
                return Ok(printed);
            }
            let v = item
                .json(&lens, now, deadline)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "{v}")?;
            printed += 1;
        }
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return Ok(printed),
        }
    }
}

/// Prints one item with its history (JSON).
pub fn show(
    db: &Db,
    policy: &Policy,
    deadlines: &Deadlines,
    tenant: &str,
    seq: u64,
    view: &QueueView,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    check_tenant(db, tenant)?;
    let view = view.args();
    let lens = view.lens(db, tenant, policy)?;
    let (item, history) = db
        .break_glass_item(tenant, seq)?
        .context("seq: no break-glass access at this seq")?;
    let mut q = serde_json::Map::new();
    q.insert("queue".into(), json!("break-glass"));
    q.insert("seq".into(), json!(seq));
    view.record(&mut q);
    let command = "recall reviews break-glass show";
    audit(
        db,
        tenant,
        UseKind::Search,
        command,
        None,
        q,
        view.justification.as_deref(),
    )?;
    let now = Timestamp::now();
    let mut v = item.json(&lens, now, deadlines.for_tenant(tenant))?;
    let h: Vec<_> = history
        .iter()
        .map(|r| r.json(&lens))
        .collect::<Result<_, _>>()?;
    v["history"] = json!(h);
    writeln!(out, "{v}")?;
    Ok(())
}
