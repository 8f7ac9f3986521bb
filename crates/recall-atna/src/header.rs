//! Strict RFC 5424 header parsing: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`.
//!
//! Any PRI (0..=191) is accepted, as ATNA senders pick their own facility; everything
//! else follows the RFC's grammar (lengths, PRINTUSASCII, well-formed structured data),
//! so a legacy BSD line is reported as such rather than half-understood. The message
//! body is returned as bytes with a UTF-8 BOM removed.

use jiff::Timestamp;

/// Why a message is not RFC 5424.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// `<PRI>` is missing or out of range.
    #[error("PRI")]
    Pri,
    /// The version is not 1.
    #[error("VERSION")]
    Version,
    /// A header field is missing, too long or not printable US-ASCII.
    #[error("{0}")]
    Field(&'static str),
    /// The timestamp is not an RFC 3339 date-time.
    #[error("TIMESTAMP")]
    Timestamp,
    /// The structured data is malformed.
    #[error("STRUCTURED-DATA")]
    StructuredData,
}

/// The parsed header of one message and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Facility × 8 + severity.
    pub pri: u8,
    /// When the sender says it emitted the message (`None` for `-`).
    pub timestamp: Option<Timestamp>,
    /// The sender's host name.
    pub hostname: Option<&'a str>,
    /// The sending application.
    pub app_name: Option<&'a str>,
    /// The sending process.
    pub procid: Option<&'a str>,
    /// The message type (`IHE+RFC-3881` or `ATNA` for audit messages).
    pub msgid: Option<&'a str>,
    /// The message body, BOM removed.
    pub msg: &'a [u8],
}

/// Parses one RFC 5424 message.
pub fn parse(input: &[u8]) -> Result<Header<'_>, HeaderError> {
    let mut c = Cursor { b: input, at: 0 };
    let pri = c.pri()?;
    if c.token(3).ok_or(HeaderError::Version)? != "1" {
        return Err(HeaderError::Version);
    }
    let ts = c.field("TIMESTAMP", 64)?;
    let timestamp = ts.map(parse_time).transpose()?;
    let hostname = c.field("HOSTNAME", 255)?;
    let app_name = c.field("APP-NAME", 48)?;
    let procid = c.field("PROCID", 128)?;
    let msgid = c.field("MSGID", 32)?;
    c.structured_data()?;
    let msg = match c.b.get(c.at) {
        None => &[][..],
        Some(b' ') => &c.b[c.at + 1..],
        Some(_) => return Err(HeaderError::StructuredData),
    };
    let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
    Ok(Header {
        pri,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        msg,
    })
}

