//! ferry's web console at `/console`: one page of plain HTML, CSS and JS embedded in the binary,
//! and a small JSON API behind it.
//!
//! Sign-in takes an access key id and secret, checked against the [`CredentialStore`], and
//! answers with a session cookie sealed under the master key (see [`cookie`]) and a CSRF token
//! bound to it. Every API call re-resolves the key (a disabled or deleted key is signed out at
//! once) and authorizes its action with the key's grants, as the S3 front-end does. Calls that
//! change state must carry the CSRF token in `X-Ferry-Csrf` and, when the browser sends
//! `Origin`, come from the console's own origin.
//!
//! Uploads map one to one onto engine session calls (create, put part — streamed, never
//! buffered —, list parts, commit, abort), so a browser upload is resumable exactly like an S3
//! multipart upload: after a reload the page asks for the part list and sends only what is
//! missing. Downloads are presigned S3 GET URLs for the signed-in key.

pub mod assets;
pub mod cookie;
pub mod presign;
pub mod router;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::access::{Action, Principal, Resource};
use ferry_core::credentials::CredentialStore;
use ferry_core::keys::MasterKey;
use ferry_core::{
    CommitRequest, CommitRules, Engine, Error, ObjectMeta, ObjectTarget, PartInput, Session, Target, UploadMarker,
    now_millis,
};
use ferry_http::{Frontend, Query, Request, Response, endpoint};
use ferry_tables::{TableName, Tables};
use http::StatusCode;
use http::request::Parts;
use serde_json::{Value as Json, json};

pub use router::{Endpoint, endpoint_docs};

/// The header carrying the CSRF token on every call that changes state.
pub const CSRF_HEADER: &str = "x-ferry-csrf";
/// Objects (and folders) per listing page.
pub const PAGE_SIZE: usize = 200;
/// The most parts an upload may have (as S3).
pub const MAX_PARTS: usize = 10_000;

/// Settings of the console.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The region presigned URLs are signed for (the S3 front-end's region).
    pub region: String,
    /// How long a sign-in lasts, in seconds.
    pub session_lifetime: u64,
    /// How long a download URL is valid, in seconds.
    pub presign_lifetime: u64,
    /// The largest part the console accepts.
    pub max_part_size: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            region: "us-east-1".into(),
            session_lifetime: 8 * 3600,
            presign_lifetime: 300,
            max_part_size: 64 << 20,
        }
    }
}

/// The console front-end.
pub struct ConsoleFrontend {
    engine: Engine,
    creds: Arc<CredentialStore>,
    master: MasterKey,
    tables: Tables,
    config: ConsoleConfig,
}

/// A refusal, rendered as `{"error": code, "message": ...}`.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

type ConsoleResult<T> = Result<T, ConsoleError>;

impl ConsoleError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ConsoleError { status, code, message: message.into() }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }
    fn signed_out(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "SignedOut", message)
    }
    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        let (status, code) = match &e {
            Error::NoSuchUpload => (StatusCode::NOT_FOUND, "NoSuchUpload"),
            Error::NoSuchBucket => (StatusCode::NOT_FOUND, "NoSuchBucket"),
            Error::NoSuchKey => (StatusCode::NOT_FOUND, "NoSuchKey"),
            Error::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            Error::EntityTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge"),
            Error::InsufficientStorage(_) => (StatusCode::INSUFFICIENT_STORAGE, "InsufficientStorage"),
            Error::Busy => (StatusCode::CONFLICT, "Busy"),
            Error::Table(_) => (StatusCode::NOT_FOUND, "NoSuchTable"),
            Error::InvalidKey(_)
            | Error::KeyTooLong(_)
            | Error::InvalidBucketName(_)
            | Error::InvalidArgument(_)
            | Error::IncompleteBody(_)
            | Error::InvalidPart(_)
            | Error::MissingPart(_)
            | Error::ChecksumMismatch { .. } => (StatusCode::BAD_REQUEST, "InvalidRequest"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "console request failed");
        }
        ConsoleError::new(status, code, e.to_string())
    }
}

fn render(e: &ConsoleError) -> Response {
    let mut r = ferry_http::response::json(e.status, &json!({ "error": e.code, "message": e.message }));
    ferry_http::response::set(&mut r, "cache-control", "no-store");
    r
}

