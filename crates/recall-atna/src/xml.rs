//! A small element tree of an audit message, read with quick-xml and refusing DTDs.
//!
//! Invariants: a document type declaration is refused outright, so no entity can be
//! declared — no external entity is ever fetched (XXE) and nothing expands
//! (billion laughs); a reference to anything but the five predefined entities or a
//! character is refused; nesting is bounded, so neither reading nor dropping the tree
//! can exhaust the stack. Names are local names (namespace prefixes dropped).

use quick_xml::events::{BytesStart, Event};

/// Deepest nesting accepted (audit messages use four levels).
pub const MAX_DEPTH: usize = 32;

/// Why a body is not a usable XML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The body is not UTF-8.
    #[error("the XML is not UTF-8")]
    NotUtf8,
    /// The document has a DTD (`<!DOCTYPE`), which is never read.
    #[error("the XML has a document type declaration, which is refused")]
    Dtd,
    /// The document references an entity other than the predefined ones.
    #[error("the XML references an undeclared entity")]
    Entity,
    /// The document nests deeper than [`MAX_DEPTH`].
    #[error("the XML nests too deeply")]
    TooDeep,
    /// The document is not well-formed (or has no root element).
    #[error("the XML is not well-formed")]
    Malformed,
}

/// One element: its local name, attributes and children, and its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name.
    pub name: String,
    /// Attributes by local name, in document order.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Text and CDATA directly inside, concatenated.
    pub text: String,
}

impl Element {
    /// The value of an attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this name.
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a document into its root element.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(input).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|_| XmlError::Malformed)?;
        match event {
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => {
                let el = element(&e)?;
                close(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(XmlError::Malformed)?;
                close(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|_| XmlError::Malformed)?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|_| XmlError::Malformed)?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.decode().map_err(|_| XmlError::Malformed)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or(XmlError::Entity)?
                            .to_owned()
                    }
                    Err(_) => return Err(XmlError::Malformed),
                };
                push_text(&mut stack, &c)?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed);
    }
    root.ok_or(XmlError::Malformed)
}

fn element(e: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = utf8(e.local_name().into_inner())?;
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| XmlError::Malformed)?;
        let key = utf8(a.key.local_name().into_inner())?;
        // Only the predefined entities resolve; any other reference is refused.
        let value = a.unescape_value().map_err(|e| match e {
            quick_xml::Error::Escape(_) => XmlError::Entity,
            _ => XmlError::Malformed,
        })?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

fn utf8(b: &[u8]) -> Result<String, XmlError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| XmlError::NotUtf8)
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        // A second root element is not well-formed.
        None if root.is_some() => return Err(XmlError::Malformed),
        None => *root = Some(el),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => el.text.push_str(s),
        // Only whitespace may stand outside the root element.
        None if s.trim().is_empty() => {}
        None => return Err(XmlError::Malformed),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_attributes_and_text() {
        let doc = br#"<?xml version="1.0"?><a:Root xmlns:a="urn:x" k="1 &amp; 2"><B/><B v="&#65;">t&lt;<![CDATA[x]]></B></a:Root>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Root");
        assert_eq!(root.attr("k"), Some("1 & 2"));
        assert_eq!(root.all("B").count(), 2);
        assert_eq!(root.children[1].attr("v"), Some("A"));
        assert_eq!(root.children[1].text, "t<x");
    }

    #[test]
    fn refuses_dtds_entities_and_depth() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(parse(xxe), Err(XmlError::Dtd));
        let laughs = br#"<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>"#;
        assert_eq!(parse(laughs), Err(XmlError::Dtd));
        assert_eq!(parse(b"<r>&b;</r>"), Err(XmlError::Entity));
        assert_eq!(parse(br#"<r a="&b;"/>"#), Err(XmlError::Entity));
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        assert_eq!(parse(b"<a></b>"), Err(XmlError::Malformed));
        assert_eq!(parse(b"<a/><b/>"), Err(XmlError::Malformed));
        assert_eq!(parse(b"text"), Err(XmlError::Malformed));
        assert_eq!(parse(b"\xff"), Err(XmlError::NotUtf8));
    }
}
