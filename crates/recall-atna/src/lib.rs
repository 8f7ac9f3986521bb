//! IHE ATNA (ITI-20) over syslog, as pure functions: cutting a stream into messages
//! (`frame`), strict RFC 5424 headers (`header`), the XML of DICOM PS3.15 A.5
//! `AuditMessage` and RFC 3881 read without DTDs (`xml`), and the mapping to native
//! events (`map`). No I/O: the server's listeners call [`decode`] on each message.
//!
//! Invariants: [`decode`] never fails and never panics — a message it cannot map
//! becomes one "unparsed" event (action `unparsed`), so a sender's record is never
//! dropped; every event carries the whole syslog message byte for byte as its `origin`
//! (format `atna-dicom`, `atna-rfc3881` or `syslog-unparsed`: recall-model's one
//! mechanism for originals), as long as it is within [`recall_model::MAX_ORIGIN_BYTES`];
//! every event passed the same validation as an event posted over HTTP; reasons are
//! fixed phrases, never message content.

#![forbid(unsafe_code)]

pub mod frame;
pub mod header;
pub mod map;
pub mod xml;

use std::net::IpAddr;

use jiff::Timestamp;
use recall_model::{Event, Origin, Understood};
use serde_json::{Map, Value, json};

pub use frame::{Frame, FrameError, Framing, next_frame};

/// MSGIDs of audit messages (RFC 5425 / ITI-20: `IHE+RFC-3881`; DICOM: `ATNA`).
pub const AUDIT_MSGIDS: [&str; 2] = ["IHE+RFC-3881", "ATNA"];

/// The action of an event that keeps a message recall could not map.
pub const UNPARSED_ACTION: &str = "unparsed";

/// Most bytes of a message's text an unparsed event holds in its `detail` when the
/// message is too large for an origin (the native `detail` is at most 16 KiB).
pub const UNPARSED_TEXT_BYTES: usize = 12 * 1024;

/// Where a message came from.
#[derive(Debug, Clone)]
pub struct Context {
    /// When it arrived.
    pub received: Timestamp,
    /// The sender's address, for an unparsed event's `source.ip`.
    pub peer: Option<IpAddr>,
}

/// What one message became.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The events to append: one per patient, or the one unparsed event.
    pub events: Vec<Event>,
    /// Why the message could not be mapped, when `events` is the unparsed event.
    pub unparsed: Option<String>,
    /// Fields a listener may map to tenants.
    pub keys: Keys,
}

/// Fields of a message a listener may map to tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// The syslog HOSTNAME.
    pub hostname: Option<String>,
    /// The syslog APP-NAME.
    pub app_name: Option<String>,
    /// AuditSourceIdentification's AuditSourceID.
    pub audit_source: Option<String>,
}

/// Decodes one syslog message into the events to append.
pub fn decode(message: &[u8], ctx: &Context) -> Decoded {
    let h = match header::parse(message) {
        Ok(h) => h,
        Err(e) => return unparsed(message, ctx, None, format!("not RFC 5424 ({e})")),
    };
    let mut keys = Keys {
        hostname: h.hostname.map(str::to_owned),
        app_name: h.app_name.map(str::to_owned),
        audit_source: None,
    };
    let syslog = json!({
        "pri": h.pri,
        "hostname": h.hostname,
        "app_name": h.app_name,
        "procid": h.procid,
        "msgid": h.msgid,
    });
    if !h.msgid.is_some_and(|m| AUDIT_MSGIDS.contains(&m)) {
        let why = "MSGID is not IHE+RFC-3881 or ATNA".to_string();
        return unparsed(message, ctx, Some((syslog, h.timestamp)), why).with_keys(keys);
    }
    let root = match xml::parse(h.msg) {
        Ok(r) => r,
        Err(e) => {
            return unparsed(message, ctx, Some((syslog, h.timestamp)), e.to_string())
                .with_keys(keys);
        }
    };
    keys.audit_source = root
        .child("AuditSourceIdentification")
        .and_then(|a| a.attr("AuditSourceID"))
        .map(str::to_owned);
    let meta = map::Meta {
        received: ctx.received,
        syslog,
        fallback_time: h.timestamp,
    };
    match map::map(&root, &meta) {
        Ok(map::Mapped {
            mut events,
            problems,
        }) => {
            let format = match map::is_dicom(&root) {
                true => "atna-dicom",
                false => "atna-rfc3881",
            };
            let origin = Origin::mapped(format, problems, message).ok();
            for e in &mut events {
                e.origin = origin.clone();
            }
            Decoded {
                events,
                unparsed: None,
                keys,
            }
        }
        Err(why) => unparsed(message, ctx, Some((meta.syslog, h.timestamp)), why).with_keys(keys),
    }
}

impl Decoded {
    fn with_keys(mut self, keys: Keys) -> Self {
        self.keys = keys;
        self
    }
}

/// The event that keeps a message recall could not map: the message as its origin, its
/// length and why, at the header's time when it had one.
fn unparsed(
    message: &[u8],
    ctx: &Context,
    header: Option<(Value, Option<Timestamp>)>,
    why: String,
) -> Decoded {
    let (syslog, time) = header.unwrap_or((Value::Null, None));
    // A sender's clock far ahead would fail validation; the arrival time is then kept.
    let time = time
        .filter(|t| {
            t.as_second() <= ctx.received.as_second() + recall_model::MAX_FUTURE_SKEW_SECONDS
        })
        .unwrap_or(ctx.received);
    // None when the message is larger than an origin may be.
    let origin = Origin::new(
        "syslog-unparsed",
        Understood::None,
        vec![why.clone()],
        message,
    )
    .ok();
    let mut unparsed = json!({ "reason": why, "bytes": message.len() });
    if origin.is_none() {
        // Too large for an origin: the message's beginning, marked as cut.
        let text = String::from_utf8_lossy(message);
        let kept = fit(&text, UNPARSED_TEXT_BYTES);
        unparsed["text"] = json!(kept);
        unparsed["truncated"] = json!(kept.len() < text.len());
    }
    let mut detail = Map::new();
    detail.insert("unparsed".into(), unparsed);
    if !syslog.is_null() {
        detail.insert("syslog".into(), syslog);
    }
    let event = Event {
        id: None,
        time,
        tenant: None,
        actor: recall_model::Actor {
            id: "unknown".into(),
            role: None,
            name: None,
            kind: Some("system".into()),
        },
        action: UNPARSED_ACTION.into(),
        resource: None,
        patient: None,
        outcome: recall_model::Outcome::Success,
        purpose: None,
        reason: None,
        source: ctx.peer.map(|ip| recall_model::Source {
            ip: Some(ip),
            ..recall_model::Source::default()
        }),
        detail: Some(detail),
        origin,
    };
    Decoded {
        events: vec![event],
        unparsed: Some(why),
        keys: Keys::default(),
    }
}

/// The longest prefix of `text` whose JSON string form stays within `budget` bytes
/// (control characters take six bytes escaped), so the detail stays within its limit.
fn fit(text: &str, budget: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += match c {
            '"' | '\\' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used > budget {
            return &text[..i];
        }
    }
    text
}
