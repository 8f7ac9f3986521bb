//! `recall roster import` and `recall report access-review [signoff]`: the same
//! workflows as `PUT /v1/roster` and `/v1/reports/access-review`
//! (`recall_governance::roster`, `recall_governance::access_review`), on the data
//! directory directly, recorded as the operator (`cli:<os user>`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use jiff::Timestamp;
use recall_governance::access_review::pdf::Form;
use recall_governance::access_review::{self, Signoff};
use recall_governance::roster::{self, Kind};
use recall_governance::sealed::{SEALED_FILE, Sealed};
use recall_governance::workflows::Actor;
use recall_governance::{Direct, UseKind, Via, operator};
use recall_query::{Db, Policy, TimeRange};
use serde_json::{Map, json};

use crate::query_cli::{ViewArgs, check_tenant};

/// The `roster` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum RosterCommand {
    /// Replace a tenant's roster with FILE (CSV with a header, or NDJSON; - for standard
    /// input), all or nothing; recorded in the log with counts only.
    Import {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Which roster: workforce (user_id, name, role, department, status, hire_date,
        /// status_date) or patients (patient_id, state).
        #[arg(long, default_value = "workforce", value_parser = ["workforce", "patients"])]
        kind: String,
        /// The roster file.
        file: PathBuf,
    },
}

fn sealed(dir: &Path) -> anyhow::Result<Sealed> {
    Sealed::open(&dir.join(SEALED_FILE)).context("opening the sealed documents")
}

/// `recall roster import …`.
pub fn run_roster(data: &Path, cmd: RosterCommand) -> anyhow::Result<()> {
    let RosterCommand::Import { tenant, kind, file } = cmd;
    let endpoint = match kind.as_str() {
        "patients" => "PUT /v1/roster/patients",
        _ => "PUT /v1/roster",
    };
    let dir = crate::datadir::DataDir::open_or_use(data, endpoint)?;
    let db = crate::serve::open_db(&dir)?;
    check_tenant(&db, &tenant)?;
    let input = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
    };
    let kind = Kind::parse(&kind).context("--kind: workforce or patients")?;
    let (who, via) = (operator::current(), Via::cli("recall roster import"));
    let recorder = Direct::new(&db);
    let by = Actor {
        who: &who,
        via: &via,
        recorder: &recorder,
    };
    let counts = roster::import(&db, &sealed(&dir.path)?, &by, &tenant, kind, &input)?;
    println!("{}", json!(counts));
    Ok(())
}

/// What `recall report access-review` is asked for.
pub struct ReviewRequest<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The period.
    pub range: TimeRange,
    /// The form: JSON, CSV or PDF.
    pub form: Form,
    /// Whose view.
    pub view: &'a ViewArgs,
}

/// Writes the access review to `out` (after recording its use); returns its SHA-256.
pub fn access_review(
    db: &Db,
    dir: &crate::datadir::DataDir,
    policy: &Policy,
    req: &ReviewRequest<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<String> {
    check_tenant(db, req.tenant)?;
    if req.view.view == "patient" {
        anyhow::bail!("--as patient: only the patient-access report");
    }
    let (Some(from), Some(to)) = (req.range.from, req.range.to) else {
        anyhow::bail!("an access review needs --from and --to");
    };
    let lens = req.view.lens(db, req.tenant, policy)?;
    let mut q = Map::new();
    q.insert("report".into(), json!("access-review"));
    q.insert("from".into(), json!(from.to_string()));
    q.insert("to".into(), json!(to.to_string()));
    req.view.record(&mut q);
    let justification = req.view.justification.as_deref();
    let command = "recall report access-review";
    crate::query_cli::audit(
        db,
        req.tenant,
        UseKind::Report,
        command,
        None,
        q,
        justification,
    )?;
    let roster = roster::workforce(db, &sealed(&dir.path)?, req.tenant)?;
    let keys = crate::serve::api_keys(dir)?.list_tenant(req.tenant)?;
    let review = access_review::compute(db, req.tenant, req.range, roster, &keys)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let produced_by = format!("{} (recall CLI)", operator::name());
    let (body, digest) =
        access_review::pdf::rendered(&review, &lens, req.form, &produced_by, Timestamp::now())?;
    out.write_all(&body)?;
    out.flush()?;
    Ok(digest)
}

/// `recall report access-review signoff`: records the sign-off in the tenant's log.
pub fn signoff(db: &Db, tenant: &str, s: &Signoff) -> anyhow::Result<()> {
    check_tenant(db, tenant)?;
    let (who, via) = (
        operator::current(),
        Via::cli("recall report access-review signoff"),
    );
    let recorder = Direct::new(db);
    let by = Actor {
        who: &who,
        via: &via,
        recorder: &recorder,
    };
    access_review::sign_off(&by, tenant, s)?;
    Ok(())
}

/// `recall report access-review [signoff]` flags beyond `recall report`'s own.
pub struct ReviewArgs {
    /// `Some` to sign off instead of printing the review.
    pub signoff: Option<(String, String)>,
    /// Tenant.
    pub tenant: String,
    /// Period start.
    pub from: Option<Timestamp>,
    /// Period end.
    pub to: Option<Timestamp>,
    /// The form: JSON, CSV or PDF.
    pub form: Form,
}

/// Runs `recall report access-review`: the review on standard output and its SHA-256
/// on standard error, or (`signoff`) the sign-off's record.
pub fn run(data: &Path, args: ReviewArgs, view: &ViewArgs) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    if let Some((reviewer, sha256)) = args.signoff {
        let (Some(from), Some(to)) = (args.from, args.to) else {
            anyhow::bail!("a sign-off needs --from and --to");
        };
        let s = Signoff {
            reviewer,
            from,
            to,
            sha256,
        };
        signoff(&db, &args.tenant, &s)?;
        println!("{}", json!(s));
        return Ok(());
    }
    let req = ReviewRequest {
        tenant: &args.tenant,
        range: TimeRange {
            from: args.from,
            to: args.to,
        },
        form: args.form,
        view,
    };
    let policy = dir.config.disclosure()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let digest = access_review(&db, &dir, &policy, &req, &mut out)?;
    eprintln!("sha256 {digest}");
    Ok(())
}
