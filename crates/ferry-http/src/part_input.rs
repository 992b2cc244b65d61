//! What an upload body declares in its headers, read once for every object dialect: its length
//! (Content-Length, or the decoded length of an aws-chunked body), the size limit, Content-MD5
//! and flexible-checksum headers. The dialects differ only in [`BodyRules`]; each answers a
//! [`BodyHeaderError`] from its own error table.

use ferry_core::checksum::{ChecksumAlgorithm, Wanted, from_base64};
use ferry_core::{DigestKind, Expected, PartInput};
use http::HeaderMap;

use crate::{Body, body_stream};

/// Where a body's length is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// `Content-Length`, or chunked transfer encoding; a body with neither is refused (S3, OSS).
    Required,
    /// `Content-Length` when sent (US3's SDK streams without one).
    Optional,
    /// The named header, which must be present (S3's `x-amz-decoded-content-length` for
    /// aws-chunked bodies, whose Content-Length counts the chunk framing).
    Header(&'static str),
}

/// How Content-MD5 is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Md5Form {
    /// Base64 of the 16 bytes, as RFC 1864 says (S3, OSS).
    Base64,
    /// Hex (US3's SDK).
    Hex,
}

/// A dialect's reading of upload-body headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRules {
    pub length: Length,
    pub md5: Md5Form,
    /// Prefix of flexible-checksum headers (`x-amz-checksum-` then the lower-case algorithm
    /// name), base64 values; `None` when the dialect has none.
    pub checksum_prefix: Option<&'static str>,
    /// The largest body accepted: a larger declared length is refused before any byte is read,
    /// and the engine stops a body that grows past it.
    pub max_size: u64,
}

/// Why a body's headers were refused. Every dialect maps each variant in its error table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyHeaderError {
    /// The named length header is not a number.
    LengthNotANumber(&'static str),
    /// Neither Content-Length nor chunked transfer encoding.
    MissingContentLength,
    /// The named length header, required by [`Length::Header`], is absent.
    MissingLengthHeader(&'static str),
    /// The declared length is over [`BodyRules::max_size`].
    TooLarge { max: u64 },
    /// Content-MD5 is not 16 bytes in the dialect's [`Md5Form`].
    InvalidMd5,
    /// The named checksum header's value is not a digest of its algorithm.
    InvalidChecksum(String),
}

impl std::fmt::Display for BodyHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyHeaderError::LengthNotANumber(name) => write!(f, "{name} is not a number"),
            BodyHeaderError::MissingContentLength => f.write_str("the request has no Content-Length"),
            BodyHeaderError::MissingLengthHeader(name) => write!(f, "the request has no {name}"),
            BodyHeaderError::TooLarge { max } => write!(f, "the body is larger than the maximum {max} bytes"),
            BodyHeaderError::InvalidMd5 => f.write_str("invalid Content-MD5"),
            BodyHeaderError::InvalidChecksum(name) => write!(f, "the value of {name} is invalid"),
        }
    }
}

impl std::error::Error for BodyHeaderError {}

/// What the headers declare about a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredBody {
    /// The length the body must have; `None` when not declared.
    pub length: Option<u64>,
    /// Digests the body must match (Content-MD5, checksum headers).
    pub expected: Vec<Expected>,
    /// The flexible-checksum algorithm whose header was sent, if any (the last one).
    pub algorithm: Option<ChecksumAlgorithm>,
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The header `name` (lower case) as a number; the error names it as `shown`.
fn number(headers: &HeaderMap, name: &str, shown: &'static str) -> Result<Option<u64>, BodyHeaderError> {
    text(headers, name).map(|v| v.trim().parse().map_err(|_| BodyHeaderError::LengthNotANumber(shown))).transpose()
}

/// The digest's length in bytes, for checking a header's value.
fn digest_len(alg: ChecksumAlgorithm) -> usize {
    match alg {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64Nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
    }
}

