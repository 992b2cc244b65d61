//! The OSS endpoint table: (method, addressing, sub-resources) → [`Endpoint`], decided before
//! authentication and before any handler runs.
//!
//! Every operation of the OSS API reference that is addressed by a sub-resource is a row here,
//! implemented or not, so a request ferry does not serve can never reach a handler meant for
//! another (a `PUT /bucket/key?acl` must not replace the object with its body; a
//! `GET /bucket?bucketInfo` must not answer with a listing). The `resource` of a row is both the
//! documentation and the routing rule: its query names are the sub-resources that select the
//! operation (`name=value` when the value matters too). A request matches a row when its method
//! and addressing agree and the sub-resource names it carries are exactly the row's; every other
//! query parameter must be one the operation accepts ([`Route::params`]) or a presigned-URL
//! parameter, else the request is refused with OSS's `NotImplemented`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use ferry_http::Query;
use ferry_http::endpoint::{self, EndpointDoc};
use http::{HeaderMap, Method};

use crate::address::Address;
use crate::error::OssError;

/// An OSS operation, as the OSS API reference names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    PutBucket,
    DeleteBucket,
    HeadBucket,
    ListObjects,
    ListObjectsV2,
    GetBucketInfo,
    GetBucketLocation,
    GetBucketAcl,
    PutBucketAcl,
    PutBucketLifecycle,
    GetBucketLifecycle,
    DeleteBucketLifecycle,
    ListMultipartUploads,
    DeleteMultipleObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    GetObjectMeta,
    DeleteObject,
    GetObjectAcl,
    PutObjectAcl,
    InitiateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// An operation of the OSS API that ferry does not implement: it answers `NotImplemented`.
    Unsupported(&'static str),
}

impl endpoint::Endpoint for Endpoint {
    fn name(&self) -> &'static str {
        use Endpoint::*;
        match self {
            ListBuckets => "ListBuckets",
            PutBucket => "PutBucket",
            DeleteBucket => "DeleteBucket",
            HeadBucket => "HeadBucket",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            GetBucketInfo => "GetBucketInfo",
            GetBucketLocation => "GetBucketLocation",
            GetBucketAcl => "GetBucketAcl",
            PutBucketAcl => "PutBucketAcl",
            PutBucketLifecycle => "PutBucketLifecycle",
            GetBucketLifecycle => "GetBucketLifecycle",
            DeleteBucketLifecycle => "DeleteBucketLifecycle",
            ListMultipartUploads => "ListMultipartUploads",
            DeleteMultipleObjects => "DeleteMultipleObjects",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            GetObjectMeta => "GetObjectMeta",
            DeleteObject => "DeleteObject",
            GetObjectAcl => "GetObjectACL",
            PutObjectAcl => "PutObjectACL",
            InitiateMultipartUpload => "InitiateMultipartUpload",
            UploadPart => "UploadPart",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListParts => "ListParts",
            Unsupported(name) => name,
        }
    }
}

/// What a request addresses: the service (`/`), a bucket, or an object in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Service,
    Bucket,
    Object,
}

