//! A block upload's body as batches of rows: optional `deflate` (zlib) decompression, a cut-off
//! when the client goes quiet, and the record decoder's checks — all streaming, so a block of
//! any size is held in memory one network chunk (and a batch of rows) at a time. Records are
//! decoded straight into Arrow column builders: no value is copied or allocated on its own
//! between the wire and the Parquet encoder.

use std::time::Duration;

use bytes::Bytes;
use ferry_core::Error;
use ferry_core::store::ByteStream;
use ferry_table::{BATCH_ROWS, Column, ColumnBuilders, Rows};
use ferry_tables::RowBatches;
use flate2::{Decompress, FlushDecompress, Status};
use futures_util::StreamExt;

use crate::codec::RecordDecoder;

/// How the body is compressed (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Deflate,
}

impl Encoding {
    pub fn parse(header: Option<&str>) -> Result<Encoding, String> {
        match header.map(|h| h.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Encoding::Identity),
            Some("deflate") => Ok(Encoding::Deflate),
            Some(other) => {
                Err(format!("Content-Encoding {other} is not supported; send the block uncompressed or with deflate"))
            }
        }
    }
}

/// Plain bytes inflated per step: a body that compresses a thousandfold (all zeros, say) is
/// still decoded a bounded piece at a time, never inflated whole into memory.
const INFLATE_STEP: usize = 1 << 20;

/// zlib decompression of a body arriving in chunks, a bounded step at a time.
struct Inflater {
    z: Decompress,
    ended: bool,
    /// The compressed chunk being inflated, and how much of it zlib has taken.
    input: Bytes,
    taken: usize,
    /// The last step filled its output: zlib may hold more output for it.
    full: bool,
    plain: Vec<u8>,
}

impl Inflater {
    fn new() -> Self {
        Inflater {
            z: Decompress::new(true),
            ended: false,
            input: Bytes::new(),
            taken: 0,
            full: false,
            plain: Vec::with_capacity(INFLATE_STEP),
        }
    }

    /// Whether [`Inflater::step`] has more to give before the next chunk is needed.
    fn has_more(&self) -> bool {
        self.taken < self.input.len() || self.full
    }

    /// Inflate the next step (at most [`INFLATE_STEP`] bytes) of the current chunk.
    fn step(&mut self) -> Result<&[u8], String> {
        self.plain.clear();
        loop {
            let rest = &self.input[self.taken..];
            if self.ended {
                if !rest.is_empty() {
                    return Err("data after the end of the deflate stream".into());
                }
                self.full = false;
                break;
            }
            let before = self.z.total_in();
            let status = self
                .z
                .decompress_vec(rest, &mut self.plain, FlushDecompress::None)
                .map_err(|e| format!("the deflate body is corrupt: {e}"))?;
            let (taken, made) = (self.z.total_in() - before, self.plain.len());
            self.taken += taken as usize;
            self.full = self.plain.len() == self.plain.capacity();
            if taken == 0 && made == 0 && !self.full && status != Status::StreamEnd {
                // Neither input taken nor output made: asking again would loop forever.
                return Err("the deflate body is corrupt".into());
            }
            match status {
                Status::StreamEnd => self.ended = true,
                Status::Ok | Status::BufError if self.full || self.taken >= self.input.len() => break,
                Status::Ok | Status::BufError => {}
            }
        }
        Ok(&self.plain)
    }
}

struct State {
    body: ByteStream,
    inflater: Option<Inflater>,
    decoder: Option<RecordDecoder>,
    /// Rows decoded and not yet handed on, in columns.
    rows: ColumnBuilders,
    idle: Duration,
}

