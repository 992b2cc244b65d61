//! Upload sessions: create, reload (status and block list), write a block, commit.

use ferry_core::{Error, SessionState};
use ferry_http::dates::http_date;
use ferry_http::{Body, Response};
use ferry_tables::{TableName, TableUpload};
use http::StatusCode;
use serde_json::json;

use crate::codec::MAX_FIELD_SIZE;
use crate::control::schema_json;
use crate::error::{OdpsError, OdpsResult};
use crate::records::{Encoding, row_batches};
use crate::{Ctx, MAX_BLOCKS, json_response};

/// The largest commit body (a block list) accepted.
const MAX_COMMIT_BODY: usize = 1 << 20;

/// The status word clients read (`UNKNOWN NORMAL CLOSING CLOSED CANCELED EXPIRED CRITICAL`).
fn status_word(state: SessionState) -> &'static str {
    match state {
        SessionState::Unknown => "UNKNOWN",
        SessionState::Normal => "NORMAL",
        SessionState::Closing => "CLOSING",
        SessionState::Closed => "CLOSED",
        SessionState::Expired => "EXPIRED",
        SessionState::Aborted => "CANCELED",
        SessionState::Critical => "CRITICAL",
    }
}

/// The engine's error for an operation on `upload`, in Tunnel's words: an upload that is no
/// longer open is named with its state (as the open read it) and what to do next.
fn upload_error(upload: &TableUpload, e: Error) -> OdpsError {
    if !matches!(e, Error::NoSuchUpload) {
        return e.into();
    }
    let id = &upload.session.id;
    let why = match upload.session.state {
        // Open when it was read, ended since: the engine's own words.
        SessionState::Normal | SessionState::Unknown | SessionState::Closing => return e.into(),
        SessionState::Closed => "is CLOSED: it was committed",
        SessionState::Expired => "is EXPIRED: it outlived its lifetime or went idle too long",
        SessionState::Aborted => "was CANCELED",
        SessionState::Critical => "is CRITICAL: the server found an inconsistency in it",
    };
    OdpsError::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        format!("the upload session {id} {why}; open a new upload session and write the blocks again"),
    )
}

