//! The decoder's former native form, kept as the tests' oracle: a JSON object, validated
//! by encoding it and parsing it as a client's event.

use std::borrow::Cow;

use jiff::Timestamp;
use recall_model::{Event, ValidationError, parse_client_event};
use serde_json::{Map, Value, json};

use super::Native;

impl<'a> Native<'a> for Map<String, Value> {
    fn put(&mut self, field: &str, value: Cow<'a, str>) {
        let (parent, key) = match field.split_once('.') {
            Some((p, k)) => (Some(p), k),
            None => (None, field),
        };
        let target = match parent {
            None => self,
            Some(p) => self
                .entry(p)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("nested native fields are objects"),
        };
        target.insert(key.into(), json!(value.as_ref()));
    }

    fn get(&self, field: &str) -> Option<&str> {
        match field.split_once('.') {
            Some((parent, key)) => Map::get(self, parent)?.get(key)?.as_str(),
            None => Map::get(self, field)?.as_str(),
        }
    }

    fn unknown_actor(&mut self) {
        self.insert("actor".into(), json!({ "id": "unknown" }));
    }

    fn set_detail(&mut self, detail: Map<String, Value>) {
        self.insert("detail".into(), Value::Object(detail));
    }

    fn put_detail(&mut self, key: &str, value: Value) -> bool {
        match self
            .entry("detail")
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(d) => super::put_absent(d, key, value),
            _ => false,
        }
    }

    fn remove_detail(&mut self) -> bool {
        self.remove("detail").is_some()
    }

    fn drop_field(&mut self, field: &str) {
        let top = field.split('.').next().unwrap_or(field);
        match field.split_once('.') {
            Some((parent, key)) if top != "detail" => {
                if let Some(obj) = self.get_mut(parent).and_then(Value::as_object_mut) {
                    obj.remove(key.split('.').next().unwrap_or(key));
                    if obj.is_empty() {
                        self.remove(parent);
                    }
                }
            }
            _ => {
                self.remove(top);
            }
        }
    }

    fn validate(&mut self, now: Timestamp) -> Result<Event, ValidationError> {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        parse_client_event(&bytes, now)
    }
}
