/* The Routilux console: a no-build single page app over /api (core.js, then the pages, then this).
   Keyboard: "/" search, "j"/"k" move through a list and Enter opens, "g j" jobs, "g f" flows, "g w" workers,
   "g d" dead letters, "g s" schedules, "?" shows these. */
(function () {
  "use strict";
  const R = window.Routilux;
  const GO = { j: "#/jobs", f: "#/flows", w: "#/workers", d: "#/dead-letters", s: "#/schedules" };
  let pendingG = 0;

  function typing(e) {
    const t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) || document.querySelector("dialog[open]");
  }
  function move(step) {
    const rows = [...document.querySelectorAll("table.rows tbody tr[data-job], table.rows tbody tr[data-href], table.rows tbody tr[data-worker], table.rows tbody tr[data-dead], table.rows tbody tr[data-schedule]")];
    if (!rows.length) return;
    const at = rows.findIndex((r) => r.classList.contains("selected"));
    const next = rows[Math.min(rows.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
    rows.forEach((r) => r.classList.toggle("selected", r === next));
    next.scrollIntoView({ block: "nearest" });
  }
  function open() {
    const row = document.querySelector("table.rows tr.selected");
    const link = row && (row.dataset.href || (row.querySelector("a") || {}).hash);
    if (link) location.hash = link;
  }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (pendingG && Date.now() - pendingG < 1200 && GO[e.key]) { pendingG = 0; location.hash = GO[e.key]; e.preventDefault(); return; }
    pendingG = 0;
    if (e.key === "/") { const s = document.getElementById("search"); if (s) { s.focus(); s.select(); e.preventDefault(); } }
    else if (e.key === "j") move(1);
    else if (e.key === "k") move(-1);
    else if (e.key === "Enter") open();
    else if (e.key === "g") pendingG = Date.now();
    else if (e.key === "?") R.toast("Keys: / search · j/k move · Enter open · g j jobs · g f flows · g w workers · g d dead letters · g s schedules");
  });

  R.start();
})();
