//! The route table against the requests OSS SDKs send, and the coverage document against the table.
#![allow(clippy::unwrap_used)]

use super::*;

fn routed(method: &str, scope: Scope, query: &str) -> Result<Endpoint, String> {
    routed_with(method, scope, query, &HeaderMap::new())
}

fn routed_with(method: &str, scope: Scope, query: &str, headers: &HeaderMap) -> Result<Endpoint, String> {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    route(&method, scope, &Query::parse(Some(query)), headers).map_err(|r| format!("{} {}", r.name, r.error.code))
}

#[test]
fn plain_requests_reach_the_object_and_bucket_operations() {
    use Scope::*;
    assert_eq!(routed("GET", Service, ""), Ok(ListBuckets));
    assert_eq!(routed("GET", Service, "prefix=&marker=&max-keys=100"), Ok(ListBuckets));
    assert_eq!(routed("PUT", Bucket, ""), Ok(PutBucket));
    assert_eq!(routed("HEAD", Bucket, ""), Ok(HeadBucket));
    assert_eq!(routed("DELETE", Bucket, ""), Ok(DeleteBucket));
    assert_eq!(routed("GET", Bucket, "prefix=a&delimiter=%2F&marker=&max-keys=100&encoding-type=url"), Ok(ListObjects));
    assert_eq!(
        routed("GET", Bucket, "list-type=2&prefix=&continuation-token=x&start-after=&fetch-owner=false&max-keys=2"),
        Ok(ListObjectsV2)
    );
    assert_eq!(routed("PUT", Object, ""), Ok(PutObject));
    assert_eq!(routed("GET", Object, ""), Ok(GetObject));
    assert_eq!(routed("GET", Object, "response-content-type=text%2Fplain"), Ok(GetObject));
    assert_eq!(routed("HEAD", Object, ""), Ok(HeadObject));
    assert_eq!(routed("HEAD", Object, "objectMeta"), Ok(GetObjectMeta));
    assert_eq!(routed("DELETE", Object, ""), Ok(DeleteObject));
    let mut copy = HeaderMap::new();
    copy.insert("x-oss-copy-source", "/b/src".parse().unwrap());
    assert_eq!(routed_with("PUT", Object, "", &copy), Ok(CopyObject));
}

#[test]
fn sub_resources_select_their_operation() {
    use Scope::*;
    assert_eq!(routed("GET", Bucket, "bucketInfo"), Ok(GetBucketInfo));
    assert_eq!(routed("GET", Bucket, "location"), Ok(GetBucketLocation));
    assert_eq!(routed("GET", Bucket, "acl"), Ok(GetBucketAcl));
    assert_eq!(routed("PUT", Bucket, "acl"), Ok(PutBucketAcl));
    assert_eq!(routed("GET", Object, "acl"), Ok(GetObjectAcl));
    assert_eq!(routed("PUT", Object, "acl"), Ok(PutObjectAcl));
    assert_eq!(routed("POST", Bucket, "delete&encoding-type=url"), Ok(DeleteMultipleObjects));
    assert_eq!(
        routed("GET", Bucket, "uploads&prefix=&max-uploads=1000&key-marker=&upload-id-marker="),
        Ok(ListMultipartUploads)
    );
    assert_eq!(routed("POST", Object, "uploads"), Ok(InitiateMultipartUpload));
    assert_eq!(routed("PUT", Object, "partNumber=1&uploadId=AB"), Ok(UploadPart));
    assert_eq!(routed("POST", Object, "uploadId=AB"), Ok(CompleteMultipartUpload));
    assert_eq!(routed("DELETE", Object, "uploadId=AB"), Ok(AbortMultipartUpload));
    assert_eq!(routed("GET", Object, "uploadId=AB&part-number-marker=0&max-parts=1000"), Ok(ListParts));
}

