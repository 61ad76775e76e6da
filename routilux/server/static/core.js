/* The console's core: DOM and formatting helpers, sign-in, the API client, live streams and the router.
   Pages (jobs.js, job.js, flows.js, ops.js) register routes on window.Routilux; app.js starts it. */
(function () {
  "use strict";
  const R = (window.Routilux = {});
  R.TERMINAL = new Set(["completed", "failed", "cancelled"]);

  // ---- DOM and formatting ----------------------------------------------------------------------
  // Bidi overrides, invisible marks and control characters could make a name read as another one:
  // show each as a visible "<U+202E>" instead.
  const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  R.visible = (text) => text.replace(HIDDEN, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
  window.routiluxVisible = R.visible;
  R.h = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) node.append(kid instanceof Node ? kid : R.visible(String(kid)));
    return node;
  };
  const h = R.h;
  R.badge = (status) => h("span", { class: `badge ${status || ""}`, "data-status": status || "" }, status || "?");
  R.short = (id) => (id || "").slice(0, 8);
  const pad = (n) => String(n).padStart(2, "0");
  // A date on one line: the time for today, else the day and the time; the full date in the tooltip.
  R.when = (iso) => {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const today = d.toDateString() === new Date().toDateString();
    const text = today ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
    return h("time", { datetime: d.toISOString(), title: d.toLocaleString() }, text);
  };
  R.clock = (iso) => { const d = new Date(iso); return isNaN(d) ? "" : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`; };
  R.duration = (s) => {
    if (s === null || s === undefined || isNaN(s)) return "";
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    const two = (big, unit, small, smallUnit) => `${big} ${unit}${small ? ` ${small} ${smallUnit}` : ""}`;
    if (s < 3600) return two(Math.floor(s / 60), "min", Math.round(s % 60), "s");
    return two(Math.floor(s / 3600), "h", Math.round((s % 3600) / 60), "min");
  };
  R.ago = (value) => {
    const t = typeof value === "number" ? (value > 1e12 ? value : value * 1000) : Date.parse(value);
    if (!t) return String(value || "");
    return `${R.duration(Math.max(0, (Date.now() - t) / 1000))} ago`;
  };
  // What a job (a row or a summary) waits for, in words, from whichever fields the server sends: "waiting"
  // (posts and timers: routine, slot, until), "waiting_on" (a limit's free slot or rate token) or a plain text.
  R.waitingFor = (job) => {
    const w = job.waiting, parts = [];
    if (typeof w === "string") parts.push(w);
    for (const x of Array.isArray(w) ? w : []) {
      const at = x.until ? ` until ${new Date(x.until).toLocaleString()}` : "";
      parts.push(x.slot ? `a post to ${x.routine}.${x.slot}${at}` : x.kind === "timer" || x.timer ? `a timer${at}` : `${x.reason || x.kind || "input"}${at}`);
    }
    for (const x of Array.isArray(job.waiting_on) ? job.waiting_on : [])
      parts.push(`${x.kind === "rate" ? "a rate token" : "a free slot"} of ${x.limit}`);
    return [...new Set(parts)].join("; ");
  };
  R.json = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));
  R.toast = function toast(text, bad) {
    const t = document.getElementById("toast");
    t.textContent = R.visible(String(text)); t.className = "toast" + (bad ? " bad" : "");
    clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.add("hidden"), 3500);
  };
  R.debounce = (fn, ms) => {
    let t = null;
    return () => { if (t) return; t = setTimeout(() => { t = null; fn(); }, ms); };
  };
  R.view = document.getElementById("view");

  // ---- sign-in ---------------------------------------------------------------------------------
  const token = () => sessionStorage.getItem("routilux.token") || "";
  R.headers = (extra) => {
    const out = Object.assign({}, extra || {});
    if (token()) out.Authorization = `Bearer ${token()}`;
    return out;
  };
  const waiting = [];   // every request that met a 401 waits here until a token is given
  R.askToken = (message) => {
    const dlg = document.getElementById("login");
    document.getElementById("login-error").textContent = message || "";
    if (!dlg.open) dlg.showModal();
    return new Promise((resolve) => waiting.push(resolve));
  };
  document.getElementById("login-form").addEventListener("submit", () => {
    sessionStorage.setItem("routilux.token", document.getElementById("token").value.trim());
    document.getElementById("signout").classList.remove("hidden");
    R.role.reset();
    waiting.splice(0).forEach((resume) => resume());
  });
  document.getElementById("signout").addEventListener("click", () => { sessionStorage.removeItem("routilux.token"); location.reload(); });
  if (token()) document.getElementById("signout").classList.remove("hidden");

  // ---- API -------------------------------------------------------------------------------------
  R.api = async function api(method, path, body) {
    for (;;) {
      const res = await fetch(path, { method, headers: R.headers(method !== "GET" ? { "Content-Type": "application/json" } : {}),
                                      body: body !== undefined ? JSON.stringify(body) : undefined });
      if (res.status === 401) { await R.askToken(token() ? "That token was refused." : ""); continue; }
      if (res.status === 204) return null;
      const data = await res.json().catch(() => ({ error: { type: "BadResponse", message: res.statusText } }));
      if (!res.ok) {
        const e = new Error(data.error ? data.error.message : res.statusText);
        e.status = res.status; e.type = data.error && data.error.type; e.data = data;
        throw e;
      }
      return data;
    }
  };
  // act("Pause", "Paused", fn): toasts "Paused" when fn succeeds, "Pause failed: <reason>" when it throws.
  R.act = async (action, done, fn) => {
    try { const out = await fn(); R.toast(done); return out === null ? true : out; }
    catch (e) { R.toast(`${action} failed: ${e.message}`, true); return null; }
  };
  // The caller's role ("viewer" or "operator"), asked once per token.
  R.role = () => (R.role.known = R.role.known || R.api("GET", "/api/whoami").then((d) => showRole(d.role),
    (e) => { R.role.known = null; throw e; }));
  R.role.reset = () => { R.role.known = null; };
  R.canOperate = async () => (await R.role()) === "operator";
  function showRole(role) {
    const who = document.getElementById("whoami");
    who.textContent = role; who.classList.remove("hidden");
    document.body.classList.toggle("viewer", role !== "operator");
    return role;
  }

  // ---- live streams ----------------------------------------------------------------------------
  // Server-Sent Events over fetch (EventSource cannot send the Authorization header). A "failure" frame
  // (the server lost Redis) or a dropped connection is not the end: it says so through onState("reconnecting",
  // why) and resumes after the last event seen (Last-Event-ID) until the stream ends by itself.
  R.stream = function stream(path, onEvent, opts) {
    const { onEnd, onState } = opts || {};
    const ctl = new AbortController();
    const conn = document.getElementById("conn");
    let last = null, stopped = false;
    const state = (name, why) => {
      conn.classList.toggle("live", name === "live"); conn.classList.toggle("reconnecting", name === "reconnecting");
      conn.title = name === "reconnecting" ? `reconnecting: ${why}` : name === "live" ? "live updates" : "not live";
      if (onState) onState(name, why);
    };
    async function readFrames(res) {
      const reader = res.body.getReader(), dec = new TextDecoder();
      let buf = "", failure = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return failure;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const ev = parseFrame(buf.slice(0, cut)); buf = buf.slice(cut + 2);
          if (!ev.data) continue;
          const data = JSON.parse(ev.data);
          if (ev.event === "failure") { failure = data.error || {}; continue; }
          if (ev.id) last = ev.id;
          onEvent(data, ev);
        }
      }
    }
    async function run() {
      while (!stopped) {
        let why = "connection lost";
        try {
          const res = await fetch(path, { headers: R.headers(last ? { "Last-Event-ID": last } : {}), signal: ctl.signal });
          if (res.status === 401) { await R.askToken("That token was refused."); continue; }
          if (res.status >= 500) throw new Error((await res.json().catch(() => ({}))).error?.message || res.statusText);
          if (!res.ok) { stopped = true; state("off"); if (onEnd) onEnd(res.status); return; }
          state("live");
          const failure = await readFrames(res);
          if (!failure && onEnd) { stopped = true; state("off"); onEnd(200); return; }   // a job stream ends after its terminal status
          if (failure) why = failure.message || failure.type || why;
        } catch (e) {
          if (stopped || ctl.signal.aborted) return;
          why = e.message || why;
        }
        state("reconnecting", why);
        await new Promise((r) => setTimeout(r, 1500));
      }
    }
    run();
    return () => { stopped = true; ctl.abort(); state("off"); };
  };
  function parseFrame(block) {
    const ev = { id: null, event: "message", data: "" };
    for (const line of block.split("\n")) {
      const i = line.indexOf(":"); if (i <= 0) continue;
      const k = line.slice(0, i), v = line.slice(i + 1).replace(/^ /, "");
      if (k === "id") ev.id = v; else if (k === "event") ev.event = v; else if (k === "data") ev.data += v;
    }
    return ev;
  }

  // ---- router ----------------------------------------------------------------------------------
  const routes = [];
  let cleanup = [];
  R.page = (re, render) => routes.push([re, render]);
  R.onLeave = (fn) => cleanup.push(fn);
  R.query = () => new URLSearchParams((location.hash.split("?")[1]) || "");
  async function route() {
    cleanup.forEach((f) => f()); cleanup = [];
    const hash = location.hash || "#/jobs", path = hash.split("?")[0];
    for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", path.startsWith(`#/${a.dataset.nav}`));
    for (const [re, render] of routes) {
      const m = path.match(re);
      if (!m) continue;
      R.view.innerHTML = "";
      R.role().catch(() => {});   // asked alongside the page's own requests; pages that need it await it
      try { await render(...m.slice(1).map(decodeURIComponent)); }
      catch (e) { R.view.append(h("div", { class: "card error" }, `${e.type || "Error"}: ${e.message}`)); }
      return;
    }
    location.hash = "#/jobs";
  }
  R.start = () => { window.addEventListener("hashchange", route); route(); };
})();
