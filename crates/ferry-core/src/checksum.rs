//! Digests computed in one pass over a part's bytes, and the whole-object values derived from them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

/// Every digest ferry can compute over a stream of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestKind {
    Md5,
    Crc32,
    Crc32c,
    Crc64Nvme,
    /// CRC-64/XZ (what OSS calls crc64ecma).
    Crc64Xz,
    Sha1,
    Sha256,
}

impl fmt::Display for DigestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestKind::Md5 => "MD5",
            DigestKind::Crc32 => "CRC32",
            DigestKind::Crc32c => "CRC32C",
            DigestKind::Crc64Nvme => "CRC64NVME",
            DigestKind::Crc64Xz => "CRC64ECMA",
            DigestKind::Sha1 => "SHA1",
            DigestKind::Sha256 => "SHA256",
        })
    }
}

/// The algorithms a client may choose for S3-style flexible checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// Upper-case wire name: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn digest_kind(self) -> DigestKind {
        match self {
            ChecksumAlgorithm::Crc32 => DigestKind::Crc32,
            ChecksumAlgorithm::Crc32c => DigestKind::Crc32c,
            ChecksumAlgorithm::Crc64Nvme => DigestKind::Crc64Nvme,
            ChecksumAlgorithm::Sha1 => DigestKind::Sha1,
            ChecksumAlgorithm::Sha256 => DigestKind::Sha256,
        }
    }

    /// Whether a full-object value can be derived from part values (the CRC family only).
    pub fn supports_full_object(self) -> bool {
        matches!(self, ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme)
    }

    pub fn supports_composite(self) -> bool {
        self != ChecksumAlgorithm::Crc64Nvme
    }
}

/// How a multipart object's checksum is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumType {
    /// Checksum of the concatenated part checksums, suffixed `-N`.
    Composite,
    /// Checksum of the whole object's bytes.
    FullObject,
}

impl ChecksumType {
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "COMPOSITE" => Some(ChecksumType::Composite),
            "FULL_OBJECT" => Some(ChecksumType::FullObject),
            _ => None,
        }
    }
}

/// The digests stored with every part. The CRCs and MD5 are always computed (they are cheap next
/// to the network and needed for ETags and whole-object values); SHA-1/SHA-256 only on demand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digests {
    pub md5: [u8; 16],
    pub crc32: u32,
    pub crc32c: u32,
    pub crc64nvme: u64,
    pub crc64xz: u64,
    pub sha1: Option<[u8; 20]>,
    pub sha256: Option<[u8; 32]>,
}

impl Digests {
    /// The raw big-endian bytes of one digest, if it was computed.
    pub fn raw(&self, kind: DigestKind) -> Option<Vec<u8>> {
        Some(match kind {
            DigestKind::Md5 => self.md5.to_vec(),
            DigestKind::Crc32 => self.crc32.to_be_bytes().to_vec(),
            DigestKind::Crc32c => self.crc32c.to_be_bytes().to_vec(),
            DigestKind::Crc64Nvme => self.crc64nvme.to_be_bytes().to_vec(),
            DigestKind::Crc64Xz => self.crc64xz.to_be_bytes().to_vec(),
            DigestKind::Sha1 => self.sha1?.to_vec(),
            DigestKind::Sha256 => self.sha256?.to_vec(),
        })
    }

    /// The base64 wire value of a flexible checksum (`x-amz-checksum-*`), if computed.
    pub fn base64(&self, algorithm: ChecksumAlgorithm) -> Option<String> {
        self.raw(algorithm.digest_kind()).map(|raw| B64.encode(raw))
    }
}

/// Which optional digests to compute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub sha1: bool,
    pub sha256: bool,
}

impl Wanted {
    pub fn add(&mut self, kind: DigestKind) {
        match kind {
            DigestKind::Sha1 => self.sha1 = true,
            DigestKind::Sha256 => self.sha256 = true,
            _ => {}
        }
    }
}

/// Bytes each digest takes in turn in [`MultiHasher::update`]: well within a first-level data
/// cache (48 KiB per core here).
const HASH_PIECE: usize = 16 * 1024;

/// Computes every digest in a single pass over the bytes fed to it.
pub struct MultiHasher {
    md5: Md5,
    crc32: CrcDigest,
    crc32c: CrcDigest,
    crc64nvme: CrcDigest,
    crc64xz: CrcDigest,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
}