impl State {
    /// The next batch of rows, `None` once the stream ended cleanly.
    async fn next_batch(&mut self) -> Option<Result<Rows, String>> {
        loop {
            let decoder = self.decoder.as_mut()?;
            let fed = match &mut self.inflater {
                Some(inflater) if inflater.has_more() => match inflater.step() {
                    Ok(plain) => decoder.feed_into(plain, &mut self.rows).map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                },
                _ => {
                    let chunk = match tokio::time::timeout(self.idle, self.body.next()).await {
                        Err(_) => {
                            self.decoder = None;
                            let idle = self.idle.as_secs();
                            return Some(Err(format!("no data for {idle} s: the block upload was cut off")));
                        }
                        Ok(Some(Err(e))) => {
                            self.decoder = None;
                            return Some(Err(format!("the block body broke off: {e}")));
                        }
                        Ok(Some(Ok(chunk))) => chunk,
                        Ok(None) => {
                            let decoder = self.decoder.take()?;
                            if self.inflater.as_ref().is_some_and(|i| !i.ended) {
                                return Some(Err("the deflate body ended early".into()));
                            }
                            if let Err(e) = decoder.finish() {
                                return Some(Err(e.to_string()));
                            }
                            // The last rows; the next call finds no decoder and ends the stream.
                            return (!self.rows.is_empty()).then(|| self.take_rows());
                        }
                    };
                    match &mut self.inflater {
                        Some(inflater) => {
                            // Inflated a step at a time by the next turns of this loop.
                            (inflater.input, inflater.taken) = (chunk, 0);
                            Ok(())
                        }
                        None => decoder.feed_into(&chunk, &mut self.rows).map_err(|e| e.to_string()),
                    }
                }
            };
            if let Err(e) = fed {
                self.decoder = None;
                return Some(Err(e));
            }
            if self.rows.len() >= BATCH_ROWS {
                return Some(self.take_rows());
            }
        }
    }

    fn take_rows(&mut self) -> Result<Rows, String> {
        self.rows.finish().map(Rows::from_batch).map_err(|e| e.to_string())
    }
}