#[test]
fn unimplemented_operations_are_named_and_never_fall_through() {
    use Scope::*;
    assert_eq!(routed("PUT", Object, "tagging"), Ok(Unsupported("PutObjectTagging")));
    assert_eq!(routed("PUT", Object, "symlink"), Ok(Unsupported("PutSymlink")));
    assert_eq!(routed("POST", Object, "append&position=0"), Ok(Unsupported("AppendObject")));
    assert_eq!(routed("POST", Object, "x-oss-process=csv%2Fselect"), Ok(Unsupported("SelectObject")));
    assert_eq!(routed("POST", Object, "x-oss-process=csv%2Fmeta"), Ok(Unsupported("CreateSelectObjectMeta")));
    assert_eq!(routed("POST", Object, "x-oss-process=image%2Fresize"), Ok(Unsupported("ProcessObject")));
    assert_eq!(routed("GET", Object, "x-oss-process=image%2Fresize"), Ok(Unsupported("GetObjectProcessed")));
    assert_eq!(routed("PUT", Bucket, "lifecycle"), Ok(PutBucketLifecycle));
    assert_eq!(routed("GET", Bucket, "lifecycle"), Ok(GetBucketLifecycle));
    assert_eq!(routed("DELETE", Bucket, "lifecycle"), Ok(DeleteBucketLifecycle));
    assert_eq!(routed("PUT", Bucket, "lifecycle&x=1"), Err("PutBucketLifecycle NotImplemented".into()));
    assert_eq!(routed("POST", Bucket, "replication&comp=add"), Ok(Unsupported("PutBucketReplication")));
    assert_eq!(routed("GET", Bucket, "policy&comp=callback"), Ok(Unsupported("GetBucketCallbackPolicy")));
    assert_eq!(routed("GET", Bucket, "policy"), Ok(Unsupported("GetBucketPolicy")));
    assert_eq!(routed("GET", Bucket, "stat"), Ok(Unsupported("GetBucketStat")));
    let mut copy = HeaderMap::new();
    copy.insert("x-oss-copy-source", "/b/src".parse().unwrap());
    assert_eq!(routed_with("PUT", Object, "partNumber=1&uploadId=AB", &copy), Ok(Unsupported("UploadPartCopy")));
    // A sub-resource with a method it has no operation for, or a combination OSS does not
    // define, is refused instead of reaching PutObject, CreateBucket or a listing.
    assert_eq!(routed("PUT", Object, "bucketInfo"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("PUT", Bucket, "location"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("GET", Bucket, "acl&lifecycle"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("PUT", Object, "partNumber=1"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("POST", Object, "comp=add"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("POST", Object, ""), Err("Unknown MethodNotAllowed".into()));
    assert_eq!(routed("POST", Object, "sequential"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("PUT", Service, "versionId=1"), Err("Unknown NotImplemented".into()));
    assert_eq!(routed("PATCH", Object, ""), Err("Unknown MethodNotAllowed".into()));
}

#[test]
fn unknown_parameters_are_refused_and_presigned_ones_kept() {
    use Scope::*;
    assert_eq!(routed("PUT", Object, "versionId=1"), Err("PutObject NotImplemented".into()));
    assert_eq!(routed("DELETE", Object, "versionId=1"), Err("DeleteObject NotImplemented".into()));
    assert_eq!(routed("GET", Object, "x-oss-traffic-limit=1000"), Err("GetObject NotImplemented".into()));
    assert_eq!(routed("GET", Bucket, "acl&prefix=a"), Err("GetBucketAcl NotImplemented".into()));
    assert_eq!(routed("POST", Object, "uploads&sequential"), Err("InitiateMultipartUpload NotImplemented".into()));
    assert_eq!(routed("GET", Object, "OSSAccessKeyId=ak&Expires=1&Signature=s"), Ok(GetObject));
    assert_eq!(
        routed(
            "PUT",
            Object,
            "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=c&x-oss-date=d&x-oss-expires=60&x-oss-signature=s"
        ),
        Ok(PutObject)
    );
}

#[test]
fn every_row_is_reachable_by_its_own_resource() {
    for (row, selector) in ROUTES.iter().zip(SELECTORS.iter()) {
        let query: Vec<String> = selector
            .names
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={}", v.replace('/', "%2F")),
                None => format!("{k}=x"),
            })
            .collect();
        let mut headers = HeaderMap::new();
        if let Some(h) = row.header {
            headers.insert(h, "/b/k".parse().unwrap());
        }
        let got = routed_with(row.method, selector.scope, &query.join("&"), &headers);
        assert_eq!(got, Ok(row.endpoint), "{} {}", row.method, row.resource);
    }
}

#[test]
fn the_coverage_document_matches_the_table() {
    let doc = include_str!("../../../../docs/oss-coverage.md");
    if let Err(e) = endpoint::check_coverage_doc(doc, &endpoint_docs()) {
        panic!("{e}");
    }
}
