//! Buckets and whole objects: create and delete buckets, put, copy, read, delete and list
//! objects.
//!
//! Objects are written by metadata only wherever possible (a copy shares the source's blobs), and
//! the table bucket is read-only to the object dialects: only the table rules write there.

use futures_util::{StreamExt, TryStreamExt};

use super::events::Change;
use super::{
    Engine, ObjectListing, ObjectRead, PartInput, RangeSpec, resolve_range, validate_bucket_name, validate_key,
};
use crate::checksum::{ChecksumAlgorithm, ChecksumType};
use crate::conditions::{SourceConditions, WriteCondition};
use crate::error::{Error, Result};
use crate::events::{DeleteCause, EventKind};
use crate::store::ByteStream;
use crate::types::*;

/// The greatest Unicode scalar; appended to a prefix it sorts after every key under that prefix.
const MAX_CHAR: char = '\u{10FFFF}';

impl Engine {
    /// Errors with `AccessDenied` for the table bucket's name (the engine creates it).
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        validate_bucket_name(name)?;
        self.refuse_table_bucket(name)?;
        self.meta.create_bucket(name, now_millis()).await
    }

    /// Errors with `AccessDenied` for the table bucket.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.refuse_table_bucket(name)?;
        self.meta.delete_bucket(name, now_millis()).await
    }

    /// Errors with `NoSuchBucket` when absent.
    pub async fn bucket(&self, name: &str) -> Result<BucketInfo> {
        self.meta.get_bucket(name).await?.ok_or(Error::NoSuchBucket)
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.meta.list_buckets().await
    }

    /// Store a whole object in one request. `checksum` names the algorithm the client chose, so
    /// the object records it as a full-object checksum.
    pub async fn put_object(
        &self,
        target: ObjectTarget,
        meta: ObjectMeta,
        input: PartInput,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Result<ObjectRecord> {
        self.put_object_if(target, meta, input, checksum, None).await
    }

    /// [`Engine::put_object`], publishing only if `condition` holds for the object at the key at
    /// the moment of publishing (checked atomically with it; see [`WriteCondition`]). A refused
    /// write publishes nothing and its body's blob is deleted (or queued as garbage).
    pub async fn put_object_if(
        &self,
        target: ObjectTarget,
        meta: ObjectMeta,
        input: PartInput,
        checksum: Option<ChecksumAlgorithm>,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectRecord> {
        validate_key(&target.key)?;
        self.refuse_table_bucket(&target.bucket)?;
        self.bucket(&target.bucket).await?;
        if let Some(condition) = &condition {
            // Refuse early when the condition already fails, before any byte is stored; the
            // check that counts is the store's, made again when publishing.
            let current = self.meta.get_object(&target.bucket, &target.key).await?;
            condition.check(current.as_ref().map(|o| o.etag.as_str()))?;
        }
        let mut wanted = input.wanted;
        if let Some(a) = checksum {
            wanted.add(a.digest_kind());
        }
        let (blob, size, digests) = self.ingest(input, wanted).await?;
        let object = ObjectRecord {
            bucket: target.bucket,
            key: target.key,
            size,
            etag: hex::encode(digests.md5),
            modified: now_millis(),
            meta,
            checksum: checksum.and_then(|algorithm| {
                digests.base64(algorithm).map(|value| ObjectChecksum {
                    algorithm,
                    kind: ChecksumType::FullObject,
                    value,
                })
            }),
            crc: WholeCrc {
                crc32: digests.crc32,
                crc32c: digests.crc32c,
                crc64nvme: digests.crc64nvme,
                crc64xz: digests.crc64xz,
            },
            manifest: vec![ManifestEntry { blob: blob.clone(), offset: 0, size }],
        };
        let stored = match self.events_for(Change::published(EventKind::Put, &object)).await {
            Ok(events) => self.meta.put_object_notify(&object, condition.as_ref(), &events).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            self.discard(&blob).await;
            return Err(e);
        }
        self.observer.stored(size, false);
        Ok(object)
    }

    /// Copy an object by metadata only: the new object shares the source's blobs. `meta`
    /// replaces the source's metadata when given.
    pub async fn copy_object(
        &self,
        source: &ObjectTarget,
        target: ObjectTarget,
        meta: Option<ObjectMeta>,
    ) -> Result<ObjectRecord> {
        self.copy_object_if(source, &SourceConditions::default(), target, meta, None).await
    }

    /// [`Engine::copy_object`] when the source meets `conditions` (else
    /// `PreconditionFailed(Source)`), publishing only if `condition` holds for the object at the
    /// target key at the moment of publishing (see [`WriteCondition`]).
    pub async fn copy_object_if(
        &self,
        source: &ObjectTarget,
        conditions: &SourceConditions,
        target: ObjectTarget,
        meta: Option<ObjectMeta>,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectRecord> {
        validate_key(&target.key)?;
        self.refuse_table_bucket(&target.bucket)?;
        let src = self.head_object(&source.bucket, &source.key).await?;
        conditions.check(&src)?;
        self.bucket(&target.bucket).await?;
        let object = ObjectRecord {
            bucket: target.bucket,
            key: target.key,
            modified: now_millis(),
            meta: meta.unwrap_or(src.meta),
            ..src
        };
        let events = self.events_for(Change::published(EventKind::Copy, &object)).await?;
        self.meta.put_object_notify(&object, condition.as_ref(), &events).await?;
        Ok(object)
    }

    /// The object's record. Errors with `NoSuchBucket` or `NoSuchKey`, and with `Damaged` when
    /// a scrub found its stored data damaged (so reads and copies never pass bad bytes on).
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectRecord> {
        match self.meta.get_object(bucket, key).await? {
            Some(o) => {
                self.refuse_damaged(bucket, key).await?;
                Ok(o)
            }
            None => {
                self.bucket(bucket).await?;
                Err(Error::NoSuchKey)
            }
        }
    }

    /// Read an object, a byte range of it, or one of its parts (1-based), streaming across its
    /// manifest's blobs.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<RangeSpec>,
        part_number: Option<u32>,
    ) -> Result<ObjectRead> {
        let object = self.head_object(bucket, key).await?;
        let span = match (part_number, range) {
            (Some(n), _) => {
                let entry = usize::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| object.manifest.get(i))
                    .ok_or(Error::InvalidRange { size: object.size })?;
                if entry.size == 0 { None } else { Some((entry.offset, entry.offset + entry.size - 1)) }
            }
            (None, Some(spec)) => Some(resolve_range(spec, object.size)?),
            (None, None) => None,
        };
        let (first, end) = match span {
            Some((a, b)) => (a, b + 1),
            None => (0, object.size),
        };
        let body = self.read_span(&object.manifest, first, end);
        Ok(ObjectRead { object, range: span, body })
    }

    /// Stream bytes [first, end) of a manifest, opening each blob only when reached.
    pub(super) fn read_span(&self, manifest: &[ManifestEntry], first: u64, end: u64) -> ByteStream {
        let pieces: Vec<(BlobId, u64, u64)> = manifest
            .iter()
            .filter(|e| e.offset < end && e.offset + e.size > first && e.size > 0)
            .map(|e| {
                let from = first.max(e.offset) - e.offset;
                let to = end.min(e.offset + e.size) - e.offset;
                (e.blob.clone(), from, to - from)
            })
            .collect();
        let blobs = self.blobs.clone();
        let observer = self.observer.clone();
        Box::pin(
            futures_util::stream::iter(pieces)
                .then(move |(blob, offset, len)| {
                    let blobs = blobs.clone();
                    async move { blobs.read(&blob, offset, len).await.map_err(std::io::Error::other) }
                })
                .try_flatten()
                .inspect_ok(move |chunk| observer.served(chunk.len() as u64)),
        )
    }

    /// Delete an object; deleting a missing key succeeds. Errors with `NoSuchBucket`.
    /// Errors with `AccessDenied` in the table bucket.
    /// Emits `ObjectRemoved:Delete` when the bucket asks for it (see [`Engine::delete_object_as`]).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        self.delete_object_as(bucket, key, DeleteCause::Request).await
    }

    /// List keys under `prefix` after `after`, rolling keys that contain `delimiter` past the
    /// prefix up into common prefixes; at most `limit` entries (objects + prefixes).
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        limit: usize,
    ) -> Result<ObjectListing> {
        self.bucket(bucket).await?;
        let mut listing = ObjectListing::default();
        if limit == 0 {
            return Ok(listing);
        }
        // A marker that is itself a common prefix continues after everything under it.
        let mut cursor = if !delimiter.is_empty() && after.len() > prefix.len() && after.ends_with(delimiter) {
            format!("{after}{MAX_CHAR}")
        } else {
            after.to_string()
        };
        'pages: loop {
            let batch = self.meta.list_objects(bucket, prefix, &cursor, 1000).await?;
            if batch.is_empty() {
                break;
            }
            for object in batch {
                if listing.objects.len() + listing.common_prefixes.len() >= limit {
                    listing.truncated = true;
                    break 'pages;
                }
                let rest = object.key.get(prefix.len()..).unwrap_or("");
                if let Some(at) = (!delimiter.is_empty()).then(|| rest.find(delimiter)).flatten() {
                    let common = format!("{prefix}{}", &rest[..at + delimiter.len()]);
                    cursor = format!("{common}{MAX_CHAR}");
                    listing.next_marker = Some(common.clone());
                    listing.common_prefixes.push(common);
                    continue 'pages;
                }
                cursor = object.key.clone();
                listing.next_marker = Some(object.key.clone());
                listing.objects.push(object);
            }
        }
        if !listing.truncated {
            listing.next_marker = None;
        }
        Ok(listing)
    }
}
