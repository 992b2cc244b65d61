// Uppy in a real Chromium against ferry. This script is the "application server" (on its own
// loopback port, so every call from the page to ferry is cross-origin) and the Playwright driver.
// Usage:
//   node uppy_check.js <ferry url> <app port> <bucket> <file> <scenario> <screenshot.png> [token]
// Scenarios: tus | tus-resume | s3 | token-refused | foreign-prefix
// Prints one JSON line with what happened.
const http = require("http");
const crypto = require("crypto");
const path = require("path");
const NODE = path.join(__dirname, "..", "node", "node_modules");
const esbuild = require(path.join(NODE, "esbuild"));
const { chromium } = require(path.join(NODE, "playwright-core"));
const { SignatureV4 } = require(path.join(NODE, "@smithy/signature-v4"));
const s3sdk = require(path.join(NODE, "@aws-sdk/client-s3"));
const { getSignedUrl } = require(path.join(NODE, "@aws-sdk/s3-request-presigner"));

const [ferry, appPort, bucket, file, scenario, screenshot, givenToken] = process.argv.slice(2);
const credentials = { accessKeyId: process.env.FERRY_ACCESS_KEY_ID, secretAccessKey: process.env.FERRY_SECRET_ACCESS_KEY };
const region = "us-east-1";
const s3 = new s3sdk.S3Client({ endpoint: ferry, region, credentials, forcePathStyle: true });

class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac("sha256", secret) : crypto.createHash("sha256");
  }
  update(data) {
    this.h.update(typeof data === "string" ? Buffer.from(data) : data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

// POST /_ferry/v1/upload-tokens, SigV4-signed with the application's access key.
async function mintToken(prefix) {
  const url = new URL("/_ferry/v1/upload-tokens", ferry);
  const body = JSON.stringify({ bucket, prefix, ttl_seconds: 600, max_size: 1 << 30 });
  const signer = new SignatureV4({ credentials, region, service: "s3", sha256: Sha256 });
  const signed = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: {},
    headers: { host: url.host, "content-type": "application/json", "x-amz-content-sha256": crypto.createHash("sha256").update(body).digest("hex") },
    body,
  });
  const r = await fetch(url, { method: "POST", headers: signed.headers, body });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`token API: ${r.status} ${text}`);
  return JSON.parse(text);
}

// Presign one S3 call that @uppy/aws-s3 asks for.
async function presign(req) {
  const Key = req.key;
  let command;
  if (req.method === "POST" && !req.uploadId) command = new s3sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key });
  else if (req.method === "PUT" && req.partNumber)
    command = new s3sdk.UploadPartCommand({ Bucket: bucket, Key, UploadId: req.uploadId, PartNumber: req.partNumber });
  else if (req.method === "POST") command = new s3sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId: req.uploadId });
  else if (req.method === "GET") command = new s3sdk.ListPartsCommand({ Bucket: bucket, Key, UploadId: req.uploadId });
  else if (req.method === "DELETE" && req.uploadId)
    command = new s3sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId: req.uploadId });
  else if (req.method === "PUT") command = new s3sdk.PutObjectCommand({ Bucket: bucket, Key });
  else throw new Error(`cannot presign ${JSON.stringify(req)}`);
  return { url: await getSignedUrl(s3, command, { expiresIn: 900 }), key: Key };
}

async function appServer(bundle) {
  const html = `<!doctype html><meta charset="utf-8"><title>ferry + Uppy</title>
<h1>ferry + Uppy test page</h1><input type="file" id="file"><p id="status">loading</p>
<script src="/bundle.js"></script>`;
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://app");
      if (url.pathname === "/") {
        res.writeHead(200, { "content-type": "text/html" }).end(html);
      } else if (url.pathname === "/bundle.js") {
        res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
      } else if (url.pathname === "/token") {
        const t = await mintToken(url.searchParams.get("prefix") || "");
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: t.token }));
      } else if (url.pathname === "/s3/sign") {
        let body = "";
        for await (const c of req) body += c;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(await presign(JSON.parse(body))));
      } else {
        res.writeHead(404).end();
      }
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(e.message));
    }
  });
  await new Promise((resolve) => server.listen(Number(appPort), "127.0.0.1", resolve));
  return server;
}

async function main() {
  const built = await esbuild.build({
    entryPoints: [path.join(__dirname, "page.js")],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    nodePaths: [NODE],
    logLevel: "silent",
  });
  const server = await appServer(built.outputFiles[0].text);
  const args = process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [];
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args });
  const out = { scenario, patches: [], puts: 0, consoleErrors: [] };
  try {
    const page = await browser.newPage();
    page.on("console", (m) => m.type() === "error" && out.consoleErrors.push(m.text()));
    const mode = scenario.startsWith("s3") ? "s3" : "tus";
    const q = new URLSearchParams({ mode, ferry, bucket, prefix: "uploads/", chunk: String(8 * 1024 * 1024) });
    if (givenToken) q.set("token", givenToken);
    if (scenario === "foreign-prefix") q.set("tokenPrefix", "elsewhere/");
    const pageUrl = `http://127.0.0.1:${appPort}/?${q}`;
    const ready = () => page.waitForFunction(() => window.__uppy && (window.__uppy.ready || window.__uppy.errors.length));
    const finished = () =>
      page.waitForFunction(() => window.__uppy.complete || window.__uppy.errors.length, null, { timeout: 120000 });
    // Every PATCH the page sends to ferry: its offset and size, and whether it was let through.
    let cut = false;
    let sent = 0;
    await page.route(`${ferry}/**`, async (route) => {
      const r = route.request();
      if (r.method() === "PUT") out.puts += 1;
      if (r.method() === "PATCH") {
        const entry = { offset: Number(r.headers()["upload-offset"]), size: (r.postDataBuffer() || Buffer.alloc(0)).length, run: cut ? "after" : "before" };
        if (scenario === "tus-resume" && !cut && sent >= 2) {
          entry.aborted = true;
          out.patches.push(entry);
          return route.abort("internetdisconnected");
        }
        sent += 1;
        out.patches.push(entry);
      }
      return route.continue();
    });
    await page.goto(pageUrl);
    await ready();
    await page.setInputFiles("#file", file);
    await finished();
    if (scenario === "tus-resume") {
      out.firstRun = await page.evaluate(() => window.__uppy);
      // The network is back; the user reloads the page and chooses the same file again.
      cut = true;
      await page.reload();
      await ready();
      await page.setInputFiles("#file", file);
      await finished();
    }
    out.result = await page.evaluate(() => window.__uppy);
    out.status = await page.textContent("#status");
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
    server.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