impl MultiHasher {
    pub fn new(wanted: Wanted) -> Self {
        MultiHasher {
            md5: Md5::new(),
            crc32: CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc),
            crc32c: CrcDigest::new(CrcAlgorithm::Crc32Iscsi),
            crc64nvme: CrcDigest::new(CrcAlgorithm::Crc64Nvme),
            crc64xz: CrcDigest::new(CrcAlgorithm::Crc64Xz),
            sha1: wanted.sha1.then(Sha1::new),
            sha256: wanted.sha256.then(Sha256::new),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        // Every digest reads a piece while it is still in the core's first-level cache, rather
        // than each reading the whole chunk from further out in turn.
        for piece in data.chunks(HASH_PIECE) {
            self.md5.update(piece);
            self.crc32.update(piece);
            self.crc32c.update(piece);
            self.crc64nvme.update(piece);
            self.crc64xz.update(piece);
            if let Some(h) = &mut self.sha1 {
                h.update(piece);
            }
            if let Some(h) = &mut self.sha256 {
                h.update(piece);
            }
        }
    }

    pub fn finish(self) -> Digests {
        Digests {
            md5: self.md5.finalize().into(),
            crc32: self.crc32.finalize() as u32,
            crc32c: self.crc32c.finalize() as u32,
            crc64nvme: self.crc64nvme.finalize(),
            crc64xz: self.crc64xz.finalize(),
            sha1: self.sha1.map(|h| h.finalize().into()),
            sha256: self.sha256.map(|h| h.finalize().into()),
        }
    }
}

/// Combine two CRCs of adjacent byte ranges into the CRC of their concatenation, where `len_b`
/// is the length of the second range. No data is read.
pub fn crc_combine(kind: DigestKind, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    match CrcShift::new(kind, len_b) {
        Some(shift) => shift.combine(crc_a, crc_b),
        None => 0,
    }
}

/// The operator "append `len` bytes" for one CRC kind: multiplying a CRC by x^(8·len) mod P.
///
/// Written here because `crc_fast::checksum_combine` rebuilds the operator on every call, which
/// made combining 10,000 part CRCs take most of a second; parts of one upload mostly share one
/// size, so the operator is built once per distinct size and each combine is one carry-less
/// multiplication. The algorithm is zlib's (crc32_combine), generalised to 64-bit reflected CRCs;
/// it holds for CRCs whose init and xorout are equal, as for all four kinds here.
#[derive(Debug, Clone, Copy)]
pub struct CrcShift {
    poly: u64,
    width: u32,
    op: u64,
}

impl CrcShift {
    /// `None` for digests that are not CRCs.
    pub fn new(kind: DigestKind, len: u64) -> Option<Self> {
        let (poly, width) = match kind {
            DigestKind::Crc32 => (0xEDB8_8320, 32),
            DigestKind::Crc32c => (0x82F6_3B78, 32),
            DigestKind::Crc64Nvme => (0x9A6C_9329_AC4B_C9B5, 64),
            DigestKind::Crc64Xz => (0xC96C_5795_D787_0F42, 64),
            _ => return None,
        };
        let mut shift = CrcShift { poly, width, op: 0 };
        shift.op = shift.x_pow_8n(len);
        Some(shift)
    }

    /// CRC(A ‖ B) from CRC(A), CRC(B) and the length of B this operator was built for.
    pub fn combine(&self, crc_a: u64, crc_b: u64) -> u64 {
        self.mul(self.op, crc_a) ^ crc_b
    }

    fn top(&self) -> u64 {
        1 << (self.width - 1)
    }

    /// a·b mod P in the reflected representation.
    fn mul(&self, a: u64, mut b: u64) -> u64 {
        let mut m = self.top();
        let mut p = 0;
        while m != 0 {
            if a & m != 0 {
                p ^= b;
            }
            m >>= 1;
            b = if b & 1 != 0 { (b >> 1) ^ self.poly } else { b >> 1 };
        }
        p
    }

    /// x^(8·n) mod P by square-and-multiply over the bits of n.
    fn x_pow_8n(&self, n: u64) -> u64 {
        let mut result = self.top(); // x^0
        let mut square = self.top() >> 8; // x^8
        let mut n = n;
        while n != 0 {
            if n & 1 != 0 {
                result = self.mul(square, result);
            }
            square = self.mul(square, square);
            n >>= 1;
        }
        result
    }
}

/// The S3 multipart ETag (without quotes): hex MD5 of the concatenated raw part MD5s, `-N`.
pub fn multipart_etag<'a>(part_md5s: impl ExactSizeIterator<Item = &'a [u8; 16]>) -> String {
    let count = part_md5s.len();
    let mut h = Md5::new();
    for m in part_md5s {
        h.update(m);
    }
    format!("{}-{}", hex::encode(h.finalize()), count)
}

