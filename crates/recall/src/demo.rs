//! `recall demo`: a data directory with a synthetic hospital, served on localhost.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use recall_governance::Role;
use recall_governance::workflows::{self, NewKey};
use recall_synth::{Config, Event, Generator, write_json_line};

use crate::datadir::{self, DataDir};
use crate::import::{ImportOptions, import};
use crate::serve;

/// Tenant of the demo hospital.
pub const TENANT: &str = "demo";

/// Initialises `path` if it is empty, loads `events` synthetic events (first run only),
/// creates an auditor and a writer key and serves until interrupted.
pub fn run(path: &std::path::Path, events: u64, listen: Option<String>) -> anyhow::Result<()> {
    let fresh = !path.join(crate::config::FILE).exists();
    if fresh {
        datadir::init(path)?;
        eprintln!("initialised {}", path.display());
    }
    let dir = DataDir::open(path, false)?;
    let mut sample_patient = None;
    if fresh || dir.journal.store().tenants()?.is_empty() {
        eprintln!("generating and importing {events} synthetic events (tenant {TENANT})…");
        let (ndjson, patient) = generate(events);
        sample_patient = patient;
        let summary = import(
            &dir.journal,
            &mut ndjson.as_slice(),
            ImportOptions {
                tenant: TENANT.into(),
                batch_events: dir.config.import.batch_events,
                rejects: None,
                on_commit: None,
                workers: 0,
                retention: None,
            },
        )
        .context("importing the demo events")?;
        eprintln!("imported {} events", summary.imported);
        dir.journal.checkpoint(TENANT)?;
    }
    eprintln!("indexing…");
    let db = serve::open_db(&dir)?;
    let keys = serve::api_keys(&dir)?;
    let (who, via) = (
        recall_governance::operator::current(),
        recall_governance::Via::cli("recall demo"),
    );
    let recorder = recall_governance::Direct::new(&db);
    let by = workflows::Actor {
        who: &who,
        via: &via,
        recorder: &recorder,
    };
    let key = |role| {
        let new = NewKey {
            tenant: TENANT,
            role,
            label: Some("demo"),
            patient_binding: None,
            // The demo's own tenant, made by its import above.
            new_tenant: true,
        };
        workflows::create_key(&keys, &by, &new, &[]).map(|(_, text)| text)
    };
    let (reader, writer) = (key(Role::Auditor)?, key(Role::Writer)?);
    drop(keys);
    let scheme = if dir.config.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    serve::serve(dir, db, listen, move |addr: SocketAddr| {
        let url = format!("{scheme}://{addr}");
        let mut out = std::io::stdout().lock();
        let patient = sample_patient.unwrap_or_else(|| "<a patient id>".into());
        let _ = writeln!(
            out,
            "\nrecall is serving the demo hospital at {url}\n\
             API docs:    {url}/docs\n\
             reader key:  {reader}\n\
             writer key:  {writer}\n\n\
             try:\n  curl -H 'Authorization: Bearer {reader}' '{url}/v1/events?patient={patient}&limit=5'\n  \
             curl -H 'Authorization: Bearer {reader}' '{url}/v1/reports/patient-access?patient={patient}&format=csv'\n  \
             curl -H 'Authorization: Bearer {reader}' '{url}/v1/logs/{TENANT}/checkpoint'\n\n\
             Ctrl-C stops the server (everything acknowledged stays durable)."
        );
        let _ = out.flush();
    })
}

/// NDJSON of the synthetic hospital, and one patient of it to try queries with.
fn generate(n: u64) -> (Vec<u8>, Option<String>) {
    let mut generator = Generator::new(Config::hospital(n, 42));
    let mut ev = Event::default();
    let mut out = Vec::with_capacity(n as usize * 450);
    let mut patient = None;
    while generator.next_into(&mut ev) {
        if patient.is_none() && !ev.patient_id.is_empty() {
            patient = Some(ev.patient_id.clone());
        }
        write_json_line(&ev, &mut out);
    }
    (out, patient)
}
