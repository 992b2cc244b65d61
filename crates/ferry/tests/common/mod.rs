//! Helpers shared by the integration tests.

use bytes::Bytes;
use ferry_core::PartInput;
use ferry_core::checksum::Wanted;

/// A body arriving in chunks of `chunk` bytes, as a network body does.
pub fn body_in_chunks(data: &[u8], chunk: usize) -> PartInput {
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    PartInput {
        body: Box::pin(futures_util::stream::iter(chunks)),
        expected_size: Some(data.len() as u64),
        max_size: 1 << 30,
        expected: Vec::new(),
        trailer: None,
        wanted: Wanted::default(),
    }
}