fn parse_time(s: &str) -> Result<Timestamp, HeaderError> {
    // RFC 5424 §6.2.3: an RFC 3339 date-time with a `T`, upper case, and an offset.
    if !s.contains('T') || s.ends_with('z') {
        return Err(HeaderError::Timestamp);
    }
    s.parse().map_err(|_| HeaderError::Timestamp)
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn pri(&mut self) -> Result<u8, HeaderError> {
        let rest = self.b.strip_prefix(b"<").ok_or(HeaderError::Pri)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=3).contains(&digits) || rest.get(digits) != Some(&b'>') {
            return Err(HeaderError::Pri);
        }
        if digits > 1 && rest[0] == b'0' {
            return Err(HeaderError::Pri);
        }
        let pri = rest[..digits]
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        self.at = digits + 2;
        u8::try_from(pri)
            .ok()
            .filter(|p| *p <= 191)
            .ok_or(HeaderError::Pri)
    }

    /// Printable US-ASCII up to the next space (consumed), at most `max` bytes.
    fn token(&mut self, max: usize) -> Option<&'a str> {
        let rest = &self.b[self.at..];
        let len = rest
            .iter()
            .take_while(|&&b| (33..=126).contains(&b))
            .count();
        if len == 0 || len > max || rest.get(len) != Some(&b' ') {
            return None;
        }
        self.at += len + 1;
        std::str::from_utf8(&rest[..len]).ok()
    }

    fn field(&mut self, name: &'static str, max: usize) -> Result<Option<&'a str>, HeaderError> {
        match self.token(max).ok_or(HeaderError::Field(name))? {
            "-" => Ok(None),
            v => Ok(Some(v)),
        }
    }

    fn structured_data(&mut self) -> Result<(), HeaderError> {
        let bad = HeaderError::StructuredData;
        match self.b.get(self.at) {
            Some(b'-') => {
                self.at += 1;
                return Ok(());
            }
            Some(b'[') => {}
            _ => return Err(bad),
        }
        while self.b.get(self.at) == Some(&b'[') {
            self.at += 1;
            self.sd_name()?;
            loop {
                match self.b.get(self.at) {
                    Some(b']') => break,
                    Some(b' ') => {
                        self.at += 1;
                        self.sd_name()?;
                        self.expect(b'=')?;
                        self.sd_value()?;
                    }
                    _ => return Err(bad),
                }
            }
            self.at += 1;
        }
        Ok(())
    }

    /// SD-NAME: 1–32 printable US-ASCII except `=`, space, `]` and `"`.
    fn sd_name(&mut self) -> Result<(), HeaderError> {
        let rest = &self.b[self.at..];
        let len = rest
            .iter()
            .take_while(|&&b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))
            .count();
        if !(1..=32).contains(&len) {
            return Err(HeaderError::StructuredData);
        }
        self.at += len;
        Ok(())
    }

    /// `"` PARAM-VALUE `"`, where `"`, `\` and `]` are escaped with `\`.
    fn sd_value(&mut self) -> Result<(), HeaderError> {
        self.expect(b'"')?;
        loop {
            match self.b.get(self.at) {
                None => return Err(HeaderError::StructuredData),
                Some(b'\\') => self.at += 2,
                Some(b'"') => break,
                Some(_) => self.at += 1,
            }
        }
        self.at += 1;
        Ok(())
    }

    fn expect(&mut self, b: u8) -> Result<(), HeaderError> {
        if self.b.get(self.at) != Some(&b) {
            return Err(HeaderError::StructuredData);
        }
        self.at += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_atna_header() {
        let m = b"<85>1 2026-03-04T15:02:11.123+01:00 ehr.example app 42 IHE+RFC-3881 - \xEF\xBB\xBF<AuditMessage/>";
        let h = parse(m).unwrap();
        assert_eq!(h.pri, 85);
        assert_eq!(h.timestamp.unwrap().to_string(), "2026-03-04T14:02:11.123Z");
        assert_eq!(
            (h.hostname, h.app_name, h.procid),
            (Some("ehr.example"), Some("app"), Some("42"))
        );
        assert_eq!(h.msgid, Some("IHE+RFC-3881"));
        assert_eq!(h.msg, b"<AuditMessage/>");
        let sd = br#"<0>1 - - - - ATNA [a@1 x="q\"]" y="2"][b@1] body"#;
        let h = parse(sd).unwrap();
        assert_eq!((h.pri, h.timestamp, h.hostname), (0, None, None));
        assert_eq!(h.msg, b"body");
        assert_eq!(parse(b"<13>1 - - - - - -").unwrap().msg, b"");
    }

    #[test]
    fn refuses_what_is_not_rfc_5424() {
        let bad: [&[u8]; 9] = [
            b"<192>1 - - - - - -",
            b"<013>1 - - - - - -",
            b"<13> - - - - - -",
            b"<13>2 - - - - - -",
            b"<13>Mar  4 15:02:11 host app: text",
            b"<13>1 2026-03-04 - - - - -",
            b"<13>1 - - - - - [x",
            b"<13>1 - - - - - [x a=\"1]",
            b"<13>1 - - - - -x",
        ];
        for m in bad {
            assert!(parse(m).is_err(), "{}", String::from_utf8_lossy(m));
        }
        let long_msgid = format!("<13>1 - - - - {} -", "m".repeat(33));
        assert_eq!(
            parse(long_msgid.as_bytes()),
            Err(HeaderError::Field("MSGID"))
        );
    }
}
