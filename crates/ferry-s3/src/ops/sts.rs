//! The AWS STS API on ferry's port: `AssumeRole` and `GetSessionToken`, form-encoded `POST /`
//! signed with SigV4 (service `sts`), answered in STS's XML so boto3 and the AWS CLI read it
//! unmodified. The credentials come from [`CredentialStore::mint`]: a self-contained token, so
//! nothing is written per call and every node sharing the master key accepts them.
//!
//! `RoleArn` is accepted and echoed but names no role object: the session acts for the caller's
//! own key, narrowed by `Policy` (see `docs/access.md`).

use ferry_core::credentials::STS_MAX_DURATION;
use ferry_http::{Body, Response};
use http::StatusCode;
use http::request::Parts;
use quick_xml::escape::escape;
use sha2::{Digest, Sha256};

use crate::S3Frontend;
use crate::auth::verify_header_with;
use crate::error::S3Error;
use crate::request::Query;
use crate::response::{iso8601, xml};
use crate::upload_body::read_small;

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Largest form body (a session policy is at most a few KiB).
const MAX_BODY: usize = 64 * 1024;

/// An STS error: `<ErrorResponse><Error><Type/><Code/><Message/></Error>…`.
struct StsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl StsError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        StsError { status, code, message: message.into() }
    }
}

impl From<S3Error> for StsError {
    fn from(e: S3Error) -> Self {
        // Signature failures keep their S3 code (SignatureDoesNotMatch, InvalidClientTokenId
        // stands for an unknown key in STS).
        let code = if e.code == "InvalidAccessKeyId" { "InvalidClientTokenId" } else { e.code };
        StsError { status: e.status, code, message: e.message }
    }
}

/// Serve one STS request; errors are rendered as STS renders them.
pub async fn serve(s3: &S3Frontend, parts: &Parts, query: &Query, body: Body) -> Response {
    let request_id = ferry_core::random_id();
    match handle(s3, parts, query, body, &request_id).await {
        Ok(r) => r,
        Err(e) => {
            let kind = if e.status.is_server_error() { "Receiver" } else { "Sender" };
            let text = format!(
                "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                e.code,
                escape(e.message.as_str())
            );
            xml(e.status, text)
        }
    }
}

async fn handle(
    s3: &S3Frontend,
    parts: &Parts,
    query: &Query,
    body: Body,
    request_id: &str,
) -> Result<Response, StsError> {
    let bytes = read_small(parts, &crate::auth::Payload::Unsigned, body, MAX_BODY).await?;
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|a| a.starts_with("AWS4-HMAC-SHA256 "))
        .ok_or_else(|| {
            StsError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Sign STS requests with SigV4 (service sts).",
            )
        })?;
    let body_hash = hex::encode(Sha256::digest(&bytes));
    let (_, principal) = verify_header_with(parts, query, authorization, &s3.creds, Some(&body_hash))?;
    let form = parse_form(&bytes);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let invalid = |m: String| StsError::new(StatusCode::BAD_REQUEST, "ValidationError", m);
    let action = field("Action").unwrap_or("");
    let duration = |default: u64| -> Result<u64, StsError> {
        match field("DurationSeconds") {
            None => Ok(default.max(s3.creds.sts_min_duration())),
            Some(v) => v.parse().map_err(|_| invalid(format!("DurationSeconds {v:?} is not a number"))),
        }
    };
    let mint = |seconds: u64, policy: Option<&str>| {
        s3.creds.mint(&principal, seconds, policy).map_err(|m| {
            let code = if principal.temporary { "AccessDenied" } else { "ValidationError" };
            let status = if principal.temporary { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST };
            StsError::new(status, code, m)
        })
    };
    let (root, inner) = match action {
        "AssumeRole" => {
            let role_arn =
                field("RoleArn").filter(|v| !v.is_empty()).ok_or_else(|| invalid("RoleArn is required".into()))?;
            let session = field("RoleSessionName")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid("RoleSessionName is required".into()))?;
            let policy = field("Policy").filter(|p| !p.is_empty());
            let creds = mint(duration(3600)?, policy)?;
            let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
            let user = format!(
                "<AssumedRoleUser><AssumedRoleId>{}:{}</AssumedRoleId><Arn>arn:aws:sts::000000000000:assumed-role/{}/{}</Arn></AssumedRoleUser>",
                escape(principal.access_key_id.as_str()),
                escape(session),
                escape(role),
                escape(session)
            );
            ("AssumeRole", format!("{user}{}", credentials_xml(&creds)))
        }
        "GetSessionToken" => {
            let creds = mint(duration(STS_MAX_DURATION)?, None)?;
            ("GetSessionToken", credentials_xml(&creds))
        }
        "" => return Err(invalid("Action is required".into())),
        other => {
            return Err(StsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!("ferry's STS serves AssumeRole and GetSessionToken, not {other}"),
            ));
        }
    };
    Ok(xml(
        StatusCode::OK,
        format!(
            "<{root}Response xmlns=\"{NS}\"><{root}Result>{inner}</{root}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{root}Response>"
        ),
    ))
}

fn credentials_xml(c: &ferry_core::sts::TemporaryCredentials) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        escape(c.access_key_id.as_str()),
        escape(c.secret_access_key.as_str()),
        escape(c.session_token.as_str()),
        iso8601(c.expires * 1000)
    )
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space).
fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    };
    String::from_utf8_lossy(bytes)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}
