// tus-js-client (unmodified) against ferry for the tus extensions and the IETF draft. Usage:
//   node tus_extensions.js <server url> <bucket> <key> <size> <scenario> [upload url]
// scenarios: parallel (parallelUploads: 4, concatenation), deferred (uploadLengthDeferred),
// ietf-draft-05 / ietf-draft-03 (the IETF protocol option), killstart (print the upload URL
// after three chunks and keep going until the server dies), resume (continue <upload url>).
// Prints one JSON line with what happened.
const tus = require("tus-js-client");

const [url, bucket, key, sizeArg, scenario, uploadUrl] = process.argv.slice(2);
const MiB = 1024 * 1024;
const size = Number(sizeArg);
const data = Buffer.alloc(size);
for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 10)) & 0xff;

async function head(location, ietf) {
  const headers = ietf ? { "Upload-Draft-Interop-Version": "6" } : { "Tus-Resumable": "1.0.0" };
  const r = await fetch(location, { method: "HEAD", headers });
  const h = (n) => r.headers.get(n);
  return {
    status: r.status,
    offset: Number(h("upload-offset")),
    length: h("upload-length") === null ? null : Number(h("upload-length")),
    concat: h("upload-concat"),
    complete: h("upload-complete"),
  };
}

function upload(options, hook) {
  const requests = [];
  return new Promise((resolve, reject) => {
    const up = new tus.Upload(data, {
      endpoint: url + "/files/",
      chunkSize: MiB,
      retryDelays: null,
      metadata: { bucket, filename: key, filetype: "application/octet-stream" },
      onError: reject,
      onSuccess: () => resolve({ up, requests }),
      onBeforeRequest: (req) => {
        requests.push({ method: req.getMethod(), offset: req.getHeader("Upload-Offset"),
                        concat: req.getHeader("Upload-Concat") || null, length: req.getHeader("Upload-Length") || null,
                        interop: req.getHeader("Upload-Draft-Interop-Version") || null,
                        complete: req.getHeader("Upload-Complete") || null });
        if (hook) hook(req);
      },
      ...options,
    });
    up.start();
  });
}

async function main() {
  const out = { size, scenario };
  if (scenario === "parallel") {
    const { up, requests } = await upload({ parallelUploads: 4, metadataForPartialUploads: { bucket } });
    out.url = up.url;
    out.partials = requests.filter((r) => r.method === "POST" && r.concat === "partial").length;
    out.finals = requests.filter((r) => r.method === "POST" && r.concat && r.concat.startsWith("final;")).length;
    out.head = await head(up.url);
  } else if (scenario === "deferred") {
    const { up, requests } = await upload({ uploadLengthDeferred: true });
    out.url = up.url;
    out.created = requests.find((r) => r.method === "POST");
    out.lengthSentAt = requests.filter((r) => r.method === "PATCH" && r.length !== null).map((r) => Number(r.offset));
    out.head = await head(up.url);
  } else if (scenario === "ietf-draft-05" || scenario === "ietf-draft-03") {
    const { up, requests } = await upload({ protocol: scenario });
    out.url = up.url;
    out.interop = [...new Set(requests.map((r) => r.interop))];
    out.patches = requests.filter((r) => r.method === "PATCH").length;
    out.lastComplete = requests[requests.length - 1].complete;
    out.head = await head(up.url, true);
  } else if (scenario === "killstart") {
    // Print the URL once three chunks are acknowledged; the test then kills the server while
    // the next PATCH is in flight. The upload's error is expected.
    let chunks = 0;
    await new Promise((resolve) => {
      const up = new tus.Upload(data, {
        endpoint: url + "/files/",
        chunkSize: MiB,
        retryDelays: null,
        metadata: { bucket, filename: key },
        onError: (e) => { out.error = String(e).slice(0, 200); resolve(); },
        onSuccess: () => { out.error = "finished before the server was killed"; resolve(); },
        onChunkComplete: () => {
          chunks += 1;
          if (chunks === 3) process.stdout.write(JSON.stringify({ url: up.url }) + "\n");
        },
      });
      up.start();
    });
  } else if (scenario === "resume") {
    let resumedFrom = null;
    const { requests } = await upload({ uploadUrl }, (req) => {
      if (req.getMethod() === "PATCH" && resumedFrom === null) resumedFrom = Number(req.getHeader("Upload-Offset"));
    });
    out.resumedFrom = resumedFrom;
    out.firstRequest = requests.length ? requests[0].method : null;
    out.head = await head(uploadUrl);
  } else {
    throw new Error("unknown scenario " + scenario);
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
