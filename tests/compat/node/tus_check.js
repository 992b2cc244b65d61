// tus-js-client (unmodified) against ferry's tus endpoint. Usage:
//   node tus_check.js <server url> <bucket> <key> <scenario: resume|terminate>
// Prints one JSON line with what happened.
const tus = require("tus-js-client");

const [url, bucket, key, scenario] = process.argv.slice(2);
const MiB = 1024 * 1024;
const size = 6 * MiB + 12345;
const data = Buffer.alloc(size);
for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 10)) & 0xff;

async function head(location) {
  const r = await fetch(location, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
  return { status: r.status, offset: Number(r.headers.get("upload-offset")), length: Number(r.headers.get("upload-length")) };
}

async function main() {
  // First attempt: stop after three chunks are acknowledged (the client is cut off mid-upload).
  let first;
  const stopped = new Promise((resolve, reject) => {
    let chunks = 0;
    first = new tus.Upload(data, {
      endpoint: url + "/files/",
      chunkSize: MiB,
      retryDelays: null,
      metadata: { bucket, filename: key, filetype: "application/octet-stream" },
      onError: reject,
      onSuccess: () => reject(new Error("finished before it was interrupted")),
      onChunkComplete: () => {
        chunks += 1;
        if (chunks === 3) first.abort(false).then(resolve, reject);
      },
    });
    first.start();
  });
  await stopped;
  const location = first.url;
  const afterAbort = await head(location);
  const out = { size, location, afterAbort };
  if (scenario === "terminate") {
    await tus.Upload.terminate(location);
    out.afterTerminate = await head(location);
    console.log(JSON.stringify(out));
    return;
  }
  // Resume from the server's offset with a new client object given the upload URL.
  let resumedFrom = null;
  await new Promise((resolve, reject) => {
    const second = new tus.Upload(data, {
      uploadUrl: location,
      chunkSize: MiB,
      retryDelays: null,
      onError: reject,
      onSuccess: resolve,
      onBeforeRequest: (req) => {
        if (req.getMethod() === "PATCH" && resumedFrom === null) resumedFrom = Number(req.getHeader("Upload-Offset"));
      },
    });
    second.start();
  });
  out.resumedFrom = resumedFrom;
  out.final = await head(location);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
