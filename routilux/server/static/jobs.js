/* The jobs page: search with filters kept in the URL (a view is a link), saved views, bulk actions on the
   matching jobs after a confirmation that shows the count, a duration column, and the submit form. */
(function () {
  "use strict";
  const R = window.Routilux, h = R.h;
  const FIELDS = ["id", "flow", "status", "since", "until", "error"];
  const STATUSES = ["running", "paused", "completed", "failed", "cancelled", "pending"];
  const COLUMNS = [["Job"], ["Flow"], ["Status"], ["Pri", "num pri", "priority: 0 to 9, higher runs first when workers are busy"], ["Tenant", "tenant"],
    ["Created"], ["Duration", "num"], ["Error"]];
  const BULK = { cancel: "Cancel", delete: "Delete", resume: "Resume", replay_dead_letters: "Replay dead letters of" };

  // "status:failed,running flow:orders since:1h error:"no stock" customer=42 d027" <-> URL query of the same filters.
  function parseSearch(text) {
    const q = new URLSearchParams();
    for (const m of text.matchAll(/(\S+?)([:=])("[^"]*"|\S*)/g)) {
      const [, key, sep, raw] = m, value = raw.replace(/^"|"$/g, "");
      if (sep === ":" && FIELDS.includes(key)) q.set(key, value);
      else q.append("where", `${key}=${value}`);
    }
    const bare = text.replace(/(\S+?)([:=])("[^"]*"|\S*)/g, "").trim();
    if (bare) q.set("id", bare.split(/\s+/)[0]);
    return q;
  }
  function searchText(q) {
    const quote = (v) => (/\s/.test(v) ? `"${v}"` : v);
    return [...FIELDS.filter((k) => q.get(k)).map((k) => `${k}:${quote(q.get(k))}`),
            ...q.getAll("where").map(quote)].join(" ");
  }
  // The filters as the API takes them: a relative "since:1h" becomes a time now.
  function apiQuery(q) {
    const out = new URLSearchParams();
    for (const k of FIELDS) if (q.get(k)) out.set(k, /^(since|until)$/.test(k) ? absolute(q.get(k)) : q.get(k));
    q.getAll("where").forEach((w) => out.append("where", w));
    return out;
  }
  function absolute(value) {
    const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$/.exec(value.trim());
    if (!m) return value;
    const unit = { s: 1, m: 60, min: 60, h: 3600, d: 86400 }[m[2]];
    return new Date(Date.now() - Number(m[1]) * unit * 1000).toISOString();
  }
  function filterBody(q) {
    const f = {};
    for (const k of FIELDS) if (q.get(k)) f[k] = k === "status" ? q.get(k).split(",") : /^(since|until)$/.test(k) ? absolute(q.get(k)) : q.get(k);
    if (q.getAll("where").length) f.where = q.getAll("where");
    return f;
  }

  R.page(/^#\/jobs\/?$/, async function jobsPage() {
    const q = R.query();
    const operator = await R.canOperate();
    const search = h("input", { id: "search", type: "search", class: "search", value: searchText(q), autocomplete: "off",
      placeholder: 'Search: id prefix, status:failed,running flow:orders since:1h error:"timeout" key=value   ( / )' });
    const chips = h("div", { class: "chips", id: "status-chips" }, STATUSES.map((s) => {
      const on = (q.get("status") || "").split(",").includes(s);
      return h("button", { class: `chip ${s}${on ? " on" : ""}`, "data-status": s, onclick: () => toggleStatus(s) }, s);
    }));
    const body = h("tbody");
    const more = h("button", { class: "hidden", onclick: () => load(true) }, "Load more");
    const count = h("span", { class: "muted", id: "jobs-count" });
    let cursor = null;
    function go(next) { location.hash = `#/jobs${next.toString() ? "?" + next : ""}`; }
    function toggleStatus(s) {
      const set = new Set((q.get("status") || "").split(",").filter(Boolean));
      set.has(s) ? set.delete(s) : set.add(s);
      const next = new URLSearchParams(q); set.size ? next.set("status", [...set].join(",")) : next.delete("status"); go(next);
    }
    search.addEventListener("keydown", (e) => { if (e.key === "Enter") go(parseSearch(search.value)); if (e.key === "Escape") search.blur(); });
    async function load(append) {
      const params = apiQuery(q); params.set("limit", "50");
      if (append && cursor) params.set("cursor", cursor);
      let page;
      try { page = await R.api("GET", `/api/jobs?${params}`); }
      catch (e) { body.replaceChildren(h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty error" }, e.message))); return; }
      if (!append) body.innerHTML = "";
      for (const j of page.jobs) body.append(jobRow(j));
      // Priority and tenant columns show once any row carries the field (servers before them send neither).
      for (const [field, cls] of [["priority", "has-priority"], ["tenant", "has-tenant"]])
        if (page.jobs.some((j) => j[field] !== undefined && j[field] !== null)) table.classList.add(cls);
      if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty" }, q.toString() ? "No job matches this search." : "No jobs yet. Submit one above.")));
      cursor = page.next_cursor; more.classList.toggle("hidden", !cursor);
      count.textContent = `${body.querySelectorAll("tr[data-job]").length}${cursor ? "+" : ""} shown`;
    }
    const table = h("table", { id: "jobs", class: "rows" }, h("thead", {}, h("tr", {}, COLUMNS.map(([t, cls, title]) => h("th", { class: cls, title }, t)))), body);
    const formSlot = h("div");
    R.view.append(h("h1", {}, "Jobs"), formSlot,
      h("div", { class: "card" },
        h("div", { class: "toolbar" }, search, h("button", { onclick: () => go(parseSearch(search.value)) }, "Search"),
          q.toString() ? h("a", { href: "#/jobs", class: "clear" }, "clear") : null),
        h("div", { class: "toolbar" }, chips, h("span", { class: "spacer" }), savedViews(q), count),
        operator && q.toString() ? bulkBar(q) : null,
        h("div", { class: "scroll" }, table), more));
    await Promise.all([load(false), operator ? submitCard().then((card) => formSlot.replaceWith(card)) : null]);
    R.onLeave(R.stream("/api/events", R.debounce(() => load(false), 400)));
  });

  function jobRow(j) {
    const running = !R.TERMINAL.has(j.status);
    const secs = j.duration_s ?? (j.ended_at && j.created_at ? (Date.parse(j.ended_at) - Date.parse(j.created_at)) / 1000 : null);
    const link = (id) => h("a", { href: `#/jobs/${id}`, class: "mono" }, R.short(id));
    const kids = j.children || [], wait = running ? R.waitingFor(j) : "";
    return h("tr", { "data-job": j.job_id, "data-href": `#/jobs/${j.job_id}` },
      h("td", { class: "nowrap" }, link(j.job_id),
        j.parent && j.parent.job_id ? h("div", { class: "muted small parent" }, "sub-flow of ", link(j.parent.job_id)) : null,
        kids.length ? h("div", { class: "muted small children", title: R.visible(kids.map((c) => c.job_id).join("\n")) }, `${kids.length} sub-flow${kids.length === 1 ? "" : "s"}`) : null),
      h("td", {}, j.flow_id ? h("a", { href: `#/flows/${encodeURIComponent(j.flow_id)}` }, j.flow_id) : ""),
      h("td", { class: "nowrap status" }, R.badge(j.status), wait ? [" ", h("span", { class: "pill warn waiting", title: R.visible(`waiting for ${wait}`) }, "waiting")] : null),
      h("td", { class: "num pri" }, j.priority ?? ""), h("td", { class: "tenant wrap" }, j.tenant ?? ""),
      h("td", { class: "muted nowrap" }, R.when(j.created_at)),
      h("td", { class: "nowrap num duration" }, running ? h("span", { class: "muted" }, "—") : R.duration(secs)),
      h("td", { class: "error clip" }, (j.error || "").slice(0, 140)));
  }

  function savedViews(q) {
    const saved = JSON.parse(localStorage.getItem("routilux.views") || "[]");
    const box = h("div", { class: "views", id: "saved-views" }, saved.map((v) =>
      h("span", { class: "view-chip" }, h("a", { href: `#/jobs?${v.q}` }, v.name),
        h("button", { class: "link x", title: "forget this view", onclick: () => { store(saved.filter((s) => s !== v)); } }, "×"))));
    const store = (list) => { localStorage.setItem("routilux.views", JSON.stringify(list)); box.replaceWith(savedViews(q)); };
    if (q.toString()) box.append(h("button", { id: "save-view", onclick: () => {
      const name = prompt("Name this view", searchText(q));
      if (name) store([...saved.filter((s) => s.name !== name), { name, q: q.toString() }]);
    } }, "Save view"));
    return box;
  }

  // Bulk: a dry run counts the matching jobs; the confirmation shows the count; the action runs only if it still matches.
  function bulkBar(q) {
    const action = h("select", { id: "bulk-action" }, Object.entries(BULK).map(([k, v]) => h("option", { value: k }, `${v} all matching`)));
    return h("div", { class: "toolbar bulk" }, h("span", { class: "muted" }, "Bulk:"), action,
      h("button", { id: "bulk-go", class: "danger", onclick: () => bulk(action.value, filterBody(q), searchText(q)) }, "Apply…"));
  }
  async function bulk(action, filter, described) {
    let preview;
    try { preview = await R.api("POST", "/api/jobs/bulk", { action, filter, dry_run: true }); }
    catch (e) { R.toast(`Bulk ${action} failed: ${e.message}`, true); return; }
    for (;;) {
      if (!(await confirmBulk(action, preview, described))) return;
      try {
        const out = await R.api("POST", "/api/jobs/bulk", { action, filter, dry_run: false, expect: preview.matched });
        const failed = (out.failed || []).length;
        R.toast(`${BULK[action]}: ${out.done} of ${out.matched} done${failed ? `, ${failed} failed (${out.failed[0].error})` : ""}`, failed > 0);
        window.dispatchEvent(new HashChangeEvent("hashchange"));
        return;
      } catch (e) {
        if (e.status !== 409) { R.toast(`Bulk ${action} failed: ${e.message}`, true); return; }
        preview = await R.api("POST", "/api/jobs/bulk", { action, filter, dry_run: true });   // the match changed: confirm the new count
      }
    }
  }
  function confirmBulk(action, preview, described) {
    const dlg = document.getElementById("bulk-confirm");
    const n = preview.matched;
    dlg.replaceChildren(h("form", { method: "dialog" },
      h("h2", {}, `${BULK[action]} ${n} job${n === 1 ? "" : "s"}?`),
      h("p", {}, "Matching ", h("code", {}, described || "every job"), n ? "" : ": nothing to do."),
      n ? h("ul", { class: "ids mono" }, preview.job_ids.slice(0, 12).map((id) => h("li", {}, R.short(id))), n > 12 ? h("li", { class: "muted" }, `… and ${n - 12} more`) : null) : null,
      h("div", { class: "toolbar end" }, h("button", { value: "no" }, "Keep them"),
        h("button", { value: "yes", class: "primary danger-bg", id: "bulk-confirm-yes", disabled: !n }, `${BULK[action]} ${n}`))));
    dlg.showModal();
    return new Promise((resolve) => dlg.addEventListener("close", () => resolve(dlg.returnValue === "yes"), { once: true }));
  }

  // ---- submit form: which params the entry slot takes, and a warning for one it does not ----------------
  async function submitCard() {
    const { flows } = await R.api("GET", "/api/flows");
    const flowSel = h("select", { id: "submit-flow" }, flows.map((f) => h("option", { value: f.flow_id }, f.flow_id)));
    const entrySel = h("select", { id: "submit-entry" });
    const params = h("input", { id: "submit-params", class: "mono grow", placeholder: '{"value": 1}', value: "{}" });
    const hint = h("div", { id: "submit-hint", class: "hint" });
    let slots = {};
    async function entries() {
      entrySel.innerHTML = ""; slots = {};
      if (!flowSel.value) return;
      const info = await R.api("GET", `/api/flows/${encodeURIComponent(flowSel.value)}`);
      for (const [id, r] of Object.entries(info.graph.routines)) {
        const trigger = (r.slots || []).find((s) => s.name === "trigger");
        if (trigger) { entrySel.append(h("option", { value: id }, id)); slots[id] = trigger.params; }
      }
      check();
    }
    function check() {
      const takes = slots[entrySel.value];
      const entry = R.visible(entrySel.value);   // names are shown spelled out, never obeyed
      hint.classList.remove("warn");
      if (!takes) { hint.textContent = entrySel.value ? `${entry}.trigger: parameters unknown here (the console did not import its class)` : ""; return; }
      const names = takes.names.length ? takes.names.join(", ") : "no parameters";
      hint.textContent = R.visible(`${entry}.trigger takes: ${names}${takes.any ? " (and any other)" : ""}`);
      let given;
      try { given = JSON.parse(params.value || "{}"); } catch (e) { hint.textContent += ` · not JSON yet: ${e.message}`; hint.classList.add("warn"); return; }
      const unknown = Object.keys(given || {}).filter((k) => !takes.names.includes(k));
      if (unknown.length) {
        hint.classList.add("warn");
        hint.textContent = R.visible(`${unknown.join(", ")}: not a parameter of ${entry}.trigger, which takes ${names}${takes.any ? " (others are passed on unread)" : ""}`);
      }
    }
    flowSel.addEventListener("change", entries);
    entrySel.addEventListener("change", check);
    params.addEventListener("input", check);
    await entries();
    const submit = h("button", { class: "primary", id: "submit-job", disabled: !flows.length, onclick: async () => {
      let p;
      try { p = JSON.parse(params.value || "{}"); } catch (e) { R.toast("Parameters are not JSON: " + e.message, true); return; }
      const out = await R.act("Submit", "Job submitted", () => R.api("POST", "/api/jobs", { flow: flowSel.value, entry: entrySel.value, params: p }));
      if (out) location.hash = `#/jobs/${out.job_id}`;
    } }, "Submit job");
    return h("div", { class: "card" }, h("h2", {}, "Submit a job"),
      flows.length ? [h("div", { class: "toolbar" }, h("label", {}, "Flow ", flowSel), h("label", {}, "Entry ", entrySel),
        h("label", { class: "grow row-label" }, "Params", params), submit), hint]
        : h("p", { class: "muted" }, "No published flows yet: publish one with DistributedRuntime.publish(flow) or routilux submit."));
  }
})();
