"""The web console's page load and commit-to-browser event latency, beside their floors, in one run.

Usage (from the repo root; needs the server and test extras and Debian's chromium)::

    .venv/bin/python bench/console_latency.py            # about a minute on 2 cores

Starts its own ``redis-server``, a worker daemon (``python -m worker``) and the console
(``python -m routilux.cli server``) as subprocesses, and a headless Chromium driven by
Playwright. Reports medians:

* page load: from navigation start until each page shows its data (jobs table filled,
  job graph coloured, ...), fresh browser context each time (no cache); the floor is
  the same navigation to a static file of the same server.
* event latency: a job commits one step every ``--gap-s``; for each commit, the time
  from the commit (its stream entry id is Redis's clock, in ms) to the browser's
  receiving it on the job page's event stream. The floor is a Python client blocked
  in ``XREAD`` on the same stream, in the same run. Redis, browser and reader share
  one host clock, so the differences are exact to the millisecond.

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import redis  # noqa: E402

from bench.compare_distributed import RedisServer, free_port, stop_process  # noqa: E402
from bench.console_flows import ENTRY, ticker_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PAGES = {  # page -> the selector that means "it shows its data"
    "jobs": "#jobs tbody tr[data-job]",
    "job": '#job-graph [data-routine="ticker"][data-status="completed"]',
    "flows": "#flows tbody tr",
    "workers": "#workers tr[data-worker]",
    "dead-letters": "#dead-letters tbody tr",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=7, help="page loads per page")
    parser.add_argument("--ticks", type=int, default=80, help="commits of the latency job")
    parser.add_argument("--gap-s", type=float, default=0.1, help="time between the job's commits")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    return parser.parse_args(argv)


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A subprocess in its own group, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)


def wait_http(url: str, timeout_s: float = 30) -> None:
    """Until ``url`` answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def page_loads(browser: Any, base: str, loads: int, job_id: str) -> dict[str, list[float]]:
    """Milliseconds from navigation start to "data shown", per page; plus the static-file floor."""
    out: dict[str, list[float]] = {name: [] for name in [*PAGES, "floor: static file"]}
    for _ in range(loads):
        for name, selector in PAGES.items():
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{base}/#/{'jobs/' + job_id if name == 'job' else name}", wait_until="commit")
            page.wait_for_selector(selector, state="attached", timeout=20000)
            out[name].append(page.evaluate("performance.now()"))
            context.close()
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}/static/style.css", wait_until="load")
        out["floor: static file"].append(page.evaluate("performance.now()"))
        context.close()
    return out


def xread_floor(client: redis.Redis, key: str, stop: threading.Event, seen: dict[str, float]) -> None:
    """Record when a plain XREAD BLOCK client receives each entry of ``key``."""
    cursor = "$"
    while not stop.is_set():
        for _, entries in client.xread({key: cursor}, block=500) or []:
            now = time.time() * 1000
            for entry_id, _ in entries:
                cursor = entry_id.decode()
                seen[cursor] = now


def event_latency(browser: Any, base: str, rt: DistributedRuntime, ticks: int, gap_s: float) -> dict[str, list[float]]:
    """Commit -> receipt, in ms, for the browser's job page and for a plain XREAD client."""
    job_id = rt.submit("ticker", ENTRY, {"n": ticks, "gap_s": gap_s, "k": 0})
    page = browser.new_page()
    page.add_init_script("window.__routiluxEvents = []")
    page.goto(f"{base}/#/jobs/{job_id}")
    page.wait_for_selector("#timeline li")
    opened = time.time() * 1000 + 50
    floor: dict[str, float] = {}
    stop = threading.Event()
    client = redis.Redis.from_url(rt.settings.redis_url)
    reader = threading.Thread(target=xread_floor, args=(client, rt.store.keys.job(job_id, "log"), stop, floor))
    reader.start()
    rt.wait(job_id, timeout=ticks * gap_s + 60)
    page.wait_for_selector('#job-status [data-status="completed"]')
    received = page.evaluate("window.__routiluxEvents")
    stop.set()
    reader.join()
    client.close()
    page.close()
    ours, base_line = [], []
    seen = set()
    for event in received:
        entry = event["id"].split(".")[0]  # an event id is "<stream entry id>.<position in the entry>"
        committed = int(entry.split("-")[0])
        if committed > opened and entry in floor and entry not in seen:  # live entries, seen by both readers
            seen.add(entry)
            ours.append(event["received"] - committed)
            base_line.append(floor[entry] - committed)
    if not ours:
        print(f"  (no live samples: {len(received)} events in the browser, {len(floor)} entries read by XREAD)")
    return {"browser (server + SSE + page)": ours, "floor: XREAD BLOCK client": base_line}


def report(title: str, rows: dict[str, list[float]], floor_key: str) -> None:
    """Print medians and the ratio to the floor."""
    print(f"\n{title}")
    floor = statistics.median(rows[floor_key]) if rows[floor_key] else float("nan")
    for name, values in rows.items():
        if not values:
            print(f"  {name:34s} (no samples)")
            continue
        med = statistics.median(values)
        p90 = sorted(values)[max(0, int(len(values) * 0.9) - 1)]
        ratio = "" if name == floor_key else f"  ({med / floor:.1f} x floor)" if floor > 0 else ""
        print(f"  {name:34s} median {med:7.1f} ms   p90 {p90:7.1f} ms   n={len(values)}{ratio}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="routilux-console-bench-"))
    server = RedisServer(folder)
    server.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "ROUTILUX_REDIS_URL": server.url,
               "ROUTILUX_KEY_PREFIX": "rtxconsole", "ROUTILUX_QUEUE": "rtxconsole"}
        procs.append(start([sys.executable, "-m", "worker", "--import", "bench.console_flows", "--pool", "threads",
                            "--concurrency", "2", "--loglevel", "WARNING", "--name", "bench"], env, folder / "w.log"))
        procs.append(start([sys.executable, "-m", "routilux.cli", "server", "--port", str(port), "--loglevel",
                            "WARNING"], env, folder / "server.log"))
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health/ready")
        rt = DistributedRuntime(settings=Settings(redis_url=server.url, key_prefix="rtxconsole", queue="rtxconsole"))
        rt.publish(ticker_flow())
        done = rt.submit("ticker", ENTRY, {"n": 3, "gap_s": 0.0})
        rt.wait(done, timeout=60)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
            print(f"Chromium {browser.version}, {os.cpu_count()} cores; console and worker as subprocesses")
            loads = page_loads(browser, base, args.loads, done)
            latency = event_latency(browser, base, rt, args.ticks, args.gap_s)
            browser.close()
        rt.close()
        report(f"Page load, navigation start to data shown ({args.loads} loads each, no cache)", loads,
               "floor: static file")
        report(f"Commit to receipt of each event ({args.ticks} commits, {args.gap_s:g} s apart)", latency,
               "floor: XREAD BLOCK client")
    finally:
        for proc in procs:
            stop_process(proc, group=True)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
