//! Cutting a byte stream into syslog messages: RFC 5425 / RFC 6587 octet counting
//! (`MSG-LEN SP SYSLOG-MSG`) and, for legacy senders, LF-terminated messages.
//!
//! Invariants: a frame is never longer than the configured maximum (a longer one is an
//! error, and the connection cannot be resynchronised, so the caller closes it); the
//! parser only looks at the bytes it is given and never panics on any of them.

/// How messages are delimited on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Octet counting only (RFC 5425, TLS).
    OctetCounting,
    /// Octet counting when a message starts with a digit, else up to the next LF
    /// (RFC 6587 §3.4.2, legacy plain TCP).
    Auto,
}

/// Why a stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The octet count is not `NONZERO-DIGIT *DIGIT` followed by a space.
    #[error("malformed octet count")]
    BadCount,
    /// The message announces or reaches more bytes than allowed.
    #[error("message longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
}

/// One complete message found at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Where the message lies in the buffer.
    pub start: usize,
    /// End of the message (exclusive).
    pub end: usize,
    /// Bytes of the buffer this frame used up, delimiters included.
    pub consumed: usize,
}

/// Finds the first complete message in `buf`; `Ok(None)` when more bytes are needed.
pub fn next_frame(buf: &[u8], framing: Framing, max: usize) -> Result<Option<Frame>, FrameError> {
    // Line ends between octet-counted frames are tolerated on legacy streams.
    let skip = match framing {
        Framing::Auto => buf
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .count(),
        Framing::OctetCounting => 0,
    };
    let rest = &buf[skip..];
    let Some(&first) = rest.first() else {
        return Ok(None);
    };
    let found = if first.is_ascii_digit() || framing == Framing::OctetCounting {
        counted(rest, max)?
    } else {
        line(rest, max)?
    };
    Ok(found.map(|f| Frame {
        start: f.start + skip,
        end: f.end + skip,
        consumed: f.consumed + skip,
    }))
}

fn counted(buf: &[u8], max: usize) -> Result<Option<Frame>, FrameError> {
    // usize::MAX has 20 digits; a count longer than the limit's digits is too large anyway.
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == buf.len() {
        return if digits > 20 {
            Err(FrameError::BadCount)
        } else {
            Ok(None)
        };
    }
    if digits == 0 || buf[0] == b'0' || buf[digits] != b' ' {
        return Err(FrameError::BadCount);
    }
    let len = std::str::from_utf8(&buf[..digits])
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or(FrameError::TooLarge { max })?;
    if len > max {
        return Err(FrameError::TooLarge { max });
    }
    let start = digits + 1;
    if buf.len() - start < len {
        return Ok(None);
    }
    Ok(Some(Frame {
        start,
        end: start + len,
        consumed: start + len,
    }))
}

fn line(buf: &[u8], max: usize) -> Result<Option<Frame>, FrameError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(lf) if lf > max => Err(FrameError::TooLarge { max }),
        Some(lf) => {
            let end = if lf > 0 && buf[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            Ok(Some(Frame {
                start: 0,
                end,
                consumed: lf + 1,
            }))
        }
        None if buf.len() > max => Err(FrameError::TooLarge { max }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut buf: &[u8], framing: Framing) -> Result<Vec<&[u8]>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = next_frame(buf, framing, 100)? {
            out.push(&buf[f.start..f.end]);
            buf = &buf[f.consumed..];
        }
        Ok(out)
    }

    #[test]
    fn octet_counting_and_lines() {
        let s = b"5 hello3 abc";
        assert_eq!(
            all(s, Framing::OctetCounting).unwrap(),
            [&b"hello"[..], b"abc"]
        );
        assert_eq!(all(b"5 hel", Framing::OctetCounting).unwrap().len(), 0);
        let s = b"<1>1 a\r\n\n2 ab<2>1 b\n";
        assert_eq!(
            all(s, Framing::Auto).unwrap(),
            [&b"<1>1 a"[..], b"ab", b"<2>1 b"]
        );
        assert_eq!(all(b"<1>1 no end", Framing::Auto).unwrap().len(), 0);
    }

    #[test]
    fn refuses_what_cannot_be_resynchronised() {
        assert_eq!(
            all(b"05 hello", Framing::OctetCounting),
            Err(FrameError::BadCount)
        );
        assert_eq!(
            all(b"<1>1 x\n", Framing::OctetCounting),
            Err(FrameError::BadCount)
        );
        assert_eq!(all(b"5x", Framing::Auto), Err(FrameError::BadCount));
        assert!(matches!(
            all(b"101 ", Framing::Auto),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(all(b"99999999999999999999999 ", Framing::Auto).is_err());
        assert!(all(&[b'a'; 101], Framing::Auto).is_err());
    }
}
