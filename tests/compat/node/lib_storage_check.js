// Drives the unmodified @aws-sdk/lib-storage Upload (with @aws-sdk/client-s3) against ferry;
// prints one JSON summary line for tests/compat/test_js_sdks.py, which checks it with boto3.
// Usage: node lib_storage_check.js ENDPOINT AK SK BUCKET SCENARIO
const { S3Client, ListMultipartUploadsCommand, ListPartsCommand, GetObjectCommand } = require('@aws-sdk/client-s3');
const { Upload } = require('@aws-sdk/lib-storage');
const { Readable } = require('stream');
const crypto = require('crypto');

const [endpoint, accessKeyId, secretAccessKey, bucket, scenario] = process.argv.slice(2);
const MiB = 1024 * 1024;
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// Every request the SDK sent, as it went on the wire (after signing and checksums).
const sent = [];
function client() {
  const c = new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
  c.middlewareStack.add((next) => async (args) => {
    const r = args.request;
    sent.push({ method: r.method, query: { ...r.query }, headers: { ...r.headers } });
    return next(args);
  }, { step: 'deserialize', name: 'ferryRequestLog' });
  return c;
}

// Deterministic pseudo-random bytes, so a failure can be reproduced.
function bytes(size, seed) {
  const out = Buffer.alloc(size);
  let block = Buffer.alloc(0);
  for (let off = 0, i = 0; off < size; off += block.length, i++) {
    block = crypto.createHash('sha512').update(`${seed}:${i}`).digest();
    block.copy(out, off, 0, Math.min(block.length, size - off));
  }
  return out;
}

function opsSent() {
  return sent.map((r) => {
    const q = r.query;
    if (r.method === 'POST' && 'uploads' in q) return 'CreateMultipartUpload';
    if (r.method === 'PUT' && 'partNumber' in q) return 'UploadPart';
    if (r.method === 'POST' && 'uploadId' in q) return 'CompleteMultipartUpload';
    if (r.method === 'DELETE' && 'uploadId' in q) return 'AbortMultipartUpload';
    if (r.method === 'PUT') return 'PutObject';
    return `${r.method} ${Object.keys(q).join('&')}`;
  });
}

// A multipart upload of a stream of unknown length (lib-storage cuts it into parts), with
// progress events; then a small upload (one PutObject).
async function multipart() {
  const s3 = client();
  const data = bytes(13 * MiB + 11, 'multipart');
  const progress = [];
  // Chunks of odd sizes, so lib-storage must gather them into its 5 MiB parts.
  const chunks = [];
  for (let off = 0; off < data.length; off += 777777) chunks.push(data.subarray(off, off + 777777));
  const upload = new Upload({
    client: s3, queueSize: 3, partSize: 5 * MiB,
    params: { Bucket: bucket, Key: 'js/stream.bin', Body: Readable.from(chunks), ContentType: 'application/x-js-test' },
  });
  upload.on('httpUploadProgress', (p) => progress.push({ loaded: p.loaded, total: p.total, part: p.part, key: p.Key }));
  const result = await upload.done();

  const small = bytes(100 * 1024, 'small');
  const smallProgress = [];
  const single = new Upload({ client: s3, params: { Bucket: bucket, Key: 'js/small.bin', Body: small } });
  single.on('httpUploadProgress', (p) => smallProgress.push({ loaded: p.loaded, total: p.total, part: p.part }));
  const smallResult = await single.done();
  const create = sent.find((r) => r.method === 'POST' && 'uploads' in r.query);
  const part = sent.find((r) => r.method === 'PUT' && 'partNumber' in r.query);
  return {
    key: 'js/stream.bin', sha256: sha256(data), size: data.length, etag: result.ETag,
    checksum_crc32: result.ChecksumCRC32, checksum_type: result.ChecksumType, location: result.Location,
    progress, ops: opsSent(),
    create_checksum_algorithm: create.headers['x-amz-checksum-algorithm'],
    part_checksum_headers: Object.keys(part.headers).filter((h) => h.startsWith('x-amz-checksum') || h === 'x-amz-trailer'
      || h === 'content-encoding' || h === 'x-amz-content-sha256').sort().map((h) => `${h}: ${part.headers[h]}`),
    small_key: 'js/small.bin', small_sha256: sha256(small), small_checksum_crc32: smallResult.ChecksumCRC32,
    small_progress: smallProgress,
  };
}

// Explicit algorithms: SHA256 (COMPOSITE) and CRC32C, and a read back with checksum validation.
async function checksums() {
  const s3 = client();
  const out = {};
  for (const [alg, key] of [['SHA256', 'js/sha256.bin'], ['CRC32C', 'js/crc32c.bin']]) {
    const data = bytes(11 * MiB, alg);
    const upload = new Upload({
      client: s3, queueSize: 2, partSize: 5 * MiB, params: { Bucket: bucket, Key: key, Body: data, ChecksumAlgorithm: alg },
    });
    const r = await upload.done();
    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    const body = Buffer.from(await get.Body.transformToByteArray());
    out[alg] = {
      key, sha256: sha256(data), value: r[`Checksum${alg}`], type: r.ChecksumType,
      read_back: sha256(body) === sha256(data), get_value: get[`Checksum${alg}`],
    };
  }
  out.ops = opsSent();
  return out;
}

// abort() while parts are in flight: done() rejects with AbortError, and lib-storage then aborts
// the multipart upload it created (leavePartsOnError is false by default).
async function abort() {
  const s3 = client();
  const part = bytes(5 * MiB, 'abort');
  let produced = 0;
  // An endless body: without abort() this upload would never finish.
  const body = new Readable({
    read() {
      produced += part.length;
      setTimeout(() => this.push(part), 20);
    },
  });
  const upload = new Upload({ client: s3, queueSize: 2, partSize: 5 * MiB, params: { Bucket: bucket, Key: 'js/aborted.bin', Body: body } });
  const progress = [];
  upload.on('httpUploadProgress', (p) => {
    progress.push(p.loaded);
    if (progress.length === 2) upload.abort();
  });
  let error = null;
  try {
    await upload.done();
  } catch (e) {
    error = e.name;
  }
  body.destroy();
  // done() settles at once; the parts in flight finish and the upload is aborted after them.
  const deadline = Date.now() + 30000;
  let uploads;
  for (;;) {
    uploads = (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads || [];
    if (uploads.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const create = sent.find((r) => r.method === 'POST' && 'uploads' in r.query);
  const abortReq = sent.find((r) => r.method === 'DELETE' && 'uploadId' in r.query);
  let listParts = null;
  try {
    await s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'js/aborted.bin', UploadId: abortReq && abortReq.query.uploadId }));
    listParts = 'listed';
  } catch (e) {
    listParts = e.name;
  }
  return {
    error, progress, uploads_left: uploads.length, ops: opsSent(), created: Boolean(create),
    aborted_id_matches: Boolean(abortReq) && Boolean(create), list_parts_after: listParts,
    parts_sent: sent.filter((r) => r.method === 'PUT' && 'partNumber' in r.query).length,
  };
}

const scenarios = { multipart, checksums, abort };
scenarios[scenario]().then(
  (out) => { console.log(JSON.stringify(out)); },
  (e) => { console.error(e); process.exit(1); },
);
