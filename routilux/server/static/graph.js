/* Draws a flow as an SVG graph: routines in layers (longest path from the sources), connections as curves.
   An edge that skips layers runs through reserved slots of the layers between, an edge back to an earlier
   layer runs in a lane under every node, so no edge crosses a node; labels sit in the gaps between layers.
   drawFlow(container, flowInfo, states) -> {color(states)} ; states: {routine_id: "completed" | ...} */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const H = 52, GAPY = 26, PAD = 24, LANE = 18;
  const NAME_PX = 7.6, SUB_PX = 6.6, LABEL_PX = 6.4;   // generous average glyph widths of the fonts used

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function splitRef(ref) {
    const i = ref.lastIndexOf(".");
    return i < 0 ? [ref, ""] : [ref.slice(0, i), ref.slice(i + 1)];
  }

  function edgesOf(info) {
    return (info.connections || []).map((c) => {
      const [src, event] = splitRef(c.from), [dst, slot] = splitRef(c.to);
      return { src, dst, from: c.from, to: c.to, label: `${event} → ${slot}` };
    }).filter((e) => e.src in info.routines && e.dst in info.routines);
  }

  // Edges that close a cycle (found depth-first from the sources) are left out of the layering.
  function backEdges(ids, edges) {
    const state = {}, back = new Set();
    const visit = (id) => {
      state[id] = 1;
      for (const e of edges) {
        if (e.src !== id || e.src === e.dst) continue;
        if (state[e.dst] === 1) back.add(e); else if (!state[e.dst]) visit(e.dst);
      }
      state[id] = 2;
    };
    ids.filter((id) => !edges.some((e) => e.dst === id && e.src !== id)).forEach(visit);
    ids.forEach((id) => state[id] || visit(id));
    return back;
  }

  function ranks(ids, edges) {
    const rank = Object.fromEntries(ids.map((id) => [id, 0]));
    for (let pass = 0; pass <= ids.length; pass++) {   // longest path over an acyclic set of edges
      let changed = false;
      for (const e of edges) {
        if (rank[e.dst] < rank[e.src] + 1) { rank[e.dst] = rank[e.src] + 1; changed = true; }
      }
      if (!changed) break;
    }
    return rank;
  }

  // Columns of slots: routines, plus one "via" slot per layer an edge passes through.
  function columns(ids, edges, rank) {
    const cols = [];
    const put = (x, slot) => (cols[x] = cols[x] || []).push(slot);
    ids.forEach((id) => put(rank[id], { id, node: true }));
    edges.forEach((e, k) => {
      e.vias = [];
      for (let x = rank[e.src] + 1; x < rank[e.dst]; x++) { const via = { id: `via${k}.${x}`, edge: k }; e.vias.push(via); put(x, via); }
    });
    for (let x = 0; x < cols.length; x++) cols[x] = cols[x] || [];
    const pos = new Map();
    cols.forEach((col) => col.forEach((s, y) => pos.set(s.id, y)));
    const parents = (slot, x) => slot.node
      ? edges.filter((e) => e.dst === slot.id && rank[e.src] < x).map((e) => (e.vias.length ? e.vias[e.vias.length - 1].id : e.src))
      : [prevOf(edges[slot.edge], slot)];
    for (let sweep = 0; sweep < 3; sweep++) {          // order each column by its parents' mean position
      cols.forEach((col, x) => {
        if (x === 0) return;
        const mean = (s) => { const ps = parents(s, x).map((p) => pos.get(p)); return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : pos.get(s.id); };
        const keyed = col.map((s) => [mean(s), s]);
        keyed.sort((a, b) => a[0] - b[0]);
        keyed.forEach(([, s], y) => { col[y] = s; pos.set(s.id, y); });
      });
    }
    return cols;
  }

  function prevOf(edge, via) {
    const i = edge.vias.indexOf(via);
    return i === 0 ? edge.src : edge.vias[i - 1].id;
  }

  function sizes(ids, info, edges) {
    const longest = (xs) => Math.max(0, ...xs.map((s) => s.length));
    const w = Math.max(150, 80 + longest(ids) * NAME_PX, 28 + longest(ids.map((id) => info.routines[id]["class"] || "")) * SUB_PX);
    const gap = Math.max(80, 28 + longest(edges.map((e) => e.label)) * LABEL_PX);
    return { W: Math.ceil(w), GAPX: Math.ceil(gap) };
  }

  function drawFlow(container, info, states) {
    container.innerHTML = "";
    const ids = Object.keys(info.routines || {});
    const edges = edgesOf(info);
    const cyclic = backEdges(ids, edges);
    const rank = ranks(ids, edges.filter((e) => e.src !== e.dst && !cyclic.has(e)));
    const forward = edges.filter((e) => rank[e.dst] > rank[e.src]);
    const cols = columns(ids, forward, rank);
    const { W, GAPX } = sizes(ids, info, edges);
    const back = edges.filter((e) => e.src !== e.dst && rank[e.dst] <= rank[e.src]);
    const tallest = Math.max(1, ...cols.map((c) => c.length));
    const bodyH = tallest * H + (tallest - 1) * GAPY;
    const side = back.length ? 24 + back.length * 6 : 0, loops = edges.some((e) => e.src === e.dst) ? 48 : 0;
    const width = PAD * 2 + side * 2 + cols.length * W + (cols.length - 1) * GAPX + loops;
    const height = PAD * 2 + bodyH + back.length * LANE + (back.length ? 30 : 0);
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "flow graph" }, container);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, el("defs", {}, svg));
    el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }, marker);
    const at = {};
    cols.forEach((col, x) => {
      const offset = (bodyH - (col.length * H + (col.length - 1) * GAPY)) / 2;
      col.forEach((s, y) => (at[s.id] = { x: PAD + side + x * (W + GAPX), y: PAD + offset + y * (H + GAPY) }));
    });
    const edgeLayer = el("g", {}, svg);
    const lanes = { next: 0 };
    for (const e of edges) drawEdge(edgeLayer, e, at, { W, GAPX, laneY: PAD + bodyH + 22, lanes, back: back.includes(e) });
    const nodes = {};
    for (const id of ids) nodes[id] = drawNode(svg, id, info.routines[id], at[id], W);
    const api = {
      color(map) {
        for (const [id, n] of Object.entries(nodes)) {
          const s = (map && map[id]) || {};
          const status = typeof s === "string" ? s : s.status || "pending";
          n.g.setAttribute("class", `node ${status}`);
          n.g.setAttribute("data-status", status);
          n.runs.textContent = typeof s === "object" && s.runs ? `${s.runs} run${s.runs === 1 ? "" : "s"}` : "";
        }
      },
    };
    api.color(states || {});
    return api;
  }

  function drawEdge(layer, e, at, o) {
    const g = el("g", { class: "edge", "data-from": e.from, "data-to": e.to }, layer);
    const a = at[e.src], b = at[e.dst], W = o.W;
    let d, lx, ly;
    if (e.src === e.dst) {            // a loop out into the gap on the right and back
      d = `M${a.x + W},${a.y + 12} C${a.x + W + 44},${a.y + 2} ${a.x + W + 44},${a.y + H - 2} ${a.x + W + 2},${a.y + H - 12}`;
      lx = a.x + W - 4; ly = a.y + H + 13;
    } else if (o.back) {              // down the gap after the source, along a lane under every node, up the gap before the target
      const lane = o.laneY + o.lanes.next++ * LANE, out = a.x + W + 14 + o.lanes.next * 6, into = b.x - 14 - o.lanes.next * 6;
      d = `M${a.x + W},${a.y + H / 2 + 8} L${out},${a.y + H / 2 + 8} L${out},${lane} L${into},${lane} L${into},${b.y + H / 2 + 8} L${b.x - 2},${b.y + H / 2 + 8}`;
      lx = (out + into) / 2; ly = lane + 12;
    } else {
      const pts = [[a.x + W, a.y + H / 2]];
      for (const v of e.vias) pts.push([at[v.id].x, at[v.id].y + H / 2], [at[v.id].x + W, at[v.id].y + H / 2]);
      pts.push([b.x - 2, b.y + H / 2]);
      d = `M${pts[0][0]},${pts[0][1]}`;
      for (let i = 1; i < pts.length; i++) {
        const [x0, y0] = pts[i - 1], [x1, y1] = pts[i], mid = (x0 + x1) / 2;
        d += i % 2 ? ` C${mid},${y0} ${mid},${y1} ${x1},${y1}` : ` L${x1},${y1}`;
      }
      lx = (pts[0][0] + pts[1][0]) / 2; ly = (pts[0][1] + pts[1][1]) / 2 - 6;
    }
    el("path", { d, "marker-end": "url(#arrow)" }, g);
    const t = el("text", { x: lx, y: ly, "text-anchor": e.src === e.dst ? "end" : "middle" }, g);
    t.textContent = shown(e.label);
  }

  // Bidi and control characters are shown, not obeyed (core.js defines the rule).
  function shown(s) { return window.routiluxVisible ? window.routiluxVisible(s) : s; }

  function drawNode(svg, id, r, p, W) {
    const g = el("g", { class: "node", "data-routine": id, transform: `translate(${p.x},${p.y})` }, svg);
    el("rect", { width: W, height: H, rx: 9 }, g);
    el("rect", { class: "bar", width: 6, height: H - 4, x: 2, y: 2, rx: 3 }, g);
    el("text", { x: 16, y: 21 }, g).textContent = shown(id);
    el("text", { x: 16, y: 39, class: "sub" }, g).textContent = shown(r["class"] || "");
    const runs = el("text", { x: W - 8, y: 21, class: "runs", "text-anchor": "end" }, g);
    el("title", {}, g).textContent = shown(`${id} (${r["class"] || ""})`);
    return { g, runs };
  }

  window.RoutiluxGraph = { drawFlow };
})();
