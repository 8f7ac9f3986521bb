//! What each reader may see of an event (minimum necessary): the field-level disclosure
//! policy, kept as data, and the [`Lens`] that applies it.
//!
//! Every path that hands out event contents — searches, event reads, both reports in
//! JSON and CSV, the CLI — takes a `Lens` and passes every event (and every identifier
//! it echoes, such as a report's subject or summary keys) through it. The table and its
//! defaults: docs/design/disclosure.md.
//!
//! Invariants:
//! - A withheld field is absent from the output; a pseudonymised one holds
//!   `psn_<32 hex>`, the tenant's blind-index token of the value enciphered under a key
//!   of its own (`recall_crypto::Pseudonymizer`), so it is stable within a tenant, differs
//!   between tenants and cannot be reversed to the value, even with the key; the server
//!   can open it to the index token, so a role filters by the pseudonym it sees.
//! - A role filters only on fields it sees, in the form it sees them ([`Lens::filter`]).
//! - `time`, `tenant`, `action`, `outcome`, `seq` and `received` are always shown: order,
//!   cursors and proofs rest on them and they identify nobody.
//! - A `justified` rule shows the field only when the request carried a justification,
//!   which the caller records in the request's self-audit event.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use recall_crypto::{PSEUDONYM_LEN, Pseudonymizer};
use serde_json::{Map, Value};

use crate::error::QueryError;

/// Who reads events. Roles that see no event contents (writer, admin, verifier) have no
/// lens at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reader {
    /// Debugs without PHI: identifiers pseudonymised, free text withheld.
    Engineer,
    /// Reviews access: everything but `detail` unless the request is justified.
    Auditor,
    /// Sees everything.
    PrivacyOfficer,
    /// One patient reading the accesses to their own data.
    Patient,
}

impl Reader {
    /// Every reader, in table order.
    pub const ALL: [Reader; 4] = [
        Reader::Engineer,
        Reader::Auditor,
        Reader::PrivacyOfficer,
        Reader::Patient,
    ];

    /// The role name (`engineer`, `auditor`, `privacy_officer`, `patient`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reader::Engineer => "engineer",
            Reader::Auditor => "auditor",
            Reader::PrivacyOfficer => "privacy_officer",
            Reader::Patient => "patient",
        }
    }

    /// The reader of a role name.
    pub fn parse(name: &str) -> Option<Reader> {
        Reader::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reader gets of one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The value as recorded.
    Show,
    /// Nothing: the field is left out.
    Withhold,
    /// A stable per-tenant pseudonym instead of the value.
    Pseudonym,
    /// The value if the request carries a justification, else nothing.
    Justified,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 4] = [Rule::Show, Rule::Withhold, Rule::Pseudonym, Rule::Justified];

    /// The rule's name in configuration and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Show => "show",
            Rule::Withhold => "withhold",
            Rule::Pseudonym => "pseudonym",
            Rule::Justified => "justified",
        }
    }
}

/// An event field the policy governs, named by its path in the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `id` (the client's event id).
    Id,
    /// `actor.id`
    ActorId,
    /// `actor.name`
    ActorName,
    /// `actor.role`
    ActorRole,
    /// `actor.type`
    ActorType,
    /// `resource.type`
    ResourceType,
    /// `resource.id`
    ResourceId,
    /// `patient.id`
    PatientId,
    /// `purpose`
    Purpose,
    /// `reason`
    Reason,
    /// `source.ip`
    SourceIp,
    /// `source.system`
    SourceSystem,
    /// `source.device`
    SourceDevice,
    /// `source.session`
    SourceSession,
    /// `detail`
    Detail,
    /// `appended_by`: the credential that appended the event (recall sets it).
    AppendedBy,
    /// `origin`: the original record (FHIR, ATNA) the event was decoded from. It holds
    /// every other field in the sender's words, so a lens shows it only when it shows
    /// everything else ([`Policy::lens`]).
    Origin,
}

const FIELDS: usize = 17;

impl Field {
    /// Every governed field, in table order.
    pub const ALL: [Field; FIELDS] = [
        Field::Id,
        Field::ActorId,
        Field::ActorName,
        Field::ActorRole,
        Field::ActorType,
        Field::ResourceType,
        Field::ResourceId,
        Field::PatientId,
        Field::Purpose,
        Field::Reason,
        Field::SourceIp,
        Field::SourceSystem,
        Field::SourceDevice,
        Field::SourceSession,
        Field::Detail,
        Field::AppendedBy,
        Field::Origin,
    ];

