//! What both stores write: the column lists of their tables and the values that fill them, in
//! one order. The row mappers in [`crate::rows`] read the same lists back.
//!
//! Values are [`SqlValue`]s, which both database drivers accept as parameters, so a session,
//! a part or an object becomes its list of values here once, not once per store.

use ferry_core::{ObjectRecord, PartRecord, Result, Session, Target};

use crate::{json, to_i64};

/// A session row, as written and as read by [`crate::rows::session`].
pub(crate) const SESSION_COLUMNS: &str = "id, bucket, key, state, created, last_activity, expires, meta, checksum, \
     commit_record, target_kind, target_project, target_table, target_partition, legacy_numbering, dialect";

/// A part row after its session, as written and as read by [`crate::rows::part`].
pub(crate) const PART_COLUMNS: &str =
    "number, blob, size, md5, crc32, crc32c, crc64nvme, crc64xz, sha1, sha256, modified";

/// A bucket row, as read by [`crate::rows::bucket`].
pub(crate) const BUCKET_COLUMNS: &str = "name, created";

/// An object row as written by [`object_values`].
pub(crate) const OBJECT_COLUMNS: &str = "bucket, key, id, size, etag, modified, meta, checksum, crc";

/// An object's stored record of table `objects o`, as read by [`crate::rows::object`].
pub(crate) const OBJECT_RECORD_COLUMNS: &str = "o.size, o.etag, o.modified, o.meta, o.checksum, o.crc";

/// How many columns [`OBJECT_RECORD_COLUMNS`] names: what a query selects after them starts here.
pub(crate) const OBJECT_RECORD_WIDTH: usize = 6;

/// An object as listed, as read by [`crate::rows::summary`].
pub(crate) const SUMMARY_COLUMNS: &str = "key, size, etag, modified";

/// A manifest entry of table `manifests m`, as read by [`crate::rows::manifest_entry`].
/// (`offset` is a keyword in PostgreSQL, so it is quoted in both stores.)
pub(crate) const MANIFEST_COLUMNS: &str = r#"m.blob, m."offset", m.size"#;

/// One value bound to a statement parameter; both stores' drivers take it (see each store's
/// `ToSql` implementation).
#[derive(Debug, Clone)]
pub(crate) enum SqlValue {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(v: &[u8]) -> Self {
        SqlValue::Bytes(v.to_vec())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// A session target as both stores keep it: `target_kind` (`object` or `table`) and the
/// columns of that kind. An object target uses `bucket` and `key`; a table target leaves them
/// empty and fills `target_project`, `target_table` and `target_partition`.
struct TargetColumns<'a> {
    kind: &'static str,
    bucket: &'a str,
    key: &'a str,
    project: Option<&'a str>,
    table: Option<&'a str>,
    partition: Option<&'a str>,
}

fn target_columns(target: &Target) -> TargetColumns<'_> {
    match target {
        Target::Object { bucket, key } => {
            TargetColumns { kind: "object", bucket, key, project: None, table: None, partition: None }
        }
        Target::TablePartition { project, table, partition } => TargetColumns {
            kind: "table",
            bucket: "",
            key: "",
            project: Some(project),
            table: Some(table),
            partition: Some(partition),
        },
    }
}

/// The values of [`SESSION_COLUMNS`] for `s`.
pub(crate) fn session_values(s: &Session) -> Result<Vec<SqlValue>> {
    let t = target_columns(&s.target);
    Ok(vec![
        s.id.as_str().into(),
        t.bucket.into(),
        t.key.into(),
        s.state.as_str().into(),
        s.created.into(),
        s.last_activity.into(),
        s.expires.into(),
        json(&s.meta)?.into(),
        s.checksum.as_ref().map(json).transpose()?.into(),
        s.commit.as_ref().map(json).transpose()?.into(),
        t.kind.into(),
        t.project.into(),
        t.table.into(),
        t.partition.into(),
        i64::from(s.legacy_numbering).into(),
        s.dialect.as_deref().into(),
    ])
}

/// The values of `session` followed by [`PART_COLUMNS`] for part `p` of `session`.
pub(crate) fn part_values(session: &str, p: &PartRecord) -> Vec<SqlValue> {
    let d = &p.digests;
    vec![
        session.into(),
        i64::from(p.number).into(),
        p.blob.0.as_str().into(),
        to_i64(p.size).into(),
        d.md5.as_slice().into(),
        i64::from(d.crc32).into(),
        i64::from(d.crc32c).into(),
        to_i64(d.crc64nvme).into(),
        to_i64(d.crc64xz).into(),
        d.sha1.as_ref().map(|v| v.as_slice()).into(),
        d.sha256.as_ref().map(|v| v.as_slice()).into(),
        p.modified.into(),
    ]
}

/// The values of [`OBJECT_COLUMNS`] for `object`, stored under row id `id`.
pub(crate) fn object_values(object: &ObjectRecord, id: &str) -> Result<Vec<SqlValue>> {
    Ok(vec![
        object.bucket.as_str().into(),
        object.key.as_str().into(),
        id.into(),
        to_i64(object.size).into(),
        object.etag.as_str().into(),
        object.modified.into(),
        json(&object.meta)?.into(),
        object.checksum.as_ref().map(json).transpose()?.into(),
        json(&object.crc)?.into(),
    ])
}

/// `?1, ?2, …` or `$1, $2, …` up to `n`: the placeholders of `n` values in a store's dialect.
pub(crate) fn placeholders(sigil: char, n: usize) -> String {
    (1..=n).map(|i| format!("{sigil}{i}")).collect::<Vec<_>>().join(", ")
}
