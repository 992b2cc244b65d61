//! The control plane pyodps needs around the tunnel: table and partition metadata, tunnel
//! discovery, and the instance API through which it runs DDL.
//!
//! Instances run synchronously while the submission is answered: a statement that fails is
//! refused right there (with the error's own code, e.g. `NoSuchTable`), so every instance that
//! exists has succeeded and its status needs no storage — which keeps nodes stateless.

use ferry_core::{now_millis, random_id};
use ferry_http::dates::http_date;
use ferry_http::{Body, Response, response};
use ferry_tables::{TableInfo, TableName};
use http::StatusCode;
use serde_json::json;

use crate::Ctx;
use crate::ddl::{self, Ddl};
use crate::error::{OdpsError, OdpsResult};

/// The largest instance submission accepted (a DDL statement and its settings).
const MAX_INSTANCE_XML: usize = 1 << 20;
/// The owner reported for every table.
const OWNER: &str = "ferry";

fn xml_response(body: String) -> Response {
    response::xml(StatusCode::OK, body)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `GET /projects/<p>`: projects exist implicitly.
pub fn project(ctx: &Ctx<'_>) -> OdpsResult<Response> {
    Ok(xml_response(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Project><Name>{}</Name><Owner>{OWNER}</Owner>\
         <State>AVAILABLE</State></Project>",
        escape(&ctx.project)
    )))
}

/// `GET /projects/<p>/tunnel?service`: where the tunnel is — here, the same server and prefix.
/// The body is `host[:port]/path` without a scheme; the client reuses its endpoint's scheme.
pub fn tunnel_endpoint(ctx: &Ctx<'_>) -> OdpsResult<Response> {
    let host = ctx
        .parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| ctx.parts.uri.authority().map(|a| a.as_str()))
        .ok_or_else(|| OdpsError::invalid_argument("no Host header"))?;
    let mut r = Response::new(ferry_http::full(format!("{host}{}", ctx.prefix)));
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    Ok(r)
}

/// The schema document clients parse, with the table's own fields.
pub fn schema_json(info: &TableInfo) -> serde_json::Value {
    let mut doc = info.schema.to_json();
    let seconds = info.created / 1000;
    doc["comment"] = json!(info.comment);
    doc["owner"] = json!(OWNER);
    doc["tableName"] = json!(info.name.table);
    doc["lifecycle"] = json!(info.lifecycle);
    doc["isVirtualView"] = json!(false);
    doc["createTime"] = json!(seconds);
    doc["lastDDLTime"] = json!(seconds);
    doc["lastModifiedTime"] = json!(seconds);
    doc
}

/// `GET /projects/<p>/tables/<t>` (also `?extended`), or with `?partition=` that partition.
pub async fn table(ctx: &Ctx<'_>, name: &TableName) -> OdpsResult<Response> {
    let info = ctx.tables().table(name).await?;
    if ctx.query.has("partition") {
        let spec = info.partition(&ctx.partition()?)?;
        if spec.is_empty() || !ctx.tables().partition_exists(&info, &spec).await? {
            return Err(ferry_core::Error::Table(ferry_core::TableError::NoSuchPartition(
                name.to_string(),
                spec.to_string(),
            ))
            .into());
        }
        let seconds = info.created / 1000;
        let columns: String = spec
            .values
            .iter()
            .map(|(k, v)| format!("<Column Name=\"{}\" Value=\"{}\"/>", escape(k), escape(v)))
            .collect();
        return Ok(xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Partition>{columns}<CreationTime>{seconds}</CreationTime>\
             <LastDDLTime>{seconds}</LastDDLTime><LastModifiedTime>{seconds}</LastModifiedTime></Partition>"
        )));
    }
    let created = http_date(info.created);
    Ok(xml_response(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Table><Name>{}</Name><TableId>{}</TableId><Owner>{OWNER}</Owner>\
         <Type>MANAGED_TABLE</Type><CreationTime>{created}</CreationTime><LastModifiedTime>{created}</LastModifiedTime>\
         <Schema format=\"json\"><![CDATA[{}]]></Schema></Table>",
        escape(&info.name.table),
        escape(&info.id),
        schema_json(&info).to_string().replace("]]>", "]]]]><![CDATA[>")
    )))
}

/// `POST /projects/<p>/instances`: run the SQL task's statement now.
pub async fn create_instance(ctx: &Ctx<'_>, body: Body) -> OdpsResult<Response> {
    let xml = ferry_http::read_limited(ferry_http::body_stream(body), MAX_INSTANCE_XML)
        .await
        .map_err(|e| OdpsError::invalid_argument(format!("reading the instance: {e}")))?;
    let sql = ferry_http::xml::element_text(&xml, &["Instance", "Job", "Tasks", "SQL", "Query"])
        .map_err(|e| OdpsError::invalid_argument(e.0))?
        .ok_or_else(|| OdpsError::invalid_argument("ferry runs SQL tasks only: the instance has no SQL Query"))?;
    run(ctx, ddl::parse(&sql).map_err(OdpsError::invalid_argument)?).await?;
    let id = format!("{}{}", time_id(), &random_id()[..12]);
    let location = format!("{}/projects/{}/instances/{id}", ctx.prefix, ctx.project);
    let mut r = response::status_only(StatusCode::CREATED);
    response::set(&mut r, http::header::LOCATION, location);
    Ok(r)
}

async fn run(ctx: &Ctx<'_>, statement: Ddl) -> OdpsResult<()> {
    let tables = ctx.tables();
    let name = |t: &ddl::SqlTable| TableName::new(t.project.as_deref().unwrap_or(&ctx.project), &t.table);
    match statement {
        Ddl::CreateTable { table, schema, comment, lifecycle, if_not_exists } => {
            tables.create_table(&name(&table)?, schema, &comment, lifecycle, if_not_exists).await?
        }
        Ddl::DropTable { table, if_exists } => tables.drop_table(&name(&table)?, if_exists).await?,
        Ddl::AddPartitions { table, partitions, if_not_exists } => {
            let info = tables.table(&name(&table)?).await?;
            for spec in &partitions {
                tables.add_partition(&info, spec, if_not_exists).await?;
            }
        }
    }
    Ok(())
}

/// Seconds since the epoch, zero-padded to 14 digits: instance ids sort by creation time.
fn time_id() -> String {
    format!("{:014}", now_millis() / 1000)
}

/// `GET /projects/<p>/instances/<id>` (`?taskstatus`, `?result`): every instance ferry made
/// has terminated successfully.
pub fn instance(ctx: &Ctx<'_>, id: &str) -> OdpsResult<Response> {
    if id.len() != 26 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(OdpsError::no_such_object(format!("instance {id} does not exist")));
    }
    let task = "<Task Type=\"SQL\"><Name>AnonymousSQLTask</Name><Status>Success</Status>\
                <Result Format=\"text\"></Result></Task>";
    let body = if ctx.query.has("taskstatus") || ctx.query.has("result") {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance><Status>Terminated</Status><Tasks>{task}</Tasks></Instance>"
        )
    } else {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance><Status>Terminated</Status></Instance>".to_string()
    };
    let mut r = xml_response(body);
    let now = http_date(now_millis());
    for (name, value) in
        [("x-odps-owner", OWNER.to_string()), ("x-odps-start-time", now.clone()), ("x-odps-end-time", now)]
    {
        response::set(&mut r, name, value);
    }
    Ok(r)
}
