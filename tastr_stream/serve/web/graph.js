/* tastr-stream live page: the camera graph (an SVG drawn from GET /api/network).
 *
 * Each edge is a camera pair: its configured mean transfer time t_ij as the label, and when the
 * associator reports the transfer time in use (``transfer``: scaled by the site, or learned by
 * the pair from confident links) and it moved off the configured one, that time below it in
 * another colour. Hover an edge for sigma and how many links taught it. Loaded before app.js,
 * which fetches the graph and calls drawGraph; uses its $ and fmtS at call time.
 */
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const GRAPH_W = 520, GRAPH_H = 420, GRAPH_PAD = 44;
const MAX_LABELLED_PAIRS = 28;   // beyond 8 cameras, label only each camera's nearest neighbour

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

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
    const now = p.transfer;   // the transfer time in use, when the associator reports it
    const moved = now && now.source !== "configured";
    const line = svgEl("line", { class: moved ? "edge moved" : "edge", x1: ax, y1: ay, x2: bx, y2: by,
                                 "stroke-width": (1 + 3 * weight).toFixed(2),
                                 "stroke-opacity": (0.35 + 0.6 * weight).toFixed(2),
                                 "data-pair": `${p.a}-${p.b}` });
    let title = `${p.a} – ${p.b}: configured t_ij = ${fmtS(p.t_ij_s)} s, sigma = ${fmtS(p.sigma_s)} s`;
    if (now) {
      title += `; in use ${fmtS(now.mean_s)} ± ${fmtS(now.std_s)} s (${now.source}` +
               `${now.samples ? `, ${now.samples} confident links` : ""})`;
    }
    line.appendChild(svgEl("title", {}, title));
    edges.appendChild(line);
    if (labelled.has(p)) {
      const x = (ax + bx) / 2, y = (ay + by) / 2;
      labels.appendChild(svgEl("text", { class: "edge-label", x, y: y - 3, "text-anchor": "middle",
                                         "data-pair": `${p.a}-${p.b}` }, `${fmtS(p.t_ij_s)} s`));
      if (moved) {
        labels.appendChild(svgEl("text", { class: "edge-label-now", x, y: y + 9, "text-anchor": "middle",
                                           "data-pair": `${p.a}-${p.b}`, "data-source": now.source },
                                 `→ ${fmtS(now.mean_s)} s ${now.source}`));
      }
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
  const moved = net.pairs.filter((p) => p.transfer && p.transfer.source !== "configured").length;
  $("graph-caption").textContent =
    `${net.cameras.length} cameras, ${placed ? "site-map layout" : "circle layout"}, ${str}` +
    (moved ? `, ${moved} pair${moved === 1 ? "" : "s"} on learned times` : "");
}
