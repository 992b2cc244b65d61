//! CORS for browser clients (Uppy, tus-js-client, the AWS SDK in a page), server-wide and in one
//! place: the shared [`crate::Router`] answers preflights itself, before any front-end, and adds
//! the CORS headers to every response for an allowed origin. Off unless origins are configured
//! (`ferry serve --cors-origin`); origins not listed get no CORS headers at all, so the browser
//! refuses to hand them the response.

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};

use crate::Response;

/// The methods every ferry dialect uses; a preflight for any other is refused.
const ALLOWED_METHODS: &str = "GET, HEAD, PUT, POST, PATCH, DELETE, OPTIONS";
/// Response headers browser clients read: S3 (ETag for multipart, versions, request ids), tus
/// and the IETF resumable uploads draft.
pub const EXPOSED_HEADERS: &str = "ETag, Location, Content-Length, Content-Range, Content-Type, Last-Modified, \
     Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Upload-Defer-Length, Upload-Concat, \
     Upload-Complete, Upload-Incomplete, Upload-Draft-Interop-Version, Tus-Resumable, Tus-Version, Tus-Extension, \
     Tus-Max-Size, Tus-Checksum-Algorithm, x-amz-version-id, x-amz-request-id, x-amz-id-2, x-amz-delete-marker, \
     x-amz-checksum-crc32, x-amz-checksum-crc32c, x-amz-checksum-sha1, x-amz-checksum-sha256, \
     x-amz-server-side-encryption, x-oss-request-id, x-oss-hash-crc64ecma";
/// Headers a preflight may ask for when it names none we can echo.
const DEFAULT_ALLOWED_HEADERS: &str = "Authorization, Content-Type, Content-MD5, Upload-Offset, Upload-Length, \
     Upload-Metadata, Upload-Checksum, Upload-Concat, Upload-Defer-Length, Upload-Complete, Upload-Draft-Interop-Version, \
     Tus-Resumable, X-HTTP-Method-Override, X-Requested-With, x-amz-date, x-amz-content-sha256, x-amz-security-token, \
     x-amz-user-agent, amz-sdk-invocation-id, amz-sdk-request";
/// How long a browser may cache a preflight answer, in seconds (Chromium caps it at 2 hours).
const MAX_AGE: &str = "7200";

/// The allowed origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Exact origins (`https://app.example.com`, `http://localhost:5173`).
    origins: Vec<String>,
    /// `*`: any origin, without credentials.
    any: bool,
}

impl Cors {
    /// Origins as given to `--cors-origin`: each `*` or `scheme://host[:port]` (no path, no
    /// trailing slash). `*` cannot be combined with exact origins: it means "any origin, no
    /// credentials", while listed origins may send credentials. `None` when the list is empty.
    pub fn new(origins: &[String]) -> Result<Option<Cors>, String> {
        if origins.is_empty() {
            return Ok(None);
        }
        let any = origins.iter().any(|o| o == "*");
        if any && origins.len() > 1 {
            return Err("--cors-origin '*' allows every origin; do not list exact origins beside it".into());
        }
        let mut exact = Vec::new();
        if !any {
            for origin in origins {
                exact.push(Self::check_origin(origin)?);
            }
        }
        Ok(Some(Cors { origins: exact, any }))
    }

