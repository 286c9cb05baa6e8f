// Cairn's web console: plain ES module, no build step, nothing from another host. It calls the same HTTP API as
// every other client, with the API key kept in this tab's session storage.

const KEY = "cairn.apiKey";
const RANK = { reader: 1, editor: 2, admin: 3 };
let me = null; // {tenant, role, key_id, auth_required}
let conversationId = null;

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(message, bad = false) {
  const status = $("#status");
  status.textContent = message;
  status.className = bad ? "fallback" : "";
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const response = await fetch(path, { method, headers, body });
  if (!response.ok) {
    let code = "error", message = response.statusText;
    try { const detail = (await response.json()).error || {}; code = detail.code || code; message = detail.message || message; } catch { /* not JSON */ }
    if (response.status === 401) showSignIn(message);
    throw new ApiError(response.status, code, message);
  }
  if (raw) return response;
  return response.headers.get("content-type")?.includes("json") ? response.json() : response.text();
}

const can = (role) => me && RANK[me.role] >= RANK[role];

// -- sign-in and navigation ------------------------------------------------------------------------------------
function showSignIn(message) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== "view-sign-in";
  if (message) say(message, true);
}

async function start() {
  try {
    me = await api("/v1/me");
  } catch (error) {
    if (error.status !== 401) say(`The API cannot be reached: ${error.message}`, true);
    return;
  }
  $("#who").textContent = `${me.tenant} · ${me.role}${me.auth_required ? "" : " (open API: no sign-in needed)"}`;
  $("#sign-out").hidden = !sessionStorage.getItem(KEY);
  for (const node of document.querySelectorAll("[data-role]")) node.hidden = !can(node.dataset.role);
  route();
}

