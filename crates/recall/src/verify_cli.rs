//! `recall verify`: every log (bodies, tiles, checkpoints, shredded months against their
//! retention records), read-only; exit 0 only if everything holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::datadir::DataDir;
use crate::import::rate;

/// `recall verify` flags.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Also prove that the log extends this checkpoint saved earlier (a signed note).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
}

/// Runs `recall verify` (the store opened read-only, without recovery).
pub fn run(data: &Path, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(data, true)?;
    run_verify(&dir, args.checkpoint, args.tenant)
}

fn run_verify(
    dir: &DataDir,
    checkpoint: Option<PathBuf>,
    tenant: Option<String>,
) -> anyhow::Result<ExitCode> {
    let saved = match &checkpoint {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let started = Instant::now();
    let report = recall_store::verify::verify(&dir.journal, tenant.as_deref(), saved.as_deref())?;
    let events: u64 = report.tenants.iter().map(|t| t.events).sum();
    for t in &report.tenants {
        let mut line = format!(
            "tenant {}: {} events, {} checkpoints checked",
            t.tenant, t.events, t.checkpoints
        );
        if t.saved_checkpoint_checked {
            line.push_str(", extends the saved checkpoint");
        }
        if let Some(at) = &t.torn_tail {
            line.push_str(&format!(
                ", unacknowledged torn tail at {at} (cut on next open)"
            ));
        }
        if t.tiles_behind > 0 {
            line.push_str(&format!(
                ", tiles of the last {} events not yet written (rebuilt on next open)",
                t.tiles_behind
            ));
        }
        println!("{line}");
        for r in &t.shredded {
            let (month, years) = recall_store::retention::split_key_epoch(r.epoch);
            let class = if years > 0 {
                format!(" (actions kept {years} years)")
            } else {
                String::new()
            };
            println!(
                "  epoch {month}{class}: {} events (seq {}..={}) shredded by policy at {}; leaves checked, bodies gone by design",
                r.events, r.first_seq, r.last_seq, r.at
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    match report.failure {
        None => {
            println!(
                "OK: verified {events} events in {} tenants in {secs:.2} s ({:.0} events/s)",
                report.tenants.len(),
                rate(events, started)
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(f) => {
            println!("FAILED: {f}");
            Ok(ExitCode::from(1))
        }
    }
}
