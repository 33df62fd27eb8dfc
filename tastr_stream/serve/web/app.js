/* tastr-stream live page. Plain browser JS, no build step, no external URLs (graph.js draws
 * the camera graph and is loaded first).
 *
 * Talks only to the associator's JSON API:
 *   GET /api/network   camera graph: every pair's configured transfer time and the one in use
 *                      (site-scaled or learned from confident links), redrawn every GRAPH_REFRESH_MS
 *   GET /api/recent    most recently active identities, polled every REFRESH_MS
 *   GET /api/stats     store and model figures, polled with it
 *   GET /api/tracklet/<id>, /api/camera/<cam>/track/<n>, /api/identity/<n>   the search box
 *   GET /api/candidates?tracklet_id=<id>&k=N   other cameras' visits ranked for a searched tracklet
 *   POST /api/search?k=N  (body: an image)                                   the upload
 * A URL ending in #q=<query> runs that lookup on load (links to a person can be shared).
 * With a lookup token, a 401 makes the page ask for it once (see askToken).
 * Every sighting says why it is in its identity (its shown links: D, R, dt vs the pair's mean
 * transfer time, confidence, model version): under its thumbnail in search results, on hover elsewhere.
 * Every value from the server is inserted as text (textContent / attributes), never as HTML.
 */
"use strict";

const REFRESH_MS = 2000;
const RECENT_LIMIT = 12;
const SEARCH_K = 8;
const CANDIDATES_K = 8;
const GRAPH_REFRESH_MS = 15000;

const $ = (id) => document.getElementById(id);

/* A locked-down associator (security.token_file) answers /api/ only with its token. The page asks
 * once, keeps it in a same-site cookie (so thumbnails, which cannot send headers, carry it too)
 * and retries; a cancelled prompt is not repeated until the page reloads. */
let tokenPrompt = null;
let tokenDeclined = false;

function askToken() {
  if (tokenDeclined) return Promise.resolve(false);
  if (!tokenPrompt) {
    tokenPrompt = new Promise((resolve) => {
      const token = window.prompt("This tastr-stream API needs its access token (the associator's security.token_file):");
      if (token && token.trim()) {
        document.cookie = `tastr_token=${encodeURIComponent(token.trim())}; path=/; SameSite=Strict`;
        resolve(true);
      } else {
        tokenDeclined = true;
        resolve(false);
      }
    });
    tokenPrompt.then(() => { tokenPrompt = null; });
  }
  return tokenPrompt;
}

async function api(path, options, retried) {
  const resp = await fetch(path, { credentials: "same-origin", ...options });
  if (resp.status === 401 && !retried && await askToken()) return api(path, options, true);
  let body;
  try {
    body = await resp.json();
  } catch (e) {
    throw new Error(`${path}: HTTP ${resp.status}, not JSON`);
  }
  if (!resp.ok || body.ok === false) throw new Error(body.error || `${path}: HTTP ${resp.status}`);
  return body;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmtS(x) {
  return x === null || x === undefined ? "?" : (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1));
}

/* ------------------------------------------------------------------ camera graph */

let lastGraphJson = "";

async function refreshGraph() {
  try {
    const net = await api("/api/network");
    const json = JSON.stringify(net);
    if (json !== lastGraphJson) {
      lastGraphJson = json;
      drawGraph(net);
    }
  } catch (e) {
    $("graph-caption").textContent = `camera graph unavailable: ${e.message}`;
  } finally {
    setTimeout(refreshGraph, GRAPH_REFRESH_MS);
  }
}

/* ------------------------------------------------------------------ identities */

function fmtN(x, digits) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

/* One shown link of a sighting, as lines of text: where it leads, D and R, dt against the pair's
 * mean transfer time, confidence and model version. "←" the link comes from an earlier sighting. */
function whyLines(s, w) {
  const from = w.tracklet_b === s.tracklet_id;
  const other = w.other.split(":")[0];
  const head = w.kind === "relink" ? `${from ? "←" : "→"} fragment ${w.other}` : `${from ? "←" : "→"} ${other} (${w.status})`;
  const lines = [head, `D ${fmtN(w.feature_distance, 3)} · R ${fmtN(w.r, 2)}`];
  if (w.kind === "cross") lines.push(`dt ${fmtS(w.dt_s)} s vs t̄ ${fmtS(w.transfer_mean_s)}±${fmtS(w.transfer_std_s)} s ${w.prior}`);
  else lines.push(`gap ${fmtS(w.dt_s)} s`);
  lines.push(`conf ${fmtN(w.confidence, 2)} · model v${w.model_version}`);
  return lines;
}

