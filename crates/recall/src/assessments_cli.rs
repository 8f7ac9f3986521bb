//! `recall assessments`: breach impact assessments on the data directory directly,
//! through the same `recall_governance::assessments` workflows as the API. Changes are
//! recorded in the tenant's log as the operating-system user; reads are audited like
//! the API's reads (an event before the answer is printed).

use std::path::Path;

use anyhow::bail;
use recall_governance::assessment::{Decision, Factors, OpenRequest, ScopeDoc, UpdateRequest};
use recall_governance::assessment_pdf;
use recall_governance::assessments;
use recall_governance::workflows::Actor;
use recall_governance::{Assessments, Books, Direct, UseKind, Via, operator, patients_csv, shown};
use recall_query::Db;
use serde_json::{Map, json};

use crate::query_cli::{ViewArgs, audit, check_tenant};

/// The `assessments` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum AssessmentsCommand {
    /// Open an assessment: computes the accesses in scope, the affected patients and the
    /// notification deadlines from the log.
    Open(OpenArgs),
    /// List a tenant's assessments.
    List {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Whose view.
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Show one assessment with its history.
    Show {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The assessment id.
        id: String,
        /// `json`, or `pdf` (written to standard output).
        #[arg(long, value_parser = ["json", "pdf"], default_value = "json")]
        format: String,
        /// Whose view.
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Change an assessment's description, discovery date, factors or decision.
    Update(UpdateArgs),
    /// The affected patients as CSV (for the notification mailing; --as privacy_officer).
    Patients {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The assessment id.
        id: String,
        /// Whose view (only privacy_officer may print the list).
        #[command(flatten)]
        view: ViewArgs,
    },
}

/// `recall assessments open` flags.
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// Tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// What happened.
    #[arg(long)]
    description: String,
    /// Date of discovery (YYYY-MM-DD).
    #[arg(long)]
    discovered: String,
    /// Window start (RFC 3339, inclusive).
    #[arg(long)]
    from: String,
    /// Window end (RFC 3339, exclusive).
    #[arg(long)]
    to: String,
    /// In scope: this actor (repeatable).
    #[arg(long = "actor")]
    actors: Vec<String>,
    /// In scope: this source address (repeatable).
    #[arg(long = "ip")]
    ips: Vec<String>,
    /// In scope: this source system (repeatable).
    #[arg(long = "system")]
    systems: Vec<String>,
    /// In scope: this resource type (repeatable).
    #[arg(long = "resource-type")]
    resource_types: Vec<String>,
    /// In scope: this patient (repeatable).
    #[arg(long = "patient")]
    patients: Vec<String>,
}

/// `recall assessments update` flags: each given replaces the current value.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The assessment id.
    id: String,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    /// Corrected discovery date (YYYY-MM-DD).
    #[arg(long)]
    discovered: Option<String>,
    /// Factor 1: nature and extent of the PHI involved.
    #[arg(long)]
    nature: Option<String>,
    /// Factor 2: the unauthorised person.
    #[arg(long)]
    unauthorized_person: Option<String>,
    /// Factor 3: whether the PHI was actually acquired or viewed.
    #[arg(long)]
    acquired_or_viewed: Option<String>,
    /// Factor 4: the extent of mitigation.
    #[arg(long)]
    mitigation: Option<String>,
    /// The decision.
    #[arg(long, value_parser = ["breach", "not-breach"], requires = "reason")]
    decision: Option<String>,
    /// Why (with --decision).
    #[arg(long, requires = "decision")]
    reason: Option<String>,
}

impl UpdateArgs {
    fn request(self) -> UpdateRequest {
        let factors = Factors {
            nature: self.nature,
            unauthorized_person: self.unauthorized_person,
            acquired_or_viewed: self.acquired_or_viewed,
            mitigation: self.mitigation,
        };
        UpdateRequest {
            description: self.description,
            discovered: self.discovered,
            factors: (factors != Factors::default()).then_some(factors),
            decision: self.decision.zip(self.reason).map(|(d, reason)| Decision {
                breach: d == "breach",
                reason,
            }),
        }
    }
}