function route() {
  if (!me) return;
  let view = location.hash.slice(1) || "ask";
  const link = document.querySelector(`nav a[data-view="${view}"]`);
  if (!link || link.hidden) view = "ask";
  for (const a of document.querySelectorAll("nav a")) a.toggleAttribute("aria-current", a.dataset.view === view);
  for (const a of document.querySelectorAll("nav a[aria-current]")) a.setAttribute("aria-current", "page");
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${view}`;
  say("");
  ({ ask: () => {}, documents: loadDocuments, review: loadReview, evals: loadEvals, operations: loadOperations })[view]();
}

$("#sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("#api-key").value.trim());
  $("#api-key").value = "";
  start();
});
$("#sign-out").addEventListener("click", () => { sessionStorage.removeItem(KEY); me = null; location.hash = ""; location.reload(); });
window.addEventListener("hashchange", route);

// -- sources: a document's extracted text with the cited span highlighted -------------------------------------
async function showSource(citation) {
  const doc = await api(`/v1/documents/${encodeURIComponent(citation.document_id)}/text`);
  const text = doc.text;
  const mark = el("mark", { id: "cited" }, text.slice(citation.start, citation.end));
  const pre = $("#source-text");
  pre.replaceChildren(text.slice(0, citation.start), mark, text.slice(citation.end));
  $("#source-title").textContent = `${doc.title || doc.source} [${citation.start}:${citation.end}]`;
  $("#source").hidden = false;
  mark.scrollIntoView({ block: "center" });
  pre.focus();
}
$("#source-close").addEventListener("click", () => { $("#source").hidden = true; });

// -- ask ---------------------------------------------------------------------------------------------------------
function confidenceStatement(answer) {
  if (answer.fallback && ["no_relevant_context", "low_confidence"].includes(answer.fallback.reason)) return null;
  const c = answer.confidence;
  const strength = c >= 0.8 ? "Well supported by its sources" : c >= 0.5 ? "Supported by its sources" : "Weakly supported: check the sources";
  return `${strength} (confidence ${Math.round(c * 100)}%).`;
}

function answerText(answer) {
  // "[n]" markers become buttons that open the cited source.
  const byIndex = new Map(answer.citations.map((c) => [c.index, c]));
  const parts = [];
  let last = 0;
  for (const match of answer.answer.matchAll(/\[(\d+)\]/g)) {
    const citation = byIndex.get(Number(match[1]));
    if (!citation) continue;
    parts.push(answer.answer.slice(last, match.index));
    parts.push(el("button", { type: "button", class: "cite", "aria-label": `Source ${citation.index}: ${citation.source}`, onclick: () => showSource(citation) }, `[${citation.index}]`));
    last = match.index + match[0].length;
  }
  parts.push(answer.answer.slice(last));
  return el("p", { class: "answer" }, parts);
}

function feedbackForm(answer) {
  const status = el("span", { role: "status" });
  const correction = el("textarea", { id: `correction-${answer.id}`, rows: 2, maxlength: 20000 });
  const send = async (rating) => {
    try {
      const receipt = await api("/v1/feedback", { method: "POST", json: { answer_id: answer.id, rating, correction: correction.value.trim() || null } });
      status.textContent = receipt.review_id ? "Thank you: sent to review." : "Thank you.";
    } catch (error) { status.textContent = error.message; }
  };
  return el("div", { class: "feedback" },
    el("div", { class: "row" },
      el("button", { type: "button", "aria-label": "Helpful", onclick: () => send("up") }, "Helpful"),
      el("button", { type: "button", "aria-label": "Not helpful", onclick: () => send("down") }, "Not helpful"),
      status),
    el("label", { for: `correction-${answer.id}` }, "Correction (what the answer should have said)"), correction);
}

function renderAnswer(answer) {
  const fallback = answer.fallback;
  const abstained = fallback && ["no_relevant_context", "low_confidence"].includes(fallback.reason);
  const card = el("li", { class: "card", "data-answer-id": answer.id },
    el("h3", {}, answer.question),
    abstained ? el("p", { class: "fallback" }, `No answer: ${fallback.message}`) : answerText(answer),
    abstained ? null : el("p", { class: "confidence" }, confidenceStatement(answer)),
    fallback && !abstained ? el("p", { class: "fallback" }, fallback.message) : null,
    answer.citations.length ? el("ol", { class: "citations", "aria-label": "Citations" }, answer.citations.map((c) =>
      el("li", { value: c.index },
        el("button", { type: "button", class: "cite", onclick: () => showSource(c) }, `${c.source}${c.page ? `, page ${c.page}` : ""}`),
        el("blockquote", {}, c.quote)))) : null,
    abstained && fallback.closest_sources?.length ? el("div", {},
      el("p", {}, "The closest sources, which do not answer it:"),
      el("ul", {}, fallback.closest_sources.map((s) => el("li", {},
        el("button", { type: "button", class: "cite", onclick: () => showSource({ document_id: s.document_id, start: 0, end: 0 }) },
          s.title || s.source), s.page ? `, page ${s.page}` : "")))) : null,
    answer.review_id ? el("p", { class: "hint" }, "The question went to human review.") : null,
    feedbackForm(answer));
  $("#turns").prepend(card);
}

$("#ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("#question").value.trim();
  if (!question) return;
  say("Asking…");
  try {
    const answer = await api("/v1/answer", { method: "POST", json: { question, conversation_id: conversationId } });
    conversationId = answer.conversation_id || conversationId;
    renderAnswer(answer);
    $("#question").value = "";
    say("");
  } catch (error) { say(error.message, true); }
});
$("#new-conversation").addEventListener("click", () => { conversationId = null; $("#turns").replaceChildren(); $("#question").focus(); });

// -- documents ---------------------------------------------------------------------------------------------------
function describe(d) {
  if (d.status === "indexed" || d.status === "replaced") return `${d.status} (${d.chunks} chunk${d.chunks === 1 ? "" : "s"})`;
  return d.reason ? `${d.status}: ${d.reason}` : d.status;
}

function uploadOne(file) {
  const progress = el("progress", { max: 1, value: 0, "aria-label": `Upload of ${file.name}` });
  const outcome = el("span", { class: "outcome" }, "uploading");
  const line = el("li", { "data-file": file.name }, el("strong", {}, file.name), " ", progress, " ", outcome);
  $("#uploads").append(line);
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("replace", $("#replace").checked ? "true" : "false");
  const request = new XMLHttpRequest(); // fetch has no upload progress
  request.open("POST", "/v1/documents");
  const key = sessionStorage.getItem(KEY);
  if (key) request.setRequestHeader("Authorization", `Bearer ${key}`);
  request.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = (e.loaded / e.total) * 0.5; };
  const finish = (status, text) => { outcome.textContent = text; outcome.className = `outcome outcome-${status}`; progress.value = 1; };
  request.onerror = () => finish("failed", "failed: the upload did not reach the server");
  request.onload = async () => {
    let body;
    try { body = JSON.parse(request.responseText); } catch { body = {}; }
    if (request.status !== 202) return finish("rejected", `rejected: ${body.error?.message || request.statusText}`);
    const [mine] = body.documents;
    if (mine.status !== "accepted") return finish(mine.status, describe(mine));
    while (true) { // the job's stages, live
      const job = await api(body.status_url.replace(/^https?:\/\/[^/]+/, ""));
      const doc = job.documents.find((d) => !d.parent) || job.documents[0];
      progress.value = 0.5 + job.progress / 2;
      if (job.status === "done" || job.status === "failed") { finish(doc.status, describe(doc)); loadDocuments(); return; }
      outcome.textContent = job.status;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  };
  request.send(form);
}

function upload(files) { for (const file of files) uploadOne(file); }

const drop = $("#drop-zone");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload(e.dataTransfer.files); });
drop.addEventListener("click", () => $("#file-input").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#file-input").click(); } });
$("#file-input").addEventListener("change", (e) => { upload(e.target.files); e.target.value = ""; });

async function loadDocuments() {
  const page = await api("/v1/documents?limit=1000");
  const rows = page.documents.map((d) => el("tr", { "data-document-id": d.document_id },
    el("td", {}, d.title || d.source, el("div", { class: "hint" }, d.source)),
    el("td", {}, "indexed"), el("td", {}, d.version), el("td", {}, d.tags.join(", ")), el("td", {}, d.chunks),
    el("td", {}, el("div", { class: "row" },
      el("button", { type: "button", onclick: () => showSource({ document_id: d.document_id, start: 0, end: 0 }) }, "View text"),
      can("editor") ? el("button", { type: "button", class: "danger", onclick: () => removeDocument(d) }, "Delete") : null))));
  $("#documents-table tbody").replaceChildren(...rows);
}

async function removeDocument(d) {
  if (!confirm(`Delete ${d.title || d.source}? Its chunks, text and stored uploads are erased.`)) return;
  try { await api(`/v1/documents/${encodeURIComponent(d.document_id)}`, { method: "DELETE" }); say(`Deleted ${d.source}.`); }
  catch (error) { say(error.message, true); }
  loadDocuments();
}

// -- review ------------------------------------------------------------------------------------------------------
async function loadReview() {
  const items = await api(`/v1/review?status=${$("#review-status").value}&limit=100`);
  $("#review-items").replaceChildren(...items.map(reviewItem));
  if (!items.length) $("#review-items").append(el("li", { class: "hint" }, "Nothing here."));
}

function reviewItem(item) {
  const edited = el("textarea", { id: `edit-${item.id}`, rows: 3 }, item.answer || "");
  const decide = async (action) => {
    try {
      await api(`/v1/review/${item.id}`, { method: "POST", json: { action, answer: action === "edit" ? edited.value : null } });
      say(`Review item ${action === "edit" ? "edited" : action + "d"}.`);
      loadReview();
    } catch (error) { say(error.message, true); }
  };
  const passages = [...item.citations, ...item.closest_sources];
  return el("li", { class: "card", "data-review-id": item.id, "data-answer-id": item.answer_id },
    el("h3", {}, item.question),
    el("p", { class: "hint" }, `${item.reason} · ${item.status}${item.confidence !== null ? ` · confidence ${Math.round(item.confidence * 100)}%` : ""}`),
    el("p", { class: "answer" }, item.answer || "(no answer)"),
    passages.length ? el("details", {}, el("summary", {}, `Passages read (${passages.length})`),
      el("ul", {}, passages.map((p) => el("li", {}, p.title || p.source, p.quote ? el("blockquote", {}, p.quote) : null)))) : null,
    item.status === "pending" ? el("div", {},
      el("label", { for: `edit-${item.id}` }, "Corrected answer"), edited,
      el("div", { class: "row" },
        el("button", { type: "button", onclick: () => decide("approve") }, "Approve"),
        el("button", { type: "button", onclick: () => decide("edit") }, "Save edit"),
        el("button", { type: "button", class: "danger", onclick: () => decide("reject") }, "Reject"))) :
      el("p", {}, item.resolution ? `Resolution: ${item.resolution}` : ""));
}
$("#review-status").addEventListener("change", loadReview);
$("#review-export").addEventListener("click", async () => {
  const blob = await (await api("/v1/review/export", { raw: true })).blob();
  const link = el("a", { href: URL.createObjectURL(blob), download: "reviewed.jsonl" });
  link.click();
  URL.revokeObjectURL(link.href);
});

// -- evals -------------------------------------------------------------------------------------------------------
let runs = [];

function figures(result, prefix = "", out = []) {
  for (const [key, value] of Object.entries(result || {})) {
    if (typeof value === "number") out.push([prefix + key, value]);
    else if (value && typeof value === "object" && !Array.isArray(value) && prefix.split(".").length < 4) figures(value, `${prefix}${key}.`, out);
  }
  return out;
}

async function image(runId, name) {
  const blob = await (await api(`/v1/evals/${runId}/files/${encodeURIComponent(name)}`, { raw: true })).blob();
  return el("img", { src: URL.createObjectURL(blob), alt: `${name} of run ${runId}` });
}

async function loadEvals() {
  const [{ datasets }, list] = await Promise.all([api("/v1/evals/datasets"), api("/v1/evals")]);
  $("#eval-dataset").replaceChildren(...datasets.map((d) => el("option", { value: JSON.stringify(d) }, `${d.dataset} (${d.suite})`)));
  runs = list.runs;
  for (const select of [$("#compare-a"), $("#compare-b")]) {
    select.replaceChildren(...runs.filter((r) => r.status === "succeeded").map((r) => el("option", { value: r.id }, `${r.id} (${r.dataset})`)));
  }
  const cards = runs.map((run) => {
    const charts = el("div", { class: "charts" });
    const top = figures(run.result).slice(0, 8);
    const card = el("li", { class: "card", "data-run-id": run.id },
      el("h3", {}, `${run.suite} on ${run.dataset}`),
      el("p", { class: "hint" }, `${run.id} · ${run.status}${run.error ? `: ${run.error}` : ""}`),
      top.length ? el("table", { class: "figures" }, el("tbody", {}, top.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v.toFixed(4)))))) : null,
      run.files.some((f) => f.endsWith(".png")) ? el("button", { type: "button", onclick: async (e) => {
        e.target.disabled = true;
        charts.replaceChildren(...await Promise.all(run.files.filter((f) => f.endsWith(".png")).map((f) => image(run.id, f))));
      } }, "Show charts") : null,
      charts);
    return card;
  });
  $("#eval-runs").replaceChildren(...cards);
  if (runs.some((r) => r.status === "queued" || r.status === "running")) setTimeout(() => { if (location.hash === "#evals") loadEvals(); }, 3000);
}

$("#eval-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const chosen = JSON.parse($("#eval-dataset").value || "null");
  if (!chosen) return say("No dataset is offered (set CAIRN_EVAL__DATASETS_DIR).", true);
  try {
    const run = await api("/v1/evals", { method: "POST", json: { suite: chosen.suite, dataset: chosen.dataset, options: { limit: Number($("#eval-limit").value) || null } } });
    say(`Run ${run.id} queued.`);
    loadEvals();
  } catch (error) { say(error.message, true); }
});

$("#compare-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const [a, b] = [$("#compare-a").value, $("#compare-b").value].map((id) => runs.find((r) => r.id === id));
  if (!a || !b) return;
  const fa = new Map(figures(a.result)), fb = new Map(figures(b.result));
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].filter((k) => !k.endsWith("seconds"));
  $("#comparison").replaceChildren(el("table", { class: "figures" },
    el("caption", {}, `${a.id} (A) against ${b.id} (B)`),
    el("thead", {}, el("tr", {}, ["metric", "A", "B", "B − A"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, keys.map((k) => el("tr", {}, el("td", {}, k), el("td", {}, fa.get(k)?.toFixed(4) ?? "–"),
      el("td", {}, fb.get(k)?.toFixed(4) ?? "–"),
      el("td", {}, fa.has(k) && fb.has(k) ? (fb.get(k) - fa.get(k)).toFixed(4) : "–"))))));
});

// -- operations --------------------------------------------------------------------------------------------------
async function loadOperations() {
  const ready = await fetch("/readyz").then((r) => r.json()).catch(() => ({ status: "unreachable", checks: {} }));
  $("#readiness").replaceChildren(el("dt", {}, "status"), el("dd", {}, ready.status),
    ...Object.entries(ready.checks).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const cost = await api("/v1/cost").catch((e) => ({ error: e.message }));
  $("#cost").replaceChildren(cost.error ? el("p", {}, cost.error) : el("table", { class: "figures" }, el("tbody", {},
    figures(cost).slice(0, 12).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v.toFixed(4)))))));
  const drift = await api("/v1/drift").catch((e) => ({ status: e.message }));
  $("#drift").replaceChildren(el("p", {}, `${drift.status}${drift.reasons?.length ? `: ${drift.reasons.join("; ")}` : ""}`));
  await loadKeys();
}

async function loadKeys() {
  const keys = await api("/v1/keys");
  $("#keys-table tbody").replaceChildren(...keys.map((k) => el("tr", {},
    el("td", {}, k.name), el("td", {}, k.role), el("td", {}, `${k.prefix}…`), el("td", {}, k.revoked_at ? "revoked" : "active"),
    el("td", {}, k.revoked_at ? null : el("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(`Revoke the key ${k.name}?`)) return;
      await api(`/v1/keys/${k.id}`, { method: "DELETE" });
      loadKeys();
    } }, "Revoke")))));
}

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const created = await api("/v1/keys", { method: "POST", json: { name: $("#key-name").value, role: $("#key-role").value } });
    $("#new-key").replaceChildren("New key (shown once, keep it now): ", el("code", {}, created.key));
    $("#key-name").value = "";
    loadKeys();
  } catch (error) { say(error.message, true); }
});

start();
