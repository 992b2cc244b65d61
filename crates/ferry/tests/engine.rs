//! The engine suite of ferry-conformance on both storage stacks a deployment can choose:
//! SQLite + local disk (the embedded default), and PostgreSQL + an S3-compatible blob store
//! (scale-out). A private PostgreSQL cluster and a `ferry serve` on embedded storage (standing
//! in for the S3 service, as in `scale_out.rs`) are started here and stopped on drop.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use ferry_blob::{LocalBlobStore, S3BlobStore};
use ferry_client::S3Client;
use ferry_conformance::engine::{RawBlobs, Stack, Stores, async_trait, engine_suite};
use ferry_conformance::postgres_cluster::TestPostgres;
use ferry_core::{BlobId, BlobStore, now_millis};
use ferry_meta::{PostgresMetaStore, SqliteMetaStore};

use common::FerryServer;

mod common;

#[tokio::test(flavor = "multi_thread")]
async fn engine_on_sqlite_and_local_disk() {
    engine_suite(&Embedded).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_on_postgres_and_s3() {
    let s3 = FerryServer::start();
    s3.bucket(BLOB_BUCKET).await;
    let stack = ScaleOut { postgres: TestPostgres::start(), s3, stores: AtomicUsize::new(0) };
    engine_suite(&stack).await;
}

/// SQLite and local disk in a temporary directory per case.
struct Embedded;

#[async_trait]
impl Stack for Embedded {
    fn name(&self) -> String {
        "SQLite + local disk".into()
    }

    async fn stores(&self) -> Stores {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
        let blobs = LocalBlobStore::open(dir.path()).unwrap();
        Stores { meta: Arc::new(meta), blobs: Arc::new(blobs), raw: Box::new(LocalFiles(dir)) }
    }
}

/// The local store's files, in the directory the case owns (deleted with it).
struct LocalFiles(tempfile::TempDir);

#[async_trait]
impl RawBlobs for LocalFiles {
    async fn count(&self) -> usize {
        common::blob_files(self.0.path())
    }

    async fn overwrite(&self, blob: &BlobId, bytes: Vec<u8>) {
        std::fs::write(common::blob_path(self.0.path(), blob), bytes).unwrap();
    }

    async fn staged_anything(&self) -> bool {
        // Earlier versions staged blobs under `tmp/`; nothing may be written there now.
        self.0.path().join("tmp").exists()
    }
}

const BLOB_BUCKET: &str = "blobs";

/// PostgreSQL and an S3 bucket: a new database and a new blob prefix per case.
struct ScaleOut {
    postgres: TestPostgres,
    s3: FerryServer,
    stores: AtomicUsize,
}

#[async_trait]
impl Stack for ScaleOut {
    fn name(&self) -> String {
        "PostgreSQL + S3".into()
    }

    async fn stores(&self) -> Stores {
        let meta = PostgresMetaStore::connect(&self.postgres.database()).await.unwrap();
        let prefix = format!("case-{}", self.stores.fetch_add(1, Ordering::Relaxed));
        let blobs = Arc::new(S3BlobStore::open(&format!("s3://{BLOB_BUCKET}/{prefix}"), self.s3.settings()).unwrap());
        blobs.prepare().await.unwrap();
        let client = S3Client::new(&self.s3.url, common::KEY_ID, common::SECRET, "us-east-1").unwrap();
        let raw = BucketObjects { blobs: blobs.clone(), client, prefix };
        Stores { meta: Arc::new(meta), blobs, raw: Box::new(raw) }
    }
}

/// The S3 store's objects under the case's prefix, read and written by a plain S3 client.
struct BucketObjects {
    blobs: Arc<S3BlobStore>,
    client: S3Client,
    prefix: String,
}

#[async_trait]
impl RawBlobs for BucketObjects {
    async fn count(&self) -> usize {
        // Blobs are bucket objects only once finished, so every listed one holds its bytes.
        self.blobs.list_older_than(now_millis() + 3_600_000).await.unwrap().len()
    }

    async fn overwrite(&self, blob: &BlobId, bytes: Vec<u8>) {
        let key = format!("{}/blobs/{}", self.prefix, blob.0);
        self.client.put_object(BLOB_BUCKET, &key, Bytes::from(bytes), &[]).await.unwrap();
    }

    async fn staged_anything(&self) -> bool {
        !self.client.list_multipart_uploads(BLOB_BUCKET, &self.prefix).await.unwrap().is_empty()
    }
}
