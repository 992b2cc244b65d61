//! The engine's side of tables: what the table service (the `ferry-tables` crate) needs and no
//! object dialect may do.
//!
//! The engine knows tables only as plain data: the table bucket's *name*
//! (`EngineConfig::table_bucket`), which the object API refuses to write, and table upload
//! sessions, whose target is `Target::TablePartition` so that no object call can find or
//! complete one. Schemas, partitions and Parquet are the table service's business; it keeps its
//! files in the table bucket through the calls below.
//!
//! These calls are public because the table service is its own crate; a front-end must not use
//! them (it would bypass the table rules). Object dialects reach the table bucket read-only,
//! through `get_object`, `head_object` and `list_objects`.

use bytes::Bytes;

use super::{Engine, PartInput};
use crate::checksum::Wanted;
use crate::error::{Error, Result};
use crate::types::*;

impl Engine {
    /// The bucket that holds tables (`EngineConfig::table_bucket`).
    pub fn table_bucket(&self) -> &str {
        &self.config.table_bucket
    }

    /// Create the table bucket unless it exists.
    pub async fn ensure_table_bucket(&self) -> Result<()> {
        match self.meta.create_bucket(&self.config.table_bucket, now_millis()).await {
            Ok(()) | Err(Error::BucketAlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Store `body` as object `key` of the table bucket, replacing whatever was there. For the
    /// table service only (a schema document, a partition marker): the object API refuses the
    /// table bucket. Errors as a body ingest does (`InsufficientStorage`, blob store errors).
    pub async fn put_table_object(&self, key: String, content_type: &str, body: Bytes) -> Result<()> {
        let size = body.len() as u64;
        let input = PartInput {
            expected_size: Some(size),
            max_size: size,
            body: Box::pin(futures_util::stream::once(async move { Ok(body) })),
            expected: Vec::new(),
            trailer: None,
            wanted: Wanted::default(),
        };
        let (blob, size, digests) = self.ingest(input, Wanted::default()).await?;
        let object = ObjectRecord {
            bucket: self.config.table_bucket.clone(),
            key,
            size,
            etag: hex::encode(digests.md5),
            modified: now_millis(),
            meta: ObjectMeta { content_type: Some(content_type.into()), ..ObjectMeta::default() },
            checksum: None,
            crc: WholeCrc {
                crc32: digests.crc32,
                crc32c: digests.crc32c,
                crc64nvme: digests.crc64nvme,
                crc64xz: digests.crc64xz,
            },
            manifest: vec![ManifestEntry { blob: blob.clone(), offset: 0, size }],
        };
        if let Err(e) = self.meta.put_object(&object).await {
            self.discard(&blob).await;
            return Err(e);
        }
        Ok(())
    }

    /// Delete object `key` of the table bucket (its blobs become garbage). `Ok(false)` when
    /// there was nothing to delete. For the table service only, like
    /// [`Engine::put_table_object`].
    pub async fn delete_table_object(&self, key: &str) -> Result<bool> {
        self.freeing("a table delete", || self.meta.delete_object(&self.config.table_bucket, key)).await
    }

    /// Open a new upload session writing blocks to `target`, a `Target::TablePartition`;
    /// `meta` travels with the session (the table service records there which table and
    /// partition the blocks belong to). `InvalidArgument` for an object target: those open
    /// through [`Engine::create_session`].
    pub async fn create_table_session(&self, target: Target, meta: ObjectMeta) -> Result<Session> {
        if target.is_object() {
            return Err(Error::InvalidArgument(format!("{target} is not a table target")));
        }
        self.new_session(target, meta, None, Some("tunnel")).await
    }

    /// Open table upload session `id` of table `project.table` (any partition), through the same
    /// gate as every session ([`Engine::open_session`]): `NoSuchUpload` for an unknown id, an
    /// object upload, or an upload of another table; a session whose time is up comes back
    /// `Expired`.
    pub async fn open_table_session(&self, id: &str, project: &str, table: &str) -> Result<Session> {
        self.open_where(
            id,
            |t| matches!(t, Target::TablePartition { project: p, table: n, .. } if p == project && n == table),
        )
        .await
    }

    /// Store part `number` of a table session (one block, already encoded), replacing any
    /// earlier copy atomically. `NoSuchUpload` for an object session, or one no longer
    /// accepting parts; otherwise as [`Engine::put_part`].
    pub async fn put_table_part(&self, session: &Session, number: u32, input: PartInput) -> Result<PartRecord> {
        Self::table_session(session)?;
        self.store_part(session, number, input).await
    }

    /// Commit a table session: `blocks` must be exactly the parts it holds (`None`: every part
    /// held); each is published as its own object of the table bucket, named by
    /// `file_key(block)`, in one transaction and by metadata only. A retried commit of the same
    /// list, an empty one or none succeeds and publishes nothing more. `NoSuchUpload` for an
    /// object session.
    pub async fn commit_table_session(
        &self,
        session: &Session,
        blocks: Option<&[u32]>,
        file_key: &(dyn Fn(u32) -> String + Sync),
    ) -> Result<()> {
        self.commit_blocks(session, blocks, file_key).await.map(|_| ())
    }
}
