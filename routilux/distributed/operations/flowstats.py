"""DistributedRuntime.flow_stats: per-routine step times and a completed/failed series for one flow.

Read from what Redis already keeps, with nothing added to a job's commit: the
series counts the flow's jobs ending in each time bucket, from the capped status
streams (about 10,000 newest changes per key bucket); the step times come from
the commit entries of the flow's newest ended jobs in the window (at most
``SAMPLE_JOBS`` jobs, ``SAMPLE_STEPS`` entries each), which carry each step's
time from handler start to commit.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from routilux.distributed.operations.events import ms_to_iso
from routilux.errors import JobFilterError

if TYPE_CHECKING:
    from routilux.distributed.operations.store import OpsStore
    from routilux.distributed.store import RedisStore

SAMPLE_JOBS = 200  # step times come from at most this many of the newest ended jobs
SAMPLE_STEPS = 1000  # ... and at most this many log entries of each
MAX_BUCKETS = 500


class FlowStatsMixin:
    """Statistics of one flow over a recent window."""

    ops: OpsStore
    store: RedisStore

    def flow_stats(self, flow_id: str, window_s: float = 3600, buckets: int = 30) -> dict[str, Any]:
        """``{"flow_id", "window_s", "bucket_s", "sampled_jobs", "routines": {rid: {"count", "failed", "p50_ms",
        "p95_ms"}}, "series": [{"t": ISO start of the bucket, "completed", "failed"}]}`` for jobs of ``flow_id``
        that ended in the last ``window_s`` seconds. ``failed`` of a routine counts its steps whose handler raised.

        Raises:
            FlowNotPublishedError: no flow with that id.
            JobFilterError: a window that is not positive, or buckets outside 1..500.
        """
        self.store.latest_hash(flow_id)
        if window_s <= 0 or not 1 <= buckets <= MAX_BUCKETS:
            raise JobFilterError(f"window must be positive and buckets within 1..{MAX_BUCKETS}")
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - int(window_s * 1000)
        ended = [e for e in self.ops.status_events_since(start_ms)
                 if e.get("flow_id") == flow_id and e.get("status") in ("completed", "failed")]
        bucket_ms = max(1, math.ceil(window_s * 1000 / buckets))
        series = [{"t": ms_to_iso(start_ms + n * bucket_ms), "completed": 0, "failed": 0} for n in range(buckets)]
        for event in ended:
            n = min(buckets - 1, max(0, (int(event["ts"]) - start_ms) // bucket_ms))
            series[n][event["status"]] += 1
        newest = sorted(ended, key=lambda e: int(e["ts"]), reverse=True)
        sample = list(dict.fromkeys(e["job"] for e in newest))[:SAMPLE_JOBS]
        return {"flow_id": flow_id, "window_s": window_s, "bucket_s": bucket_ms / 1000, "sampled_jobs": len(sample),
                "routines": _routine_stats(self.ops.step_times(sample, SAMPLE_STEPS)), "series": series}


def _routine_stats(steps: list[tuple[str, int, bool]]) -> dict[str, dict[str, Any]]:
    times: dict[str, list[int]] = {}
    failed: dict[str, int] = {}
    for routine, ms, raised in steps:
        times.setdefault(routine, []).append(ms)
        failed[routine] = failed.get(routine, 0) + raised
    return {rid: {"count": len(ms), "failed": failed[rid], "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95)}
            for rid, ms in sorted(times.items())}


def percentile(values: list[int], pct: float) -> int:
    """The nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]