/// `recall assessments …` on the data directory at `data`.
pub fn run_cli(data: &Path, cmd: AssessmentsCommand) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    let db = crate::serve::open_db(&dir)?;
    let policy = dir.config.disclosure()?;
    let store = Assessments::open(&dir.path.join(recall_governance::ASSESSMENTS_FILE))?;
    let states = recall_governance::roster::RosterStates::new(
        db.clone(),
        dir.path.join(recall_governance::sealed::SEALED_FILE),
    );
    let books = Books {
        db: &db,
        store: &store,
        states: &states,
    };
    let who = operator::current();
    let recorder = Direct::new(&db);
    let change = |command: &'static str, f: &dyn Fn(&Actor<'_>) -> anyhow::Result<()>| {
        let via = Via::cli(command);
        f(&Actor {
            who: &who,
            via: &via,
            recorder: &recorder,
        })
    };
    match cmd {
        AssessmentsCommand::Open(a) => {
            check_tenant(&db, &a.tenant)?;
            let req = OpenRequest {
                description: a.description,
                discovered: a.discovered,
                scope: ScopeDoc {
                    actors: a.actors,
                    ips: a.ips,
                    systems: a.systems,
                    resource_types: a.resource_types,
                    patients: a.patients,
                    from: a.from,
                    to: a.to,
                },
            };
            change("recall assessments open", &|by| {
                let opened = assessments::open(&books, by, &a.tenant, &req)?;
                println!("{}", json!(opened));
                Ok(())
            })
        }
        AssessmentsCommand::Update(u) => {
            let (tenant, id) = (u.tenant.clone(), u.id.clone());
            let req = u.request();
            change("recall assessments update", &|by| {
                match assessments::update(&books, by, &tenant, &id, &req)? {
                    Some(a) => println!("{}", json!(a)),
                    None => bail!("tenant {tenant} has no assessment {id}"),
                }
                Ok(())
            })
        }
        AssessmentsCommand::List { tenant, view } => {
            let lens = view.lens(&db, &tenant, &policy)?;
            read_audit(&db, &tenant, "recall assessments list", None, &view)?;
            for a in assessments::list(&books, &tenant)? {
                println!("{}", shown(&a, &lens));
            }
            Ok(())
        }
        AssessmentsCommand::Show {
            tenant,
            id,
            format,
            view,
        } => {
            let lens = view.lens(&db, &tenant, &policy)?;
            read_audit(&db, &tenant, "recall assessments show", Some(&id), &view)?;
            let Some(versions) = assessments::history(&books, &tenant, &id)? else {
                bail!("tenant {tenant} has no assessment {id}");
            };
            let doc = assessment_pdf::shown_history(&versions, &lens);
            if format == "pdf" {
                let bytes = assessment_pdf::pdf(&doc, jiff::Timestamp::now())?;
                std::io::Write::write_all(&mut std::io::stdout(), &bytes)?;
            } else {
                println!("{doc}");
            }
            Ok(())
        }
        AssessmentsCommand::Patients { tenant, id, view } => {
            if view.view != "privacy_officer" {
                bail!("--as: only privacy_officer may print the affected-patient list");
            }
            let lens = view.lens(&db, &tenant, &policy)?;
            read_audit(
                &db,
                &tenant,
                "recall assessments patients",
                Some(&id),
                &view,
            )?;
            let Some(list) = assessments::patients(&books, &tenant, &id)? else {
                bail!("tenant {tenant} has no assessment {id}");
            };
            patients_csv(&list, &lens, &mut std::io::stdout().lock())?;
            Ok(())
        }
    }
}

/// Records the CLI's read of assessments before anything is printed.
fn read_audit(
    db: &Db,
    tenant: &str,
    command: &str,
    id: Option<&str>,
    view: &ViewArgs,
) -> anyhow::Result<()> {
    check_tenant(db, tenant)?;
    let mut query = Map::new();
    if let Some(id) = id {
        query.insert("assessment".into(), json!(id));
    }
    view.record(&mut query);
    let justification = view.justification.as_deref();
    audit(
        db,
        tenant,
        UseKind::Report,
        command,
        None,
        query,
        justification,
    )
}