/// The COMPOSITE checksum of a multipart object: the algorithm applied to the concatenated raw
/// part checksums, base64, `-N`. `None` when a part lacks that digest.
pub fn composite_checksum(algorithm: ChecksumAlgorithm, parts: &[Digests]) -> Option<String> {
    let kind = algorithm.digest_kind();
    let mut joined = Vec::with_capacity(parts.len() * 32);
    for p in parts {
        joined.extend_from_slice(&p.raw(kind)?);
    }
    let raw: Vec<u8> = match algorithm {
        ChecksumAlgorithm::Crc32 => crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, &joined).to_be_bytes()[4..].to_vec(),
        ChecksumAlgorithm::Crc32c => crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, &joined).to_be_bytes()[4..].to_vec(),
        ChecksumAlgorithm::Crc64Nvme => crc_fast::checksum(CrcAlgorithm::Crc64Nvme, &joined).to_be_bytes().to_vec(),
        ChecksumAlgorithm::Sha1 => Sha1::digest(&joined).to_vec(),
        ChecksumAlgorithm::Sha256 => Sha256::digest(&joined).to_vec(),
    };
    Some(format!("{}-{}", B64.encode(raw), parts.len()))
}

/// Base64 of a raw digest, as checksum headers carry it.
pub fn to_base64(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// Decode a base64 checksum header value; `None` when it is not valid base64.
pub fn from_base64(value: &str) -> Option<Vec<u8>> {
    B64.decode(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let mut h = MultiHasher::new(Wanted { sha1: true, sha256: true });
        h.update(b"1234");
        h.update(b"56789");
        let d = h.finish();
        assert_eq!(d.crc32, 0xCBF4_3926);
        assert_eq!(d.crc32c, 0xE306_9283);
        assert_eq!(d.crc64nvme, 0xAE8B_1486_0A79_9888);
        assert_eq!(d.crc64xz, 0x995D_C9BB_DF19_39FA);
        assert_eq!(hex::encode(d.md5), "25f9e794323b453885f5181f1b624d0b");
        assert_eq!(
            hex::encode(d.sha256.unwrap_or_default()),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
        // boto3's captured example: "hello world" has CRC32 DUoRhQ==.
        let mut h = MultiHasher::new(Wanted::default());
        h.update(b"hello world");
        assert_eq!(h.finish().base64(ChecksumAlgorithm::Crc32).as_deref(), Some("DUoRhQ=="));
    }

    #[test]
    fn a_chunk_larger_than_a_piece_hashes_as_its_bytes_do_one_by_one_slice() {
        let data: Vec<u8> = (0..3 * HASH_PIECE as u32 + 1_234).map(|i| (i * 31 % 257) as u8).collect();
        let wanted = Wanted { sha1: true, sha256: true };
        let mut whole = MultiHasher::new(wanted);
        whole.update(&data);
        let mut sliced = MultiHasher::new(wanted);
        for slice in data.chunks(999) {
            sliced.update(slice);
        }
        assert_eq!(whole.finish(), sliced.finish());
    }

    #[test]
    fn combine_matches_whole() {
        for kind in [DigestKind::Crc32, DigestKind::Crc32c, DigestKind::Crc64Nvme, DigestKind::Crc64Xz] {
            let whole = digest_of(b"hello, wide world", kind);
            let a = digest_of(b"hello, ", kind);
            let b = digest_of(b"wide world", kind);
            assert_eq!(crc_combine(kind, a, b, 10), whole, "{kind}");
        }
    }

    #[test]
    fn combine_many_parts_of_mixed_sizes() {
        let data: Vec<u8> = (0..300_001u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let sizes = [65_536, 65_536, 65_536, 100_000, 3_393];
        for kind in [DigestKind::Crc32, DigestKind::Crc32c, DigestKind::Crc64Nvme, DigestKind::Crc64Xz] {
            let mut offset = 0;
            let mut acc = None;
            for size in sizes {
                let crc = digest_of(&data[offset..offset + size], kind);
                acc = Some(match acc {
                    None => crc,
                    Some(a) => crc_combine(kind, a, crc, size as u64),
                });
                offset += size;
            }
            assert_eq!(offset, data.len());
            assert_eq!(acc, Some(digest_of(&data, kind)), "{kind}");
        }
    }

    fn digest_of(data: &[u8], kind: DigestKind) -> u64 {
        let mut h = MultiHasher::new(Wanted::default());
        h.update(data);
        let d = h.finish();
        match kind {
            DigestKind::Crc32 => d.crc32 as u64,
            DigestKind::Crc32c => d.crc32c as u64,
            DigestKind::Crc64Nvme => d.crc64nvme,
            _ => d.crc64xz,
        }
    }

    #[test]
    fn multipart_etag_shape() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        let etag = multipart_etag([&a, &b].into_iter());
        assert!(etag.ends_with("-2"));
        assert_eq!(etag.len(), 34);
    }
}