    /// The object holding the field (`None`: the event itself) and its key there.
    pub(crate) fn path(self) -> (Option<&'static str>, &'static str) {
        match self {
            Field::Id => (None, "id"),
            Field::ActorId => (Some("actor"), "id"),
            Field::ActorName => (Some("actor"), "name"),
            Field::ActorRole => (Some("actor"), "role"),
            Field::ActorType => (Some("actor"), "type"),
            Field::ResourceType => (Some("resource"), "type"),
            Field::ResourceId => (Some("resource"), "id"),
            Field::PatientId => (Some("patient"), "id"),
            Field::Purpose => (None, "purpose"),
            Field::Reason => (None, "reason"),
            Field::SourceIp => (Some("source"), "ip"),
            Field::SourceSystem => (Some("source"), "system"),
            Field::SourceDevice => (Some("source"), "device"),
            Field::SourceSession => (Some("source"), "session"),
            Field::Detail => (None, "detail"),
            Field::AppendedBy => (None, "appended_by"),
            Field::Origin => (None, "origin"),
        }
    }

    /// `"key":` as it opens the field's member in canonical JSON (no allocation on the
    /// per-event path).
    fn key_pattern(self) -> &'static [u8] {
        match self.path().1 {
            "id" => b"\"id\":",
            "name" => b"\"name\":",
            "role" => b"\"role\":",
            "type" => b"\"type\":",
            "purpose" => b"\"purpose\":",
            "reason" => b"\"reason\":",
            "ip" => b"\"ip\":",
            "system" => b"\"system\":",
            "device" => b"\"device\":",
            "session" => b"\"session\":",
            "appended_by" => b"\"appended_by\":",
            "origin" => b"\"origin\":",
            _ => b"\"detail\":",
        }
    }

    /// The object holding the field (`None`: the event itself).
    pub(crate) fn parent(self) -> Option<&'static str> {
        self.path().0
    }

    /// The field stored under `key` of `parent` (`None`: the event itself), if governed.
    pub(crate) fn at(parent: Option<&str>, key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| {
            let (p, k) = f.path();
            k == key && p == parent
        })
    }

    /// The dotted name (`actor.id`).
    pub fn name(self) -> String {
        match self.path() {
            (Some(parent), key) => format!("{parent}.{key}"),
            (None, key) => key.to_string(),
        }
    }

    /// The field of a dotted name.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The field-level policy of every reader: data, with defaults that configuration may
/// override field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    rules: BTreeMap<(Reader, Field), Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        use Rule::{Justified as J, Pseudonym as P, Show as S, Withhold as W};
        // Columns: engineer, auditor, privacy_officer, patient.
        let table: [(Field, [Rule; 4]); FIELDS] = [
            (Field::Id, [S, S, S, W]),
            (Field::ActorId, [P, S, S, W]),
            (Field::ActorName, [W, S, S, S]),
            (Field::ActorRole, [S, S, S, S]),
            (Field::ActorType, [S, S, S, S]),
            (Field::ResourceType, [S, S, S, S]),
            (Field::ResourceId, [P, S, S, W]),
            (Field::PatientId, [P, S, S, S]),
            (Field::Purpose, [S, S, S, S]),
            (Field::Reason, [W, S, S, W]),
            (Field::SourceIp, [S, S, S, W]),
            (Field::SourceSystem, [S, S, S, S]),
            (Field::SourceDevice, [S, S, S, W]),
            (Field::SourceSession, [S, S, S, W]),
            (Field::Detail, [W, J, S, W]),
            // A credential id names workforce or a service, like `actor.id`.
            (Field::AppendedBy, [P, S, S, W]),
            // The sender's own record: PHI-bearing like `detail`, and never shown beside
            // a field the lens hides (see `lens`).
            (Field::Origin, [W, J, S, W]),
        ];
        let mut rules = BTreeMap::new();
        for (field, row) in table {
            for (reader, rule) in Reader::ALL.into_iter().zip(row) {
                rules.insert((reader, field), rule);
            }
        }
        Policy { rules }
    }
}

