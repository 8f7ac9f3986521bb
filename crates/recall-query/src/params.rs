//! A search as it arrives from outside — the API's query parameters or `recall search`'s
//! flags — and the one builder that checks it into a [`Query`]: both front ends accept and
//! refuse the same things, with the same messages naming the parameter.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::disclose::{Field, Lens, Rule};
use crate::error::QueryError;
use crate::search::{Filter, Order, Query};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;

/// Search parameters as text, unchecked (the API deserialises them from the query
/// string; the CLI fills them from its flags).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// `patient.id`.
    pub patient: Option<String>,
    /// `actor.id`.
    pub actor: Option<String>,
    /// `action`.
    pub action: Option<String>,
    /// `outcome`: success, failure or denied.
    pub outcome: Option<String>,
    /// `purpose`.
    pub purpose: Option<String>,
    /// `source.system`.
    pub system: Option<String>,
    /// `source.ip`, an IPv4 or IPv6 address.
    pub ip: Option<String>,
    /// Only break-glass events.
    pub break_glass: Option<bool>,
    /// From (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Until (RFC 3339, exclusive).
    pub to: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// Page size, 1 to [`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn bad(field: &'static str, message: &str) -> QueryError {
    QueryError::BadFilter {
        field,
        message: message.to_owned(),
    }
}

/// Parses an optional RFC 3339 parameter, naming it on error.
pub fn time_param(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<Timestamp>, QueryError> {
    value
        .map(|v| {
            v.parse::<Timestamp>()
                .map_err(|_| bad(field, &format!("{field} must be an RFC 3339 timestamp")))
        })
        .transpose()
}

impl SearchParams {
    /// The checked query as `lens`'s reader may ask it: a filter on a field the lens
    /// withholds is refused, one it pseudonymises takes the pseudonym (docs/design/
    /// disclosure.md, "Filters"). The error names the parameter at fault.
    pub fn query(&self, lens: &Lens) -> Result<Query, QueryError> {
        let order = match self.order.as_deref() {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(_) => return Err(bad("order", "order must be asc or desc")),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad("limit", "limit must be between 1 and 1000"));
        }
        if let Some(o) = &self.outcome
            && !["success", "failure", "denied"].contains(&o.as_str())
        {
            return Err(bad("outcome", "outcome must be success, failure or denied"));
        }
        let filter = Filter {
            patient: self.patient.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            purpose: self.purpose.clone(),
            system: self.system.clone(),
            ip: self.ip.clone(),
            break_glass: self.break_glass.unwrap_or(false),
            from: time_param("from", self.from.as_deref())?,
            to: time_param("to", self.to.as_deref())?,
            lens: Some(lens.clone()),
        };
        // Refusals by the lens come first: they hold whatever the value.
        crate::search::check_lens(&filter)?;
        if let Some(ip) = &self.ip
            && lens.rule(Field::SourceIp) != Rule::Pseudonym
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(bad("ip", "ip must be an IPv4 or IPv6 address"));
        }
        Ok(Query {
            filter,
            order,
            limit,
            cursor: self.cursor.clone(),
        })
    }

    /// The patient the search's own audit event names: the one asked about, unless it was
    /// asked by pseudonym (a pseudonym is no patient id; [`Self::recorded`] keeps it).
    pub fn recorded_patient(&self, lens: &Lens) -> Option<&str> {
        self.patient
            .as_deref()
            .filter(|_| lens.rule(Field::PatientId) != Rule::Pseudonym)
    }

    /// The parameters as the search's own audit event records them (the patient goes in
    /// the event's own field, [`Self::recorded_patient`], unless given as a pseudonym).
    pub fn recorded(&self, lens: &Lens) -> Map<String, Value> {
        let mut m = Map::new();
        if self.recorded_patient(lens).is_none()
            && let Some(p) = &self.patient
        {
            m.insert("patient".into(), json!(p));
        }
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        put("actor", &self.actor);
        put("action", &self.action);
        put("outcome", &self.outcome);
        put("purpose", &self.purpose);
        put("system", &self.system);
        put("ip", &self.ip);
        put("from", &self.from);
        put("to", &self.to);
        put("order", &self.order);
        put("cursor", &self.cursor);
        if let Some(b) = self.break_glass {
            m.insert("break_glass".into(), json!(b));
        }
        if let Some(l) = self.limit {
            m.insert("limit".into(), json!(l));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_bad_parameter_is_named() {
        let cases: [(&str, SearchParams); 6] = [
            (
                "order",
                SearchParams {
                    order: Some("up".into()),
                    ..Default::default()
                },
            ),
            (
                "limit",
                SearchParams {
                    limit: Some(0),
                    ..Default::default()
                },
            ),
            (
                "limit",
                SearchParams {
                    limit: Some(1001),
                    ..Default::default()
                },
            ),
            (
                "outcome",
                SearchParams {
                    outcome: Some("ok".into()),
                    ..Default::default()
                },
            ),
            (
                "ip",
                SearchParams {
                    ip: Some("10.0.0".into()),
                    ..Default::default()
                },
            ),
            (
                "from",
                SearchParams {
                    from: Some("yesterday".into()),
                    ..Default::default()
                },
            ),
        ];
        for (field, p) in cases {
            match p.query(&Lens::full()) {
                Err(QueryError::BadFilter { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let q = SearchParams::default().query(&Lens::full()).unwrap();
        assert_eq!((q.order, q.limit), (Order::Asc, DEFAULT_LIMIT));
    }
}
