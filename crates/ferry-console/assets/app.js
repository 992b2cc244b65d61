// ferry console: plain JavaScript, no framework. Talks to /console/api (same origin) with the
// session cookie; every call that changes state carries the CSRF token from sign-in.
"use strict";

const API = "api/";
const PART_SIZE = 8 * 1024 * 1024;
const PARALLEL = 3;
const RETRIES = 2;
const STORE_PREFIX = "ferry-upload:";

const $ = (id) => document.getElementById(id);
const state = { csrf: null, key: null, view: null, bucket: null, prefix: "", next: null, sessionsTimer: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function announce(text) {
  $("status").textContent = text;
}

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d";
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ("HTTP " + status));
    this.status = status;
    this.code = body && body.error;
  }
}

async function api(method, path, params, body) {
  const url = new URL(API + path, location.href);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  const headers = {};
  if (method !== "GET" && state.csrf) headers["X-Ferry-Csrf"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (response.status === 401 && path !== "signin" && path !== "whoami") { signedOut(data && data.message); throw new ApiError(401, data); }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---- sign-in -----------------------------------------------------------------------------

function signedIn(who) {
  state.csrf = who.csrf;
  state.key = who.accessKeyId;
  $("who-key").textContent = who.accessKeyId;
  $("who").hidden = false;
  $("nav").hidden = false;
  route();
}

function signedOut(message) {
  state.csrf = null;
  state.key = null;
  $("who").hidden = true;
  $("nav").hidden = true;
  show("signin");
  if (message) $("signin-error").textContent = message;
  $("akid").focus();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  try {
    const who = await api("POST", "signin", null,
      { accessKeyId: $("akid").value, secretAccessKey: $("secret").value, sessionToken: $("token").value });
    $("secret").value = "";
    $("token").value = "";
    signedIn(who);
    announce("Signed in as " + who.accessKeyId);
  } catch (e) {
    $("signin-error").textContent = e.status === 401 ? "Wrong access key id, secret or session token." : e.message;
    $("secret").focus();
  }
});

$("signout").addEventListener("click", async () => {
  try { await api("POST", "signout"); } catch (_) { /* signed out either way */ }
  signedOut();
  announce("Signed out");
});

// ---- views -------------------------------------------------------------------------------

function show(view) {
  for (const name of ["signin", "browse", "sessions", "tables"]) $("view-" + name).hidden = name !== view;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  state.view = view;
  clearInterval(state.sessionsTimer);
  state.sessionsTimer = null;
}

function route() {
  if (!state.key) return signedOut();
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash === "sessions") { show("sessions"); loadSessions(); state.sessionsTimer = setInterval(loadSessions, 2000); return; }
  if (hash === "tables") { show("tables"); loadTables(); return; }
  show("browse");
  const m = hash.match(/^browse(?:\/([^/]+)(?:\/(.*))?)?$/);
  loadBuckets(m && m[1] ? m[1] : null, m && m[2] ? m[2] : "");
}

window.addEventListener("hashchange", route);

function browseHash(bucket, prefix) {
  return "#browse/" + encodeURIComponent(bucket) + "/" + prefix.split("/").map(encodeURIComponent).join("/");
}

// ---- browse ------------------------------------------------------------------------------

async function loadBuckets(bucket, prefix) {
  let data;
  try { data = await api("GET", "buckets"); } catch (e) { announce(e.message); return; }
  const list = $("bucket-list");
  list.replaceChildren();
  if (!bucket && data.buckets.length) bucket = data.buckets[0].name;
  for (const b of data.buckets) {
    list.append(el("li", {}, el("a", { href: browseHash(b.name, ""), "aria-current": b.name === bucket ? "true" : null }, b.name)));
  }
  if (!data.buckets.length) list.append(el("li", { class: "muted" }, "No bucket you can see."));
  state.bucket = bucket;
  state.prefix = prefix;
  if (bucket) await loadObjects(false);
}

function renderCrumbs() {
  const crumbs = $("crumbs");
  crumbs.replaceChildren(el("li", {}, el("a", { href: browseHash(state.bucket, "") }, state.bucket)));
  const parts = state.prefix.split("/").filter(Boolean);
  let acc = "";
  parts.forEach((p, i) => {
    acc += p + "/";
    const last = i === parts.length - 1;
    crumbs.append(el("li", {}, last ? el("span", { "aria-current": "location" }, p) : el("a", { href: browseHash(state.bucket, acc) }, p)));
  });
}

