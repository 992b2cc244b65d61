//! One module per S3 operation family; [`serve`] hands each routed endpoint to its handler.

pub mod acl;
pub mod attributes;
pub mod bucket;
pub mod lifecycle;
pub mod list;
pub mod multipart;
pub mod notification;
pub mod object;
pub mod sts;
pub mod versions;

use ferry_http::{Body, Response};

use crate::Ctx;
use crate::error::S3Result;
use crate::router::Endpoint;

/// Serve a routed request. Exhaustive: adding an endpoint without a handler does not compile.
pub async fn serve(ctx: &Ctx<'_>, endpoint: Endpoint, body: Body) -> S3Result<Response> {
    // Writes that can carry an ACL carry only the owner's.
    if matches!(
        endpoint,
        Endpoint::CreateBucket | Endpoint::PutObject | Endpoint::CopyObject | Endpoint::CreateMultipartUpload
    ) {
        acl::check_canned(ctx)?;
    }
    match endpoint {
        Endpoint::ListBuckets => bucket::list_buckets(ctx).await,
        Endpoint::CreateBucket => bucket::create(ctx, body).await,
        Endpoint::DeleteBucket => bucket::delete(ctx).await,
        Endpoint::HeadBucket => bucket::head(ctx).await,
        Endpoint::GetBucketLocation => bucket::location(ctx).await,
        Endpoint::GetBucketVersioning => versions::get_versioning(ctx).await,
        Endpoint::PutBucketVersioning => versions::put_versioning(ctx).await,
        Endpoint::GetBucketAcl => acl::get_bucket_acl(ctx).await,
        Endpoint::PutBucketAcl => acl::put_bucket_acl(ctx, body).await,
        Endpoint::GetBucketOwnershipControls => acl::get_ownership_controls(ctx).await,
        Endpoint::GetBucketLifecycleConfiguration => lifecycle::get(ctx).await,
        Endpoint::PutBucketLifecycleConfiguration => lifecycle::put(ctx, body).await,
        Endpoint::DeleteBucketLifecycle => lifecycle::delete(ctx).await,
        Endpoint::GetBucketNotificationConfiguration => notification::get(ctx).await,
        Endpoint::PutBucketNotificationConfiguration => notification::put(ctx, body).await,
        Endpoint::ListObjects | Endpoint::ListObjectsV2 => list::list_objects(ctx).await,
        Endpoint::ListObjectVersions => versions::list_versions(ctx).await,
        Endpoint::ListMultipartUploads => multipart::list_uploads(ctx).await,
        Endpoint::DeleteObjects => object::delete_objects(ctx, body).await,
        Endpoint::PutObject => object::put_object(ctx, body).await,
        Endpoint::CopyObject => object::copy_object(ctx).await,
        Endpoint::GetObject | Endpoint::HeadObject => object::get_object(ctx).await,
        Endpoint::GetObjectAttributes => attributes::get_object_attributes(ctx).await,
        Endpoint::GetObjectAcl => acl::get_object_acl(ctx).await,
        Endpoint::PutObjectAcl => acl::put_object_acl(ctx, body).await,
        Endpoint::DeleteObject => object::delete_object(ctx).await,
        Endpoint::CreateMultipartUpload => multipart::create(ctx).await,
        Endpoint::UploadPart | Endpoint::UploadPartCopy => multipart::upload_part(ctx, body).await,
        Endpoint::ListParts => multipart::list_parts(ctx).await,
        Endpoint::CompleteMultipartUpload => multipart::complete(ctx, body).await,
        Endpoint::AbortMultipartUpload => multipart::abort(ctx).await,
        // Served before authentication by `ops::sts::serve`; never reaches here.
        Endpoint::Sts => Err(crate::error::S3Error::invalid_request("STS requests are served apart")),
    }
}
