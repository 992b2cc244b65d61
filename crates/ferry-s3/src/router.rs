//! The S3 endpoint table: (method, addressing, sub-resource query names) → [`Endpoint`], in one
//! place, before authentication and before any handler runs (garage's `api/s3/router.rs` is the
//! model). Every sub-resource of the S3 API that ferry does not implement is an explicit entry
//! answering `501 NotImplemented`; a query key that is neither the matched operation's
//! sub-resource nor one of its parameters is refused the same way. So a request ferry does not
//! know can never reach a handler meant for another (a `PUT ?tagging` never replaces an object).
//!
//! The same table generates `docs/s3-coverage.md`'s endpoint list (checked by a test).

use ferry_http::endpoint::{EndpointDoc, first_unknown};
use http::Method;

use crate::error::S3Error;
use crate::request::{Address, Query};

ferry_http::endpoints! {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketOwnershipControls,
    GetBucketLifecycleConfiguration,
    PutBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    GetBucketNotificationConfiguration,
    PutBucketNotificationConfiguration,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    GetObjectAttributes,
    GetObjectAcl,
    PutObjectAcl,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    ListParts,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    Sts,
}

/// Where a request points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Service,
    Bucket,
    Object,
}

/// What a table row leads to.
#[derive(Debug, Clone, Copy)]
enum Op {
    Serve(Endpoint),
    /// Defined by S3, not implemented by ferry: answered with NotImplemented.
    Refuse(&'static str),
}

struct Route {
    method: Method,
    level: Level,
    /// The sub-resource query keys that select this row (all must be present); empty for the
    /// plain operation on the resource.
    sub: &'static [&'static str],
    op: Op,
    /// Query parameters the operation accepts besides its sub-resource keys.
    params: &'static [&'static str],
    note: &'static str,
}

const LIST_V1: &[&str] = &["delimiter", "encoding-type", "marker", "max-keys", "prefix"];
const LIST_V2: &[&str] =
    &["continuation-token", "delimiter", "encoding-type", "fetch-owner", "max-keys", "prefix", "start-after"];
const LIST_VERSIONS: &[&str] = &["delimiter", "encoding-type", "key-marker", "max-keys", "prefix", "version-id-marker"];
const LIST_UPLOADS: &[&str] =
    &["delimiter", "encoding-type", "key-marker", "max-uploads", "prefix", "upload-id-marker"];
