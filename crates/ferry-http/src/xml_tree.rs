//! A request body read into a small element tree, for configuration documents whose shape is
//! nested and repeated (lifecycle rules): the front-end walks the tree and decides what each
//! element means. Namespaces are dropped (local names only); text is kept exactly as sent.

use quick_xml::events::Event;

use crate::xml::XmlError;

/// Deepest nesting accepted; configuration documents are shallow.
const MAX_DEPTH: usize = 16;

/// One element: its local name, its own text (CDATA included) and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlElement {
    pub name: String,
    pub text: String,
    pub children: Vec<XmlElement>,
}

impl XmlElement {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`, trimmed.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// The `item` children of a `root` document (every `Rule` of a `LifecycleConfiguration`), at
/// least one and nothing else. `Err` says what is wrong, for the dialect's MalformedXML.
pub fn repeated<'a>(doc: &'a XmlElement, root: &str, item: &str) -> Result<&'a [XmlElement], String> {
    if doc.name != root {
        return Err(format!("the root element is {}, not {root}", doc.name));
    }
    if let Some(other) = doc.children.iter().find(|c| c.name != item) {
        return Err(format!("unexpected element {}", other.name));
    }
    if doc.children.is_empty() {
        return Err(format!("a {root} needs at least one {item}"));
    }
    Ok(&doc.children)
}

/// A rule's `Status` as S3 and OSS spell it: `Enabled` or `Disabled`, and required.
pub fn enabled_status(status: Option<&str>) -> Result<bool, String> {
    match status {
        Some("Enabled") => Ok(true),
        Some("Disabled") => Ok(false),
        Some(other) => Err(format!("Status must be Enabled or Disabled, not {other:?}")),
        None => Err("every Rule needs a Status".to_string()),
    }
}

/// Parse `body` into its root element. Errors (not well-formed, nothing but whitespace, more than
/// one root, too deep) are [`XmlError`]s for the front-end's MalformedXML.
pub fn parse_tree(body: &[u8]) -> Result<XmlElement, XmlError> {
    let malformed = |e: &dyn std::fmt::Display| {
        XmlError(format!(
            "The XML you provided was not well-formed or did not validate against our published schema. ({e})"
        ))
    };
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let name_of = |e: &quick_xml::events::BytesStart<'_>| String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(malformed(&"more than one root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(&"nesting too deep"));
                }
                stack.push(XmlElement { name: name_of(&e), ..Default::default() });
            }
            Event::Empty(e) => {
                let element = XmlElement { name: name_of(&e), ..Default::default() };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(malformed(&"more than one root element")),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else { return Err(malformed(&"unbalanced end tag")) };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| malformed(&e))?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(malformed(&"text outside the root element")),
                }
            }
            Event::CData(t) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed(&"unclosed elements"));
    }
    root.ok_or_else(|| malformed(&"the body holds no XML element"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_repeated_elements_keep_their_order_and_text() {
        let body = br#"<?xml version="1.0"?><L xmlns="urn:x"><R><ID> a&amp;b </ID><E><Days>3</Days></E></R><R><ID><![CDATA[c]]></ID><F/></R></L>"#;
        let root = parse_tree(body).unwrap_or_default();
        assert_eq!(root.name, "L");
        let rules: Vec<&XmlElement> = root.children_named("R").collect();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].child("ID").map(|e| e.text.as_str()), Some(" a&b "));
        assert_eq!(rules[0].child("E").and_then(|e| e.child_text("Days")), Some("3"));
        assert_eq!(rules[1].child_text("ID"), Some("c"));
        assert!(rules[1].child("F").is_some());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [&b""[..], b"   ", b"<a>", b"<a></b>", b"<a/><b/>", b"text", b"<a></a>junk"] {
            assert!(parse_tree(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert!(parse_tree(deep.as_bytes()).is_err());
    }
}
