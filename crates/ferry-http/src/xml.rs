//! XML as S3 and OSS speak it: a small writer for responses and lenient parsers for the request
//! bodies ferry reads (CompleteMultipartUpload, Delete, CreateBucketConfiguration). Parse errors
//! are [`XmlError`]s; each front-end turns them into its own MalformedXML.

use ferry_core::CommitPart;
use ferry_core::checksum::ChecksumAlgorithm;
use quick_xml::escape::escape;
use quick_xml::events::Event;

/// Why a request body was refused; front-ends answer MalformedXML with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type XmlResult<T> = Result<T, XmlError>;

const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document element by element, escaping text.
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A document whose root carries the S3 namespace.
    pub fn new(root: &str) -> Self {
        Self::with_namespace(root, Some(NAMESPACE))
    }

    /// A document whose root carries `namespace`, if any.
    pub fn with_namespace(root: &str, namespace: Option<&str>) -> Self {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        match namespace {
            Some(ns) => out.push_str(&format!("<{root} xmlns=\"{ns}\">")),
            None => out.push_str(&format!("<{root}>")),
        }
        XmlWriter { out }
    }

    /// A document whose root has no namespace (error bodies, OSS).
    pub fn plain(root: &str) -> Self {
        Self::with_namespace(root, None)
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn elem(&mut self, name: &str, value: impl AsRef<str>) -> &mut Self {
        self.open(name);
        let value = value.as_ref();
        if value.chars().any(not_xml_char) {
            // XML 1.0 cannot carry most control characters, even escaped; a listing that must
            // show such keys exactly should ask for encoding-type=url.
            let cleaned: String = value.chars().map(|c| if not_xml_char(c) { '\u{FFFD}' } else { c }).collect();
            self.out.push_str(&escape(&cleaned));
        } else {
            self.out.push_str(&escape(value));
        }
        self.close(name)
    }

    pub fn opt(&mut self, name: &str, value: Option<impl AsRef<str>>) -> &mut Self {
        if let Some(v) = value {
            self.elem(name, v);
        }
        self
    }

    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

/// What [`walk`] reports: a text node or a closing element, with the stack of local element
/// names down to it.
enum Node<'a> {
    Text(&'a [String], String),
    End(&'a [String]),
}

impl XmlError {
    fn new(message: impl Into<String>) -> Self {
        XmlError(message.into())
    }
}

fn not_xml_char(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// Walk an XML document, reporting text nodes and element ends.
fn walk(body: &[u8], mut on: impl FnMut(Node<'_>) -> XmlResult<()>) -> XmlResult<()> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let malformed = |e: &dyn std::fmt::Display| {
        XmlError(format!(
            "The XML you provided was not well-formed or did not validate against our published schema. ({e})"
        ))
    };
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(e) => {
                if path.len() > 16 {
                    return Err(malformed(&"nesting too deep"));
                }
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            Event::End(_) => {
                on(Node::End(&path))?;
                path.pop();
            }
            Event::Empty(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                on(Node::End(&path))?;
                path.pop();
            }
            // Whitespace-only text is reported too: an object key may be " ", and a key is
            // kept exactly as sent. Parsers ignore text at paths they do not read.
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| malformed(&e))?;
                if !path.is_empty() {
                    on(Node::Text(&path, text.into_owned()))?;
                }
            }
            Event::CData(t) => on(Node::Text(&path, String::from_utf8_lossy(&t).into_owned()))?,
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(malformed(&"unclosed elements"));
    }
    Ok(())
}

fn is(path: &[String], expected: &[&str]) -> bool {
    path.len() == expected.len() && path.iter().zip(expected).all(|(a, b)| a == b)
}

/// The text of the first element at `path` (root first), CDATA included; `None` when absent.
pub fn element_text(body: &[u8], path: &[&str]) -> XmlResult<Option<String>> {
    Ok(element_texts(body, path)?.into_iter().next())
}

/// The text of every element at `path` (root first), in document order, each exactly as sent
/// (whitespace kept, entities and CDATA resolved). An empty element gives "".
pub fn element_texts(body: &[u8], path: &[&str]) -> XmlResult<Vec<String>> {
    let mut found = Vec::new();
    let mut current = String::new();
    walk(body, |node| {
        match node {
            Node::Text(at, text) if is(at, path) => current.push_str(&text),
            Node::End(at) if is(at, path) => found.push(std::mem::take(&mut current)),
            _ => {}
        }
        Ok(())
    })?;
    Ok(found)
}

/// `<CompleteMultipartUpload><Part><PartNumber/><ETag/>[<ChecksumCRC32/>…]</Part>…`, namespace
/// optional, children in any order.
pub fn parse_complete(body: &[u8]) -> XmlResult<Vec<CommitPart>> {
    let mut parts = Vec::new();
    let mut current = CommitPart::default();
    let mut has_number = false;
    let mut saw_root = false;
    walk(body, |node| match node {
        Node::Text(path, text) => {
            if path.len() == 3 && path[0] == "CompleteMultipartUpload" && path[1] == "Part" {
                match path[2].as_str() {
                    "PartNumber" => {
                        current.number = text
                            .trim()
                            .parse()
                            .map_err(|_| XmlError::new(format!("PartNumber {:?} is not a number", text.trim())))?;
                        has_number = true;
                    }
                    "ETag" => current.etag = Some(text),
                    other => {
                        if let Some(alg) = other.strip_prefix("Checksum").and_then(ChecksumAlgorithm::parse) {
                            current.checksums.push((alg, text.trim().to_string()));
                        }
                    }
                }
            }
            Ok(())
        }
        Node::End(path) => {
            if is(path, &["CompleteMultipartUpload", "Part"]) {
                if !has_number {
                    return Err(XmlError::new("A Part has no PartNumber"));
                }
                parts.push(std::mem::take(&mut current));
                has_number = false;
            } else if is(path, &["CompleteMultipartUpload"]) {
                saw_root = true;
            }
            Ok(())
        }
    })?;
    if !saw_root || parts.is_empty() {
        return Err(XmlError::new(
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    Ok(parts)
}

/// One `<Object>` of a Delete request: its key exactly as sent and the version it names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteEntry {
    pub key: String,
    pub version_id: Option<String>,
}

/// `<Delete><Quiet>true</Quiet><Object><Key/>[<VersionId/>]</Object>…</Delete>` → (quiet,
/// entries). Keys are kept exactly as sent: whitespace-only keys, entities and CDATA included.
pub fn parse_delete_entries(body: &[u8]) -> XmlResult<(bool, Vec<DeleteEntry>)> {
    let mut quiet = String::new();
    let mut entries = Vec::new();
    let mut current = DeleteEntry::default();
    let mut has_key = false;
    let mut version = String::new();
    let mut saw_root = false;
    walk(body, |node| {
        match node {
            Node::Text(path, text) if is(path, &["Delete", "Quiet"]) => quiet.push_str(&text),
            Node::Text(path, text) if is(path, &["Delete", "Object", "Key"]) => current.key.push_str(&text),
            Node::Text(path, text) if is(path, &["Delete", "Object", "VersionId"]) => version.push_str(&text),
            Node::End(path) if is(path, &["Delete", "Object", "Key"]) => has_key = true,
            Node::End(path) if is(path, &["Delete", "Object", "VersionId"]) => {
                current.version_id = Some(std::mem::take(&mut version))
            }
            Node::End(path) if is(path, &["Delete", "Object"]) => {
                if !has_key {
                    return Err(XmlError::new("Every Object of a Delete request needs a Key"));
                }
                entries.push(std::mem::take(&mut current));
                has_key = false;
            }
            Node::End(path) => saw_root |= is(path, &["Delete"]),
            Node::Text(..) => {}
        }
        Ok(())
    })?;
    if !saw_root || entries.is_empty() {
        return Err(XmlError::new("The Delete request must name at least one Object"));
    }
    if entries.len() > 1000 {
        return Err(XmlError::new("The Delete request may name at most 1000 objects"));
    }
    Ok((quiet.trim().eq_ignore_ascii_case("true"), entries))
}

/// [`parse_delete_entries`] for dialects without versions: (quiet, keys).
pub fn parse_delete(body: &[u8]) -> XmlResult<(bool, Vec<String>)> {
    let (quiet, entries) = parse_delete_entries(body)?;
    Ok((quiet, entries.into_iter().map(|e| e.key).collect()))
}

/// Check a CreateBucketConfiguration body is well-formed (an empty body is fine).
pub fn check_create_bucket(body: &[u8]) -> XmlResult<()> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    walk(body, |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_as_boto3_sends_it() {
        let body = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"296e"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>qcHkIg==</ChecksumCRC32></Part><Part><PartNumber>3</PartNumber><ETag>abc</ETag></Part></CompleteMultipartUpload>"#;
        let parts = parse_complete(body).unwrap_or_default();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].number, 1);
        assert_eq!(parts[0].etag.as_deref(), Some("\"296e\""));
        assert_eq!(parts[0].checksums, vec![(ChecksumAlgorithm::Crc32, "qcHkIg==".to_string())]);
        assert_eq!(parts[1].number, 3);
    }

    #[test]
    fn malformed_complete_bodies() {
        for body in [
            &b""[..],
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
            b"not xml",
        ] {
            assert!(parse_complete(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn delete_keeps_keys_exactly_as_sent() {
        let body = b"<Delete>\n  <Quiet> true </Quiet>\n  <Object><Key> </Key></Object>\n  <Object><Key>\ta&amp;b\n</Key><VersionId>null</VersionId></Object>\n  <Object><Key><![CDATA[<x>]]></Key></Object>\n</Delete>";
        let (quiet, entries) = parse_delete_entries(body).unwrap_or_default();
        assert!(quiet);
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, [" ", "\ta&b\n", "<x>"]);
        assert_eq!(entries[1].version_id.as_deref(), Some("null"));
        assert_eq!(entries[0].version_id, None);
        assert!(parse_delete_entries(b"<Delete><Object><VersionId>1</VersionId></Object></Delete>").is_err());
    }

    #[test]
    fn element_texts_lists_every_match() {
        let body = b"<A><B><C>1</C></B><B><C> </C></B><B><C/></B></A>";
        assert_eq!(element_texts(body, &["A", "B", "C"]).unwrap_or_default(), ["1", " ", ""]);
        assert_eq!(element_text(body, &["A", "B", "C"]).unwrap_or_default().as_deref(), Some("1"));
    }

    #[test]
    fn writer_escapes() {
        let mut w = XmlWriter::new("R");
        w.elem("Key", "a<b&c");
        assert!(w.finish("R").ends_with("<Key>a&lt;b&amp;c</Key></R>"));
    }
}
