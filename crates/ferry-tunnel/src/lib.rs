//! The Tunnel dialect: MaxCompute-style tables as the `pyodps` client reaches them — the small
//! control plane it needs (table metadata, tunnel discovery, the instance API for DDL) and the
//! table tunnel (upload sessions of numbered blocks, download sessions of row ranges).
//!
//! [`codec`] reads and writes the record stream; [`auth`] checks the ODPS signature; [`ddl`]
//! parses the SQL that pyodps sends to create and drop tables and partitions.
//!
//! Both planes answer under any path prefix (`http://host:port/odps` is the documented
//! endpoint): a request is for this front-end when it carries an `Authorization: ODPS` header,
//! and its path is read from `/projects/...` on; what comes before is the prefix the client
//! signed relative to.

mod control;
pub mod ddl;
mod download;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod records;
mod router;
mod upload;

pub use ferry_tunnel_wire::{auth, codec};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::access::{Action, Principal, Resource};
use ferry_core::credentials::{AuthError, CredentialStore};
use ferry_http::{Body, Frontend, Query, Request, Response};
use ferry_tables::{TableName, Tables};
use http::request::Parts;
use router::Endpoint;

pub use error::OdpsError;
use error::OdpsResult;

/// Limits of the Tunnel front-end.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// The largest block body (Parquet bytes stored) accepted.
    pub max_block_size: u64,
    /// A block upload that sends no data for this long is cut off.
    pub idle_timeout: Duration,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig { max_block_size: 5 << 30, idle_timeout: Duration::from_secs(120) }
    }
}

/// Block ids a session accepts: `0..MAX_BLOCKS`.
pub const MAX_BLOCKS: u32 = 20_000;

pub struct TunnelFrontend {
    tables: Tables,
    creds: Arc<CredentialStore>,
    config: TunnelConfig,
}

/// One authenticated request, as the operations see it.
pub(crate) struct Ctx<'a> {
    pub fe: &'a TunnelFrontend,
    pub parts: &'a Parts,
    pub query: &'a Query,
    /// The path before `/projects/` (the client's endpoint path).
    pub prefix: &'a str,
    pub project: String,
}

impl Ctx<'_> {
    pub fn engine(&self) -> &Engine {
        self.fe.tables.engine()
    }

    pub fn tables(&self) -> &Tables {
        &self.fe.tables
    }

    pub fn table_name(&self, table: &str) -> OdpsResult<TableName> {
        Ok(TableName::new(&self.project, table)?)
    }

    /// The `partition` query parameter as a spec (empty when absent).
    pub fn partition(&self) -> OdpsResult<ferry_table::PartitionSpec> {
        ferry_table::PartitionSpec::parse(self.query.get("partition").unwrap_or(""))
            .map_err(OdpsError::invalid_argument)
    }
}

impl TunnelFrontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: TunnelConfig) -> Self {
        TunnelFrontend { tables: Tables::new(engine), creds, config }
    }

    /// Route, authenticate, then serve; the endpoint's name labels the response (refusals too).
    async fn dispatch(&self, parts: &Parts, body: Body, query: &Query) -> (OdpsResult<Response>, &'static str) {
        let path = parts.uri.path();
        let Some(at) = path.find("/projects/") else {
            // `/logview/host`, `/tenants`, ...: the SDK copes with 404 for what ferry does not keep.
            return (Err(OdpsError::no_such_object(format!("{path} is not served by ferry"))), "Unsupported");
        };
        let prefix = &path[..at];
        let segments: Vec<String> = path[at + "/projects/".len()..]
            .split('/')
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let Some((project, rest)) = segments.split_first() else {
            return (Err(OdpsError::no_such_object("no project")), "Unsupported");
        };
        let routed = router::route(&parts.method, rest, query);
        let name = match &routed {
            Ok(e) => ferry_http::Endpoint::name(e),
            Err(refusal) => refusal.name,
        };
        let principal = match authenticate(&self.creds, parts, prefix) {
            Ok(p) => p,
            Err(e) => return (Err(e), name),
        };
        let endpoint = match routed {
            Ok(e) => e,
            Err(refusal) => return (Err(refusal.error), name),
        };
        if let Err(e) = authorize(&principal, endpoint, project) {
            return (Err(e), name);
        }
        let ctx = Ctx { fe: self, parts, query, prefix, project: project.to_string() };
        (self.serve(&ctx, endpoint, rest, body).await, name)
    }

    /// Serve a routed request; `rest` is the path after the project (the router checked its shape).
    async fn serve(&self, ctx: &Ctx<'_>, endpoint: Endpoint, rest: &[&str], body: Body) -> OdpsResult<Response> {
        let last = rest.last().copied().unwrap_or_default();
        let table = || ctx.table_name(last);
        match endpoint {
            Endpoint::GetProject => control::project(ctx),
            Endpoint::GetTunnelRoute => control::tunnel_endpoint(ctx),
            Endpoint::CreateInstance => control::create_instance(ctx, body).await,
            Endpoint::GetInstance => control::instance(ctx, last),
            Endpoint::GetTable => control::table(ctx, &table()?).await,
            Endpoint::CreateUploadSession => upload::create(ctx, &table()?).await,
            Endpoint::GetUploadSession => upload::status(ctx, &table()?).await,
            Endpoint::WriteBlock => upload::write_block(ctx, &table()?, body).await,
            Endpoint::CommitUpload => upload::commit(ctx, &table()?, body).await,
            Endpoint::CreateDownloadSession => download::create(ctx, &table()?).await,
            Endpoint::GetDownloadSession => download::status(ctx, &table()?).await,
            Endpoint::ReadDownload => download::read(ctx, &table()?).await,
        }
    }
}