fn ok(value: Json) -> Response {
    let mut r = ferry_http::response::json(StatusCode::OK, &value);
    ferry_http::response::set(&mut r, "cache-control", "no-store");
    r
}

fn header<'p>(parts: &'p Parts, name: &str) -> Option<&'p str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn required<'q>(query: &'q Query, name: &str) -> ConsoleResult<&'q str> {
    query.get(name).filter(|v| !v.is_empty()).ok_or_else(|| ConsoleError::bad_request(format!("{name} is required")))
}

fn scheme(parts: &Parts) -> &'static str {
    parts.extensions.get::<ferry_http::Scheme>().map_or("http", |s| s.0)
}

/// `Origin`, when the browser sent one, must be this server as the page reached it; a
/// cross-site request (`Sec-Fetch-Site: cross-site`) is refused whatever it carries.
pub fn same_origin(parts: &Parts) -> bool {
    if header(parts, "sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return false;
    }
    let Some(origin) = header(parts, "origin") else { return true };
    let host = header(parts, "host").unwrap_or("");
    !host.is_empty() && origin == format!("{}://{host}", scheme(parts))
}

fn part_json(number: u32, size: u64, etag: &str) -> Json {
    json!({ "number": number, "size": size, "etag": etag })
}

/// The signed-in caller of one request.
struct Caller {
    claims: cookie::Claims,
    principal: Principal,
    /// The key's secret, resolved with the principal (download URLs are signed with it).
    secret: String,
}

