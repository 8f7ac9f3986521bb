//! How an assessment leaves recall: as JSON through the reader's lens (the identifiers of
//! its scope shown, pseudonymised or withheld as the policy says for that reader), and
//! the affected-patient list as CSV for the notification mailing.

use std::io::Write;

use recall_query::{Field, Lens};
use serde_json::{Value, json};

use crate::assessment::{Assessment, UNKNOWN_STATE};

/// The assessment as `lens`'s reader may see it.
pub fn shown(a: &Assessment, lens: &Lens) -> Value {
    let mut v = json!(a);
    let lists = [
        ("actors", Field::ActorId),
        ("ips", Field::SourceIp),
        ("systems", Field::SourceSystem),
        ("patients", Field::PatientId),
    ];
    for (key, field) in lists {
        if let Some(Value::Array(items)) = v["scope"].get_mut(key) {
            let seen: Vec<Value> = items
                .iter()
                .filter_map(|i| i.as_str())
                .map(|i| match lens.disclose(field, i) {
                    Some(shown) => json!(shown),
                    None => json!("(withheld)"),
                })
                .collect();
            *items = seen;
        }
    }
    v
}

/// Columns of the affected-patient CSV.
pub const PATIENT_COLUMNS: [&str; 5] = ["patient_id", "state", "accesses", "first", "last"];

/// Writes the affected-patient list as CSV (one row per patient, sorted by id).
pub fn patients_csv(
    list: &[crate::assessments::Resident],
    lens: &Lens,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(PATIENT_COLUMNS)
        .map_err(std::io::Error::other)?;
    for (a, state) in list {
        let id = lens
            .disclose(Field::PatientId, &a.patient)
            .map(|s| s.into_owned())
            .unwrap_or_default();
        w.write_record([
            id,
            state.clone().unwrap_or_else(|| UNKNOWN_STATE.into()),
            a.events.to_string(),
            a.first.to_string(),
            a.last.to_string(),
        ])
        .map_err(std::io::Error::other)?;
    }
    w.flush()
}