/* A sighting's thumbnail; ``detail``: its "why" written under it (else only on hover). */
function thumb(s, detail) {
  const why = s.why || [];
  const hover = why.map((w) => whyLines(s, w).join(", ")).join("\n");
  const box = el("span", { class: `thumb ${s.status || ""}`, "data-tracklet": s.tracklet_id,
                           title: `${s.tracklet_id} (${s.status})${hover ? "\n" + hover : ", no shown link"}` });
  if (s.thumbnail_url) box.appendChild(el("img", { src: s.thumbnail_url, alt: s.tracklet_id, loading: "lazy" }));
  box.appendChild(el("span", {}, `${fmtS(s.t_start_s)} s`));
  if (detail) {
    for (const w of why) {
      const block = el("span", { class: `why ${w.status}`, "data-other": w.other });
      for (const line of whyLines(s, w)) block.appendChild(el("span", {}, line));
      box.appendChild(block);
    }
  }
  box.addEventListener("click", () => runSearch(s.tracklet_id));
  return box;
}

/* One card: the identity's sightings grouped by camera, in time order within each camera. */
function identityCard(identityId, sightings, detail) {
  const card = el("div", { class: detail ? "identity detail" : "identity", "data-identity": String(identityId) });
  const cams = [...new Set(sightings.map((s) => s.camera_id))];
  card.appendChild(el("h3", {}, `identity ${identityId}`));
  card.firstChild.appendChild(el("span", { class: "muted" },
    ` ${sightings.length} sighting${sightings.length === 1 ? "" : "s"}, ${cams.length} camera${cams.length === 1 ? "" : "s"}`));
  for (const cam of cams.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))) {  // cam2 < cam10
    const row = el("div", { class: "camrow", "data-camera": cam });
    row.appendChild(el("span", { class: "cam" }, cam));
    sightings.filter((s) => s.camera_id === cam)
      .sort((a, b) => a.t_start_s - b.t_start_s)
      .forEach((s) => row.appendChild(thumb(s, detail)));
    card.appendChild(row);
  }
  return card;
}

let lastRecentJson = "";

