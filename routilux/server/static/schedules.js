/* Schedules: each one's cron or interval, time zone, overlap and catch-up policies, state, next and last
   fire times, counts and recent jobs; pause, resume, trigger and delete, and a form to add one (operators). */
(function () {
  "use strict";
  const R = window.Routilux, h = R.h;
  const COUNTS = ["fired", "triggered", "skipped", "missed", "failed"];
  const DECIDED = { fired: "fired on its tick", triggered: "started by hand", missed: "tick missed", skipped: "skipped (overlap)", failed: "tick failed" };

  R.page(/^#\/schedules\/?$/, async function schedulesPage() {
    const operator = await R.canOperate();
    const body = h("tbody");
    const heads = [["Schedule"], ["Flow · entry"], ["When", "cron expression or interval, and its time zone"],
      ["Policies", "overlap: when the previous job still runs; catch-up: ticks missed while nothing fired"], ["State"],
      ["Next fire"], ["Last fire"], ["Ticks", "what the schedule's ticks did"], ["Recent jobs"], [""]];
    const formSlot = h("div");
    R.view.append(h("h1", {}, "Schedules"), formSlot, h("div", { class: "card scroll" }, h("table", { id: "schedules", class: "rows" },
      h("thead", {}, h("tr", {}, heads.map(([t, title]) => h("th", { title }, t)))), body)));
    async function load() {
      const { schedules } = await R.api("GET", "/api/schedules");
      body.replaceChildren(...(schedules.length ? schedules.map((s) => row(s, operator, load))
        : [h("tr", {}, h("td", { colspan: heads.length, class: "empty" }, "No schedules. Add one with the form above, routilux schedules add, or DistributedRuntime.schedule()."))]));
    }
    await Promise.all([load(), operator ? addCard(load).then((card) => formSlot.replaceWith(card)) : null]);
    const timer = setInterval(() => load().catch(() => {}), 3000);
    R.onLeave(() => clearInterval(timer));
  });

  function row(s, operator, reload) {
    const id = s.schedule_id, path = `/api/schedules/${encodeURIComponent(id)}`;
    const run = (action, done, fn) => async () => { if (await R.act(action, done, fn)) reload().catch(() => {}); };
    const toggle = s.paused
      ? h("button", { "data-action": "resume", onclick: run("Resume", `${id} resumed`, () => R.api("POST", `${path}/resume`, {})) }, "Resume")
      : h("button", { "data-action": "pause", onclick: run("Pause", `${id} paused`, () => R.api("POST", `${path}/pause`, {})) }, "Pause");
    const trigger = h("button", { class: "primary", "data-action": "trigger", title: "start one job now",
      onclick: run("Trigger", "Job started", () => R.api("POST", `${path}/trigger`, {})) }, "Trigger");
    const del = h("button", { class: "danger", "data-action": "delete", title: "its jobs stay",
      onclick: async () => { if (confirm(`Delete schedule ${id}? The jobs it started stay.`)) await run("Delete", `${id} deleted`, () => R.api("DELETE", path))(); } }, "Delete");
    const actions = [toggle, trigger, del];
    if (!operator) actions.forEach((b) => { b.disabled = true; b.title = "needs an operator token"; });
    const jobs = (s.ticks || []).filter((t) => t.job_id);
    const counts = COUNTS.filter((k) => s[k]).map((k) => `${s[k]} ${k}`);
    return h("tr", { "data-schedule": id, "data-state": s.paused ? "paused" : "active" },
      h("td", { class: "mono nowrap" }, id),
      h("td", { class: "nowrap" }, h("a", { href: `#/flows/${encodeURIComponent(s.flow)}` }, s.flow), h("div", { class: "muted small" }, s.entry)),
      h("td", { class: "nowrap" }, h("span", { class: "mono when" }, s.cron ? s.cron : s.every_s ? `every ${R.duration(s.every_s)}` : "—"),
        h("div", { class: "muted small zone" }, s.timezone || "UTC")),
      h("td", { class: "nowrap small policies" }, h("div", {}, `overlap: ${s.overlap}`), h("div", {}, `catch-up: ${s.catch_up}`)),
      h("td", { class: "state" }, h("span", { class: `badge ${s.paused ? "paused" : "running"}` }, s.paused ? "paused" : "active")),
      h("td", { class: "nowrap next" }, s.paused ? h("span", { class: "muted" }, "—") : s.next_ms ? [R.when(s.next_ms), h("div", { class: "muted small" }, inFuture(s.next_ms))] : h("span", { class: "muted" }, "ended")),
      h("td", { class: "nowrap last" }, s.last_tick_ms ? [R.when(s.last_tick_ms), h("div", { class: "muted small" }, R.ago(s.last_tick_ms))] : h("span", { class: "muted" }, "never")),
      h("td", { class: "small counts" }, counts.length ? counts.map((c) => h("div", { class: "nowrap" }, c)) : h("span", { class: "muted" }, "none")),
      h("td", { class: "jobs" }, jobs.length ? h("ul", { class: "plain" }, jobs.slice(0, 5).map((t) => h("li", {},
        h("a", { href: `#/jobs/${t.job_id}`, class: "mono", "data-job": t.job_id }, R.short(t.job_id)),
        h("span", { class: "muted small", title: DECIDED[t.decision] || t.decision }, ` ${t.decision} `), R.when(t.tick_ms))),
        jobs.length > 5 ? h("li", { class: "muted small" }, `… ${jobs.length - 5} more`) : null) : h("span", { class: "muted" }, "none yet")),
      h("td", { class: "actions" }, h("div", { class: "stack" }, actions)));
  }

  function inFuture(ms) {
    const s = (ms - Date.now()) / 1000;
    return s <= 0 ? "due now" : `in ${R.duration(s)}`;
  }
  // "30s", "5m", "2h", "1d" or a number of seconds.
  function seconds(text) {
    const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$/.exec(text.trim());
    return m ? Number(m[1]) * { s: 1, m: 60, min: 60, h: 3600, d: 86400 }[m[2] || "s"] : NaN;
  }

  async function addCard(reload) {
    const { flows } = await R.api("GET", "/api/flows");
    const field = (id, attrs) => h("input", Object.assign({ id, autocomplete: "off" }, attrs));
    const select = (id, values) => h("select", { id }, values.map((v) => h("option", { value: v }, v)));
    const f = {
      id: field("sched-id", { placeholder: "nightly-report", required: true }),
      flow: select("sched-flow", flows.map((x) => x.flow_id)),
      entry: field("sched-entry", { placeholder: "entry routine" }),
      params: field("sched-params", { class: "mono", value: "{}" }),
      kind: select("sched-kind", ["every", "cron"]),
      when: field("sched-when", { class: "mono", placeholder: "30s, 5m, 1h or 0 3 * * *", value: "1h" }),
      timezone: field("sched-tz", { value: "UTC" }),
      overlap: select("sched-overlap", ["skip", "allow", "cancel_previous"]),
      catch_up: select("sched-catch-up", ["skip", "one", "all"]),
    };
    const add = h("button", { class: "primary", id: "sched-add", disabled: !flows.length, onclick: async () => {
      let params;
      try { params = JSON.parse(f.params.value || "{}"); } catch (e) { R.toast("Parameters are not JSON: " + e.message, true); return; }
      const body = { id: f.id.value.trim(), flow: f.flow.value, entry: f.entry.value.trim(), params, timezone: f.timezone.value.trim() || "UTC",
                     overlap: f.overlap.value, catch_up: f.catch_up.value };
      if (f.kind.value === "cron") body.cron = f.when.value.trim();
      else {
        body.every_s = seconds(f.when.value);
        if (isNaN(body.every_s)) { R.toast("Interval: a number of seconds or 30s, 5m, 1h, 1d", true); return; }
      }
      if (await R.act("Add schedule", `Schedule ${body.id} added`, () => R.api("POST", "/api/schedules", body))) reload().catch(() => {});
    } }, "Add schedule");
    const label = (text, input, cls) => h("label", cls ? { class: cls } : {}, `${text} `, input);
    return h("div", { class: "card", id: "sched-form" }, h("h2", {}, "Add a schedule"),
      flows.length ? [h("div", { class: "toolbar" }, label("Id", f.id), label("Flow", f.flow), label("Entry", f.entry), label("Params", f.params, "grow row-label")),
        h("div", { class: "toolbar" }, f.kind, f.when, label("Zone", f.timezone), label("Overlap", f.overlap), label("Catch-up", f.catch_up), add),
        h("p", { class: "muted note" }, "Workers fire the ticks; each tick starts exactly one job. Adding an id that exists replaces that schedule.")]
        : h("p", { class: "muted" }, "No published flows yet: publish one first."));
  }
})();
