//! Turning a request body into the engine's [`PartInput`]: length rules, aws-chunked decoding,
//! Content-MD5, checksum headers and trailers, and the signed payload hash.

use bytes::Bytes;
use ferry_core::checksum::{ChecksumAlgorithm, Wanted, from_base64};
use ferry_core::{DigestKind, Error, Expected, ObjectMeta, PartInput, TrailerSlot};
use ferry_http::part_input::{BodyRules, DeclaredBody, Length, Md5Form, declared_body};
use ferry_http::{Body, body_stream, read_limited};
use http::request::Parts;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::auth::Payload;
use crate::chunked::{AwsChunkedDecoder, FailureSlot};
use crate::error::{S3Error, S3Result};
use crate::request::header;

/// Total bytes of user metadata S3 allows on an object.
const MAX_USER_METADATA: usize = 2048;

/// A body ready for the engine, plus what is needed to report its failures in S3 terms.
pub struct UploadBody {
    pub input: PartInput,
    /// The flexible-checksum algorithm the client used, if any.
    pub algorithm: Option<ChecksumAlgorithm>,
    pub errors: BodyErrors,
}

/// What is needed to report a failed ingest in S3 terms.
pub struct BodyErrors {
    failure: FailureSlot,
    payload_sha256: Option<[u8; 32]>,
}

impl BodyErrors {
    /// Map an engine error from ingesting the body to the right S3 error.
    pub fn map(&self, e: Error) -> S3Error {
        if let Some(decode_failure) = self.failure.lock().ok().and_then(|mut f| f.take()) {
            return decode_failure;
        }
        if let (Error::ChecksumMismatch { kind: DigestKind::Sha256, computed }, Some(signed)) =
            (&e, &self.payload_sha256)
            && computed.as_slice() != signed.as_slice()
        {
            return S3Error::sha256_mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            );
        }
        e.into()
    }
}

/// Refuse a flexible checksum ferry cannot compute rather than ignore it: S3 also defines
/// SHA-512, MD5 and XXHASH checksums (aws-sdk-go-v2 sends `x-amz-checksum-sha512`), and a client
/// that names one asked for its data to be verified with it. Nothing has been read or stored yet.
pub fn refuse_unknown_checksums(parts: &Parts) -> S3Result<()> {
    let unsupported = |name: &str| {
        S3Error::invalid_request(format!("Checksum algorithm {} is not supported", name.to_ascii_uppercase()))
    };
    for name in parts.headers.keys() {
        if let Some(algorithm) = name.as_str().strip_prefix("x-amz-checksum-")
            && !matches!(algorithm, "type" | "mode" | "algorithm")
            && ChecksumAlgorithm::parse(algorithm).is_none()
        {
            return Err(unsupported(algorithm));
        }
    }
    for name in ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"] {
        if let Some(algorithm) = header(parts, name)
            && ChecksumAlgorithm::parse(algorithm.trim()).is_none()
        {
            return Err(unsupported(algorithm.trim()));
        }
    }
    Ok(())
}

/// Prepare a streamed upload body.
pub fn prepare(parts: &Parts, payload: &Payload, body: Body, max_size: u64) -> S3Result<UploadBody> {
    refuse_unknown_checksums(parts)?;
    let failure = FailureSlot::default();
    let trailer = TrailerSlot::default();
    let chunked = matches!(payload, Payload::Chunked { .. });
    let rules = BodyRules {
        // An aws-chunked body's Content-Length counts the chunk framing too.
        length: if chunked { Length::Header("x-amz-decoded-content-length") } else { Length::Required },
        md5: Md5Form::Base64,
        checksum_prefix: Some("x-amz-checksum-"),
        max_size,
    };
    let DeclaredBody { length: expected_size, mut expected, mut algorithm } = declared_body(&parts.headers, &rules)?;
    let raw = body_stream(body);
    let stream: ferry_core::store::ByteStream = match payload {
        Payload::Chunked { signer, .. } => {
            Box::pin(AwsChunkedDecoder::new(raw, signer.clone(), trailer.clone(), failure.clone()))
        }
        _ => raw,
    };
    let mut wanted = Wanted::default();
    if let Some(names) = header(parts, "x-amz-trailer") {
        for name in names.split(',') {
            let alg = name
                .trim()
                .strip_prefix("x-amz-checksum-")
                .and_then(ChecksumAlgorithm::parse)
                .ok_or_else(|| S3Error::invalid_request(format!("Unsupported x-amz-trailer {name:?}")))?;
            wanted.add(alg.digest_kind());
            algorithm = Some(alg);
        }
    }
    if algorithm.is_none() {
        algorithm = header(parts, "x-amz-sdk-checksum-algorithm").and_then(ChecksumAlgorithm::parse);
        if let Some(alg) = algorithm {
            wanted.add(alg.digest_kind());
        }
    }
    let payload_sha256 = match payload {
        Payload::Sha256(hash) => {
            expected.push(Expected { kind: DigestKind::Sha256, value: hash.to_vec() });
            Some(*hash)
        }
        _ => None,
    };
    Ok(UploadBody {
        input: PartInput { body: stream, expected_size, max_size, expected, trailer: Some(trailer), wanted },
        algorithm,
        errors: BodyErrors { failure, payload_sha256 },
    })
}