async function refresh() {
  try {
    const [recent, stats] = await Promise.all([api(`/api/recent?limit=${RECENT_LIMIT}`), api("/api/stats")]);
    const links = Object.entries(stats.shown_links || {}).map(([k, v]) => `${v} ${k}`).join(", ") || "0";
    $("stats").textContent = `${stats.tracklets} tracklets · ${stats.identities} identities · cross links ${links}` +
                             ` · model v${stats.model_version}`;
    const json = JSON.stringify(recent.identities);
    if (json !== lastRecentJson) {     // rebuild only on change: no flicker, thumbnails stay cached
      lastRecentJson = json;
      const box = $("recent");
      box.replaceChildren(...recent.identities.map((i) => identityCard(i.identity_id, i.sightings, false)));
      if (!recent.identities.length) box.appendChild(el("p", { class: "muted" }, "no identities yet"));
    }
    $("recent-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("stats").textContent = `associator unreachable: ${e.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

/* ------------------------------------------------------------------ search */

/* "42" -> identity, "cam3 17" -> camera track, anything else -> tracklet id. */
function searchPath(text) {
  const q = text.trim();
  if (/^\d+$/.test(q)) return `/api/identity/${q}`;
  const m = q.match(/^(\S+)\s+(\d+)$/);
  if (m) return `/api/camera/${encodeURIComponent(m[1])}/track/${m[2]}`;
  return `/api/tracklet/${encodeURIComponent(q)}`;
}

function setStatus(text, isError) {
  const s = $("search-status");
  s.textContent = text;
  s.classList.toggle("error", !!isError);
}

function showAnswer(reply) {
  const out = $("search-results");
  out.replaceChildren();
  const answers = reply.results || [reply];
  for (const a of answers) {
    if (a.identity_id === null || a.identity_id === undefined) {
      out.appendChild(el("p", { class: "muted" }, `${a.tracklet_id}: not associated with any identity yet`));
    } else {
      out.appendChild(identityCard(a.identity_id, a.sightings, true));
    }
  }
}

/* ------------------------------------------------------------------ candidates */

function hideCandidates() {
  $("candidates-panel").hidden = true;
  $("candidates").replaceChildren();
}

/* The other cameras' visits ranked for one tracklet by D/R, with the figures an operator needs to
 * confirm or reject a match; a row of the same identity is marked. Clicking a row looks it up. */
function showCandidates(reply) {
  const table = el("table", { class: "results candidates" });
  const head = el("tr");
  for (const h of ["#", "visit", "camera", "D", "dt vs t̄±σ", "R", "D/R", "confidence", "identity"]) {
    head.appendChild(el("th", {}, h));
  }
  table.appendChild(head);
  for (const c of reply.candidates) {
    const same = reply.identity_id !== null && c.identity_id === reply.identity_id;
    const tr = el("tr", { class: same ? "same" : "", "data-tracklet": c.tracklet_ids[0], "data-rank": String(c.rank) });
    const visit = el("td", { class: "cand-thumbs", title: c.tracklet_ids.join(", ") });
    c.tracklet_ids.forEach((t, i) => {
      const span = el("span", { class: "cand-thumb", "data-tracklet": t });
      span.appendChild(el("img", { src: c.thumbnail_urls[i], alt: t, loading: "lazy" }));
      visit.appendChild(span);
    });
    tr.appendChild(el("td", {}, String(c.rank)));
    tr.appendChild(visit);
    const dt = `${c.direction === "after" ? "+" : "−"}${fmtS(c.dt_s)} s vs ${fmtS(c.transfer_mean_s)}±${fmtS(c.transfer_std_s)} s`;
    const cells = [c.camera_id, fmtN(c.feature_distance, 3), `${dt} (${c.prior})`, fmtN(c.r, 3),
                   fmtN(c.joint_distance, 3), fmtN(c.confidence, 2),
                   c.identity_id === null ? "–" : `${c.identity_id}${same ? " (same)" : ""}`];
    for (const v of cells) tr.appendChild(el("td", {}, v));
    tr.addEventListener("click", () => runSearch(c.tracklet_ids[0]));
    table.appendChild(tr);
  }
  const ident = reply.identity_id === null ? "no identity" : `identity ${reply.identity_id}`;
  $("candidates-caption").textContent =
    `for ${reply.tracklet_id} (${reply.camera_id}, ${ident}, model v${reply.model_version}), ranked by D/R`;
  $("candidates").replaceChildren(reply.candidates.length ? table
    : el("p", { class: "muted" }, "no visits of other cameras in the window"));
  $("candidates-panel").hidden = false;
}

async function loadCandidates(trackletId) {
  try {
    showCandidates(await api(`/api/candidates?tracklet_id=${encodeURIComponent(trackletId)}&k=${CANDIDATES_K}`));
  } catch (e) {
    $("candidates-caption").textContent = `for ${trackletId}: ${e.message}`;
    $("candidates").replaceChildren();
    $("candidates-panel").hidden = false;
  }
}

/* The tracklet whose candidates a search shows: the one searched, or a camera track's first. */
function candidateQuery(path, reply) {
  if (path.startsWith("/api/tracklet/")) return reply.tracklet_id;
  if (path.startsWith("/api/camera/") && reply.results && reply.results.length) return reply.results[0].tracklet_id;
  return null;
}

async function runSearch(text) {
  if (!text.trim()) return;
  $("search-input").value = text;
  setStatus(`searching ${text}…`);
  const path = searchPath(text);
  try {
    const reply = await api(path);
    showAnswer(reply);
    setStatus(`results for ${text}`);
    const tid = candidateQuery(path, reply);
    if (tid) await loadCandidates(tid);
    else hideCandidates();
  } catch (e) {
    $("search-results").replaceChildren();
    hideCandidates();
    setStatus(e.message, true);
  }
}

async function runUpload(file) {
  setStatus(`searching by image ${file.name}…`);
  try {
    const reply = await api(`/api/search?k=${SEARCH_K}`, { method: "POST", body: file,
                                                          headers: { "Content-Type": file.type || "application/octet-stream" } });
    const table = el("table", { class: "results" });
    const head = el("tr");
    for (const h of ["tracklet", "camera", "identity", "distance", "t_start_s"]) head.appendChild(el("th", {}, h));
    table.appendChild(head);
    for (const r of reply.results) {
      const tr = el("tr", { "data-tracklet": r.tracklet_id });
      for (const v of [r.tracklet_id, r.camera_id, r.identity_id ?? "–", r.distance.toFixed(3), fmtS(r.t_start_s)]) {
        tr.appendChild(el("td", {}, String(v)));
      }
      tr.addEventListener("click", () => runSearch(r.tracklet_id));
      table.appendChild(tr);
    }
    $("search-results").replaceChildren(table);
    hideCandidates();
    setStatus(`${reply.results.length} nearest tracklets (model v${reply.model_version})`);
  } catch (e) {
    setStatus(e.message, true);
  }
}

/* ------------------------------------------------------------------ start */

async function start() {
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch($("search-input").value); });
  $("upload-input").addEventListener("change", (ev) => { if (ev.target.files[0]) runUpload(ev.target.files[0]); });
  refresh();
  // A shareable lookup: /#q=<query> runs that search on load.
  if (location.hash.startsWith("#q=")) runSearch(decodeURIComponent(location.hash.slice(3)));
  refreshGraph();
}

start();