impl ConsoleFrontend {
    /// The console; `master` is the server's master key (cookies are sealed under it).
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, master: MasterKey, config: ConsoleConfig) -> Self {
        let tables = Tables::new(engine.clone());
        ConsoleFrontend { engine, creds, master, tables, config }
    }

    fn now_secs() -> i64 {
        now_millis() / 1000
    }

    /// The session cookie, opened, and its key resolved now (so a disabled or deleted key is
    /// signed out on its next request).
    fn caller(&self, parts: &Parts) -> ConsoleResult<Caller> {
        let value = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie::find(h, cookie::COOKIE_NAME))
            .ok_or_else(|| ConsoleError::signed_out("sign in first"))?;
        let claims = cookie::open(&self.master, value, Self::now_secs())
            .ok_or_else(|| ConsoleError::signed_out("the sign-in expired or is not valid here; sign in again"))?;
        let resolved = self
            .creds
            .resolve(&claims.key, claims.token.as_deref())
            .map_err(|e| ConsoleError::signed_out(format!("the access key can no longer sign in: {e}")))?;
        Ok(Caller { claims, principal: resolved.principal, secret: resolved.secret })
    }

    fn check_write(&self, parts: &Parts, caller: &Caller) -> ConsoleResult<()> {
        if !same_origin(parts) {
            return Err(ConsoleError::forbidden("cross-origin request refused"));
        }
        let token = header(parts, CSRF_HEADER).unwrap_or("");
        if !cookie::csrf_matches(&self.master, &caller.claims, token) {
            return Err(ConsoleError::forbidden(format!("missing or wrong {CSRF_HEADER} token; reload the page")));
        }
        Ok(())
    }

    fn authorize(principal: &Principal, action: Action, resource: &Resource<'_>) -> ConsoleResult<()> {
        principal.authorize(action, resource).map_err(|d| ConsoleError::forbidden(d.0))
    }

    async fn sign_in(&self, parts: &Parts, body: ferry_http::Body) -> ConsoleResult<Response> {
        if !same_origin(parts) {
            return Err(ConsoleError::forbidden("cross-origin sign-in refused"));
        }
        let bytes = ferry_http::read_limited(ferry_http::body_stream(body), 4096)
            .await
            .map_err(|e| ConsoleError::bad_request(format!("reading the sign-in: {e}")))?;
        let form: Json = serde_json::from_slice(&bytes)
            .map_err(|_| ConsoleError::bad_request("send {\"accessKeyId\": ..., \"secretAccessKey\": ...}"))?;
        let id = form.get("accessKeyId").and_then(Json::as_str).unwrap_or("").trim();
        let secret = form.get("secretAccessKey").and_then(Json::as_str).unwrap_or("");
        // Temporary (STS) credentials come with their session token; permanent keys have none.
        let token = form.get("sessionToken").and_then(Json::as_str).map(str::trim).filter(|t| !t.is_empty());
        let refused = || {
            ConsoleError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidCredentials",
                "wrong access key id, secret or session token (or the temporary credentials expired)",
            )
        };
        let resolved = self.creds.resolve(id, token).map_err(|_| refused())?;
        let same = resolved.secret.len() == secret.len()
            && resolved.secret.bytes().zip(secret.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return Err(refused());
        }
        let claims = cookie::Claims {
            key: id.to_string(),
            expires: Self::now_secs() + self.config.session_lifetime as i64,
            nonce: ferry_core::random_id(),
            token: token.map(str::to_string),
        };
        let sealed = cookie::seal(&self.master, &claims);
        // Temporary credentials carry their session policy in the token, and the cookie carries
        // the token.
        if cookie::COOKIE_NAME.len() + 1 + sealed.len() > cookie::MAX_COOKIE_BYTES {
            return Err(ConsoleError::bad_request(
                "the session token is too long to keep in a browser cookie (its session policy is too large); \
                 sign in with credentials whose policy is shorter",
            ));
        }
        let mut response = ok(self.whoami(&claims, &resolved.principal));
        let set = cookie::set_cookie(&sealed, self.config.session_lifetime, scheme(parts) == "https");
        ferry_http::response::set(&mut response, "set-cookie", set);
        Ok(response)
    }

    fn whoami(&self, claims: &cookie::Claims, principal: &Principal) -> Json {
        json!({
            "accessKeyId": claims.key,
            "expires": claims.expires,
            "csrf": cookie::csrf_token(&self.master, claims),
            "admin": principal.admin,
        })
    }

    async fn dispatch(
        &self,
        routed: &router::Routed,
        parts: &Parts,
        body: ferry_http::Body,
    ) -> ConsoleResult<Response> {
        if routed.endpoint == Endpoint::SignIn {
            return self.sign_in(parts, body).await;
        }
        let caller = self.caller(parts)?;
        if router::changes_state(routed.endpoint) {
            self.check_write(parts, &caller)?;
        }
        let query = Query::parse(parts.uri.query());
        let who = &caller.principal;
        let upload = routed.upload.as_deref().unwrap_or("");
        match routed.endpoint {
            Endpoint::WhoAmI => Ok(ok(self.whoami(&caller.claims, who))),
            Endpoint::SignOut => {
                let mut r = ok(json!({ "signedOut": true }));
                ferry_http::response::set(&mut r, "set-cookie", cookie::clear_cookie(scheme(parts) == "https"));
                Ok(r)
            }
            Endpoint::ListBuckets => {
                let table_bucket = self.engine.table_bucket();
                let buckets: Vec<Json> = self
                    .engine
                    .list_buckets()
                    .await?
                    .into_iter()
                    .filter(|b| b.name != table_bucket && who.sees_bucket(&b.name))
                    .map(|b| json!({ "name": b.name, "created": b.created }))
                    .collect();
                Ok(ok(json!({ "buckets": buckets })))
            }
            Endpoint::ListObjects => {
                let bucket = required(&query, "bucket")?;
                let prefix = query.get("prefix").unwrap_or("");
                Self::authorize(who, Action::List, &Resource::Bucket { bucket, prefix })?;
                let after = query.get("after").unwrap_or("");
                let listing = self.engine.list_objects(bucket, prefix, "/", after, PAGE_SIZE).await?;
                let objects: Vec<Json> = listing
                    .objects
                    .iter()
                    .map(|o| json!({ "key": o.key, "size": o.size, "etag": o.etag, "modified": o.modified }))
                    .collect();
                Ok(ok(json!({
                    "bucket": bucket, "prefix": prefix, "objects": objects,
                    "prefixes": listing.common_prefixes, "next": listing.next_marker,
                })))
            }
            Endpoint::PresignGet => {
                let (bucket, key) = (required(&query, "bucket")?, required(&query, "key")?);
                Self::authorize(who, Action::Read, &Resource::Object { bucket, key })?;
                self.engine.head_object(bucket, key).await?;
                let host = header(parts, "host").ok_or_else(|| ConsoleError::bad_request("no Host header"))?;
                let url = presign::Presign {
                    scheme: scheme(parts),
                    host,
                    region: &self.config.region,
                    access_key_id: &caller.claims.key,
                    secret: &caller.secret,
                    session_token: caller.claims.token.as_deref(),
                    bucket,
                    key,
                    expires: self.config.presign_lifetime,
                    now: Self::now_secs(),
                    filename: key.rsplit('/').next(),
                }
                .url();
                Ok(ok(json!({ "url": url, "expiresIn": self.config.presign_lifetime })))
            }
            Endpoint::DeleteObject => {
                let (bucket, key) = (required(&query, "bucket")?, required(&query, "key")?);
                Self::authorize(who, Action::Delete, &Resource::Object { bucket, key })?;
                self.engine.delete_object(bucket, key).await?;
                Ok(ok(json!({ "deleted": key })))
            }
            Endpoint::CreateUpload => {
                let (bucket, key) = (required(&query, "bucket")?, required(&query, "key")?);
                Self::authorize(who, Action::Write, &Resource::Object { bucket, key })?;
                let meta = ObjectMeta {
                    content_type: query.get("type").filter(|t| !t.is_empty()).map(str::to_string),
                    ..ObjectMeta::default()
                };
                let target = ObjectTarget { bucket: bucket.to_string(), key: key.to_string() };
                let session = self.engine.create_session_from("console", target, meta, None).await?;
                Ok(ok(json!({ "uploadId": session.id, "bucket": bucket, "key": key, "expires": session.expires })))
            }
            Endpoint::PutPart => {
                let session = self.open_upload(&query, upload, who).await?;
                let declared = header(parts, "content-length")
                    .map(|v| v.parse::<u64>().map_err(|_| ConsoleError::bad_request("Content-Length is not a number")))
                    .transpose()?
                    .ok_or_else(|| {
                        ConsoleError::new(StatusCode::LENGTH_REQUIRED, "LengthRequired", "send Content-Length")
                    })?;
                let input = PartInput {
                    // Streamed into the blob store as it arrives; a cut-off body stores nothing.
                    body: ferry_http::body_stream(body),
                    expected_size: Some(declared),
                    max_size: self.config.max_part_size,
                    expected: Vec::new(),
                    trailer: None,
                    wanted: Default::default(),
                };
                let number = routed.part.unwrap_or(1);
                let part = self.engine.put_part(&session, number, input).await?;
                Ok(ok(part_json(part.number, part.size, &part.etag())))
            }
            Endpoint::ListParts => {
                let session = self.open_upload(&query, upload, who).await?;
                let (parts_json, bytes) = self.all_parts(&session).await?;
                Ok(ok(
                    json!({ "uploadId": session.id, "state": session.state.as_str(), "parts": parts_json, "bytes": bytes }),
                ))
            }
            Endpoint::CompleteUpload => {
                let session = self.open_upload(&query, upload, who).await?;
                let size = required(&query, "size")?
                    .parse::<u64>()
                    .map_err(|_| ConsoleError::bad_request("size is not a number"))?;
                let rules = CommitRules::new(0, MAX_PARTS).contiguous_from(1);
                let object = self
                    .engine
                    .commit(&session, CommitRequest::held(Vec::new(), rules).expect_size(Some(size)))
                    .await?;
                Ok(ok(json!({ "bucket": object.bucket, "key": object.key, "size": object.size, "etag": object.etag })))
            }
            Endpoint::AbortUpload | Endpoint::AbortSession => {
                let session = self.open_upload(&query, upload, who).await?;
                self.engine.abort(&session).await?;
                Ok(ok(json!({ "aborted": session.id })))
            }
            Endpoint::ListSessions => self.sessions(who).await.map(ok),
            Endpoint::ListTables => self.list_tables(who).await.map(ok),
            Endpoint::Page | Endpoint::Asset | Endpoint::SignIn | Endpoint::Unknown => {
                Err(ConsoleError::new(StatusCode::NOT_FOUND, "NotFound", "no such console resource"))
            }
        }
    }

    /// Open upload `id` of `?bucket=` after checking the caller may write its key.
    async fn open_upload(&self, query: &Query, id: &str, who: &Principal) -> ConsoleResult<Session> {
        let bucket = required(query, "bucket")?;
        let session = self.engine.open_bucket_session(id, bucket).await?;
        let key = match &session.target {
            Target::Object { key, .. } => key.as_str(),
            Target::TablePartition { .. } => return Err(Error::NoSuchUpload.into()),
        };
        Self::authorize(who, Action::Write, &Resource::Object { bucket, key })?;
        Ok(session)
    }

    /// Every stored part of a session, and their total size.
    async fn all_parts(&self, session: &Session) -> ConsoleResult<(Vec<Json>, u64)> {
        let (mut out, mut bytes, mut after) = (Vec::new(), 0u64, None);
        loop {
            let page = self.engine.list_parts(session, after, 1000).await?;
            for p in &page.parts {
                bytes += p.size;
                out.push(part_json(p.number, p.size, &p.etag()));
            }
            match page.next_marker() {
                Some(next) if page.truncated => after = Some(next),
                _ => break,
            }
        }
        Ok((out, bytes))
    }

    /// Live upload sessions of every bucket the caller sees, those whose key it may write.
    async fn sessions(&self, who: &Principal) -> ConsoleResult<Json> {
        let mut out = Vec::new();
        let table_bucket = self.engine.table_bucket().to_string();
        for bucket in self.engine.list_buckets().await? {
            if bucket.name == table_bucket || !who.sees_bucket(&bucket.name) {
                continue;
            }
            let mut marker = UploadMarker::Start;
            loop {
                let page = self.engine.list_sessions(&bucket.name, "", &marker, 1000).await?;
                for session in &page.sessions {
                    let key = session.target.key();
                    if !who.allows(Action::Write, &Resource::Object { bucket: &bucket.name, key }) {
                        continue;
                    }
                    let (parts, bytes) = match self.all_parts(session).await {
                        Ok((parts, bytes)) => (parts.len(), bytes),
                        // Committed or aborted since it was listed.
                        Err(_) => continue,
                    };
                    out.push(json!({
                        "id": session.id, "bucket": bucket.name, "key": key,
                        "state": session.state.as_str(), "parts": parts, "bytes": bytes,
                        "created": session.created, "lastActivity": session.last_activity,
                        "expires": session.expires, "dialect": session_dialect(session),
                    }));
                }
                match page.next_marker() {
                    Some(next) if out.len() < 5000 => marker = next,
                    _ => break,
                }
            }
        }
        Ok(json!({ "sessions": out, "now": now_millis() }))
    }

    /// Tables the caller may read: schema, partitions with their data files and row counts.
    async fn list_tables(&self, who: &Principal) -> ConsoleResult<Json> {
        let bucket = self.engine.table_bucket().to_string();
        let listing = match self.engine.list_objects(&bucket, "", "/", "", 1000).await {
            Ok(l) => l,
            // No table was ever created.
            Err(Error::NoSuchBucket) => return Ok(json!({ "tables": [] })),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for project_prefix in &listing.common_prefixes {
            let project = project_prefix.trim_end_matches('/');
            if !who.allows(Action::Read, &Resource::Project(project)) {
                continue;
            }
            let tables = self.engine.list_objects(&bucket, project_prefix, "/", "", 1000).await?;
            for table_prefix in &tables.common_prefixes {
                let table = table_prefix[project_prefix.len()..].trim_end_matches('/');
                let Ok(name) = TableName::new(project, table) else { continue };
                let Ok(info) = self.tables.table(&name).await else { continue };
                let mut partitions = Vec::new();
                let data_prefix = format!("{project}/{table}/{}/", info.id);
                let mut after = String::new();
                loop {
                    let page = self.engine.list_objects(&bucket, &data_prefix, "", &after, 1000).await?;
                    for object in &page.objects {
                        if let Some(path) = object.key[data_prefix.len()..].strip_suffix("_partition") {
                            let path = path.trim_end_matches('/');
                            let spec = ferry_table::PartitionSpec::parse(path).unwrap_or_default();
                            let (files, rows, bytes) = match self.tables.table_files(&info, &spec, now_millis()).await {
                                Ok(files) => (
                                    files.len(),
                                    files.iter().map(|f| f.rows).sum::<u64>(),
                                    files.iter().map(|f| f.size).sum::<u64>(),
                                ),
                                Err(_) => (0, 0, 0),
                            };
                            partitions.push(json!({ "spec": path, "files": files, "rows": rows, "bytes": bytes }));
                        }
                    }
                    match page.next_marker {
                        Some(next) if page.truncated => after = next,
                        _ => break,
                    }
                }
                out.push(json!({
                    "project": project, "table": table, "schema": info.schema.to_json(),
                    "comment": info.comment, "created": info.created, "partitions": partitions,
                }));
            }
        }
        Ok(json!({ "tables": out }))
    }
}