async function loadObjects(more) {
  renderCrumbs();
  let data;
  try {
    data = await api("GET", "objects", { bucket: state.bucket, prefix: state.prefix, after: more ? state.next : undefined });
  } catch (e) { announce(e.message); $("object-rows").replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "error" }, e.message))); return; }
  const rows = $("object-rows");
  if (!more) rows.replaceChildren();
  for (const p of data.prefixes) {
    const name = p.slice(state.prefix.length);
    rows.append(el("tr", {}, el("td", {}, el("a", { href: browseHash(state.bucket, p), class: "folder" }, el("span", { class: "visually-hidden" }, "Folder "), name)), el("td", { class: "num" }, ""), el("td", {}, ""), el("td", {}, "")));
  }
  for (const o of data.objects) {
    const name = o.key.slice(state.prefix.length);
    const actions = el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => download(o.key), "aria-label": "Download " + name }, "Download"),
      el("button", { type: "button", class: "danger", onclick: () => remove(o.key), "aria-label": "Delete " + name }, "Delete"));
    rows.append(el("tr", { "data-key": o.key }, el("td", {}, name), el("td", { class: "num" }, size(o.size)), el("td", {}, new Date(o.modified).toLocaleString()), el("td", {}, actions)));
  }
  state.next = data.next;
  $("more").hidden = !data.next;
  $("objects-empty").hidden = rows.children.length > 0;
}

$("more").addEventListener("click", () => loadObjects(true));

async function download(key) {
  try {
    const { url } = await api("GET", "download", { bucket: state.bucket, key });
    const a = el("a", { href: url, download: "" });
    document.body.append(a);
    a.click();
    a.remove();
    announce("Downloading " + key);
  } catch (e) { announce(e.message); alertError(e); }
}

function confirmDialog(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("confirm-ok").focus();
  });
}

async function remove(key) {
  if (!(await confirmDialog("Delete " + key + "? This cannot be undone."))) return;
  try {
    await api("DELETE", "objects", { bucket: state.bucket, key });
    announce("Deleted " + key);
    await loadObjects(false);
  } catch (e) { alertError(e); }
}

function alertError(e) {
  announce("Error: " + e.message);
  const row = el("li", {}, el("span", { class: "state failed" }, e.message));
  $("uploads").prepend(row);
}

// ---- uploads -----------------------------------------------------------------------------

// An upload of one file. Parts of PART_SIZE bytes go up PARALLEL at a time through the console
// API (each one engine part); the server's part list is the truth about what is stored, so a
// resumed upload (after pause, a network failure or a reload) sends only the parts it lacks.
class Upload {
  constructor(file, bucket, key) {
    this.file = file;
    this.bucket = bucket;
    this.key = key;
    this.parts = Math.max(1, Math.ceil(file.size / PART_SIZE));
    this.done = new Map(); // part number -> size stored at the server
    this.loaded = new Map(); // part number -> bytes sent of a part in flight
    this.xhrs = new Set();
    this.paused = false;
    this.finished = false;
    this.render();
  }

  get storeKey() {
    return STORE_PREFIX + JSON.stringify([this.file.name, this.file.size, this.file.lastModified, this.bucket, this.key]);
  }

  render() {
    const label = this.key;
    this.bar = el("progress", { max: String(this.file.size || 1), value: "0", "aria-label": "Progress of " + label });
    this.stateText = el("span", { class: "state" }, "Waiting");
    this.pauseButton = el("button", { type: "button", onclick: () => this.toggle(), "aria-label": "Pause " + label }, "Pause");
    this.cancelButton = el("button", { type: "button", class: "danger", onclick: () => this.cancel(), "aria-label": "Cancel " + label }, "Cancel");
    this.row = el("li", { "data-key": this.key },
      el("span", { class: "name" }, label + " (" + size(this.file.size) + ")"),
      el("div", { class: "buttons" }, this.pauseButton, this.cancelButton),
      this.bar, this.stateText);
    $("uploads").prepend(this.row);
  }

  setState(text, cls) {
    this.stateText.textContent = text;
    this.stateText.className = "state" + (cls ? " " + cls : "");
    this.row.dataset.state = cls || "running";
  }

  progress() {
    let sent = 0;
    for (const v of this.done.values()) sent += v;
    for (const v of this.loaded.values()) sent += v;
    this.bar.value = Math.min(sent, this.file.size);
    const pct = this.file.size ? Math.floor((100 * sent) / this.file.size) : 100;
    this.bar.setAttribute("aria-valuetext", pct + "%");
    if (!this.paused && !this.finished) this.setState(pct + "% — " + size(sent) + " of " + size(this.file.size));
  }

