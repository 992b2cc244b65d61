//! Which [`Action`] on which [`Resource`] each OSS endpoint is, for the shared authorization
//! layer ([`ferry_core::access`]). Checked after authentication and before any handler runs;
//! DeleteMultipleObjects' keys are checked per key, ListBuckets is filtered, by their handlers.

use ferry_core::access::{Action, Denied, Resource};

use crate::Ctx;
use crate::error::{OssError, OssResult};
use crate::router::Endpoint;

/// Refuse the request with OSS's `AccessDenied` when the signer's grants do not cover it.
pub fn check(ctx: &Ctx<'_>, endpoint: Endpoint) -> OssResult<()> {
    use Endpoint::*;
    let p = &ctx.principal;
    let (bucket, key) = (ctx.bucket.as_str(), ctx.key.as_str());
    let object = Resource::Object { bucket, key };
    let whole = Resource::Bucket { bucket, prefix: "" };
    let listed = Resource::Bucket { bucket, prefix: ctx.query.get("prefix").unwrap_or("") };
    let decision = match endpoint {
        ListBuckets | DeleteMultipleObjects | Unsupported(_) => Ok(()),
        PutBucket | DeleteBucket | PutBucketAcl | PutBucketLifecycle | DeleteBucketLifecycle => {
            p.authorize(Action::Admin, &whole)
        }
        HeadBucket | GetBucketInfo | GetBucketLocation | GetBucketAcl | GetBucketLifecycle => {
            p.authorize_bucket(bucket)
        }
        ListObjects | ListObjectsV2 | ListMultipartUploads => p.authorize(Action::List, &listed),
        PutObject
        | PutObjectAcl
        | InitiateMultipartUpload
        | UploadPart
        | CompleteMultipartUpload
        | AbortMultipartUpload
        | ListParts => p.authorize(Action::Write, &object),
        CopyObject => {
            let raw = ctx.parts.headers.get("x-oss-copy-source").and_then(|v| v.to_str().ok()).unwrap_or("");
            let decoded =
                percent_encoding::percent_decode_str(raw.trim_start_matches('/')).decode_utf8_lossy().into_owned();
            let (src_bucket, src_key) = decoded.split_once('/').unwrap_or((decoded.as_str(), ""));
            p.authorize(Action::Write, &object)
                .and_then(|()| p.authorize(Action::Read, &Resource::Object { bucket: src_bucket, key: src_key }))
        }
        GetObject | HeadObject | GetObjectMeta | GetObjectAcl => p.authorize(Action::Read, &object),
        DeleteObject => p.authorize(Action::Delete, &object),
    };
    decision.map_err(denied)
}

/// OSS's answer to a request the grants do not cover.
pub fn denied(d: Denied) -> OssError {
    OssError::access_denied(d.0)
}
