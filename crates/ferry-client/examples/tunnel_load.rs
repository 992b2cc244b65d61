//! Load generator for the Tunnel benchmark (`bench/tunnel.py`): ROWS rows of a 5-column table
//! (bigint, string, double, boolean, datetime). Prints one JSON line with the rate.
//!
//! tunnel_load upload ENDPOINT ACCESS_KEY SECRET_KEY PROJECT TABLE ROWS [PARALLEL]
//!     through the buffered record writer into a ferry server, then commit. The rows are made
//!     while writing, so the client's own cost is part of the measurement (as it is for pyodps).
//! tunnel_load download ENDPOINT ACCESS_KEY SECRET_KEY PROJECT TABLE
//!     every row of the table back through a download session and one record reader, checked
//!     against the rows the upload mode wrote.
//! tunnel_load parquet ROWS
//!     the same rows straight into a Parquet file in memory, on one core, with no network and
//!     no record codec: the encoding work every stored row costs, as a reference rate.

use std::time::Instant;

use ferry_client::{BufferedOptions, TunnelClient};
use ferry_table::{BlockWriter, Column, ColumnType, Value};

type Failure = Box<dyn std::error::Error>;

const USAGE: &str = "usage: tunnel_load upload ENDPOINT ACCESS_KEY SECRET_KEY PROJECT TABLE ROWS [PARALLEL]\n       \
                     tunnel_load download ENDPOINT ACCESS_KEY SECRET_KEY PROJECT TABLE\n       \
                     tunnel_load parquet ROWS";

/// Row `i` of the benchmark table, the same for every mode.
fn row(i: i64) -> [Value; 5] {
    [
        Value::Int(i),
        Value::Bytes(format!("customer-{}", i % 100_000).into_bytes()),
        Value::Double(i as f64 * 0.25),
        Value::Bool(i % 3 == 0),
        Value::Int(1_700_000_000_000 + i),
    ]
}

fn columns() -> Vec<Column> {
    [
        ("id", ColumnType::Bigint),
        ("name", ColumnType::String),
        ("amount", ColumnType::Double),
        ("flag", ColumnType::Boolean),
        ("at", ColumnType::Datetime),
    ]
    .iter()
    .map(|(name, t)| Column::new(name, *t))
    .collect()
}

fn report(rows: i64, started: Instant, extra: &str) {
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"rows\": {rows}, \"seconds\": {seconds:.3}, \"rows_per_s\": {:.0}{extra}}}", rows as f64 / seconds);
}

async fn upload(args: &[String]) -> Result<(), Failure> {
    let (endpoint, key, secret, project, table, rows, parallel) = match args {
        [e, k, s, p, t, r] => (e, k, s, p, t, r, None),
        [e, k, s, p, t, r, n] => (e, k, s, p, t, r, Some(n)),
        _ => return Err(USAGE.into()),
    };
    let rows: i64 = rows.parse()?;
    let mut options = BufferedOptions::default();
    if let Some(n) = parallel {
        options.parallel = n.parse()?;
    }
    let client = TunnelClient::new(endpoint, project, key, secret)?;
    let started = Instant::now();
    let session = client.create_upload_session(table, "", false).await?;
    let mut writer = session.open_buffered_writer(options);
    for i in 0..rows {
        writer.write(&row(i)).await?;
    }
    let blocks = writer.close().await?;
    session.commit(&blocks).await?;
    report(rows, started, &format!(", \"blocks\": {}", blocks.len()));
    Ok(())
}

async fn download(args: &[String]) -> Result<(), Failure> {
    let [endpoint, key, secret, project, table] = args else { return Err(USAGE.into()) };
    let client = TunnelClient::new(endpoint, project, key, secret)?;
    let started = Instant::now();
    let session = client.create_download_session(table, "").await?;
    let mut reader = session.open_record_reader(0, session.count, None).await?;
    let mut seen = vec![false; session.count as usize];
    while let Some(rows) = reader.next_batch().await? {
        for got in rows {
            let Some(Value::Int(i)) = got.first() else { return Err(format!("a row without an id: {got:?}").into()) };
            let fresh =
                usize::try_from(*i).ok().and_then(|i| seen.get_mut(i)).is_some_and(|s| !std::mem::replace(s, true));
            if !fresh || got != row(*i) {
                return Err(format!("row {i} is wrong or repeated: {got:?}").into());
            }
        }
    }
    if seen.iter().any(|s| !s) {
        return Err("rows are missing".into());
    }
    report(session.count as i64, started, "");
    Ok(())
}

fn parquet_only(args: &[String]) -> Result<(), Failure> {
    let [rows] = args else { return Err(USAGE.into()) };
    let rows: i64 = rows.parse()?;
    let started = Instant::now();
    let mut writer = BlockWriter::new(Vec::new(), &columns())?;
    for i in 0..rows {
        writer.write(row(i).to_vec())?;
    }
    let file = writer.finish()?;
    report(rows, started, &format!(", \"bytes\": {}", file.len()));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((mode, rest)) if mode == "upload" => upload(rest).await,
        Some((mode, rest)) if mode == "download" => download(rest).await,
        Some((mode, rest)) if mode == "parquet" => parquet_only(rest),
        _ => Err(USAGE.into()),
    }
}
