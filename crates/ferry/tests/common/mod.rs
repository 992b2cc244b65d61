//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ferry_core::BlobId;

pub const KEY_ID: &str = "scaleouttestkey";
pub const SECRET: &str = "scaleouttestsecret";

/// A `ferry serve` on embedded storage in a temporary directory, killed on drop.
pub struct FerryServer {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl FerryServer {
    pub fn start() -> FerryServer {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("FERRY_ACCESS_KEY_ID", KEY_ID)
            .env("FERRY_SECRET_ACCESS_KEY", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("ferry exited before listening").unwrap();
            if let Some((_, url)) = line.split_once("listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        FerryServer { child, url, _dir: dir }
    }

    pub fn settings(&self) -> ferry_blob::S3Settings {
        ferry_blob::S3Settings {
            endpoint: Some(self.url.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(KEY_ID.into()),
            secret_access_key: Some(SECRET.into()),
        }
    }

    pub async fn bucket(&self, name: &str) {
        let client = ferry_client::S3Client::new(&self.url, KEY_ID, SECRET, "us-east-1").unwrap();
        client.create_bucket(name).await.unwrap();
    }
}

impl Drop for FerryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blob files holding bytes under a local store's root (the store also keeps empty files made
/// ahead of need; the tests store no empty blobs).
pub fn blob_files(root: &Path) -> usize {
    std::fs::read_dir(root.join("blobs"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .filter(|f| f.as_ref().unwrap().metadata().unwrap().len() > 0)
        .count()
}

/// The file holding `blob` under a local store's root.
pub fn blob_path(root: &Path, blob: &BlobId) -> PathBuf {
    root.join("blobs").join(&blob.0[..2]).join(&blob.0)
}