/// Every block the session holds, ascending; for a committed session, the blocks it published
/// (the Java SDK compares them with its list before it retries a commit); none otherwise.
async fn held_blocks(ctx: &Ctx<'_>, upload: &TableUpload) -> OdpsResult<Vec<u32>> {
    let mut blocks = Vec::new();
    if upload.session.state == SessionState::Closed {
        return Ok(ctx.tables().committed_blocks(upload).await?);
    }
    if !matches!(upload.session.state, SessionState::Normal | SessionState::Closing) {
        return Ok(blocks);
    }
    let mut after = None;
    loop {
        let page = match ctx.engine().list_parts(&upload.session, after, 1000).await {
            Ok(page) => page,
            // Committed or expired between the two reads: it holds nothing any more.
            Err(Error::NoSuchUpload) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        blocks.extend(page.parts.iter().map(|p| p.number));
        after = page.parts.last().map(|p| p.number);
        if !page.truncated {
            return Ok(blocks);
        }
    }
}

fn session_json(upload: &TableUpload, state: SessionState, blocks: &[u32]) -> serde_json::Value {
    json!({
        "UploadID": upload.session.id,
        "Status": status_word(state),
        "UploadedBlockList": blocks.iter().map(|b| json!({"BlockID": b})).collect::<Vec<_>>(),
        "Schema": schema_json(&upload.table),
        "MaxFieldSize": MAX_FIELD_SIZE,
        "QuotaName": "",
        "Owner": "ferry",
        "Initiated": http_date(upload.session.created),
        "IsOverwrite": false,
    })
}

fn flag(ctx: &Ctx<'_>, name: &str) -> bool {
    ctx.query.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `POST ?uploads`: open a session on a partition (created first with `create_partition=true`).
pub async fn create(ctx: &Ctx<'_>, table: &TableName) -> OdpsResult<Response> {
    if flag(ctx, "overwrite") {
        return Err(OdpsError::invalid_argument(
            "overwrite uploads are not supported; drop and re-create the partition or table instead",
        ));
    }
    let upload = ctx.tables().create_table_upload(table, &ctx.partition()?, flag(ctx, "create_partition")).await?;
    Ok(json_response(StatusCode::OK, &session_json(&upload, upload.session.state, &[])))
}

/// The session named by `uploadid`, opened by the engine for this table and partition (an
/// expired one comes back `EXPIRED`, for the status call to show and the others to refuse).
async fn open(ctx: &Ctx<'_>, table: &TableName) -> OdpsResult<TableUpload> {
    let id = ctx.query.get("uploadid").unwrap_or("");
    Ok(ctx.tables().table_upload(table, &ctx.partition()?, id).await?)
}

/// `GET ?uploadid=`: the session's status and every block it holds.
pub async fn status(ctx: &Ctx<'_>, table: &TableName) -> OdpsResult<Response> {
    let upload = open(ctx, table).await?;
    let blocks = held_blocks(ctx, &upload).await?;
    Ok(json_response(StatusCode::OK, &session_json(&upload, upload.session.state, &blocks)))
}

/// `PUT ?uploadid=&blockid=`: store a block of records (replacing an earlier copy of that id).
pub async fn write_block(ctx: &Ctx<'_>, table: &TableName, body: Body) -> OdpsResult<Response> {
    let raw = ctx.query.get("blockid").unwrap_or("");
    let block: u32 = raw
        .parse()
        .ok()
        .filter(|b| *b < MAX_BLOCKS)
        .ok_or_else(|| OdpsError::invalid_argument(format!("block id {raw:?} is not in 0..{MAX_BLOCKS}")))?;
    if ctx.query.has("arrow") {
        return Err(OdpsError::invalid_argument("Arrow block uploads are not supported; write records"));
    }
    let encoding = Encoding::parse(ctx.parts.headers.get(http::header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()))
        .map_err(OdpsError::invalid_argument)?;
    let upload = open(ctx, table).await?;
    let columns = upload.table.schema.columns.clone();
    let config = &ctx.fe.config;
    let rows = row_batches(ferry_http::body_stream(body), encoding, &columns, config.idle_timeout);
    let (_, count) = ctx
        .tables()
        .put_block(&upload.session, block, &columns, rows, config.max_block_size)
        .await
        .map_err(|e| upload_error(&upload, e))?;
    tracing::debug!(upload = %upload.session.id, block, rows = count, "block stored");
    Ok(json_response(StatusCode::OK, &json!({"BlockID": block, "RecordCount": count})))
}

/// The block list a commit names: a JSON body `{"BlockList": [..]}` when the client sends one
/// (ferry's own client), else every block the server holds (pyodps compares the lists itself
/// and sends no body).
async fn commit_list(body: Body) -> OdpsResult<Option<Vec<u32>>> {
    let bytes = ferry_http::read_limited(ferry_http::body_stream(body), MAX_COMMIT_BODY)
        .await
        .map_err(|e| OdpsError::invalid_argument(format!("reading the commit: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| OdpsError::invalid_argument(format!("the commit body is not JSON: {e}")))?;
    let list = doc
        .get("BlockList")
        .and_then(|l| l.as_array())
        .ok_or_else(|| OdpsError::invalid_argument("the commit body must be {\"BlockList\": [block ids]}"))?;
    list.iter()
        .map(|b| {
            b.as_u64()
                .and_then(|b| u32::try_from(b).ok())
                .filter(|b| *b < MAX_BLOCKS)
                .ok_or_else(|| OdpsError::invalid_argument(format!("{b} is not a block id in 0..{MAX_BLOCKS}")))
        })
        .collect::<OdpsResult<Vec<u32>>>()
        .map(Some)
}

/// `POST ?uploadid=`: publish the blocks as the partition's new files.
/// Without a list every block held is committed; the engine answers a retried commit (the same
/// list, an empty one or none) of a committed session as done.
pub async fn commit(ctx: &Ctx<'_>, table: &TableName, body: Body) -> OdpsResult<Response> {
    let upload = open(ctx, table).await?;
    let listed = commit_list(body).await?;
    // The blocks the answer names: the list, or those held before the commit publishes them
    // (none once committed).
    let blocks = match &listed {
        Some(blocks) => blocks.clone(),
        None => held_blocks(ctx, &upload).await?,
    };
    ctx.tables().commit_table_upload(&upload, listed.as_deref()).await.map_err(|e| upload_error(&upload, e))?;
    Ok(json_response(StatusCode::OK, &session_json(&upload, SessionState::Closed, &blocks)))
}
