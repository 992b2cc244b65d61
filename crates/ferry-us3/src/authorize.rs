//! Which [`Action`] on which [`Resource`] each US3 endpoint is, for the shared authorization
//! layer ([`ferry_core::access`]). Checked after authentication and before any handler runs.

use ferry_core::access::{Action, Resource};

use crate::Ctx;
use crate::error::{Us3Error, Us3Result};
use crate::router::Endpoint;

/// Refuse the request with US3's error JSON (403) when the signer's grants do not cover it.
pub fn check(ctx: &Ctx<'_>, endpoint: Endpoint) -> Us3Result<()> {
    let p = &ctx.principal;
    let (bucket, key) = (ctx.bucket.as_str(), ctx.key.as_str());
    let object = Resource::Object { bucket, key };
    let listed = Resource::Bucket { bucket, prefix: ctx.query.get("prefix").unwrap_or("") };
    let decision = match endpoint {
        Endpoint::PutFile
        | Endpoint::InitiateMultipartUpload
        | Endpoint::UploadPart
        | Endpoint::FinishMultipartUpload
        | Endpoint::AbortMultipartUpload
        | Endpoint::ListParts => p.authorize(Action::Write, &object),
        Endpoint::Copy | Endpoint::UploadPartCopy => {
            let source = crate::ops::copy_source(ctx)?;
            p.authorize(Action::Write, &object).and_then(|()| {
                p.authorize(Action::Read, &Resource::Object { bucket: &source.bucket, key: &source.key })
            })
        }
        Endpoint::GetFile | Endpoint::HeadFile => p.authorize(Action::Read, &object),
        Endpoint::DeleteFile => p.authorize(Action::Delete, &object),
        Endpoint::PrefixFileList | Endpoint::ListObjects | Endpoint::GetMultiUploadId => {
            p.authorize(Action::List, &listed)
        }
        // Refused by the router before authentication.
        _ => Ok(()),
    };
    decision.map_err(|d| Us3Error::unauthorized(d.0))
}