  async start() {
    this.paused = false;
    this.pauseButton.textContent = "Pause";
    this.setState("Starting");
    try {
      await this.prepare();
      await this.sendParts();
      if (this.paused) return;
      this.setState("Finishing");
      await api("POST", "uploads/" + this.id + "/complete", { bucket: this.bucket, size: this.file.size });
      localStorage.removeItem(this.storeKey);
      this.finished = true;
      this.bar.value = this.file.size;
      this.setState("Uploaded", "done");
      this.pauseButton.hidden = true;
      this.cancelButton.hidden = true;
      announce("Uploaded " + this.key);
      if (this.bucket === state.bucket && state.view === "browse") loadObjects(false);
    } catch (e) {
      if (this.paused) return;
      this.setState("Stopped: " + e.message + " — choose Resume to continue", "failed");
      this.pauseButton.textContent = "Resume";
      this.paused = true;
      announce("Upload of " + this.key + " stopped: " + e.message);
    }
  }

  // Find or create the engine session, and learn which parts it already holds.
  async prepare() {
    const remembered = localStorage.getItem(this.storeKey);
    if (remembered) {
      try {
        const listing = await api("GET", "uploads/" + remembered + "/parts", { bucket: this.bucket });
        if (listing.state === "NORMAL") {
          this.id = remembered;
          this.done.clear();
          for (const p of listing.parts) if (p.size === this.partSize(p.number)) this.done.set(p.number, p.size);
          this.progress();
          if (this.done.size) announce("Resuming " + this.key + ": " + this.done.size + " of " + this.parts + " parts already stored");
          return;
        }
      } catch (e) {
        if (e.status !== 404) throw e;
      }
      localStorage.removeItem(this.storeKey);
    }
    const created = await api("POST", "uploads", { bucket: this.bucket, key: this.key, type: this.file.type || undefined });
    this.id = created.uploadId;
    localStorage.setItem(this.storeKey, this.id);
  }

  partSize(n) {
    return n < this.parts ? PART_SIZE : this.file.size - PART_SIZE * (this.parts - 1);
  }

