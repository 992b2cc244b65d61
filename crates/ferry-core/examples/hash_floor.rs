//! The hashing floor of an upload on one core: CPU seconds per GiB of each digest ferry can
//! compute, with the implementation this build uses and with the alternatives it was chosen
//! from, plus the whole one-pass [`MultiHasher`] as the server runs it. `bench/bench.py` runs it
//! and compares the server's measured CPU per GiB with MD5 + SHA-256 from here.
//!
//! `cargo run --release -p ferry-core --example hash_floor [MiB]` prints one JSON object.

use std::time::Instant;

use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use ferry_core::checksum::{MultiHasher, Wanted};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// CPU seconds of this thread so far (the first field of /proc/thread-self/schedstat, in ns), so
/// time spent waiting for a core on a busy machine is not counted; wall time where unavailable.
fn thread_cpu() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(text.split_whitespace().next()?.parse::<f64>().ok()? * 1e-9)
}

/// Seconds of CPU per GiB for feeding `total` bytes, `buf` at a time, to `update`.
fn rate(buf: &[u8], total: usize, mut update: impl FnMut(&[u8])) -> f64 {
    let rounds = total.div_ceil(buf.len());
    let start = thread_cpu();
    let wall = Instant::now();
    for _ in 0..rounds {
        update(std::hint::black_box(buf));
    }
    let secs = match (start, thread_cpu()) {
        (Some(a), Some(b)) => b - a,
        _ => wall.elapsed().as_secs_f64(),
    };
    secs / (rounds * buf.len()) as f64 * GIB
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let total = mib * 1024 * 1024;
    // 256 KiB, the size of the chunks the server hashes (hyper's read buffer), of varied bytes.
    let buf: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut out: Vec<(String, f64)> = Vec::new();

    {
        use md5::Digest as _;
        let mut h = md5::Md5::new();
        out.push(("md5 md-5 0.10 asm (used)".into(), rate(&buf, total, |b| h.update(b))));
        std::hint::black_box(h.finalize());
        let mut h = <md5_soft::Md5 as md5_soft::Digest>::new();
        out.push(("md5 md-5 0.11 soft".into(), rate(&buf, total, |b| md5_soft::Digest::update(&mut h, b))));
        std::hint::black_box(md5_soft::Digest::finalize(h));
    }
    {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        out.push(("sha256 sha2 0.10 (used)".into(), rate(&buf, total, |b| h.update(b))));
        std::hint::black_box(h.finalize());
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        out.push(("sha256 ring".into(), rate(&buf, total, |b| h.update(b))));
        std::hint::black_box(h.finish());
        let mut h = sha1::Sha1::new();
        out.push(("sha1 sha1 0.10 (used)".into(), rate(&buf, total, |b| sha1::Digest::update(&mut h, b))));
        std::hint::black_box(sha1::Digest::finalize(h));
    }
    for (name, alg) in [
        ("crc32", CrcAlgorithm::Crc32IsoHdlc),
        ("crc32c", CrcAlgorithm::Crc32Iscsi),
        ("crc64nvme", CrcAlgorithm::Crc64Nvme),
        ("crc64xz", CrcAlgorithm::Crc64Xz),
    ] {
        let mut h = CrcDigest::new(alg);
        out.push((format!("{name} crc-fast (used)"), rate(&buf, total, |b| h.update(b))));
        std::hint::black_box(h.finalize());
    }
    for (name, wanted) in [
        ("server pass: md5 + crcs", Wanted::default()),
        ("server pass: md5 + crcs + sha256", Wanted { sha1: false, sha256: true }),
    ] {
        let mut h = MultiHasher::new(wanted);
        out.push((name.into(), rate(&buf, total, |b| h.update(b))));
        std::hint::black_box(h.finish());
    }
    let fields: Vec<String> = out.iter().map(|(k, v)| format!("{k:?}: {v:.4}")).collect();
    println!("{{{}}}", fields.join(", "));
}
