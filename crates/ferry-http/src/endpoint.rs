//! Typed endpoints: the shape every front-end's router follows.
//!
//! Each dialect maps (method, addressing, sub-resource query names) to an `Endpoint` enum in one
//! `router.rs`, before authentication and before any handler runs, so a request ferry does not
//! know can never reach a handler meant for another. Sub-resources the dialect defines but ferry
//! does not implement are explicit entries that answer the dialect's own "not implemented" error.
//!
//! The router's table is also described as data ([`EndpointDoc`] rows), from which the coverage
//! documents in `docs/` are generated and checked by a test, so docs cannot drift from the code.

use crate::{Query, Response};

/// A request, resolved by a dialect's router.
pub trait Endpoint {
    /// The operation's name as the dialect's documentation spells it (`PutObject`,
    /// `GetBucketInfo`, ...). Labels metrics and logs.
    fn name(&self) -> &'static str;
}

/// Declares a dialect's `Endpoint` enum and its [`Endpoint`] names from one list, each variant
/// named after the operation it serves: `ferry_http::endpoints! { GetObject, PutObject }`.
#[macro_export]
macro_rules! endpoints {
    ($($variant:ident),* $(,)?) => {
        /// What a request asks for; handlers match on this.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Endpoint {
            $($variant),*
        }

        impl $crate::endpoint::Endpoint for Endpoint {
            fn name(&self) -> &'static str {
                match self {
                    $(Endpoint::$variant => stringify!($variant)),*
                }
            }
        }
    };
}

/// The endpoint a front-end matched, carried on the response so that the shared router labels
/// metrics with it instead of guessing from the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointName(pub &'static str);

/// Mark `response` as served by `name`.
pub fn tag(response: &mut Response, name: &'static str) {
    response.extensions_mut().insert(EndpointName(name));
}

/// The endpoint name a front-end put on `response`; `"Unrouted"` when the request was refused
/// before it could be routed (a malformed address, say).
pub fn name_of(response: &Response) -> &'static str {
    response.extensions().get::<EndpointName>().map_or("Unrouted", |n| n.0)
}

/// The first query parameter that is neither in `known` nor accepted by `also` (a prefix rule
/// such as `x-`/`response-` families). Routers refuse such a request as "not implemented" rather
/// than ignore a parameter whose meaning they do not know.
pub fn first_unknown<'q>(query: &'q Query, known: &[&str], also: impl Fn(&str) -> bool) -> Option<&'q str> {
    query.pairs().iter().map(|(k, _)| k.as_str()).find(|k| !known.contains(k) && !also(k))
}

/// One row of a dialect's coverage table: how a request is addressed and whether ferry serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointDoc {
    /// The operation's name (as [`Endpoint::name`] returns it).
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// The addressing and sub-resource, e.g. `/bucket?versioning` or `/bucket/key?uploadId`.
    pub resource: &'static str,
    /// `true` when ferry implements it; `false` when it answers "not implemented" (or, for a
    /// refused write, the documented refusal).
    pub supported: bool,
    /// What a user should know (limits, refusal reason). Empty when nothing.
    pub note: &'static str,
}

/// Markers between which a coverage document holds the generated table.
pub const TABLE_BEGIN: &str = "<!-- endpoint table: generated from the router, checked by a test -->";
pub const TABLE_END: &str = "<!-- end of endpoint table -->";

/// The endpoint table as Markdown, one row per endpoint, in the router's order.
pub fn coverage_markdown(rows: &[EndpointDoc]) -> String {
    let mut out = String::from("| operation | request | supported | notes |\n|---|---|---|---|\n");
    for r in rows {
        let supported = if r.supported { "yes" } else { "no (NotImplemented)" };
        out.push_str(&format!("| {} | `{} {}` | {} | {} |\n", r.name, r.method, r.resource, supported, r.note));
    }
    out
}

/// Checks that `document` holds exactly `coverage_markdown(rows)` between the markers; the error
/// says how to regenerate it. Front-ends call this from a unit test on their `docs/` file.
pub fn check_coverage_doc(document: &str, rows: &[EndpointDoc]) -> Result<(), String> {
    let expected = coverage_markdown(rows);
    let found = document
        .split_once(TABLE_BEGIN)
        .and_then(|(_, rest)| rest.split_once(TABLE_END))
        .map(|(table, _)| table.trim_matches('\n'));
    match found {
        Some(table) if table == expected.trim_matches('\n') => Ok(()),
        Some(_) => Err(format!(
            "the endpoint table in the coverage document differs from the router; replace the part between the markers with:\n{expected}"
        )),
        None => Err(format!("the coverage document lacks the markers {TABLE_BEGIN:?} … {TABLE_END:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: &[EndpointDoc] = &[
        EndpointDoc { name: "GetObject", method: "GET", resource: "/bucket/key", supported: true, note: "" },
        EndpointDoc { name: "PutObjectAcl", method: "PUT", resource: "/bucket/key?acl", supported: false, note: "" },
    ];

    #[test]
    fn unknown_query_parameters_are_found() {
        let q = Query::parse(Some("uploadId=1&x-id=PutObject&tagging"));
        assert_eq!(first_unknown(&q, &["uploadId"], |k| k.starts_with("x-")), Some("tagging"));
        assert_eq!(first_unknown(&q, &["uploadId", "tagging"], |k| k.starts_with("x-")), None);
    }

    #[test]
    fn coverage_doc_must_match_the_rows() {
        let doc = format!("# S3\n\n{TABLE_BEGIN}\n{}{TABLE_END}\n", coverage_markdown(ROWS));
        assert!(check_coverage_doc(&doc, ROWS).is_ok());
        let stale = doc.replace("PutObjectAcl", "PutObjectTagging");
        assert!(check_coverage_doc(&stale, ROWS).err().unwrap_or_default().contains("differs"));
        assert!(check_coverage_doc("# nothing", ROWS).err().unwrap_or_default().contains("markers"));
    }

    #[test]
    fn responses_carry_their_endpoint_name() {
        let mut r = Response::new(crate::empty());
        assert_eq!(name_of(&r), "Unrouted");
        tag(&mut r, "ListObjectVersions");
        assert_eq!(name_of(&r), "ListObjectVersions");
    }
}
