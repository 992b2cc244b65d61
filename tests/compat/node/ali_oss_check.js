// Drives the unmodified ali-oss SDK against ferry; prints one JSON summary line.
// Usage: node ali_oss_check.js ENDPOINT AK SK BUCKET FILE
const OSS = require('ali-oss');
const fs = require('fs');
const crypto = require('crypto');

const [endpoint, accessKeyId, accessKeySecret, bucket, file] = process.argv.slice(2);
const client = new OSS({ region: 'oss-cn-hangzhou', accessKeyId, accessKeySecret, bucket, endpoint, secure: false });
const md5 = (buf) => crypto.createHash('md5').update(buf).digest('hex');

(async () => {
  const out = {};
  await client.put('ali/small.txt', Buffer.from('hello from ali-oss'));
  out.get = (await client.get('ali/small.txt')).content.toString();
  out.head_size = Number((await client.head('ali/small.txt')).res.headers['content-length']);
  out.list = (await client.list({ prefix: 'ali/' })).objects.map((o) => o.name);

  // Interrupt a multipart upload after two parts, then resume it from the checkpoint.
  let checkpoint = null;
  let partsFirst = 0;
  try {
    await client.multipartUpload('ali/big.bin', file, {
      partSize: 100 * 1024,
      parallel: 1,
      progress: async (p, cpt) => {
        if (cpt) {
          checkpoint = JSON.parse(JSON.stringify(cpt));
          partsFirst = cpt.doneParts.length;
          if (partsFirst >= 2) client.cancel();
        }
      },
    });
    out.interrupted = false;
  } catch (e) {
    out.interrupted = client.isCancel();
  }
  const doneBefore = checkpoint.doneParts.length;
  let progressCalls = 0;
  const result = await client.multipartUpload('ali/big.bin', file, {
    partSize: 100 * 1024,
    parallel: 2,
    checkpoint,
    progress: async () => { progressCalls += 1; },
  });
  out.resumed_status = result.res.status;
  out.done_before_resume = doneBefore;
  out.total_parts = Math.ceil(fs.statSync(file).size / (100 * 1024));
  out.progress_after_resume = progressCalls;
  out.big_md5 = md5((await client.get('ali/big.bin')).content);
  out.file_md5 = md5(fs.readFileSync(file));
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e && (e.code || e.message) || e), status: e && e.status }));
  process.exit(1);
});
