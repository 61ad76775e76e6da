/* Flows: the list, and one flow's graph, routines with their p50/p95 step times, connections, and a
   throughput and failure-rate chart over the last hour (inline SVG). */
(function () {
  "use strict";
  const R = window.Routilux, h = R.h;

  R.page(/^#\/flows\/?$/, async function flowsPage() {
    const { flows } = await R.api("GET", "/api/flows");
    R.view.append(h("h1", {}, "Flows"), h("div", { class: "card scroll" }, flows.length ? h("table", { id: "flows", class: "rows" },
      h("thead", {}, h("tr", {}, ["Flow", "Latest version", "Versions", "Published"].map((t) => h("th", {}, t)))),
      h("tbody", {}, flows.map((f) => h("tr", { "data-href": `#/flows/${encodeURIComponent(f.flow_id)}` },
        h("td", {}, h("a", { href: `#/flows/${encodeURIComponent(f.flow_id)}` }, f.flow_id)),
        h("td", { class: "mono" }, (f.latest || "").slice(0, 12)), h("td", {}, f.versions.length),
        h("td", { class: "muted nowrap" }, R.when((f.versions[f.versions.length - 1] || {}).published_at))))))
      : h("p", { class: "empty" }, "No flows published yet.")));
  });

  R.page(/^#\/flows\/([^/?]+)$/, async function flowPage(flowId) {
    const version = R.query().get("version");
    const data = await R.api("GET", `/api/flows/${encodeURIComponent(flowId)}${version ? `?version=${version}` : ""}`);
    const g = data.graph;
    const stats = await R.api("GET", `/api/flows/${encodeURIComponent(g.flow_id)}/stats?window=1h&buckets=30`).catch(() => null);
    const pick = h("select", { id: "flow-version" }, data.versions.map((v) => h("option", { value: v.hash }, `${v.hash.slice(0, 12)} · ${new Date(v.published_at).toLocaleString()}`)));
    pick.value = g.hash;
    pick.addEventListener("change", () => { location.hash = `#/flows/${encodeURIComponent(flowId)}?version=${pick.value}`; });
    const box = h("div", { class: "graph", id: "flow-graph" });
    const per = (stats && stats.routines) || {};
    const ms = (v) => (v === null || v === undefined ? "—" : R.duration(v / 1000));
    R.view.append(h("h1", {}, "Flow ", h("span", { class: "mono" }, g.flow_id)),
      h("div", { class: "card" }, h("div", { class: "toolbar" }, h("label", {}, "Version ", pick),
        h("span", { class: "muted" }, `${Object.keys(g.routines).length} routines, ${g.connections.length} connections`)), box),
      h("div", { class: "card" }, h("h2", {}, "Last hour"), stats ? chart(stats) : h("p", { class: "muted" }, "No statistics from this server.")),
      h("div", { class: "row" },
        h("div", { class: "card scroll" }, h("h2", {}, "Routines"), h("table", { id: "flow-routines" }, h("thead", {}, h("tr", {}, ["Routine", "Class", "Slots", "Steps", "Failed", "p50", "p95"].map((t) => h("th", {}, t)))),
          h("tbody", {}, Object.entries(g.routines).map(([id, r]) => h("tr", { "data-routine": id }, h("td", {}, id), h("td", { class: "mono wrap" }, r["class"]),
            h("td", {}, (r.slots || []).map((sl) => `${sl.name}${sl.params ? `(${sl.params.names.join(", ")})` : ""}`).join(", ")),
            h("td", { class: "num" }, per[id] ? per[id].count : "—"), h("td", { class: "num" }, per[id] ? per[id].failed : "—"),
            h("td", { class: "num nowrap p50" }, ms(per[id] && per[id].p50_ms)), h("td", { class: "num nowrap p95" }, ms(per[id] && per[id].p95_ms))))))),
        h("div", { class: "card scroll" }, h("h2", {}, "Connections"), h("table", {}, h("thead", {}, h("tr", {}, ["From", "To", "Mapping"].map((t) => h("th", {}, t)))),
          h("tbody", {}, g.connections.map((c) => h("tr", {}, h("td", { class: "mono" }, c.from), h("td", { class: "mono" }, c.to),
            h("td", { class: "mono" }, c.param_mapping && Object.keys(c.param_mapping).length ? JSON.stringify(c.param_mapping) : "—"))))))));
    RoutiluxGraph.drawFlow(box, g, {});
  });

  // Jobs ended per bucket as stacked bars (completed, failed) and the failure rate as a line on its own 0-100 % scale.
  function chart(stats) {
    const NS = "http://www.w3.org/2000/svg", series = stats.series || [];
    const W = 900, H = 170, L = 36, B = 22, T = 8, top = Math.max(1, ...series.map((p) => p.completed + p.failed));
    const el = (name, attrs, parent, text) => {
      const n = document.createElementNS(NS, name);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      parent.appendChild(n); return n;
    };
    const svg = document.createElementNS(NS, "svg");
    for (const [k, v] of Object.entries({ viewBox: `0 0 ${W} ${H}`, class: "chart", id: "flow-chart", role: "img", "aria-label": "jobs ended and failure rate over time" })) svg.setAttribute(k, v);
    const bw = (W - L - 8) / Math.max(1, series.length), y = (n) => T + (H - T - B) * (1 - n / top);
    el("line", { x1: L, x2: W - 8, y1: H - B, y2: H - B, class: "axis" }, svg);
    el("text", { x: L - 4, y: T + 8, class: "tick", "text-anchor": "end" }, svg, top);
    el("text", { x: L - 4, y: H - B, class: "tick", "text-anchor": "end" }, svg, 0);
    let line = "";
    series.forEach((p, i) => {
      const x = L + i * bw + 1, total = p.completed + p.failed;
      const g = el("g", { class: "bucket" }, svg);
      el("title", {}, g, `${new Date(p.t).toLocaleTimeString()}: ${p.completed} completed, ${p.failed} failed`);
      el("rect", { x, y: y(p.completed), width: Math.max(1, bw - 2), height: H - B - y(p.completed), class: "ok" }, g);
      el("rect", { x, y: y(total), width: Math.max(1, bw - 2), height: y(p.completed) - y(total), class: "bad" }, g);
      if (total) line += `${line ? "L" : "M"}${x + bw / 2},${T + (H - T - B) * (1 - p.failed / total)} `;
      if (i % Math.ceil(series.length / 6) === 0) el("text", { x, y: H - 6, class: "tick" }, svg, R.clock(p.t).slice(0, 5));
    });
    if (line) el("path", { d: line, class: "rate" }, svg);
    const sum = (k) => series.reduce((a, p) => a + p[k], 0), done = sum("completed"), failed = sum("failed");
    return h("div", {}, svg, h("p", { class: "muted note", id: "flow-rate" },
      `${done + failed} jobs ended: ${done} completed, ${failed} failed (${done + failed ? Math.round((100 * failed) / (done + failed)) : 0} % failure rate). Bars: jobs ended per ${R.duration((stats.window_s || 3600) / Math.max(1, series.length))}; line: failure rate.`));
  }
})();