/// The rows of a record stream body for `columns` (the table's non-partition columns); any
/// problem (corrupt data, a checksum that does not match, a value its column cannot hold, a
/// missing trailer, silence longer than `idle`) ends the batches with an error.
pub fn row_batches(body: ByteStream, encoding: Encoding, columns: &[Column], idle: Duration) -> RowBatches {
    let rows = match ColumnBuilders::new(columns) {
        Ok(rows) => rows,
        Err(e) => {
            return Box::pin(futures_util::stream::once(async move { Err(Error::InvalidArgument(e.to_string())) }));
        }
    };
    let state = State {
        body,
        inflater: (encoding == Encoding::Deflate).then(Inflater::new),
        decoder: Some(RecordDecoder::new(columns.iter().map(|c| c.column_type).collect())),
        rows,
        idle,
    };
    Box::pin(futures_util::stream::unfold(state, |mut state| async move {
        let item = state.next_batch().await?;
        Some((item.map_err(Error::InvalidArgument), state))
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use bytes::Bytes;
    use ferry_table::{BlockWriter, ColumnType, Value, read_block};

    use super::*;
    use crate::codec::RecordEncoder;

    fn stream_of(chunks: Vec<Vec<u8>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))))
    }

    /// Every row of the batches, read back from the Parquet block they make.
    async fn collect(batches: RowBatches) -> Result<Vec<Vec<Value>>, String> {
        let mut block = BlockWriter::new(Vec::new(), &columns()).unwrap();
        let mut batches = batches;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| e.to_string())?;
            block.write_rows(batch).unwrap();
        }
        Ok(read_block(block.finish().unwrap().into(), &columns()).unwrap())
    }

    fn encoded(n: i64) -> (Vec<Vec<Value>>, Vec<u8>) {
        let mut enc = RecordEncoder::new(vec![ColumnType::Bigint, ColumnType::String]);
        let rows: Vec<Vec<Value>> =
            (0..n).map(|i| vec![Value::Int(i), Value::Bytes(format!("row {i}").into_bytes())]).collect();
        for r in &rows {
            enc.write(r).unwrap();
        }
        (rows, enc.finish())
    }

    fn columns() -> Vec<Column> {
        vec![Column::new("id", ColumnType::Bigint), Column::new("name", ColumnType::String)]
    }

    #[tokio::test]
    async fn plain_and_deflate_bodies_decode_in_any_chunking() {
        let (rows, bytes) = encoded(5000);
        let split: Vec<Vec<u8>> = bytes.chunks(7).map(<[u8]>::to_vec).collect();
        let got = collect(row_batches(stream_of(split), Encoding::Identity, &columns(), Duration::from_secs(5))).await;
        assert_eq!(got.unwrap(), rows);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&bytes).unwrap();
        let packed = z.finish().unwrap();
        assert!(packed.len() < bytes.len() / 2);
        for size in [1, 100, packed.len()] {
            let split: Vec<Vec<u8>> = packed.chunks(size).map(<[u8]>::to_vec).collect();
            let got =
                collect(row_batches(stream_of(split), Encoding::Deflate, &columns(), Duration::from_secs(5))).await;
            assert_eq!(got.unwrap(), rows, "chunks of {size}");
        }
        let cut = packed[..packed.len() - 10].to_vec();
        let err = collect(row_batches(stream_of(vec![cut]), Encoding::Deflate, &columns(), Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(err.contains("ended early") || err.contains("trailer"), "{err}");
        let err =
            collect(row_batches(stream_of(vec![bytes.clone()]), Encoding::Deflate, &columns(), Duration::from_secs(5)))
                .await
                .unwrap_err();
        assert!(err.contains("corrupt"), "{err}");
    }

    #[test]
    fn a_highly_compressed_chunk_is_inflated_a_bounded_step_at_a_time() {
        let plain = vec![0u8; 24 << 20];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&plain).unwrap();
        let packed = z.finish().unwrap();
        assert!(packed.len() < 64 << 10, "{} bytes", packed.len());
        let mut inflater = Inflater::new();
        (inflater.input, inflater.taken) = (Bytes::from(packed), 0);
        let (mut total, mut steps) = (0, 0);
        while inflater.has_more() {
            let step = inflater.step().unwrap();
            assert!(step.len() <= INFLATE_STEP);
            assert!(step.iter().all(|b| *b == 0));
            total += step.len();
            steps += 1;
        }
        assert_eq!(total, plain.len());
        assert!(steps >= 24, "{steps} steps");
        assert!(inflater.ended);
        assert!(inflater.plain.capacity() <= 2 * INFLATE_STEP, "the buffer never grew");
    }

    #[tokio::test]
    async fn corrupt_truncated_and_silent_bodies_are_refused() {
        let (_, mut bytes) = encoded(10);
        let err = collect(row_batches(
            stream_of(vec![bytes[..bytes.len() - 3].to_vec()]),
            Encoding::Identity,
            &columns(),
            Duration::from_secs(5),
        ))
        .await
        .unwrap_err();
        assert!(err.contains("trailer"), "{err}");
        bytes[5] ^= 0x01;
        let err = collect(row_batches(stream_of(vec![bytes]), Encoding::Identity, &columns(), Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(!err.is_empty());
        let silent: ByteStream = Box::pin(futures_util::stream::pending());
        let err =
            collect(row_batches(silent, Encoding::Identity, &columns(), Duration::from_millis(50))).await.unwrap_err();
        assert!(err.contains("no data for"), "{err}");
        assert!(Encoding::parse(Some("zstd")).unwrap_err().contains("not supported"));

        // A value its column cannot hold refuses the block, naming the column.
        let mut enc = RecordEncoder::new(vec![ColumnType::Bigint, ColumnType::String]);
        enc.write(&[Value::Int(1), Value::Bytes(b"fine".to_vec())]).unwrap();
        enc.write(&[Value::Int(2), Value::Bytes(vec![0xff, 0xfe])]).unwrap();
        let err =
            collect(row_batches(stream_of(vec![enc.finish()]), Encoding::Identity, &columns(), Duration::from_secs(5)))
                .await
                .unwrap_err();
        assert!(err.ends_with("column name: a string value is not valid UTF-8"), "{err}");
        assert_eq!(Encoding::parse(Some("Deflate")), Ok(Encoding::Deflate));
    }
}