/// A policy change that cannot be made; the message names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// The rule of `field` for `reader`.
    pub fn rule(&self, reader: Reader, field: Field) -> Rule {
        self.rules
            .get(&(reader, field))
            .copied()
            .unwrap_or(Rule::Withhold)
    }

    /// Sets one rule from configuration names (`engineer`, `actor.name`, `withhold`).
    pub fn set(&mut self, reader: &str, field: &str, rule: &str) -> Result<(), PolicyError> {
        let r = Reader::parse(reader).ok_or_else(|| {
            PolicyError(format!(
                "policy: unknown role {reader:?} (engineer, auditor, privacy_officer or patient)"
            ))
        })?;
        let f = Field::parse(field)
            .ok_or_else(|| PolicyError(format!("policy.{reader}: unknown field {field:?}")))?;
        let rule = Rule::ALL
            .into_iter()
            .find(|x| x.as_str() == rule)
            .ok_or_else(|| {
                PolicyError(format!(
                    "policy.{reader}.{field}: unknown rule {rule:?} (show, withhold, pseudonym or justified)"
                ))
            })?;
        if matches!(f, Field::Detail | Field::Origin) && rule == Rule::Pseudonym {
            return Err(PolicyError(format!(
                "policy.{reader}.{field}: an object cannot be pseudonymised"
            )));
        }
        self.rules.insert((r, f), rule);
        Ok(())
    }

    /// The table as `field → rule per reader`, in table order (for settings and docs).
    pub fn table(&self) -> Vec<(String, Vec<(Reader, Rule)>)> {
        Field::ALL
            .into_iter()
            .map(|f| {
                let row = Reader::ALL
                    .into_iter()
                    .map(|r| (r, self.rule(r, f)))
                    .collect();
                (f.name(), row)
            })
            .collect()
    }

    /// The lens of one request: `justified` says whether it carries a justification;
    /// `pseudonyms` is the tenant's pseudonymizer (needed only if a rule pseudonymises).
    pub fn lens(&self, reader: Reader, justified: bool, pseudonyms: Option<Pseudonymizer>) -> Lens {
        let mut rules = [Rule::Show; FIELDS];
        for f in Field::ALL {
            rules[f.index()] = match self.rule(reader, f) {
                Rule::Justified if justified => Rule::Show,
                Rule::Justified => Rule::Withhold,
                other => other,
            };
        }
        // The original repeats every field in the sender's words: it is shown only to a
        // lens that shows all of them.
        let origin = Field::Origin.index();
        if (0..FIELDS).any(|i| i != origin && rules[i] != Rule::Show) {
            rules[origin] = Rule::Withhold;
        }
        Lens { rules, pseudonyms }
    }
}

/// The disclosure rules of one request, resolved (no `justified` left).
#[derive(Clone)]
pub struct Lens {
    rules: [Rule; FIELDS],
    pseudonyms: Option<Pseudonymizer>,
}

impl fmt::Debug for Lens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lens").field("rules", &self.rules).finish()
    }
}

impl Lens {
    /// Everything shown (the operator's own tools, and what the ledger commits to).
    pub fn full() -> Lens {
        Lens {
            rules: [Rule::Show; FIELDS],
            pseudonyms: None,
        }
    }

    /// Whether the lens changes nothing.
    pub fn is_full(&self) -> bool {
        self.rules.iter().all(|r| *r == Rule::Show)
    }

    /// Whether the lens needs the tenant's pseudonym key.
    pub fn needs_pseudonyms(&self) -> bool {
        self.rules.contains(&Rule::Pseudonym)
    }

    /// What this lens does to `f` (`justified` already resolved to show or withhold).
    pub fn rule(&self, f: Field) -> Rule {
        self.rules[f.index()]
    }

    /// How a filter on `field` given as `value` is to be matched, or why it is refused:
    /// a withheld field cannot be filtered on (a filter would tell whether a value the
    /// caller may not see occurs), and a pseudonymised one only by the pseudonym the
    /// caller sees (a clear value would let it pair pseudonyms with clear values).
    pub fn filter(&self, field: Field, value: &str) -> Result<Given, Refused> {
        match self.rule(field) {
            Rule::Show | Rule::Justified => Ok(Given::Clear),
            Rule::Withhold => Err(Refused::Withheld),
            Rule::Pseudonym => parse_pseudonym(value)
                .map(Given::Pseudonym)
                .ok_or(Refused::NotPseudonym),
        }
    }

    /// Whether `value` (an event's, in the clear) has the pseudonym `psn` under `field`.
    pub(crate) fn has_pseudonym(
        &self,
        field: Field,
        value: &str,
        psn: &[u8; PSEUDONYM_LEN],
    ) -> bool {
        self.pseudonyms
            .as_ref()
            .is_some_and(|p| p.pseudonym(domain(field), value) == *psn)
    }