/// Query parameters that carry a dialect's signature (presigned URLs of S3, OSS and US3).
const SIGNATURE_PARAMS: &[&str] =
    &["X-Amz-Algorithm", "X-Amz-Signature", "AWSAccessKeyId", "OSSAccessKeyId", "x-oss-signature", "UCloudPublicKey"];

/// Whether the console serves this request: a path under `/console` carrying no dialect's
/// signature. Console calls never carry one (they use the cookie), so a signed request for an
/// S3 bucket that happens to be named `console` still reaches the S3 front-end.
pub fn claims_path(request: &Parts) -> bool {
    let path = request.uri.path();
    let under = path.strip_prefix(router::PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !under || request.headers.contains_key(http::header::AUTHORIZATION) {
        return false;
    }
    let query = Query::parse(request.uri.query());
    !SIGNATURE_PARAMS.iter().any(|p| query.get(p).is_some())
}

/// The dialect that opened a session, when it was recorded.
fn session_dialect(session: &Session) -> Json {
    session.dialect.as_deref().map_or(Json::Null, |d| Json::String(d.to_string()))
}

#[async_trait]
impl Frontend for ConsoleFrontend {
    fn name(&self) -> &'static str {
        "console"
    }

    fn claims(&self, request: &Parts) -> bool {
        claims_path(request)
    }

    async fn handle(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let routed = router::route(&parts.method, parts.uri.path());
        let mut response = if let Some((status, allow)) = routed.refusal {
            let (code, message) = if status == StatusCode::NOT_FOUND {
                ("NotFound", "no such console resource")
            } else {
                ("MethodNotAllowed", "method not allowed here")
            };
            let mut r = render(&ConsoleError::new(status, code, message));
            if !allow.is_empty() {
                ferry_http::response::set(&mut r, "allow", allow);
            }
            r
        } else if matches!(routed.endpoint, Endpoint::Page | Endpoint::Asset) {
            let name = routed.asset.unwrap_or("index.html");
            if routed.endpoint == Endpoint::Page && parts.uri.path() == router::PREFIX {
                // Relative asset URLs resolve against /console/.
                let mut r = ferry_http::response::status_only(StatusCode::MOVED_PERMANENTLY);
                ferry_http::response::set(&mut r, "location", "/console/");
                r
            } else {
                assets::serve(name, header(&parts, "if-none-match"), parts.method == http::Method::HEAD)
            }
        } else {
            self.dispatch(&routed, &parts, body).await.unwrap_or_else(|e| render(&e))
        };
        ferry_http::response::set(&mut response, "x-content-type-options", "nosniff");
        ferry_http::response::set(&mut response, "referrer-policy", "no-referrer");
        endpoint::tag(&mut response, ferry_http::Endpoint::name(&routed.endpoint));
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().uri("/console/api/objects");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn signed_requests_for_a_bucket_named_console_are_left_to_the_dialects() {
        let at = |uri: &str, auth: Option<&str>| {
            let mut b = http::Request::builder().uri(uri);
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            claims_path(&b.body(()).unwrap().into_parts().0)
        };
        assert!(at("/console", None));
        assert!(at("/console/api/buckets?x=1", None));
        assert!(!at("/consoles/x", None));
        assert!(!at("/console/key.txt", Some("AWS4-HMAC-SHA256 Credential=...")));
        assert!(!at("/console/key.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=s", None));
        assert!(!at("/console/key.txt?OSSAccessKeyId=a&Signature=s", None));
    }

    #[test]
    fn only_the_consoles_own_origin_may_write() {
        assert!(same_origin(&parts(&[("host", "h:1")])), "no Origin: a same-origin fetch may omit it");
        assert!(same_origin(&parts(&[("host", "h:1"), ("origin", "http://h:1")])));
        assert!(!same_origin(&parts(&[("host", "h:1"), ("origin", "http://evil:1")])));
        assert!(!same_origin(&parts(&[("host", "h:1"), ("origin", "https://h:1")])), "scheme differs");
        assert!(!same_origin(&parts(&[("host", "h:1"), ("origin", "null")])));
        assert!(!same_origin(&parts(&[("host", "h:1"), ("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&parts(&[("host", "h:1"), ("sec-fetch-site", "same-origin")])));
    }
}