/// Read a small XML request body whole, checking the signed payload hash and Content-MD5.
pub async fn read_small(parts: &Parts, payload: &Payload, body: Body, limit: usize) -> S3Result<Bytes> {
    let bytes = read_limited(body_stream(body), limit).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            S3Error::malformed_xml(format!("The request body is too large ({e})"))
        } else {
            S3Error::incomplete_body(e.to_string())
        }
    })?;
    if let Payload::Sha256(hash) = payload
        && Sha256::digest(&bytes).as_slice() != hash
    {
        return Err(S3Error::sha256_mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    if let Some(md5) = header(parts, "content-md5") {
        let raw =
            from_base64(md5).ok_or_else(|| S3Error::invalid_digest("The Content-MD5 you specified was invalid."))?;
        if Md5::digest(&bytes).as_slice() != raw.as_slice() {
            return Err(S3Error::bad_digest("The Content-MD5 you specified did not match what we received."));
        }
    }
    Ok(bytes)
}

/// Content headers and `x-amz-meta-*` of a request, for a new object.
pub fn object_meta(parts: &Parts) -> S3Result<ObjectMeta> {
    let text = |name: &str| header(parts, name).map(str::to_string);
    let encoding = header(parts, "content-encoding").and_then(|v| {
        let kept: Vec<&str> =
            v.split(',').map(str::trim).filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty()).collect();
        (!kept.is_empty()).then(|| kept.join(", "))
    });
    let mut user = Vec::new();
    let mut total = 0;
    for (name, value) in &parts.headers {
        if let Some(key) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            total += key.len() + value.len();
            user.push((key.to_string(), value));
        }
    }
    if total > MAX_USER_METADATA {
        return Err(S3Error::metadata_too_large(format!(
            "Your metadata headers exceed the maximum allowed metadata size of {MAX_USER_METADATA} bytes."
        )));
    }
    Ok(ObjectMeta {
        content_type: text("content-type"),
        content_encoding: encoding,
        content_disposition: text("content-disposition"),
        content_language: text("content-language"),
        cache_control: text("cache-control"),
        expires: text("expires"),
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().method("PUT").uri("/b/k");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).map(|r| r.into_parts().0).unwrap_or_else(|_| http::Request::new(()).into_parts().0)
    }

    #[test]
    fn checksums_ferry_cannot_compute_are_refused_not_ignored() {
        let known = parts(&[
            ("x-amz-checksum-crc64nvme", "M3eFcAZSQlc="),
            ("x-amz-sdk-checksum-algorithm", "crc64nvme"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
            ("x-amz-checksum-mode", "ENABLED"),
            ("x-amz-checksum-algorithm", "CRC32C"),
        ]);
        assert!(refuse_unknown_checksums(&known).is_ok());
        for headers in [
            [("x-amz-checksum-sha512", "AAAA"), ("x-amz-sdk-checksum-algorithm", "SHA512")],
            [("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-sdk-checksum-algorithm", "XXHASH64")],
            [("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-checksum-algorithm", "MD5")],
        ] {
            let e = refuse_unknown_checksums(&parts(&headers)).err();
            assert!(
                e.as_ref().is_some_and(|e| e.code == "InvalidRequest" && e.message.contains("is not supported")),
                "{headers:?}: {e:?}"
            );
        }
    }
}