/// Read what `headers` declare about the body, by `rules`. Checked in this order: length, size
/// limit, Content-MD5, checksum headers.
pub fn declared_body(headers: &HeaderMap, rules: &BodyRules) -> Result<DeclaredBody, BodyHeaderError> {
    let length = match rules.length {
        Length::Required => {
            let length = number(headers, "content-length", "Content-Length")?;
            let chunked = text(headers, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
            if length.is_none() && !chunked {
                return Err(BodyHeaderError::MissingContentLength);
            }
            length
        }
        Length::Optional => number(headers, "content-length", "Content-Length")?,
        Length::Header(name) => {
            Some(number(headers, &name.to_ascii_lowercase(), name)?.ok_or(BodyHeaderError::MissingLengthHeader(name))?)
        }
    };
    if length.is_some_and(|n| n > rules.max_size) {
        return Err(BodyHeaderError::TooLarge { max: rules.max_size });
    }
    let mut declared = DeclaredBody { length, ..DeclaredBody::default() };
    if let Some(md5) = text(headers, "content-md5") {
        let raw = match rules.md5 {
            Md5Form::Base64 => from_base64(md5),
            Md5Form::Hex => hex::decode(md5.trim()).ok(),
        };
        let raw = raw.filter(|v| v.len() == 16).ok_or(BodyHeaderError::InvalidMd5)?;
        declared.expected.push(Expected { kind: DigestKind::Md5, value: raw });
    }
    if let Some(prefix) = rules.checksum_prefix {
        for alg in ChecksumAlgorithm::ALL {
            let name = format!("{prefix}{}", alg.name().to_ascii_lowercase());
            if let Some(value) = text(headers, &name) {
                let raw = from_base64(value)
                    .filter(|v| v.len() == digest_len(alg))
                    .ok_or(BodyHeaderError::InvalidChecksum(name))?;
                declared.expected.push(Expected { kind: alg.digest_kind(), value: raw });
                declared.algorithm = Some(alg);
            }
        }
    }
    Ok(declared)
}

impl DeclaredBody {
    /// The engine's input for `body`, streamed, with nothing arriving after it.
    pub fn into_input(self, body: ferry_core::store::ByteStream, max_size: u64) -> PartInput {
        PartInput {
            body,
            expected_size: self.length,
            max_size,
            expected: self.expected,
            trailer: None,
            wanted: Wanted::default(),
        }
    }
}

/// [`declared_body`] and the request body together: the engine's input for a plain upload.
pub fn part_input(headers: &HeaderMap, rules: &BodyRules, body: Body) -> Result<PartInput, BodyHeaderError> {
    Ok(declared_body(headers, rules)?.into_input(body_stream(body), rules.max_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S3: BodyRules = BodyRules {
        length: Length::Required,
        md5: Md5Form::Base64,
        checksum_prefix: Some("x-amz-checksum-"),
        max_size: 100,
    };
    const US3: BodyRules =
        BodyRules { length: Length::Optional, md5: Md5Form::Hex, checksum_prefix: None, max_size: 100 };

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(v) = value.parse() {
                h.insert(*name, v);
            }
        }
        h
    }

    #[test]
    fn length_rules() {
        assert_eq!(declared_body(&headers(&[]), &S3), Err(BodyHeaderError::MissingContentLength));
        assert_eq!(declared_body(&headers(&[("transfer-encoding", "chunked")]), &S3).map(|d| d.length), Ok(None));
        assert_eq!(declared_body(&headers(&[]), &US3).map(|d| d.length), Ok(None));
        assert_eq!(declared_body(&headers(&[("content-length", "7")]), &US3).map(|d| d.length), Ok(Some(7)));
        assert_eq!(
            declared_body(&headers(&[("content-length", "x")]), &S3),
            Err(BodyHeaderError::LengthNotANumber("Content-Length"))
        );
        assert_eq!(
            declared_body(&headers(&[("content-length", "101")]), &S3),
            Err(BodyHeaderError::TooLarge { max: 100 })
        );
        let chunked = BodyRules { length: Length::Header("x-amz-decoded-content-length"), ..S3 };
        assert_eq!(
            declared_body(&headers(&[("content-length", "5")]), &chunked),
            Err(BodyHeaderError::MissingLengthHeader("x-amz-decoded-content-length"))
        );
        let sent = headers(&[("content-length", "90"), ("x-amz-decoded-content-length", "3")]);
        assert_eq!(declared_body(&sent, &chunked).map(|d| d.length), Ok(Some(3)));
    }

    #[test]
    fn md5_in_each_form() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        let hex = "d41d8cd98f00b204e9800998ecf8427e";
        let b64 = "1B2M2Y8AsgTpgAmY7PhCfg==";
        let want = vec![Expected { kind: DigestKind::Md5, value: hex::decode(hex).unwrap_or_default() }];
        let s3 = declared_body(&headers(&[("content-length", "0"), ("content-md5", b64)]), &S3);
        assert_eq!(s3.map(|d| d.expected), Ok(want.clone()));
        assert_eq!(declared_body(&headers(&[("content-md5", hex)]), &US3).map(|d| d.expected), Ok(want));
        assert_eq!(
            declared_body(&headers(&[("content-length", "0"), ("content-md5", hex)]), &S3),
            Err(BodyHeaderError::InvalidMd5)
        );
        assert_eq!(declared_body(&headers(&[("content-md5", b64)]), &US3), Err(BodyHeaderError::InvalidMd5));
    }

    #[test]
    fn checksum_headers() {
        let ok = declared_body(&headers(&[("content-length", "0"), ("x-amz-checksum-crc32", "AAAAAA==")]), &S3);
        assert_eq!(ok.as_ref().map(|d| d.algorithm), Ok(Some(ChecksumAlgorithm::Crc32)));
        assert_eq!(ok.map(|d| d.expected[0].kind), Ok(DigestKind::Crc32));
        let bad = declared_body(&headers(&[("content-length", "0"), ("x-amz-checksum-sha1", "AAAAAA==")]), &S3);
        assert_eq!(bad, Err(BodyHeaderError::InvalidChecksum("x-amz-checksum-sha1".into())));
        // Without a prefix the headers mean nothing.
        let us3 = declared_body(&headers(&[("x-amz-checksum-sha1", "AAAAAA==")]), &US3);
        assert_eq!(us3.map(|d| d.expected.len()), Ok(0));
    }
}
