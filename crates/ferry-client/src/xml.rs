//! A minimal XML tree for reading S3 responses.

use quick_xml::events::Event;

use crate::error::{ClientError, Result};

#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn parse(body: &[u8]) -> Result<Node> {
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut stack: Vec<Node> = vec![Node::default()];
        let bad = |e: &dyn std::fmt::Display| ClientError::Protocol(format!("invalid XML: {e}"));
        loop {
            match reader.read_event().map_err(|e| bad(&e))? {
                Event::Start(e) => stack.push(Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                }),
                Event::Empty(e) => {
                    let node =
                        Node { name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(), ..Node::default() };
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    }
                }
                Event::End(_) => {
                    let node = stack.pop().ok_or_else(|| bad(&"unbalanced"))?;
                    stack.last_mut().ok_or_else(|| bad(&"unbalanced"))?.children.push(node);
                }
                Event::Text(t) => {
                    if let Some(node) = stack.last_mut() {
                        node.text.push_str(&t.unescape().map_err(|e| bad(&e))?);
                    }
                }
                Event::CData(t) => {
                    if let Some(node) = stack.last_mut() {
                        node.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let mut root = stack.pop().ok_or_else(|| bad(&"empty"))?;
        root.children.pop().ok_or_else(|| bad(&"no root element"))
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    pub fn required(&self, name: &str) -> Result<&str> {
        self.text_of(name).ok_or_else(|| ClientError::Protocol(format!("<{}> has no <{name}>", self.name)))
    }
}
