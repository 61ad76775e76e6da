/* One job: facts, failure with its stack trace folded, the flow graph coloured live, time travel (slider,
   highlighted timeline entry, facts as they were), fork and retry, the timeline with per-step time. */
(function () {
  "use strict";
  const R = window.Routilux, h = R.h;

  R.page(/^#\/jobs\/([^/?]+)$/, async function jobPage(jobId) {
    const data = await R.api("GET", `/api/jobs/${jobId}`);
    jobId = data.summary.job_id || jobId;
    const info = (await R.api("GET", `/api/flows/${data.job.metadata.flow_hash || data.summary.flow_hash}`)).graph;
    const operator = await R.canOperate();
    const s = { summary: data.summary, job: data.job, routines: data.routines, live: true, positions: [], travelled: null, at: -1, traces: [] };
    const page = layout(jobId, info, s, operator);
    const refresh = async () => {
      const d = await R.api("GET", `/api/jobs/${jobId}`).catch(() => null);
      if (!d) return;
      Object.assign(s, { summary: d.summary, routines: d.routines });
      if (s.live) s.job = d.job;
      page.render();
    };
    const loadPositions = async () => {
      const d = await R.api("GET", `/api/jobs/${jobId}/history`).catch(() => null);
      if (!d) return;
      s.positions = d.positions;
      page.slider.max = Math.max(0, s.positions.length - 1);
      if (s.live) page.slider.value = page.slider.max;
    };
    page.onLive = async () => { s.live = true; s.travelled = null; s.at = -1; page.where.textContent = "live"; await loadPositions(); await refresh(); };
    page.onTravel = async (index) => {
      const p = s.positions[index];
      if (!p) return;
      s.live = false; s.at = index;
      page.where.textContent = R.visible(`step ${index + 1} of ${s.positions.length}: ${describe(p)} at ${R.clock(p.time)}`);
      const d = await R.api("GET", `/api/jobs/${jobId}/state?at=${encodeURIComponent(p.id)}`);
      if (!s.live && s.at === index) { s.travelled = d; page.render(); }
    };
    page.render();
    await loadPositions();
    const refreshSoon = R.debounce(refresh, 250), positionsSoon = R.debounce(loadPositions, 600);
    R.onLeave(R.stream(`/api/jobs/${jobId}/events?steps=true`, (ev) => {
      if (window.__routiluxEvents) window.__routiluxEvents.push({ id: ev.id, received: performance.timeOrigin + performance.now() });
      page.addEvent(ev);
      refreshSoon(); positionsSoon();
    }, { onEnd: () => { refresh(); loadPositions(); }, onState: (state, why) => {
      page.streamState(state, why);
      if (state === "live") { refreshSoon(); positionsSoon(); }
    } }));
  });

  // What a history entry was, in words: "source.trigger", "job running", "submitted".
  function describe(p) {
    if (p.kind === "status") return `job ${p.status}`;
    if (p.kind === "timeout") return `${p.routine || "job"} timed out`;
    if (p.act === "submit" && !p.routine) return "submitted";
    return p.routine ? `${p.routine}.${p.slot}` : p.kind;
  }

  function layout(jobId, info, s, operator) {
    const page = {};
    const post = (path, body) => () => R.api("POST", `/api/jobs/${jobId}/${path}`, body);
    const buttons = {
      pause: h("button", { id: "btn-pause", onclick: () => R.act("Pause", "Paused", post("pause", { reason: "paused from the console" })).then(() => page.onLive()) }, "Pause"),
      resume: h("button", { id: "btn-resume", onclick: () => R.act("Resume", "Resumed", post("resume", {})).then(() => page.onLive()) }, "Resume"),
      cancel: h("button", { id: "btn-cancel", class: "danger", onclick: () => confirm("Cancel this job for good?") && R.act("Cancel", "Cancelled", post("cancel", { reason: "cancelled from the console" })).then(() => page.onLive()) }, "Cancel"),
      del: h("button", { id: "btn-delete", class: "danger", onclick: async () => { if (confirm("Delete this finished job?") && await R.act("Delete", "Deleted", () => R.api("DELETE", `/api/jobs/${jobId}`))) location.hash = "#/jobs"; } }, "Delete"),
    };
    const retry = h("button", { id: "btn-retry", title: "run a new job with the same flow version, entry and params", onclick: async () => {
      const out = await R.act("Retry", "Retried as a new job", post("retry", {}));
      if (out) location.hash = `#/jobs/${out.job_id}`;
    } }, "Retry");
    const fork = h("button", { id: "btn-fork", class: "primary", onclick: async () => {
      const p = s.live ? null : s.positions[s.at];
      const out = await R.act("Fork", "Forked as a new job", post("fork", p ? { at: p.id } : {}));
      if (out) location.hash = `#/jobs/${out.job_id}`;
    } }, "Fork from here");
    const facts = h("div", { class: "facts", id: "job-facts" });
    const failure = h("div", { class: "card failure hidden", id: "job-failure" });
    const graphBox = h("div", { class: "graph", id: "job-graph" });
    const graph = RoutiluxGraph.drawFlow(graphBox, info, {});
    const timeline = h("ul", { class: "timeline", id: "timeline" });
    const slider = page.slider = h("input", { type: "range", id: "travel", min: 0, max: 0, value: 0 });
    const where = page.where = h("span", { class: "where", id: "travel-where" }, "live");
    const streamPill = h("span", { id: "stream-state", class: "pill warn hidden" });
    const stateBox = h("div", { id: "job-state" });
    slider.addEventListener("input", () => page.onTravel(Number(slider.value)));
    if (!operator) [...Object.values(buttons), retry, fork].forEach((b) => { b.disabled = true; b.title = "needs an operator token"; });
    R.view.append(
      h("div", { class: "pagehead" }, h("h1", {}, "Job ", h("span", { class: "mono" }, jobId), h("span", { id: "job-status" }), h("span", { id: "job-tags", class: "tags" }),
        h("span", { id: "travel-banner", class: "pill hidden" }, "as it was"), streamPill), h("div", { class: "actions" }, Object.values(buttons))),
      h("div", { class: "card" }, facts), failure,
      h("div", { class: "card" }, h("div", { class: "toolbar" }, h("h2", { class: "flush" }, "Flow"), legend()), graphBox),
      h("div", { class: "card" }, h("h2", {}, "Time travel"), h("div", { class: "travel" }, slider, where, h("button", { id: "travel-live", onclick: () => page.onLive() }, "Live"), fork, retry),
        h("p", { class: "muted note" }, "Drag to see the JobState as it was after any step; fork continues from there as a new job; retry runs the job again from its start.")),
      h("div", { class: "row" }, h("div", { class: "card" }, h("h2", {}, "Timeline"), timeline), h("div", { class: "card" }, h("h2", {}, "State"), stateBox)));

    page.streamState = (state, why) => {
      streamPill.classList.toggle("hidden", state !== "reconnecting");
      streamPill.textContent = state === "reconnecting" ? `Reconnecting… (${why})` : "";
    };
    page.render = () => {
      const job = s.live ? s.job : s.travelled.job;
      const status = s.live ? s.summary.status : job.status;
      graph.color(s.live ? s.routines : s.travelled.routines);
      document.getElementById("job-status").replaceChildren(R.badge(status));
      document.getElementById("job-tags").replaceChildren(...tags(s.summary, s.live));
      if (operator) {
        const st = s.summary.status;
        buttons.pause.disabled = st !== "running"; buttons.resume.disabled = st !== "paused";
        buttons.cancel.disabled = R.TERMINAL.has(st); buttons.del.disabled = !R.TERMINAL.has(st);
        retry.disabled = !["failed", "cancelled"].includes(st);
      }
      document.getElementById("travel-banner").classList.toggle("hidden", s.live);
      facts.replaceChildren(...factList(s, status).map(([k, v]) => h("div", { class: "fact" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v))));
      showFailure(failure, s.live ? s.summary.error : job.error, s.live ? s.summary.traceback || s.traces[s.traces.length - 1] : null);
      stateBox.replaceChildren(
        h("div", { class: "grid2" }, h("div", {}, h("h3", {}, "Shared data"), R.json(job.shared_data || {})),
          h("div", {}, h("h3", {}, "Output"), R.json(job.output_log || []))),
        (job.pending_tasks || []).length ? h("details", {}, h("summary", {}, `${job.pending_tasks.length} still to run here`), R.json(job.pending_tasks)) : "",
        h("details", {}, h("summary", {}, "Routine states"), R.json(job.routine_states || {})),
        h("details", {}, h("summary", {}, "Whole JobState"), R.json(job)));
      markTimeline(timeline, s.live ? null : s.positions[s.at]);
    };
    page.addEvent = (ev) => {
      if (ev.kind === "error" && ev.data && ev.data.traceback) s.traces.push(ev.data.traceback);
      timeline.append(eventItem(ev));
      if (s.live) timeline.scrollTop = timeline.scrollHeight;
      else markTimeline(timeline, s.positions[s.at]);
    };
    return page;
  }

  function factList(s, status) {
    const sm = s.summary, out = [["Status", R.badge(status)],
      ["Flow", h("a", { href: `#/flows/${encodeURIComponent(sm.flow_id)}` }, sm.flow_id)],
      ["Version", h("span", { class: "mono" }, (sm.flow_hash || "").slice(0, 12))], ["Created", R.when(sm.created_at)]];
    if (s.live) {
      const secs = sm.duration_s ?? (sm.ended_at ? (Date.parse(sm.ended_at) - Date.parse(sm.created_at)) / 1000 : null);
      out.push(["Ended", R.when(sm.ended_at) || "—"], ["Duration", secs === null ? "—" : R.duration(secs)],
        ["Activations", sm.activations ? `${sm.activations.done} done / ${sm.activations.known} known` : "—"]);
      for (const w of sm.waiting || []) {
        out.push(["Waiting", h("span", {}, `for a post to ${w.routine}.${w.slot} until `, R.when(w.until))]);
      }
    } else {
      const seen = s.positions.slice(0, s.at + 1), p = s.positions[s.at];
      const counted = [...seen].reverse().find((x) => x.done !== null && x.done !== undefined);
      out.push(["At", R.when(p.time)], ["Ended", R.TERMINAL.has(status) ? R.when(p.time) : "—"],
        ["Activations", counted ? `${counted.done} done / ${counted.known} known` : "—"]);
    }
    const link = (id) => h("a", { href: `#/jobs/${id}`, class: "mono" }, R.short(id));
    if (sm.forked_from) out.push(["Forked from", [link(sm.forked_from.job_id), sm.forked_from.at ? ` at ${sm.forked_from.at}` : ""]]);
    if (sm.retried_from) out.push(["Retry of", link(sm.retried_from)]);
    // Why work of the job waits: activations parked by a concurrency slot or a rate bucket.
    if (s.live && (sm.waiting_on || []).length) out.push(["Waiting", h("ul", { class: "plain", id: "job-waiting" }, sm.waiting_on.map((w) =>
      h("li", {}, h("span", { class: "mono" }, w.activation), ` for ${w.kind === "rate" ? "its rate token" : "a free slot"} of `, h("span", { class: "mono" }, w.limit))))]);
    if ((sm.retries || []).length) out.push(["Retried as", sm.retries.map((id) => [link(id), " "])]);
    if (sm.parent) out.push(["Sub-flow of", [link(sm.parent.job_id), ` (${sm.parent.routine || "activation " + R.short(sm.parent.activation)})`]]);
    if ((sm.children || []).length) {
      out.push(["Sub-flows", sm.children.map((c) => [link(c.job_id), c.state === "open" ? " (running) " : " "])]);
    }
    return out;
  }

  // Beside the status: the job's priority, tenant and concurrency key when the server sends them, and "waiting" (what for in its tooltip).
  function tags(sm, live) {
    const out = [];
    if (sm.priority !== undefined && sm.priority !== null)
      out.push(h("span", { class: "pill", id: "job-priority", title: "priority: 0 to 9, higher runs first when workers are busy" }, `priority ${sm.priority}`));
    if (sm.tenant) out.push(h("span", { class: "pill", id: "job-tenant", title: "tenant" }, `tenant ${sm.tenant}`));
    if (sm.concurrency_key)
      out.push(h("span", { class: "pill", id: "job-key", title: "concurrency key: the job holds one of its slots while it runs" }, `key ${sm.concurrency_key}`));
    const wait = live && !R.TERMINAL.has(sm.status) ? R.waitingFor(sm) : "";
    if (wait) out.push(h("span", { class: "pill warn", id: "job-waiting-for", title: R.visible(`waiting for ${wait}`) }, "waiting"));
    return out;
  }

  // Drawn again on every refresh: a stack trace the user opened stays open.
  function showFailure(card, error, traceback) {
    card.classList.toggle("hidden", !error);
    if (!error) return;
    const folded = trace(traceback);
    if (folded && card.querySelector("#job-trace")?.open) folded.open = true;
    card.replaceChildren(h("h2", {}, "Failure"), h("div", { class: "error mono wrap", id: "job-error" }, error), folded);
  }
  // A stack trace folded: its last line (the exception) shows; the whole trace opens on click.
  function trace(text) {
    if (!text) return null;
    const lines = String(text).trimEnd().split("\n");
    return h("details", { class: "trace", id: "job-trace" }, h("summary", {}, `Stack trace (${lines.length} line${lines.length === 1 ? "" : "s"}): `, h("span", { class: "mono" }, lines[lines.length - 1])),
      h("pre", { class: "json" }, text));
  }

  function eventItem(ev) {
    const entry = String(ev.id).split(".")[0];
    const attrs = { class: ev.kind, "data-id": ev.id, "data-entry": entry };
    let tag, what;
    if (ev.kind === "status") { tag = R.badge(ev.status); what = ev.error ? h("span", { class: "error" }, ev.error) : ""; }
    else if (ev.kind === "step") {
      const d = ev.data || {}, ms = d.duration_ms;
      attrs["data-step"] = ev.routine_id;
      tag = h("span", { class: "pill step" }, "step");
      what = [h("b", {}, `${ev.routine_id}.${d.slot}`), d.outcome && !["done", "ok"].includes(d.outcome) ? ` ${d.outcome}` : "", d.raised ? h("span", { class: "error" }, " raised") : "",
        ms !== undefined && ms !== null ? h("span", { class: "ms" }, R.duration(ms / 1000)) : ""];
    } else {
      attrs["data-routine"] = ev.routine_id;
      if (ev.kind === "error" || ev.event_name === "error") attrs.class += " error";
      tag = h("span", { class: "pill" }, ev.kind);
      what = ev.kind === "error" ? [`${ev.routine_id}: ${ev.error}`, trace(ev.data && ev.data.traceback)]
        : `${ev.routine_id}.${ev.event_name} ${ev.data ? JSON.stringify(ev.data).slice(0, 120) : ""}`;
    }
    return h("li", attrs, h("span", { class: "t" }, R.clock(ev.time)), h("span", {}, tag), h("span", { class: "what" }, what));
  }

  // Travelling: the chosen step's entries are highlighted and scrolled to; later ones fade.
  function markTimeline(ul, p) {
    let first = null;
    for (const li of ul.children) {
      const chosen = !!p && li.dataset.entry === p.id;
      li.classList.toggle("chosen", chosen);
      li.classList.toggle("future", !!p && !chosen && later(li.dataset.entry, p.id));
      if (chosen && !first) first = li;
    }
    if (first) ul.scrollTop = Math.max(0, first.offsetTop - ul.clientHeight / 3);
  }
  function later(a, b) {   // stream entry ids "ms-seq": is a later than b?
    const [am, as] = String(a).split("-").map(Number), [bm, bs] = String(b).split("-").map(Number);
    return am > bm || (am === bm && as > bs);
  }

  function legend() {
    return h("div", { class: "legend" }, ["pending", "running", "completed", "failed", "paused", "cancelled"].map((st) =>
      h("span", {}, h("i", { class: `swatch ${st}` }), st)));
  }
})();
