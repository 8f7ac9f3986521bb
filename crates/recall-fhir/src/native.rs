//! Where the decoder puts what it mapped: a native event under construction, by field
//! name (`actor.id`, `source.ip`), validated by recall-model's client-event rules and
//! repaired field by field when a rule refuses a value.
//!
//! The decoder writes into a [`Draft`] (strings borrowed from the AuditEvent, checked by
//! [`validate_draft`] without a JSON round trip). The tests also run it over a JSON
//! object validated by encoding and parsing it, the way the decoder worked before
//! (`native_json.rs`), and hold both results equal.

use std::borrow::Cow;

use jiff::Timestamp;
use recall_model::{Draft, DraftActor, Event, ValidationError, validate_draft};
use serde_json::{Map, Value};

/// A native event under construction.
pub(crate) trait Native<'a>: Clone + Default {
    /// Sets the string field `field`, making its parent object when absent.
    fn put(&mut self, field: &str, value: Cow<'a, str>);
    /// The string field `field` (`actor.id`), when set.
    fn get(&self, field: &str) -> Option<&str>;
    /// Replaces the actor by one whose id is `unknown`.
    fn unknown_actor(&mut self);
    /// Sets `detail`.
    fn set_detail(&mut self, detail: Map<String, Value>);
    /// Sets `detail.key` (making `detail`) unless it is set; whether it was set here.
    fn put_detail(&mut self, key: &str, value: Value) -> bool;
    /// Removes `detail`; whether there was one.
    fn remove_detail(&mut self) -> bool;
    /// Drops the field a validation error names (a nested one's object too when it is
    /// left empty; `detail.…` drops `detail`).
    fn drop_field(&mut self, field: &str);
    /// Validates as a client's event.
    fn validate(&mut self, now: Timestamp) -> Result<Event, ValidationError>;
}

impl<'a> Native<'a> for Draft<'a> {
    fn put(&mut self, field: &str, value: Cow<'a, str>) {
        match self.slot(field) {
            Some(slot) => *slot = Some(value),
            None => debug_assert!(false, "not a native string field"),
        }
    }

    fn get(&self, field: &str) -> Option<&str> {
        Draft::get(self, field)
    }

    fn unknown_actor(&mut self) {
        self.actor = Some(DraftActor {
            id: Some("unknown".into()),
            ..DraftActor::default()
        });
    }

    fn set_detail(&mut self, detail: Map<String, Value>) {
        self.detail = Some(detail);
    }

    fn put_detail(&mut self, key: &str, value: Value) -> bool {
        put_absent(self.detail.get_or_insert_with(Map::new), key, value)
    }

    fn remove_detail(&mut self) -> bool {
        self.detail.take().is_some()
    }

    fn drop_field(&mut self, field: &str) {
        Draft::drop_field(self, field);
    }

    fn validate(&mut self, now: Timestamp) -> Result<Event, ValidationError> {
        validate_draft(self, now)
    }
}

/// Inserts `key` into `map` unless it is there; whether it was inserted.
pub(crate) fn put_absent(map: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    if map.contains_key(key) {
        return false;
    }
    map.insert(key.into(), value);
    true
}

/// Drops (or, when required, replaces) the native field `field` that validation refused.
pub(crate) fn repair<'a, S: Native<'a>>(native: &mut S, field: &str, now: Timestamp) {
    match field {
        "time" => native.put("time", now.to_string().into()),
        "actor" | "actor.id" => native.put("actor.id", "unknown".into()),
        "action" => native.put("action", "execute".into()),
        // ETREAT without a justification: the purpose cannot stand alone.
        "reason" if native.get("reason").is_none() => native.drop_field("purpose"),
        // The whole event is too large: the free-form parts go first.
        "event" => {
            if !native.remove_detail() {
                native.drop_field("reason");
            }
        }
        // An object left empty was made only for the dropped value: the sender gave
        // none of it, so the event has none (`source: {}` would not survive a round trip).
        _ => native.drop_field(field),
    }
}

/// The smallest valid event, at `now`.
pub(crate) fn minimal<'a, S: Native<'a>>(now: Timestamp) -> Event {
    let mut m = S::default();
    m.put("time", now.to_string().into());
    m.put("actor.id", "unknown".into());
    m.put("action", "execute".into());
    m.validate(now).expect("a minimal event is valid")
}

#[cfg(test)]
#[path = "native_json.rs"]
pub(crate) mod json;
