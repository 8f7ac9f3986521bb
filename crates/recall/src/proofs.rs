//! Text forms of proofs printed by `recall proof` (docs/design/proof-text.md).
//!
//! Inclusion:
//! ```text
//! recall-inclusion-proof/v1
//! origin <origin>
//! seq <N>
//! leaf <base64 leaf hash>
//! size <tree size>
//! root <base64 root>
//! hash <base64>            (one line per proof hash, leaf side first)
//!
//! <signed checkpoint of that size>
//! ```
//! Consistency: `recall-consistency-proof/v1`, then `origin`, `old`, `old-root`, `size`,
//! `root`, `hash` lines, a blank line and the signed checkpoint.

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recall_ledger::{Checkpoint, Hash, verify_consistency, verify_inclusion};
use recall_store::Journal;

/// `recall proof` flags.
#[derive(Debug, clap::Args)]
pub struct ProofArgs {
    /// The tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Prove that this event is in the log.
    #[arg(
        long,
        conflicts_with = "from_size",
        required_unless_present = "from_size"
    )]
    seq: Option<u64>,
    /// Prove that the log extends its state at this size.
    #[arg(long)]
    from_size: Option<u64>,
}

/// `recall checkpoint` flags.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
}

/// `recall proof`: prints an inclusion or a consistency proof with its checkpoint.
pub fn run_proof(data: &std::path::Path, args: ProofArgs) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    let text = match (args.seq, args.from_size) {
        (Some(seq), _) => inclusion(&dir.journal, &args.tenant, seq)?,
        (None, Some(old)) => consistency(&dir.journal, &args.tenant, old)?,
        (None, None) => bail!("give --seq or --from-size"),
    };
    print!("{text}");
    Ok(())
}

/// `recall checkpoint`: prints the tenant's latest signed checkpoint.
pub fn run_checkpoint(data: &std::path::Path, args: CheckpointArgs) -> anyhow::Result<()> {
    let dir = crate::datadir::DataDir::open(data, false)?;
    print!("{}", dir.journal.checkpoint(&args.tenant)?);
    Ok(())
}

fn b64(h: &Hash) -> String {
    B64.encode(h)
}

/// The latest checkpoint (signing a fresh one if the log has grown) and its parsed body.
fn current(journal: &Journal, tenant: &str) -> anyhow::Result<(String, Checkpoint)> {
    let note = journal.checkpoint(tenant)?;
    let cp = journal.parse_checkpoint(&note)?;
    Ok((note, cp))
}

/// Inclusion proof of `seq` against the tenant's current checkpoint.
pub fn inclusion(journal: &Journal, tenant: &str, seq: u64) -> anyhow::Result<String> {
    let (note, cp) = current(journal, tenant)?;
    if seq >= cp.size {
        bail!("seq {seq} is not in the log (it holds {} events)", cp.size);
    }
    let leaf = journal.leaf(tenant, seq)?;
    let proof = journal.inclusion_proof(tenant, seq, cp.size)?;
    verify_inclusion(&leaf, seq, cp.size, &proof, &cp.root)
        .context("self-check of the proof failed")?;
    let head = format!(
        "recall-inclusion-proof/v1\norigin {}\nseq {seq}\nleaf {}\nsize {}\nroot {}\n",
        cp.origin,
        b64(&leaf),
        cp.size,
        b64(&cp.root)
    );
    Ok(render(head, &proof, &note))
}

/// The header lines, one `hash` line per proof hash, a blank line, the signed checkpoint.
fn render(mut out: String, proof: &[Hash], note: &str) -> String {
    for h in proof {
        out.push_str(&format!("hash {}\n", b64(h)));
    }
    out.push('\n');
    out.push_str(note);
    out
}

/// Consistency proof from size `old` to the tenant's current checkpoint.
pub fn consistency(journal: &Journal, tenant: &str, old: u64) -> anyhow::Result<String> {
    let (note, cp) = current(journal, tenant)?;
    if old > cp.size {
        bail!("size {old} is larger than the log ({} events)", cp.size);
    }
    let old_root = journal.root_at(tenant, old)?;
    let proof = journal.consistency_proof(tenant, old, cp.size)?;
    verify_consistency(old, cp.size, &old_root, &cp.root, &proof)
        .context("self-check of the proof failed")?;
    let head = format!(
        "recall-consistency-proof/v1\norigin {}\nold {old}\nold-root {}\nsize {}\nroot {}\n",
        cp.origin,
        b64(&old_root),
        cp.size,
        b64(&cp.root)
    );
    Ok(render(head, &proof, &note))
}
