//! Reading a few patients' states out of the patient roster's JSON without building it:
//! the roster maps every patient's token (hex) to a state, 2M entries for the benchmark's
//! population, and a breach assessment asks for its affected patients only. Parsing the
//! whole map cost about a second and a few hundred MB per ask; this walks the same JSON
//! and keeps only the entries asked for.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The states of the tokens in `wanted` (hex, as the roster keys them), from the roster's
/// JSON (`{"states": {token: state, ...}}`); tokens it lacks are absent.
pub(super) fn states_of(
    json: &[u8],
    wanted: &HashSet<String>,
) -> serde_json::Result<HashMap<String, String>> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = Seed { wanted, top: true }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// A key, borrowed from the input when it has no escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// The roster object (`top`), whose `states` member is read with `top` false: the map of
/// states, of which only the wanted entries are kept.
struct Seed<'w> {
    wanted: &'w HashSet<String>,
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = HashMap<String, String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = HashMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a patient roster")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = HashMap::new();
        while let Some(Key(k)) = map.next_key()? {
            if self.top && k == "states" {
                let states = Seed {
                    wanted: self.wanted,
                    top: false,
                };
                found = map.next_value_seed(states)?;
            } else if !self.top && self.wanted.contains(k.as_ref()) {
                found.insert(k.into_owned(), map.next_value::<String>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wanted_states_are_kept_and_they_match_the_whole_parse() {
        let mut p = super::super::Patients::default();
        for i in 0..50 {
            p.states
                .insert(format!("{i:064x}"), ["MA", "NH"][i % 2].into());
        }
        let json = serde_json::to_vec(&p).unwrap();
        let wanted: HashSet<String> = [3usize, 4, 99]
            .iter()
            .map(|i| format!("{i:064x}"))
            .collect();
        let found = states_of(&json, &wanted).unwrap();
        assert_eq!(found.len(), 2);
        for (k, v) in &found {
            assert_eq!(p.states.get(k), Some(v));
        }
        assert!(states_of(b"{\"states\": {\"a\": 1}}", &wanted).is_ok_and(|f| f.is_empty()));
        assert!(states_of(b"{\"states\": [", &wanted).is_err());
    }
}
