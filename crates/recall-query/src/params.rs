//! A search as it arrives from outside — the API's query parameters or `recall search`'s
//! flags — and the one builder that checks it into a [`Query`]: both front ends accept and
//! refuse the same things, with the same messages naming the parameter.

use std::str::FromStr;

use jiff::Timestamp;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::disclose::{Field, Lens, Rule};
use crate::error::QueryError;
use crate::search::{Filter, Order, Query};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;

/// The filters of a search, an export and the CLI's flags, as text, unchecked: the one
/// list of filter parameters ([`FilterParams::NAMES`]) all of them take.
#[derive(Debug, Clone, Default)]
pub struct FilterParams {
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
    /// `resource.type`.
    pub resource_type: Option<String>,
    /// `resource.id`.
    pub resource_id: Option<String>,
    /// FHIR crude action of `action`: C, R, U, D or E.
    pub fhir_action: Option<String>,
    /// FHIR AuditEvent type code: `rest`, or a DICOM event code (110114, 110101, …).
    pub fhir_type: Option<String>,
}

/// Search parameters as text, unchecked (the API deserialises them from the query
/// string; the CLI fills them from its flags).
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    /// Which events.
    pub filter: FilterParams,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// Page size, 1 to [`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl<'de> Deserialize<'de> for SearchParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_pairs(d, |p: &mut SearchParams, name, value| match name {
            "order" => once(&mut p.order, value),
            "limit" => once(&mut p.limit, value),
            "cursor" => once(&mut p.cursor, value),
            _ => p.filter.set(name, value),
        })
    }
}

/// Deserialises a query string as its pairs, each handed to `set`: `Ok(false)` for a
/// name it does not know (refused, as `deny_unknown_fields` would), an error message for
/// a value it does not take (prefixed with the name, which the API's problem names).
pub(crate) fn from_pairs<'de, D, T>(
    d: D,
    set: impl Fn(&mut T, &str, String) -> Result<bool, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default,
{
    let mut out = T::default();
    for (name, value) in Vec::<(String, String)>::deserialize(d)? {
        match set(&mut out, &name, value) {
            Ok(true) => {}
            Ok(false) => return Err(D::Error::custom("unknown parameter")),
            Err(message) => return Err(D::Error::custom(format!("{name}: {message}"))),
        }
    }
    Ok(out)
}

/// Sets a parameter given once; a second value, or one that does not parse, is refused.
pub(crate) fn once<V: FromStr>(slot: &mut Option<V>, value: String) -> Result<bool, String> {
    if slot.is_some() {
        return Err("given more than once".into());
    }
    *slot = Some(value.parse().map_err(|_| "not a valid value".to_string())?);
    Ok(true)
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

impl FilterParams {
    /// Every filter parameter's name.
    pub const NAMES: [&'static str; 14] = [
        "patient",
        "actor",
        "action",
        "outcome",
        "purpose",
        "system",
        "ip",
        "break_glass",
        "from",
        "to",
        "resource_type",
        "resource_id",
        "fhir_action",
        "fhir_type",
    ];

    /// Sets the filter `name` from its text (`Ok(false)`: no filter has that name).
    pub fn set(&mut self, name: &str, value: String) -> Result<bool, String> {
        let slot = match name {
            "break_glass" => return once(&mut self.break_glass, value),
            "patient" => &mut self.patient,
            "actor" => &mut self.actor,
            "action" => &mut self.action,
            "outcome" => &mut self.outcome,
            "purpose" => &mut self.purpose,
            "system" => &mut self.system,
            "ip" => &mut self.ip,
            "from" => &mut self.from,
            "to" => &mut self.to,
            "resource_type" => &mut self.resource_type,
            "resource_id" => &mut self.resource_id,
            "fhir_action" => &mut self.fhir_action,
            "fhir_type" => &mut self.fhir_type,
            _ => return Ok(false),
        };
        once(slot, value)
    }

    /// The checked filter as `lens`'s reader may ask it: a filter on a field the lens
    /// withholds is refused, one it pseudonymises takes the pseudonym (docs/design/
    /// disclosure.md, "Filters"). The error names the parameter at fault.
    pub fn filter(&self, lens: &Lens) -> Result<Filter, QueryError> {
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
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            fhir_action: self.fhir_action.clone(),
            fhir_type: self.fhir_type.clone(),
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
        crate::body_filter::check(&filter)?;
        Ok(filter)
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
        put("resource_type", &self.resource_type);
        put("resource_id", &self.resource_id);
        put("fhir_action", &self.fhir_action);
        put("fhir_type", &self.fhir_type);
        if let Some(b) = self.break_glass {
            m.insert("break_glass".into(), json!(b));
        }
        m
    }
}

impl SearchParams {
    /// The checked query as `lens`'s reader may ask it (the filter's rules,
    /// [`FilterParams::filter`], then order and page size); errors name the parameter.
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
        Ok(Query {
            filter: self.filter.filter(lens)?,
            order,
            limit,
            cursor: self.cursor.clone(),
        })
    }

    /// The patient the search's own audit event names ([`FilterParams::recorded_patient`]).
    pub fn recorded_patient(&self, lens: &Lens) -> Option<&str> {
        self.filter.recorded_patient(lens)
    }

    /// The parameters as the search's own audit event records them.
    pub fn recorded(&self, lens: &Lens) -> Map<String, Value> {
        let mut m = self.filter.recorded(lens);
        if let Some(o) = &self.order {
            m.insert("order".into(), json!(o));
        }
        if let Some(c) = &self.cursor {
            m.insert("cursor".into(), json!(c));
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
                    filter: FilterParams {
                        outcome: Some("ok".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ),
            (
                "ip",
                SearchParams {
                    filter: FilterParams {
                        ip: Some("10.0.0".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ),
            (
                "from",
                SearchParams {
                    filter: FilterParams {
                        from: Some("yesterday".into()),
                        ..Default::default()
                    },
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
        let bad_action = FilterParams {
            fhir_action: Some("X".into()),
            ..Default::default()
        };
        match bad_action.filter(&Lens::full()) {
            Err(QueryError::BadFilter { field, .. }) => assert_eq!(field, "fhir_action"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_filter_name_is_settable_once() {
        let mut f = FilterParams::default();
        for name in FilterParams::NAMES {
            let value = if name == "break_glass" { "true" } else { "x" };
            assert_eq!(f.set(name, value.into()), Ok(true), "{name}");
            assert!(f.set(name, value.into()).is_err(), "{name} twice");
        }
        assert_eq!(f.set("patinet", "x".into()), Ok(false));
        assert!(
            FilterParams::default()
                .set("break_glass", "yes".into())
                .is_err()
        );
        // Every name set lands in the record of the search (the patient in the
        // event's own field).
        let recorded = f.recorded(&Lens::full());
        assert_eq!(
            recorded.len(),
            FilterParams::NAMES.len() - 1,
            "{recorded:?}"
        );
        assert_eq!(f.recorded_patient(&Lens::full()), Some("x"));
    }
}
