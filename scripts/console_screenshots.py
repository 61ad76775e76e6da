"""Take the console screenshots of the README (docs/images/console-*.png, 1280x800) in a real Chromium.

It starts its own redis-server, one worker daemon (``routilux worker``, importing the test flows but not
``extra_flows``, so one job's activation is dead-lettered) and a console, makes jobs, schedules and a
dead letter, and saves one PNG per page. Run from the repository root::

    python scripts/console_screenshots.py [--out docs/images]

Needs ``redis-server`` and Debian's ``chromium`` (or ROUTILUX_CHROMIUM); everything it starts it stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "tests" / "distributed"
sys.path[:0] = [str(ROOT), str(FLOWS)]

import basic_flows  # noqa: E402
import extra_flows  # noqa: E402
import ops_flows  # noqa: E402
import uvicorn  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from routilux.distributed import DistributedRuntime, Settings  # noqa: E402
from routilux.server import ServerSettings, create_app  # noqa: E402

CHROMIUM = os.environ.get("ROUTILUX_CHROMIUM", "/usr/bin/chromium")
SIZE = {"width": 1280, "height": 800}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout_s: float = 60, what: str = "it") -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # noqa: BLE001 - still starting
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def redis_and_worker(folder: Path) -> Iterator[Settings]:
    """A redis-server and one worker daemon over it; both stopped by pid on the way out."""
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", key_prefix="docs", queue="docs", max_attempts=2,
                        lease_s=5.0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(FLOWS)]),
           "ROUTILUX_REDIS_URL": settings.redis_url, "ROUTILUX_KEY_PREFIX": "docs", "ROUTILUX_QUEUE": "docs",
           "ROUTILUX_MAX_ATTEMPTS": "2", "ROUTILUX_LEASE_S": "5"}
    log = open(folder / "worker.log", "wb")
    worker = None
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), 0.2).close() or True, 15, "redis-server")
        worker = subprocess.Popen([sys.executable, "-m", "routilux.cli", "worker", "--import", "ops_flows",
                                   "--import", "basic_flows", "--pool", "threads", "--concurrency", "4",
                                   "--name", "worker-1@docs", "--loglevel", "WARNING"],
                                  cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        yield settings
    finally:
        for proc in (worker, redis):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        log.close()


@contextmanager
def console(runtime: DistributedRuntime) -> Iterator[str]:
    """The console over ``runtime`` on a free loopback port, in a thread."""
    settings = ServerSettings(port=free_port(), tokens={})
    server = uvicorn.Server(uvicorn.Config(create_app(runtime, settings), host="127.0.0.1", port=settings.port,
                                           log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 15, "the console")
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_work(runtime: DistributedRuntime) -> dict[str, Any]:
    """Jobs (completed, failed, one per schedule tick), schedules and a dead letter to show."""
    runtime.publish(ops_flows.orders_flow(sleep_s=0.15))
    runtime.publish(basic_flows.fan_in_flow("fan-in", expected=3, sleep_s=0.2))
    wait_for(lambda: runtime.workers(), 60, "the worker")
    orders = [runtime.submit("orders-ops", "order", {"customer": c}) for c in ("ann", "bob", "ann", "cara", "ann")]
    failed = runtime.submit("orders-ops", "order", {"customer": "zed", "fail": True})
    fan_in = runtime.submit("fan-in", "source", {"n": 3})
    for job_id in (*orders, failed, fan_in):
        runtime.wait(job_id, timeout=60)
    dead = runtime.submit(extra_flows.extra_flow("extra"), "source", {"n": 1})
    runtime.schedule("orders-every-minute", "orders-ops", "order", {"customer": "dora"}, every_s=60,
                     start_at=time.time() + 1)
    runtime.schedule("nightly-report", "fan-in", "source", {"n": 3}, cron="0 3 * * *", timezone="Europe/Paris",
                     catch_up="one")
    runtime.schedule("weekly-cleanup", "orders-ops", "order", {"customer": "ops"}, cron="30 6 * * 1",
                     overlap="cancel_previous")
    runtime.trigger_schedule("nightly-report")
    runtime.pause_schedule("weekly-cleanup")
    wait_for(lambda: runtime.get_schedule("orders-every-minute")["last_job"], 30, "the first tick")
    wait_for(lambda: runtime.dead_letters(), 60, "the dead letter")
    return {"failed": failed, "fan_in": fan_in, "dead": dead}


def snap(page: Page, out: Path, name: str) -> None:
    """Save the viewport (toasts hidden) as ``out/name.png``."""
    page.evaluate("() => document.getElementById('toast').classList.add('hidden')")
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"{out / name}.png")


def shoot(page: Page, url: str, out: Path, made: dict[str, Any]) -> None:
    """One screenshot per page."""
    page.goto(url + "/#/jobs?flow=orders-ops&where=customer%3Dann")
    page.wait_for_function("() => document.querySelectorAll('#jobs tr[data-job]').length === 3")
    snap(page, out, "console-jobs-search")
    page.select_option("#bulk-action", "delete")  # completed jobs: cancel would match none; "Keep them" deletes none
    page.click("#bulk-go")
    page.wait_for_selector("#bulk-confirm[open]")
    snap(page, out, "console-bulk-confirm")
    page.click('#bulk-confirm button[value="no"]')
    page.goto(f"{url}/#/jobs/{made['fan_in']}")
    page.wait_for_selector('#timeline li.status [data-status="completed"]')
    snap(page, out, "console-job")
    page.goto(f"{url}/#/jobs/{made['failed']}")
    page.wait_for_selector("#job-trace")
    page.wait_for_selector("#timeline li.step .ms")
    page.evaluate("() => window.scrollTo(0, document.getElementById('job-failure').offsetTop - 16)")
    snap(page, out, "console-job-failure")
    page.goto(url + "/#/flows/orders-ops")
    page.wait_for_selector("#flow-chart")
    page.evaluate("() => document.getElementById('flow-chart').scrollIntoView()")
    snap(page, out, "console-flow-stats")
    page.goto(url + "/#/workers")
    page.wait_for_selector("#workers tr[data-worker]")
    snap(page, out, "console-workers")
    page.goto(url + "/#/schedules")
    page.wait_for_selector('#schedules tr[data-schedule="nightly-report"] td.jobs a')
    snap(page, out, "console-schedules")
    page.goto(url + "/#/dead-letters")
    page.wait_for_selector("#dead-letters tr[data-dead]")
    snap(page, out, "console-dead-letters")


def main() -> None:
    """Parse ``--out``, make the work, take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, redis_and_worker(Path(tmp)) as settings:
        runtime = DistributedRuntime(settings=settings)
        try:
            made = make_work(runtime)
            with console(runtime) as url, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
                page = browser.new_context(viewport=SIZE, device_scale_factor=1).new_page()
                page.set_default_timeout(30000)
                shoot(page, url, out, made)
                browser.close()
        finally:
            logging.getLogger("routilux.server").setLevel(logging.CRITICAL)  # its stream reader sees Redis go
            runtime.close()


if __name__ == "__main__":
    main()
