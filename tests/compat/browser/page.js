// The test page: Uppy with one uploader plugin, chosen by the page's query string, talking to
// ferry across origins. Bundled at test time by esbuild (uppy_check.js); never committed built.
//   ?mode=tus&ferry=<ferry url>[&token=<upload token>][&prefix=P][&chunk=<bytes>]
//   ?mode=s3&ferry=<ferry url>[&prefix=P][&chunk=<bytes>]
import Uppy from "@uppy/core";
import Tus from "@uppy/tus";
import AwsS3 from "@uppy/aws-s3";

const params = new URLSearchParams(location.search);
const mode = params.get("mode");
const ferry = params.get("ferry");
const bucket = params.get("bucket");
const prefix = params.get("prefix") || "uploads/";
const chunk = Number(params.get("chunk") || 8 * 1024 * 1024);

// What the test reads back.
const state = (window.__uppy = { events: [], errors: [], complete: null, progress: 0 });
const log = (kind, detail) => state.events.push({ kind, detail, at: Date.now() });

async function token() {
  if (params.get("token")) return params.get("token");
  // The application server mints it with its access key; the page never sees a secret.
  const r = await fetch(`/token?prefix=${encodeURIComponent(params.get("tokenPrefix") || prefix)}`);
  if (!r.ok) throw new Error(`token: ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

async function main() {
  const uppy = new Uppy({ autoProceed: true, debug: false });
  if (mode === "tus") {
    const bearer = await token();
    uppy.use(Tus, {
      endpoint: `${ferry}/files/`,
      headers: { Authorization: `Bearer ${bearer}` },
      chunkSize: chunk,
      // The test cuts the network and reloads; retries would only hide that.
      retryDelays: [],
      // Uppy sends every meta field as Upload-Metadata; ferry reads bucket and key.
      allowedMetaFields: ["bucket", "key", "filetype", "filename"],
    });
  } else if (mode === "s3") {
    uppy.use(AwsS3, {
      shouldUseMultipart: true,
      getChunkSize: () => chunk,
      generateObjectKey: (file) => `${prefix}${file.name}`,
      // Each S3 call (create, every part, complete) is presigned by the application server with
      // @aws-sdk/s3-request-presigner; the browser sends it straight to ferry.
      signRequest: async (request) => {
        const r = await fetch("/s3/sign", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(request),
        });
        if (!r.ok) throw new Error(`sign: ${r.status} ${await r.text()}`);
        return r.json();
      },
    });
  }
  uppy.on("file-added", (file) => {
    uppy.setFileMeta(file.id, { bucket, key: `${prefix}${file.name}`, filetype: file.type || "application/octet-stream" });
    log("file-added", { name: file.name, size: file.size });
  });
  uppy.on("upload-progress", (file, progress) => {
    state.progress = progress.bytesUploaded;
  });
  uppy.on("upload-error", (file, error, response) => {
    state.errors.push({ message: String(error && error.message), status: response && response.status });
    log("upload-error", String(error && error.message));
  });
  uppy.on("upload-success", (file, response) => log("upload-success", { url: response && response.uploadURL }));
  uppy.on("complete", (result) => {
    state.complete = { successful: result.successful.length, failed: result.failed.length };
    const why = state.errors.length ? ` — ${state.errors[state.errors.length - 1].message}` : "";
    document.getElementById("status").textContent =
      `complete: ${result.successful.length} uploaded, ${result.failed.length} failed${why}`;
  });
  const input = document.getElementById("file");
  input.addEventListener("change", () => {
    for (const f of input.files) uppy.addFile({ name: f.name, type: f.type, data: f, source: "Local" });
  });
  document.getElementById("status").textContent = `ready (${mode})`;
  state.ready = true;
}

main().catch((e) => {
  state.errors.push({ message: String(e && e.message) });
  document.getElementById("status").textContent = `error: ${e.message}`;
});