    /// The index token prefix a pseudonym opens to (`None` without the tenant's key).
    pub(crate) fn token_prefix(&self, psn: &[u8; PSEUDONYM_LEN]) -> Option<[u8; PSEUDONYM_LEN]> {
        self.pseudonyms.as_ref().map(|p| p.token_prefix(psn))
    }

    /// What an identifier echoed outside an event (a report's subject, a summary key)
    /// becomes under the rule of `field`: `None` when withheld.
    pub fn disclose<'a>(&self, field: Field, value: &'a str) -> Option<Cow<'a, str>> {
        match self.rule(field) {
            Rule::Show | Rule::Justified => Some(Cow::Borrowed(value)),
            Rule::Withhold => None,
            Rule::Pseudonym => Some(Cow::Owned(self.pseudonym(field, value))),
        }
    }

    fn pseudonym(&self, field: Field, value: &str) -> String {
        match &self.pseudonyms {
            Some(p) => format!(
                "{PSN_PREFIX}{}",
                hex::encode(p.pseudonym(domain(field), value))
            ),
            // A lens built without the key never shows the value in its place.
            None => "psn_unavailable".to_string(),
        }
    }

    /// An event's canonical JSON as this lens shows it. Borrowed when nothing changes.
    pub fn json<'a>(&self, canonical: &'a [u8]) -> Result<Cow<'a, [u8]>, QueryError> {
        if !self.may_change(canonical) {
            return Ok(Cow::Borrowed(canonical));
        }
        // Without a value tree when the bytes allow it (byte-identical, see the module).
        if let Some(out) = crate::disclose_fast::rewrite(self, canonical) {
            return Ok(Cow::Owned(out));
        }
        self.json_tree(canonical).map(Cow::Owned)
    }

    /// [`Lens::json`] through a value tree: parse, redact, serialize.
    pub(crate) fn json_tree(&self, canonical: &[u8]) -> Result<Vec<u8>, QueryError> {
        let event = self.object(canonical)?;
        serde_json::to_vec(&event)
            .map_err(|_| QueryError::Corrupt("an event could not be re-encoded".into()))
    }

    /// An event's canonical JSON as this lens shows it, as an object (for CSV rows).
    pub fn object(&self, canonical: &[u8]) -> Result<Map<String, Value>, QueryError> {
        let mut event: Map<String, Value> = serde_json::from_slice(canonical)
            .map_err(|_| QueryError::Corrupt("a stored event is not a JSON object".into()))?;
        for f in Field::ALL {
            self.apply_json(f, &mut event);
        }
        Ok(event)
    }

    /// Whether some rule could touch `canonical`: a field that is not shown whose key
    /// occurs in it. In canonical JSON an unescaped `"key":` is always an object key, so a
    /// key that does not occur is absent (and the bytes can be handed out unchanged).
    pub(crate) fn may_change(&self, canonical: &[u8]) -> bool {
        Field::ALL.into_iter().any(|f| {
            self.rule(f) != Rule::Show && memchr::memmem::find(canonical, f.key_pattern()).is_some()
        })
    }

    fn apply_json(&self, f: Field, event: &mut Map<String, Value>) {
        let rule = self.rule(f);
        if rule == Rule::Show {
            return;
        }
        let (parent, key) = f.path();
        let obj = match parent {
            None => Some(&mut *event),
            Some(p) => event.get_mut(p).and_then(Value::as_object_mut),
        };
        let Some(obj) = obj else { return };
        match rule {
            Rule::Withhold | Rule::Justified => {
                obj.remove(key);
            }
            Rule::Pseudonym => {
                if let Some(Value::String(s)) = obj.get(key) {
                    let p = self.pseudonym(f, s);
                    obj.insert(key.to_string(), Value::String(p));
                }
            }
            Rule::Show => {}
        }
        if let Some(p) = parent
            && event
                .get(p)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
        {
            event.remove(p);
        }
    }
}

/// What every pseudonym starts with.
pub const PSN_PREFIX: &str = "psn_";

/// How a filter value is to be matched ([`Lens::filter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Given {
    /// As recorded.
    Clear,
    /// By pseudonym: the event matches when its value has this one.
    Pseudonym([u8; PSEUDONYM_LEN]),
}

