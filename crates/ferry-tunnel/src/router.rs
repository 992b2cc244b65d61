//! The Tunnel endpoint table: (method, path under `/projects/<project>/`, selecting query keys)
//! → [`Endpoint`], resolved before authentication and before any handler runs, so each response
//! is labelled with what it served and no request reaches a handler meant for another. Unlike
//! the object dialects, Tunnel requests carry advisory query keys that pyodps adds as it pleases
//! (`check_latest_schema`, `schema_version`, `raw_size`, ...); the handlers refuse the ones
//! whose meaning ferry would otherwise get wrong (`overwrite`, `arrow`), and the rest are ignored.

use http::Method;

use crate::error::OdpsError;
use ferry_http::Query;

ferry_http::endpoints! {
    GetProject,
    GetTunnelRoute,
    CreateInstance,
    GetInstance,
    GetTable,
    CreateUploadSession,
    GetUploadSession,
    WriteBlock,
    CommitUpload,
    CreateDownloadSession,
    GetDownloadSession,
    ReadDownload,
}

/// A request the table does not serve, with the name it is counted under.
#[derive(Debug)]
pub struct Refusal {
    pub name: &'static str,
    pub error: OdpsError,
}

/// Whether a request is a Tunnel session call (upload or download session, block, commit, read)
/// rather than a call of the ODPS REST API (project, tables, instances). The two services answer
/// errors differently: the Java SDK parses a Tunnel error as JSON and reports anything else as a
/// `Local Error`, while REST errors are XML. Decided from the query alone, so a request refused
/// before routing or authentication gets the right format too.
pub fn is_tunnel_call(query: &Query) -> bool {
    ["uploads", "uploadid", "downloads", "downloadid"].iter().any(|k| query.has(k))
}

/// Resolve `method` on `rest` (the path segments after the project).
pub fn route(method: &Method, rest: &[&str], query: &Query) -> Result<Endpoint, Refusal> {
    let q = |name: &str| query.has(name);
    let refused = |name, message: String| Err(Refusal { name, error: OdpsError::invalid_argument(message) });
    match (rest, method) {
        ([], &Method::GET) => Ok(Endpoint::GetProject),
        (["tunnel"], &Method::GET) => Ok(Endpoint::GetTunnelRoute),
        (["instances"], &Method::POST) => Ok(Endpoint::CreateInstance),
        (["instances", _], &Method::GET) => Ok(Endpoint::GetInstance),
        (["tables", _], &Method::POST) if q("uploads") => Ok(Endpoint::CreateUploadSession),
        (["tables", _], &Method::PUT) if q("uploadid") && q("blockid") => Ok(Endpoint::WriteBlock),
        (["tables", _], &Method::GET) if q("uploadid") => Ok(Endpoint::GetUploadSession),
        (["tables", _], &Method::POST) if q("uploadid") => Ok(Endpoint::CommitUpload),
        (["tables", _], &Method::POST) if q("downloads") => Ok(Endpoint::CreateDownloadSession),
        (["tables", _], &Method::GET) if q("downloadid") && q("data") => Ok(Endpoint::ReadDownload),
        (["tables", _], &Method::GET) if q("downloadid") => Ok(Endpoint::GetDownloadSession),
        (["tables", _], &Method::GET) => Ok(Endpoint::GetTable),
        (["tables", _], _) => {
            refused("Unsupported", format!("ferry does not implement {method} on a table with this query"))
        }
        (["schemas", ..], _) => refused(
            "Unsupported",
            "schema namespaces are not supported; address tables as /projects/<project>/tables/<table>".into(),
        ),
        _ => Err(Refusal {
            name: "Unsupported",
            error: OdpsError::no_such_object(format!(
                "{method} /projects/<project>/{} is not served by ferry",
                rest.join("/")
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_calls_are_told_from_rest_calls_by_their_query() {
        for q in ["uploads", "uploadid=u&blockid=3", "uploadid=u", "downloads&partition=pt%3D1", "downloadid=d&data"] {
            assert!(is_tunnel_call(&Query::parse(Some(q))), "{q}");
        }
        for q in ["", "partitions", "curr_project=p"] {
            assert!(!is_tunnel_call(&Query::parse(Some(q))), "{q}");
        }
    }

    fn routed(method: Method, rest: &[&str], query: &str) -> Result<Endpoint, &'static str> {
        route(&method, rest, &Query::parse(Some(query))).map_err(|r| r.name)
    }

    #[test]
    fn upload_and_download_calls_pick_their_endpoint() {
        let t = ["tables", "t"];
        assert_eq!(routed(Method::POST, &t, "uploads&partition=pt%3D1"), Ok(Endpoint::CreateUploadSession));
        assert_eq!(routed(Method::PUT, &t, "uploadid=u&blockid=3"), Ok(Endpoint::WriteBlock));
        assert_eq!(routed(Method::GET, &t, "uploadid=u&reload=True"), Ok(Endpoint::GetUploadSession));
        assert_eq!(routed(Method::POST, &t, "uploadid=u"), Ok(Endpoint::CommitUpload));
        assert_eq!(routed(Method::GET, &t, "downloadid=d&data&rowrange=(0,10)"), Ok(Endpoint::ReadDownload));
        assert_eq!(routed(Method::GET, &t, "downloadid=d"), Ok(Endpoint::GetDownloadSession));
        assert_eq!(routed(Method::GET, &t, ""), Ok(Endpoint::GetTable));
        assert_eq!(routed(Method::GET, &[], ""), Ok(Endpoint::GetProject));
    }

    #[test]
    fn writes_without_their_keys_are_refused() {
        let t = ["tables", "t"];
        // A PUT without a block id is no block write, and never reaches one.
        assert_eq!(routed(Method::PUT, &t, "uploadid=u"), Err("Unsupported"));
        assert_eq!(routed(Method::DELETE, &t, ""), Err("Unsupported"));
        assert_eq!(routed(Method::POST, &t, ""), Err("Unsupported"));
        assert_eq!(routed(Method::GET, &["streams", "s"], ""), Err("Unsupported"));
        assert_eq!(routed(Method::DELETE, &[], ""), Err("Unsupported"));
    }
}