    fn check_origin(origin: &str) -> Result<String, String> {
        let fail = |why: &str| Err(format!("--cors-origin {origin:?}: {why} (write it like https://app.example.com)"));
        let Some((scheme, host)) = origin.split_once("://") else { return fail("no scheme") };
        if !matches!(scheme, "http" | "https") {
            return fail("the scheme must be http or https");
        }
        if host.is_empty() || host.contains(['/', '?', '#', ' ', '*']) {
            return fail("an origin is a scheme and a host (and port), with no path or trailing slash");
        }
        // Browsers send origins in lower case; compare that way.
        Ok(origin.to_ascii_lowercase())
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, when it is allowed.
    fn allow(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        self.origins.contains(&text).then(|| origin.clone())
    }

    /// A CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an
    /// allowed origin, answered without reaching any front-end. `None` for every other request
    /// (a preflight from an origin not listed goes on, and gets no CORS headers).
    pub fn preflight(&self, parts: &Parts) -> Option<Response> {
        if parts.method != Method::OPTIONS {
            return None;
        }
        let requested = parts.headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let allow_origin = self.allow(&parts.headers)?;
        let mut response = Response::new(crate::empty());
        let method_ok = requested
            .to_str()
            .ok()
            .is_some_and(|m| ALLOWED_METHODS.split(", ").any(|a| a.eq_ignore_ascii_case(m.trim())));
        *response.status_mut() = if method_ok { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN };
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        self.credentials(h);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Method"));
        h.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Headers"));
        if method_ok {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
            // Echo the headers asked for: every request is still authenticated, so which headers
            // a page may send is not what protects the data. A preflight naming none gets the
            // list ferry's clients use.
            let headers = parts
                .headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, headers);
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        Some(response)
    }

    /// Listed origins may send credentials (cookies, `withCredentials`); `*` may not, as the
    /// CORS rules require.
    fn credentials(&self, headers: &mut HeaderMap) {
        if !self.any {
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
    }

    /// Add the CORS headers to an actual response for a request whose headers were
    /// `request_headers`; nothing for requests without an allowed `Origin`.
    pub fn decorate(&self, request_headers: &HeaderMap, response: &mut Response) {
        let Some(allow_origin) = self.allow(request_headers) else { return };
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        self.credentials(h);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri("/files/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn origins_are_checked() {
        assert_eq!(Cors::new(&[]).unwrap(), None);
        assert!(Cors::new(&["https://a.example".into()]).unwrap().is_some());
        assert!(Cors::new(&["*".into()]).unwrap().is_some());
        for bad in ["a.example", "https://a.example/", "ftp://a", "https://", "https://a/b"] {
            assert!(Cors::new(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(Cors::new(&["*".into(), "https://a.example".into()]).is_err());
    }

    #[test]
    fn preflights_from_listed_origins_are_answered_here() {
        let cors = Cors::new(&["http://127.0.0.1:3000".into()]).unwrap().unwrap();
        let p = parts(
            Method::OPTIONS,
            &[
                ("origin", "http://127.0.0.1:3000"),
                ("access-control-request-method", "PATCH"),
                ("access-control-request-headers", "authorization,tus-resumable,upload-offset"),
            ],
        );
        let r = cors.preflight(&p).unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["access-control-allow-origin"], "http://127.0.0.1:3000");
        assert_eq!(r.headers()["access-control-allow-headers"], "authorization,tus-resumable,upload-offset");
        assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        // Other origins, plain OPTIONS (tus discovery) and other methods go on to the front-ends.
        let other = parts(Method::OPTIONS, &[("origin", "http://evil"), ("access-control-request-method", "PUT")]);
        assert!(cors.preflight(&other).is_none());
        assert!(cors.preflight(&parts(Method::OPTIONS, &[("origin", "http://127.0.0.1:3000")])).is_none());
        assert!(cors.preflight(&parts(Method::PUT, &[("origin", "http://127.0.0.1:3000")])).is_none());
        let odd = parts(
            Method::OPTIONS,
            &[("origin", "http://127.0.0.1:3000"), ("access-control-request-method", "CONNECT")],
        );
        assert_eq!(cors.preflight(&odd).unwrap().status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn responses_get_headers_only_for_listed_origins() {
        let cors = Cors::new(&["https://app.example".into()]).unwrap().unwrap();
        let mut r = Response::new(crate::empty());
        cors.decorate(&parts(Method::GET, &[("origin", "https://APP.example")]).headers, &mut r);
        assert_eq!(r.headers()["access-control-allow-origin"], "https://APP.example");
        assert!(r.headers()["access-control-expose-headers"].to_str().unwrap().contains("Upload-Offset"));
        assert_eq!(r.headers()["vary"], "Origin");
        let mut r = Response::new(crate::empty());
        cors.decorate(&parts(Method::GET, &[("origin", "https://other.example")]).headers, &mut r);
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let any = Cors::new(&["*".into()]).unwrap().unwrap();
        let mut r = Response::new(crate::empty());
        any.decorate(&parts(Method::GET, &[("origin", "https://x.example")]).headers, &mut r);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        assert!(r.headers().get("access-control-allow-credentials").is_none());
    }
}
