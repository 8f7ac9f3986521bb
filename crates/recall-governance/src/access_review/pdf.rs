//! The access review as a PDF, for the reviewer's file: the CSV form's rows (the same
//! lens, so one mechanism decides what a reader sees), one table per section, and the
//! SHA-256 of the JSON form: the digest a sign-off names, so the signed PDF and the
//! recorded sign-off can be matched later.

use jiff::Timestamp;
use recall_pdf::{Column, Document, Meta, PdfError};
use recall_query::Lens;

use super::Review;
use super::render::{CSV_COLUMNS, Row, rows};

/// A section: its CSV `section` value, title, what it means, and the CSV columns it
/// shows (index, share of the width).
type Section = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(usize, f32)],
);

const SECTIONS: [Section; 5] = [
    (
        "actor",
        "Who touched PHI",
        "Every actor with an access to a patient's record in the period.",
        &[
            (1, 0.10),
            (2, 0.10),
            (3, 0.13),
            (4, 0.13),
            (7, 0.07),
            (8, 0.08),
            (9, 0.10),
            (10, 0.07),
            (13, 0.22),
        ],
    ),
    (
        "not_in_roster",
        "Actors not in the roster",
        "Accounts that accessed PHI but that the workforce roster does not know.",
        &[(3, 1.0)],
    ),
    (
        "after_status",
        "Accesses after termination or leave",
        "Hours from the status date to the last access; over 24 h is flagged.",
        &[
            (3, 0.2),
            (5, 0.13),
            (6, 0.2),
            (13, 0.2),
            (14, 0.09),
            (15, 0.1),
            (16, 0.08),
        ],
    ),
    (
        "dormant",
        "Dormant accounts",
        "Active in the roster, no access in the period.",
        &[(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)],
    ),
    (
        "credential",
        "recall credentials that read PHI",
        "API keys and JWT subjects of roles that read PHI, with their uses and last use.",
        &[
            (1, 0.18),
            (3, 0.34),
            (7, 0.1),
            (13, 0.22),
            (17, 0.08),
            (18, 0.08),
        ],
    ),
];

/// The forms a review is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// JSON (the form a sign-off's digest names).
    Json,
    /// CSV, one table of sections.
    Csv,
    /// PDF, one table per section.
    Pdf,
}

/// The review in `form` through `lens`, and the SHA-256 of its JSON form for the same
/// reader (what a sign-off names, whatever the form): the server and the CLI both call
/// this, so both give the same digest.
pub fn rendered(
    r: &Review,
    lens: &Lens,
    form: Form,
    produced_by: &str,
    now: Timestamp,
) -> Result<(Vec<u8>, String), PdfError> {
    let json = super::render::json(r, lens);
    let digest = super::digest(&json);
    let body = match form {
        Form::Json => json,
        Form::Csv => super::render::csv(r, lens),
        Form::Pdf => pdf(r, lens, &digest, produced_by, now)?,
    };
    Ok((body, digest))
}

/// The review as a PDF. `sha256` is the digest of the JSON form of the same review for
/// the same reader ([`super::digest`] of [`super::render::json`]).
pub fn pdf(
    r: &Review,
    lens: &Lens,
    sha256: &str,
    produced_by: &str,
    now: Timestamp,
) -> Result<Vec<u8>, PdfError> {
    let meta = Meta {
        title: "Access review",
        author: "recall",
        subject: "periodic review of access to PHI",
        created: now,
    };
    let mut doc = Document::new(Vec::new(), &meta)?;
    doc.title("Access review")?;
    let period = format!("{} to {} (end exclusive)", r.from, r.to);
    let roster = match &r.roster {
        Some(w) => format!("{} members", w.members.len()),
        None => "none imported: roster checks not made".to_string(),
    };
    let produced = format!("{now} by {produced_by}");
    doc.key_values(&[
        ("Tenant", r.tenant.as_str()),
        ("Period", &period),
        ("Workforce roster", &roster),
        ("Produced", &produced),
        ("SHA-256 (JSON form)", sha256),
    ])?;
    doc.paragraph(
        "The SHA-256 above is that of this review's JSON form for the same reader; a \
         sign-off (POST /v1/reports/access-review/signoff) records it in the log.",
    )?;
    let all = rows(r, lens);
    for (section, title, about, cols) in SECTIONS {
        if r.roster.is_none() && !matches!(section, "actor" | "credential") {
            continue;
        }
        section_table(&mut doc, &all, section, title, about, cols)?;
    }
    doc.finish()
}

fn section_table(
    doc: &mut Document<Vec<u8>>,
    all: &[Row],
    section: &str,
    title: &str,
    about: &str,
    cols: &[(usize, f32)],
) -> Result<(), PdfError> {
    doc.heading(title)?;
    doc.paragraph(about)?;
    let rows: Vec<&Row> = all.iter().filter(|row| row[0] == section).collect();
    if rows.is_empty() {
        return doc.paragraph("None.");
    }
    let columns: Vec<Column> = cols
        .iter()
        .map(|&(i, share)| Column::new(CSV_COLUMNS[i], share))
        .collect();
    let mut table = doc.table(&columns)?;
    for row in rows {
        let cells: Vec<&str> = cols.iter().map(|&(i, _)| row[i].as_str()).collect();
        table.row(&cells)?;
    }
    table.end();
    Ok(())
}