impl Scope {
    pub fn of(addr: &Address) -> Scope {
        match (&addr.bucket, &addr.key) {
            (None, _) => Scope::Service,
            (Some(_), None) => Scope::Bucket,
            (Some(_), Some(_)) => Scope::Object,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub endpoint: Endpoint,
    pub method: &'static str,
    /// `/`, `/bucket` or `/bucket/key`, then the selecting sub-resources.
    pub resource: &'static str,
    /// A header the request must carry to be this operation (CopyObject's `x-oss-copy-source`).
    pub header: Option<&'static str>,
    /// Further query parameters the operation accepts.
    pub params: &'static [&'static str],
    pub note: &'static str,
}

/// A request the router refused, with the endpoint name its response is tagged with.
#[derive(Debug)]
pub struct Refused {
    pub name: &'static str,
    pub error: OssError,
}

/// Presigned-URL parameters (V1 and V4), accepted on every operation: the signature check
/// decides about them (temporary-credential tokens included, which it refuses by name).
const PRESIGNED: &[&str] = &[
    "security-token",
    "x-oss-security-token",
    "OSSAccessKeyId",
    "Expires",
    "Signature",
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-signature",
    "x-oss-additional-headers",
];

/// `response-*` overrides of GetObject's response headers.
const RESPONSE_OVERRIDES: &[&str] = &[
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

const LIST_OBJECTS: &[&str] = &["prefix", "delimiter", "marker", "max-keys", "encoding-type"];
const LIST_OBJECTS_V2: &[&str] =
    &["prefix", "delimiter", "continuation-token", "start-after", "fetch-owner", "max-keys", "encoding-type"];
const LIST_UPLOADS: &[&str] =
    &["prefix", "delimiter", "key-marker", "upload-id-marker", "max-uploads", "encoding-type"];
const LIST_PARTS: &[&str] = &["part-number-marker", "max-parts", "encoding-type"];
const PAGED: &[&str] = &["continuation-token", "max-keys"];

/// `endpoint, "METHOD", "resource" [, header = "..."] [, params = ...] [, note = "..."];` rows.
macro_rules! routes {
    (@opt) => { None };
    (@opt $h:literal) => { Some($h) };
    (@params) => { &[] };
    (@params $p:expr) => { $p };
    (@note) => { "" };
    (@note $n:literal) => { $n };
    ($($endpoint:expr, $method:literal, $resource:literal $(, header = $header:literal)? $(, params = $params:expr)? $(, note = $note:literal)?;)*) => {
        &[$(Route {
            endpoint: $endpoint,
            method: $method,
            resource: $resource,
            header: routes!(@opt $($header)?),
            params: routes!(@params $($params)?),
            note: routes!(@note $($note)?),
        }),*]
    };
}

use Endpoint::*;

/// The table, in matching order: a row with a header condition or a sub-resource value comes
/// before the row it refines.
pub const ROUTES: &[Route] = routes! {
    // Service.
    ListBuckets, "GET", "/", params = &["prefix", "marker", "max-keys"];
    Unsupported("DescribeRegions"), "GET", "/?regions";
    Unsupported("GetUserQoSInfo"), "GET", "/?qosInfo";
    Unsupported("ListUserDataRedundancyTransition"), "GET", "/?redundancyTransition", params = PAGED;
    Unsupported("ListAccessPoints"), "GET", "/?accessPoint", params = PAGED;
    Unsupported("WriteGetObjectResponse"), "POST", "/?x-oss-write-get-object-response";
    Unsupported("PutPublicAccessBlock"), "PUT", "/?publicAccessBlock";
    Unsupported("GetPublicAccessBlock"), "GET", "/?publicAccessBlock";
    Unsupported("DeletePublicAccessBlock"), "DELETE", "/?publicAccessBlock";
    Unsupported("ListResourcePools"), "GET", "/?resourcePool", params = PAGED;
    Unsupported("GetResourcePoolInfo"), "GET", "/?resourcePool&resourcePoolInfo";
    Unsupported("ListResourcePoolBuckets"), "GET", "/?resourcePool&resourcePoolBuckets", params = PAGED;
    Unsupported("PutResourcePoolRequesterQoSInfo"), "PUT", "/?qosRequester&requesterQosInfo&resourcePool";
    Unsupported("GetResourcePoolRequesterQoSInfo"), "GET", "/?qosRequester&requesterQosInfo&resourcePool";
    Unsupported("DeleteResourcePoolRequesterQoSInfo"), "DELETE", "/?qosRequester&requesterQosInfo&resourcePool";
    Unsupported("ListResourcePoolRequesterQoSInfos"), "GET", "/?requesterQosInfo&resourcePool", params = PAGED;

    // Bucket basics.
    PutBucket, "PUT", "/bucket", note = "`x-oss-acl` other than `private` is refused (NotImplemented)";
    DeleteBucket, "DELETE", "/bucket";
    HeadBucket, "HEAD", "/bucket", note = "not in the OSS reference; 200 when the bucket exists";
    ListObjectsV2, "GET", "/bucket?list-type=2", params = LIST_OBJECTS_V2;
    ListObjects, "GET", "/bucket", params = LIST_OBJECTS;
    Unsupported("PostObject"), "POST", "/bucket", note = "HTML form uploads";
    GetBucketInfo, "GET", "/bucket?bucketInfo";
    GetBucketLocation, "GET", "/bucket?location";
    Unsupported("GetBucketStat"), "GET", "/bucket?stat";
    GetBucketAcl, "GET", "/bucket?acl", note = "always `private`";
    PutBucketAcl, "PUT", "/bucket?acl", note = "`private` is accepted (it is already); other ACLs are refused (NotImplemented)";
    ListMultipartUploads, "GET", "/bucket?uploads", params = LIST_UPLOADS, note = "`delimiter` must be empty";
    DeleteMultipleObjects, "POST", "/bucket?delete", params = &["encoding-type"];

    // Retention (WORM).
    Unsupported("InitiateBucketWorm"), "POST", "/bucket?worm";
    Unsupported("AbortBucketWorm"), "DELETE", "/bucket?worm";
    Unsupported("CompleteBucketWorm"), "POST", "/bucket?wormId";
    Unsupported("ExtendBucketWorm"), "POST", "/bucket?wormExtend&wormId";
    Unsupported("GetBucketWorm"), "GET", "/bucket?worm";

    // Lifecycle, transfer acceleration, versioning.
    PutBucketLifecycle, "PUT", "/bucket?lifecycle", note = "`Prefix`, `Expiration` (`Days`, `CreatedBeforeDate`), `AbortMultipartUpload`; tags, filters, transitions: `NotImplemented`";
    GetBucketLifecycle, "GET", "/bucket?lifecycle", note = "`NoSuchLifecycle` without rules";
    DeleteBucketLifecycle, "DELETE", "/bucket?lifecycle";
    Unsupported("PutBucketTransferAcceleration"), "PUT", "/bucket?transferAcceleration";
    Unsupported("GetBucketTransferAcceleration"), "GET", "/bucket?transferAcceleration";
    Unsupported("PutBucketVersioning"), "PUT", "/bucket?versioning";
    Unsupported("GetBucketVersioning"), "GET", "/bucket?versioning";
    Unsupported("ListObjectVersions"), "GET", "/bucket?versions",
        params = &["prefix", "delimiter", "key-marker", "version-id-marker", "max-keys", "encoding-type"];

    // Replication.
    Unsupported("PutBucketReplication"), "POST", "/bucket?comp=add&replication";
    Unsupported("DeleteBucketReplication"), "POST", "/bucket?comp=delete&replication";
    Unsupported("PutBucketRTC"), "PUT", "/bucket?rtc";
    Unsupported("GetBucketReplication"), "GET", "/bucket?replication";
    Unsupported("GetBucketReplicationLocation"), "GET", "/bucket?replicationLocation";
    Unsupported("GetBucketReplicationProgress"), "GET", "/bucket?replicationProgress", params = &["rule-id"];

    // Policy.
    Unsupported("PutBucketCallbackPolicy"), "PUT", "/bucket?comp=callback&policy";
    Unsupported("GetBucketCallbackPolicy"), "GET", "/bucket?comp=callback&policy";
    Unsupported("DeleteBucketCallbackPolicy"), "DELETE", "/bucket?comp=callback&policy";
    Unsupported("PutBucketPolicy"), "PUT", "/bucket?policy";
    Unsupported("GetBucketPolicy"), "GET", "/bucket?policy";
    Unsupported("DeleteBucketPolicy"), "DELETE", "/bucket?policy";
    Unsupported("GetBucketPolicyStatus"), "GET", "/bucket?policyStatus";

    // Inventory.
    Unsupported("PutBucketInventory"), "PUT", "/bucket?inventory&inventoryId";
    Unsupported("GetBucketInventory"), "GET", "/bucket?inventory&inventoryId";
    Unsupported("DeleteBucketInventory"), "DELETE", "/bucket?inventory&inventoryId";
    Unsupported("ListBucketInventory"), "GET", "/bucket?inventory", params = &["continuation-token"];

    // Logging, website, referer.
    Unsupported("PutBucketLogging"), "PUT", "/bucket?logging";
    Unsupported("GetBucketLogging"), "GET", "/bucket?logging";
    Unsupported("DeleteBucketLogging"), "DELETE", "/bucket?logging";
    Unsupported("PutUserDefinedLogFieldsConfig"), "PUT", "/bucket?userDefinedLogFieldsConfig";
    Unsupported("GetUserDefinedLogFieldsConfig"), "GET", "/bucket?userDefinedLogFieldsConfig";
    Unsupported("DeleteUserDefinedLogFieldsConfig"), "DELETE", "/bucket?userDefinedLogFieldsConfig";
    Unsupported("PutBucketWebsite"), "PUT", "/bucket?website";
    Unsupported("GetBucketWebsite"), "GET", "/bucket?website";
    Unsupported("DeleteBucketWebsite"), "DELETE", "/bucket?website";
    Unsupported("PutBucketReferer"), "PUT", "/bucket?referer";
    Unsupported("GetBucketReferer"), "GET", "/bucket?referer";

    // Tags, encryption, request payment, CORS.
    Unsupported("PutBucketTags"), "PUT", "/bucket?tagging";
    Unsupported("GetBucketTags"), "GET", "/bucket?tagging";
    Unsupported("DeleteBucketTags"), "DELETE", "/bucket?tagging";
    Unsupported("PutBucketEncryption"), "PUT", "/bucket?encryption";
    Unsupported("GetBucketEncryption"), "GET", "/bucket?encryption";
    Unsupported("DeleteBucketEncryption"), "DELETE", "/bucket?encryption";
    Unsupported("PutBucketRequestPayment"), "PUT", "/bucket?requestPayment";
    Unsupported("GetBucketRequestPayment"), "GET", "/bucket?requestPayment";
    Unsupported("PutBucketCors"), "PUT", "/bucket?cors";
    Unsupported("GetBucketCors"), "GET", "/bucket?cors";
    Unsupported("DeleteBucketCors"), "DELETE", "/bucket?cors";

    // Access monitor, data indexing, resource groups, CNAME.
    Unsupported("PutBucketAccessMonitor"), "PUT", "/bucket?accessmonitor";
    Unsupported("GetBucketAccessMonitor"), "GET", "/bucket?accessmonitor";
    Unsupported("OpenMetaQuery"), "POST", "/bucket?comp=add&metaQuery";
    Unsupported("DoMetaQuery"), "POST", "/bucket?comp=query&metaQuery";
    Unsupported("CloseMetaQuery"), "POST", "/bucket?comp=delete&metaQuery";
    Unsupported("GetMetaQueryStatus"), "GET", "/bucket?metaQuery";
    Unsupported("PutBucketResourceGroup"), "PUT", "/bucket?resourceGroup";
    Unsupported("GetBucketResourceGroup"), "GET", "/bucket?resourceGroup";
    Unsupported("CreateCnameToken"), "POST", "/bucket?cname&comp=token";
    Unsupported("GetCnameToken"), "GET", "/bucket?cname&comp=token";
    Unsupported("PutCname"), "POST", "/bucket?cname&comp=add";
    Unsupported("DeleteCname"), "POST", "/bucket?cname&comp=delete";
    Unsupported("ListCname"), "GET", "/bucket?cname";

    // Image styles, archive direct read, TLS, redundancy.
    Unsupported("PutStyle"), "PUT", "/bucket?style&styleName";
    Unsupported("GetStyle"), "GET", "/bucket?style&styleName";
    Unsupported("DeleteStyle"), "DELETE", "/bucket?style&styleName";
    Unsupported("ListStyle"), "GET", "/bucket?style";
    Unsupported("PutBucketArchiveDirectRead"), "PUT", "/bucket?bucketArchiveDirectRead";
    Unsupported("GetBucketArchiveDirectRead"), "GET", "/bucket?bucketArchiveDirectRead";
    Unsupported("PutBucketHttpsConfig"), "PUT", "/bucket?httpsConfig";
    Unsupported("GetBucketHttpsConfig"), "GET", "/bucket?httpsConfig";
    Unsupported("CreateBucketDataRedundancyTransition"), "POST", "/bucket?redundancyTransition&x-oss-target-redundancy-type";
    Unsupported("GetBucketDataRedundancyTransition"), "GET", "/bucket?redundancyTransition&x-oss-redundancy-transition-taskid";
    Unsupported("DeleteBucketDataRedundancyTransition"), "DELETE", "/bucket?redundancyTransition&x-oss-redundancy-transition-taskid";
    Unsupported("ListBucketDataRedundancyTransition"), "GET", "/bucket?redundancyTransition";

    // Access points, public access block, QoS.
    Unsupported("CreateAccessPoint"), "PUT", "/bucket?accessPoint";
    Unsupported("GetAccessPoint"), "GET", "/bucket?accessPoint", params = PAGED, note = "also ListAccessPoints of a bucket";
    Unsupported("DeleteAccessPoint"), "DELETE", "/bucket?accessPoint";
    Unsupported("PutAccessPointPolicy"), "PUT", "/bucket?accessPointPolicy";
    Unsupported("GetAccessPointPolicy"), "GET", "/bucket?accessPointPolicy";
    Unsupported("DeleteAccessPointPolicy"), "DELETE", "/bucket?accessPointPolicy";
    Unsupported("PutAccessPointPublicAccessBlock"), "PUT", "/bucket?publicAccessBlock&x-oss-access-point-name";
    Unsupported("GetAccessPointPublicAccessBlock"), "GET", "/bucket?publicAccessBlock&x-oss-access-point-name";
    Unsupported("DeleteAccessPointPublicAccessBlock"), "DELETE", "/bucket?publicAccessBlock&x-oss-access-point-name";
    Unsupported("PutBucketPublicAccessBlock"), "PUT", "/bucket?publicAccessBlock";
    Unsupported("GetBucketPublicAccessBlock"), "GET", "/bucket?publicAccessBlock";
    Unsupported("DeleteBucketPublicAccessBlock"), "DELETE", "/bucket?publicAccessBlock";
    Unsupported("PutBucketQoSInfo"), "PUT", "/bucket?qosInfo";
    Unsupported("GetBucketQoSInfo"), "GET", "/bucket?qosInfo";
    Unsupported("DeleteBucketQoSInfo"), "DELETE", "/bucket?qosInfo";
    Unsupported("PutBucketStorageCapacity"), "PUT", "/bucket?qos";
    Unsupported("GetBucketStorageCapacity"), "GET", "/bucket?qos";
    Unsupported("PutBucketRequesterQoSInfo"), "PUT", "/bucket?qosRequester&requesterQosInfo";
    Unsupported("GetBucketRequesterQoSInfo"), "GET", "/bucket?qosRequester&requesterQosInfo";
    Unsupported("DeleteBucketRequesterQoSInfo"), "DELETE", "/bucket?qosRequester&requesterQosInfo";
    Unsupported("ListBucketRequesterQoSInfos"), "GET", "/bucket?requesterQosInfo", params = PAGED;
    Unsupported("PutAsyncFetchTask"), "POST", "/bucket?asyncFetch";
    Unsupported("GetAsyncFetchTask"), "GET", "/bucket?asyncFetch";

    // Live channels.
    Unsupported("ListLiveChannel"), "GET", "/bucket?live", params = &["prefix", "marker", "max-keys"];
    Unsupported("PutLiveChannel"), "PUT", "/bucket/key?live";
    Unsupported("PutLiveChannelStatus"), "PUT", "/bucket/key?live&status";
    Unsupported("GetLiveChannelInfo"), "GET", "/bucket/key?live";
    Unsupported("GetLiveChannelStat"), "GET", "/bucket/key?comp=stat&live";
    Unsupported("GetLiveChannelHistory"), "GET", "/bucket/key?comp=history&live";
    Unsupported("DeleteLiveChannel"), "DELETE", "/bucket/key?live";
    Unsupported("PostVodPlaylist"), "POST", "/bucket/key?endTime&startTime&vod";
    Unsupported("GetVodPlaylist"), "GET", "/bucket/key?endTime&startTime&vod";

    // Objects.
    CopyObject, "PUT", "/bucket/key", header = "x-oss-copy-source", note = "with `x-oss-copy-source`";
    PutObject, "PUT", "/bucket/key", note = "`x-oss-object-acl` other than `default` is refused (NotImplemented)";
    GetObject, "GET", "/bucket/key", params = RESPONSE_OVERRIDES, note = "`Range`; `response-*` overrides";
    HeadObject, "HEAD", "/bucket/key";
    GetObjectMeta, "HEAD", "/bucket/key?objectMeta";
    DeleteObject, "DELETE", "/bucket/key";
    Unsupported("AppendObject"), "POST", "/bucket/key?append&position";
    Unsupported("RestoreObject"), "POST", "/bucket/key?restore";
    Unsupported("CleanRestoredObject"), "POST", "/bucket/key?cleanRestoredObject";
    Unsupported("SelectObject"), "POST", "/bucket/key?x-oss-process=csv/select";
    Unsupported("SelectObject"), "POST", "/bucket/key?x-oss-process=json/select";
    Unsupported("CreateSelectObjectMeta"), "POST", "/bucket/key?x-oss-process=csv/meta";
    Unsupported("CreateSelectObjectMeta"), "POST", "/bucket/key?x-oss-process=json/meta";
    Unsupported("ProcessObject"), "POST", "/bucket/key?x-oss-process", note = "image/document processing saved as an object";
    Unsupported("GetObjectProcessed"), "GET", "/bucket/key?x-oss-process", params = RESPONSE_OVERRIDES, note = "image/video/document processing on download";
    Unsupported("AsyncProcessObject"), "POST", "/bucket/key?x-oss-async-process";
    GetObjectAcl, "GET", "/bucket/key?acl", note = "always `default` (the bucket's, which is `private`)";
    PutObjectAcl, "PUT", "/bucket/key?acl", note = "`default` is accepted (it is already); other ACLs are refused (NotImplemented)";
    Unsupported("PutSymlink"), "PUT", "/bucket/key?symlink";
    Unsupported("GetSymlink"), "GET", "/bucket/key?symlink";
    Unsupported("PutObjectTagging"), "PUT", "/bucket/key?tagging";
    Unsupported("GetObjectTagging"), "GET", "/bucket/key?tagging";
    Unsupported("DeleteObjectTagging"), "DELETE", "/bucket/key?tagging";

    // Multipart.
    InitiateMultipartUpload, "POST", "/bucket/key?uploads";
    Unsupported("UploadPartCopy"), "PUT", "/bucket/key?partNumber&uploadId", header = "x-oss-copy-source", note = "with `x-oss-copy-source`";
    UploadPart, "PUT", "/bucket/key?partNumber&uploadId";
    CompleteMultipartUpload, "POST", "/bucket/key?uploadId";
    AbortMultipartUpload, "DELETE", "/bucket/key?uploadId";
    ListParts, "GET", "/bucket/key?uploadId", params = LIST_PARTS;
};

/// A row's addressing and selecting sub-resources, parsed once from its `resource`.
struct Selector {
    scope: Scope,
    names: Vec<(&'static str, Option<&'static str>)>,
}

fn parse_resource(resource: &'static str) -> Selector {
    let (path, query) = resource.split_once('?').unwrap_or((resource, ""));
    let scope = match path {
        "/" => Scope::Service,
        "/bucket" => Scope::Bucket,
        _ => Scope::Object,
    };
    let names = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (s, None),
        })
        .collect();
    Selector { scope, names }
}