/// Which action on the project each endpoint is, for the shared authorization layer
/// ([`ferry_core::access`]): table data and DDL need `write`, downloads `read`; looking at the
/// project or a table's schema needs either.
fn authorize(principal: &Principal, endpoint: Endpoint, project: &str) -> OdpsResult<()> {
    let resource = Resource::Project(project);
    let decision = match endpoint {
        Endpoint::GetProject | Endpoint::GetTunnelRoute | Endpoint::GetInstance | Endpoint::GetTable => {
            principal.authorize(Action::Read, &resource).or_else(|_| principal.authorize(Action::Write, &resource))
        }
        Endpoint::CreateDownloadSession | Endpoint::GetDownloadSession | Endpoint::ReadDownload => {
            principal.authorize(Action::Read, &resource)
        }
        Endpoint::CreateInstance
        | Endpoint::CreateUploadSession
        | Endpoint::GetUploadSession
        | Endpoint::WriteBlock
        | Endpoint::CommitUpload => principal.authorize(Action::Write, &resource),
    };
    decision.map_err(|d| OdpsError::access_denied(d.0))
}

/// Check the request's ODPS v2 signature (relative to the endpoint path `prefix`) and its Date.
fn authenticate(creds: &CredentialStore, parts: &Parts, prefix: &str) -> OdpsResult<Principal> {
    let header = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (id, signature) = auth::parse_authorization(header).ok_or_else(|| {
        OdpsError::unauthorized("expected Authorization: ODPS <access id>:<signature> (signature version 2)")
    })?;
    let resolved = creds.resolve(id, None).map_err(|e| match e {
        AuthError::Disabled => OdpsError::unauthorized(format!("the access id {id} is disabled")),
        _ => OdpsError::unauthorized(format!("the access id {id} is not known")),
    })?;
    let secret = resolved.secret.as_str();
    let target = parts.uri.path_and_query().map_or("", |pq| pq.as_str());
    let relative = target.strip_prefix(prefix).unwrap_or(target);
    let canonical = auth::canonical_string(parts.method.as_str(), &parts.headers, relative);
    if auth::sign(secret, &canonical) != signature {
        return Err(OdpsError::signature_not_match(format!(
            "the request signature does not match; the string to sign was {canonical:?}"
        )));
    }
    check_date(parts)?;
    Ok(resolved.principal)
}

/// The signed `Date` must be within 15 minutes of the server's clock, so a captured request
/// cannot be replayed later. The message is in MaxCompute's `key:value` form, which pyodps
/// parses into its `RequestTimeTooSkewed` error.
fn check_date(parts: &Parts) -> OdpsResult<()> {
    let date = parts
        .headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(ferry_http::dates::parse_http_date)
        .ok_or_else(|| OdpsError::unauthorized("the request needs a Date header holding an HTTP date"))?;
    let now = ferry_core::now_millis();
    if auth::is_fresh(date, now) {
        return Ok(());
    }
    Err(OdpsError::new(
        http::StatusCode::FORBIDDEN,
        "RequestTimeTooSkewed",
        format!(
            "max_interval_date:{},expire_date:{},now_date:{}",
            auth::MAX_SKEW_MILLIS,
            ferry_http::dates::iso8601(date.saturating_add(auth::MAX_SKEW_MILLIS)),
            ferry_http::dates::iso8601(now)
        ),
    ))
}

#[async_trait]
impl Frontend for TunnelFrontend {
    fn name(&self) -> &'static str {
        "tunnel"
    }

    fn claims(&self, request: &Parts) -> bool {
        request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("ODPS "))
    }

    async fn handle(&self, request: Request) -> Response {
        let request_id = ferry_core::random_id();
        let (parts, body) = request.into_parts();
        let query = Query::parse(parts.uri.query());
        let (result, name) = self.dispatch(&parts, body, &query).await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) if router::is_tunnel_call(&query) => error::render_json(&e, &request_id),
            Err(e) => error::render(&e, &request_id),
        };
        ferry_http::endpoint::tag(&mut response, name);
        ferry_http::response::set(&mut response, "x-odps-request-id", &request_id);
        response
    }
}

/// A JSON response.
pub(crate) use ferry_http::response::json as json_response;
