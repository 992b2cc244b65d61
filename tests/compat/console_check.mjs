// Drives ferry's web console in Debian's Chromium (playwright-core) against a real `ferry serve`.
// Usage: node console_check.mjs '<json config>'; prints one JSON line of findings for pytest to
// check (pytest holds the assertions that need boto3). Exits non-zero when the page misbehaves.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "node", "package.json"));
const { chromium } = require("playwright-core");

const cfg = JSON.parse(process.argv[2]);
const out = {};
const shot = async (page, name) => page.screenshot({ path: path.join(cfg.artifacts, name), fullPage: true });

async function partBytes() {
  const text = await (await fetch(cfg.url + "/metrics")).text();
  const m = text.match(/^ferry_received_bytes_total\{kind="part"\} (\d+)/m);
  return m ? Number(m[1]) : 0;
}

const browser = await chromium.launch({
  executablePath: cfg.chromium || "/usr/bin/chromium",
  args: process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [],
});
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => { out.pageErrors = (out.pageErrors || []).concat(String(e)); });
  const base = cfg.url + "/console/";

  // Sign in: a wrong secret is refused, the right one lands in the browser.
  await page.goto(base);
  await page.getByLabel("Access key id").waitFor();
  await shot(page, "console-signin.png");
  await page.getByLabel("Access key id").fill(cfg.accessKey);
  await page.getByLabel("Secret access key").fill(cfg.secret + "x");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#signin-error").filter({ hasText: "Wrong" }).waitFor();
  out.wrongSecret = await page.locator("#signin-error").textContent();
  await page.getByLabel("Secret access key").fill(cfg.secret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#view-browse").waitFor();
  const cookies = await context.cookies();
  out.cookie = cookies.find((c) => c.name === "ferry_console") || null;

  // Browse: the bucket, then the folder the seeded object lives in.
  const bucketLink = page.getByRole("navigation", { name: "Buckets" }).getByRole("link", { name: cfg.bucket, exact: true });
  await bucketLink.click();
  await page.getByRole("link", { name: /seeded\// }).click();
  await page.locator('tr[data-key="seeded/hello.txt"]').waitFor();
  out.browsed = await page.locator("#crumbs").textContent();
  await bucketLink.click();
  await page.locator('tr[data-key]').first().waitFor();
  await shot(page, "console-browse.png");

  // Upload the big file; after three parts the network "fails" for every further part.
  const before = await partBytes();
  let allowed = 3;
  const cutParts = [];
  await page.route("**/console/api/uploads/*/parts/*", (route) => {
    if (route.request().method() !== "PUT") return route.continue();
    if (allowed > 0) { allowed--; return route.continue(); }
    cutParts.push(route.request().url());
    return route.abort("internetdisconnected");
  });
  await page.locator("#file-input").setInputFiles(cfg.bigFile);
  const bigRow = page.locator('#uploads li[data-key="big.bin"]');
  await bigRow.and(page.locator('[data-state="failed"]')).waitFor({ timeout: 60000 });
  out.cutState = await bigRow.locator(".state").textContent();
  await shot(page, "console-upload-cut.png");
  const afterCut = await partBytes();
  out.bytesBeforeCut = afterCut - before;
  out.cutRequests = cutParts.length;

  // Reload: the File is gone; choose the same file again, and only the missing parts go up.
  await page.unroute("**/console/api/uploads/*/parts/*");
  await page.reload();
  await page.locator("#view-browse").waitFor();
  await page.locator('tr[data-key="seeded/"]').or(page.locator("#crumbs li")).first().waitFor();
  const resent = [];
  page.on("request", (r) => {
    if (r.method() === "PUT" && r.url().includes("/console/api/uploads/")) resent.push(Number(r.url().split("/parts/")[1].split("?")[0]));
  });
  await page.locator("#file-input").setInputFiles(cfg.bigFile);
  const again = page.locator('#uploads li[data-key="big.bin"]');
  await again.and(page.locator('[data-state="done"]')).waitFor({ timeout: 120000 });
  out.resumedParts = [...resent].sort((a, b) => a - b);
  out.bytesAfterResume = (await partBytes()) - afterCut;
  await page.locator('tr[data-key="big.bin"]').waitFor();
  await shot(page, "console-uploaded.png");

  // A folder through the folder picker: its relative paths become keys.
  await page.locator("#folder-input").setInputFiles(cfg.folder);
  for (const key of cfg.folderKeys) {
    await page.locator(`#uploads li[data-key="${key}"]`).and(page.locator('[data-state="done"]')).waitFor({ timeout: 30000 });
  }

  // Download through the presigned URL.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download big.bin" }).click(),
  ]);
  const saved = path.join(cfg.artifacts, "downloaded-big.bin");
  await download.saveAs(saved);
  out.downloadSha256 = createHash("sha256").update(readFileSync(saved)).digest("hex");
  out.downloadSize = statSync(saved).size;

  // Delete, with confirmation (Cancel first: nothing happens).
  await page.getByRole("button", { name: "Delete delete-me.txt" }).click();
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  out.stillThereAfterCancel = await page.locator('tr[data-key="delete-me.txt"]').count();
  await page.getByRole("button", { name: "Delete delete-me.txt" }).click();
  await page.locator("#confirm-ok").click();
  await page.locator('tr[data-key="delete-me.txt"]').waitFor({ state: "detached" });

  // Sessions: the boto3 upload is listed (and refreshed by itself), then aborted.
  await page.getByRole("link", { name: "Upload sessions" }).click();
  const row = page.locator(`tr[data-session="${cfg.s3UploadId}"]`);
  await row.waitFor({ timeout: 10000 });
  out.sessionRow = await row.locator("td").allTextContents();
  await shot(page, "console-sessions.png");
  await row.getByRole("button", { name: /Abort/ }).click();
  await page.locator("#confirm-ok").click();
  await row.waitFor({ state: "detached", timeout: 10000 });

  // Tables.
  await page.getByRole("link", { name: "Tables" }).click();
  const table = page.locator(`[data-table="${cfg.table}"]`);
  await table.waitFor({ timeout: 10000 });
  out.tableText = await table.textContent();
  await shot(page, "console-tables.png");

  // CSRF: the page's own fetch without the token, and cross-site requests, are refused.
  const csrf = await page.evaluate(async () => (await (await fetch("api/whoami")).json()).csrf);
  out.noToken = await page.evaluate(async (bucket) =>
    (await fetch("api/uploads?bucket=" + bucket + "&key=csrf.bin", { method: "POST" })).status, cfg.bucket);
  const cookieHeader = "ferry_console=" + out.cookie.value;
  const crossSite = async (headers) => (await fetch(`${cfg.url}/console/api/uploads?bucket=${cfg.bucket}&key=csrf.bin`,
    { method: "POST", headers: { Cookie: cookieHeader, ...headers } })).status;
  out.crossSiteNoToken = await crossSite({ Origin: "http://evil.example" });
  out.crossSiteWithToken = await crossSite({ Origin: "http://evil.example", "X-Ferry-Csrf": csrf });
  out.sameOriginWithToken = await crossSite({ Origin: cfg.url, "X-Ferry-Csrf": csrf });

  // Sign out: the cookie is cleared and the API refuses.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Access key id").waitFor();
  out.afterSignOut = await page.evaluate(async () => (await fetch("api/buckets")).status);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
