//! Rows back into ferry's types, for both stores. Each store's driver reads a column its own
//! way; [`Columns`] is the little each mapper needs from a row, implemented once per driver
//! (`rusqlite::Row` in `sqlite/mod.rs`, `tokio_postgres::Row` in `postgres/mod.rs`). The
//! mappers read the column lists of [`crate::columns`], in their order.

use ferry_core::{
    BlobId, BucketInfo, Digests, Error, ManifestEntry, ObjectRecord, ObjectSummary, PartRecord, Result, Session,
    SessionState, Target,
};

/// Typed access to the columns of one row, by position. A value of the wrong type, or NULL
/// where the column allows none, is an error naming the column.
pub(crate) trait Columns {
    fn int(&self, i: usize) -> Result<i64>;
    fn text(&self, i: usize) -> Result<String>;
    fn text_opt(&self, i: usize) -> Result<Option<String>>;
    fn bytes_opt(&self, i: usize) -> Result<Option<Vec<u8>>>;

    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        self.bytes_opt(i)?.ok_or_else(|| Error::Meta(format!("stored column {i} is NULL")))
    }
}

/// Implements [`Columns`] for a driver's row type by its typed getter (`$get(i)`, returning the
/// driver's result) and the store's error conversion `$err`.
macro_rules! impl_columns {
    ($row:ty, $get:ident, $err:path) => {
        impl $crate::rows::Columns for $row {
            fn int(&self, i: usize) -> ferry_core::Result<i64> {
                self.$get(i).map_err($err)
            }
            fn text(&self, i: usize) -> ferry_core::Result<String> {
                self.$get(i).map_err($err)
            }
            fn text_opt(&self, i: usize) -> ferry_core::Result<Option<String>> {
                self.$get(i).map_err($err)
            }
            fn bytes_opt(&self, i: usize) -> ferry_core::Result<Option<Vec<u8>>> {
                self.$get(i).map_err($err)
            }
        }
    };
}
pub(crate) use impl_columns;

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Meta(format!("stored record is unreadable: {e}")))
}

fn json_opt<T: serde::de::DeserializeOwned>(text: Option<String>) -> Result<Option<T>> {
    text.as_deref().map(from_json).transpose()
}

fn fixed<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::Meta("stored digest has the wrong length".into()))
}

/// A row of [`crate::columns::BUCKET_COLUMNS`].
pub(crate) fn bucket(row: &impl Columns) -> Result<BucketInfo> {
    Ok(BucketInfo { name: row.text(0)?, created: row.int(1)? })
}

/// A row of [`crate::columns::SESSION_COLUMNS`].
pub(crate) fn session(row: &impl Columns) -> Result<Session> {
    let target =
        target(&row.text(10)?, row.text(1)?, row.text(2)?, row.text_opt(11)?, row.text_opt(12)?, row.text_opt(13)?)
            .map_err(Error::Meta)?;
    Ok(Session {
        id: row.text(0)?,
        target,
        // A state this build does not know is surfaced as Critical rather than guessed at.
        state: SessionState::parse(&row.text(3)?).unwrap_or(SessionState::Critical),
        created: row.int(4)?,
        last_activity: row.int(5)?,
        expires: row.int(6)?,
        meta: from_json(&row.text(7)?)?,
        checksum: json_opt(row.text_opt(8)?)?,
        commit: json_opt(row.text_opt(9)?)?,
        legacy_numbering: row.int(14)? != 0,
        part_shift: 0,
        dialect: row.text_opt(15)?,
    })
}

/// The target stored in a session row; an error names what is wrong with it.
fn target(
    kind: &str,
    bucket: String,
    key: String,
    project: Option<String>,
    table: Option<String>,
    partition: Option<String>,
) -> std::result::Result<Target, String> {
    match (kind, project, table, partition) {
        ("object", ..) => Ok(Target::Object { bucket, key }),
        ("table", Some(project), Some(table), Some(partition)) => {
            Ok(Target::TablePartition { project, table, partition })
        }
        ("table", ..) => Err("a table session row lacks its project, table or partition".into()),
        (other, ..) => Err(format!("unknown session target kind {other:?}")),
    }
}

/// A row of [`crate::columns::PART_COLUMNS`].
pub(crate) fn part(row: &impl Columns) -> Result<PartRecord> {
    let number = row.int(0)?;
    Ok(PartRecord {
        number: u32::try_from(number)
            .map_err(|_| Error::Meta(format!("stored part number {number} is out of range")))?,
        blob: BlobId(row.text(1)?),
        size: row.int(2)? as u64,
        digests: Digests {
            md5: fixed(row.bytes(3)?)?,
            crc32: row.int(4)? as u32,
            crc32c: row.int(5)? as u32,
            crc64nvme: row.int(6)? as u64,
            crc64xz: row.int(7)? as u64,
            sha1: row.bytes_opt(8)?.map(fixed).transpose()?,
            sha256: row.bytes_opt(9)?.map(fixed).transpose()?,
        },
        modified: row.int(10)?,
    })
}

/// A row starting with [`crate::columns::OBJECT_RECORD_COLUMNS`], for the object at (`bucket`,
/// `key`); its manifest is left empty for the caller to fill.
pub(crate) fn object(row: &impl Columns, bucket: &str, key: &str) -> Result<ObjectRecord> {
    Ok(ObjectRecord {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: row.int(0)? as u64,
        etag: row.text(1)?,
        modified: row.int(2)?,
        meta: from_json(&row.text(3)?)?,
        checksum: json_opt(row.text_opt(4)?)?,
        crc: from_json(&row.text(5)?)?,
        manifest: Vec::new(),
    })
}

/// The [`crate::columns::MANIFEST_COLUMNS`] of a row, starting at column `at`.
pub(crate) fn manifest_entry(row: &impl Columns, at: usize) -> Result<ManifestEntry> {
    Ok(ManifestEntry { blob: BlobId(row.text(at)?), offset: row.int(at + 1)? as u64, size: row.int(at + 2)? as u64 })
}

/// A row of [`crate::columns::SUMMARY_COLUMNS`].
pub(crate) fn summary(row: &impl Columns) -> Result<ObjectSummary> {
    Ok(ObjectSummary { key: row.text(0)?, size: row.int(1)? as u64, etag: row.text(2)?, modified: row.int(3)? })
}

/// A row of (state, count): sessions counted by state. A state this build does not know is
/// `None`, left out of the counts.
pub(crate) fn state_count(row: &impl Columns) -> Result<Option<(SessionState, u64)>> {
    let count = row.int(1)? as u64;
    Ok(SessionState::parse(&row.text(0)?).map(|state| (state, count)))
}
