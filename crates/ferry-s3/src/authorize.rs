//! Which [`Action`] on which [`Resource`] each S3 endpoint is, for the shared authorization
//! layer ([`ferry_core::access`]). Checked after authentication and before any handler runs;
//! the two endpoints whose targets are only known from their body or results (DeleteObjects'
//! keys, ListBuckets' buckets) are checked per key / filtered by their handlers.

use ferry_core::access::{Action, Denied, Resource};

use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::ops::object::copy_source;
use crate::router::Endpoint;

/// Refuse the request with S3's `AccessDenied` when the signer's grants do not cover it.
pub fn check(ctx: &Ctx<'_>, endpoint: Endpoint) -> S3Result<()> {
    let p = &ctx.principal;
    let (bucket, key) = (ctx.bucket.as_str(), ctx.key.as_str());
    let object = Resource::Object { bucket, key };
    let whole = Resource::Bucket { bucket, prefix: "" };
    let listed = Resource::Bucket { bucket, prefix: ctx.query.get("prefix").unwrap_or("") };
    let decision = match endpoint {
        Endpoint::ListBuckets | Endpoint::DeleteObjects | Endpoint::Sts => Ok(()),
        Endpoint::CreateBucket
        | Endpoint::DeleteBucket
        | Endpoint::PutBucketVersioning
        | Endpoint::PutBucketAcl
        | Endpoint::PutBucketLifecycleConfiguration
        | Endpoint::DeleteBucketLifecycle
        | Endpoint::PutBucketNotificationConfiguration => p.authorize(Action::Admin, &whole),
        Endpoint::HeadBucket
        | Endpoint::GetBucketLocation
        | Endpoint::GetBucketVersioning
        | Endpoint::GetBucketAcl
        | Endpoint::GetBucketOwnershipControls
        | Endpoint::GetBucketLifecycleConfiguration
        | Endpoint::GetBucketNotificationConfiguration => p.authorize_bucket(bucket),
        Endpoint::ListObjects
        | Endpoint::ListObjectsV2
        | Endpoint::ListObjectVersions
        | Endpoint::ListMultipartUploads => p.authorize(Action::List, &listed),
        Endpoint::PutObject
        | Endpoint::PutObjectAcl
        | Endpoint::CreateMultipartUpload
        | Endpoint::UploadPart
        | Endpoint::ListParts
        | Endpoint::CompleteMultipartUpload
        | Endpoint::AbortMultipartUpload => p.authorize(Action::Write, &object),
        Endpoint::CopyObject | Endpoint::UploadPartCopy => {
            let source = copy_source(ctx)?;
            p.authorize(Action::Write, &object).and_then(|()| {
                p.authorize(Action::Read, &Resource::Object { bucket: &source.bucket, key: &source.key })
            })
        }
        Endpoint::GetObject | Endpoint::HeadObject | Endpoint::GetObjectAttributes | Endpoint::GetObjectAcl => {
            p.authorize(Action::Read, &object)
        }
        Endpoint::DeleteObject => p.authorize(Action::Delete, &object),
    };
    decision.map_err(denied)
}

/// S3's answer to a request the grants do not cover.
pub fn denied(d: Denied) -> S3Error {
    S3Error::access_denied(d.0)
}