  async sendParts() {
    const todo = [];
    for (let n = 1; n <= this.parts; n++) if (!this.done.has(n)) todo.push(n);
    const worker = async () => {
      while (todo.length && !this.paused) {
        const n = todo.shift();
        let attempt = 0;
        for (;;) {
          // A stopped or paused upload sends nothing more, even from a retry that was waiting.
          if (this.paused) return;
          try { await this.sendPart(n); break; } catch (e) {
            if (this.paused || attempt++ >= RETRIES || (e.status && e.status < 500 && e.status !== 408)) throw e;
            await new Promise((r) => setTimeout(r, 500 * attempt));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  }

  sendPart(n) {
    const start = PART_SIZE * (n - 1);
    const blob = this.file.slice(start, start + this.partSize(n));
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhrs.add(xhr);
      const url = new URL(API + "uploads/" + this.id + "/parts/" + n, location.href);
      url.searchParams.set("bucket", this.bucket);
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-Ferry-Csrf", state.csrf);
      xhr.upload.onprogress = (e) => { this.loaded.set(n, e.loaded); this.progress(); };
      const fail = (status, message) => {
        this.xhrs.delete(xhr);
        this.loaded.delete(n);
        this.progress();
        const err = new Error(message);
        err.status = status;
        reject(err);
      };
      xhr.onload = () => {
        if (xhr.status === 200) {
          this.xhrs.delete(xhr);
          this.loaded.delete(n);
          this.done.set(n, blob.size);
          this.progress();
          resolve();
        } else {
          let message = "HTTP " + xhr.status;
          try { message = JSON.parse(xhr.responseText).message || message; } catch (_) { /* keep status */ }
          if (xhr.status === 401) signedOut(message);
          fail(xhr.status, message);
        }
      };
      xhr.onerror = () => fail(0, "network error");
      xhr.onabort = () => fail(0, "paused");
      xhr.send(blob);
    });
  }

  toggle() {
    if (this.finished) return;
    if (this.paused) { this.start(); return; }
    this.paused = true;
    for (const x of this.xhrs) x.abort();
    this.pauseButton.textContent = "Resume";
    this.pauseButton.setAttribute("aria-label", "Resume " + this.key);
    this.setState("Paused — " + this.done.size + " of " + this.parts + " parts stored", "paused");
    announce("Paused " + this.key);
  }

  async cancel() {
    this.paused = true;
    for (const x of this.xhrs) x.abort();
    if (this.id) {
      try { await api("DELETE", "uploads/" + this.id, { bucket: this.bucket }); } catch (_) { /* gone already */ }
    }
    localStorage.removeItem(this.storeKey);
    this.row.remove();
    announce("Cancelled " + this.key);
  }
}

function enqueue(files) {
  if (!state.bucket) { announce("Choose a bucket first"); return; }
  for (const { file, path } of files) {
    const upload = new Upload(file, state.bucket, state.prefix + path);
    upload.start();
  }
}

$("file-input").addEventListener("change", (e) => {
  enqueue(Array.from(e.target.files, (file) => ({ file, path: file.name })));
  e.target.value = "";
});

$("folder-input").addEventListener("change", (e) => {
  enqueue(Array.from(e.target.files, (file) => ({ file, path: file.webkitRelativePath || file.name })));
  e.target.value = "";
});

// Folders dropped: walk them with the entries API (DataTransferItem.webkitGetAsEntry).
async function walk(entry, path, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: path + file.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walk(child, path + entry.name + "/", out);
    }
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const entries = Array.from(e.dataTransfer.items || [], (i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  const files = [];
  if (entries.length) {
    for (const entry of entries) await walk(entry, "", files);
  } else {
    for (const file of e.dataTransfer.files) files.push({ file, path: file.name });
  }
  enqueue(files);
});

// ---- sessions ----------------------------------------------------------------------------

async function loadSessions() {
  let data;
  try { data = await api("GET", "sessions"); } catch (e) { announce(e.message); return; }
  const rows = $("session-rows");
  const focused = document.activeElement && document.activeElement.dataset.session;
  rows.replaceChildren();
  for (const s of data.sessions) {
    const abort = el("button", { type: "button", class: "danger", "data-session": s.id, "aria-label": "Abort upload of " + s.key,
      onclick: async () => {
        if (!(await confirmDialog("Abort the upload of " + s.bucket + "/" + s.key + "? Its parts are discarded."))) return;
        try { await api("DELETE", "sessions/" + s.id, { bucket: s.bucket }); announce("Aborted upload of " + s.key); } catch (e) { announce(e.message); }
        loadSessions();
      } }, "Abort");
    rows.append(el("tr", { "data-session": s.id },
      el("td", {}, s.bucket + "/" + s.key), el("td", {}, s.dialect || "—"), el("td", {}, s.state.toLowerCase()),
      el("td", { class: "num" }, String(s.parts)), el("td", { class: "num" }, size(s.bytes)),
      el("td", {}, duration(data.now - s.created)), el("td", {}, duration(s.expires - data.now)), el("td", {}, abort)));
  }
  if (focused) { const again = rows.querySelector('button[data-session="' + focused + '"]'); if (again) again.focus(); }
  $("sessions-empty").hidden = data.sessions.length > 0;
}

// ---- tables ------------------------------------------------------------------------------

async function loadTables() {
  let data;
  try { data = await api("GET", "tables"); } catch (e) { announce(e.message); return; }
  const list = $("table-list");
  list.replaceChildren();
  for (const t of data.tables) {
    const schema = t.schema || {};
    const cols = (schema.columns || []).map((c) => c.name + " " + c.type).join(", ");
    const pcols = (schema.partitionKeys || schema.partitions || []).map((c) => c.name + " " + c.type).join(", ");
    const body = el("tbody", {});
    let rows = 0;
    for (const p of t.partitions) {
      rows += p.rows;
      body.append(el("tr", {}, el("td", {}, p.spec || "(whole table)"), el("td", { class: "num" }, String(p.files)), el("td", { class: "num" }, String(p.rows)), el("td", { class: "num" }, size(p.bytes))));
    }
    list.append(el("section", { class: "tbl card", "data-table": t.project + "." + t.table },
      el("h2", {}, t.project + "." + t.table),
      el("p", {}, el("strong", {}, "Columns: "), cols || "—"),
      el("p", {}, el("strong", {}, "Partition columns: "), pcols || "none"),
      el("p", {}, el("strong", {}, "Rows: "), String(rows)),
      el("table", {}, el("caption", { class: "visually-hidden" }, "Partitions of " + t.table),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Partition"), el("th", { scope: "col", class: "num" }, "Files"), el("th", { scope: "col", class: "num" }, "Rows"), el("th", { scope: "col", class: "num" }, "Size"))),
        body)));
  }
  $("tables-empty").hidden = data.tables.length > 0;
}

// ---- start -------------------------------------------------------------------------------

(async () => {
  try {
    const who = await api("GET", "whoami");
    signedIn(who);
  } catch (_) {
    signedOut();
  }
})();
