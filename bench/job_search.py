"""Job search on a store of many jobs: filtered pages and counts beside loading every JobState, in one run.

Usage (from the repo root)::

    .venv/bin/python bench/job_search.py --jobs 10000

Starts its own ``redis-server`` (free port, temp dir, no persistence), submits
``--jobs`` jobs (no worker runs them: they stay running, and every third is
cancelled with a reason, so statuses and error texts differ), then times each
query several times and prints the medians. The baseline answers the rarest
query the way a front-end without the index reads would: ``get_job`` of every
job, filtered in Python. Every process it starts is stopped by pid.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare_distributed import RedisServer  # noqa: E402
from routilux import Flow, Routine  # noqa: E402
from routilux.distributed import DistributedRuntime, JobFilter, Settings  # noqa: E402


class Entry(Routine):
    """An entry routine that is never run here (no worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)

    def go(self, **_: Any) -> None:
        """Nothing."""


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (median shown)")
    return parser.parse_args()


def populate(rt: DistributedRuntime, count: int) -> list[str]:
    """Submit ``count`` jobs over four flows; cancel every third with a reason naming its number mod 100."""
    flows = []
    for name in ("orders-eu", "orders-us", "billing", "reports"):
        flow = Flow(flow_id=name)
        flow.add_routine(Entry(), "entry")
        flows.append(rt.publish(flow))
    ids = []
    for n in range(count):
        job_id = rt.submit(flows[n % 4], "entry", {"region": f"r{n % 10}", "n": n})
        if n % 3 == 0:
            rt.cancel(job_id, reason=f"stopped by operator, batch {n % 100};")
        ids.append(job_id)
    return ids


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeat`` calls, and the last answer."""
    times, answer = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), answer


def all_pages(rt: DistributedRuntime, flt: JobFilter) -> list[dict[str, Any]]:
    """Every match, page after page as the console reads them."""
    rows, cursor = [], None
    while True:
        page = rt.job_page(flt, limit=50, cursor=cursor)
        rows += page["jobs"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def naive_count(rt: DistributedRuntime, ids: list[str], n: int) -> int:
    """The baseline: every JobState loaded, the rare match found in Python."""
    found = 0
    for job_id in ids:
        state = rt.get_job(job_id)
        found += any(r.event_name == "start" and r.data.get("n") == n for r in state.execution_history[:1])
    return found


def main() -> int:
    """Populate, time the queries, print a table."""
    args = parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder))
        server.start()
        tag = uuid.uuid4().hex[:8]
        rt = DistributedRuntime(settings=Settings(redis_url=server.url, key_prefix=f"b{tag}", queue=f"q{tag}"))
        try:
            started = time.perf_counter()
            ids = populate(rt, args.jobs)
            print(f"{args.jobs} jobs submitted in {time.perf_counter() - started:.1f} s")
            rare = args.jobs // 2
            queries = [
                ("first page, no filter", lambda: rt.job_page(JobFilter(), limit=50)["jobs"]),
                ("page: status cancelled, flow 'orders'",
                 lambda: rt.job_page(JobFilter.parse(status="cancelled", flow="orders"), limit=50)["jobs"]),
                ("page: where region=r3", lambda: rt.job_page(JobFilter.parse(where="region=r3"), limit=50)["jobs"]),
                ("all pages: error 'batch 7;' (1 in 300)", lambda: all_pages(rt, JobFilter.parse(error="batch 7;"))),
                (f"all pages: where n={rare} (1 job)", lambda: all_pages(rt, JobFilter.parse(where=f"n={rare}"))),
                ("all pages: id prefix (1 job)", lambda: all_pages(rt, JobFilter.parse(id=ids[rare][:8]))),
                ("bulk dry run: cancel flow 'billing'",
                 lambda: rt.bulk("cancel", JobFilter.parse(flow="billing"))["matched"]),
            ]
            print(f"{'query':45} {'median ms':>10} {'rows':>6}")
            results = {}
            for name, query in queries:
                ms, rows = timed(query, args.repeat)
                results[name] = ms
                print(f"{name:45} {ms:10.1f} {rows if isinstance(rows, int) else len(rows):6d}")
            base_ms, found = timed(lambda: naive_count(rt, ids, rare), 1)
            print(f"{'baseline: get_job of every job, n=' + str(rare):45} {base_ms:10.1f} {found:6d}")
            ours = results[f"all pages: where n={rare} (1 job)"]
            print(f"ratio where-search / baseline: {ours / base_ms:.3f}")
        finally:
            rt.close()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
