/* The Routilux console: a no-build single page app over /api. Pages are hash routes. */
(function () {
  "use strict";
  const view = document.getElementById("view");
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  let cleanup = [];          // what the current page must stop when leaving (streams, timers)

  // ---- helpers -------------------------------------------------------------------------------
  // Bidi overrides, invisible marks and control characters could make a name read as another one:
  // show each as a visible "<U+202E>" instead.
  const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  const visible = (text) => text.replace(HIDDEN, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
  window.routiluxVisible = visible;
  const h = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) node.append(kid instanceof Node ? kid : visible(String(kid)));
    return node;
  };
  const badge = (status) => h("span", { class: `badge ${status || ""}`, "data-status": status || "" }, status || "?");
  const short = (id) => (id || "").slice(0, 8);
  const when = (iso) => {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  };
  const ago = (value) => {
    const t = typeof value === "number" ? (value > 1e12 ? value : value * 1000) : Date.parse(value);
    if (!t) return String(value || "");
    const s = Math.max(0, (Date.now() - t) / 1000);
    return s < 60 ? `${s.toFixed(0)} s ago` : `${(s / 60).toFixed(0)} min ago`;
  };
  const after = (a, b) => {   // stream entry ids "ms-seq": is a later than b?
    const entry = (id) => String(id).split(".")[0].split("-").map(Number);   // event ids add ".<position>"
    const [am, as] = entry(a), [bm, bs] = entry(b);
    return am > bm || (am === bm && as > bs);
  };
  const json = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));
  function toast(text, bad) {
    const t = document.getElementById("toast");
    t.textContent = text; t.className = "toast" + (bad ? " bad" : "");
    clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.add("hidden"), 3500);
  }

  // ---- auth and API --------------------------------------------------------------------------
  const token = () => sessionStorage.getItem("routilux.token") || "";
  function headers(extra) {
    const out = Object.assign({}, extra || {});
    if (token()) out.Authorization = `Bearer ${token()}`;
    return out;
  }
  function askToken(message) {
    const dlg = document.getElementById("login");
    document.getElementById("login-error").textContent = message || "";
    if (!dlg.open) dlg.showModal();
    return new Promise((resolve) => (askToken.waiting = resolve));
  }
  document.getElementById("login-form").addEventListener("submit", () => {
    sessionStorage.setItem("routilux.token", document.getElementById("token").value.trim());
    document.getElementById("signout").classList.remove("hidden");
    if (askToken.waiting) askToken.waiting();
  });
  document.getElementById("signout").addEventListener("click", () => { sessionStorage.removeItem("routilux.token"); location.reload(); });
  if (token()) document.getElementById("signout").classList.remove("hidden");

  async function api(method, path, body) {
    for (;;) {
      const res = await fetch(path, { method, headers: headers(method !== "GET" ? { "Content-Type": "application/json" } : {}),
                                      body: body !== undefined ? JSON.stringify(body) : undefined });
      if (res.status === 401) { await askToken(token() ? "That token was refused." : ""); continue; }
      if (res.status === 204) return null;
      const data = await res.json().catch(() => ({ error: { type: "BadResponse", message: res.statusText } }));
      if (!res.ok) { const e = new Error(data.error ? data.error.message : res.statusText); e.status = res.status; e.type = data.error && data.error.type; throw e; }
      return data;
    }
  }
  // act("Pause", "Paused", fn): toasts "Paused" when fn succeeds, "Pause failed: <reason>" when it throws.
  async function act(action, done, fn) {
    try { const out = await fn(); toast(done); return out === null ? true : out; }
    catch (e) { toast(`${action} failed: ${e.message}`, true); return null; }
  }

  // Server-Sent Events over fetch (EventSource cannot send the Authorization header).
  function stream(path, onEvent, onEnd) {
    const ctl = new AbortController();
    let last = null, stopped = false;
    const conn = document.getElementById("conn");
    async function run() {
      while (!stopped) {
        try {
          const res = await fetch(path, { headers: headers(last ? { "Last-Event-ID": last } : {}), signal: ctl.signal });
          if (res.status === 401) { await askToken("That token was refused."); continue; }
          if (!res.ok) { stopped = true; if (onEnd) onEnd(res.status); return; }
          conn.classList.add("live");
          const reader = res.body.getReader();
          const dec = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            let cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
              const ev = { id: null, event: "message", data: "" };
              for (const line of block.split("\n")) {
                const i = line.indexOf(":"); if (i <= 0) continue;
                const k = line.slice(0, i), v = line.slice(i + 1).replace(/^ /, "");
                if (k === "id") ev.id = v; else if (k === "event") ev.event = v; else if (k === "data") ev.data += v;
              }
              if (ev.id) last = ev.id;
              if (ev.data) onEvent(JSON.parse(ev.data), ev);
            }
          }
          conn.classList.remove("live");
          if (onEnd) { stopped = true; onEnd(200); return; }   // a job stream ends after the terminal status
        } catch (e) {
          conn.classList.remove("live");
          if (stopped || ctl.signal.aborted) return;
        }
        await new Promise((r) => setTimeout(r, 1500));
      }
    }
    run();
    return () => { stopped = true; ctl.abort(); conn.classList.remove("live"); };
  }
  function debounce(fn, ms) {
    let t = null;
    return () => { if (t) return; t = setTimeout(() => { t = null; fn(); }, ms); };
  }

  // ---- router --------------------------------------------------------------------------------
  const routes = [
    [/^#\/jobs\/([^/]+)$/, jobPage], [/^#\/jobs\/?$/, jobsPage], [/^#\/flows\/([^/]+)$/, flowPage],
    [/^#\/flows\/?$/, flowsPage], [/^#\/workers\/?$/, workersPage], [/^#\/dead-letters\/?$/, deadLettersPage],
  ];
  async function route() {
    cleanup.forEach((f) => f()); cleanup = [];
    const hash = location.hash || "#/jobs";
    for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", hash.startsWith(`#/${a.dataset.nav}`));
    for (const [re, page] of routes) {
      const m = hash.match(re);
      if (m) {
        view.innerHTML = "";
        try { await page(...m.slice(1).map(decodeURIComponent)); }
        catch (e) { view.append(h("div", { class: "card error" }, `${e.type || "Error"}: ${e.message}`)); }
        return;
      }
    }
    location.hash = "#/jobs";
  }
  window.addEventListener("hashchange", route);

  // ---- jobs ----------------------------------------------------------------------------------
  async function jobsPage() {
    const params = new URLSearchParams(sessionStorage.getItem("routilux.jobfilter") || "");
    const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "any status"),
      ["running", "paused", "completed", "failed", "cancelled", "pending"].map((s) => h("option", { value: s }, s)));
    status.value = params.get("status") || "";
    const flow = h("input", { id: "filter-flow", placeholder: "flow id", value: params.get("flow") || "" });
    const body = h("tbody");
    const more = h("button", { class: "hidden", onclick: () => load(true) }, "Load more");
    let cursor = null;
    async function load(append) {
      const q = new URLSearchParams({ limit: "50" });
      if (status.value) q.set("status", status.value);
      if (flow.value.trim()) q.set("flow", flow.value.trim());
      sessionStorage.setItem("routilux.jobfilter", q.toString());
      if (append && cursor) q.set("cursor", cursor);
      const page = await api("GET", `/api/jobs?${q}`);
      if (!append) body.innerHTML = "";
      for (const j of page.jobs) body.append(jobRow(j));
      if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No jobs yet. Submit one above.")));
      cursor = page.next_cursor; more.classList.toggle("hidden", !cursor);
    }
    status.addEventListener("change", () => load(false));
    flow.addEventListener("change", () => load(false));
    const formSlot = h("div");
    view.append(h("h1", {}, "Jobs"), formSlot,
      h("div", { class: "card" },
        h("div", { class: "toolbar" }, status, flow, h("span", { class: "muted" }, "updates live")),
        h("table", { id: "jobs" }, h("thead", {}, h("tr", {}, ["Job", "Flow", "Status", "Created", "Ended", "Error"].map((t) => h("th", {}, t)))), body),
        more));
    await Promise.all([load(false), submitCard().then((card) => formSlot.replaceWith(card))]);
    const refresh = debounce(() => load(false), 400);
    cleanup.push(stream("/api/events", refresh));
  }
  function jobRow(j) {
    return h("tr", { "data-job": j.job_id },
      h("td", {}, h("a", { href: `#/jobs/${j.job_id}`, class: "mono" }, short(j.job_id))),
      h("td", {}, j.flow_id ? h("a", { href: `#/flows/${encodeURIComponent(j.flow_id)}` }, j.flow_id) : ""),
      h("td", {}, badge(j.status)), h("td", { class: "muted" }, when(j.created_at)),
      h("td", { class: "muted" }, when(j.ended_at)), h("td", { class: "error" }, (j.error || "").slice(0, 90)));
  }
  async function submitCard() {
    const { flows } = await api("GET", "/api/flows");
    const flowSel = h("select", { id: "submit-flow" }, flows.map((f) => h("option", { value: f.flow_id }, f.flow_id)));
    const entrySel = h("select", { id: "submit-entry" });
    const params = h("input", { id: "submit-params", class: "mono", placeholder: '{"value": 1}', value: "{}", style: "width:100%" });
    async function entries() {
      entrySel.innerHTML = "";
      if (!flowSel.value) return;
      const info = await api("GET", `/api/flows/${encodeURIComponent(flowSel.value)}`);
      for (const [id, r] of Object.entries(info.graph.routines)) {
        if ((r.slots || []).some((s) => s.name === "trigger")) entrySel.append(h("option", { value: id }, id));
      }
    }
    flowSel.addEventListener("change", entries);
    await entries();
    const submit = h("button", { class: "primary", id: "submit-job", disabled: !flows.length, onclick: async () => {
      let p;
      try { p = JSON.parse(params.value || "{}"); } catch (e) { toast("Parameters are not JSON: " + e.message, true); return; }
      const out = await act("Submit", "Job submitted", () => api("POST", "/api/jobs", { flow: flowSel.value, entry: entrySel.value, params: p }));
      if (out) location.hash = `#/jobs/${out.job_id}`;
    } }, "Submit job");
    return h("div", { class: "card" }, h("h2", {}, "Submit a job"),
      flows.length ? h("div", { class: "toolbar" }, h("label", {}, "Flow ", flowSel), h("label", {}, "Entry ", entrySel),
        h("label", { style: "flex:1;min-width:220px;display:flex;gap:6px;align-items:center" }, "Params", params), submit)
        : h("p", { class: "muted" }, "No published flows yet: publish one with DistributedRuntime.publish(flow) or routilux submit."));
  }

  // ---- one job ---------------------------------------------------------------------------------
  async function jobPage(jobId) {
    const data = await api("GET", `/api/jobs/${jobId}`);
    const info = (await api("GET", `/api/flows/${data.job.metadata.flow_hash || data.summary.flow_hash}`)).graph;
    let summary = data.summary, job = data.job, routines = data.routines, live = true, positions = [], travelled = {};
    const title = h("h1", {}, "Job ", h("span", { class: "mono" }, jobId), h("span", { id: "job-status" }, badge(summary.status)),
      h("span", { id: "travel-banner", class: "pill hidden" }, "as it was"));
    const buttons = {
      pause: h("button", { id: "btn-pause", onclick: () => act("Pause", "Paused", () => api("POST", `/api/jobs/${jobId}/pause`, { reason: "paused from the console" })).then(refresh) }, "Pause"),
      resume: h("button", { id: "btn-resume", onclick: () => act("Resume", "Resumed", () => api("POST", `/api/jobs/${jobId}/resume`, {})).then(refresh) }, "Resume"),
      cancel: h("button", { id: "btn-cancel", class: "danger", onclick: () => confirm("Cancel this job for good?") && act("Cancel", "Cancelled", () => api("POST", `/api/jobs/${jobId}/cancel`, { reason: "cancelled from the console" })).then(refresh) }, "Cancel"),
      del: h("button", { id: "btn-delete", class: "danger", onclick: async () => { if (confirm("Delete this finished job?") && await act("Delete", "Deleted", () => api("DELETE", `/api/jobs/${jobId}`))) location.hash = "#/jobs"; } }, "Delete"),
    };
    const facts = h("div", { class: "facts" });
    const graphBox = h("div", { class: "graph", id: "job-graph" });
    const graph = RoutiluxGraph.drawFlow(graphBox, info, {});
    const timeline = h("ul", { class: "timeline", id: "timeline" });
    const slider = h("input", { type: "range", id: "travel", min: 0, max: 0, value: 0 });
    const where = h("span", { class: "where", id: "travel-where" }, "live");
    const liveBtn = h("button", { id: "travel-live", onclick: () => goLive() }, "Live");
    const forkBtn = h("button", { id: "btn-fork", class: "primary", onclick: fork }, "Fork from here");
    const stateBox = h("div", { id: "job-state" });
    view.append(h("div", { class: "pagehead" }, title, h("div", { class: "actions" }, Object.values(buttons))),
      h("div", { class: "card" }, facts),
      h("div", { class: "card" }, h("div", { class: "toolbar" }, h("h2", { style: "margin:0" }, "Flow"), legend()), graphBox),
      h("div", { class: "card" }, h("h2", {}, "Time travel"), h("div", { class: "travel" }, slider, where, liveBtn, forkBtn),
        h("p", { class: "muted", style: "margin:8px 0 0" }, "Drag to see the JobState as it was after any history entry; fork continues from there as a new job.")),
      h("div", { class: "row" }, h("div", { class: "card" }, h("h2", {}, "Timeline"), timeline), h("div", { class: "card" }, h("h2", {}, "State"), stateBox)));

    function render() {
      const states = live ? routines : travelled;
      graph.color(states);
      document.getElementById("job-status").replaceChildren(badge(live ? summary.status : job.status));
      const st = summary.status;
      buttons.pause.disabled = st !== "running"; buttons.resume.disabled = st !== "paused";
      buttons.cancel.disabled = TERMINAL.has(st); buttons.del.disabled = !TERMINAL.has(st);
      document.getElementById("travel-banner").classList.toggle("hidden", live);
      facts.replaceChildren(...[["Flow", h("a", { href: `#/flows/${encodeURIComponent(summary.flow_id)}` }, summary.flow_id)],
        ["Version", h("span", { class: "mono" }, (summary.flow_hash || "").slice(0, 12))], ["Created", when(summary.created_at)],
        ["Ended", when(summary.ended_at) || "—"],
        ["Activations", summary.activations ? `${summary.activations.done} done / ${summary.activations.known} known` : "—"],
        ...(summary.forked_from ? [["Forked from", h("a", { href: `#/jobs/${summary.forked_from}`, class: "mono" }, short(summary.forked_from))]] : []),
        ...(summary.error ? [["Error", h("span", { class: "error" }, summary.error)]] : []),
      ].map(([k, v]) => h("div", { class: k === "Error" ? "fact wide" : "fact" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v))));
      stateBox.replaceChildren(
        h("div", { class: "grid2" }, h("div", {}, h("h3", {}, "Shared data"), json(job.shared_data || {})),
          h("div", {}, h("h3", {}, "Output"), json(job.output_log || []))),
        (job.pending_tasks || []).length ? h("details", {}, h("summary", {}, `${job.pending_tasks.length} still to run here`), json(job.pending_tasks)) : "",
        h("details", {}, h("summary", {}, "Routine states"), json(job.routine_states || {})),
        h("details", {}, h("summary", {}, "Whole JobState"), json(job)));
      const at = !live && positions[Number(slider.value)];
      if (at) [...timeline.children].forEach((li) => li.classList.toggle("future", after(li.dataset.id, at.id)));
      else [...timeline.children].forEach((li) => li.classList.remove("future"));
    }
    async function refresh() {
      const d = await api("GET", `/api/jobs/${jobId}`).catch(() => null);
      if (!d) return;
      summary = d.summary; routines = d.routines;
      if (live) job = d.job;
      render();
    }
    const refreshSoon = debounce(refresh, 250);
    function addEvent(ev) {
      const idx = timeline.children.length;
      const what = ev.kind === "status" ? `status → ${ev.status}${ev.error ? ": " + ev.error : ""}`
        : ev.kind === "error" ? ev.error : `${ev.routine_id}.${ev.event_name} ${ev.data ? JSON.stringify(ev.data).slice(0, 120) : ""}`;
      timeline.append(h("li", { class: ev.kind + (ev.event_name === "error" || ev.kind === "error" ? " error" : ""), "data-index": idx, "data-id": ev.id },
        h("span", { class: "t" }, (ev.time || "").slice(11, 23)), h("span", {}, ev.kind === "status" ? badge(ev.status) : h("span", { class: "pill" }, ev.kind)), h("span", {}, what)));
      timeline.scrollTop = timeline.scrollHeight;
    }
    async function loadPositions() {
      positions = (await api("GET", `/api/jobs/${jobId}/history`)).positions;
      slider.max = Math.max(0, positions.length - 1);
      if (live) slider.value = slider.max;
    }
    slider.addEventListener("input", async () => {
      live = false;
      const p = positions[Number(slider.value)];
      if (!p) return;
      where.textContent = `entry ${Number(slider.value) + 1} of ${positions.length}: ${p.kind}${p.status ? " " + p.status : ""}${p.act ? " · " + p.act.slice(0, 10) : ""}`;
      const d = await api("GET", `/api/jobs/${jobId}/state?at=${encodeURIComponent(p.id)}`);
      if (!live && positions[Number(slider.value)] === p) { job = d.job; travelled = d.routines; render(); }
    });
    async function goLive() { live = true; where.textContent = "live"; await loadPositions(); await refresh(); }
    async function fork() {
      const p = live ? null : positions[Number(slider.value)];
      const out = await act("Fork", "Forked as a new job", () => api("POST", `/api/jobs/${jobId}/fork`, p ? { at: p.id } : {}));
      if (out) location.hash = `#/jobs/${out.job_id}`;
    }
    render();
    await loadPositions();
    const positionsSoon = debounce(loadPositions, 600);
    cleanup.push(stream(`/api/jobs/${jobId}/events`, (ev) => {
      if (window.__routiluxEvents) window.__routiluxEvents.push({ id: ev.id, received: performance.timeOrigin + performance.now() });
      addEvent(ev);
      refreshSoon(); positionsSoon();
    }, () => { refresh(); loadPositions(); }));
  }
  function legend() {
    return h("div", { class: "legend" }, ["pending", "running", "completed", "failed", "paused", "cancelled"].map((s) =>
      h("span", {}, h("i", { style: `background:var(--${s})` }), s)));
  }

  // ---- flows ---------------------------------------------------------------------------------
  async function flowsPage() {
    const { flows } = await api("GET", "/api/flows");
    view.append(h("h1", {}, "Flows"), h("div", { class: "card" }, flows.length ? h("table", { id: "flows" },
      h("thead", {}, h("tr", {}, ["Flow", "Latest version", "Versions", "Published"].map((t) => h("th", {}, t)))),
      h("tbody", {}, flows.map((f) => h("tr", {},
        h("td", {}, h("a", { href: `#/flows/${encodeURIComponent(f.flow_id)}` }, f.flow_id)),
        h("td", { class: "mono" }, (f.latest || "").slice(0, 12)), h("td", {}, f.versions.length),
        h("td", { class: "muted" }, when((f.versions[f.versions.length - 1] || {}).published_at))))))
      : h("p", { class: "empty" }, "No flows published yet.")));
  }
  async function flowPage(flowId, version) {
    const data = await api("GET", `/api/flows/${encodeURIComponent(flowId)}${version ? `?version=${version}` : ""}`);
    const g = data.graph;
    const pick = h("select", { id: "flow-version" }, data.versions.map((v) => h("option", { value: v.hash }, `${v.hash.slice(0, 12)} · ${when(v.published_at)}`)));
    pick.value = g.hash;
    pick.addEventListener("change", () => { view.innerHTML = ""; flowPage(flowId, pick.value); });
    const box = h("div", { class: "graph", id: "flow-graph" });
    view.append(h("h1", {}, "Flow ", h("span", { class: "mono" }, g.flow_id)),
      h("div", { class: "card" }, h("div", { class: "toolbar" }, h("label", {}, "Version ", pick),
        h("span", { class: "muted" }, `${Object.keys(g.routines).length} routines, ${g.connections.length} connections`)), box),
      h("div", { class: "row" },
        h("div", { class: "card" }, h("h2", {}, "Routines"), h("table", {}, h("thead", {}, h("tr", {}, ["Routine", "Class", "Slots", "Events"].map((t) => h("th", {}, t)))),
          h("tbody", {}, Object.entries(g.routines).map(([id, r]) => h("tr", {}, h("td", {}, id), h("td", { class: "mono" }, r["class"]),
            h("td", {}, (r.slots || []).map((s) => `${s.name} (${s.merge_strategy})`).join(", ")),
            h("td", {}, (r.events || []).map((e) => `${e.name}(${(e.params || []).join(", ")})`).join(", "))))))),
        h("div", { class: "card" }, h("h2", {}, "Connections"), h("table", {}, h("thead", {}, h("tr", {}, ["From", "To", "Mapping"].map((t) => h("th", {}, t)))),
          h("tbody", {}, g.connections.map((c) => h("tr", {}, h("td", { class: "mono" }, c.from), h("td", { class: "mono" }, c.to),
            h("td", { class: "mono" }, c.param_mapping && Object.keys(c.param_mapping).length ? JSON.stringify(c.param_mapping) : "—"))))))));
    RoutiluxGraph.drawFlow(box, g, {});
  }

  // ---- workers -------------------------------------------------------------------------------
  async function workersPage() {
    const body = h("tbody");
    view.append(h("h1", {}, "Workers"), h("div", { class: "card" }, h("table", { id: "workers" },
      h("thead", {}, h("tr", {}, ["Worker", "Host", "PID", "Queues", "Concurrency", "Last renewed", "Running now"].map((t) => h("th", {}, t)))), body)));
    async function load() {
      const { workers } = await api("GET", "/api/workers");
      body.replaceChildren(...(workers.length ? workers.map((w) => h("tr", { "data-worker": w.name },
        h("td", { class: "mono" }, w.name), h("td", {}, w.host || ""), h("td", {}, w.pid || ""),
        h("td", {}, (w.queues || []).join(", ")), h("td", {}, w.concurrency || ""), h("td", { class: "muted" }, ago(w.last_renewed)),
        h("td", {}, (w.running || []).length ? h("ul", { style: "margin:0;padding-left:16px" }, w.running.map((r) =>
          h("li", {}, h("a", { href: `#/jobs/${r.job_id}`, class: "mono" }, short(r.job_id)), ` ${r.routine_id}.${r.slot}`))) : h("span", { class: "muted" }, "idle"))))
        : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No live workers. Start one: routilux worker --import your.module"))]));
    }
    await load();
    const timer = setInterval(() => load().catch(() => {}), 2000);
    cleanup.push(() => clearInterval(timer));
  }

  // ---- dead letters --------------------------------------------------------------------------
  async function deadLettersPage() {
    const body = h("tbody");
    view.append(h("h1", {}, "Dead letters"), h("p", { class: "muted" }, "Activations given up on (too many attempts, a routine class no worker imported) and messages that are not Routilux activations. Replay re-queues the activation on its job; the job resumes if it failed only because of it."),
      h("div", { class: "card" }, h("table", { id: "dead-letters" }, h("thead", {}, h("tr", {}, ["Entry", "Job", "Routine", "Reason", "When", ""].map((t) => h("th", {}, t)))), body)));
    async function load() {
      const { dead_letters } = await api("GET", "/api/dead-letters");
      body.replaceChildren(...(dead_letters.length ? dead_letters.map((d) => h("tr", { "data-dead": d.id },
        h("td", { class: "mono" }, d.id), h("td", {}, d.job ? h("a", { href: `#/jobs/${d.job}`, class: "mono" }, short(d.job)) : h("span", { class: "muted" }, "none")),
        h("td", {}, d.envelope ? `${d.envelope.routine}.${d.envelope.slot}` : ""),
        h("td", {}, h("div", { class: "error" }, d.reason || ""), h("details", {}, h("summary", {}, "inspect"), json(d.envelope || d))),
        h("td", { class: "muted" }, ago(Number(d.ts) || d.ts)),
        h("td", { style: "white-space:nowrap" },
          h("button", { class: "primary", disabled: !d.job, onclick: async () => { if (await act("Replay", "Replayed", () => api("POST", `/api/dead-letters/${d.id}/replay`))) load(); } }, "Replay"), " ",
          h("button", { class: "danger", onclick: async () => { if (confirm("Discard this dead letter?") && await act("Discard", "Discarded", () => api("DELETE", `/api/dead-letters/${d.id}`))) load(); } }, "Discard"))))
        : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No dead letters."))]));
    }
    await load();
    cleanup.push(stream("/api/events", debounce(() => load().catch(() => {}), 500)));
  }

  route();
})();