const GET_PARAMS: &[&str] = &[
    "partNumber",
    "versionId",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

macro_rules! routes {
    ($($method:ident $level:ident [$($sub:literal),*] => $kind:ident($what:tt) ($params:expr) $note:literal;)*) => {
        fn table() -> Vec<Route> {
            vec![$(Route {
                method: Method::$method,
                level: Level::$level,
                sub: &[$($sub),*],
                op: routes!(@op $kind $what),
                params: $params,
                note: $note,
            }),*]
        }
    };
    (@op Serve $e:ident) => { Op::Serve(Endpoint::$e) };
    (@op Refuse $name:literal) => { Op::Refuse($name) };
}

// Order matters only for the generated document; matching picks the row with the most
// sub-resource keys present.
routes! {
    GET Service [] => Serve(ListBuckets) (&[]) "";
    POST Service [] => Serve(Sts) (&[]) "STS `AssumeRole` and `GetSessionToken` (form body, SigV4 service `sts`)";
    GET Bucket [] => Serve(ListObjects) (LIST_V1) "prefix, delimiter, marker, `encoding-type=url`";
    GET Bucket ["list-type"] => Serve(ListObjectsV2) (LIST_V2) "continuation tokens, `start-after`, `fetch-owner`";
    GET Bucket ["versions"] => Serve(ListObjectVersions) (LIST_VERSIONS) "buckets are unversioned: every object once, `VersionId` `null`";
    GET Bucket ["uploads"] => Serve(ListMultipartUploads) (LIST_UPLOADS) "";
    GET Bucket ["location"] => Serve(GetBucketLocation) (&[]) "";
    GET Bucket ["versioning"] => Serve(GetBucketVersioning) (&[]) "never enabled";
    GET Bucket ["acl"] => Serve(GetBucketAcl) (&[]) "owner FULL_CONTROL";
    GET Bucket ["ownershipControls"] => Serve(GetBucketOwnershipControls) (&[]) "`BucketOwnerEnforced`";
    GET Bucket ["notification"] => Serve(GetBucketNotificationConfiguration) (&[]) "webhook targets only (see `docs/events.md`)";
    PUT Bucket ["notification"] => Serve(PutBucketNotificationConfiguration) (&[]) "`QueueConfiguration` naming a server-side webhook target: `arn:minio:sqs::NAME:webhook`; prefix/suffix filters";
    HEAD Bucket [] => Serve(HeadBucket) (&[]) "";
    PUT Bucket [] => Serve(CreateBucket) (&[]) "";
    PUT Bucket ["versioning"] => Serve(PutBucketVersioning) (&[]) "refused: versioning is not offered";
    PUT Bucket ["acl"] => Serve(PutBucketAcl) (&[]) "only the canned `private` ACL (a no-op); others `AccessControlListNotSupported`";
    DELETE Bucket [] => Serve(DeleteBucket) (&[]) "`BucketNotEmpty`";
    POST Bucket ["delete"] => Serve(DeleteObjects) (&[]) "keys kept exactly as sent; `VersionId` `null` accepted";
    GET Bucket ["lifecycle"] => Serve(GetBucketLifecycleConfiguration) (&[]) "see `docs/lifecycle.md`";
    PUT Bucket ["lifecycle"] => Serve(PutBucketLifecycleConfiguration) (&[]) "prefix filters, `Expiration` (`Days`, `Date`), `AbortIncompleteMultipartUpload`; tag and size filters, transitions: `NotImplemented`";
    DELETE Bucket ["lifecycle"] => Serve(DeleteBucketLifecycle) (&[]) "";
    GET Object [] => Serve(GetObject) (GET_PARAMS) "Range, `partNumber`, conditional headers, `response-*` overrides";
    HEAD Object [] => Serve(HeadObject) (GET_PARAMS) "";
    GET Object ["attributes"] => Serve(GetObjectAttributes) (&["versionId"]) "ETag, Checksum, ObjectParts, StorageClass, ObjectSize";
    GET Object ["acl"] => Serve(GetObjectAcl) (&["versionId"]) "owner FULL_CONTROL";
    PUT Object [] => Serve(PutObject) (&[]) "with `x-amz-copy-source`: CopyObject";
    PUT Object ["acl"] => Serve(PutObjectAcl) (&["versionId"]) "only the canned `private` ACL (a no-op); others `AccessControlListNotSupported`";
    DELETE Object [] => Serve(DeleteObject) (&["versionId"]) "";
    POST Object ["uploads"] => Serve(CreateMultipartUpload) (&[]) "";
    PUT Object ["partNumber", "uploadId"] => Serve(UploadPart) (&[]) "with `x-amz-copy-source`: UploadPartCopy";
    GET Object ["uploadId"] => Serve(ListParts) (&["max-parts", "part-number-marker", "encoding-type"]) "";
    POST Object ["uploadId"] => Serve(CompleteMultipartUpload) (&[]) "";
    DELETE Object ["uploadId"] => Serve(AbortMultipartUpload) (&[]) "";

    GET Bucket ["accelerate"] => Refuse("GetBucketAccelerateConfiguration") (&[]) "";
    PUT Bucket ["accelerate"] => Refuse("PutBucketAccelerateConfiguration") (&[]) "";
    GET Bucket ["analytics"] => Refuse("GetBucketAnalyticsConfiguration") (&["id", "continuation-token"]) "";
    PUT Bucket ["analytics"] => Refuse("PutBucketAnalyticsConfiguration") (&["id"]) "";
    DELETE Bucket ["analytics"] => Refuse("DeleteBucketAnalyticsConfiguration") (&["id"]) "";
    GET Bucket ["cors"] => Refuse("GetBucketCors") (&[]) "";
    PUT Bucket ["cors"] => Refuse("PutBucketCors") (&[]) "";
    DELETE Bucket ["cors"] => Refuse("DeleteBucketCors") (&[]) "";
    GET Bucket ["encryption"] => Refuse("GetBucketEncryption") (&[]) "";
    PUT Bucket ["encryption"] => Refuse("PutBucketEncryption") (&[]) "";
    DELETE Bucket ["encryption"] => Refuse("DeleteBucketEncryption") (&[]) "";
    GET Bucket ["intelligent-tiering"] => Refuse("GetBucketIntelligentTieringConfiguration") (&["id", "continuation-token"]) "";
    PUT Bucket ["intelligent-tiering"] => Refuse("PutBucketIntelligentTieringConfiguration") (&["id"]) "";
    DELETE Bucket ["intelligent-tiering"] => Refuse("DeleteBucketIntelligentTieringConfiguration") (&["id"]) "";
    GET Bucket ["inventory"] => Refuse("GetBucketInventoryConfiguration") (&["id", "continuation-token"]) "";
    PUT Bucket ["inventory"] => Refuse("PutBucketInventoryConfiguration") (&["id"]) "";
    DELETE Bucket ["inventory"] => Refuse("DeleteBucketInventoryConfiguration") (&["id"]) "";
    GET Bucket ["logging"] => Refuse("GetBucketLogging") (&[]) "";
    PUT Bucket ["logging"] => Refuse("PutBucketLogging") (&[]) "";
    GET Bucket ["metadataTable"] => Refuse("GetBucketMetadataTableConfiguration") (&[]) "";
    POST Bucket ["metadataTable"] => Refuse("CreateBucketMetadataTableConfiguration") (&[]) "";
    DELETE Bucket ["metadataTable"] => Refuse("DeleteBucketMetadataTableConfiguration") (&[]) "";
    GET Bucket ["metrics"] => Refuse("GetBucketMetricsConfiguration") (&["id", "continuation-token"]) "";
    PUT Bucket ["metrics"] => Refuse("PutBucketMetricsConfiguration") (&["id"]) "";
    DELETE Bucket ["metrics"] => Refuse("DeleteBucketMetricsConfiguration") (&["id"]) "";
    GET Bucket ["object-lock"] => Refuse("GetObjectLockConfiguration") (&[]) "";
    PUT Bucket ["object-lock"] => Refuse("PutObjectLockConfiguration") (&[]) "";
    PUT Bucket ["ownershipControls"] => Refuse("PutBucketOwnershipControls") (&[]) "";
    DELETE Bucket ["ownershipControls"] => Refuse("DeleteBucketOwnershipControls") (&[]) "";
    GET Bucket ["policy"] => Refuse("GetBucketPolicy") (&[]) "";
    PUT Bucket ["policy"] => Refuse("PutBucketPolicy") (&[]) "";
    DELETE Bucket ["policy"] => Refuse("DeleteBucketPolicy") (&[]) "";
    GET Bucket ["policyStatus"] => Refuse("GetBucketPolicyStatus") (&[]) "";
    GET Bucket ["publicAccessBlock"] => Refuse("GetPublicAccessBlock") (&[]) "";
    PUT Bucket ["publicAccessBlock"] => Refuse("PutPublicAccessBlock") (&[]) "";
    DELETE Bucket ["publicAccessBlock"] => Refuse("DeletePublicAccessBlock") (&[]) "";
    GET Bucket ["replication"] => Refuse("GetBucketReplication") (&[]) "";
    PUT Bucket ["replication"] => Refuse("PutBucketReplication") (&[]) "";
    DELETE Bucket ["replication"] => Refuse("DeleteBucketReplication") (&[]) "";
    GET Bucket ["requestPayment"] => Refuse("GetBucketRequestPayment") (&[]) "";
    PUT Bucket ["requestPayment"] => Refuse("PutBucketRequestPayment") (&[]) "";
    GET Bucket ["tagging"] => Refuse("GetBucketTagging") (&[]) "";
    PUT Bucket ["tagging"] => Refuse("PutBucketTagging") (&[]) "";
    DELETE Bucket ["tagging"] => Refuse("DeleteBucketTagging") (&[]) "";
    GET Bucket ["website"] => Refuse("GetBucketWebsite") (&[]) "";
    PUT Bucket ["website"] => Refuse("PutBucketWebsite") (&[]) "";
    DELETE Bucket ["website"] => Refuse("DeleteBucketWebsite") (&[]) "";
    GET Bucket ["session"] => Refuse("CreateSession") (&[]) "";
    POST Bucket [] => Refuse("PostObject") (&[]) "browser form uploads";
    GET Object ["legal-hold"] => Refuse("GetObjectLegalHold") (&["versionId"]) "";
    PUT Object ["legal-hold"] => Refuse("PutObjectLegalHold") (&["versionId"]) "";
    GET Object ["retention"] => Refuse("GetObjectRetention") (&["versionId"]) "";
    PUT Object ["retention"] => Refuse("PutObjectRetention") (&["versionId"]) "";
    GET Object ["tagging"] => Refuse("GetObjectTagging") (&["versionId"]) "";
    PUT Object ["tagging"] => Refuse("PutObjectTagging") (&["versionId"]) "";
    DELETE Object ["tagging"] => Refuse("DeleteObjectTagging") (&["versionId"]) "";
    GET Object ["torrent"] => Refuse("GetObjectTorrent") (&[]) "";
    PUT Object ["renameObject"] => Refuse("RenameObject") (&[]) "";
    POST Object ["restore"] => Refuse("RestoreObject") (&["versionId"]) "";
    POST Object ["select"] => Refuse("SelectObjectContent") (&["select-type"]) "";
}

/// Keys every S3 request may carry whatever its operation: signature parameters of presigned
/// URLs (SigV4 and SigV2) and the `x-id` some SDKs add to name the operation.
fn generic(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.starts_with("x-amz-") || matches!(lower.as_str(), "x-id" | "awsaccesskeyid" | "signature" | "expires")
}

fn level(addr: &Address) -> Level {
    match (&addr.bucket, &addr.key) {
        (None, _) => Level::Service,
        (Some(_), None) => Level::Bucket,
        (Some(_), Some(_)) => Level::Object,
    }
}

/// Resolve a request to its endpoint. Operations S3 defines but ferry does not implement, and
/// requests with a query key the operation does not know, are `NotImplemented` naming the
/// operation; a method the resource does not take is `MethodNotAllowed`.
pub fn route(method: &Method, addr: &Address, query: &Query, headers: &http::HeaderMap) -> Result<Endpoint, Refusal> {
    let level = level(addr);
    let table = table();
    let candidates = table.iter().filter(|r| r.method == *method && r.level == level);
    let Some(route) = candidates.filter(|r| r.sub.iter().all(|s| query.has(s))).max_by_key(|r| r.sub.len()) else {
        return Err(Refusal {
            name: "Unrouted",
            error: S3Error::method_not_allowed("The specified method is not allowed against this resource."),
        });
    };
    let name = match route.op {
        Op::Serve(e) => e.name(),
        Op::Refuse(name) => name,
    };
    let known = |k: &str| route.sub.contains(&k) || route.params.contains(&k) || generic(k);
    if let Some(key) = first_unknown(query, &[], known) {
        return Err(Refusal {
            name,
            error: S3Error::not_implemented(format!(
                "ferry does not implement the query parameter {key:?} of {name}; nothing was changed"
            )),
        });
    }
    match route.op {
        Op::Refuse(name) => Err(Refusal {
            name,
            error: S3Error::not_implemented(format!("ferry does not implement {name}; nothing was changed")),
        }),
        Op::Serve(Endpoint::PutObject) if headers.contains_key("x-amz-copy-source") => Ok(Endpoint::CopyObject),
        Op::Serve(Endpoint::UploadPart) if headers.contains_key("x-amz-copy-source") => Ok(Endpoint::UploadPartCopy),
        Op::Serve(e) => Ok(e),
    }
}

/// A request the router refuses, with the name of what it asked for (for metrics).
#[derive(Debug)]
pub struct Refusal {
    pub name: &'static str,
    pub error: S3Error,
}

impl Endpoint {
    pub fn name(&self) -> &'static str {
        ferry_http::Endpoint::name(self)
    }
}

