//! A breach assessment as the document a privacy officer files: what happened, what
//! recall found, the notification deadlines, the four-factor risk assessment, the
//! decision and every version. Built from the lensed JSON the API returns
//! ([`shown_history`]), so the PDF never shows a reader more than the JSON would.

use jiff::Timestamp;
use recall_pdf::{Column, Document, Meta, PdfError};
use recall_query::Lens;
use serde_json::{Value, json};

use crate::assessment_view::shown;
use crate::assessments::{Version, version_json};

/// `{"assessment": latest, "history": [...]}` through `lens`: what the API and the CLI
/// answer, and what the PDF is made from.
pub fn shown_history(versions: &[Version], lens: &Lens) -> Value {
    let history: Vec<Value> = versions
        .iter()
        .map(|v| version_json(v, shown(&v.state, lens)))
        .collect();
    let latest = versions.last().map(|v| shown(&v.state, lens));
    json!({"assessment": latest, "history": history})
}

/// The four factors of the risk assessment, in the rule's order, with their keys.
pub const FACTORS: [(&str, &str); 4] = [
    ("nature", "1. Nature and extent of the PHI involved"),
    (
        "unauthorized_person",
        "2. The unauthorised person who used or received it",
    ),
    (
        "acquired_or_viewed",
        "3. Whether the PHI was actually acquired or viewed",
    ),
    (
        "mitigation",
        "4. The extent to which the risk has been mitigated",
    ),
];

/// The assessment (as [`shown_history`] gives it) as a PDF.
pub fn pdf(doc_json: &Value, now: Timestamp) -> Result<Vec<u8>, PdfError> {
    let a = &doc_json["assessment"];
    let meta = Meta {
        title: "Breach impact assessment",
        author: "recall",
        subject: "breach impact assessment",
        created: now,
    };
    let mut doc = Document::new(Vec::new(), &meta)?;
    doc.title("Breach impact assessment")?;
    let opened = format!("{} by {}", text(&a["opened"]), text(&a["opened_by"]));
    let updated = format!("{} by {}", text(&a["updated"]), text(&a["updated_by"]));
    let (id, version, discovered) = (text(&a["id"]), text(&a["version"]), text(&a["discovered"]));
    let produced = now.to_string();
    doc.key_values(&[
        ("Assessment", id.as_str()),
        ("Version", &version),
        ("Discovered", &discovered),
        ("Opened", &opened),
        ("Last change", &updated),
        ("Produced", &produced),
    ])?;
    doc.heading("The incident")?;
    doc.paragraph(&text(&a["description"]))?;
    pairs(&mut doc, &a["scope"])?;
    findings(&mut doc, &a["figures"])?;
    doc.heading("Notification deadlines")?;
    pairs(&mut doc, &a["deadlines"])?;
    doc.heading("Risk assessment")?;
    for (key, title) in FACTORS {
        doc.key_values(&[(title, "")])?;
        match a["factors"][key].as_str() {
            Some(t) => doc.paragraph(t)?,
            None => doc.paragraph("(not yet documented)")?,
        }
    }
    doc.heading("Decision")?;
    match a["decision"].as_object() {
        Some(d) => {
            let verdict = if d.get("breach") == Some(&json!(true)) {
                "a breach: notification required"
            } else {
                "not a breach"
            };
            let reason = d.get("reason").map(text).unwrap_or_default();
            doc.key_values(&[("Decision", verdict), ("Reason", &reason)])?;
        }
        None => doc.paragraph("(not yet decided)")?,
    }
    history(&mut doc, &doc_json["history"])?;
    doc.finish()
}

fn findings(doc: &mut Document<Vec<u8>>, figures: &Value) -> Result<(), PdfError> {
    doc.heading("What recall found")?;
    let (events, patients) = (text(&figures["events"]), text(&figures["patients"]));
    doc.key_values(&[
        ("Accesses in scope", events.as_str()),
        ("Distinct patients affected", &patients),
    ])?;
    for (key, title) in [
        ("by_outcome", "Outcome"),
        ("by_action", "Action"),
        ("by_state", "State of residence"),
    ] {
        let Some(counts) = figures[key].as_object() else {
            continue;
        };
        let mut table = doc.table(&[Column::new(title, 0.6), Column::new("Count", 0.4)])?;
        for (k, n) in counts {
            table.row(&[k, &text(n)])?;
        }
        table.end();
    }
    Ok(())
}

fn history(doc: &mut Document<Vec<u8>>, history: &Value) -> Result<(), PdfError> {
    doc.heading("History")?;
    doc.paragraph("Every version is an event in the tenant's log (its seq below).")?;
    let columns = [
        Column::new("version", 0.1),
        Column::new("seq", 0.12),
        Column::new("at", 0.3),
        Column::new("by", 0.23),
        Column::new("changed", 0.25),
    ];
    let mut table = doc.table(&columns)?;
    for v in history.as_array().into_iter().flatten() {
        let cells = [
            text(&v["version"]),
            text(&v["seq"]),
            text(&v["at"]),
            text(&v["by"]),
            text(&v["changed"]),
        ];
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        table.row(&cells)?;
    }
    table.end();
    Ok(())
}

/// Words for the JSON names a reader of the document sees (scope and deadlines); a
/// name not listed reads as itself, capitalised, underscores as spaces.
const LABELS: [(&str, &str); 13] = [
    ("from", "From"),
    ("to", "To"),
    ("actors", "Actors"),
    ("ips", "IP addresses"),
    ("systems", "Systems"),
    ("resource_types", "Resource types"),
    ("patients", "Patients"),
    ("individuals", "Notice to individuals due"),
    ("hhs", "Notice to HHS due"),
    ("hhs_route", "Notice to HHS"),
    ("media_required", "Media notice required"),
    ("media_states", "States needing media notice"),
    ("media", "Media notice due"),
];

/// The HHS routes (`deadlines.hhs_route`) in words.
const ROUTES: [(&str, &str); 2] = [
    (
        "within_60_days",
        "within 60 days of discovery (500 or more affected)",
    ),
    (
        "annual_log",
        "in the annual log, 60 days after the year ends (fewer than 500 affected)",
    ),
];

fn lookup(table: &[(&str, &str)], name: &str) -> Option<String> {
    table
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, w)| (*w).to_string())
}

/// The words for `name` ([`LABELS`]).
fn words(name: &str) -> String {
    if let Some(w) = lookup(&LABELS, name) {
        return w;
    }
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// An object's fields as a key/value block (lists joined, empty ones left out), named
/// in words; a coded value (the HHS route) in words too.
fn pairs(doc: &mut Document<Vec<u8>>, v: &Value) -> Result<(), PdfError> {
    let Some(obj) = v.as_object() else {
        return Ok(());
    };
    let shown: Vec<(String, String)> = obj
        .iter()
        .map(|(k, v)| {
            let value = match (k.as_str(), v.as_str()) {
                ("hhs_route", Some(code)) => lookup(&ROUTES, code).unwrap_or_else(|| text(v)),
                _ => text(v),
            };
            (words(k), value)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let refs: Vec<(&str, &str)> = shown
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    doc.key_values(&refs)
}

/// A JSON value as plain text: strings bare, lists joined, null empty.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