/// Why a filter is refused ([`Lens::filter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The caller's lens withholds the field.
    Withheld,
    /// The caller sees the field as a pseudonym and gave something else.
    NotPseudonym,
}

/// `psn_` and 32 lower-case hex digits, as a lens writes them.
fn parse_pseudonym(s: &str) -> Option<[u8; PSEUDONYM_LEN]> {
    let hex_part = s.strip_prefix(PSN_PREFIX)?;
    if hex_part.len() != 2 * PSEUDONYM_LEN || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; PSEUDONYM_LEN];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// The keyed-hash domain of a field's pseudonyms: the index's own for the fields it keys
/// (so a pseudonym opens to the token of their lists), one shared domain for the others.
fn domain(field: Field) -> &'static str {
    match field {
        Field::PatientId => "patient",
        Field::ActorId => "actor",
        _ => "pseudonym",
    }
}

impl crate::Db {
    /// The lens of `reader` over `tenant`'s events under `policy`, with the tenant's
    /// pseudonym key when a rule needs it.
    pub fn lens(
        &self,
        tenant: &str,
        policy: &Policy,
        reader: Reader,
        justified: bool,
    ) -> Result<Lens, QueryError> {
        let lens = policy.lens(reader, justified, None);
        if !lens.needs_pseudonyms() {
            return Ok(lens);
        }
        let key = self.journal.keystore().index_key(tenant)?;
        Ok(policy.lens(reader, justified, Some(Pseudonymizer::new(&key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &[u8] = br#"{"action":"read","actor":{"id":"u-1","name":"Synthetic Name"},"detail":{"k":"v"},"patient":{"id":"MRN-1"},"seq":3,"source":{"ip":"10.0.0.1"},"tenant":"t","time":"2026-01-01T00:00:00Z"}"#;

    fn indexer() -> Pseudonymizer {
        Pseudonymizer::new(&recall_crypto::IndexKey(
            recall_crypto::SecretBytes::from_bytes([9; 32]),
        ))
    }

    #[test]
    fn an_unknown_role_field_or_rule_is_named() {
        let mut p = Policy::default();
        let err = |r: Result<(), PolicyError>| r.unwrap_err().0;
        assert!(err(p.set("nurse", "detail", "show")).contains("\"nurse\""));
        assert!(err(p.set("engineer", "actor.email", "show")).contains("\"actor.email\""));
        assert!(err(p.set("engineer", "detail", "blur")).contains("\"blur\""));
        assert!(err(p.set("engineer", "detail", "pseudonym")).contains("detail"));
        p.set("engineer", "actor.name", "show").unwrap();
        assert_eq!(p.rule(Reader::Engineer, Field::ActorName), Rule::Show);
    }

    #[test]
    fn bytes_are_handed_out_unchanged_when_nothing_applies() {
        let p = Policy::default();
        assert!(matches!(
            Lens::full().json(EVENT).unwrap(),
            Cow::Borrowed(_)
        ));
        let officer = p.lens(Reader::PrivacyOfficer, false, None);
        assert!(matches!(officer.json(EVENT).unwrap(), Cow::Borrowed(_)));
        let no_detail = br#"{"action":"read","actor":{"id":"u-1"},"seq":1}"#;
        let auditor = p.lens(Reader::Auditor, false, None);
        assert!(matches!(auditor.json(no_detail).unwrap(), Cow::Borrowed(_)));
        // A "detail" inside a string value is not a key.
        let quoted = br#"{"action":"read","actor":{"id":"a\"detail\":"},"seq":1}"#;
        assert!(matches!(auditor.json(quoted).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn justified_fields_need_the_justification() {
        let p = Policy::default();
        let plain: Value =
            serde_json::from_slice(&p.lens(Reader::Auditor, false, None).json(EVENT).unwrap())
                .unwrap();
        assert!(plain.get("detail").is_none() && plain["actor"]["name"] == "Synthetic Name");
        let justified: Value =
            serde_json::from_slice(&p.lens(Reader::Auditor, true, None).json(EVENT).unwrap())
                .unwrap();
        assert_eq!(justified["detail"]["k"], "v");
    }

    #[test]
    fn pseudonyms_are_keyed_stable_and_never_the_value() {
        let p = Policy::default();
        let lens = p.lens(Reader::Engineer, false, Some(indexer()));
        let v: Value = serde_json::from_slice(&lens.json(EVENT).unwrap()).unwrap();
        let id = v["patient"]["id"].as_str().unwrap();
        assert!(id.starts_with("psn_") && id.len() == 36 && id != "MRN-1");
        assert_eq!(lens.disclose(Field::PatientId, "MRN-1").unwrap(), id);
        assert!(v["actor"].get("name").is_none() && v.get("detail").is_none());
        let other = Pseudonymizer::new(&recall_crypto::IndexKey(
            recall_crypto::SecretBytes::from_bytes([8; 32]),
        ));
        let elsewhere = p.lens(Reader::Engineer, false, Some(other));
        assert_ne!(elsewhere.disclose(Field::PatientId, "MRN-1").unwrap(), id);
        // A lens without the key never falls back to the value.
        let keyless = p.lens(Reader::Engineer, false, None);
        assert_eq!(
            keyless.disclose(Field::PatientId, "MRN-1").unwrap(),
            "psn_unavailable"
        );
    }

    #[test]
    fn filters_follow_the_rule_of_their_field() {
        let p = Policy::default();
        let engineer = p.lens(Reader::Engineer, false, Some(indexer()));
        let psn = engineer
            .disclose(Field::PatientId, "MRN-1")
            .unwrap()
            .into_owned();
        let Ok(Given::Pseudonym(raw)) = engineer.filter(Field::PatientId, &psn) else {
            panic!("a pseudonym the engineer sees is a filter it may give");
        };
        assert!(engineer.has_pseudonym(Field::PatientId, "MRN-1", &raw));
        assert!(!engineer.has_pseudonym(Field::ActorId, "MRN-1", &raw));
        for clear in ["MRN-1", "psn_short", &psn.to_uppercase(), &psn[..35]] {
            assert_eq!(
                engineer.filter(Field::PatientId, clear),
                Err(Refused::NotPseudonym),
                "{clear}"
            );
        }
        assert_eq!(engineer.filter(Field::Reason, "x"), Err(Refused::Withheld));
        assert_eq!(
            engineer.filter(Field::SourceIp, "10.0.0.1"),
            Ok(Given::Clear)
        );
        let patient = p.lens(Reader::Patient, false, None);
        assert_eq!(
            patient.filter(Field::SourceIp, "10.0.0.1"),
            Err(Refused::Withheld)
        );
        assert_eq!(
            patient.filter(Field::ActorId, "u-1"),
            Err(Refused::Withheld)
        );
        assert_eq!(patient.filter(Field::PatientId, "MRN-1"), Ok(Given::Clear));
    }

    #[test]
    fn each_fields_key_pattern_is_its_own_key() {
        for f in Field::ALL {
            let want = format!("\"{}\":", f.path().1);
            assert_eq!(f.key_pattern(), want.as_bytes(), "{f:?}");
        }
    }

    #[test]
    fn the_original_is_shown_only_where_everything_is() {
        const WITH: &[u8] = br#"{"action":"read","actor":{"id":"u-1"},"origin":{"format":"fhir-r4","text":"{}","understood":"full"},"patient":{"id":"MRN-1"},"seq":3,"tenant":"t","time":"2026-01-01T00:00:00Z"}"#;
        let shown = |reader, justified, p: &Policy| {
            let lens = p.lens(reader, justified, Some(indexer()));
            let v: Value = serde_json::from_slice(&lens.json(WITH).unwrap()).unwrap();
            v.get("origin").is_some()
        };
        let mut p = Policy::default();
        assert!(shown(Reader::PrivacyOfficer, false, &p));
        assert!(shown(Reader::Auditor, true, &p));
        assert!(!shown(Reader::Auditor, false, &p), "hidden with detail");
        assert!(
            !shown(Reader::Engineer, false, &p),
            "hidden with the patient"
        );
        assert!(!shown(Reader::Patient, false, &p));
        // Configured to show, it is still hidden beside a hidden field.
        p.set("engineer", "origin", "show").unwrap();
        assert!(!shown(Reader::Engineer, true, &p));
        assert!(p.set("auditor", "origin", "pseudonym").is_err());
    }

    #[test]
    fn an_emptied_object_is_left_out() {
        let mut p = Policy::default();
        p.set("patient", "source.ip", "withhold").unwrap();
        let v: Value =
            serde_json::from_slice(&p.lens(Reader::Patient, false, None).json(EVENT).unwrap())
                .unwrap();
        assert!(v.get("source").is_none(), "{v}");
        assert!(v["actor"].get("id").is_none() && v["actor"]["name"] == "Synthetic Name");
    }
}
