//! ACLs as a bucket with S3's `BucketOwnerEnforced` ownership answers them: one owner with
//! FULL_CONTROL over everything, ACL reads answered, ACL writes other than the canned `private`
//! (which changes nothing) refused with `AccessControlListNotSupported`, as S3 refuses them on
//! such buckets. ferry has no other grantees to give access to, so accepting a `public-read`
//! and ignoring it would mislead the client.

use ferry_http::xml::{XmlWriter, element_texts};
use ferry_http::{Body, Response};
use http::StatusCode;

use super::versions::check_version_id;
use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::request::header;
use crate::response::{self, OWNER_ID, write_owner, xml};
use crate::upload_body::read_small;

/// Canned ACLs that grant nothing beyond the owner's FULL_CONTROL.
const OWNER_ONLY: &[&str] = &["private", "bucket-owner-full-control"];

fn not_supported() -> S3Error {
    S3Error::access_control_list_not_supported(
        "The bucket does not allow ACLs: ferry buckets are owner-enforced and every object belongs to the bucket owner",
    )
}

/// Refuses a write that asks for an ACL granting anyone but the owner (`x-amz-acl` other than
/// `private`, or any `x-amz-grant-*` header). Called for every request that can carry an ACL.
pub fn check_canned(ctx: &Ctx<'_>) -> S3Result<()> {
    if let Some(acl) = header(ctx.parts, "x-amz-acl")
        && !OWNER_ONLY.contains(&acl.trim())
    {
        return Err(not_supported());
    }
    if ctx.parts.headers.keys().any(|name| name.as_str().starts_with("x-amz-grant-")) {
        return Err(not_supported());
    }
    Ok(())
}

fn policy() -> String {
    let mut w = XmlWriter::new("AccessControlPolicy");
    write_owner(&mut w, "Owner");
    w.open("AccessControlList").open("Grant");
    w.open(r#"Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser""#);
    w.elem("ID", OWNER_ID).elem("DisplayName", OWNER_ID).close("Grantee");
    w.elem("Permission", "FULL_CONTROL").close("Grant").close("AccessControlList");
    w.finish("AccessControlPolicy")
}

pub async fn get_bucket_acl(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    Ok(xml(StatusCode::OK, policy()))
}

pub async fn get_object_acl(ctx: &Ctx<'_>) -> S3Result<Response> {
    check_version_id(ctx)?;
    ctx.s3.engine.head_object(&ctx.bucket, &ctx.key).await?;
    Ok(xml(StatusCode::OK, policy()))
}

pub async fn put_bucket_acl(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    check_acl_write(ctx, body).await?;
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    Ok(response::status_only(StatusCode::OK))
}

pub async fn put_object_acl(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    check_version_id(ctx)?;
    check_acl_write(ctx, body).await?;
    ctx.s3.engine.head_object(&ctx.bucket, &ctx.key).await?;
    Ok(response::status_only(StatusCode::OK))
}

/// An ACL write is accepted only when it leaves things as they are: a canned owner-only ACL,
/// or an AccessControlPolicy body whose every grant is the owner's FULL_CONTROL.
async fn check_acl_write(ctx: &Ctx<'_>, body: Body) -> S3Result<()> {
    check_canned(ctx)?;
    let bytes = read_small(ctx.parts, &ctx.payload, body, 64 * 1024).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if header(ctx.parts, "x-amz-acl").is_none() {
            return Err(S3Error::malformed_acl_error("Specify an ACL with x-amz-acl or an AccessControlPolicy body"));
        }
        return Ok(());
    }
    let grants = ["AccessControlPolicy", "AccessControlList", "Grant"];
    let permissions = element_texts(&bytes, &[grants[0], grants[1], grants[2], "Permission"])?;
    let grantees = element_texts(&bytes, &[grants[0], grants[1], grants[2], "Grantee", "ID"])?;
    let owner_only = !permissions.is_empty()
        && permissions.iter().all(|p| p.trim() == "FULL_CONTROL")
        && grantees.len() == permissions.len()
        && grantees.iter().all(|id| id.trim() == OWNER_ID);
    if owner_only { Ok(()) } else { Err(not_supported()) }
}

pub async fn get_ownership_controls(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    let mut w = XmlWriter::new("OwnershipControls");
    w.open("Rule").elem("ObjectOwnership", "BucketOwnerEnforced").close("Rule");
    Ok(xml(StatusCode::OK, w.finish("OwnershipControls")))
}
