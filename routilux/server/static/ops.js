/* Workers (pool, concurrency, uptime, processed and failed, heartbeat age, what runs now, graceful
   shutdown for operators), the limits table (holders and waiting work), and dead letters (replay, discard). */
(function () {
  "use strict";
  const R = window.Routilux, h = R.h;

  R.page(/^#\/workers\/?$/, async function workersPage() {
    const operator = await R.canOperate();
    const body = h("tbody");
    const heads = [["Worker"], ["Host"], ["Pool"], ["Slots", "concurrency: activations it runs at once"], ["Uptime"],
      ["Done", "activations processed"], ["Failed", "activations whose handler raised"], ["Heartbeat", "age of its last liveness renewal"],
      ["Running now"], [""]];
    R.view.append(h("h1", {}, "Workers"), h("div", { class: "card scroll" }, h("table", { id: "workers", class: "rows" },
      h("thead", {}, h("tr", {}, heads.map(([t, title]) => h("th", { title }, t)))), body)));
    const shutdown = (name) => async () => {
      if (!confirm(`Ask ${name} to shut down? It finishes what it runs, then exits.`)) return;
      await R.act("Shutdown", `${name} is shutting down`, () => R.api("POST", `/api/workers/${encodeURIComponent(name)}/shutdown`, {}));
    };
    async function load() {
      const { workers } = await R.api("GET", "/api/workers");
      body.replaceChildren(...(workers.length ? workers.map((w) => h("tr", { "data-worker": w.name },
        h("td", { class: "mono wrap" }, w.name), h("td", { class: "wrap" }, w.host || ""), h("td", {}, w.pool || ""), h("td", { class: "num" }, w.concurrency ?? ""),
        h("td", { class: "nowrap" }, w.uptime_s !== undefined ? R.duration(w.uptime_s) : ""),
        h("td", { class: "num" }, w.processed ?? ""), h("td", { class: "num" }, w.failed ?? ""),
        h("td", { class: "nowrap muted" }, w.heartbeat_age_s !== undefined ? `${R.duration(w.heartbeat_age_s)} ago` : R.ago(w.last_renewed)),
        h("td", { class: "wrap" }, (w.running || []).length ? h("ul", { class: "plain" }, w.running.map((r) =>
          h("li", {}, h("a", { href: `#/jobs/${r.job_id}`, class: "mono" }, R.short(r.job_id)), ` ${r.routine_id}.${r.slot}`))) : h("span", { class: "muted" }, "idle")),
        h("td", { class: "nowrap" }, operator ? h("button", { class: "danger", "data-shutdown": w.name, onclick: shutdown(w.name) }, "Shut down") : "")))
        : [h("tr", {}, h("td", { colspan: heads.length, class: "empty" }, "No live workers. Start one: routilux worker --import your.module"))]));
      await loadLimits();
    }
    // Concurrency and rate limits: who holds a slot now and what waits for one (or for its rate token).
    const limitsBody = h("tbody");
    R.view.append(h("h2", {}, "Limits"), h("div", { class: "card scroll" }, h("table", { id: "limits", class: "rows" },
      h("thead", {}, h("tr", {}, ["Limit", "Kind", "Max", "Holders", "Waiting"].map((t) => h("th", {}, t)))), limitsBody)));
    const holderLink = (m) => { const [job, act] = m.split("|"); return h("li", {}, h("a", { href: `#/jobs/${job}`, class: "mono" }, R.short(job)), act ? ` ${act}` : ""); };
    async function loadLimits() {
      const { limits } = await R.api("GET", "/api/limits");
      limitsBody.replaceChildren(...(limits.length ? limits.map((l) => h("tr", { "data-limit": l.name },
        h("td", { class: "mono wrap" }, l.name), h("td", {}, l.kind), h("td", { class: "num" }, l.kind === "rate" ? `${l.limit}/s` : l.limit),
        h("td", { class: "wrap" }, h("ul", { class: "plain" }, l.holders.map((x) => holderLink(x.holder)))),
        h("td", { class: "num" }, l.waiting.length)))
        : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No concurrency or rate limits in use."))]));
    }
    await load();
    const timer = setInterval(() => load().catch(() => {}), 2000);
    R.onLeave(() => clearInterval(timer));
  });

  R.page(/^#\/dead-letters\/?$/, async function deadLettersPage() {
    const operator = await R.canOperate();
    const body = h("tbody");
    R.view.append(h("h1", {}, "Dead letters"), h("p", { class: "muted" }, "Activations given up on (too many attempts, a routine class no worker imported) and messages that are not Routilux activations. Replay re-queues the activation on its job; the job resumes if it failed only because of it."),
      h("div", { class: "card scroll" }, h("table", { id: "dead-letters", class: "rows" }, h("thead", {}, h("tr", {}, ["Entry", "Job", "Routine", "Reason", "When", ""].map((t) => h("th", {}, t)))), body)));
    async function load() {
      const { dead_letters } = await R.api("GET", "/api/dead-letters");
      body.replaceChildren(...(dead_letters.length ? dead_letters.map((d) => h("tr", { "data-dead": d.id },
        h("td", { class: "mono nowrap" }, d.id), h("td", {}, d.job ? h("a", { href: `#/jobs/${d.job}`, class: "mono" }, R.short(d.job)) : h("span", { class: "muted" }, "none")),
        h("td", { class: "wrap" }, d.envelope ? `${d.envelope.routine}.${d.envelope.slot}` : ""),
        h("td", { class: "wrap" }, h("div", { class: "error" }, d.reason || ""), h("details", {}, h("summary", {}, "inspect"), R.json(d.envelope || d))),
        h("td", { class: "muted nowrap" }, R.ago(Number(d.ts) || d.ts)),
        h("td", { class: "nowrap" },
          h("button", { class: "primary", disabled: !d.job || !operator, onclick: async () => { if (await R.act("Replay", "Replayed", () => R.api("POST", `/api/dead-letters/${d.id}/replay`))) load(); } }, "Replay"), " ",
          h("button", { class: "danger", disabled: !operator, onclick: async () => { if (confirm("Discard this dead letter?") && await R.act("Discard", "Discarded", () => R.api("DELETE", `/api/dead-letters/${d.id}`))) load(); } }, "Discard"))))
        : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No dead letters."))]));
    }
    await load();
    R.onLeave(R.stream("/api/events", R.debounce(() => load().catch(() => {}), 500)));
  });
})();
