"""The console under hostile clients, a baseline commit beside this tree, in one run.

Usage (from the repo root; about two minutes on 2 cores)::

    .venv/bin/python bench/console_hostile.py                  # baseline: e455255
    .venv/bin/python bench/console_hostile.py --baseline HEAD~3 --streams 500

For each tree (the baseline, extracted with ``git archive``, and this working tree) it starts its
own ``redis-server`` and the console (``python -m routilux.cli server``, with viewer and operator
tokens) as subprocesses, and measures:

* body: the server's RSS (``/proc/PID/status`` VmRSS) before, after five unauthenticated
  100 MB ``POST /api/jobs``, and after one more with the operator's token. Bodies are streamed
  from a socket, so the client holds none of it; a server that answers early ends the upload.
* stream flood: ``--streams`` job event streams opened at once on a job that never ends (20 per
  viewer token); how many were admitted (200), refused (429) or failed (503 and the like); then,
  with them open, the latency of ``GET /api/jobs`` and ``GET /health/ready`` (sequential requests,
  median and p90) and how many of those failed, beside the same requests with no stream open.

Every process it starts is stopped by pid before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench.compare_distributed import RedisServer, free_port, stop_process  # noqa: E402
from bench.console_flows import ENTRY, ticker_flow  # noqa: E402
from routilux.distributed import DistributedRuntime, Settings  # noqa: E402

MB = 1024 * 1024
OPERATOR = "bench-operator-token"
PER_TOKEN = 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="e455255", help="commit to compare with")
    parser.add_argument("--streams", type=int, default=500, help="event streams opened at once")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per endpoint")
    return parser.parse_args(argv)


def extract(commit: str, into: Path) -> Path:
    """The tree of ``commit`` as files under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def post_100mb(port: int, token: str | None) -> str:
    """Stream a 100 MB JSON-typed POST /api/jobs; the status line answered (or how the upload ended)."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {100 * MB}\r\n\r\n").encode()
    chunk = b'{"pad": "' + b"x" * (MB - 12) + b'", '
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(head)
        try:
            for _ in range(100):
                sock.sendall(chunk[:MB])
        except OSError as exc:  # the server answered and closed before the body was all sent
            ended = f"upload cut ({type(exc).__name__})"
        else:
            ended = "sent all"
        try:
            status = sock.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError:
            status = "no answer"
    return f"{status} [{ended}]"


def body_phase(proc: subprocess.Popen[bytes], port: int) -> dict[str, Any]:
    """RSS before, after five unauthenticated 100 MB posts, after one authenticated one."""
    out: dict[str, Any] = {"before": rss_mb(proc.pid)}
    out["anonymous answers"] = sorted({post_100mb(port, None) for _ in range(5)})
    time.sleep(0.5)
    out["after 5 anonymous"] = rss_mb(proc.pid)
    out["operator answer"] = post_100mb(port, OPERATOR)
    time.sleep(0.5)
    out["after operator"] = rss_mb(proc.pid)
    return out


async def timed(client: httpx.AsyncClient, path: str, n: int) -> tuple[list[float], int]:
    """Latencies in ms of ``n`` sequential GETs, and how many did not answer 200."""
    times, failed = [], 0
    for _ in range(n):
        started = time.perf_counter()
        try:
            answer = await client.get(path, headers={"Authorization": "Bearer viewer-0"})
            failed += answer.status_code != 200
        except httpx.HTTPError:
            failed += 1
        times.append((time.perf_counter() - started) * 1000)
    return times, failed


async def flood_phase(url: str, job_id: str, streams: int, n: int) -> dict[str, Any]:
    """Open ``streams`` event streams, then time the API beside them; the same with none open first."""
    paths = ("/api/jobs", "/health/ready")
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=None)) as client:
        quiet = {p: await timed(client, p, n) for p in paths}

        async def one(k: int) -> Any:
            request = client.build_request("GET", f"/api/jobs/{job_id}/events",
                                           headers={"Authorization": f"Bearer viewer-{k // PER_TOKEN}"})
            try:
                return await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                return exc

        opened = await asyncio.gather(*(one(k) for k in range(streams)))
        await asyncio.sleep(2.0)  # the admitted streams are blocked in XREAD now
        loaded = {p: await timed(client, p, n) for p in paths}
        codes: dict[str, int] = {}
        for response in opened:
            key = str(response.status_code) if isinstance(response, httpx.Response) else type(response).__name__
            codes[key] = codes.get(key, 0) + 1
            if isinstance(response, httpx.Response):
                await response.aclose()
    return {"stream opens": codes, "quiet": quiet, "loaded": loaded}


def run_tree(name: str, tree: Path, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements against the console of ``tree``."""
    (folder / name).mkdir(parents=True)
    server = RedisServer(folder / name)
    server.start()
    port = free_port()
    viewers = ",".join(f"viewer:viewer-{k}" for k in range(args.streams // PER_TOKEN + 1))
    env = {**os.environ, "PYTHONPATH": str(tree), "ROUTILUX_REDIS_URL": server.url, "ROUTILUX_KEY_PREFIX": "rtxhostile",
           "ROUTILUX_QUEUE": "rtxhostile", "ROUTILUX_SERVER_TOKENS": f"{viewers},operator:{OPERATOR}"}
    with open(folder / f"{name}-server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "routilux.cli", "server", "--port", str(port), "--loglevel",
                                 "ERROR"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tree,
                                start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        rt = DistributedRuntime(settings=Settings(redis_url=server.url, key_prefix="rtxhostile", queue="rtxhostile"))
        rt.publish(ticker_flow())
        job_id = rt.submit("ticker", ENTRY, {"n": 1000, "gap_s": 1.0})  # no worker: it never ends
        rt.close()
        body = body_phase(proc, port)
        flood = asyncio.run(flood_phase(f"http://127.0.0.1:{port}", job_id, args.streams, args.requests))
        return {"body": body, "flood": flood}
    finally:
        stop_process(proc, group=True)
        server.stop()


def wait_ready(url: str, timeout_s: float = 30) -> None:
    """Until the console answers ``/health/live``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health/live", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def summary(values: tuple[list[float], int]) -> str:
    """Median and p90 in ms, and failures."""
    times, failed = values
    p90 = sorted(times)[max(0, int(len(times) * 0.9) - 1)]
    return f"median {statistics.median(times):7.1f} ms  p90 {p90:7.1f} ms  not-200 {failed}/{len(times)}"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """Print both trees side by side."""
    names = list(results)
    print("\nServer RSS (MB), 100 MB POST /api/jobs bodies")
    for key in ("before", "after 5 anonymous", "after operator"):
        row = "  ".join(f"{n}: {results[n]['body'][key]:7.1f}" for n in names)
        print(f"  {key:20s} {row}")
    for n in names:
        grow = results[n]["body"]["after operator"] - results[n]["body"]["before"]
        print(f"  {n}: grew {grow:.1f} MB; anonymous answers {results[n]['body']['anonymous answers']}; "
              f"operator answer {results[n]['body']['operator answer']!r}")
    print(f"\nStream flood: {args.streams} job event streams opened at once ({PER_TOKEN} per viewer token)")
    for n in names:
        print(f"  {n}: stream opens by status {results[n]['flood']['stream opens']}")
    for state in ("quiet", "loaded"):
        for path in ("/api/jobs", "/health/ready"):
            for n in names:
                print(f"  {state:6s} {path:14s} {n:9s} {summary(results[n]['flood'][state][path])}")
    base, ours = names
    for path in ("/api/jobs", "/health/ready"):
        b = statistics.median(results[base]["flood"]["loaded"][path][0])
        o = statistics.median(results[ours]["flood"]["loaded"][path][0])
        print(f"  loaded {path}: median {ours} / {base} = {o / b:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="routilux-hostile-bench-"))
    base = extract(args.baseline, folder / "baseline-tree")
    results = {}
    for name, tree in (("baseline", base), ("this tree", REPO)):
        print(f"measuring {name} ({tree})", flush=True)
        results[name] = run_tree(name.replace(" ", "-"), tree, folder, args)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