/// The table as documentation rows, in table order.
pub fn endpoint_docs() -> Vec<EndpointDoc> {
    table()
        .iter()
        .map(|r| {
            let (name, supported) = match r.op {
                Op::Serve(e) => (e.name(), true),
                Op::Refuse(name) => (name, false),
            };
            let resource: &'static str = match (r.level, r.sub) {
                (Level::Service, _) => "/",
                (Level::Bucket, []) => "/{bucket}",
                (Level::Object, []) => "/{bucket}/{key}",
                (Level::Bucket, sub) => leak(format!("/{{bucket}}?{}", sub.join("&"))),
                (Level::Object, sub) => leak(format!("/{{bucket}}/{{key}}?{}", sub.join("&"))),
            };
            EndpointDoc { name, method: r.method.as_str().to_owned().leak(), resource, supported, note: r.note }
        })
        .collect()
}

/// Documentation rows are built once per process (tests, doc generation); leaking their few
/// strings keeps `EndpointDoc` a plain `Copy` type.
fn leak(s: String) -> &'static str {
    s.leak()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(bucket: Option<&str>, key: Option<&str>) -> Address {
        Address { bucket: bucket.map(Into::into), key: key.map(Into::into), host_bucket: None }
    }

    fn routed(method: Method, bucket: Option<&str>, key: Option<&str>, query: &str) -> Result<Endpoint, &'static str> {
        let headers = http::HeaderMap::new();
        route(&method, &addr(bucket, key), &Query::parse(Some(query)), &headers).map_err(|r| r.name)
    }

    #[test]
    fn sub_resources_pick_their_operation() {
        assert_eq!(routed(Method::PUT, Some("b"), None, "versioning"), Ok(Endpoint::PutBucketVersioning));
        assert_eq!(routed(Method::PUT, Some("b"), None, ""), Ok(Endpoint::CreateBucket));
        assert_eq!(routed(Method::GET, Some("b"), None, "versions&prefix=a"), Ok(Endpoint::ListObjectVersions));
        assert_eq!(routed(Method::GET, Some("b"), None, "list-type=2&prefix=a"), Ok(Endpoint::ListObjectsV2));
        assert_eq!(routed(Method::GET, Some("b"), Some("k"), "attributes"), Ok(Endpoint::GetObjectAttributes));
        assert_eq!(routed(Method::PUT, Some("b"), None, "lifecycle"), Ok(Endpoint::PutBucketLifecycleConfiguration));
        assert_eq!(routed(Method::GET, Some("b"), None, "lifecycle"), Ok(Endpoint::GetBucketLifecycleConfiguration));
        assert_eq!(routed(Method::DELETE, Some("b"), None, "lifecycle"), Ok(Endpoint::DeleteBucketLifecycle));
        // A lifecycle request with a parameter it does not take never reaches a handler.
        assert_eq!(routed(Method::PUT, Some("b"), None, "lifecycle&id=x"), Err("PutBucketLifecycleConfiguration"));
        // On an object, `?lifecycle` is no operation at all: never a PutObject.
        assert!(routed(Method::PUT, Some("b"), Some("k"), "lifecycle").is_err());
        assert_eq!(routed(Method::PUT, Some("b"), Some("k"), "partNumber=1&uploadId=u"), Ok(Endpoint::UploadPart));
        assert_eq!(routed(Method::GET, Some("b"), Some("k"), "x-id=GetObject&partNumber=2"), Ok(Endpoint::GetObject));
        assert_eq!(
            routed(Method::PUT, Some("b"), None, "notification"),
            Ok(Endpoint::PutBucketNotificationConfiguration)
        );
        assert_eq!(
            routed(Method::GET, Some("b"), None, "notification"),
            Ok(Endpoint::GetBucketNotificationConfiguration)
        );
        // S3 has no DeleteBucketNotification: the query key is refused, the bucket stays.
        assert_eq!(routed(Method::DELETE, Some("b"), None, "notification"), Err("DeleteBucket"));
    }

    #[test]
    fn unimplemented_writes_never_reach_put_object() {
        for sub in ["tagging", "retention", "legal-hold", "renameObject", "symlink", "append&position=0"] {
            let r = routed(Method::PUT, Some("b"), Some("k"), sub);
            assert!(r.is_err(), "PUT ?{sub} routed to {r:?}");
        }
        for sub in ["tagging", "policy", "cors", "website", "bucketInfo"] {
            let r = routed(Method::PUT, Some("b"), None, sub);
            assert!(r.is_err(), "PUT bucket ?{sub} routed to {r:?}");
        }
        assert_eq!(routed(Method::PUT, Some("b"), Some("k"), "tagging"), Err("PutObjectTagging"));
        assert_eq!(routed(Method::DELETE, Some("b"), Some("k"), "tagging"), Err("DeleteObjectTagging"));
        assert_eq!(routed(Method::GET, Some("b"), None, "bucketInfo"), Err("ListObjects"));
    }

    #[test]
    fn presigned_parameters_are_generic() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=c&X-Amz-Date=d&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=s";
        assert_eq!(routed(Method::GET, Some("b"), Some("k"), q), Ok(Endpoint::GetObject));
        assert_eq!(
            routed(Method::PUT, Some("b"), Some("k"), "AWSAccessKeyId=a&Expires=1&Signature=s"),
            Ok(Endpoint::PutObject)
        );
    }

    #[test]
    fn methods_a_resource_does_not_take() {
        assert_eq!(routed(Method::PATCH, Some("b"), Some("k"), ""), Err("Unrouted"));
        assert_eq!(routed(Method::PUT, None, None, ""), Err("Unrouted"));
    }

    #[test]
    fn coverage_document_matches_the_table() {
        let doc = include_str!("../../../docs/s3-coverage.md");
        if let Err(e) = ferry_http::endpoint::check_coverage_doc(doc, &endpoint_docs()) {
            panic!("{e}");
        }
    }
}
