/* tastr-stream live page. Plain browser JS, no build step, no external URLs.
 *
 * Talks only to the associator's JSON API:
 *   GET /api/network   camera graph with the STR transfer-time prior of every pair (drawn once)
 *   GET /api/recent    most recently active identities, polled every REFRESH_MS
 *   GET /api/stats     store and model figures, polled with it
 *   GET /api/tracklet/<id>, /api/camera/<cam>/track/<n>, /api/identity/<n>   the search box
 *   POST /api/search?k=N  (body: an image)                                   the upload
 * A URL ending in #q=<query> runs that lookup on load (links to a person can be shared).
 * Every value from the server is inserted as text (textContent / attributes), never as HTML.
 */
"use strict";

const REFRESH_MS = 2000;
const RECENT_LIMIT = 12;
const SEARCH_K = 8;
const SVG_NS = "http://www.w3.org/2000/svg";
const GRAPH_W = 520, GRAPH_H = 420, GRAPH_PAD = 44;
const MAX_LABELLED_PAIRS = 28;   // beyond 8 cameras, label only each camera's nearest neighbour

const $ = (id) => document.getElementById(id);

async function api(path, options) {
  const resp = await fetch(path, options);
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

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmtS(x) {
  return x === null || x === undefined ? "?" : (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1));
}

/* ------------------------------------------------------------------ camera graph */

/* Screen positions: the cameras' site-map positions (metres, y up) scaled into the box when
 * every camera has one, otherwise evenly on a circle in config order. */