static SELECTORS: LazyLock<Vec<Selector>> =
    LazyLock::new(|| ROUTES.iter().map(|r| parse_resource(r.resource)).collect());

/// Every query name that selects an operation somewhere in the table.
static SUBRESOURCES: LazyLock<BTreeSet<&'static str>> =
    LazyLock::new(|| SELECTORS.iter().flat_map(|s| s.names.iter().map(|(k, _)| *k)).collect());

/// The endpoint for a request, or the refusal to send back.
pub fn route(method: &Method, scope: Scope, query: &Query, headers: &HeaderMap) -> Result<Endpoint, Refused> {
    let mut present: Vec<&str> =
        query.pairs().iter().map(|(k, _)| k.as_str()).filter(|k| SUBRESOURCES.contains(k)).collect();
    present.sort_unstable();
    present.dedup();
    for (row, selector) in ROUTES.iter().zip(SELECTORS.iter()) {
        let selected = row.method == method.as_str()
            && selector.scope == scope
            && selector.names.len() == present.len()
            && selector.names.iter().all(|(k, v)| match v {
                None => query.has(k),
                Some(v) => query.get(k) == Some(*v),
            })
            && row.header.is_none_or(|h| headers.contains_key(h));
        if !selected {
            continue;
        }
        let name = endpoint::Endpoint::name(&row.endpoint);
        let own = |k: &str| selector.names.iter().any(|(n, _)| *n == k) || PRESIGNED.contains(&k);
        if let Some(unknown) = endpoint::first_unknown(query, row.params, own) {
            return Err(Refused {
                name,
                error: OssError::not_implemented(format!("ferry does not support the parameter {unknown} on {name}.")),
            });
        }
        return Ok(row.endpoint);
    }
    let what = match scope {
        Scope::Service => "the service",
        Scope::Bucket => "a bucket",
        Scope::Object => "an object",
    };
    // With no sub-resource and no parameter, the method has no operation here; with either,
    // the request asks for something ferry does not know, which OSS answers as not implemented.
    let unknown = query.pairs().iter().map(|(k, _)| k.as_str()).find(|k| !PRESIGNED.contains(k));
    let error = match unknown {
        None => OssError::method_not_allowed(format!("The method {method} is not allowed against {what}.")),
        Some(_) if !present.is_empty() => OssError::not_implemented(format!(
            "ferry does not implement {method} on {what} with the sub-resource {}.",
            present.join("&")
        )),
        Some(k) => OssError::not_implemented(format!("ferry does not implement {method} on {what} with {k}.")),
    };
    Err(Refused { name: "Unknown", error })
}

/// The table as coverage rows, for `docs/oss-coverage.md`.
pub fn endpoint_docs() -> Vec<EndpointDoc> {
    ROUTES
        .iter()
        .map(|r| EndpointDoc {
            name: endpoint::Endpoint::name(&r.endpoint),
            method: r.method,
            resource: r.resource,
            supported: !matches!(r.endpoint, Endpoint::Unsupported(_)),
            note: r.note,
        })
        .collect()
}

#[cfg(test)]
mod tests;
