//! Load generator for the benchmarks: many small UploadPart calls, `concurrency` in flight,
//! spread over one or more endpoints (nodes). Prints one JSON line with the rate.
//!
//! part_load ENDPOINTS(comma-separated) ACCESS_KEY SECRET_KEY PARTS PART_SIZE CONCURRENCY

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use bytes::Bytes;
use ferry_client::S3Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoints, key, secret, parts, size, concurrency] = args.as_slice() else {
        return Err("usage: part_load ENDPOINTS ACCESS_KEY SECRET_KEY PARTS PART_SIZE CONCURRENCY".into());
    };
    let (parts, size, concurrency): (u32, usize, usize) = (parts.parse()?, size.parse()?, concurrency.parse()?);
    let clients: Vec<S3Client> =
        endpoints.split(',').map(|e| S3Client::new(e, key, secret, "us-east-1")).collect::<Result<_, _>>()?;
    let bucket = "part-load";
    let _ = clients[0].create_bucket(bucket).await; // may exist from an earlier run
    let upload = Arc::new(clients[0].create_multipart_upload(bucket, "small-parts", &[]).await?);
    let body = Bytes::from(vec![b'x'; size]);
    let next = Arc::new(AtomicU32::new(1));
    let clients = Arc::new(clients);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, clients, upload, body) = (next.clone(), clients.clone(), upload.clone(), body.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n > parts {
                        return Ok::<(), ferry_client::ClientError>(());
                    }
                    let client = &clients[n as usize % clients.len()];
                    client.upload_part(bucket, "small-parts", &upload, n, body.clone()).await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    clients[0].abort_multipart_upload(bucket, "small-parts", &upload).await?;
    println!(
        "{{\"parts\": {parts}, \"seconds\": {seconds:.3}, \"parts_per_second\": {:.0}}}",
        f64::from(parts) / seconds
    );
    Ok(())
}
