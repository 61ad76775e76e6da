/* Draws a flow as an SVG graph: routines in layers (longest path from the sources), connections as curves.
   drawFlow(container, flowInfo, states) -> {color(states)} ; states: {routine_id: "completed" | ...} */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const W = 168, H = 52, GAPX = 96, GAPY = 26, PAD = 24;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function edgesOf(info) {
    return (info.connections || []).map((c) => {
      const [src, event] = splitRef(c.from), [dst, slot] = splitRef(c.to);
      return { src, dst, label: `${event} → ${slot}` };
    }).filter((e) => e.src in info.routines && e.dst in info.routines);
  }

  function splitRef(ref) {
    const i = ref.lastIndexOf(".");
    return i < 0 ? [ref, ""] : [ref.slice(0, i), ref.slice(i + 1)];
  }

  function layers(ids, edges) {
    const rank = Object.fromEntries(ids.map((id) => [id, 0]));
    for (let pass = 0; pass < ids.length; pass++) {   // longest path, bounded so cycles stop
      let changed = false;
      for (const e of edges) {
        if (e.src !== e.dst && rank[e.dst] < rank[e.src] + 1 && rank[e.src] + 1 < ids.length) {
          rank[e.dst] = rank[e.src] + 1; changed = true;
        }
      }
      if (!changed) break;
    }
    const cols = [];
    for (const id of ids) (cols[rank[id]] = cols[rank[id]] || []).push(id);
    const pos = {};
    cols.forEach((col, x) => col.forEach((id, y) => (pos[id] = y)));
    for (let sweep = 0; sweep < 2; sweep++) {           // order each column by its parents' mean position
      cols.forEach((col, x) => {
        if (x === 0) return;
        const mean = (id) => {
          const ps = edges.filter((e) => e.dst === id && rank[e.src] < x).map((e) => pos[e.src]);
          return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : pos[id];
        };
        col.sort((a, b) => mean(a) - mean(b));
        col.forEach((id, y) => (pos[id] = y));
      });
    }
    return { cols: cols.map((c) => c || []), rank };
  }

  function drawFlow(container, info, states) {
    container.innerHTML = "";
    const ids = Object.keys(info.routines || {});
    const edges = edgesOf(info);
    const { cols } = layers(ids, edges);
    const tallest = Math.max(1, ...cols.map((c) => c.length));
    const width = PAD * 2 + cols.length * W + (cols.length - 1) * GAPX;
    const height = PAD * 2 + tallest * H + (tallest - 1) * GAPY;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "flow graph" }, container);
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#b4bccc" }, marker);
    const at = {};
    cols.forEach((col, x) => {
      const offset = (height - PAD * 2 - (col.length * H + (col.length - 1) * GAPY)) / 2;
      col.forEach((id, y) => (at[id] = { x: PAD + x * (W + GAPX), y: PAD + offset + y * (H + GAPY) }));
    });
    const edgeLayer = el("g", {}, svg);
    for (const e of edges) {
      const a = at[e.src], b = at[e.dst];
      const g = el("g", { class: "edge" }, edgeLayer);
      let d;
      if (e.src === e.dst) {
        d = `M${a.x + W - 30},${a.y} C${a.x + W - 10},${a.y - 34} ${a.x + W + 20},${a.y - 10} ${a.x + W},${a.y + 14}`;
      } else {
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
        d = b.x > a.x ? `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`
                      : `M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + 50} ${b.x + W / 2},${b.y + H + 50} ${b.x + W / 2},${b.y + H + 2}`;
        const t = el("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle" }, g);
        t.textContent = e.label;
      }
      el("path", { d, "marker-end": "url(#arrow)" }, g).parentNode.insertBefore(g.lastChild, g.firstChild);
    }
    const nodes = {};
    for (const id of ids) {
      const p = at[id], r = info.routines[id];
      const g = el("g", { class: "node", "data-routine": id, transform: `translate(${p.x},${p.y})` }, svg);
      el("rect", { width: W, height: H, rx: 9 }, g);
      el("rect", { class: "bar", width: 6, height: H - 4, x: 2, y: 2, rx: 3 }, g);
      const name = el("text", { x: 16, y: 21 }, g);
      name.textContent = clip(id, 20);
      const sub = el("text", { x: 16, y: 39, class: "sub" }, g);
      sub.textContent = clip(r["class"] || "", 24);
      const title = el("title", {}, g);
      title.textContent = `${id} (${r["class"] || ""})`;
      nodes[id] = { g, sub, cls: r["class"] || "" };
    }
    const api = {
      color(map) {
        for (const [id, n] of Object.entries(nodes)) {
          const s = (map && map[id]) || {};
          const status = typeof s === "string" ? s : s.status || "pending";
          n.g.setAttribute("class", `node ${status}`);
          n.g.setAttribute("data-status", status);
          const c = `var(--${COLORS[status] || "pending"})`;
          n.g.querySelector("rect").style.stroke = c;
          n.g.querySelector(".bar").style.fill = c;
          const runs = typeof s === "object" && s.runs ? ` · ${s.runs} run${s.runs === 1 ? "" : "s"}` : "";
          n.sub.textContent = clip(n.cls, runs ? 14 : 24) + runs;
        }
      },
    };
    api.color(states || {});
    return api;
  }

  const COLORS = { pending: "pending", running: "running", completed: "completed", failed: "failed", error: "failed",
                   paused: "paused", cancelled: "cancelled", skipped: "skipped" };

  function clip(s, n) {
    s = window.routiluxVisible ? window.routiluxVisible(s) : s;   // bidi and control characters shown, not obeyed
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  window.RoutiluxGraph = { drawFlow };
})();
