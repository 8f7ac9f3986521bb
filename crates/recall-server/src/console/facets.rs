//! The search page's facet counts (read with its events by `routes::facets::page_and_count`:
//! role, lens, one self-audit record), each value a link that narrows the filter to it
//! (roles have no filter, so they are plain text).

use serde_json::Value;

use super::search::Filter;

/// One value and its count.
pub struct Count {
    /// The value as the lens shows it.
    pub value: String,
    /// Matching events with it.
    pub count: u64,
    /// The search narrowed to it (`None`: no filter on this field).
    pub href: Option<String>,
}

/// One faceted field.
pub struct Group {
    /// Heading.
    pub label: &'static str,
    /// `id` suffix of its list (`facet-action`, …).
    pub key: &'static str,
    /// Values, most frequent first.
    pub values: Vec<Count>,
}

/// What the page shows.
pub struct Shown {
    /// Events counted.
    pub counted: u64,
    /// Whether that was every matching event.
    pub complete: bool,
    /// The groups.
    pub groups: Vec<Group>,
}

/// The facets of the filter `f`, from their JSON `v` (`routes::facets`' answer).
pub fn shown(v: &Value, f: &Filter) -> Shown {
    let group = |label, key: &'static str, filter: Option<&str>| Group {
        label,
        key,
        values: v["facets"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let value = c["value"].as_str().unwrap_or("").to_owned();
                Count {
                    href: filter.map(|k| f.with(k, &value)),
                    count: c["count"].as_u64().unwrap_or(0),
                    value,
                }
            })
            .collect(),
    };
    Shown {
        counted: v["counted"].as_u64().unwrap_or(0),
        complete: v["complete"].as_bool().unwrap_or(false),
        groups: vec![
            group("Actions", "action", Some("action")),
            group("Outcomes", "outcome", Some("outcome")),
            group("Roles", "role", None),
            group("Systems", "system", Some("system")),
        ],
    }
}