function layout(cameras) {
  const pos = {};
  const placed = cameras.length > 1 && cameras.every((c) => Array.isArray(c.position_m));
  if (placed) {
    const xs = cameras.map((c) => c.position_m[0]), ys = cameras.map((c) => c.position_m[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const span = Math.max(x1 - x0, y1 - y0, 1e-9);
    const scale = Math.min(GRAPH_W, GRAPH_H) - 2 * GRAPH_PAD;
    const offX = (GRAPH_W - (x1 - x0) / span * scale) / 2, offY = (GRAPH_H - (y1 - y0) / span * scale) / 2;
    for (const c of cameras) {
      pos[c.id] = [offX + (c.position_m[0] - x0) / span * scale, GRAPH_H - offY - (c.position_m[1] - y0) / span * scale];
    }
  } else {
    const r = Math.min(GRAPH_W, GRAPH_H) / 2 - GRAPH_PAD;
    cameras.forEach((c, i) => {
      const a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(cameras.length, 1);
      pos[c.id] = [GRAPH_W / 2 + r * Math.cos(a), GRAPH_H / 2 + r * Math.sin(a)];
    });
  }
  return { pos, placed };
}

function labelledPairs(net) {
  if (net.pairs.length <= MAX_LABELLED_PAIRS) return new Set(net.pairs);
  const keep = new Set();
  for (const c of net.cameras) {
    let best = null;
    for (const p of net.pairs) {
      if ((p.a === c.id || p.b === c.id) && (best === null || p.t_ij_s < best.t_ij_s)) best = p;
    }
    if (best) keep.add(best);
  }
  return keep;
}

function drawGraph(net) {
  const svg = $("graph");
  svg.replaceChildren();
  const { pos, placed } = layout(net.cameras);
  const tMax = Math.max(1e-9, ...net.pairs.map((p) => p.t_ij_s));
  const labelled = labelledPairs(net);
  const edges = svgEl("g", { class: "edges" }), labels = svgEl("g", { class: "labels" });
  for (const p of net.pairs) {
    const [ax, ay] = pos[p.a], [bx, by] = pos[p.b];
    // Shorter transfer times draw bolder: those pairs see the most re-identifications.
    const weight = 1 - p.t_ij_s / tMax;
    const line = svgEl("line", { class: "edge", x1: ax, y1: ay, x2: bx, y2: by,
                                 "stroke-width": (1 + 3 * weight).toFixed(2),
                                 "stroke-opacity": (0.35 + 0.6 * weight).toFixed(2),
                                 "data-pair": `${p.a}-${p.b}` });
    line.appendChild(svgEl("title", {}, `${p.a} – ${p.b}: t_ij = ${fmtS(p.t_ij_s)} s, sigma = ${fmtS(p.sigma_s)} s`));
    edges.appendChild(line);
    if (labelled.has(p)) {
      labels.appendChild(svgEl("text", { class: "edge-label", x: (ax + bx) / 2, y: (ay + by) / 2 - 3,
                                         "text-anchor": "middle", "data-pair": `${p.a}-${p.b}` },
                               `${fmtS(p.t_ij_s)} s`));
    }
  }
  const nodes = svgEl("g", { class: "nodes" });
  for (const c of net.cameras) {
    const [x, y] = pos[c.id];
    const g = svgEl("g", { class: "node", "data-camera": c.id });
    g.appendChild(svgEl("circle", { cx: x, cy: y, r: 22 }));
    g.appendChild(svgEl("text", { x, y: y + 4, "text-anchor": "middle" }, c.id));
    if (c.name) g.appendChild(svgEl("title", {}, c.name));
    nodes.appendChild(g);
  }
  svg.append(edges, labels, nodes);
  const str = net.str.enabled ? `lambda ${net.str.lambda}, ${net.str.exponent} exponent` : "STR off";
  $("graph-caption").textContent =
    `${net.cameras.length} cameras, ${placed ? "site-map layout" : "circle layout"}, ${str}`;
}

/* ------------------------------------------------------------------ identities */

function thumb(s) {
  const box = el("span", { class: `thumb ${s.status || ""}`, title: `${s.tracklet_id} (${s.status})`,
                           "data-tracklet": s.tracklet_id });
  if (s.thumbnail_url) box.appendChild(el("img", { src: s.thumbnail_url, alt: s.tracklet_id, loading: "lazy" }));
  box.appendChild(el("span", {}, `${fmtS(s.t_start_s)} s`));
  box.addEventListener("click", () => runSearch(s.tracklet_id));
  return box;
}

/* One card: the identity's sightings grouped by camera, in time order within each camera. */
function identityCard(identityId, sightings) {
  const card = el("div", { class: "identity", "data-identity": String(identityId) });
  const cams = [...new Set(sightings.map((s) => s.camera_id))];
  card.appendChild(el("h3", {}, `identity ${identityId}`));
  card.firstChild.appendChild(el("span", { class: "muted" },
    ` ${sightings.length} sighting${sightings.length === 1 ? "" : "s"}, ${cams.length} camera${cams.length === 1 ? "" : "s"}`));
  for (const cam of cams.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))) {  // cam2 < cam10
    const row = el("div", { class: "camrow", "data-camera": cam });
    row.appendChild(el("span", { class: "cam" }, cam));
    sightings.filter((s) => s.camera_id === cam)
      .sort((a, b) => a.t_start_s - b.t_start_s)
      .forEach((s) => row.appendChild(thumb(s)));
    card.appendChild(row);
  }
  return card;
}

let lastRecentJson = "";

async function refresh() {
  try {
    const [recent, stats] = await Promise.all([api(`/api/recent?limit=${RECENT_LIMIT}`), api("/api/stats")]);
    const links = Object.entries(stats.links || {}).map(([k, v]) => `${v} ${k}`).join(", ") || "0";
    $("stats").textContent = `${stats.tracklets} tracklets · ${stats.identities} identities · links ${links}` +
                             ` · model v${stats.model_version}`;
    const json = JSON.stringify(recent.identities);
    if (json !== lastRecentJson) {     // rebuild only on change: no flicker, thumbnails stay cached
      lastRecentJson = json;
      const box = $("recent");
      box.replaceChildren(...recent.identities.map((i) => identityCard(i.identity_id, i.sightings)));
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
      out.appendChild(identityCard(a.identity_id, a.sightings));
    }
  }
}

async function runSearch(text) {
  if (!text.trim()) return;
  $("search-input").value = text;
  setStatus(`searching ${text}…`);
  try {
    showAnswer(await api(searchPath(text)));
    setStatus(`results for ${text}`);
  } catch (e) {
    $("search-results").replaceChildren();
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
  try {
    drawGraph(await api("/api/network"));
  } catch (e) {
    $("graph-caption").textContent = `camera graph unavailable: ${e.message}`;
  }
}

start();
